//! A customer in a real browser (Chromium through chromedriver): files the web request form at
//! phone width, follows the status link from the mail the real SMTP sink received, and replies;
//! the same pages in Persian. Each page is screenshotted, its console must stay clean and axe
//! must find nothing serious.
//!
//! Assumes the browser binary's `main.rs` declares `helpers` (tests/api/helpers.rs), `smtp`
//! (tests/support/smtp.rs) and `browser` (tests/support/browser.rs).

use std::time::Duration;

use fantoccini::Locator;

use crate::browser::Browser;
use crate::helpers::TestApp;
use crate::signin::app_with_mail;
use crate::smtp::SmtpSink;

/// Longest a wait for mail lasts.
const WAIT: Duration = Duration::from_secs(60);

async fn fill(browser: &Browser, css: &str, text: &str) {
    let field = browser.client().find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    field.send_keys(text).await.unwrap_or_else(|e| panic!("typing into {css}: {e}"));
}

async fn click(browser: &Browser, css: &str) {
    browser.press(css).await;
}

async fn text_of(browser: &Browser, css: &str) -> String {
    let element = browser.client().find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    element.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}"))
}

/// Waits for `css` to be on the page (after a form was sent, the next page loads).
async fn wait_for(browser: &Browser, css: &str) {
    browser.client().wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("waiting for {css}: {e}"));
}

async fn page_source(browser: &Browser) -> String {
    browser.client().source().await.expect("the page's source")
}

/// The status link in the mail to `to`.
async fn status_link(app: &TestApp, sink: &SmtpSink, to: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(mail) = sink.messages().iter().find(|m| m.envelope_to.iter().any(|t| t == to)) {
            let text = mail.text.clone().expect("a text part");
            return text
                .split_whitespace()
                .find(|word| word.starts_with(&format!("{}/status/", app.address)))
                .unwrap_or_else(|| panic!("a status link in {text}"))
                .to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no mail to {to} within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Files the request form in `lang`, follows the mail's status link, replies.
async fn customer_round_trip(lang: &str, email: &str) {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let browser = Browser::start_phone().await;
    browser.goto(&app.url(&format!("/lang/{lang}?next=/request/after-sales"))).await;
    browser.check_console(&format!("request form ({lang})")).await;
    browser.check_accessible(&format!("request form ({lang})")).await;
    browser.screenshot(&format!("customer-request-{lang}")).await;

    fill(&browser, "#name", "Sam Rahimi").await;
    fill(&browser, "#email", email).await;
    fill(&browser, "#subject", "Washer stops mid-cycle").await;
    fill(&browser, "#f-request-product", "Washer W-9").await;
    fill(&browser, "#f-request-problem", "The drum stops turning mid-cycle.").await;
    click(&browser, "form[action='/request/after-sales'] button[type=submit]").await;
    wait_for(&browser, "#ticket-number").await;

    let number = text_of(&browser, "#ticket-number").await;
    assert!(number.starts_with("AS-"), "a ticket number on the confirmation: {number}");
    browser.check_console(&format!("confirmation ({lang})")).await;
    browser.check_accessible(&format!("confirmation ({lang})")).await;
    browser.screenshot(&format!("customer-confirmation-{lang}")).await;

    let link = status_link(&app, &sink, email).await;
    browser.goto(&link).await;
    assert_eq!(text_of(&browser, "#ticket-number").await, number);
    browser.check_console(&format!("status page ({lang})")).await;
    browser.check_accessible(&format!("status page ({lang})")).await;
    browser.screenshot(&format!("customer-status-{lang}")).await;

    fill(&browser, "#body", "The leak is under the door.").await;
    click(&browser, "#send-reply").await;
    wait_for(&browser, "#notice").await;
    let html = page_source(&browser).await;
    assert!(html.contains("id=\"notice\"") && html.contains("The leak is under the door."), "{html}");
    browser.check_console(&format!("status page after a reply ({lang})")).await;
    browser.check_accessible(&format!("status page after a reply ({lang})")).await;
    browser.screenshot(&format!("customer-status-replied-{lang}")).await;
    let events = app.admin().get(&format!("/v1/tickets/{number}/events")).await;
    let events: serde_json::Value = events.json().await.expect("events");
    assert!(
        events["items"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["kind"] == "customer_replied" && e["actor"]["kind"] == "customer"),
        "the reply is the customer's: {events:#}"
    );

    // Last, a form sent without a subject: the problem next to its field. (Chromium logs the
    // 422 answer as a console error, so nothing checks the console after this.)
    browser.goto(&app.url("/request/after-sales")).await;
    fill(&browser, "#email", email).await;
    click(&browser, "form[action='/request/after-sales'] button[type=submit]").await;
    wait_for(&browser, "#subject-problem").await;
    let field = browser.client().find(Locator::Id("subject")).await.expect("the subject field");
    assert_eq!(field.attr("aria-invalid").await.expect("attr").as_deref(), Some("true"));
    browser.check_accessible(&format!("request form with problems ({lang})")).await;
    browser.screenshot(&format!("customer-request-problems-{lang}")).await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_customer_files_a_request_follows_the_status_link_and_replies_in_english() {
    customer_round_trip("en", "sam@example.org").await;
}

#[tokio::test]
async fn a_customer_files_a_request_follows_the_status_link_and_replies_in_persian() {
    customer_round_trip("fa", "sam.fa@example.org").await;
}
