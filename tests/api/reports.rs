//! Reports (issue 14 §3): a hand-built history on a manual clock — opened in different
//! categories, priorities and channels, answered, resolved, reopened and resolved again,
//! surveyed, breached, repeated — gives exactly the expected figure for every KPI, per agent,
//! per category, per channel and per period, as JSON and as CSV; and each caller reads what
//! they may.
//!
//! The workflow is a small fixture (wall-clock SLAs, no calendar) so that every second can be
//! counted by hand.

use std::collections::BTreeMap;

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, User, error_fields, expect_problem, expect_status, spawn_app_with};

/// Two agents, a lead accountable for both stages; first response within 1 h, resolution
/// within 3 days, wall clock.
const DESK: &str = r#"
id = "desk"
name = "Help desk (reports fixture)"
ticket_prefix = "HD"
priorities = ["normal", "high"]
categories = ["repair", "billing"]
channels = ["phone", "email"]
repeat_window = "30d"

[roles]
agent = ["maryam@example.com", "omid@example.com"]
lead = ["leila@example.com"]

[stages.work]
raci = { responsible = "agent", accountable = "lead" }
transitions = [{ name = "resolve", to = "survey" }]

[stages.survey]
resolved = true
raci = { responsible = "agent", accountable = "lead" }
transitions = [{ name = "close", to = "closed" }, { name = "reopen_work", to = "work" }]

[stages.closed]
terminal = true
resolved = true

[sla.first_response]
within = "1h"
met_by = "first_public_reply"

[sla.resolution]
within = "3d"
met_by = "resolved"

[[routing]]
queue = "desk"
role = "agent"

[survey]
on_stage = "survey"
questions = ["csat", "nps", "ces"]
"#;

const MARYAM: &str = "maryam@example.com";
const OMID: &str = "omid@example.com";
const RANGE: &str = "workflow=desk&from=2026-11-23&to=2026-11-24";

struct History {
    app: TestApp,
    maryam: User,
    omid: User,
}

async fn open(app: &TestApp, email: &str, category: &str, priority: &str, channel: &str) -> String {
    let body = json!({
        "workflow": "desk", "subject": format!("{category} for {email}"),
        "customer": { "name": "Customer", "email": email },
        "category": category, "priority": priority, "channel": channel,
    });
    app.admin().open(body).await["number"].as_str().expect("number").to_string()
}

async fn reply(user: &User, ticket: &str) {
    user.command(ticket, "comments", json!({ "body": "We are on it.", "public": true })).await;
}

