//! Kill -9 durability of the real server binary.
//!
//! Starts `afterdesk serve` on a temporary data folder, has many concurrent clients open tickets
//! and work them (form, checklist, comment, transition), and records every request the server
//! acknowledged (2xx). While they run, the process gets SIGKILL — at a different moment each
//! round. After a restart on the same data folder every acknowledged ticket and command must be
//! there: the ticket at (at least) the acknowledged revision, the acknowledged events in its log,
//! repeat links on both tickets, idempotency keys still answering with their ticket, numbers
//! unique and continuing after the highest one given out.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use support::server::Server;

/// Concurrent clients per round.
const CLIENTS: usize = 32;
/// Acknowledgements to wait for before each kill (plus a little jitter): the moments of the kills.
const KILL_AFTER_ACKS: [usize; 6] = [1, 40, 150, 400, 800, 1_500];
const CHECKLIST: [&str; 2] = ["Customer and product identified", "Request confirmed with the customer"];
const CATEGORIES: [Option<&str>; 4] = [None, Some("repair"), Some("billing"), Some("complaint")];

/// An acknowledged command: the revision the answer carried and the kind of event it added.
#[derive(Debug, Clone)]
struct Ack {
    revision: u64,
    kind: &'static str,
}

/// What the server acknowledged about one ticket.
#[derive(Debug, Clone)]
struct TicketAck {
    id: String,
    acks: Vec<Ack>,
    /// The stage of the last acknowledged answer.
    stage: String,
    /// Links in the acknowledged answer to the open (repeat requests): other ticket id.
    links: Vec<String>,
    /// Idempotency key and body of the open, if it had one.
    idempotency: Option<(String, Value)>,
}

#[derive(Debug, Deserialize)]
struct TicketBody {
    id: String,
    number: String,
    stage: String,
    revision: u64,
    #[serde(default)]
    links: Vec<LinkBody>,
}

#[derive(Debug, Deserialize)]
struct LinkBody {
    ticket: String,
}

#[derive(Debug, Deserialize)]
struct EventBody {
    revision: u64,
    kind: String,
}

#[derive(Debug, Deserialize)]
struct EventList {
    items: Vec<EventBody>,
}

#[derive(Debug, Deserialize)]
struct Page {
    items: Vec<TicketBody>,
    next_cursor: Option<String>,
}

/// Everything acknowledged so far, over all rounds, by ticket number.
type Acked = Arc<Mutex<BTreeMap<String, TicketAck>>>;

struct Round {
    client: Client,
    base: String,
    round: usize,
    stop: AtomicBool,
    acks: AtomicUsize,
    /// The server, killed by the client that receives acknowledgement number `kill_after`.
    server: Arc<Mutex<Child>>,
    kill_after: usize,
    killed: AtomicBool,
    acked: Acked,
    /// Answers that were neither 2xx nor a dropped connection.
    unexpected: Mutex<Vec<String>>,
}

enum Sent {
    Ok(TicketBody),
    /// The connection failed: the server is gone; the outcome is unknown.
    Gone,
    Refused,
}

impl Round {
    async fn send(&self, what: &str, request: reqwest::RequestBuilder) -> Sent {
        let response = match request.send().await {
            Ok(response) => response,
            Err(_) => return Sent::Gone,
        };
        let status = response.status();
        let Ok(text) = response.text().await else { return Sent::Gone };
        if !status.is_success() {
            self.unexpected.lock().expect("lock").push(format!("{what}: {status} {text}"));
            return Sent::Refused;
        }
        match serde_json::from_str::<TicketBody>(&text) {
            Ok(body) => Sent::Ok(body),
            Err(error) => {
                self.unexpected.lock().expect("lock").push(format!("{what}: {error} in {text}"));
                Sent::Refused
            }
        }
    }

    fn acknowledge(&self, number: &str, kind: &'static str, body: &TicketBody) {
        let mut acked = self.acked.lock().expect("lock");
        let ticket = acked.get_mut(number).expect("an acknowledged ticket");
        ticket.acks.push(Ack { revision: body.revision, kind });
        ticket.stage.clone_from(&body.stage);
        drop(acked);
        self.count_ack();
    }

