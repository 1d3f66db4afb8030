//! One way to start the real server for a test: [`spawn_app`] copies the project's workflows and
//! scripts into a temporary folder (so a test may edit a workflow and reload it), opens a fresh
//! database there, binds `127.0.0.1:0` with a [`ManualClock`], and serves until the [`TestApp`]
//! is stopped or dropped. Everything goes over real HTTP with `reqwest`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use afterdesk::app::Application;
use afterdesk::clock::ManualClock;
use afterdesk::config::Config;
use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Monday 23 November 2026, 09:00 Tehran time (office hours of the bundled workflow).
pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T05:30:00Z").expect("valid time").to_utc()
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The port the server listens on.
    pub port: u16,
    /// Where the SMTP receiver listens, if the test enabled it ([`with_receiver`]).
    pub smtp: Option<std::net::SocketAddr>,
    /// The administrator token the server made on first start.
    pub admin_token: String,
    /// An HTTP client (no token attached).
    pub client: reqwest::Client,
    /// The server's clock: moves only when told to.
    pub clock: ManualClock,
    /// The temporary folder: `workflows/`, `scripts/`, `data/`. Removed on drop.
    pub root: tempfile::TempDir,
    /// The server's timer loop; it holds a writer handle, so `stop` drops it first.
    scheduler: Option<afterdesk::scheduler::Scheduler>,
    /// The server's scheduled jobs, run by hand ([`TestApp::run_jobs`]).
    jobs: afterdesk::jobs::Jobs,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// Starts the server with the default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the server after `configure` has adjusted its configuration.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let root = tempfile::tempdir().expect("temporary folder");
    copy_project_folder("workflows", root.path());
    copy_project_folder("scripts", root.path());
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data: root.path().join("data"),
        workflows: root.path().join("workflows"),
        cache_mb: 8,
        ..Config::default()
    };
    // No mail server in most tests: mail stays in the outbox (the mail tests start one).
    config.mail.disabled = true;
    configure(&mut config);
    let clock = ManualClock::new(start_time());
    let app = Application::build_with_clock(&config, Arc::new(clock.clone())).await.expect("the server starts");
    let port = app.port();
    let smtp = app.smtp_address();
    assert_ne!(port, 0, "the server is bound to a real port");
    let admin_token = app.initial_admin_token.clone().expect("a fresh database makes an initial admin token");
    let scheduler = Some(app.scheduler());
    let jobs = app.jobs();
    let (shutdown, stop) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stop.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("HTTP client");
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        smtp,
        admin_token,
        client,
        clock,
        root,
        scheduler,
        jobs,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

/// The address [`with_receiver`] routes to the bundled workflow.
pub const SUPPORT_ADDRESS: &str = "support@example.com";

/// Turns on the SMTP receiver on `127.0.0.1:0` (its address is then [`TestApp::smtp`]), greeting
/// as `desk.example.test`, with mail to [`SUPPORT_ADDRESS`] routed to `after-sales`.
pub fn with_receiver(config: &mut Config) {
    config.inbound.smtp_listen = Some("127.0.0.1:0".parse().expect("address"));
    config.inbound.hostname = Some("desk.example.test".into());
    config.inbound.routes = vec![afterdesk::config::InboundRoute {
        address: SUPPORT_ADDRESS.into(),
        workflow: "after-sales".into(),
        category: None,
        priority: None,
    }];
}

/// A second workflow beside the bundled one, for read scoping: `warranty` (tickets `WA-n`),
/// whose only role, `clerk`, has wendy and navid (navid is also a technician of
/// `after-sales`; wendy has no role there).
pub const WARRANTY_WORKFLOW: &str = r#"
id = "warranty"
name = "Warranty claims (test fixture)"
ticket_prefix = "WA"
priorities = ["normal", "high"]

[roles]
clerk = ["wendy@example.com", "navid@example.com"]

[stages.claim]
raci = { responsible = "clerk" }
transitions = [{ name = "settle", to = "settled" }]

[stages.settled]
terminal = true
"#;

/// Starts the server with the bundled workflow and [`WARRANTY_WORKFLOW`].
pub async fn spawn_app_with_warranty() -> TestApp {
    spawn_app_with(|config| {
        std::fs::write(config.workflows.join("warranty.toml"), WARRANTY_WORKFLOW).expect("write the workflow");
    })
    .await
}