/// The history, starting Monday 23 November 2026 05:30 UTC (T0):
///
/// | ticket | customer | category | priority | channel | agent  | what happens |
/// |--------|----------|----------|----------|---------|--------|--------------|
/// | HD-1   | alice    | repair   | high     | phone   | maryam | reply +10m, resolved +30m, survey 5/10/6 |
/// | HD-2   | bob      | billing  | normal   | email   | omid   | replies +20m, +40m, resolved +60m, survey 2/6/3, reopened +90m, resolved +100m |
/// | HD-3   | carol    | repair   | normal   | email   | maryam | first response breached at +60m, reply +70m; open |
/// | HD-4   | alice    | repair   | normal   | email   | —      | opened +110m, a repeat of HD-1; first response breached at +170m; open |
/// | HD-5   | bob      | billing  | normal   | phone   | omid   | opened T0+24h (Tuesday), a repeat of HD-2; reply +5m, resolved +15m |
///
/// Now is T0 + 24h 20m.
async fn history() -> History {
    let app = spawn_app_with(|config| {
        std::fs::write(config.workflows.join("desk.toml"), DESK).expect("write the workflow");
    })
    .await;
    let admin = app.admin();
    let (maryam, omid) = (app.agent(MARYAM).await, app.agent(OMID).await);
    let minutes = |m: i64| Duration::minutes(m);

    let t1 = open(&app, "alice@customer.test", "repair", "high", "phone").await;
    let t2 = open(&app, "bob@customer.test", "billing", "normal", "email").await;
    let t3 = open(&app, "carol@customer.test", "repair", "normal", "email").await;
    for (ticket, agent) in [(&t1, MARYAM), (&t2, OMID), (&t3, MARYAM)] {
        admin.command(ticket, "assign", json!({ "assignee": agent })).await;
    }
    app.advance(minutes(10));
    reply(&maryam, &t1).await;
    app.advance(minutes(10)); // +20m
    reply(&omid, &t2).await;
    app.advance(minutes(10)); // +30m
    maryam.transition(&t1, "resolve").await;
    app.advance(minutes(10)); // +40m
    reply(&omid, &t2).await;
    app.advance(minutes(20)); // +60m: HD-3's first response is due
    omid.transition(&t2, "resolve").await;
    app.advance(minutes(1));
    app.fire_timers().await;
    let breached = admin.ticket(&t3).await;
    assert!(breached["slas"]["first_response"]["breached_at"].is_string(), "{breached:#}");
    app.advance(minutes(9)); // +70m
    reply(&maryam, &t3).await;
    app.advance(minutes(10)); // +80m
    let phone = app.integrator("phone-survey").await;
    for (ticket, csat, nps, ces) in [(&t1, 5, 10, 6), (&t2, 2, 6, 3)] {
        let answer = json!({ "survey": "phone-1", "csat": csat, "nps": nps, "ces": ces });
        expect_status(phone.post(&format!("/v1/tickets/{ticket}/survey"), answer).await, StatusCode::OK).await;
    }
    app.advance(minutes(10)); // +90m
    omid.command(&t2, "reopen", json!({ "reason": "still charged twice" })).await;
    app.advance(minutes(10)); // +100m
    omid.transition(&t2, "resolve").await;
    app.advance(minutes(10)); // +110m
    let t4 = open(&app, "alice@customer.test", "repair", "normal", "email").await;
    let links = admin.ticket(&t4).await["links"].to_string();
    assert!(links.contains("repeat_of"), "HD-4 repeats HD-1: {links}");

    app.advance(minutes(61)); // +171m: nobody answered HD-4
    app.fire_timers().await;
    let breached = admin.ticket(&t4).await;
    assert!(breached["slas"]["first_response"]["breached_at"].is_string(), "{breached:#}");

    app.advance(minutes(24 * 60 - 171)); // Tuesday, T0 + 24h
    let t5 = open(&app, "bob@customer.test", "billing", "normal", "phone").await;
    admin.command(&t5, "assign", json!({ "assignee": OMID })).await;
    app.advance(minutes(5));
    reply(&omid, &t5).await;
    app.advance(minutes(10));
    omid.transition(&t5, "resolve").await;
    app.advance(minutes(5)); // now: T0 + 24h 20m
    assert_eq!([t1, t2, t3, t4, t5], ["HD-1", "HD-2", "HD-3", "HD-4", "HD-5"]);
    History { app, maryam, omid }
}

async fn get(user: &User, path: &str) -> Value {
    expect_status(user.get(path).await, StatusCode::OK).await
}

fn timing(count: u64, mean: Option<f64>, median: Option<u64>, p90: Option<u64>) -> Value {
    json!({ "count": count, "mean_secs": mean, "median_secs": median, "p90_secs": p90 })
}

/// A timing with the same business summary as its wall time (no calendar, never paused).
fn same_timing(count: u64, mean: Option<f64>, median: Option<u64>, p90: Option<u64>, met_rate: Option<f64>) -> Value {
    let mut t = timing(count, mean, median, p90);
    t["business"] = timing(count, mean, median, p90);
    t["met_rate"] = json!(met_rate);
    t
}

fn backlog_ages(young: u64, older: u64) -> Value {
    json!({ "0-1d": young, "1-3d": older, "3-7d": 0, "7-30d": 0, "30d+": 0 })
}

