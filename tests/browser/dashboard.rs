//! The manager's dashboard in Debian's Chromium (issue 15): the manager signs in through the
//! link read from the SMTP sink and reads the figures the reports API gives for the same data;
//! choosing a period by the form shows that period's; screenshots in English and Persian, at
//! laptop and phone width; no console errors; axe finds nothing serious.
//!
//! Written against the harness API of `tests/support/browser.rs` (`Browser::start`,
//! `start_phone`, `goto`, `screenshot`, `check_accessible`, `check_console`, `close`), and
//! the shared `helpers`, `signin` (`app_with_mail`) and `smtp` modules of the test binary.

use std::collections::BTreeMap;
use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::{TestApp, expect_status, new_ticket};
use crate::signin::app_with_mail;
use crate::smtp::SmtpSink;

const REZA: &str = "reza@example.com";

/// Tickets in three categories, two resolved and answered, the rest left past a deadline.
async fn history(app: &TestApp) {
    let admin = app.admin();
    let gateway = app.integrator("phone-gateway").await;
    let mut numbers = Vec::new();
    for (i, category) in ["maintenance", "billing", "installation", "maintenance"].iter().enumerate() {
        let mut body = new_ticket(&format!("Ticket {i} about {category}"), &format!("customer{i}@example.com"));
        body["category"] = json!(category);
        numbers.push(admin.open(body).await["number"].as_str().expect("number").to_string());
    }
    app.advance(chrono::Duration::hours(1));
    for (number, csat) in [(&numbers[0], 5), (&numbers[1], 3)] {
        admin.through_to_survey(number).await;
        let answer = json!({ "survey": format!("phone-{number}"), "csat": csat });
        let response = gateway.post(&format!("/v1/tickets/{number}/survey"), answer).await;
        expect_status(response, reqwest::StatusCode::OK).await;
    }
    app.advance(chrono::Duration::days(2));
    app.fire_timers().await;
}