    /// Counts an acknowledgement; at the chosen one, SIGKILLs the server at once, so commands
    /// acknowledged just before are as fresh as can be.
    fn count_ack(&self) {
        if self.acks.fetch_add(1, Ordering::SeqCst) + 1 == self.kill_after {
            self.server.lock().expect("lock").kill().expect("SIGKILL the server");
            self.killed.store(true, Ordering::SeqCst);
        }
    }

    /// Opens tickets and works them until told to stop or the server is gone.
    async fn client(self: Arc<Self>, worker: usize) {
        let mut i = 0usize;
        while !self.stop.load(Ordering::SeqCst) {
            i += 1;
            let mut body = json!({
                "workflow": "after-sales",
                "subject": format!("Round {} client {worker} request {i}", self.round),
                // Few customers per client, so repeat requests get linked both ways.
                "customer": {
                    "name": format!("Customer {worker}-{}", i % 3),
                    "email": format!("r{}-w{worker}-c{}@example.com", self.round, i % 3),
                },
            });
            if let Some(category) = CATEGORIES[i % CATEGORIES.len()] {
                body["category"] = json!(category);
            }
            let key = (i % 4 == 0).then(|| format!("durability-{}-{worker}-{i}", self.round));
            let mut request = self.client.post(format!("{}/v1/tickets", self.base)).json(&body);
            if let Some(key) = &key {
                request = request.header("Idempotency-Key", key);
            }
            let opened = match self.send("open", request).await {
                Sent::Ok(opened) => opened,
                Sent::Gone => return,
                Sent::Refused => continue,
            };
            let number = opened.number.clone();
            {
                let mut acked = self.acked.lock().expect("lock");
                let previous = acked.insert(
                    number.clone(),
                    TicketAck {
                        id: opened.id.clone(),
                        acks: vec![Ack { revision: opened.revision, kind: "opened" }],
                        stage: opened.stage.clone(),
                        links: opened.links.iter().map(|l| l.ticket.clone()).collect(),
                        idempotency: key.map(|key| (key, body)),
                    },
                );
                if let Some(previous) = previous {
                    self.unexpected.lock().expect("lock").push(format!(
                        "number {number} given to ticket {} and again to ticket {}",
                        previous.id, opened.id
                    ));
                }
            }
            self.count_ack();
            let url = format!("{}/v1/tickets/{number}", self.base);
            let mut steps: Vec<(&'static str, reqwest::RequestBuilder)> = Vec::new();
            if i % 3 == 2 {
                let comment = json!({ "body": "Called the customer back", "public": true });
                steps.push(("commented", self.client.post(format!("{url}/comments")).json(&comment)));
            }
            if i % 3 != 0 {
                let form = json!({
                    "product": "Washer W-100",
                    "problem": "Water leaks from the bottom after every wash",
                    "serial": "AB12CD34",
                    "order_number": "ORD-1042",
                });
                steps.push(("form_saved", self.client.put(format!("{url}/forms/request")).json(&form)));
                for item in CHECKLIST {
                    let item = item.replace(' ', "%20");
                    steps.push((
                        "checklist_ticked",
                        self.client.post(format!("{url}/checklist/{item}")).json(&json!({})),
                    ));
                }
                steps.push((
                    "stage_changed",
                    self.client.post(format!("{url}/transitions")).json(&json!({"name": "accept"})),
                ));
            }
            for (kind, request) in steps {
                match self.send(kind, request).await {
                    Sent::Ok(answer) => self.acknowledge(&number, kind, &answer),
                    Sent::Gone => return,
                    Sent::Refused => break,
                }
            }
        }
    }
}

async fn get_json<T: for<'de> Deserialize<'de>>(client: &Client, url: &str) -> T {
    let response = client.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let text = response.text().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(status, StatusCode::OK, "GET {url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: {e} in {text}"))
}

