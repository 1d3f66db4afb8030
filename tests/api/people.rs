//! `/v1/people` and assignment through the real server: availability set over HTTP is honoured
//! by the next ticket, loads and turns follow the tickets, and a rule script that loops or
//! grows without end fails its request fast with a problem naming the script and line while
//! the server goes on serving.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_problem, expect_status, new_ticket, spawn_app};

fn hours(n: i64) -> chrono::Duration {
    chrono::Duration::hours(n)
}

fn detail(problem: &Value) -> &str {
    problem["detail"].as_str().unwrap_or_default()
}

fn repair(subject: &str, email: &str) -> Value {
    let mut body = new_ticket(subject, email);
    body["category"] = json!("repair");
    body
}

async fn availability(app: &TestApp, person: &str, body: Value) -> Value {
    let path = format!("/v1/people/{person}/availability");
    expect_status(app.admin().post(&path, body).await, StatusCode::OK).await
}

#[tokio::test]
async fn repairs_go_round_robin_and_skip_whoever_is_away() {
    let app = spawn_app().await;
    let admin = app.admin();
    // Technicians in turn: Ali, Sara, Navid, Ali, ...
    let mut assignees = Vec::new();
    for n in 0..4 {
        let ticket = admin.open(repair(&format!("Repair {n}"), &format!("c{n}@example.com"))).await;
        assignees.push(ticket["assignee"].as_str().unwrap_or("-").to_string());
    }
    assert_eq!(assignees, ["ali@example.com", "sara@example.com", "navid@example.com", "ali@example.com"]);

    // Sara is away until tomorrow: her turn passes to Navid; the event says who assigned.
    let until = (afterdesk::clock::Clock::now(&app.clock) + hours(24)).to_rfc3339();
    let sara =
        availability(&app, "sara@example.com", json!({"available": false, "until": until, "reason": "training"})).await;
    assert_eq!(sara["available"], false);
    assert_eq!(sara["availability"]["reason"], "training");
    assert_eq!(sara["open_tickets"], 1);
    let ticket = admin.open(repair("Repair 4", "c4@example.com")).await;
    assert_eq!(ticket["assignee"], "navid@example.com");
    let events = expect_status(
        admin.get(&format!("/v1/tickets/{}/events", ticket["number"].as_str().unwrap_or_default())).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(events["items"][1]["kind"], "assigned");
    assert_eq!(events["items"][1]["actor"], json!({"id": "round-robin", "kind": "system"}));

    // Once `until` has passed she is back without anyone saying so.
    app.advance(hours(25));
    let ticket = admin.open(repair("Repair 5", "c5@example.com")).await;
    assert_eq!(ticket["assignee"], "ali@example.com");
    let ticket = admin.open(repair("Repair 6", "c6@example.com")).await;
    assert_eq!(ticket["assignee"], "sara@example.com");
    app.stop().await;
}

#[tokio::test]
async fn with_the_whole_role_away_the_ticket_waits_in_its_queue() {
    let app = spawn_app().await;
    for person in ["ali", "sara", "navid"] {
        availability(&app, &format!("{person}@example.com"), json!({"available": false})).await;
    }
    let ticket = app.admin().open(repair("Nobody home", "x@example.com")).await;
    assert_eq!(ticket["assignee"], Value::Null);
    assert_eq!(ticket["queue"], "repairs");
    let number = ticket["number"].as_str().unwrap_or_default();
    let events = expect_status(app.admin().get(&format!("/v1/tickets/{number}/events")).await, StatusCode::OK).await;
    assert_eq!(events["items"][1]["kind"], "not_assigned");
    assert!(events["items"][1]["reason"].as_str().is_some_and(|r| r.contains("unavailable")), "{events}");
    // Back again: the next ticket is assigned.
    availability(&app, "sara@example.com", json!({"available": true})).await;
    let ticket = app.admin().open(repair("Somebody home", "y@example.com")).await;
    assert_eq!(ticket["assignee"], "sara@example.com");
    app.stop().await;
}

#[tokio::test]
async fn people_are_listed_with_roles_availability_and_load() {
    let app = spawn_app().await;
    let admin = app.admin();
    // Installations go to the least-loaded technician: one each, then round again.
    for n in 0..4 {
        let mut body = new_ticket(&format!("Install {n}"), &format!("i{n}@example.com"));
        body["category"] = json!("installation");
        admin.open(body).await;
    }
    let people = expect_status(admin.get("/v1/people").await, StatusCode::OK).await;
    let items = people["items"].as_array().cloned().unwrap_or_default();
    let load = |id: &str| items.iter().find(|p| p["id"] == id).map(|p| p["open_tickets"].clone());
    assert_eq!(load("ali@example.com"), Some(json!(2)));
    assert_eq!(load("sara@example.com"), Some(json!(1)));
    assert_eq!(load("navid@example.com"), Some(json!(1)));
    assert_eq!(load("reza@example.com"), Some(json!(0)));
    let ali = expect_status(admin.get("/v1/people/Ali@Example.com").await, StatusCode::OK).await;
    assert_eq!(ali["roles"], json!([{"workflow": "after-sales", "role": "technician"}]));
    assert_eq!(ali["available"], true);
    assert_eq!(ali["availability"], Value::Null);
    expect_problem(admin.get("/v1/people/nobody@example.com").await, StatusCode::NOT_FOUND, "not-found").await;
    app.stop().await;
}

#[tokio::test]
async fn availability_is_set_by_an_administrator_or_the_person_themself() {
    let app = spawn_app().await;
    let ali = app.agent("ali@example.com").await;
    let sara = app.agent("sara@example.com").await;
    let mine = expect_status(
        ali.post("/v1/people/ali@example.com/availability", json!({"available": false, "reason": "sick"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(mine["available"], false);
    assert_eq!(mine["availability"]["updated_by"], "ali@example.com");
    let problem = expect_problem(
        sara.post("/v1/people/ali@example.com/availability", json!({"available": true})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(detail(&problem).contains("administrator"), "{problem}");
    // Bad bodies name the field.
    let admin = app.admin();
    let past = (afterdesk::clock::Clock::now(&app.clock) - hours(1)).to_rfc3339();
    let problem = expect_problem(
        admin.post("/v1/people/ali@example.com/availability", json!({"available": false, "until": past})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "until");
    expect_problem(
        admin.post("/v1/people/ali@example.com/availability", json!({"away": true})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    expect_problem(
        admin.post("/v1/people/eve@example.com/availability", json!({"available": false})).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    app.stop().await;
}

/// A workflow whose routing script loops on one subject and whose priority rule builds an
/// ever longer text on another.
const RUNAWAY: &str = r#"
id = "runaway"
name = "Runaway rules (test)"
priority_rule = "scripts/runaway-priority.rhai"
[roles]
agent = ["ali@example.com"]
[stages.open]
raci = { responsible = "agent" }
transitions = [{ name = "close", to = "closed" }]
[stages.closed]
terminal = true
[[routing]]
script = "scripts/runaway-route.rhai"
[[routing]]
role = "agent"
assign = "round_robin"
"#;

#[tokio::test]
async fn a_runaway_script_fails_its_request_fast_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    std::fs::write(app.workflows_dir().join("runaway.toml"), RUNAWAY).expect("write workflow");
    let scripts = app.root.path().join("scripts");
    std::fs::write(
        scripts.join("runaway-route.rhai"),
        "// Loops when asked to.\nif ticket.subject == \"loop\" {\n    let n = 0;\n    loop { n += 1; }\n}\n()\n",
    )
    .expect("write script");
    std::fs::write(
        scripts.join("runaway-priority.rhai"),
        "let s = \"x\";\nif ticket.subject == \"greedy\" {\n    while true { s += s; }\n}\n()\n",
    )
    .expect("write script");
    let admin = app.admin();
    expect_status(admin.post("/v1/workflows/reload", json!({})).await, StatusCode::OK).await;
    let body =
        |subject: &str| json!({"workflow": "runaway", "subject": subject, "customer": {"email": "r@example.com"}});

    let problem =
        expect_problem(admin.post("/v1/tickets", body("loop")).await, StatusCode::UNPROCESSABLE_ENTITY, "rule-failed")
            .await;
    let text = detail(&problem);
    // Stopped by its operation bound, or, on a loaded machine, by its time bound first.
    let bounded = text.contains("operations") || text.contains("limited in time");
    assert!(text.contains("runaway-route.rhai") && text.contains("line 4") && bounded, "{problem}");
    let problem = expect_problem(
        admin.post("/v1/tickets", body("greedy")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "rule-failed",
    )
    .await;
    let text = detail(&problem);
    assert!(text.contains("runaway-priority.rhai") && text.contains("too large"), "{problem}");

    // The writer is fine: the next requests are served.
    let ticket = admin.open(body("calm")).await;
    assert_eq!(ticket["assignee"], "ali@example.com");
    expect_status(admin.get("/healthz").await, StatusCode::OK).await;
    app.stop().await;
}
