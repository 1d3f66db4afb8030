//! Mail through a real SMTP server (aiosmtpd on 127.0.0.1): escalations that arrive with the
//! right people, subject and lateness; mail that waits while the server is down and then
//! arrives exactly once; dead letters listed and sent again; Persian text intact.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_status, new_ticket, spawn_app_with};
use crate::smtp::SmtpSink;

/// A hotline on the 24x7 calendar: 30 minutes to take a call, then escalation to the manager.
pub const HOTLINE: &str = r#"
id = "hotline"
name = "Hotline"
ticket_prefix = "HL"
calendar = "24x7"

[roles]
agent = ["agent@example.com"]
manager = ["manager@example.com"]

[stages.intake]
name = "Intake"
raci = { responsible = "agent", accountable = "manager" }
transitions = [{ name = "close", to = "closed" }]

[stages.intake.sla]
within = "30m"
escalate = [
  { after = "0m", notify = ["manager", "responsible"] },
  { after = "1h", notify = ["manager"] },
]

[stages.closed]
terminal = true
"#;

/// Starts the server with mail going to `sink`, retries after `retry_ms`, and `workflow` added.
pub async fn app_with_mail(sink: &SmtpSink, workflow: Option<&str>, max_attempts: u32) -> TestApp {
    app_with_mail_sending(sink, workflow, max_attempts, 8).await
}

/// The same, sending `concurrency` messages at a time.
pub async fn app_with_mail_sending(
    sink: &SmtpSink,
    workflow: Option<&str>,
    max_attempts: u32,
    concurrency: usize,
) -> TestApp {
    let port = sink.port();
    let workflow = workflow.map(str::to_string);
    spawn_app_with(move |config| {
        config.mail.disabled = false;
        config.mail.port = port;
        config.mail.from = "Afterdesk <desk@afterdesk.test>".into();
        config.delivery.first_retry_ms = 100;
        config.delivery.max_retry_ms = 200;
        config.delivery.max_attempts = max_attempts;
        config.delivery.concurrency = concurrency;
        if let Some(text) = workflow {
            std::fs::write(config.workflows.join("extra.toml"), text).expect("write the workflow");
        }
    })
    .await
}

/// Outbox messages in `state`, as the API lists them.
pub async fn outbox(app: &TestApp, state: &str) -> Vec<Value> {
    let body = expect_status(app.admin().get(&format!("/v1/outbox?state={state}")).await, StatusCode::OK).await;
    body["messages"].as_array().cloned().unwrap_or_default()
}

/// Waits until `check` holds of the outbox messages in `state` (the worker runs on its own).
pub async fn wait_outbox(app: &TestApp, state: &str, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..200 {
        let messages = outbox(app, state).await;
        if check(&messages) {
            return messages;
        }
        // Retries come due on the server's (manual) clock.
        app.advance(chrono::Duration::milliseconds(250));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}; {state}: {:#?}", outbox(app, state).await);
}

#[tokio::test]
async fn an_sla_breach_escalates_by_mail_to_the_right_people() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, Some(HOTLINE), 5).await;
    let ticket = app
        .admin()
        .open(
            json!({ "workflow": "hotline", "subject": "Line 3 is down", "customer": { "email": "plant@example.org" } }),
        )
        .await;
    let number = ticket["number"].as_str().expect("number").to_string();

    // 40 minutes later the 30-minute clock is 10 minutes late: breach and level 1.
    app.advance(chrono::Duration::minutes(40));
    app.fire_timers().await;
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1, "one mail for level 1 (the breach is part of it)");
    let level_one = &mails[0];
    let mut to = level_one.envelope_to.clone();
    to.sort();
    assert_eq!(to, ["agent@example.com", "manager@example.com"], "the roles the workflow names");
    assert!(level_one.subject.contains(&number), "{}", level_one.subject);
    assert!(level_one.subject.contains("Escalation level 1"), "{}", level_one.subject);
    let text = level_one.text.as_deref().expect("a text part");
    assert!(text.contains("Late by:     10m (business time)"), "{text}");
    assert!(text.contains("Stage:       Intake"), "{text}");
    assert!(text.contains("Responsible: agent@example.com"), "{text}");
    assert!(text.contains(&format!("{}/v1/tickets/{number}", app.address)), "a link to the ticket: {text}");
    assert!(level_one.html.as_deref().is_some_and(|h| h.contains("10m")), "an HTML part too");

    // An hour after the breach: level 2, to the manager only, in the same thread.
    app.advance(chrono::Duration::minutes(60));
    app.fire_timers().await;
    let mails = sink.wait_for(2, Duration::from_secs(10)).await;
    let level_two = &mails[1];
    assert_eq!(level_two.envelope_to, ["manager@example.com"]);
    assert!(level_two.subject.contains("Escalation level 2") && level_two.subject.contains(&number));
    assert!(level_two.text.as_deref().is_some_and(|t| t.contains("Late by:     1h 10m")), "{:?}", level_two.text);

    // Stable ids and threading: the Message-ID is the outbox id; both point at the ticket's thread.
    let sent = wait_outbox(&app, "sent", "two sent", |m| m.len() == 2).await;
    let ids: Vec<String> =
        sent.iter().map(|m| format!("{}@afterdesk.test", m["id"].as_str().unwrap_or_default())).collect();
    for mail in &mails {
        let id = mail.message_id.clone().expect("a Message-ID");
        assert!(ids.contains(&id), "{id} is an outbox id");
        let thread = format!("ticket-{}@afterdesk.test", ticket["id"].as_str().expect("id"));
        assert_eq!(mail.in_reply_to.as_deref(), Some(thread.as_str()));
        assert_eq!(mail.references, [thread]);
        assert_eq!(mail.header("Auto-Submitted"), Some("auto-generated"));
    }
    app.stop().await;
}