/// Checks one acknowledged ticket against the restarted server (panics on a problem).
async fn check_ticket(client: &Client, base: &str, number: &str, ack: &TicketAck, all: &BTreeMap<String, TicketAck>) {
    let response = client.get(format!("{base}/v1/tickets/{number}")).send().await.expect("GET ticket");
    let status = response.status();
    let text = response.text().await.expect("ticket body");
    assert_eq!(status, StatusCode::OK, "acknowledged ticket {number} ({}) is lost: {text}", ack.id);
    let ticket: TicketBody = serde_json::from_str(&text).expect("a ticket");
    assert_eq!(ticket.id, ack.id, "number {number} now names another ticket");
    let last = ack.acks.last().expect("at least the open");
    assert!(
        ticket.revision >= last.revision,
        "ticket {number} is at revision {} but revision {} ({}) was acknowledged",
        ticket.revision,
        last.revision,
        last.kind
    );
    if ticket.revision == last.revision {
        assert_eq!(ticket.stage, ack.stage, "ticket {number}: stage of the acknowledged revision");
    }
    let events: EventList = get_json(client, &format!("{base}/v1/tickets/{number}/events")).await;
    let revisions: Vec<u64> = events.items.iter().map(|e| e.revision).collect();
    let expected: Vec<u64> = (1..=ticket.revision).collect();
    assert_eq!(revisions, expected, "ticket {number}: the log must hold revisions 1..={}", ticket.revision);
    let mut after = 0;
    for ack in &ack.acks {
        let found = events.items.iter().any(|e| e.revision > after && e.revision <= ack.revision && e.kind == ack.kind);
        assert!(found, "ticket {number}: acknowledged {} (revision {}) is not in the log", ack.kind, ack.revision);
        after = ack.revision;
    }
    // A repeat request links both tickets in one transaction: both ends survive.
    let links: HashSet<&str> = ticket.links.iter().map(|l| l.ticket.as_str()).collect();
    for other in &ack.links {
        assert!(links.contains(other.as_str()), "ticket {number}: acknowledged link to {other} is lost");
        if let Some((other_number, _)) = all.iter().find(|(_, t)| &t.id == other) {
            let earlier: TicketBody = get_json(client, &format!("{base}/v1/tickets/{other_number}")).await;
            assert!(
                earlier.links.iter().any(|l| l.ticket == ack.id),
                "ticket {other_number}: the link back to {number} is lost"
            );
        }
    }
    if let Some((key, body)) = &ack.idempotency {
        let response = client
            .post(format!("{base}/v1/tickets"))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("retry an idempotent open");
        let replayed = response.headers().get("idempotent-replayed").is_some();
        let status = response.status();
        let again: TicketBody = response.json().await.expect("a ticket");
        assert_eq!(status, StatusCode::CREATED, "retry of {key}");
        assert!(replayed && again.number == number, "idempotency key {key} of {number} opened {} again", again.number);
    }
}

