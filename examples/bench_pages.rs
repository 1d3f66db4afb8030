//! What a page costs the server at 100,000 tickets: the ticket page and the work list rendered
//! through the real router, in process.
//!
//! 1. **Seeding.** `TICKETS` tickets of the bundled workflow are opened through the writer (64
//!    callers at a time, 20,000 customers, so a customer has a history of about five tickets);
//!    the ticket measured also gets form values, a ticked item, a reply and a note.
//! 2. **Rendering.** A session for an agent of the workflow is stored (as signing in would),
//!    and `GET /t/{number}`, `GET /work`, the request form and (for the support lead) the
//!    dashboard go through `afterdesk::api::router` with
//!    `tower::ServiceExt::oneshot`, `RUNS` times each after a warm-up, the whole body read:
//!    p50 and p99 of the server's own cost (no sockets, no client).
//!
//! ```sh
//! cargo run --release --example bench_pages [-- TICKETS RUNS]   # default: 100000 1000
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use afterdesk::api::{AppState, Limits};
use afterdesk::clock::{Clock, SystemClock};
use afterdesk::engine::{Actor, Command, CustomerInput, OpenTicket};
use afterdesk::registry::Registry;
use afterdesk::store::sessions::SessionRecord;
use afterdesk::store::tokens::TokenRole;
use afterdesk::store::{Store, StoreConfig};
use afterdesk::writer::{CommandRequest, OpenRequest, Writer, WriterSettings};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

const CATEGORIES: [&str; 6] = ["installation", "repair", "maintenance", "billing", "order_status", "complaint"];
/// The agent whose pages are rendered (a support agent of the bundled workflow).
const AGENT: &str = "maryam@example.com";
/// The manager whose dashboard is rendered (the support lead: accountable for intake).
const MANAGER: &str = "leila@example.com";

fn request(i: usize) -> OpenTicket {
    OpenTicket {
        workflow: "after-sales".into(),
        subject: format!("Request {i}"),
        description: Some("The machine stopped working after the last wash; it shows error E4.".into()),
        category: Some(CATEGORIES[i % 6].into()),
        customer: CustomerInput {
            name: Some(format!("Customer {}", i % 20_000)),
            email: Some(format!("customer{}@example.com", i % 20_000)),
            ..CustomerInput::default()
        },
        ..OpenTicket::default()
    }
}

/// Opens `count` tickets, 64 callers at a time; returns the number of the last one.
async fn seed(writer: &Writer, count: usize) -> Result<String, Box<dyn std::error::Error>> {
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..64 {
        let writer = writer.clone();
        tasks.spawn(async move {
            let admin = Actor::admin("bench@example.com");
            let mut last = String::new();
            let mut i = w;
            while i < count {
                let opened = writer
                    .open(OpenRequest { ticket: request(i), actor: admin.clone(), idempotency_key: None })
                    .await
                    .map_err(|e| e.to_string())?;
                last = opened.ticket.number;
                i += 64;
            }
            Ok::<String, String>(last)
        });
    }
    let mut last = String::new();
    while let Some(done) = tasks.join_next().await {
        last = done??;
    }
    Ok(last)
}

/// Gives the measured ticket what an agent's work leaves: form values, a tick, a reply, a note.
async fn work_on(writer: &Writer, number: &str) -> Result<(), Box<dyn std::error::Error>> {
    let admin = Actor::admin("bench@example.com");
    let values = serde_json::json!({"product": "Washer W-9", "serial": "AB12CD34", "order_number": "A-1001", "problem": "The drum does not turn."});
    let commands = [
        Command::SaveForm { form: "request".into(), values: serde_json::from_value(values)? },
        Command::Tick { item: "Customer and product identified".into(), checked: true },
        Command::Comment { body: "We are looking into it.".into(), public: true },
        Command::Comment { body: "Asked the warehouse for a motor.".into(), public: false },
    ];
    for command in commands {
        let request = CommandRequest { ticket: number.into(), command, actor: admin.clone(), expected_revision: None };
        writer.command(request).await?;
    }
    Ok(())
}