#[tokio::test]
async fn mail_waits_while_the_smtp_server_is_down_then_arrives_once() {
    let mut sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 50).await;
    sink.stop();
    let mut numbers = Vec::new();
    for i in 0..5 {
        let ticket = app.admin().open(new_ticket(&format!("Broken dryer {i}"), &format!("c{i}@example.com"))).await;
        numbers.push(ticket["number"].as_str().expect("number").to_string());
    }
    // Each receipt was tried, failed and waits for its next try; none is lost or given up.
    let pending = wait_outbox(&app, "pending", "five failed tries", |m| {
        m.len() == 5 && m.iter().all(|m| m["attempts"].as_u64() >= Some(1) && m["last_error"].is_string())
    })
    .await;
    assert!(pending.iter().all(|m| m["state"] == "pending"));
    assert!(sink.messages().is_empty());

    sink.restart();
    wait_outbox(&app, "sent", "five sent", |m| m.len() == 5).await;
    let mails = sink.wait_for(5, Duration::from_secs(10)).await;
    // Let the worker run a while longer: nothing is sent twice.
    for _ in 0..10 {
        app.advance(chrono::Duration::seconds(1));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails_after = sink.messages();
    assert_eq!(
        mails_after.len(),
        5,
        "every message once: {:#?}",
        mails_after.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    let mut ids: Vec<_> = mails.iter().filter_map(|m| m.message_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    for number in &numbers {
        assert!(mails.iter().any(|m| m.subject.contains(number.as_str())), "the receipt of {number} arrived");
    }
    assert!(outbox(&app, "pending").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_dead_letter_is_listed_and_sent_again_on_request() {
    let mut sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 2).await;
    sink.stop();
    app.admin().open(new_ticket("Oven", "oven@example.com")).await;
    let dead = wait_outbox(&app, "dead", "a dead letter", |m| m.len() == 1).await;
    let message = &dead[0];
    assert_eq!(message["attempts"], 2, "{message:#}");
    assert!(message["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{message:#}");
    assert_eq!(message["payload"]["template"], "ticket_received");
    let id = message["id"].as_str().expect("id").to_string();

    // Only administrators see the outbox.
    let agent = app.agent("maryam@example.com").await;
    expect_status(agent.get("/v1/outbox?state=dead").await, StatusCode::FORBIDDEN).await;

    sink.restart();
    let again =
        expect_status(app.admin().post(&format!("/v1/outbox/{id}/retry"), json!({})).await, StatusCode::OK).await;
    assert_eq!(again["state"], "pending");
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails[0].envelope_to, ["oven@example.com"]);
    assert_eq!(mails[0].message_id.as_deref(), Some(format!("{id}@afterdesk.test").as_str()), "the same Message-ID");
    wait_outbox(&app, "sent", "the retried message sent", |m| m.len() == 1).await;
    let twice = app.admin().post(&format!("/v1/outbox/{id}/retry"), json!({})).await;
    assert_eq!(twice.status(), StatusCode::CONFLICT, "a sent message is not sent twice");
    let unknown = app.admin().post("/v1/outbox/nope/retry", json!({})).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn persian_text_survives_in_subject_and_body() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let body = json!({
        "workflow": "after-sales",
        "subject": "یخچال خنک نمی‌کند",
        "customer": { "name": "مریم احمدی", "email": "maryam.ahmadi@example.ir" },
    });
    let ticket = app.admin().open(body).await;
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    let mail = &mails[0];
    assert!(mail.subject.contains("یخچال خنک نمی‌کند"), "{}", mail.subject);
    assert!(mail.subject.contains(ticket["number"].as_str().expect("number")));
    let text = mail.text.as_deref().expect("text");
    assert!(text.contains("Hello مریم احمدی"), "{text}");
    assert!(mail.html.as_deref().is_some_and(|h| h.contains("یخچال خنک نمی‌کند")));
    app.stop().await;
}

#[tokio::test]
async fn while_the_mail_server_is_down_one_try_holds_the_rest_of_the_queue() {
    let mut sink = SmtpSink::start();
    let app = app_with_mail_sending(&sink, None, 50, 1).await;
    sink.stop();
    for i in 0..3 {
        app.admin().open(new_ticket(&format!("Heater {i}"), &format!("h{i}@example.com"))).await;
    }
    // Each was tried once as it came.
    let tried = |m: &Value| m["attempts"].as_u64() >= Some(1);
    wait_outbox(&app, "pending", "three failed tries", |m| m.len() == 3 && m.iter().all(tried)).await;
    // Later all three are due together, sent one at a time: the first fails again, and the two
    // behind it wait untried (no attempt used up) instead of each waiting for the dead server.
    wait_outbox(&app, "pending", "two held", |m| {
        m.iter().filter(|m| m["last_error"].as_str().is_some_and(|e| e.starts_with("not tried"))).count() == 2
    })
    .await;

    sink.restart();
    wait_outbox(&app, "sent", "all three sent", |m| m.len() == 3).await;
    assert_eq!(sink.wait_for(3, Duration::from_secs(10)).await.len(), 3);
    app.stop().await;
}

/// A round-the-clock SLA whose escalation mail waits for office hours.
const NIGHT_LINE: &str = r#"
id = "night"
name = "Night line"
ticket_prefix = "NL"
calendar = "office"

[calendars.office]
timezone = "UTC"
hours = { mon-fri = "08:00-17:00" }

[roles]
agent = ["agent@example.com"]
manager = ["manager@example.com"]

[stages.intake]
raci = { responsible = "agent", accountable = "manager" }
transitions = [{ name = "close", to = "closed" }]

[stages.intake.sla]
within = "30m"
calendar = "24x7"
business_hours_mail = true
escalate = [{ after = "0m", notify = ["manager"] }]

[stages.closed]
terminal = true
"#;

#[tokio::test]
async fn escalation_mail_waits_for_business_hours_then_goes_out() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, Some(NIGHT_LINE), 5).await;
    // Monday 05:30 UTC: the office opens at 08:00.
    let customer = json!({ "email": "night@example.org" });
    app.admin().open(json!({ "workflow": "night", "subject": "Alarm", "customer": customer })).await;
    app.advance(chrono::Duration::minutes(40));
    app.fire_timers().await;
    let pending = outbox(&app, "pending").await;
    assert_eq!(pending.len(), 1, "{pending:#?}");
    assert_eq!(pending[0]["not_before"], "2026-11-23T08:00:00Z", "held until the office opens");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(sink.messages().is_empty(), "nothing at night");

    app.advance(chrono::Duration::hours(2));
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails[0].envelope_to, ["manager@example.com"]);
    assert!(mails[0].subject.contains("Escalation level 1"), "{}", mails[0].subject);
    app.stop().await;
}