/// Checks everything acknowledged so far; returns the highest ticket number in the database.
async fn verify(client: &Client, base: &str, acked: &Acked) -> u64 {
    let all = acked.lock().expect("lock").clone();
    // Check the tickets concurrently, a share per task.
    let all = Arc::new(all);
    let numbers: Vec<String> = all.keys().cloned().collect();
    let mut tasks = tokio::task::JoinSet::new();
    for share in numbers.chunks(numbers.len().div_ceil(8).max(1)) {
        let (client, base, all, share) = (client.clone(), base.to_string(), all.clone(), share.to_vec());
        tasks.spawn(async move {
            for number in &share {
                check_ticket(&client, &base, number, &all[number], &all).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(error) = done {
            std::panic::resume_unwind(error.into_panic());
        }
    }
    // Every ticket in the database, through the list: numbers unique.
    let mut seen: BTreeMap<u64, String> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/tickets?limit=500");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Page = get_json(client, &url).await;
        for ticket in page.items {
            let n = sequence(&ticket.number);
            if let Some(other) = seen.insert(n, ticket.id.clone()) {
                panic!("number {} is on tickets {other} and {}", ticket.number, ticket.id);
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    for (number, ack) in all.iter() {
        assert_eq!(seen.get(&sequence(number)), Some(&ack.id), "acknowledged {number} missing from the list");
    }
    seen.keys().next_back().copied().unwrap_or(0)
}

fn sequence(number: &str) -> u64 {
    number.strip_prefix("AS-").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("a ticket number: {number}"))
}

/// After a restart: a new ticket gets the next number.
async fn open_after_restart(client: &Client, base: &str, highest: u64, acked: &Acked) {
    let body = json!({
        "workflow": "after-sales",
        "subject": "After the restart",
        "customer": { "name": "Probe", "email": format!("probe-{highest}@example.com") },
    });
    let response = client.post(format!("{base}/v1/tickets")).json(&body).send().await.expect("open after restart");
    assert_eq!(response.status(), StatusCode::CREATED);
    let ticket: TicketBody = response.json().await.expect("a ticket");
    assert_eq!(sequence(&ticket.number), highest + 1, "numbers continue after the highest ({highest})");
    acked.lock().expect("lock").insert(
        ticket.number.clone(),
        TicketAck {
            id: ticket.id,
            acks: vec![Ack { revision: ticket.revision, kind: "opened" }],
            stage: ticket.stage,
            links: Vec::new(),
            idempotency: None,
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let acked: Acked = Arc::default();
    let mut token: Option<String> = None;
    // reqwest is built without a default TLS provider (the server installs ring's).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let plain = Client::builder().timeout(Duration::from_secs(2)).build().expect("client");
    for (round, kill_after) in KILL_AFTER_ACKS.iter().copied().chain([0]).enumerate() {
        let mut server = Server::start(&data, dir.path().join(format!("server-{round}.log")));
        server.wait_healthy(&plain).await;
        let secret = token.get_or_insert_with(|| {
            std::fs::read_to_string(data.join("initial-admin-token")).expect("initial admin token").trim().to_string()
        });
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {secret}").parse().expect("a header value"));
        let client =
            Client::builder().default_headers(headers).timeout(Duration::from_secs(10)).build().expect("client");
        if round > 0 {
            let checked = acked.lock().expect("lock").len();
            let highest = verify(&client, &server.base, &acked).await;
            open_after_restart(&client, &server.base, highest, &acked).await;
            eprintln!(
                "restart {round}: {checked} acknowledged tickets intact, highest number {highest} ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
        if round == KILL_AFTER_ACKS.len() {
            break;
        }
        // Vary the moment from run to run too.
        let jitter = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let kill_after = kill_after + (jitter as usize % (kill_after / 4 + 1));
        let run = Arc::new(Round {
            client: client.clone(),
            base: server.base.clone(),
            round,
            stop: AtomicBool::new(false),
            acks: AtomicUsize::new(0),
            server: server.child.clone(),
            kill_after,
            killed: AtomicBool::new(false),
            acked: acked.clone(),
            unexpected: Mutex::new(Vec::new()),
        });
        let clients: Vec<_> = (0..CLIENTS).map(|w| tokio::spawn(run.clone().client(w))).collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !run.killed.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "only {} acknowledgements in 10 s", run.acks.load(Ordering::SeqCst));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        run.stop.store(true, Ordering::SeqCst);
        server.child.lock().expect("lock").wait().expect("reap the server");
        for client in clients {
            client.await.expect("a client task");
        }
        let unexpected = run.unexpected.lock().expect("lock").clone();
        assert!(unexpected.is_empty(), "answers that were neither 2xx nor a lost connection: {unexpected:#?}");
        eprintln!(
            "round {round}: SIGKILL right after acknowledgement {kill_after}; {} acknowledged in all ({:.1} s)",
            run.acks.load(Ordering::SeqCst),
            started.elapsed().as_secs_f64()
        );
    }
}