/// A session for `person`, stored as signing in would store it; returns its cookie.
fn session(store: &Store, clock: &dyn Clock, person: &str) -> Result<String, Box<dyn std::error::Error>> {
    let secret: [u8; 32] = rand::random();
    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(secret).into();
    let now = clock.now();
    let record = SessionRecord {
        id: hex::encode(&digest[..6]),
        person: person.into(),
        role: TokenRole::Agent,
        created_at: now,
        last_seen_at: now,
        expires_at: now + chrono::Duration::days(7),
        user_agent: None,
        revoked_at: None,
        revoked_by: None,
    };
    store.save_session(&digest, &record)?;
    let value = afterdesk::web::session::cookie_value(&store.secret("web")?, &secret);
    Ok(format!("{}={value}", afterdesk::web::session::SESSION_COOKIE))
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

/// Renders `path` `runs` times through `router`: status, body size, p50, p99.
async fn measure(
    router: &axum::Router,
    path: &str,
    cookie: &str,
    runs: usize,
) -> Result<(StatusCode, usize, Duration, Duration), Box<dyn std::error::Error>> {
    let get = || Request::get(path).header(header::COOKIE, cookie).body(Body::empty());
    let mut status = StatusCode::OK;
    let mut size = 0;
    for _ in 0..runs / 10 {
        let response = router.clone().oneshot(get()?).await?;
        status = response.status();
        size = axum::body::to_bytes(response.into_body(), usize::MAX).await?.len();
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let request = get()?;
        let started = Instant::now();
        let response = router.clone().oneshot(request).await?;
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        times.push(started.elapsed());
        std::hint::black_box(body);
    }
    times.sort();
    Ok((status, size, percentile(&times, 0.5), percentile(&times, 0.99)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let tickets = args.first().copied().unwrap_or(100_000);
    let runs = args.get(1).copied().unwrap_or(1_000);
    let dir = tempfile::tempdir()?;
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let store = Store::open(&StoreConfig::new(dir.path()))?;
    let registry = Arc::new(Registry::load(store.clone(), &workflows)?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (writer, _thread) = Writer::start_with(registry.clone(), clock.clone(), WriterSettings::default());

    let started = Instant::now();
    let number = seed(&writer, tickets).await?;
    work_on(&writer, &number).await?;
    println!("seeded {tickets} tickets through the writer in {:.1} s", started.elapsed().as_secs_f64());

    let cookie = session(&store, clock.as_ref(), AGENT)?;
    let manager = session(&store, clock.as_ref(), MANAGER)?;
    let inbound = afterdesk::inbound::process::Processor::new(
        store.clone(),
        writer.clone(),
        registry.clone(),
        clock.clone(),
        Arc::new(afterdesk::config::InboundConfig::default()),
        "desk@example.com",
    );
    let state = AppState {
        writer: writer.clone(),
        store: store.clone(),
        registry,
        clock,
        public_url: Arc::from("http://127.0.0.1:8080"),
        config_tokens: Arc::default(),
        metrics: afterdesk::api::metrics_handle(),
        survey_secret: Arc::new([0; 32]),
        inbound,
        inbound_signal: Arc::default(),
        web_secret: Arc::new(store.secret("web")?),
        web_limits: Arc::default(),
    };
    let router = afterdesk::api::router(state, Limits { max_body_bytes: 1 << 20, timeout: Duration::from_secs(30) });

    println!("{:<24} {:>6} {:>9} {:>10} {:>10}", "page", "status", "bytes", "p50", "p99");
    let pages = [
        (format!("/t/{number}"), &cookie, runs),
        ("/work".to_string(), &cookie, runs),
        ("/request/after-sales".to_string(), &cookie, runs),
        // The dashboard reads the open tickets for its backlog: fewer runs.
        ("/dashboard/after-sales".to_string(), &manager, (runs / 20).max(10)),
    ];
    for (path, cookie, runs) in pages {
        let (status, size, p50, p99) = measure(&router, &path, cookie, runs).await?;
        println!("{path:<24} {:>6} {size:>9} {:>8.2}ms {:>8.2}ms", status.as_u16(), ms(p50), ms(p99));
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
