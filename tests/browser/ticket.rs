//! The ticket page in Debian's Chromium: an agent signs in through the link read from the real
//! SMTP sink and lands on the ticket, fills the request form and sees the guard message of
//! the transition change, ticks the checklist, takes the transition; the accountable approves.
//! Screenshots in English and Persian, a clean console and axe-core on every page shown.
//!
//! Signing in goes through the pages like a person: the staff link `/t/{number}` leads to
//! sign-in, the address is typed, the mailed link opened ([`crate::signin::sign_in`]).

use fantoccini::Locator;
use serde_json::json;

use crate::browser::Browser;
use crate::helpers::{TestApp, new_ticket};
use crate::signin::app_with_mail;
use crate::smtp::SmtpSink;

/// Signs `person` in from the ticket's link: not signed in, `/t/{number}` leads to sign-in;
/// after the mailed link the browser lands on the ticket.
async fn sign_in(browser: &Browser, app: &TestApp, sink: &SmtpSink, person: &str, path: &str) {
    browser.goto(&app.url(path)).await;
    let url = browser.client().current_url().await.expect("url");
    assert_eq!(url.path(), "/sign-in", "not signed in, the ticket link leads to sign-in: {url}");
    let landed = crate::signin::sign_in(browser, app, sink, person, path).await;
    assert_eq!(landed, path, "the sign-in lands on the ticket");
}

/// The page's HTML as a person reads it: names in sentences are isolated (FSI ... PDI).
async fn page_source(browser: &Browser) -> String {
    browser.client().source().await.expect("page source").replace(['\u{2068}', '\u{2069}'], "")
}

async fn click(browser: &Browser, css: &str) {
    browser.press(css).await;
}

async fn type_into(browser: &Browser, id: &str, text: &str) {
    let field = browser.client().find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("#{id}: {e}"));
    field.clear().await.expect("cleared");
    field.send_keys(text).await.expect("typed");
}

#[tokio::test]
async fn an_agent_works_a_ticket_and_the_accountable_approves() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let admin = app.admin();
    let ticket = admin.open(new_ticket("The washer does not spin", "customer@example.org")).await;
    let number = ticket["number"].as_str().expect("number").to_string();
    let path = format!("/t/{number}");

    let browser = Browser::start().await;
    sign_in(&browser, &app, &sink, "omid@example.com", &path).await;
    browser.check_page("ticket-en-intake").await;

    // The guard message before clicking: the transition is disabled with the engine's reasons.
    let source = page_source(&browser).await;
    assert!(source.contains("why-accept"), "accept shows what stands in its way");
    assert!(source.contains("“Product” is required and not filled in."));

    // Fill the form wrongly: the problem next to the field; then rightly.
    type_into(&browser, "f-request-product", "Washer W-9").await;
    type_into(&browser, "f-request-serial", "abc").await;
    type_into(&browser, "f-request-problem", "The drum does not turn at all.").await;
    click(&browser, "form[action$='/forms/request'] button[type=submit]").await;
    let source = page_source(&browser).await;
    assert!(source.contains("f-request-serial-problem"), "the serial's problem is shown inline");
    // Chromium logs the 422 answer itself as a failed load; nothing else may be logged.
    let logged: Vec<(String, String)> = browser.console().await;
    let errors: Vec<&(String, String)> =
        logged.iter().filter(|(level, message)| level == "SEVERE" && !message.contains("status of 422")).collect();
    assert!(errors.is_empty(), "the form page logs errors: {errors:#?}");
    browser.check_accessible("ticket-en-form-problem").await;
    browser.screenshot("ticket-en-form-problem").await;
    type_into(&browser, "f-request-serial", "AB12CD34").await;
    click(&browser, "form[action$='/forms/request'] button[type=submit]").await;
    let source = page_source(&browser).await;
    assert!(!source.contains("“Product” is required"), "the form's guard is met");
    assert!(source.contains("is not ticked"), "the checklist's guard still stands");

    // Tick the checklist, then take the transition.
    for _ in 0..2 {
        click(&browser, "form.tick button[aria-label^='Tick']").await;
    }
    let source = page_source(&browser).await;
    assert!(!source.contains("why-accept"), "nothing stands in the way any more");
    click(&browser, "form[action$='/transitions/accept'] button").await;
    let source = page_source(&browser).await;
    assert!(source.contains("Technical review"), "the ticket is in review");
    browser.check_page("ticket-en-review").await;
    browser.close().await;

    // A technician asks for approval of the cancellation; the service manager approves.
    admin.command(&number, "approvals", json!({"action": "request"})).await;
    let manager = Browser::start().await;
    sign_in(&manager, &app, &sink, "reza@example.com", &path).await;
    click(&manager, "button[value=approve]").await;
    let source = page_source(&manager).await;
    assert!(source.contains("Approved by"), "the approval is recorded");
    manager.check_page("ticket-en-approved").await;

    // The same page in Persian, right to left.
    manager.goto(&app.url(&format!("/lang/fa?next={path}"))).await;
    let source = page_source(&manager).await;
    assert!(source.contains("lang=\"fa\"") && source.contains("dir=\"rtl\""));
    manager.check_page("ticket-fa").await;
    manager.close().await;
}

#[tokio::test]
async fn the_ticket_page_reads_on_a_phone() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let ticket = app.admin().open(new_ticket("Display is dark", "customer@example.org")).await;
    let path = format!("/t/{}", ticket["number"].as_str().expect("number"));
    let phone = Browser::start_phone().await;
    sign_in(&phone, &app, &sink, "maryam@example.com", &path).await;
    // Nothing wider than the screen: the page scrolls only up and down.
    let wide = phone
        .client()
        .execute("return document.documentElement.scrollWidth <= window.innerWidth + 1;", vec![])
        .await
        .expect("script ran");
    assert_eq!(wide, json!(true), "the page fits 375 px");
    phone.check_page("ticket-en-phone").await;
    phone.goto(&app.url(&format!("/lang/fa?next={path}"))).await;
    phone.check_page("ticket-fa-phone").await;
    phone.close().await;
}
