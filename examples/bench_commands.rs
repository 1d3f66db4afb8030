//! Throughput of durable commands through the single writer (group commit) on real sled.
//!
//! Opens tickets, then moves prepared tickets with a transition, first with one writer task
//! waiting on each command, then with 64 concurrent tasks. Every command is acknowledged only
//! after its group is flushed to disk.
//!
//! ```sh
//! cargo run --release --example bench_commands [-- COMMANDS_PER_RUN]
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use afterdesk::clock::SystemClock;
use afterdesk::engine::{Actor, Command, CustomerInput, OpenTicket};
use afterdesk::registry::Registry;
use afterdesk::store::{Store, StoreConfig};
use afterdesk::writer::{CommandRequest, OpenRequest, Writer};
use serde_json::json;

fn request(i: usize) -> OpenTicket {
    OpenTicket {
        workflow: "after-sales".into(),
        subject: format!("Request {i}"),
        category: Some(["repair", "installation", "billing", "order_status"][i % 4].into()),
        customer: CustomerInput {
            email: Some(format!("customer{}@example.com", i % 5_000)),
            ..CustomerInput::default()
        },
        ..OpenTicket::default()
    }
}

fn report(name: &str, writers: usize, count: usize, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or_default();
    println!(
        "{name:<12} {writers:>3} writer(s): {count:>6} commands in {:>6.2}s = {:>8.0} commands/s   p50 {:>7.2} ms  p99 {:>7.2} ms",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
    );
}

async fn run<F, Fut>(writers: usize, count: usize, make: F) -> (Duration, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let make = Arc::new(make);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = w;
            while i < count {
                let t = Instant::now();
                make(i).await;
                latencies.push(t.elapsed());
                i += writers;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap_or_default());
    }
    (started.elapsed(), latencies)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let dir = tempfile::tempdir()?;
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let store = Store::open(&StoreConfig::new(dir.path().join("data")))?;
    let registry = Arc::new(Registry::load(store, &workflows)?);
    let (writer, _thread) = Writer::start(registry, Arc::new(SystemClock));
    let admin = Actor::admin("bench@example.com");
    println!(
        "afterdesk bench_commands: {count} commands per run, durable group commit, sled 0.34 in {}",
        dir.path().display()
    );

    for writers in [1, 64] {
        let opened = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (w, o, a) = (writer.clone(), opened.clone(), admin.clone());
        let (elapsed, latencies) = run(writers, count, move |i| {
            let (w, o, a) = (w.clone(), o.clone(), a.clone());
            async move {
                let request = OpenRequest { ticket: request(i), actor: a, idempotency_key: None };
                if let Ok(outcome) = w.open(request).await {
                    o.lock().map(|mut v| v.push(outcome.ticket.number)).ok();
                }
            }
        })
        .await;
        report("open", writers, count, elapsed, latencies);

        // Prepare every ticket for `accept` (not timed), then time the transitions.
        let numbers: Vec<String> = opened.lock().map(|v| v.clone()).unwrap_or_default();
        let form: BTreeMap<String, serde_json::Value> = [
            ("product".to_string(), json!("Washer W1")),
            ("problem".to_string(), json!("Stops mid-cycle")),
            ("serial".to_string(), json!("AB12CD34")),
            ("order_number".to_string(), json!("ORD-1")),
        ]
        .into();
        for number in &numbers {
            let commands = [
                Command::SaveForm { form: "request".into(), values: form.clone() },
                Command::Tick { item: "Customer and product identified".into(), checked: true },
                Command::Tick { item: "Request confirmed with the customer".into(), checked: true },
            ];
            let sends = commands.into_iter().map(|command| {
                writer.command(CommandRequest {
                    ticket: number.clone(),
                    command,
                    actor: admin.clone(),
                    expected_revision: None,
                })
            });
            for result in futures_join(sends).await {
                result?;
            }
        }
        let numbers = Arc::new(numbers);
        let (w, a, n) = (writer.clone(), admin.clone(), numbers.clone());
        let moved = numbers.len();
        let (elapsed, latencies) = run(writers, moved, move |i| {
            let (w, a, n) = (w.clone(), a.clone(), n.clone());
            async move {
                let request = CommandRequest {
                    ticket: n[i].clone(),
                    command: Command::Transition { name: "accept".into() },
                    actor: a,
                    expected_revision: None,
                };
                if let Err(e) = w.command(request).await {
                    eprintln!("transition failed: {e}");
                }
            }
        })
        .await;
        report("transition", writers, moved, elapsed, latencies);
    }
    Ok(())
}

/// Awaits futures one after another (they are queued in order on the single writer).
async fn futures_join<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for future in futures {
        out.push(future.await);
    }
    out
}
