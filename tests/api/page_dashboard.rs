//! The manager's dashboard (issue 15): the workflow's accountable roles and administrators
//! read it, a technician is refused; every figure on the page is the one `GET /v1/reports/kpis`
//! gives for the same data and period (read from the page's `data-kpi` attributes); each CSV
//! download is the reports API's CSV; a period that cannot be read shows the form again.
//!
//! People sign in the real way: the sign-in form, the link read from the SMTP sink, the
//! button the link opens. (`helpers::page_session` was not on main when this was written.)

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::helpers::{TestApp, encode, expect_status, new_ticket};
use crate::mail::app_with_mail;
use crate::pages::page_session;
use crate::smtp::SmtpSink;

const REZA: &str = "reza@example.com"; // service_manager: accountable for review and resolution
const ALI: &str = "ali@example.com"; // technician: responsible, not accountable
const BOSS: &str = "boss@example.com"; // an administrator with no role in the workflow

/// A few days of after-sales work: tickets in three categories opened on Monday, two taken to
/// the survey stage and answered (one happy, one not), the rest left open past their first
/// response deadline.
async fn history(app: &TestApp) -> Vec<String> {
    let admin = app.admin();
    let gateway = app.integrator("phone-gateway").await;
    let mut numbers = Vec::new();
    for (i, category) in ["maintenance", "maintenance", "billing", "installation", "maintenance"].iter().enumerate() {
        let mut body = new_ticket(&format!("Ticket {i} about {category}"), &format!("customer{i}@example.com"));
        body["category"] = json!(category);
        numbers.push(admin.open(body).await["number"].as_str().expect("number").to_string());
    }
    app.advance(chrono::Duration::hours(1));
    for (number, csat) in [(&numbers[0], 5), (&numbers[2], 2)] {
        admin.through_to_survey(number).await;
        let answer = json!({ "survey": format!("phone-{number}"), "csat": csat, "nps": csat * 2 });
        expect_status(gateway.post(&format!("/v1/tickets/{number}/survey"), answer).await, StatusCode::OK).await;
    }
    // Past the first response deadline (2 business hours) of the tickets left open.
    app.advance(chrono::Duration::days(2));
    app.fire_timers().await;
    numbers
}

