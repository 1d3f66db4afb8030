//! `simulate` tells the truth: every shipped scenario runs both ways, through `simulate` and
//! through the real server over HTTP on a manual clock (timers fired at their due instants, as
//! simulate fires them), and the two timelines agree event by event: the same tickets (hooks'
//! tickets included), the same events with the same actors at the same instants, and the same
//! messages queued for the same people.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use afterdesk::simulate::{Scenario, Step, read_scenario};
use afterdesk::workflow::load_file;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, User, encode, spawn_app_with};

/// One event as both sides can tell it: ticket number, revision, instant, actor, kind.
type Line = (String, u64, DateTime<Utc>, String, String);
/// One message: ticket number, revision of its event, template (or webhook), recipients.
type Mail = (String, u64, String, Vec<String>);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What `afterdesk simulate` says happens.
fn simulated(workflow: &Path, scenario: &Scenario) -> (Vec<Line>, Vec<Mail>) {
    let workflow = load_file(workflow).expect("the workflow loads");
    let simulation = afterdesk::simulate::run(&workflow, scenario).expect("the scenario runs");
    let mut numbers = HashMap::new();
    for event in &simulation.events {
        if let afterdesk::engine::Change::Opened { number, .. } = &event.change {
            numbers.insert(event.ticket, number.clone());
        }
    }
    let mut lines: Vec<Line> = simulation
        .events
        .iter()
        .map(|e| (numbers[&e.ticket].clone(), e.revision, e.at, e.actor.id.clone(), e.change.kind().to_string()))
        .collect();
    lines.sort();
    let mut mails: Vec<Mail> = simulation
        .messages
        .iter()
        .map(|(m, _)| {
            let (what, to) = match &m.payload {
                afterdesk::store::outbox::Payload::Email(email) => (email.template.clone(), email.to.clone()),
                afterdesk::store::outbox::Payload::Webhook(call) => (format!("webhook {}", call.webhook), Vec::new()),
            };
            (m.number.clone(), m.revision, what, to)
        })
        .collect();
    mails.sort();
    (lines, mails)
}

struct Driver {
    app: TestApp,
    workflow: String,
    users: HashMap<String, User>,
    current: Option<String>,
}

impl Driver {
    async fn user(&mut self, person: &str, role: &str) -> User {
        if let Some(user) = self.users.get(person) {
            return user.clone();
        }
        let user = self.app.user(role, person).await;
        self.users.insert(person.to_string(), user.clone());
        user
    }

    /// Fires every timer due up to `until`, each at its own due instant.
    async fn fire_until(&self, until: DateTime<Utc>) {
        while let Some(next) = self.app.next_timer().filter(|next| *next <= until) {
            let now = self.app.clock_now();
            self.app.clock.set(now.max(next));
            self.app.fire_timers().await;
            if self.app.next_timer() == Some(next) {
                break;
            }
        }
        let now = self.app.clock_now();
        self.app.clock.set(now.max(until));
    }

