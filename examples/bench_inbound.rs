//! Messages per second through the SMTP receiver, against the limit the spool sets.
//!
//! 1. The limit: `CLIENTS` tasks call `Store::spool_mail` (one transaction and one flush per
//!    message, on `spawn_blocking`, as the receiver does) for `MESSAGES` messages of `SIZE`
//!    bytes on a fresh sled store.
//! 2. The receiver: `afterdesk::inbound::smtp::serve` on `127.0.0.1:0` over another fresh store,
//!    and `CLIENTS` SMTP connections over real TCP, each `EHLO` once and then `MAIL`, `RCPT`,
//!    `DATA` and the message, one after another, until `MESSAGES` are answered `250`.
//!
//! 3. The processor: the spooled messages of step 2 made into tickets by
//!    `inbound::process::Processor` (parse, route, customer by `From`, one ticket each through
//!    the writer), against its limit: the same tickets opened through the writer one at a time
//!    (the processor handles one message at a time), on a fresh store.
//!
//! It prints the rates and their ratios; then checks every message is in the spool and became
//! a ticket.
//!
//! ```sh
//! cargo run --example bench_inbound [-- MESSAGES [CLIENTS [SIZE]]]
//! ```
//! The data folders are temporary (set `BENCH_DIR` to put them elsewhere).

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use afterdesk::clock::{Clock, SystemClock};
use afterdesk::config::{InboundConfig, InboundRoute};
use afterdesk::engine::{Actor, CustomerInput, OpenTicket};
use afterdesk::inbound::process::Processor;
use afterdesk::registry::Registry;
use afterdesk::store::inbound::MailSource;
use afterdesk::store::{Store, StoreConfig};
use afterdesk::writer::{OpenRequest, Writer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const ADDRESS: &str = "support@example.com";

fn arg(n: usize, default: usize) -> usize {
    std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn open(dir: &std::path::Path) -> Result<Store, Box<dyn Error>> {
    let mut config = StoreConfig::new(dir);
    config.cache_bytes = 64 * 1024 * 1024;
    Ok(Store::open(&config)?)
}

/// A message of about `size` bytes with a unique Message-ID, from a sender of its own (as a
/// desk's mail mostly is: one customer's history does not grow with the run), dot-stuffing
/// never needed.
fn message(n: usize, size: usize) -> Vec<u8> {
    let mut text = format!(
        "From: Sam <sam{n}@example.net>\r\nTo: {ADDRESS}\r\nSubject: bench {n}\r\nMessage-ID: <bench-{n}@example.net>\r\n\r\n"
    );
    while text.len() < size {
        text.push_str("The washing machine stops in the middle of the programme.\r\n");
    }
    text.into_bytes()
}

/// Inbound settings routing [`ADDRESS`] to the bundled workflow.
fn routed() -> InboundConfig {
    let route =
        InboundRoute { address: ADDRESS.into(), workflow: "after-sales".into(), category: None, priority: None };
    InboundConfig { routes: vec![route], ..InboundConfig::default() }
}

/// The spool alone: `clients` tasks, `messages` messages in all.
async fn spool_rate(store: &Store, messages: usize, clients: usize, size: usize) -> Result<f64, Box<dyn Error>> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (store, next) = (store.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= messages {
                    return Ok::<_, String>(());
                }
                let store = store.clone();
                tokio::task::spawn_blocking(move || {
                    let now = SystemClock.now();
                    let id = ulid::Ulid::from_datetime(now.into());
                    let source = MailSource::Smtp { peer: "127.0.0.1:1".into() };
                    store.spool_mail(id, now, source, "sam@example.net", &[ADDRESS.into()], &message(n, size))
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(messages as f64 / started.elapsed().as_secs_f64())
}

/// One SMTP client: sends messages numbered from `next` until `messages` are taken.
async fn client(smtp: SocketAddr, next: Arc<AtomicUsize>, messages: usize, size: usize) -> Result<(), String> {
    let stream = TcpStream::connect(smtp).await.map_err(|e| e.to_string())?;
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut reply = async move |expected: &str| -> Result<(), String> {
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.map_err(|e| e.to_string())?;
            if !line.starts_with(expected) {
                return Err(format!("expected {expected}, got {line:?}"));
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(());
            }
        }
    };
    reply("220").await?;
    writer.write_all(b"EHLO bench.example.test\r\n").await.map_err(|e| e.to_string())?;
    reply("250").await?;
    loop {
        let n = next.fetch_add(1, Ordering::SeqCst);
        if n >= messages {
            writer.write_all(b"QUIT\r\n").await.map_err(|e| e.to_string())?;
            return reply("221").await;
        }
        for (line, code) in
            [("MAIL FROM:<sam@example.net>", "250"), (&*format!("RCPT TO:<{ADDRESS}>"), "250"), ("DATA", "354")]
        {
            writer.write_all(format!("{line}\r\n").as_bytes()).await.map_err(|e| e.to_string())?;
            reply(code).await?;
        }
        let mut body = message(n, size);
        body.extend_from_slice(b".\r\n");
        writer.write_all(&body).await.map_err(|e| e.to_string())?;
        reply("250").await?;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let messages = arg(1, 2_000);
    let clients = arg(2, 16);
    let size = arg(3, 4_096);
    let base = std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base)?;
    println!(
        "{messages} messages of {size} bytes, {clients} concurrent clients; {} CPUs; {} build",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );

    let alone = open(&dir.path().join("spool"))?;
    let limit = spool_rate(&alone, messages, clients, size).await?;
    drop(alone);
    println!("spool alone (spool_mail + flush): {limit:.0} messages/s");

    let store = open(&dir.path().join("smtp"))?;
    let settings = InboundConfig { max_connections: clients + 1, per_sender_per_hour: u32::MAX, ..routed() };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let smtp = listener.local_addr()?;
    let stop = CancellationToken::new();
    let server = tokio::spawn(afterdesk::inbound::smtp::serve(
        listener,
        Arc::new(settings),
        "bench.example.test".into(),
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(Notify::new()),
        stop.clone(),
    ));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        tasks.spawn(client(smtp, next.clone(), messages, size));
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let rate = messages as f64 / started.elapsed().as_secs_f64();
    stop.cancel();
    server.await?;
    println!("SMTP receiver (real TCP, 250 after the flush): {rate:.0} messages/s");
    println!("ratio to the spool alone: {:.2}", rate / limit);
    let spooled = store.pending_mail(usize::MAX)?.len();
    assert_eq!(spooled, messages, "every message answered 250 is in the spool");
    println!("all {spooled} messages are in the spool");

    // 3. Processing, against opening the same tickets one at a time.
    let workflows = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let fresh = open(&dir.path().join("opens"))?;
    let (writer, _thread) = Writer::start(Arc::new(Registry::load(fresh, &workflows)?), Arc::new(SystemClock));
    let started = Instant::now();
    for n in 0..messages {
        let ticket = OpenTicket {
            workflow: "after-sales".into(),
            subject: format!("bench {n}"),
            description: Some(String::from_utf8_lossy(&message(n, size)).into_owned()),
            customer: CustomerInput { email: Some(format!("sam{n}@example.net")), ..CustomerInput::default() },
            channel: Some("email".into()),
            ..OpenTicket::default()
        };
        writer.open(OpenRequest { ticket, actor: Actor::integrator("bench"), idempotency_key: None }).await?;
    }
    let open_limit = messages as f64 / started.elapsed().as_secs_f64();
    drop(writer);
    println!("opening the same tickets one at a time through the writer: {open_limit:.0} tickets/s");

    let registry = Arc::new(Registry::load(store.clone(), &workflows)?);
    let (writer, _thread) = Writer::start(registry.clone(), Arc::new(SystemClock));
    let settings = routed();
    let processor =
        Processor::new(store.clone(), writer, registry, Arc::new(SystemClock), Arc::new(settings), "desk@example.com");
    let started = Instant::now();
    let mut processed = 0;
    while processed < messages {
        let done = processor.pass().await?;
        if done == 0 {
            break;
        }
        processed += done;
    }
    let rate = processed as f64 / started.elapsed().as_secs_f64();
    println!("processor (parse, route, customer, ticket): {rate:.0} messages/s");
    println!("ratio to opening one at a time: {:.2}", rate / open_limit);
    let opened = store
        .list_inbound(None, usize::MAX)?
        .iter()
        .filter(|m| matches!(m.outcome, afterdesk::store::inbound::MailOutcome::Opened { .. }))
        .count();
    assert_eq!(opened, messages, "every message opened a ticket");
    println!("all {opened} messages opened a ticket");
    Ok(())
}
