//! The monthly KPI mail and the report gauges, through the real server: a November of tickets
//! on a manual clock (replied, late, closed, reopened, surveyed, repeated), then on 1 December
//! the `kpi_report` job mails the managers November's figures at the real SMTP server with the
//! CSV attached; `/metrics` shows the backlog by stage and the breaches of the last 30 days.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use mail_parser::MimeHeaders as _;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with};
use crate::mail::{WAIT, app_with_mail};
use crate::smtp::{Mail, SmtpSink};

/// A desk on the 24x7 calendar: a 1 h first-response and a 1 d resolution clock, managers as
/// the accountable role, a survey at closing, and a monthly KPI report.
const KPI_DESK: &str = r#"
id = "kpidesk"
name = "KPI desk"
ticket_prefix = "KP"
calendar = "24x7"
categories = ["warranty", "billing"]
repeat_window = "30d"

[roles]
agent = ["agent@example.com"]
manager = ["Manager@example.com", "boss@example.com"]

[stages.work]
raci = { responsible = "agent", accountable = "manager" }
transitions = [{ name = "close", to = "closed" }]

[stages.closed]
terminal = true
resolved = true

[sla.first_response]
within = "1h"

[sla.resolution]
within = "1d"

[survey]
questions = ["csat", "nps"]
expires_after = "14d"

[jobs.monthly_kpis]
schedule = "0 8 1 * *"
action = "kpi_report"
"#;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid time").to_utc()
}

fn set(app: &TestApp, to: &str) {
    let now = afterdesk::clock::Clock::now(&app.clock);
    app.advance(at(to) - now);
}

async fn open(app: &TestApp, email: &str, category: &str) -> String {
    let body = json!({
        "workflow": "kpidesk", "subject": format!("About {category}"), "category": category,
        "customer": { "email": email },
    });
    app.admin().open(body).await["number"].as_str().expect("number").to_string()
}

async fn reply(app: &TestApp, ticket: &str) {
    app.admin().command(ticket, "comments", json!({ "body": "We are on it.", "public": true })).await;
}

async fn answer(app: &TestApp, ticket: &str, csat: u8, nps: u8) {
    app.admin()
        .command(ticket, "survey", json!({ "survey": format!("phone-{ticket}"), "csat": csat, "nps": nps }))
        .await;
}

/// November 23rd (a Monday, from 05:30 UTC), four tickets:
/// - KP-1 (ana, warranty): replied after 20 min, closed after 2 h; CSAT 5, NPS 10;
/// - KP-2 (bo, billing): first replied after 1 h 10 min (the 1 h clock breached), replied
///   again, closed after 3 h; CSAT 2, NPS 3;
/// - KP-3 (ana, warranty again: a repeat request): replied after 15 min and closed, reopened,
///   closed again after 1 h; CSAT 4, NPS 9;
/// - KP-4 (cy, billing): open, unanswered.
async fn november(app: &TestApp) -> [String; 4] {
    set(app, "2026-11-23T05:30:00Z");
    let one = open(app, "ana@example.org", "warranty").await;
    let two = open(app, "bo@example.org", "billing").await;
    set(app, "2026-11-23T05:50:00Z");
    reply(app, &one).await;
    set(app, "2026-11-23T06:40:00Z");
    app.fire_timers().await;
    reply(app, &two).await;
    reply(app, &two).await;
    set(app, "2026-11-23T07:30:00Z");
    app.admin().command(&one, "close", json!({})).await;
    let three = open(app, "ana@example.org", "warranty").await;
    set(app, "2026-11-23T07:45:00Z");
    reply(app, &three).await;
    app.admin().command(&three, "close", json!({})).await;
    set(app, "2026-11-23T08:00:00Z");
    app.admin().command(&three, "reopen", json!({ "reason": "Still broken" })).await;
    set(app, "2026-11-23T08:30:00Z");
    app.admin().command(&three, "close", json!({})).await;
    app.admin().command(&two, "close", json!({})).await;
    let four = open(app, "cy@example.org", "billing").await;
    answer(app, &one, 5, 10).await;
    answer(app, &two, 2, 3).await;
    answer(app, &three, 4, 9).await;
    [one, two, three, four]
}

