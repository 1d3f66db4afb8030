//! What slow Rhai rules cost everybody else: commands of one workflow through the single
//! writer, while clients of another workflow keep opening tickets whose priority rule does
//! slow work in a loop until the sandbox stops it.
//!
//! Every phase runs the same fast clients (16 tasks opening after-sales tickets) for the same
//! time; phases differ in the slow clients running beside them (4 tasks, each sending its
//! next command as soon as the last one failed), in the scripts' wall-time bound, and in
//! whether a script that keeps running into its limits is suspended. The figure to read is the fast clients' throughput as a ratio to the phase without
//! slow clients, measured in the same run on the same machine.
//!
//! ```sh
//! cargo run --release --example bench_slow_rules [-- SECONDS_PER_PHASE]
//! ```

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use afterdesk::clock::SystemClock;
use afterdesk::engine::{Actor, CustomerInput, OpenTicket, rules};
use afterdesk::registry::Registry;
use afterdesk::store::{Store, StoreConfig};
use afterdesk::writer::{OpenRequest, Writer};

/// Fast clients: each opens after-sales tickets one after another.
const FAST_CLIENTS: usize = 16;

/// A workflow whose priority rule searches a list of 10,000 texts in a loop: each search is
/// one operation but takes tens of microseconds, so the script runs until the wall-time bound
/// stops it (before the operation limit).
const SLOW: &str = r#"
id = "slow-rules"
name = "Slow rules"
ticket_prefix = "SR"
priorities = ["normal", "high"]
categories = ["repair"]
priority_rule = '''
let texts = [];
texts.pad(10000, "washer");
loop { texts.contains("oven"); }
'''

[roles]
agent = ["agent@example.com"]

[stages.intake]
raci = { responsible = "agent" }
transitions = [{ name = "close", to = "closed" }]

[stages.closed]
terminal = true
"#;

fn ticket(workflow: &str, i: usize) -> OpenTicket {
    OpenTicket {
        workflow: workflow.into(),
        subject: format!("Request {i}"),
        category: Some("repair".into()),
        customer: CustomerInput {
            email: Some(format!("customer{}@example.com", i % 1_000)),
            ..CustomerInput::default()
        },
        ..OpenTicket::default()
    }
}

/// What one phase measured.
struct Phase {
    fast: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    slow_tries: usize,
    slow_time: Duration,
}

impl Phase {
    fn throughput(&self) -> f64 {
        self.fast as f64 / self.elapsed.as_secs_f64()
    }

    fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted.get(((sorted.len().max(1) - 1) as f64 * q) as usize).copied().unwrap_or_default()
    }
}

async fn phase(writer: &Writer, slow_clients: usize, length: Duration) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let admin = Actor::admin("bench@example.com");
    let counter = Arc::new(AtomicUsize::new(0));
    let mut slow = Vec::new();
    for _ in 0..slow_clients {
        let (writer, stop, admin) = (writer.clone(), stop.clone(), admin.clone());
        slow.push(tokio::spawn(async move {
            let (mut tries, mut time) = (0, Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let request =
                    OpenRequest { ticket: ticket("slow-rules", tries), actor: admin.clone(), idempotency_key: None };
                // Fails: the rule is stopped by the sandbox. The client tries again at once.
                let _ = writer.open(request).await;
                tries += 1;
                time += started.elapsed();
            }
            (tries, time)
        }));
    }
    let started = Instant::now();
    let mut fast = Vec::new();
    for _ in 0..FAST_CLIENTS {
        let (writer, stop, admin, counter) = (writer.clone(), stop.clone(), admin.clone(), counter.clone());
        fast.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let request =
                    OpenRequest { ticket: ticket("after-sales", i), actor: admin.clone(), idempotency_key: None };
                if writer.open(request).await.is_ok() {
                    latencies.push(t.elapsed());
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in fast {
        latencies.extend(task.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    let (mut slow_tries, mut slow_time) = (0, Duration::ZERO);
    for task in slow {
        let (tries, time) = task.await.unwrap_or_default();
        slow_tries += tries;
        slow_time += time;
    }
    Phase { fast: latencies.len(), elapsed, latencies, slow_tries, slow_time }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let length = Duration::from_secs(seconds);
    // Inside the project, so that the after-sales workflow finds its scripts/ folder.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(root.join("target/tmp"))?;
    let dir = tempfile::tempdir_in(root.join("target/tmp"))?;
    let workflows = dir.path().join("workflows");
    std::fs::create_dir_all(&workflows)?;
    std::fs::copy(root.join("workflows/after-sales.toml"), workflows.join("after-sales.toml"))?;
    std::fs::write(workflows.join("slow-rules.toml"), SLOW)?;
    let store = Store::open(&StoreConfig::new(dir.path().join("data")))?;
    let registry = Arc::new(Registry::load(store, &workflows)?);
    let (writer, _thread) = Writer::start(registry, Arc::new(SystemClock));
    println!(
        "afterdesk bench_slow_rules: {FAST_CLIENTS} fast clients opening after-sales tickets, {seconds} s a phase, \
         {} cores",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    // Warm up (sled's first pages, the engine's first compilation).
    let _ = phase(&writer, 0, Duration::from_millis(500)).await;

    let phases = [
        ("no slow clients", 0, rules::DEFAULT_RUN_TIME, true),
        ("4 slow: 1 s bound (before)", 4, Duration::from_secs(1), false),
        ("4 slow: 50 ms bound only", 4, rules::DEFAULT_RUN_TIME, false),
        ("4 slow: 50 ms bound + suspension (now)", 4, rules::DEFAULT_RUN_TIME, true),
    ];
    let mut baseline = None;
    for (name, slow_clients, bound, suspending) in phases {
        rules::set_run_time(bound);
        rules::set_suspending(suspending);
        let measured = phase(&writer, slow_clients, length).await;
        let base = *baseline.get_or_insert(measured.throughput());
        let slow = if measured.slow_tries > 0 {
            format!(
                "{} slow tries, {:.0} ms each",
                measured.slow_tries,
                measured.slow_time.as_secs_f64() * 1e3 / measured.slow_tries as f64
            )
        } else {
            String::new()
        };
        println!(
            "{name:<40} {:>7.0} fast commands/s = {:>5.2} of no slow clients   p50 {:>8.2} ms  p99 {:>8.2} ms   {slow}",
            measured.throughput(),
            measured.throughput() / base,
            measured.quantile(0.50).as_secs_f64() * 1e3,
            measured.quantile(0.99).as_secs_f64() * 1e3,
        );
    }
    rules::set_run_time(rules::DEFAULT_RUN_TIME);
    rules::set_suspending(true);
    Ok(())
}