#[tokio::test]
async fn every_kpi_of_a_hand_built_history_is_exact() {
    let History { mut app, .. } = history().await;
    let admin = app.admin();
    let k = get(&admin, &format!("/v1/reports/kpis?{RANGE}")).await;
    assert_eq!(
        (&k["workflow"], &k["from"], &k["to"], &k["agent"]),
        (&json!("desk"), &json!("2026-11-23"), &json!("2026-11-24"), &Value::Null)
    );
    assert_eq!(k["tickets_opened"], 5);
    assert_eq!(k["tickets_resolved"], 3);
    // First responses: HD-5 300, HD-1 600, HD-2 1200, HD-3 4200 s; HD-3's clock breached, and
    // HD-4's (never answered).
    assert_eq!(k["first_response"], same_timing(4, Some(1575.0), Some(600), Some(4200), Some(0.6)), "{k:#}");
    // Resolutions: HD-5 900, HD-1 1800, HD-2 6000 s (opening to its last resolution). The
    // business time of HD-2 is that of its resolution clock, restarted when it was reopened:
    // 600 s from +90m to +100m.
    let mut resolution = timing(3, Some(2900.0), Some(1800), Some(6000));
    resolution["business"] = timing(3, Some(1100.0), Some(900), Some(1800));
    resolution["met_rate"] = json!(1.0);
    assert_eq!(k["resolution"], resolution, "{k:#}");
    // HD-1 and HD-5 at first contact; HD-2 had two replies and was reopened.
    assert_eq!(k["first_contact_resolutions"], 2);
    assert_eq!(k["first_contact_resolution_rate"], 2.0 / 3.0);
    assert_eq!(k["csat"], json!({ "responses": 2, "satisfied_rate": 0.5, "mean": 3.5 }));
    assert_eq!(k["nps"], json!({ "responses": 2, "score": 0.0 }), "one promoter, one detractor");
    assert_eq!(k["ces"], json!({ "responses": 2, "mean": 4.5 }));
    assert_eq!(k["surveys"], json!({ "sent": 3, "answered": 2, "response_rate": 2.0 / 3.0 }));
    assert_eq!(
        k["sla"],
        json!({
            "first_response": { "met": 3, "breached": 2, "breach_rate": 0.4 },
            "resolution": { "met": 3, "breached": 0, "breach_rate": 0.0 },
        })
    );
    assert_eq!(k["sla_breaches"], 2);
    assert_eq!((&k["reopened"], &k["reopen_rate"]), (&json!(1), &json!(1.0 / 3.0)));
    assert_eq!((&k["repeats"], &k["repeat_rate"]), (&json!(2), &json!(0.4)));
    // Open now: HD-3 (24h 20m old, maryam) and HD-4 (22h 30m, nobody).
    assert_eq!(
        k["backlog"],
        json!({ "open": 2, "by_stage": { "work": 2 }, "by_age": backlog_ages(1, 1), "by_agent": { "": 1, MARYAM: 1 } })
    );

    // The default range is the 30 days up to today (the server's clock): the same figures.
    let default = get(&admin, "/v1/reports/kpis?workflow=desk").await;
    assert_eq!((&default["from"], &default["to"]), (&json!("2026-10-26"), &json!("2026-11-24")));
    assert_eq!(default["first_response"], k["first_response"]);
    assert_eq!(default["surveys"], k["surveys"]);

    // Each day counts what happened on it.
    let monday = get(&admin, "/v1/reports/kpis?workflow=desk&from=2026-11-23&to=2026-11-23").await;
    assert_eq!(
        (&monday["tickets_opened"], &monday["tickets_resolved"], &monday["repeats"]),
        (&json!(4), &json!(2), &json!(1))
    );
    assert_eq!(monday["first_response"]["median_secs"], 1200);
    let tuesday = get(&admin, "/v1/reports/kpis?workflow=desk&from=2026-11-24&to=2026-11-24").await;
    assert_eq!(tuesday["resolution"], same_timing(1, Some(900.0), Some(900), Some(900), Some(1.0)));
    assert_eq!(tuesday["csat"], json!({ "responses": 0, "satisfied_rate": null, "mean": null }));

    // Filters: a category, a priority, a channel, an agent, a team.
    let repair = get(&admin, &format!("/v1/reports/kpis?{RANGE}&category=repair")).await;
    assert_eq!((&repair["tickets_opened"], &repair["tickets_resolved"]), (&json!(3), &json!(1)));
    assert_eq!(repair["first_response"]["p90_secs"], 4200);
    let high = get(&admin, &format!("/v1/reports/kpis?{RANGE}&priority=high")).await;
    assert_eq!((&high["tickets_opened"], &high["csat"]["mean"]), (&json!(1), &json!(5.0)));
    let phone = get(&admin, &format!("/v1/reports/kpis?{RANGE}&channel=phone")).await;
    assert_eq!((&phone["tickets_opened"], &phone["first_contact_resolution_rate"]), (&json!(2), &json!(1.0)));
    let omid = get(&admin, &format!("/v1/reports/kpis?{RANGE}&agent={OMID}")).await;
    assert_eq!(
        (&omid["agent"], &omid["tickets_resolved"], &omid["reopen_rate"]),
        (&json!(OMID), &json!(2), &json!(0.5))
    );
    assert_eq!(omid["backlog"]["open"], 0, "the backlog follows the agent filter");
    let team = get(&admin, &format!("/v1/reports/kpis?{RANGE}&team=agent")).await;
    assert_eq!(team["tickets_opened"], 5, "every ticket is routed to the agent role");
    let nobody = get(&admin, &format!("/v1/reports/kpis?{RANGE}&team=lead")).await;
    assert_eq!((&nobody["tickets_opened"], &nobody["csat"]["satisfied_rate"]), (&json!(0), &Value::Null));

    // The figures kept as the tickets were written are those the events give.
    let root = std::mem::replace(&mut app.root, tempfile::tempdir().expect("temporary folder"));
    app.stop().await;
    let rebuilt = std::process::Command::new(env!("CARGO_BIN_EXE_afterdesk"))
        .args(["reports", "rebuild", "--data"])
        .arg(root.path().join("data"))
        .arg("--workflows")
        .arg(root.path().join("workflows"))
        .output()
        .expect("the binary runs");
    let said = String::from_utf8_lossy(&rebuilt.stdout);
    assert!(rebuilt.status.success(), "{said} {}", String::from_utf8_lossy(&rebuilt.stderr));
    assert!(said.contains("the same as kept"), "{said}");
}