/// The callers of the two-workflow app of [`spawn_app_with_warranty`], one of each kind of
/// read access.
pub struct WarrantyStaff {
    /// An integration (reads everything).
    pub web: User,
    /// An agent of after-sales only.
    pub omid: User,
    /// An agent of warranty only.
    pub wendy: User,
    /// An agent of both workflows.
    pub navid: User,
    /// An agent with no role in either.
    pub mallory: User,
}

impl TestApp {
    /// Tokens for [`WarrantyStaff`].
    pub async fn warranty_staff(&self) -> WarrantyStaff {
        WarrantyStaff {
            web: self.integrator("web-form").await,
            omid: self.agent("omid@example.com").await,
            wendy: self.agent("wendy@example.com").await,
            navid: self.agent("navid@example.com").await,
            mallory: self.agent("mallory@example.com").await,
        }
    }
}

fn copy_project_folder(name: &str, to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    let to = to.join(name);
    std::fs::create_dir_all(&to).expect("create folder");
    for entry in std::fs::read_dir(&from).expect("read project folder") {
        let path = entry.expect("folder entry").path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().expect("file name"))).expect("copy file");
        }
    }
}

impl TestApp {
    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The folder of workflow files the server reads on reload.
    pub fn workflows_dir(&self) -> PathBuf {
        self.root.path().join("workflows")
    }

    /// The bundled workflow file, as the server sees it.
    pub fn workflow_file(&self) -> PathBuf {
        self.workflows_dir().join("after-sales.toml")
    }

    /// The administrator the server made on first start.
    pub fn admin(&self) -> User {
        User {
            person: "admin".into(),
            token: self.admin_token.clone(),
            client: self.client.clone(),
            address: self.address.clone(),
        }
    }

    /// Mints a token (`role` is `admin`, `agent` or `integrator`) with `POST /v1/tokens`.
    pub async fn user(&self, role: &str, person: &str) -> User {
        let response = self.admin().post("/v1/tokens", json!({ "person": person, "role": role })).await;
        let body = expect_status(response, StatusCode::CREATED).await;
        let token = body["token"].as_str().expect("the answer carries the secret").to_string();
        User { person: person.into(), token, client: self.client.clone(), address: self.address.clone() }
    }

    /// Whoever holds `token` (minted by the test itself).
    pub fn holder(&self, person: &str, token: &str) -> User {
        User { person: person.into(), token: token.into(), client: self.client.clone(), address: self.address.clone() }
    }

    /// A member of staff (RACI applies).
    pub async fn agent(&self, person: &str) -> User {
        self.user("agent", person).await
    }

    /// Another system (a web form, a telephony gateway).
    pub async fn integrator(&self, name: &str) -> User {
        self.user("integrator", name).await
    }