/// Signs in in the browser: the form, the link from the sink, the button.
async fn sign_in(browser: &Browser, app: &TestApp, sink: &SmtpSink, person: &str, next: &str) {
    let is_link = |m: &crate::smtp::Mail| m.to.iter().any(|t| t == person) && m.subject.contains("sign-in");
    let before = sink.messages().iter().filter(|m| is_link(m)).count();
    browser.goto(&app.url(&format!("/sign-in?next={next}"))).await;
    let client = browser.client();
    client.find(Locator::Id("email")).await.expect("the address field").send_keys(person).await.expect("typed");
    client.find(Locator::Css("main form button[type=submit]")).await.expect("the button").click().await.expect("sent");
    let mut link = None;
    for _ in 0..1200 {
        let mails: Vec<_> = sink.messages().into_iter().filter(|m| is_link(m)).collect();
        if mails.len() > before {
            let text = mails.last().and_then(|m| m.text.clone()).unwrap_or_default();
            link = text.split_whitespace().find(|w| w.contains("/sign-in/")).map(str::to_string);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let link = link.expect("a sign-in link in the mail");
    let path = &link[link.find("/sign-in/").expect("a path")..];
    browser.goto(&app.url(path)).await;
    client
        .find(Locator::Css("main form button[type=submit]"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("signed in");
    browser.wait_for_path("signed in", |path| !path.starts_with("/sign-in")).await;
}

/// The figures on the page, by `data-kpi`.
async fn figures_on_page(browser: &Browser) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for element in browser.client().find_all(Locator::Css("[data-kpi]")).await.expect("KPI cards") {
        let name = element.attr("data-kpi").await.expect("attr").unwrap_or_default();
        let value = element.attr("data-value").await.expect("attr").unwrap_or_default();
        out.insert(name, value);
    }
    out
}

fn api_value(report: &Value, name: &str) -> Value {
    match name {
        "opened" => report["tickets_opened"].clone(),
        "resolved" => report["tickets_resolved"].clone(),
        "first_response_median" => report["first_response"]["median_secs"].clone(),
        "resolution_median" => report["resolution"]["median_secs"].clone(),
        "fcr_rate" => report["first_contact_resolution_rate"].clone(),
        "csat" => report["csat"]["satisfied_rate"].clone(),
        "nps" => report["nps"]["score"].clone(),
        "sla_breaches" => report["sla_breaches"].clone(),
        "reopen_rate" => report["reopen_rate"].clone(),
        "repeat_rate" => report["repeat_rate"].clone(),
        "backlog" => report["backlog"]["open"].clone(),
        _ => Value::Null,
    }
}

fn assert_figures(page: &BTreeMap<String, String>, report: &Value) {
    assert!(page.len() >= 11, "the KPIs are on the page: {page:?}");
    for (name, shown) in page {
        if name == "breach_rate" {
            continue; // a ratio of the API's per-clock figures; the HTTP test checks it
        }
        match api_value(report, name).as_f64() {
            None => assert_eq!(shown, "", "{name}"),
            Some(expected) => assert_eq!(shown.parse::<f64>().ok(), Some(expected), "{name}"),
        }
    }
}

#[tokio::test]
async fn the_managers_dashboard_shows_the_figures_the_reports_api_gives() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    history(&app).await;
    let api =
        expect_status(app.admin().get("/v1/reports/kpis?workflow=after-sales").await, reqwest::StatusCode::OK).await;

    let browser = Browser::start().await;
    sign_in(&browser, &app, &sink, REZA, "/dashboard").await;
    browser.goto(&app.url("/dashboard")).await;
    let url = browser.client().current_url().await.expect("a URL");
    assert!(url.path().ends_with("/dashboard/after-sales"), "one workflow: straight to it ({url})");
    assert_figures(&figures_on_page(&browser).await, &api);
    browser.check_console("dashboard (en)").await;
    browser.check_accessible("dashboard (en)").await;
    browser.screenshot("dashboard-en").await;

    // A period chosen with the form: the first week.
    let client = browser.client();
    client.find(Locator::Id("period-custom")).await.expect("custom").click().await.expect("chosen");
    let from = client.find(Locator::Id("from")).await.expect("from");
    client
        .execute("arguments[0].value = '2026-11-23'", vec![serde_json::to_value(&from).expect("element")])
        .await
        .expect("set from");
    let to = client.find(Locator::Id("to")).await.expect("to");
    client
        .execute("arguments[0].value = '2026-11-29'", vec![serde_json::to_value(&to).expect("element")])
        .await
        .expect("set to");
    browser.press("form.period button[type=submit]").await;
    let week = app.admin().get("/v1/reports/kpis?workflow=after-sales&from=2026-11-23&to=2026-11-29").await;
    assert_figures(&figures_on_page(&browser).await, &expect_status(week, reqwest::StatusCode::OK).await);

    // In Persian, right to left.
    browser.goto(&app.url("/lang/fa?next=/dashboard/after-sales")).await;
    let dir = client.find(Locator::Css("html")).await.expect("html").attr("dir").await.expect("dir");
    assert_eq!(dir.as_deref(), Some("rtl"));
    assert_figures(&figures_on_page(&browser).await, &api);
    browser.check_console("dashboard (fa)").await;
    browser.check_accessible("dashboard (fa)").await;
    browser.screenshot("dashboard-fa").await;
    browser.close().await;

    // At phone width, in both languages.
    let phone = Browser::start_phone().await;
    sign_in(&phone, &app, &sink, REZA, "/dashboard/after-sales").await;
    phone.goto(&app.url("/lang/en?next=/dashboard/after-sales")).await;
    assert_figures(&figures_on_page(&phone).await, &api);
    let width: Value = phone
        .client()
        .execute("return document.documentElement.scrollWidth <= window.innerWidth + 1", vec![])
        .await
        .expect("measured");
    assert_eq!(width, json!(true), "no sideways scrolling of the page at 375 px");
    phone.check_console("dashboard phone (en)").await;
    phone.check_accessible("dashboard phone (en)").await;
    phone.screenshot("dashboard-phone-en").await;
    phone.goto(&app.url("/lang/fa?next=/dashboard/after-sales")).await;
    phone.check_console("dashboard phone (fa)").await;
    phone.check_accessible("dashboard phone (fa)").await;
    phone.screenshot("dashboard-phone-fa").await;
    phone.close().await;
    app.stop().await;
}