/// The figures of a page, by `data-kpi`, as given (`""`: absent).
fn page_figures(html: &str) -> BTreeMap<String, String> {
    let pattern = regex::Regex::new(r#"data-kpi="([a-z_]+)" data-value="([^"]*)""#).expect("regex");
    pattern.captures_iter(html).map(|c| (c[1].to_string(), c[2].to_string())).collect()
}

/// The same figures from the API's KPI report.
fn api_figures(report: &Value) -> BTreeMap<String, Value> {
    let (met, breached) = report["sla"]
        .as_object()
        .map(|clocks| {
            clocks
                .values()
                .fold((0, 0), |(m, b), c| (m + c["met"].as_i64().unwrap_or(0), b + c["breached"].as_i64().unwrap_or(0)))
        })
        .unwrap_or((0, 0));
    let breach_rate = if met + breached > 0 { json!(breached as f64 / (met + breached) as f64) } else { Value::Null };
    [
        ("opened", report["tickets_opened"].clone()),
        ("resolved", report["tickets_resolved"].clone()),
        ("first_response_median", report["first_response"]["median_secs"].clone()),
        ("resolution_median", report["resolution"]["median_secs"].clone()),
        ("fcr_rate", report["first_contact_resolution_rate"].clone()),
        ("csat", report["csat"]["satisfied_rate"].clone()),
        ("nps", report["nps"]["score"].clone()),
        ("sla_breaches", report["sla_breaches"].clone()),
        ("breach_rate", breach_rate),
        ("reopen_rate", report["reopen_rate"].clone()),
        ("repeat_rate", report["repeat_rate"].clone()),
        ("backlog", report["backlog"]["open"].clone()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

/// Asserts that the page's figures are the API's, figure by figure.
fn assert_same_figures(page: &BTreeMap<String, String>, api: &BTreeMap<String, Value>) {
    assert_eq!(page.keys().collect::<Vec<_>>(), api.keys().collect::<Vec<_>>(), "the same figures");
    for (name, value) in api {
        let shown = &page[name];
        match value.as_f64() {
            None => assert_eq!(shown, "", "{name}: absent in the API, absent on the page"),
            Some(expected) => {
                let got: f64 = shown.parse().unwrap_or_else(|_| panic!("{name}: {shown:?} is not a number"));
                assert_eq!(got, expected, "{name}");
            }
        }
    }
}

async fn app_and_history() -> (SmtpSink, TestApp, Vec<String>) {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, None, 5).await;
    let numbers = history(&app).await;
    (sink, app, numbers)
}

#[tokio::test]
async fn the_dashboard_shows_the_figures_the_reports_api_gives() {
    let (sink, app, numbers) = app_and_history().await;
    let reza = page_session(&app, &sink, REZA).await;

    // One workflow: straight to it.
    let response = reza.get("/dashboard").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some("/dashboard/after-sales"));

    // The default period is the API's: the 30 days up to today.
    let html = reza.page("/dashboard/after-sales", StatusCode::OK).await;
    let api = expect_status(app.admin().get("/v1/reports/kpis?workflow=after-sales").await, StatusCode::OK).await;
    let figures = page_figures(&html);
    assert_same_figures(&figures, &api_figures(&api));
    assert_eq!(figures["opened"], "5", "the history is in the period");
    assert_eq!(figures["resolved"], "2");
    assert_eq!(figures["csat"], "0.5", "one happy answer of two");
    assert_eq!(figures["backlog"], "3");

    // A chosen period, the same way.
    let range = "from=2026-11-24&to=2026-11-30";
    let html = reza.page(&format!("/dashboard/after-sales?period=custom&{range}"), StatusCode::OK).await;
    let api = app.admin().get(&format!("/v1/reports/kpis?workflow=after-sales&{range}")).await;
    let api = expect_status(api, StatusCode::OK).await;
    assert_same_figures(&page_figures(&html), &api_figures(&api));
    assert_eq!(page_figures(&html)["opened"], "0", "nothing was opened after Monday");

    // The charts are accessible images with their figures in a table too.
    for id in ["trend-chart", "stage-chart", "csat-chart", "backlog-stage-chart", "backlog-age-chart"] {
        let html = reza.page("/dashboard/after-sales", StatusCode::OK).await;
        assert!(
            html.contains(&format!("id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\"")),
            "{id} is an image labelled by its title and description"
        );
    }
    assert!(html.contains("<table"), "figures in tables");

    // The open tickets past their first response deadline, each a link to its page.
    let html = reza.page("/dashboard/after-sales", StatusCode::OK).await;
    for number in [&numbers[1], &numbers[3], &numbers[4]] {
        assert!(html.contains(&format!("href=\"/t/{number}\"")), "{number} is listed as breached");
    }
    assert!(!html.contains(&format!("href=\"/t/{}\"", numbers[0])), "a resolved ticket is not");
    app.stop().await;
}

#[tokio::test]
async fn accountable_roles_and_administrators_read_it_and_a_technician_does_not() {
    let (sink, app, _) = app_and_history().await;
    app.user("admin", BOSS).await;

    let ali = page_session(&app, &sink, ALI).await;
    for path in ["/dashboard", "/dashboard/after-sales", "/dashboard/after-sales/kpis.csv"] {
        let html = ali.page(path, StatusCode::FORBIDDEN).await;
        assert!(html.contains("accountable roles"), "{path} says who it is for");
    }

    let boss = page_session(&app, &sink, BOSS).await;
    let html = boss.page("/dashboard/after-sales", StatusCode::OK).await;
    assert_eq!(page_figures(&html)["opened"], "5");
    boss.page("/dashboard/no-such-workflow", StatusCode::NOT_FOUND).await;
    boss.page("/dashboard/after-sales/secrets.csv", StatusCode::NOT_FOUND).await;

    // Nobody signed in: to the sign-in page, and back here afterwards.
    let response = app.client.get(app.url("/dashboard/after-sales")).send().await.expect("GET");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(location, format!("/sign-in?next={}", encode("/dashboard/after-sales")));
    app.stop().await;
}

#[tokio::test]
async fn each_csv_download_is_the_reports_apis_csv() {
    let (sink, app, _) = app_and_history().await;
    let reza = page_session(&app, &sink, REZA).await;
    let range = "from=2026-11-01&to=2026-11-30";
    for (report, extra) in [("kpis", ""), ("agents", ""), ("categories", ""), ("trend", "&bucket=week")] {
        let page = reza.get(&format!("/dashboard/after-sales/{report}.csv?{range}")).await;
        assert_eq!(page.status(), StatusCode::OK, "{report}.csv");
        let kind = page.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(kind.as_deref(), Some("text/csv; charset=utf-8"));
        let disposition = page.headers().get("content-disposition").and_then(|v| v.to_str().ok()).map(str::to_string);
        assert!(disposition.is_some_and(|d| d.starts_with("attachment;")), "{report}.csv is a download");
        let page = page.text().await.expect("CSV");
        let api =
            app.admin().get(&format!("/v1/reports/{report}?workflow=after-sales&{range}{extra}&format=csv")).await;
        assert_eq!(api.status(), StatusCode::OK);
        let api = api.text().await.expect("CSV");
        assert_eq!(page, api, "{report}.csv");
        assert!(page.lines().count() >= 2, "{report}.csv has a header and figures");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_period_that_cannot_be_read_shows_the_form_again_with_its_problems() {
    let (sink, app, _) = app_and_history().await;
    let reza = page_session(&app, &sink, REZA).await;
    let html = reza
        .page("/dashboard/after-sales?period=custom&from=soon&to=2026-11-30", StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert!(html.contains(r#"aria-invalid="true" aria-describedby="from-problem""#), "{html}");
    assert!(html.contains(r#"<p class="error" id="from-problem">Enter a date such as 2026-11-23.</p>"#));
    assert!(!html.contains("data-kpi="), "no figures for a period that cannot be read");
    let html =
        reza.page("/dashboard/after-sales?from=2026-11-30&to=2026-11-01", StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(html.contains("The first day is after the last one."));
    app.stop().await;
}