/// A workflow whose welcome mail loops over the subject three deep: fine for a short subject
/// (and for the sample values `validate` renders it with), runaway for a long one.
const RUNAWAY: &str = r#"
id = "runaway"
name = "Runaway"
ticket_prefix = "RW"

[roles]
agent = ["agent@example.com"]

[stages.intake]
raci = { responsible = "agent" }
transitions = [{ name = "close", to = "closed" }]

[stages.closed]
terminal = true

[[notifications]]
on = "ticket_opened"
notify = ["customer"]
template = "greeting"

[templates.greeting]
text = '''We got "{{ subject }}".
{% for a in subject %}{% for b in subject %}{% for c in subject %}.{% endfor %}{% endfor %}{% endfor %}
'''
"#;

#[tokio::test]
async fn a_template_that_runs_away_fails_its_own_message_and_the_next_one_goes_out() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, Some(RUNAWAY), 3).await;
    let ticket = |subject: &str, email: &str| json!({ "workflow": "runaway", "subject": subject, "customer": { "name": "C", "email": email } });
    // 70 characters: 343,000 turns of the innermost loop, far past the template's fuel.
    let long = "The washer stops in the middle of every cycle and shows error E21 twice";
    app.admin().open(ticket(long, "long@example.com")).await;
    app.admin().open(ticket("Oven", "oven@example.com")).await;

    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails[0].envelope_to, ["oven@example.com"], "the other message goes out");
    let dead = wait_outbox(&app, "dead", "the runaway message dead", |m| m.len() == 1).await;
    let error = dead[0]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("greeting.txt") && error.contains("stopped after 100,000 steps"), "{:#}", dead[0]);
    assert_eq!(dead[0]["attempts"], 1, "not retried: the same values fail the same way");
    app.stop().await;
}
