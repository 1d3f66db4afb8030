//! The built-in SMTP receiver, from outside: the real server on `127.0.0.1:0` with the receiver
//! on, real SMTP clients (lettre, Python's `smtplib`, and a raw socket for what clients do not
//! say), and the spool read back over `GET /v1/inbound` and from the database once stopped.
//! The last test SIGKILLs the real binary while clients send and checks that every message that
//! was answered `250` survived and, once restarted, became exactly one ticket.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use afterdesk::config::{Config, InboundRoute};
use afterdesk::store::inbound::{InboundMail, MailOutcome};
use afterdesk::store::{Store, StoreConfig};
use helpers::{SUPPORT_ADDRESS, TestApp, expect_status, spawn_app_with, with_receiver};
use lettre::address::Envelope;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Longest to wait for one answer: generous, for a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

/// A raw SMTP connection: lines out, replies in.
struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(address: SocketAddr) -> Self {
        let stream = TcpStream::connect(address).await.expect("connect to the receiver");
        let (reader, writer) = stream.into_split();
        Self { reader: BufReader::new(reader), writer }
    }

    /// Connects and reads the greeting, expecting 220.
    async fn open(address: SocketAddr) -> Self {
        let mut client = Self::connect(address).await;
        let (code, text) = client.reply().await;
        assert_eq!(code, 220, "greeting: {text}");
        client
    }

    /// One reply (all its lines); code 0 when the server closed the connection.
    async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(WAIT, self.reader.read_line(&mut line)).await.expect("a reply in time");
            if read.unwrap_or(0) == 0 {
                return (0, text);
            }
            text.push_str(&line);
            let bytes = line.as_bytes();
            if bytes.len() < 4 || bytes[3] != b'-' {
                let code = line.get(..3).and_then(|c| c.parse().ok()).expect("a reply code");
                return (code, text);
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("send");
    }

    async fn command(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    async fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.command(line).await;
        assert_eq!(got, code, "{line} answered {text}");
        text
    }

    /// A whole message to `to` from `from` (the body already dot-stuffed and ending in CRLF):
    /// the final reply.
    async fn message(&mut self, from: &str, to: &str, stuffed: &[u8]) -> (u16, String) {
        self.expect(&format!("MAIL FROM:<{from}>"), 250).await;
        self.expect(&format!("RCPT TO:<{to}>"), 250).await;
        self.expect("DATA", 354).await;
        self.send(stuffed).await;
        self.command(".").await
    }
}

/// The receiver on, with `configure` after [`with_receiver`].
async fn receiver(configure: impl FnOnce(&mut Config)) -> (TestApp, SocketAddr) {
    let app = spawn_app_with(|config| {
        with_receiver(config);
        configure(config);
    })
    .await;
    let smtp = app.smtp.expect("the receiver listens");
    (app, smtp)
}

/// `GET /v1/inbound` as the administrator.
async fn inbound(app: &TestApp) -> Vec<InboundMail> {
    let body = expect_status(app.admin().get("/v1/inbound?limit=500").await, StatusCode::OK).await;
    serde_json::from_value(body["messages"].clone()).expect("a page of received mail")
}

