//! HTTP load generator for a running Afterdesk server.
//!
//! Many client tasks share one HTTP client (one connection pool) and drive the REST API until a
//! time is up (`--duration`) or a number of tickets were opened (`--tickets`). Every request is
//! timed from sending to the last byte of the answer; at the end it prints throughput, latency
//! percentiles per kind of request and the errors by status.
//!
//! Scenarios:
//! - `open`: open tickets (`POST /v1/tickets`);
//! - `move`: open a ticket, save its request form, tick both intake checklist items, accept it
//!   (five requests, each timed as its own kind);
//! - `mixed`: per ten iterations of a client: 4 opens, 2 open-and-move, 2 reads of a ticket and
//!   its events, 2 first pages of the ticket list;
//! - `list`: walks the whole list with the cursor once (`list_walk`), then pages: the first page
//!   (`list_first`), a page near the end through a cursor (`list_deep`), and the first page of
//!   `status=open` (`list_open`, walks an index), all with `--limit` tickets per page.
//!
//! ```sh
//! cargo build --release && cargo build --release --example load
//! target/release/afterdesk serve --data /tmp/load --listen 127.0.0.1:18090 &
//! AFTERDESK_TOKEN=$(cat /tmp/load/initial-admin-token) \
//!     target/release/examples/load --url http://127.0.0.1:18090 --clients 64 --duration 10 --scenario move
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Client, RequestBuilder};
use serde::Deserialize;
use serde_json::json;

/// Load generator for the Afterdesk REST API.
#[derive(Debug, Parser)]
#[command(name = "load")]
struct Args {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API token (an admin token bypasses RACI); default: the AFTERDESK_TOKEN environment variable.
    #[arg(long)]
    token: Option<String>,
    /// Concurrent client tasks (they share one connection pool).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// How long to run, in seconds (ignored with --tickets).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after opening this many tickets instead of after --duration.
    #[arg(long)]
    tickets: Option<usize>,
    /// What the clients do.
    #[arg(long, value_enum, default_value_t = Scenario::Open)]
    scenario: Scenario,
    /// Distinct customers to cycle through (0: a new customer for every ticket).
    #[arg(long, default_value_t = 0)]
    customers: usize,
    /// Send an Idempotency-Key with every open.
    #[arg(long)]
    idempotency: bool,
    /// Page size of list requests.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Open,
    Move,
    Mixed,
    List,
}

const CHECKLIST: [&str; 2] = ["Customer and product identified", "Request confirmed with the customer"];
const CATEGORIES: [Option<&str>; 6] =
    [None, Some("repair"), Some("installation"), Some("billing"), Some("order_status"), Some("complaint")];

/// What one client measured.
#[derive(Debug, Default)]
struct Stats {
    /// Latencies in microseconds, by kind of request (every answer, whatever its status).
    latencies: HashMap<&'static str, Vec<u32>>,
    /// Failed requests by (kind, HTTP status or transport error).
    errors: BTreeMap<(&'static str, String), u64>,
    /// Tickets opened (2xx).
    opened: u64,
    /// Tickets moved through `accept` (2xx).
    moved: u64,
}

impl Stats {
    fn merge(&mut self, other: Self) {
        for (kind, mut values) in other.latencies {
            self.latencies.entry(kind).or_default().append(&mut values);
        }
        for (key, count) in other.errors {
            *self.errors.entry(key).or_default() += count;
        }
        self.opened += other.opened;
        self.moved += other.moved;
    }

    fn requests(&self) -> u64 {
        let answered: usize = self.latencies.values().map(Vec::len).sum();
        let transport: u64 = self.errors.iter().filter(|((_, status), _)| !is_status(status)).map(|(_, n)| *n).sum();
        answered as u64 + transport
    }

    fn failures(&self) -> u64 {
        self.errors.values().sum()
    }
}

fn is_status(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit())
}

/// Shared by every client task.
struct Shared {
    client: Client,
    base: String,
    args: Args,
    deadline: Option<Instant>,
    opened: AtomicUsize,
    stop: AtomicBool,
    run: u64,
}

#[derive(Debug, Deserialize)]
struct TicketAnswer {
    number: String,
}

#[derive(Debug, Deserialize)]
struct PageAnswer {
    items: Vec<serde_json::Value>,
    next_cursor: Option<String>,
}