    /// A request without a token.
    pub fn anonymous(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Moves the server's clock.
    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    /// Fires the SLA timers due at the server's (manual) clock now.
    pub async fn fire_timers(&self) {
        if let Some(scheduler) = &self.scheduler {
            scheduler.tick().await;
        }
    }

    /// Runs the scheduled jobs due at the server's (manual) clock now.
    pub async fn run_jobs(&self) -> afterdesk::jobs::JobRuns {
        let jobs = self.jobs.clone();
        tokio::task::spawn_blocking(move || jobs.tick()).await.expect("the jobs task").expect("the jobs ran")
    }

    /// When the server's next SLA timer comes due.
    pub fn next_timer(&self) -> Option<DateTime<Utc>> {
        self.scheduler.as_ref().and_then(|scheduler| scheduler.next_due())
    }

    /// Stops the server gracefully and waits for it (writer drained, database flushed).
    pub async fn stop(mut self) {
        self.scheduler = None;
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let served = tokio::time::timeout(Duration::from_secs(10), server).await;
            let served = served.expect("the server stops within 10 s").expect("the server task did not panic");
            served.expect("the server stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // A test that ends (or panics) without `stop` still stops its server; the runtime
        // ending with the test finishes the task.
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Someone holding a token.
#[derive(Clone)]
pub struct User {
    /// Who the token is for.
    pub person: String,
    /// The secret.
    pub token: String,
    client: reqwest::Client,
    address: String,
}

impl User {
    /// A request with this user's bearer token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.address)).bearer_auth(&self.token)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("GET answered")
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path).json(&body).send().await.expect("POST answered")
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.request(Method::PUT, path).json(&body).send().await.expect("PUT answered")
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.expect("DELETE answered")
    }

    /// Opens a ticket, expecting 201; returns the ticket.
    pub async fn open(&self, body: Value) -> Value {
        expect_status(self.post("/v1/tickets", body).await, StatusCode::CREATED).await
    }

    /// `POST /v1/tickets/{ticket}/{command}`, expecting 200; returns the ticket.
    pub async fn command(&self, ticket: &str, command: &str, body: Value) -> Value {
        let response = self.post(&format!("/v1/tickets/{ticket}/{command}"), body).await;
        expect_status(response, StatusCode::OK).await
    }

    /// Takes a transition, expecting 200; returns the ticket.
    pub async fn transition(&self, ticket: &str, name: &str) -> Value {
        self.command(ticket, "transitions", json!({ "name": name })).await
    }

    /// Ticks a checklist item of the current stage, expecting 200.
    pub async fn tick(&self, ticket: &str, item: &str) -> Value {
        self.command(ticket, &format!("checklist/{}", encode(item)), json!({})).await
    }

    /// Saves form values, expecting 200; returns the ticket.
    pub async fn save_form(&self, ticket: &str, form: &str, values: Value) -> Value {
        let response = self.put(&format!("/v1/tickets/{ticket}/forms/{form}"), values).await;
        expect_status(response, StatusCode::OK).await
    }

    /// Takes an `after-sales` ticket from intake through review and resolution to the survey
    /// stage (resolved), filling in and ticking what each stage's guards need. The user must
    /// be allowed to work every stage on the way (an administrator).
    pub async fn through_to_survey(&self, ticket: &str) -> Value {
        self.save_form(ticket, "request", json!({"product": "Washer W-9", "problem": "The drum does not turn."})).await;
        self.tick(ticket, "Customer and product identified").await;
        self.tick(ticket, "Request confirmed with the customer").await;
        self.transition(ticket, "accept").await;
        let diagnosis = json!({"findings": "Worn brushes", "cause": "wear", "under_warranty": true});
        self.save_form(ticket, "diagnosis", diagnosis).await;
        self.tick(ticket, "Warranty status checked").await;
        self.tick(ticket, "Parts availability checked").await;
        self.transition(ticket, "proceed").await;
        self.save_form(ticket, "resolution_report", json!({"outcome": "repaired", "work_done": "New brushes"})).await;
        self.tick(ticket, "Solution explained to the customer").await;
        self.tick(ticket, "Customer confirmed the fix").await;
        self.command(ticket, "resolve", json!({})).await
    }

    /// Reads a ticket, expecting 200.
    pub async fn ticket(&self, ticket: &str) -> Value {
        expect_status(self.get(&format!("/v1/tickets/{ticket}")).await, StatusCode::OK).await
    }
}

/// The smallest body that opens a ticket on the bundled workflow.
pub fn new_ticket(subject: &str, email: &str) -> Value {
    json!({
        "workflow": "after-sales",
        "subject": subject,
        "customer": { "name": "Customer", "email": email },
    })
}

/// Percent-encodes a path segment or query value.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Asserts the status and returns the JSON body; on a mismatch, shows the body.
pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let url = response.url().clone();
    let text = response.text().await.expect("body read");
    assert_eq!(actual, status, "{url} answered {actual}: {text}");
    if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("a JSON body") }
}

/// Asserts an RFC 9457 problem: the status, `application/problem+json`, `type`
/// `/problems/{kind}`, a `title`, the same `status`, a `detail`, and well-formed `errors`.
/// Returns the problem.
pub async fn expect_problem(response: Response, status: StatusCode, kind: &str) -> Value {
    let content_type = header(&response, "content-type");
    let problem = expect_status(response, status).await;
    assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{problem}");
    assert_eq!(problem["type"], format!("/problems/{kind}"), "{problem}");
    assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()), "a title: {problem}");
    assert_eq!(problem["status"], status.as_u16(), "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "a detail: {problem}");
    if let Some(errors) = problem.get("errors") {
        let errors = errors.as_array().expect("errors is a list");
        assert!(!errors.is_empty(), "errors, when present, is not empty: {problem}");
        for error in errors {
            assert!(error["field"].as_str().is_some_and(|f| !f.is_empty()), "each error names a field: {problem}");
            assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "each error has a message: {problem}");
        }
    }
    problem
}

/// The `field` of every entry of a problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// The message of the error naming `field`; fails the test if there is none.
pub fn error_on(problem: &Value, field: &str) -> String {
    problem["errors"]
        .as_array()
        .and_then(|errors| errors.iter().find(|e| e["field"] == field))
        .and_then(|e| e["message"].as_str())
        .map(String::from)
        .unwrap_or_else(|| panic!("no error on `{field}` in {problem}"))
}

/// A response header as text.
pub fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(String::from)
}