/// The record of message `id` once the processor has finished it.
async fn processed(app: &TestApp, id: ulid::Ulid) -> InboundMail {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(mail) = inbound(app).await.into_iter().find(|m| m.id == id)
            && mail.outcome != MailOutcome::Pending
        {
            return mail;
        }
        assert!(Instant::now() < deadline, "message {id} still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops the server and opens its database (the folder is kept until the returned guard drops).
async fn stop_and_open(mut app: TestApp) -> (tempfile::TempDir, Store) {
    let root = std::mem::replace(&mut app.root, tempfile::tempdir().expect("temporary folder"));
    app.stop().await;
    let store = open_store(&root.path().join("data"));
    (root, store)
}

fn open_store(data: &std::path::Path) -> Store {
    // sled's threads may hold the lock of a handle just dropped for a moment.
    for _ in 0..100 {
        if let Ok(store) = Store::open(&StoreConfig::new(data)) {
            return store;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Store::open(&StoreConfig::new(data)).expect("open the database")
}

/// The raw message spooled, split into its `Received:` header and the rest.
fn spooled(store: &Store, mail: &InboundMail) -> (String, Vec<u8>) {
    let raw = store.blob(&mail.raw_sha256).expect("read the blob").expect("the raw message is stored");
    assert_eq!(raw.len() as u64, mail.size);
    assert!(raw.starts_with(b"Received: "), "{}", String::from_utf8_lossy(&raw));
    // The header ends at the first line break not followed by folding whitespace.
    let end = (0..raw.len() - 2)
        .find(|&i| &raw[i..i + 2] == b"\r\n" && !matches!(raw[i + 2], b' ' | b'\t'))
        .expect("the header ends")
        + 2;
    (String::from_utf8(raw[..end].to_vec()).expect("an ASCII header"), raw[end..].to_vec())
}

fn lettre_client(smtp: SocketAddr) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.ip().to_string())
        .port(smtp.port())
        .hello_name(ClientId::Domain("client.example.test".into()))
        .timeout(Some(WAIT))
        .build()
}

#[tokio::test]
async fn a_message_to_a_routed_address_is_spooled_byte_for_byte_under_a_received_header() {
    let (app, smtp) = receiver(|_| {}).await;
    let message = "From: Sam <sam@example.net>\r\nTo: support@example.com\r\nSubject: =?utf-8?b?2LPZhNin2YU=?=\r\n\
                   Message-ID: <one@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
                   Content-Transfer-Encoding: 8bit\r\n\r\nسلام، ماشین لباسشویی کار نمی‌کند.\r\n.\r\n..two dots\r\n\
                   .leading dot\r\nlast line";
    let envelope = Envelope::new(
        Some("Sam@Example.net".parse().expect("address")),
        vec!["Support@Example.com".parse().expect("address")],
    )
    .expect("envelope");
    let response = lettre_client(smtp).send_raw(&envelope, message.as_bytes()).await.expect("the receiver takes it");
    let answer = response.message().collect::<Vec<_>>().join(" ");
    assert_eq!(response.code().to_string(), "250", "{answer}");
    let id = answer.strip_prefix("2.0.0 queued as ").expect("the answer names the message").to_string();

    let listed = inbound(&app).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let mail = listed[0].clone();
    assert_eq!(mail.id.to_string(), id);
    assert_eq!(mail.mail_from, "Sam@Example.net");
    assert_eq!(mail.rcpt_to, ["support@example.com"]);
    assert_eq!(mail.received_at, helpers::start_time(), "the server's clock");
    let mail = processed(&app, mail.id).await;
    assert!(matches!(mail.outcome, MailOutcome::Opened { .. }), "{:?}", mail.outcome);

    let (_root, store) = stop_and_open(app).await;
    assert_eq!(store.pending_mail(10).expect("the queue"), [], "nothing left queued");
    assert_eq!(store.inbound_mail(mail.id).expect("the record").as_ref(), Some(&mail));
    let (header, rest) = spooled(&store, &mail);
    // lettre ends the data with CRLF . CRLF after the message, so its last line gets a CRLF.
    let sent = format!("{message}\r\n");
    assert_eq!(String::from_utf8(rest).expect("UTF-8"), sent, "the message as sent, dots and all");
    assert_eq!(
        header,
        format!(
            "Received: from client.example.test ([127.0.0.1])\r\n\tby desk.example.test (Afterdesk) with ESMTP \
             id {id}\r\n\tfor <support@example.com>;\r\n\tMon, 23 Nov 2026 05:30:00 +0000\r\n"
        )
    );
}

#[tokio::test]
async fn python_smtplib_sends_and_dot_stuffed_lines_survive() {
    let (app, smtp) = receiver(|_| {}).await;
    let script = r#"
import smtplib, sys
body = "Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nend\r\n"
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="py.example.test", timeout=30) as s:
    s.ehlo()
    assert s.has_extn("pipelining") and s.has_extn("8bitmime") and s.has_extn("smtputf8"), s.esmtp_features
    assert not s.has_extn("starttls") and not s.has_extn("auth"), s.esmtp_features
    assert int(s.esmtp_features["size"]) == 25 * 1024 * 1024, s.esmtp_features
    print(s.sendmail("p@example.net", ["support@example.com"], body.encode()))
    try:
        s.sendmail("p@example.net", ["nobody@example.com"], body.encode())
        print("unrouted taken")
    except smtplib.SMTPRecipientsRefused as e:
        print("refused", e.recipients["nobody@example.com"][0])
"#;
    let output = tokio::task::spawn_blocking(move || {
        support::python::python().command().arg("-c").arg(script).arg(smtp.port().to_string()).output()
    })
    .await
    .expect("the script ran")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout, "{}\nrefused 550\n");
    let listed = inbound(&app).await;
    assert_eq!(listed.len(), 1);
    let (_root, store) = stop_and_open(app).await;
    let (header, rest) = spooled(&store, &listed[0]);
    assert!(header.starts_with("Received: from py.example.test ([127.0.0.1])"), "{header}");
    assert_eq!(rest, b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nend\r\n");
}

#[tokio::test]
async fn the_session_refuses_what_it_must_and_says_why() {
    let (app, smtp) = receiver(|config| {
        config.inbound.max_recipients = 2;
        config.inbound.max_message_bytes = 2048;
        config.inbound.routes.push(InboundRoute {
            address: "@help.example.com".into(),
            workflow: "after-sales".into(),
            category: None,
            priority: None,
        });
    })
    .await;
    let mut client = Client::open(smtp).await;
    client.expect("MAIL FROM:<a@example.net>", 503).await;
    let ehlo = client.expect("EHLO client.example.test", 250).await;
    let offered: BTreeSet<&str> = ehlo.lines().skip(1).map(|line| &line[4..]).collect();
    assert_eq!(offered, BTreeSet::from(["8BITMIME", "ENHANCEDSTATUSCODES", "PIPELINING", "SIZE 2048", "SMTPUTF8"]));
    assert!(client.expect("VRFY support", 252).await.starts_with("252 2.5.0"));
    client.expect("STARTTLS", 502).await;
    client.expect("RCPT TO:<support@example.com>", 503).await;
    assert!(client.expect("MAIL FROM:<a@example.net> SIZE=4096", 552).await.starts_with("552 5.3.4"));
    client.expect("MAIL FROM:<a@example.net> SIZE=100", 250).await;
    assert!(client.expect("RCPT TO:<nobody@example.com>", 550).await.starts_with("550 5.1.1"));
    client.expect("RCPT TO:<one@help.example.com>", 250).await;
    client.expect("RCPT TO:<Support@Example.com>", 250).await;
    assert!(client.expect("RCPT TO:<three@help.example.com>", 452).await.starts_with("452 4.5.3"));
    client.expect("DATA", 354).await;
    // Larger than the limit: read to the end, refused, nothing kept; the session goes on.
    let line = "x".repeat(998);
    for _ in 0..10 {
        client.send(format!("{line}\r\n").as_bytes()).await;
    }
    assert!(client.expect(".", 552).await.starts_with("552 5.3.4"));
    client.expect("NOOP", 250).await;
    client.expect("DATA", 503).await;
    client.expect("BLAH", 500).await;
    // Pipelined: the replies come together, in order.
    client
        .send(
            b"MAIL FROM:<b@example.net>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<two@help.example.com>\r\nDATA\r\n",
        )
        .await;
    let codes = [client.reply().await.0, client.reply().await.0, client.reply().await.0, client.reply().await.0];
    assert_eq!(codes, [250, 550, 250, 354]);
    client.send(b"Subject: ok\r\n\r\nsmall\r\n.\r\nQUIT\r\n").await;
    let (code, text) = client.reply().await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(client.reply().await.0, 221);
    assert_eq!(client.reply().await.0, 0, "closed after QUIT");
    let listed = inbound(&app).await;
    assert_eq!(listed.len(), 1, "only the small message: {listed:?}");
    assert_eq!(listed[0].mail_from, "b@example.net");
    assert_eq!(listed[0].rcpt_to, ["two@help.example.com"]);
    app.stop().await;
}

#[tokio::test]
async fn connections_past_the_limit_are_told_421() {
    let (app, smtp) = receiver(|config| config.inbound.max_connections = 2).await;
    let mut first = Client::open(smtp).await;
    let _second = Client::open(smtp).await;
    let mut third = Client::connect(smtp).await;
    let (code, text) = third.reply().await;
    assert!(code == 421 && text.starts_with("421 4.7.0"), "{text}");
    assert_eq!(third.reply().await.0, 0, "and closed");
    first.expect("QUIT", 221).await;
    // Once the first session has ended, its slot is free again.
    let deadline = Instant::now() + WAIT;
    loop {
        let mut next = Client::connect(smtp).await;
        if next.reply().await.0 == 220 {
            break;
        }
        assert!(Instant::now() < deadline, "a slot came free");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_sender_over_its_hourly_allowance_is_deferred_with_451() {
    let (app, smtp) = receiver(|config| config.inbound.per_sender_per_hour = 2).await;
    let mut client = Client::open(smtp).await;
    client.expect("EHLO client.example.test", 250).await;
    for n in 0..2 {
        let (code, text) = client.message("sam@example.net", SUPPORT_ADDRESS, format!("n: {n}\r\n").as_bytes()).await;
        assert_eq!(code, 250, "{text}");
    }
    let text = client.expect("MAIL FROM:<SAM@Example.NET>", 451).await;
    assert!(text.starts_with("451 4.7.1"), "the sender is one whatever its case: {text}");
    let (code, text) = client.message("other@example.net", SUPPORT_ADDRESS, b"n: other\r\n").await;
    assert_eq!(code, 250, "another sender is not held back: {text}");
    assert_eq!(inbound(&app).await.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn an_idle_client_is_told_421_and_closed() {
    let (app, smtp) = receiver(|config| config.inbound.timeout_secs = 1).await;
    let mut client = Client::open(smtp).await;
    client.expect("EHLO client.example.test", 250).await;
    client.expect("MAIL FROM:<slow@example.net>", 250).await;
    client.expect("RCPT TO:<support@example.com>", 250).await;
    client.expect("DATA", 354).await;
    client.send(b"Subject: half a message\r\n").await;
    let (code, text) = client.reply().await;
    assert!(code == 421 && text.starts_with("421 4.4.2"), "{text}");
    assert_eq!(client.reply().await.0, 0, "and closed");
    assert!(inbound(&app).await.is_empty(), "half a message is not kept");
    app.stop().await;
}

#[tokio::test]
async fn stopping_finishes_a_message_in_data_and_closes_the_other_sessions() {
    let (app, smtp) = receiver(|_| {}).await;
    let mut idle = Client::open(smtp).await;
    idle.expect("EHLO idle.example.test", 250).await;
    let mut sending = Client::open(smtp).await;
    sending.expect("EHLO busy.example.test", 250).await;
    sending.expect("MAIL FROM:<busy@example.net>", 250).await;
    sending.expect("RCPT TO:<support@example.com>", 250).await;
    sending.expect("DATA", 354).await;
    sending.send(b"Subject: sent while stopping\r\n\r\nfirst half\r\n").await;
    let mut app = app;
    let root = std::mem::replace(&mut app.root, tempfile::tempdir().expect("temporary folder"));
    let stopping = tokio::spawn(app.stop());
    let (code, text) = idle.reply().await;
    assert!(code == 421 && text.starts_with("421 4.3.2"), "{text}");
    sending.send(b"second half\r\n").await;
    let (code, text) = sending.command(".").await;
    assert_eq!(code, 250, "the message under way is taken: {text}");
    assert_eq!(sending.reply().await.0, 421, "then the session is closed");
    tokio::time::timeout(WAIT, stopping).await.expect("the server stops").expect("stopped");
    let store = open_store(&root.path().join("data"));
    let pending = store.pending_mail(10).expect("the queue");
    assert_eq!(pending.len(), 1);
    let (_, rest) = spooled(&store, &pending[0]);
    assert_eq!(rest, b"Subject: sent while stopping\r\n\r\nfirst half\r\nsecond half\r\n");
}

/// Clients sending at once, and acknowledgements to wait for before each kill.
const KILL_CLIENTS: usize = 8;
const KILL_AFTER_ACKS: [usize; 2] = [3, 60];

/// What one round of the kill test saw.
#[derive(Default)]
struct KillRound {
    acks: AtomicUsize,
    /// Messages whose final dot was sent but whose answer never came.
    unanswered: AtomicUsize,
    killed: AtomicBool,
    acked: Mutex<Vec<String>>,
}

async fn keep_sending(
    smtp: SocketAddr,
    round: Arc<KillRound>,
    prefix: String,
    kill_at: usize,
    server: Arc<Mutex<std::process::Child>>,
) {
    let Ok(stream) = TcpStream::connect(smtp).await else { return };
    let (reader, writer) = stream.into_split();
    let mut client = Client { reader: BufReader::new(reader), writer };
    let mut sent = 0;
    if client.reply().await.0 != 220 || !step(&mut client, "EHLO kill.example.test", 250).await {
        return;
    }
    loop {
        let message_id = format!("{prefix}-{sent}@kill.example.test");
        sent += 1;
        if !step(&mut client, "MAIL FROM:<load@example.net>", 250).await
            || !step(&mut client, &format!("RCPT TO:<{SUPPORT_ADDRESS}>"), 250).await
            || !step(&mut client, "DATA", 354).await
        {
            return;
        }
        let body = format!(
            "Message-ID: <{message_id}>\r\nFrom: load@example.net\r\nSubject: load\r\n\r\n{}\r\n",
            "x".repeat(2000)
        );
        if client.writer.write_all(body.as_bytes()).await.is_err() {
            return;
        }
        if !step(&mut client, ".", 250).await {
            round.unanswered.fetch_add(1, Ordering::SeqCst);
            return;
        }
        round.acked.lock().expect("lock").push(message_id);
        if round.acks.fetch_add(1, Ordering::SeqCst) + 1 == kill_at && !round.killed.swap(true, Ordering::SeqCst) {
            let _ = server.lock().expect("lock").kill();
        }
    }
}

/// Sends `line`; whether the answer has `code` (false when the server is gone).
async fn step(client: &mut Client, line: &str, code: u16) -> bool {
    if client.writer.write_all(format!("{line}\r\n").as_bytes()).await.is_err() {
        return false;
    }
    client.reply().await.0 == code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_message_answered_250_survives_kill_9() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let data = dir.path().join("data");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let mut acked = Vec::new();
    let mut unanswered = 0;
    for (n, kill_at) in KILL_AFTER_ACKS.into_iter().enumerate() {
        let smtp: SocketAddr = {
            let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            free.local_addr().expect("address")
        };
        let env = [
            ("AFTERDESK_INBOUND__SMTP_LISTEN", smtp.to_string()),
            ("AFTERDESK_INBOUND__ROUTES", format!("[{{address=\"{SUPPORT_ADDRESS}\", workflow=\"after-sales\"}}]")),
            ("AFTERDESK_INBOUND__PER_SENDER_PER_HOUR", "1000000".into()),
            ("AFTERDESK_MAIL__DISABLED", "true".into()),
        ];
        let mut server = support::server::Server::start_with(&data, dir.path().join(format!("log-{n}")), &env);
        server.wait_healthy(&client).await;
        let round = Arc::new(KillRound::default());
        let senders: Vec<_> = (0..KILL_CLIENTS)
            .map(|c| {
                tokio::spawn(keep_sending(smtp, round.clone(), format!("r{n}c{c}"), kill_at, server.child.clone()))
            })
            .collect();
        for sender in senders {
            tokio::time::timeout(Duration::from_secs(120), sender).await.expect("the clients end").expect("no panic");
        }
        assert!(round.killed.load(Ordering::SeqCst), "round {n}: the server was killed after {kill_at} acks");
        let _ = server.child.lock().expect("lock").wait();
        acked.extend(round.acked.lock().expect("lock").drain(..));
        unanswered += round.unanswered.load(Ordering::SeqCst);
    }
    eprintln!("{} messages answered 250, {unanswered} sent but never answered (killed in between)", acked.len());

    // Restarted with its routes (no receiver), the server serves the spool it had.
    let routes = [
        ("AFTERDESK_INBOUND__ROUTES", format!("[{{address=\"{SUPPORT_ADDRESS}\", workflow=\"after-sales\"}}]")),
        ("AFTERDESK_MAIL__DISABLED", "true".into()),
    ];
    let mut server = support::server::Server::start_with(&data, dir.path().join("log-after"), &routes);
    server.wait_healthy(&client).await;
    let token = std::fs::read_to_string(data.join("initial-admin-token")).expect("the admin token");
    let listed = client
        .get(format!("{}/v1/inbound?limit=500", server.base))
        .bearer_auth(token.trim())
        .send()
        .await
        .expect("listing answered");
    assert_eq!(listed.status(), StatusCode::OK);
    let listed: serde_json::Value = listed.json().await.expect("JSON");
    let count = listed["messages"].as_array().map_or(0, Vec::len);
    assert!(count >= acked.len(), "{count} listed, {} acknowledged", acked.len());
    // The processor finishes what the killed servers left queued.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let page: serde_json::Value = client
            .get(format!("{}/v1/inbound?limit=500", server.base))
            .bearer_auth(token.trim())
            .send()
            .await
            .expect("listing answered")
            .json()
            .await
            .expect("JSON");
        let pending = page["messages"]
            .as_array()
            .map_or(0, |all| all.iter().filter(|m| m["outcome"]["state"] == "pending").count());
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} messages still pending");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(server);

    let store = open_store(&data);
    let mut found = BTreeSet::new();
    let mut opened = BTreeSet::new();
    for mail in store.list_inbound(None, usize::MAX).expect("the spool") {
        let (_, rest) = spooled(&store, &mail);
        let text = String::from_utf8(rest).expect("text");
        let id = text.strip_prefix("Message-ID: <").and_then(|t| t.split_once('>')).map(|(id, _)| id.to_string());
        let id = id.expect("a Message-ID");
        match &mail.outcome {
            MailOutcome::Opened { ticket, .. } => assert!(opened.insert(*ticket), "{id} opened a ticket twice"),
            MailOutcome::Added { .. } => {}
            // Processed, but the server was killed before its record was flushed: the next
            // start finds it on its ticket.
            MailOutcome::Pending => {
                let ticket = store.ticket_of_mail(&id).expect("the index").expect("a pending message has its ticket");
                assert!(opened.insert(ticket), "{id} opened a ticket twice");
            }
            other => panic!("{id}: {other:?}"),
        }
        found.insert(id);
    }
    for id in &acked {
        assert!(store.ticket_of_mail(id).expect("the index").is_some(), "{id} acknowledged but made no ticket");
    }
    let tickets = store.ticket_ids().count();
    assert_eq!(tickets, opened.len(), "one ticket per message, none twice");
    let lost: Vec<_> = acked.iter().filter(|id| !found.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}