    async fn step(&mut self, step: &Step) {
        if step.action == "open" {
            let user = match &step.actor {
                Some(person) => self.user(person, "agent").await,
                None => self.user("web-form", "integrator").await,
            };
            let customer = step
                .customer
                .clone()
                .map(|c| serde_json::to_value(c).expect("customer"))
                .unwrap_or(json!({"name": "Customer", "email": "customer@example.com"}));
            let mut body = json!({
                "workflow": self.workflow,
                "subject": step.subject.clone().unwrap_or_else(|| "Simulated request".into()),
                "customer": customer,
            });
            for (key, value) in [
                ("description", &step.body),
                ("category", &step.category),
                ("priority", &step.priority),
                ("channel", &step.channel),
            ] {
                if let Some(value) = value {
                    body[key] = json!(value);
                }
            }
            let response = user.post("/v1/tickets", body).await;
            if response.status() == StatusCode::CREATED {
                let ticket: Value = response.json().await.expect("json");
                self.current = ticket["number"].as_str().map(str::to_string);
            }
            return;
        }
        if step.action == "wait" {
            return;
        }
        let person = step.actor.clone().expect("every step of a shipped scenario but `open` says who acts");
        let user = self.user(&person, "agent").await;
        let ticket = step.ticket.clone().or_else(|| self.current.clone()).expect("a ticket");
        let path = |tail: &str| format!("/v1/tickets/{ticket}/{tail}");
        let body = |text: &Option<String>, key: &str| match text {
            Some(text) => json!({ key: text }),
            None => json!({}),
        };
        // Refusals are part of the timeline too: they add no events on either side.
        let _ = match step.action.as_str() {
            "save_form" => {
                let form = step.form.clone().expect("form");
                user.put(&path(&format!("forms/{form}")), json!(step.values)).await
            }
            "tick" => {
                user.post(&path(&format!("checklist/{}", encode(step.item.as_deref().expect("item")))), json!({})).await
            }
            "reply" => user.post(&path("comments"), json!({"body": step.body, "public": true})).await,
            "note" => user.post(&path("comments"), json!({"body": step.body, "public": false})).await,
            "step" => user.post(&path("steps"), json!({"description": step.description})).await,
            "assign" => user.post(&path("assign"), json!({"assignee": step.assignee})).await,
            "priority" => user.post(&path("priority"), json!({"priority": step.priority})).await,
            "request_approval" => {
                let mut b = body(&step.body, "note");
                b["action"] = json!("request");
                user.post(&path("approvals"), b).await
            }
            "approve" => {
                let mut b = body(&step.body, "note");
                b["action"] = json!("approve");
                user.post(&path("approvals"), b).await
            }
            "reject" => user.post(&path("approvals"), json!({"action": "reject", "note": step.body})).await,
            "transition" => user.post(&path("transitions"), json!({"name": step.name})).await,
            "resolve" => user.post(&path("resolve"), body(&step.body, "note")).await,
            "close" => user.post(&path("close"), json!({})).await,
            "reopen" => user.post(&path("reopen"), body(&step.body, "reason")).await,
            other => panic!("no route for the scenario action {other}"),
        };
    }
}

impl TestApp {
    fn clock_now(&self) -> DateTime<Utc> {
        afterdesk::clock::Clock::now(&self.clock)
    }
}

/// What the real server does with the same scenario.
async fn served(workflows: PathBuf, workflow_id: &str, scenario: &Scenario) -> (Vec<Line>, Vec<Mail>) {
    let start = scenario.start.to_utc();
    let app = spawn_app_with(|config| config.workflows = workflows).await;
    app.clock.set(start);
    let mut driver = Driver { app, workflow: workflow_id.to_string(), users: HashMap::new(), current: None };
    for step in &scenario.steps {
        let at = start + chrono::Duration::from_std(step.at.get()).expect("duration");
        driver.fire_until(at).await;
        driver.step(step).await;
    }
    let run_on = scenario.run_on.map(|d| chrono::Duration::from_std(d.get()).expect("duration")).unwrap_or_default();
    let end = driver.app.clock_now() + run_on;
    driver.fire_until(end).await;

    let admin = driver.app.admin();
    let tickets: Value = admin.get("/v1/tickets?limit=500").await.json().await.expect("json");
    let mut lines = Vec::new();
    let mut mails = Vec::new();
    for ticket in tickets["items"].as_array().expect("items") {
        let number = ticket["number"].as_str().expect("number").to_string();
        let events: Value =
            admin.get(&format!("/v1/tickets/{number}/events?limit=1000")).await.json().await.expect("json");
        for e in events["items"].as_array().expect("events") {
            let at = DateTime::parse_from_rfc3339(e["at"].as_str().expect("at")).expect("time").to_utc();
            lines.push((
                number.clone(),
                e["revision"].as_u64().expect("revision"),
                at,
                e["actor"]["id"].as_str().expect("actor").to_string(),
                e["kind"].as_str().expect("kind").to_string(),
            ));
        }
        let id = ticket["id"].as_str().expect("id");
        mails.extend(ticket_messages(&admin, id, &number).await);
    }
    lines.sort();
    mails.sort();
    driver.app.stop().await;
    (lines, mails)
}