impl Shared {
    /// Whether a client should start another iteration (and, opening a ticket, claims one).
    fn go_on(&self, opens: bool) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        if let Some(deadline) = self.deadline
            && Instant::now() >= deadline
        {
            self.stop.store(true, Ordering::Relaxed);
            return false;
        }
        if let Some(limit) = self.args.tickets
            && opens
            && self.opened.fetch_add(1, Ordering::Relaxed) >= limit
        {
            self.stop.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Sends a request, times it to the last byte, records it; the body when the answer is 2xx.
    async fn call(&self, stats: &mut Stats, kind: &'static str, request: RequestBuilder) -> Option<axum::body::Bytes> {
        let started = Instant::now();
        let result = async {
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        match result {
            Ok((status, body)) => {
                stats.latencies.entry(kind).or_default().push(micros);
                if status.is_success() {
                    Some(body)
                } else {
                    *stats.errors.entry((kind, status.as_u16().to_string())).or_default() += 1;
                    None
                }
            }
            Err(error) => {
                let what = if error.is_timeout() {
                    "timeout"
                } else if error.is_connect() {
                    "connect"
                } else {
                    "transport"
                };
                *stats.errors.entry((kind, what.to_string())).or_default() += 1;
                None
            }
        }
    }

    /// Opens a ticket; its number when it worked.
    async fn open(&self, stats: &mut Stats, client_id: usize, i: usize) -> Option<String> {
        let n = client_id + i * self.args.clients;
        let customer = if self.args.customers == 0 { n } else { n % self.args.customers };
        let email = if self.args.customers == 0 {
            format!("load-{}-{customer}@example.com", self.run)
        } else {
            format!("load-customer-{customer}@example.com")
        };
        let mut body = json!({
            "workflow": "after-sales",
            "subject": format!("Load test request {n}"),
            "customer": { "name": format!("Customer {customer}"), "email": email },
        });
        if let Some(category) = CATEGORIES[n % CATEGORIES.len()] {
            body["category"] = json!(category);
        }
        let mut request = self.client.post(format!("{}/v1/tickets", self.base)).json(&body);
        if self.args.idempotency {
            request = request.header("Idempotency-Key", format!("load-{}-{n}", self.run));
        }
        let answer = self.call(stats, "open", request).await?;
        match serde_json::from_slice::<TicketAnswer>(&answer) {
            Ok(ticket) => {
                stats.opened += 1;
                Some(ticket.number)
            }
            Err(_) => {
                *stats.errors.entry(("open", "bad body".to_string())).or_default() += 1;
                None
            }
        }
    }

    /// Fills in the request form, ticks the intake checklist and accepts the ticket.
    async fn move_to_review(&self, stats: &mut Stats, number: &str) -> bool {
        let form = json!({
            "product": "Washer W-100",
            "problem": "Water leaks from the bottom after every wash",
            "serial": "AB12CD34",
            "order_number": "ORD-1042",
        });
        let url = format!("{}/v1/tickets/{number}", self.base);
        if self.call(stats, "save_form", self.client.put(format!("{url}/forms/request")).json(&form)).await.is_none() {
            return false;
        }
        for item in CHECKLIST {
            let request = self.client.post(format!("{url}/checklist/{}", encode_segment(item))).json(&json!({}));
            if self.call(stats, "tick", request).await.is_none() {
                return false;
            }
        }
        let request = self.client.post(format!("{url}/transitions")).json(&json!({ "name": "accept" }));
        if self.call(stats, "accept", request).await.is_none() {
            return false;
        }
        stats.moved += 1;
        true
    }

    async fn client_loop(self: Arc<Self>, client_id: usize, cursors: Arc<Vec<String>>) -> Stats {
        let mut stats = Stats::default();
        let mut mine: Vec<String> = Vec::new();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (client_id as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let mut i = 0usize;
        loop {
            match self.args.scenario {
                Scenario::Open => {
                    if !self.go_on(true) {
                        break;
                    }
                    self.open(&mut stats, client_id, i).await;
                }
                Scenario::Move => {
                    if !self.go_on(true) {
                        break;
                    }
                    if let Some(number) = self.open(&mut stats, client_id, i).await {
                        self.move_to_review(&mut stats, &number).await;
                    }
                }
                Scenario::Mixed => {
                    let step = i % 10;
                    let reads = step >= 6 && !(step < 8 && mine.is_empty());
                    if !self.go_on(!reads) {
                        break;
                    }
                    if !reads {
                        if let Some(number) = self.open(&mut stats, client_id, i).await {
                            if (4..6).contains(&step) {
                                self.move_to_review(&mut stats, &number).await;
                            }
                            if mine.len() >= 100 {
                                mine.remove(0);
                            }
                            mine.push(number);
                        }
                    } else if step < 8 {
                        let number = &mine[rng.below(mine.len())];
                        let url = format!("{}/v1/tickets/{number}", self.base);
                        self.call(&mut stats, "get", self.client.get(&url)).await;
                        self.call(&mut stats, "events", self.client.get(format!("{url}/events"))).await;
                    } else {
                        let url = format!("{}/v1/tickets?limit={}", self.base, self.args.limit);
                        self.call(&mut stats, "list", self.client.get(url)).await;
                    }
                }
                Scenario::List => {
                    if !self.go_on(false) {
                        break;
                    }
                    let limit = self.args.limit;
                    let (kind, url) = match i % 3 {
                        0 => ("list_first", format!("{}/v1/tickets?limit={limit}", self.base)),
                        1 if !cursors.is_empty() => {
                            // A cursor among the last tenth of the list: a page deep down.
                            let tail = cursors.len().div_ceil(10);
                            let cursor = &cursors[cursors.len() - 1 - rng.below(tail)];
                            ("list_deep", format!("{}/v1/tickets?limit={limit}&cursor={cursor}", self.base))
                        }
                        _ => ("list_open", format!("{}/v1/tickets?status=open&limit={limit}", self.base)),
                    };
                    self.call(&mut stats, kind, self.client.get(url)).await;
                }
            }
            i += 1;
        }
        stats
    }

    /// Walks the whole list once with the cursor; returns every cursor and the tickets seen.
    async fn walk(&self, stats: &mut Stats) -> (Vec<String>, usize) {
        let mut cursors = Vec::new();
        let mut seen = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}/v1/tickets?limit={}", self.base, self.args.limit);
            if let Some(cursor) = &cursor {
                url.push_str("&cursor=");
                url.push_str(cursor);
            }
            let Some(body) = self.call(stats, "list_walk", self.client.get(url)).await else { break };
            let Ok(page) = serde_json::from_slice::<PageAnswer>(&body) else { break };
            seen += page.items.len();
            match page.next_cursor {
                Some(next) => {
                    cursors.push(next.clone());
                    cursor = Some(next);
                }
                None => break,
            }
        }
        (cursors, seen)
    }
}

/// Percent-encodes a path segment.
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A small xorshift generator (no need for more to pick tickets).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

fn print_report(shared: &Shared, stats: &mut Stats, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let args = &shared.args;
    println!(
        "scenario {:?}, {} client(s), {:.2} s, {} ({} logical CPUs here)",
        args.scenario,
        args.clients,
        secs,
        shared.base,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let requests = stats.requests();
    println!(
        "requests: {requests} = {:.0}/s ({} failed)   tickets opened: {} = {:.0}/s   moved to review: {} = {:.0}/s",
        requests as f64 / secs,
        stats.failures(),
        stats.opened,
        stats.opened as f64 / secs,
        stats.moved,
        stats.moved as f64 / secs,
    );
    print_table(stats, secs);
    if stats.errors.is_empty() {
        println!("errors: none");
    } else {
        println!("errors (kind, status or transport error: count):");
        for ((kind, status), count) in &stats.errors {
            println!("  {kind:<12} {status:<10} {count}");
        }
    }
}

/// Latency percentiles per kind of request.
fn print_table(stats: &mut Stats, secs: f64) {
    println!(
        "{:<12} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "kind", "count", "per s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    let order =
        ["open", "save_form", "tick", "accept", "get", "events", "list", "list_first", "list_deep", "list_open"];
    let mut kinds: Vec<&'static str> = stats.latencies.keys().copied().collect();
    kinds.sort_by_key(|k| (order.iter().position(|o| o == k).unwrap_or(order.len()), *k));
    for kind in kinds {
        let values = stats.latencies.entry(kind).or_default();
        values.sort_unstable();
        println!(
            "{:<12} {:>8} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            kind,
            values.len(),
            values.len() as f64 / secs,
            percentile(values, 0.50),
            percentile(values, 0.90),
            percentile(values, 0.99),
            percentile(values, 1.0),
        );
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let Some(token) = args.token.clone().or_else(|| std::env::var("AFTERDESK_TOKEN").ok()) else {
        eprintln!("load: give --token or set AFTERDESK_TOKEN");
        return std::process::ExitCode::FAILURE;
    };
    let mut headers = HeaderMap::new();
    let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {}", token.trim())) else {
        eprintln!("load: the token is not a valid header value");
        return std::process::ExitCode::FAILURE;
    };
    headers.insert(AUTHORIZATION, bearer);
    // reqwest is built without a default TLS provider (the server installs ring's; so do we).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(args.clients.max(1))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("build the HTTP client");
    let base = args.url.trim_end_matches('/').to_string();
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut shared =
        Shared { client, base, deadline: None, opened: AtomicUsize::new(0), stop: AtomicBool::new(false), run, args };
    let mut total = Stats::default();
    let mut cursors = Vec::new();
    if shared.args.scenario == Scenario::List {
        let started = Instant::now();
        let mut walk = Stats::default();
        let (found, seen) = shared.walk(&mut walk).await;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "walked the list: {seen} tickets in {} pages of {} in {secs:.2} s",
            found.len() + 1,
            shared.args.limit
        );
        print_table(&mut walk, secs);
        println!();
        cursors = found;
        total.errors = walk.errors;
    }
    if shared.args.tickets.is_none() || shared.args.scenario == Scenario::List {
        shared.deadline = Some(Instant::now() + Duration::from_secs_f64(shared.args.duration.max(0.0)));
    }
    let shared = Arc::new(shared);
    let cursors = Arc::new(cursors);
    let started = Instant::now();
    let tasks: Vec<_> = (0..shared.args.clients.max(1))
        .map(|id| tokio::spawn(shared.clone().client_loop(id, cursors.clone())))
        .collect();
    for task in tasks {
        match task.await {
            Ok(stats) => total.merge(stats),
            Err(error) => eprintln!("load: a client task failed: {error}"),
        }
    }
    let elapsed = started.elapsed();
    print_report(&shared, &mut total, elapsed);
    if total.failures() > 0 { std::process::ExitCode::from(2) } else { std::process::ExitCode::SUCCESS }
}