/// Waits for a mail whose subject contains `part` (survey and reply mail arrive too).
async fn mail_with_subject(sink: &SmtpSink, part: &str) -> Mail {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some(mail) = sink.messages().into_iter().find(|m| m.subject.contains(part)) {
            return mail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no mail with {part:?} in its subject within {WAIT:?}");
}

/// `metric,value` rows of the CSV, after checking its header row and line ends.
fn csv_rows(text: &str) -> BTreeMap<String, String> {
    let mut lines = text.split("\r\n");
    assert_eq!(lines.next(), Some("metric,value"), "{text}");
    assert!(text.ends_with("\r\n"), "RFC 4180 line ends");
    lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line.split_once(',').unwrap_or_else(|| panic!("two fields in {line:?}"));
            (name.to_string(), value.to_string())
        })
        .collect()
}

#[tokio::test]
async fn the_monthly_kpi_mail_brings_last_months_figures_to_the_managers_with_the_csv() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, Some(KPI_DESK), 5).await;
    app.run_jobs().await;
    november(&app).await;

    // 1 December, 08:00 UTC: the monthly job runs once and mails November.
    set(&app, "2026-11-30T23:00:00Z");
    assert!(!app.run_jobs().await.ran.contains(&"kpidesk/monthly_kpis".to_string()), "not yet");
    set(&app, "2026-12-01T08:00:30Z");
    let runs = app.run_jobs().await;
    assert!(runs.ran.contains(&"kpidesk/monthly_kpis".to_string()), "{runs:?}");
    assert!(!app.run_jobs().await.ran.contains(&"kpidesk/monthly_kpis".to_string()), "once");

    let mail = mail_with_subject(&sink, "KPIs").await;
    assert_eq!(mail.subject, "[KPI desk] KPIs 2026-11-01 to 2026-11-30");
    let mut to = mail.envelope_to.clone();
    to.sort();
    assert_eq!(to, ["boss@example.com", "manager@example.com"], "the accountable role's members");
    let text = mail.text.clone().expect("a text part");
    for line in [
        "KPI desk: KPIs from 2026-11-01 to 2026-11-30",
        "Tickets opened:             4",
        "Tickets resolved:           3",
        // 15 min, 20 min, 1 h 10 min.
        "Median first response:      20m",
        // 1 h, 2 h, 3 h.
        "Median resolution:          2h",
        // KP-1 only: KP-2 had two replies, KP-3 was reopened.
        "First-contact resolution:   33.3%",
        // 5, 2, 4.
        "Satisfied customers (CSAT): 66.7% of 3 answers",
        // 10, 3, 9: two promoters, one detractor.
        "Net promoter score (NPS):   +33 (3 answers)",
        // First response: met 2, breached 1; resolution: met 3.
        "SLA breaches:               1 (breach rate 16.7%)",
        "Reopened:                   33.3%",
        "Repeat requests:            25%",
        "  warranty: 1",
        "Open now: 1",
        "  work: 1",
        "Every figure is in the attached kpi-kpidesk-2026-11-01-2026-11-30.csv.",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    let html = mail.html.clone().expect("an HTML part");
    assert!(html.contains("<td>33.3%</td>") && html.contains("<td>+33 (3 answers)</td>"), "{html}");

    let parsed = mail_parser::MessageParser::default().parse(&mail.raw).expect("a MIME message");
    let file = parsed.attachment(0).expect("the CSV is attached");
    assert_eq!(file.attachment_name(), Some("kpi-kpidesk-2026-11-01-2026-11-30.csv"));
    let csv = std::str::from_utf8(file.contents()).expect("UTF-8");
    let rows = csv_rows(csv);
    let expected = [
        ("workflow", "kpidesk"),
        ("from", "2026-11-01"),
        ("to", "2026-11-30"),
        ("tickets_opened", "4"),
        ("tickets_resolved", "3"),
        ("first_response.count", "3"),
        ("first_response.median_secs", "1200"),
        ("first_response.p90_secs", "4200"),
        ("first_response.met_rate", &(2.0_f64 / 3.0).to_string()),
        ("resolution.median_secs", "7200"),
        ("resolution.mean_secs", "7200"),
        ("resolution.met_rate", "1"),
        ("first_contact_resolutions", "1"),
        ("csat.responses", "3"),
        ("csat.satisfied_rate", &(2.0_f64 / 3.0).to_string()),
        ("nps.score", &((1.0_f64 / 3.0) * 100.0).to_string()),
        ("sla_breaches", "1"),
        ("sla.first_response.met", "2"),
        ("sla.first_response.breached", "1"),
        ("sla.resolution.met", "3"),
        ("sla.resolution.breached", "0"),
        ("reopened", "1"),
        ("repeats", "1"),
        ("repeat_rate", "0.25"),
        ("repeats.category.warranty", "1"),
        ("backlog.open", "1"),
        ("backlog.stage.work", "1"),
        ("backlog.age.7-30d", "1"),
        ("ces.mean", ""),
    ];
    for (name, value) in expected {
        assert_eq!(rows.get(name).map(String::as_str), Some(value), "{name} in:\n{csv}");
    }

    // The outbox names the stored file, so a retry sends the same one.
    // (The sink may have the mail a moment before the worker records it as sent.)
    let is_report = |m: &serde_json::Value| m["payload"]["template"] == "kpi_report";
    let sent = crate::mail::wait_outbox(&app, "sent", "the report sent", |all| all.iter().any(is_report)).await;
    let report = sent.iter().find(|m| is_report(m)).expect("the report in the outbox");
    assert_eq!(report["payload"]["attachments"][0]["content_type"], "text/csv; charset=utf-8");
    app.stop().await;
}

