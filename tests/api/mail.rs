//! Mail through a real SMTP server (aiosmtpd on 127.0.0.1): escalations that arrive with the
//! right people, subject and lateness; mail that waits while the server is down and then
//! arrives exactly once; retries for days by default; dead letters listed and sent again, one
//! or in bulk; Persian text intact.
//!
//! Every wait polls for its condition up to [`WAIT`], so a loaded machine is slower, not failing.

use std::time::{Duration, Instant};

use afterdesk::clock::Clock as _;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, expect_problem, expect_status, new_ticket, spawn_app_with};
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

/// Longest any wait for mail or an outbox state lasts: generous for a loaded machine; a passing
/// test returns as soon as its condition holds.
pub const WAIT: Duration = Duration::from_secs(60);

/// Starts the server with mail going to `sink`, retries after 100-200 ms, at most
/// `max_attempts` tries, and `workflow` added.
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
        config.delivery.max_attempts = Some(max_attempts);
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

/// Waits until `check` holds of the outbox messages in `state` (the worker runs on its own),
/// moving the server's clock on 250 ms a look so that retries come due; panics after [`WAIT`].
pub async fn wait_outbox(app: &TestApp, state: &str, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    wait_outbox_stepping(app, state, what, chrono::Duration::milliseconds(250), check).await
}

/// [`wait_outbox`], moving the clock on by `step` a look.
async fn wait_outbox_stepping(
    app: &TestApp,
    state: &str,
    what: &str,
    step: chrono::Duration,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let messages = outbox(app, state).await;
        if check(&messages) {
            return messages;
        }
        app.advance(step);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {what} within {WAIT:?}; {state}: {:#?}", outbox(app, state).await);
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
    let mails = sink.wait_for(1, WAIT).await;
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
    assert!(text.contains(&format!("{}/t/{number}", app.address)), "a link to the ticket page: {text}");
    assert!(level_one.html.as_deref().is_some_and(|h| h.contains("10m")), "an HTML part too");

    // An hour after the breach: level 2, to the manager only, in the same thread.
    app.advance(chrono::Duration::minutes(60));
    app.fire_timers().await;
    let mails = sink.wait_for(2, WAIT).await;
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
    let mails = sink.wait_for(5, WAIT).await;
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
    let mails = sink.wait_for(1, WAIT).await;
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
    let mails = sink.wait_for(1, WAIT).await;
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
    assert_eq!(sink.wait_for(3, WAIT).await.len(), 3);
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
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails[0].envelope_to, ["manager@example.com"]);
    assert!(mails[0].subject.contains("Escalation level 1"), "{}", mails[0].subject);
    app.stop().await;
}

#[tokio::test]
async fn by_default_mail_is_retried_for_days_before_it_is_given_up() {
    let mut sink = SmtpSink::start();
    let port = sink.port();
    // The default retry settings: only the mail server is the test's.
    let app = spawn_app_with(move |config| {
        config.mail.disabled = false;
        config.mail.port = port;
        config.mail.from = "Afterdesk <desk@afterdesk.test>".into();
    })
    .await;
    sink.stop();
    app.admin().open(new_ticket("Dishwasher", "dish@example.com")).await;
    let failed = |m: &[Value], tries: u64| m.len() == 1 && m[0]["attempts"].as_u64() >= Some(tries);
    let pending = wait_outbox(&app, "pending", "a failed try", |m| failed(m, 1)).await;
    let failing_since = pending[0]["failing_since"].as_str().expect("failing since the first try").to_string();

    // Four days into the outage (well past the old six hours) it is still being tried.
    app.advance(chrono::Duration::days(4));
    let pending = wait_outbox_stepping(&app, "pending", "a try on day 4", chrono::Duration::zero(), |m| {
        m.len() == 1 && m[0]["attempts"].as_u64() >= Some(2)
    })
    .await;
    assert_eq!(pending[0]["failing_since"], failing_since.as_str(), "counted from the first failure");
    let next: chrono::DateTime<chrono::Utc> =
        pending[0]["next_attempt"].as_str().expect("next try").parse().expect("time");
    assert!(next - app.clock.now() <= chrono::Duration::minutes(72), "at most about an hour apart: {next}");

    // Past five days of failing it is given up: a dead letter, listed for someone to look at.
    app.advance(chrono::Duration::days(1) + chrono::Duration::hours(2));
    let dead = wait_outbox_stepping(&app, "dead", "a dead letter", chrono::Duration::zero(), |m| m.len() == 1).await;
    assert!(dead[0]["last_error"].is_string(), "{:#}", dead[0]);
    assert!(outbox(&app, "pending").await.is_empty());
    app.stop().await;
}