/// The messages about one ticket, read until two readings agree: the delivery worker keeps
/// updating them while the server runs (a listing may miss a message being updated).
async fn ticket_messages(admin: &User, id: &str, number: &str) -> Vec<Mail> {
    let mut last: Option<Vec<Mail>> = None;
    for _ in 0..50 {
        let page: Value = admin.get(&format!("/v1/outbox?ticket={id}&limit=500")).await.json().await.expect("json");
        let mut mails: Vec<Mail> = page["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let payload = &m["payload"];
                let what = match payload["template"].as_str() {
                    Some(template) => template.to_string(),
                    None => format!("webhook {}", payload["webhook"].as_str().unwrap_or_default()),
                };
                let to = payload["to"]
                    .as_array()
                    .map(|to| to.iter().filter_map(|a| a.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                (number.to_string(), m["revision"].as_u64().expect("revision"), what, to)
            })
            .collect();
        mails.sort();
        if last.as_ref() == Some(&mails) {
            return mails;
        }
        last = Some(mails);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    last.unwrap_or_default()
}

/// A copy of the folder of `workflow` (with the project's scripts beside it) in which every
/// survey samples all tickets: the sample is drawn from the ticket's random id, which differs
/// between the two runs, and is not what this test compares.
fn copy_with_full_samples(workflow: &str, into: &Path) -> PathBuf {
    let from = root().join(workflow);
    let folder = from.parent().expect("folder");
    let to = into.join("workflows");
    std::fs::create_dir_all(&to).expect("folder");
    let sample = regex::Regex::new(r#"(?m)^sample = "\d+%""#).expect("regex");
    for entry in std::fs::read_dir(folder).expect("read") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).expect("read workflow");
            let text = sample.replace_all(&text, r#"sample = "100%""#);
            std::fs::write(to.join(path.file_name().expect("name")), text.as_ref()).expect("write");
        }
    }
    // Scripts are referenced relative to the workflow files: every shipped one is in scripts/.
    let scripts = into.join("scripts");
    std::fs::create_dir_all(&scripts).expect("scripts");
    for entry in std::fs::read_dir(root().join("scripts")).expect("read") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, scripts.join(path.file_name().expect("name"))).expect("copy");
    }
    to.join(from.file_name().expect("name"))
}

async fn both_ways(workflow: &str, scenario: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let workflow_file = copy_with_full_samples(workflow, dir.path());
    let scenario = read_scenario(&root().join(scenario)).expect("the scenario reads");
    let id = load_file(&workflow_file).expect("loads").id().to_string();
    // simulate runs its own runtime: off this one.
    let (file, copy) = (workflow_file.clone(), scenario.clone());
    let (sim_lines, sim_mails) = tokio::task::spawn_blocking(move || simulated(&file, &copy)).await.expect("simulate");
    let folder = workflow_file.parent().expect("folder").to_path_buf();
    let (server_lines, server_mails) = served(folder, &id, &scenario).await;
    assert!(sim_lines.len() > 20, "a real timeline: {sim_lines:?}");
    for (i, (simulated, served)) in sim_lines.iter().zip(&server_lines).enumerate() {
        assert_eq!(simulated, served, "event {i} differs (simulate, then server)");
    }
    assert_eq!(sim_lines.len(), server_lines.len(), "the same number of events");
    assert_eq!(sim_mails, server_mails, "the same messages for the same people");
}

#[tokio::test]
async fn the_bundled_scenario_runs_the_same_in_simulate_and_on_the_server() {
    both_ways("workflows/after-sales.toml", "examples/scenarios/after-sales.toml").await;
}

#[tokio::test]
async fn the_online_shop_scenario_runs_the_same_in_simulate_and_on_the_server() {
    both_ways("examples/workflows/online-shop.toml", "examples/scenarios/online-shop.toml").await;
}

#[tokio::test]
async fn the_manufacturer_scenario_runs_the_same_in_simulate_and_on_the_server() {
    both_ways("examples/workflows/manufacturer.toml", "examples/scenarios/manufacturer.toml").await;
}