/// The value of the sample `line` names (`name{labels}`), if it is there.
fn sample(metrics: &str, series: &str) -> Option<String> {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ').map(str::to_string))
}

async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.expect("GET /metrics");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("body")
}

#[tokio::test]
async fn metrics_show_the_backlog_by_stage_and_the_breaches_of_the_last_30_days() {
    let app = spawn_app_with(|config| {
        std::fs::write(config.workflows.join("kpi.toml"), KPI_DESK).expect("write the workflow");
    })
    .await;
    let before = scrape(&app).await;
    assert_eq!(sample(&before, r#"afterdesk_backlog{workflow="kpidesk",stage="work"}"#).as_deref(), Some("0"));
    assert_eq!(
        sample(&before, r#"afterdesk_sla_breaches{workflow="kpidesk",clock="first_response"}"#).as_deref(),
        Some("0")
    );
    assert!(before.contains("# TYPE afterdesk_backlog gauge"), "{before}");
    assert!(
        sample(&before, r#"afterdesk_backlog{workflow="kpidesk",stage="closed"}"#).is_none(),
        "terminal stages hold no backlog"
    );

    let [one, two, ..] = november(&app).await;
    let mid = scrape(&app).await;
    assert_eq!(sample(&mid, r#"afterdesk_backlog{workflow="kpidesk",stage="work"}"#).as_deref(), Some("1"), "{mid}");
    assert_eq!(
        sample(&mid, r#"afterdesk_sla_breaches{workflow="kpidesk",clock="first_response"}"#).as_deref(),
        Some("1")
    );
    assert_eq!(sample(&mid, r#"afterdesk_sla_breaches{workflow="kpidesk",clock="resolution"}"#).as_deref(), Some("0"));

    // Reopened tickets are open again; 30 days after the breach it no longer counts.
    app.admin().command(&one, "reopen", json!({})).await;
    app.admin().command(&two, "reopen", json!({})).await;
    let reopened = scrape(&app).await;
    assert_eq!(sample(&reopened, r#"afterdesk_backlog{workflow="kpidesk",stage="work"}"#).as_deref(), Some("3"));
    app.advance(Duration::days(29));
    let later = scrape(&app).await;
    assert_eq!(
        sample(&later, r#"afterdesk_sla_breaches{workflow="kpidesk",clock="first_response"}"#).as_deref(),
        Some("1"),
        "day 30 counts"
    );
    app.advance(Duration::days(1));
    let gone = scrape(&app).await;
    assert_eq!(
        sample(&gone, r#"afterdesk_sla_breaches{workflow="kpidesk",clock="first_response"}"#).as_deref(),
        Some("0")
    );
    app.stop().await;
}