/// `POST /v1/outbox/retry` with `body`, expecting `status`.
async fn retry_in_bulk(app: &TestApp, body: Value, status: StatusCode) -> Value {
    expect_status(app.admin().post("/v1/outbox/retry", body).await, status).await
}

#[tokio::test]
async fn dead_letters_are_sent_again_in_bulk_by_ticket_time_or_all() {
    let mut sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 1).await;
    sink.stop();
    let number = |ticket: Value| ticket["number"].as_str().expect("number").to_string();
    let first = number(app.admin().open(new_ticket("Kettle", "first@example.com")).await);
    wait_outbox(&app, "dead", "the first dead letter", |m| m.len() == 1).await;
    app.advance(chrono::Duration::hours(1));
    let after_first = app.clock.now();
    let second = number(app.admin().open(new_ticket("Toaster", "second@example.com")).await);
    app.admin().open(new_ticket("Blender", "third@example.com")).await;
    wait_outbox(&app, "dead", "three dead letters", |m| m.len() == 3).await;

    // Bad filters are refused, naming the field; only administrators may retry.
    for (body, field) in [
        (json!({ "state": "sent" }), "state"),
        (json!({ "since": "yesterday" }), "since"),
        (json!({ "ticket": "AS-404" }), "ticket"),
        (json!({ "tciket": first }), "tciket"),
    ] {
        let response = app.admin().post("/v1/outbox/retry", body).await;
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
        assert_eq!(error_fields(&problem), [field], "{problem}");
    }
    let agent = app.agent("maryam@example.com").await;
    expect_status(agent.post("/v1/outbox/retry", json!({})).await, StatusCode::FORBIDDEN).await;
    assert_eq!(outbox(&app, "dead").await.len(), 3, "nothing was queued by a refused call");

    sink.restart();
    // One ticket's, then those queued since a time, then all the rest.
    assert_eq!(retry_in_bulk(&app, json!({ "ticket": second }), StatusCode::OK).await, json!({ "requeued": 1 }));
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails[0].envelope_to, ["second@example.com"]);
    let since = json!({ "state": "dead", "since": after_first.to_rfc3339() });
    assert_eq!(retry_in_bulk(&app, since, StatusCode::OK).await["requeued"], 1, "the third; the second is not dead");
    assert_eq!(retry_in_bulk(&app, json!({}), StatusCode::OK).await["requeued"], 1, "the first");
    let sent = wait_outbox(&app, "sent", "all three sent", |m| m.len() == 3).await;
    assert_eq!(retry_in_bulk(&app, json!({}), StatusCode::OK).await["requeued"], 0, "no dead letter is left");

    // Each arrived once, with its own Message-ID: its outbox id, as on the first try.
    let mails = sink.wait_for(3, WAIT).await;
    let mut to: Vec<&str> = mails.iter().map(|m| m.envelope_to[0].as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, ["first@example.com", "second@example.com", "third@example.com"]);
    let mut ids: Vec<String> = mails.iter().filter_map(|m| m.message_id.clone()).collect();
    let mut expected: Vec<String> =
        sent.iter().map(|m| format!("{}@afterdesk.test", m["id"].as_str().unwrap_or_default())).collect();
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);
    app.stop().await;
}

#[tokio::test]
async fn the_cli_queues_dead_letters_again_while_the_server_is_stopped() {
    let mut sink = SmtpSink::start();
    let mut app = app_with_mail(&sink, None, 1).await;
    sink.stop();
    app.admin().open(new_ticket("Iron", "iron@example.com")).await;
    let dead = wait_outbox(&app, "dead", "a dead letter", |m| m.len() == 1).await;
    let root = std::mem::replace(&mut app.root, tempfile::tempdir().expect("temporary folder"));
    app.stop().await;
    let data = root.path().join("data");

    // sled may hold its lock a moment after the server stopped.
    let deadline = Instant::now() + WAIT;
    let output = loop {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_afterdesk"))
            .args(["outbox", "retry", "--data"])
            .arg(&data)
            .output()
            .expect("run afterdesk");
        if output.status.success() || Instant::now() > deadline {
            break output;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("1 dead letter(s) queued again"), "{stdout}");
    let store = afterdesk::store::Store::open(&afterdesk::store::StoreConfig::new(&data)).expect("open the store");
    let id = dead[0]["id"].as_str().expect("id").parse().expect("a ULID");
    let message = store.outbox_message(id).expect("read").expect("the message");
    assert_eq!(message.state, afterdesk::store::outbox::DeliveryState::Pending);
    assert_eq!(message.attempts, 0, "a fresh set of tries");
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
customer_template = "greeting"

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