#[tokio::test]
async fn agents_categories_channels_and_trends_break_the_figures_down() {
    let History { app, .. } = history().await;
    let admin = app.admin();
    let agents = get(&admin, &format!("/v1/reports/agents?{RANGE}")).await;
    let none = |met_rate: Option<f64>| same_timing(0, None, None, None, met_rate);
    assert_eq!(
        agents["items"],
        json!([
            {
                "agent": null, "tickets_opened": 1, "tickets_resolved": 0,
                "first_response": none(Some(0.0)), "resolution": none(None),
                "first_contact_resolution_rate": null,
                "csat": { "responses": 0, "satisfied_rate": null, "mean": null },
                "sla_met": 0, "sla_breached": 1, "sla_met_rate": 0.0, "open_workload": 1,
            },
            {
                "agent": MARYAM, "tickets_opened": 2, "tickets_resolved": 1,
                "first_response": same_timing(2, Some(2400.0), Some(600), Some(4200), Some(0.5)),
                "resolution": same_timing(1, Some(1800.0), Some(1800), Some(1800), Some(1.0)),
                "first_contact_resolution_rate": 1.0,
                "csat": { "responses": 1, "satisfied_rate": 1.0, "mean": 5.0 },
                "sla_met": 2, "sla_breached": 1, "sla_met_rate": 2.0 / 3.0, "open_workload": 1,
            },
            {
                "agent": OMID, "tickets_opened": 2, "tickets_resolved": 2,
                "first_response": same_timing(2, Some(750.0), Some(300), Some(1200), Some(1.0)),
                "resolution": {
                    "count": 2, "mean_secs": 3450.0, "median_secs": 900, "p90_secs": 6000,
                    "business": timing(2, Some(750.0), Some(600), Some(900)), "met_rate": 1.0,
                },
                "first_contact_resolution_rate": 0.5,
                "csat": { "responses": 1, "satisfied_rate": 0.0, "mean": 2.0 },
                "sla_met": 4, "sla_breached": 0, "sla_met_rate": 1.0, "open_workload": 0,
            },
        ]),
        "{agents:#}"
    );

    // Every ticket is routed to the `agent` role: one team, the whole workflow's figures.
    let teams = get(&admin, &format!("/v1/reports/teams?{RANGE}")).await;
    let kpis = get(&admin, &format!("/v1/reports/kpis?{RANGE}")).await;
    assert_eq!(teams["items"].as_array().map(Vec::len), Some(1), "{teams:#}");
    let team = &teams["items"][0];
    assert_eq!(
        (&team["team"], &team["tickets_opened"], &team["tickets_resolved"]),
        (&json!("agent"), &json!(5), &json!(3))
    );
    assert_eq!(
        (&team["first_response"], &team["resolution"], &team["csat"]),
        (&kpis["first_response"], &kpis["resolution"], &kpis["csat"])
    );
    assert_eq!((&team["sla_met"], &team["sla_breached"], &team["sla_met_rate"]), (&json!(6), &json!(2), &json!(0.75)));

    let categories = get(&admin, &format!("/v1/reports/categories?{RANGE}")).await;
    assert_eq!(
        categories["items"],
        json!([
            {
                "category": "billing", "tickets_opened": 2, "tickets_resolved": 2,
                "csat": { "responses": 1, "satisfied_rate": 0.0, "mean": 2.0 },
                "sla_met": 4, "sla_breached": 0, "sla_breach_rate": 0.0,
                "repeats": 1, "repeat_rate": 0.5, "reopen_rate": 0.5,
            },
            {
                "category": "repair", "tickets_opened": 3, "tickets_resolved": 1,
                "csat": { "responses": 1, "satisfied_rate": 1.0, "mean": 5.0 },
                "sla_met": 2, "sla_breached": 2, "sla_breach_rate": 0.5,
                "repeats": 1, "repeat_rate": 1.0 / 3.0, "reopen_rate": 0.0,
            },
        ]),
        "least happy first: {categories:#}"
    );
    // Tuesday alone: only HD-5 (billing) counts.
    let tuesday = get(&admin, "/v1/reports/categories?workflow=desk&from=2026-11-24&to=2026-11-24").await;
    let names: Vec<&Value> = tuesday["items"].as_array().expect("items").iter().map(|r| &r["category"]).collect();
    assert_eq!(names, [&json!("billing")]);

    let channels = get(&admin, &format!("/v1/reports/channels?{RANGE}")).await;
    assert_eq!(
        channels["items"],
        json!([
            { "channel": "email", "tickets_opened": 3, "share": 0.6 },
            { "channel": "phone", "tickets_opened": 2, "share": 0.4 },
        ])
    );

    let daily = get(&admin, &format!("/v1/reports/trend?{RANGE}&bucket=day")).await;
    let rows = daily["items"].as_array().expect("items");
    let periods: Vec<&Value> = rows.iter().map(|r| &r["period"]).collect();
    assert_eq!(periods, [&json!("2026-11-23"), &json!("2026-11-24")]);
    let pick = |row: &Value| {
        json!([
            row["tickets_opened"],
            row["tickets_resolved"],
            row["first_response"]["count"],
            row["resolution"]["mean_secs"],
            row["first_contact_resolutions"],
            row["surveys"]["sent"],
            row["csat"]["responses"],
            row["sla_breaches"],
            row["reopened"],
            row["repeats"],
        ])
    };
    assert_eq!(pick(&rows[0]), json!([4, 2, 3, 3900.0, 1, 2, 2, 2, 1, 1]));
    assert_eq!(pick(&rows[1]), json!([1, 1, 1, 900.0, 1, 1, 0, 0, 0, 1]));
    let weekly = get(&admin, &format!("/v1/reports/trend?{RANGE}&bucket=week")).await;
    assert_eq!(weekly["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(weekly["items"][0]["period"], "2026-11-23", "ISO weeks are named by their Monday");
    let monthly = get(&admin, "/v1/reports/trend?workflow=desk&from=2026-10-26&to=2026-12-02&bucket=month").await;
    let months: Vec<&Value> = monthly["items"].as_array().expect("items").iter().map(|r| &r["period"]).collect();
    assert_eq!(months, [&json!("2026-10-01"), &json!("2026-11-01"), &json!("2026-12-01")], "empty periods too");
    assert_eq!(monthly["items"][0]["tickets_opened"], 0);
    for (row, whole) in [(&weekly["items"][0], &kpis), (&monthly["items"][1], &kpis)] {
        for figure in ["tickets_opened", "first_response", "resolution", "csat", "nps", "ces", "sla", "repeat_rate"] {
            assert_eq!(row[figure], whole[figure], "{figure}");
        }
    }
    app.stop().await;
}

/// A CSV answer: its content type, and its rows as maps from the header's names.
async fn csv_rows(response: reqwest::Response) -> Vec<BTreeMap<String, String>> {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(crate::helpers::header(&response, "content-type").as_deref(), Some("text/csv; charset=utf-8"));
    let text = response.text().await.expect("body");
    assert!(text.ends_with("\r\n"), "RFC 4180 lines end in CRLF: {text:?}");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().expect("a header row").iter().map(String::from).collect();
    reader
        .records()
        .map(|record| {
            let record = record.expect("a well-formed record");
            assert_eq!(record.len(), header.len(), "every row has every column");
            header.iter().cloned().zip(record.iter().map(String::from)).collect()
        })
        .collect()
}

#[tokio::test]
async fn every_report_is_also_csv() {
    let History { app, .. } = history().await;
    let admin = app.admin();
    let rows = csv_rows(admin.get(&format!("/v1/reports/kpis?{RANGE}&format=csv")).await).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let expect = [
        ("workflow", "desk"),
        ("from", "2026-11-23"),
        ("agent", ""),
        ("tickets_opened", "5"),
        ("first_response_mean_secs", "1575"),
        ("first_response_median_secs", "600"),
        ("first_response_p90_secs", "4200"),
        ("first_response_met_rate", "0.6"),
        ("resolution_business_median_secs", "900"),
        ("first_contact_resolution_rate", &(2.0_f64 / 3.0).to_string()),
        ("csat_satisfied_rate", "0.5"),
        ("nps_score", "0"),
        ("ces_mean", "4.5"),
        ("surveys_sent", "3"),
        ("sla_first_response_breached", "2"),
        ("sla_resolution_breach_rate", "0"),
        ("repeat_rate", "0.4"),
        ("backlog_open", "2"),
        ("backlog_stage_work", "2"),
        ("backlog_stage_survey", "0"),
        ("backlog_age_1-3d", "1"),
    ];
    for (column, value) in expect {
        assert_eq!(row.get(column).map(String::as_str), Some(value), "{column} in {row:?}");
    }

    // `Accept: text/csv` works as well as `?format=csv`.
    let accepted = admin
        .request(reqwest::Method::GET, &format!("/v1/reports/agents?{RANGE}"))
        .header("accept", "text/csv")
        .send()
        .await
        .expect("answered");
    let agents = csv_rows(accepted).await;
    let by_agent: Vec<(&str, &str, &str)> = agents
        .iter()
        .map(|r| (r["agent"].as_str(), r["first_response_median_secs"].as_str(), r["open_workload"].as_str()))
        .collect();
    assert_eq!(by_agent, [("", "", "1"), (MARYAM, "600", "1"), (OMID, "300", "0")]);

    let categories = csv_rows(admin.get(&format!("/v1/reports/categories?{RANGE}&format=csv")).await).await;
    let order: Vec<(&str, &str)> =
        categories.iter().map(|r| (r["category"].as_str(), r["csat_satisfied_rate"].as_str())).collect();
    assert_eq!(order, [("billing", "0"), ("repair", "1")]);
    let teams = csv_rows(admin.get(&format!("/v1/reports/teams?{RANGE}&format=csv")).await).await;
    let team: Vec<(&str, &str, &str)> = teams
        .iter()
        .map(|r| (r["team"].as_str(), r["resolution_p90_secs"].as_str(), r["sla_met_rate"].as_str()))
        .collect();
    assert_eq!(team, [("agent", "6000", "0.75")]);
    let channels = csv_rows(admin.get(&format!("/v1/reports/channels?{RANGE}&format=csv")).await).await;
    assert_eq!(channels.iter().map(|r| r["share"].as_str()).collect::<Vec<_>>(), ["0.6", "0.4"]);
    let trend = csv_rows(admin.get(&format!("/v1/reports/trend?{RANGE}&format=csv")).await).await;
    let days: Vec<(&str, &str)> = trend.iter().map(|r| (r["period"].as_str(), r["tickets_opened"].as_str())).collect();
    assert_eq!(days, [("2026-11-23", "4"), ("2026-11-24", "1")]);

    // An empty table still names its columns.
    let empty = admin.get("/v1/reports/channels?workflow=desk&from=2026-01-01&to=2026-01-02&format=csv").await;
    assert_eq!(empty.text().await.expect("body"), "channel,tickets_opened,share\r\n");
    // Agents with open work now have a row whatever the range.
    let quiet =
        csv_rows(admin.get("/v1/reports/agents?workflow=desk&from=2026-01-01&to=2026-01-02&format=csv").await).await;
    let workload: Vec<(&str, &str, &str)> = quiet
        .iter()
        .map(|r| (r["agent"].as_str(), r["tickets_opened"].as_str(), r["open_workload"].as_str()))
        .collect();
    assert_eq!(workload, [("", "0", "1"), (MARYAM, "0", "1")]);
    app.stop().await;
}

#[tokio::test]
async fn managers_read_everything_and_agents_their_own_row() {
    let History { app, maryam, omid } = history().await;
    let admin = get(&app.admin(), &format!("/v1/reports/kpis?{RANGE}")).await;

    // The lead is accountable for the workflow's stages: the whole report, any agent's.
    let leila = app.agent("leila@example.com").await;
    let lead = get(&leila, &format!("/v1/reports/kpis?{RANGE}")).await;
    assert_eq!(lead, admin);
    let lead_agents = get(&leila, &format!("/v1/reports/agents?{RANGE}")).await;
    assert_eq!(lead_agents["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(get(&leila, &format!("/v1/reports/kpis?{RANGE}&agent={OMID}")).await["tickets_resolved"], 2);
    // A read-only integration (a BI tool) reads everything too.
    let bi = app.integrator("bi-tool").await;
    assert_eq!(get(&bi, &format!("/v1/reports/kpis?{RANGE}")).await, admin);

    // A plain agent: their own figures, whatever they ask.
    let own = get(&maryam, &format!("/v1/reports/kpis?{RANGE}")).await;
    assert_eq!(own["agent"], MARYAM);
    assert_eq!((&own["tickets_opened"], &own["tickets_resolved"]), (&json!(2), &json!(1)));
    assert_eq!(own["first_response"]["mean_secs"], 2400.0);
    assert_eq!(own["backlog"]["by_agent"], json!({ MARYAM: 1 }));
    assert_eq!(get(&maryam, &format!("/v1/reports/kpis?{RANGE}&agent={MARYAM}")).await, own);
    let agents = get(&omid, &format!("/v1/reports/agents?{RANGE}")).await;
    let names: Vec<&Value> = agents["items"].as_array().expect("items").iter().map(|r| &r["agent"]).collect();
    assert_eq!(names, [&json!(OMID)], "their row only");
    let categories = get(&omid, &format!("/v1/reports/categories?{RANGE}")).await;
    assert_eq!(categories["items"].as_array().map(Vec::len), Some(1), "billing only: {categories:#}");
    let trend = get(&maryam, &format!("/v1/reports/trend?{RANGE}")).await;
    assert_eq!((&trend["agent"], &trend["items"][0]["tickets_opened"]), (&json!(MARYAM), &json!(2)));
    for path in ["kpis", "trend"] {
        let someone_else = maryam.get(&format!("/v1/reports/{path}?{RANGE}&agent={OMID}")).await;
        let problem = expect_problem(someone_else, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("their own")), "{problem}");
    }

    // Somebody without a role in the workflow, and nobody at all.
    let mallory = app.agent("mallory@example.com").await;
    for path in ["kpis", "agents", "teams", "categories", "channels", "trend"] {
        let refused = mallory.get(&format!("/v1/reports/{path}?{RANGE}")).await;
        let problem = expect_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("no role")), "{problem}");
        let anonymous = app.anonymous(reqwest::Method::GET, &format!("/v1/reports/{path}?{RANGE}")).send().await;
        expect_problem(anonymous.expect("answered"), StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // A workflow the caller cannot name is the same 422 for everyone.
    let unknown = mallory.get("/v1/reports/kpis?workflow=secret").await;
    let problem = expect_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert_eq!(error_fields(&problem), ["workflow"]);
    app.stop().await;
}

#[tokio::test]
async fn bad_parameters_are_named() {
    let History { app, .. } = history().await;
    let admin = app.admin();
    let cases: [(&str, &[&str]); 8] = [
        ("/v1/reports/kpis", &["workflow"]),
        ("/v1/reports/agents?workflow=nope", &["workflow"]),
        ("/v1/reports/kpis?workflow=desk&from=2026-13-01", &["from"]),
        ("/v1/reports/categories?workflow=desk&to=yesterday", &["to"]),
        ("/v1/reports/channels?workflow=desk&from=2026-11-24&to=2026-11-23", &["from"]),
        ("/v1/reports/trend?workflow=desk&bucket=year", &["bucket"]),
        ("/v1/reports/kpis?workflow=desk&format=xml", &["format"]),
        ("/v1/reports/trend?from=x&to=y&bucket=hour", &["bucket", "workflow", "from", "to"]),
    ];
    for (path, fields) in cases {
        let problem = expect_problem(admin.get(path).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
        assert_eq!(error_fields(&problem), fields, "{path}: {problem}");
    }
    let unknown = admin.get("/v1/reports/kpis?workflow=desk&colour=red").await;
    let problem = expect_problem(unknown, StatusCode::BAD_REQUEST, "bad-request").await;
    assert_eq!(error_fields(&problem), ["colour"]);
    app.stop().await;
}
