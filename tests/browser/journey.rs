//! The whole loop in one browser run, on a Persian workflow: a customer files the web request
//! form; nobody takes it in time, so the escalation mail goes to the agent; the agent, not
//! signed in, follows the mail's link, signs in through the one-time link and lands on that
//! ticket; they reply; the customer reads the reply on the status page from their mail.

use std::time::{Duration, Instant};

use fantoccini::Locator;

use crate::browser::Browser;
use crate::smtp::{Mail, SmtpSink};

/// A Persian hotline: 30 minutes to take a request, then the agent and manager are mailed.
const HOTLINE: &str = r#"
id = "hotline"
name = "پشتیبانی تلفنی"
ticket_prefix = "HL"
language = "fa"
calendar = "24x7"

[roles]
agent = ["agent@example.com"]
manager = ["manager@example.com"]

[stages.intake]
name = "پذیرش"
raci = { responsible = "agent", accountable = "manager", informed = ["customer"] }
transitions = [{ name = "close", to = "closed", label = "بستن" }]

[stages.intake.sla]
within = "30m"
escalate = [{ after = "0m", notify = ["manager", "responsible"] }]

[stages.closed]
name = "بسته"
terminal = true
"#;

const WAIT: Duration = Duration::from_secs(60);

/// The first mail to `to` whose text has `needle`, waiting for it.
async fn mail_to(sink: &SmtpSink, to: &str, needle: &str) -> Mail {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = sink
            .messages()
            .into_iter()
            .find(|m| m.envelope_to.iter().any(|t| t == to) && m.text.as_deref().is_some_and(|t| t.contains(needle)));
        if let Some(mail) = found {
            return mail;
        }
        assert!(Instant::now() < deadline, "no mail to {to} with {needle} within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first word of `text` that starts with `prefix`.
fn link(text: &str, prefix: &str) -> String {
    text.split_whitespace().find(|w| w.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix} in {text}")).to_string()
}

async fn type_into(browser: &Browser, css: &str, text: &str) {
    let field = browser.client().find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    field.send_keys(text).await.unwrap_or_else(|e| panic!("typing into {css}: {e}"));
}

async fn press(browser: &Browser, css: &str) {
    browser.press(css).await;
}

async fn wait_for(browser: &Browser, css: &str) -> String {
    let element = browser.client().wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    element.text().await.unwrap_or_default()
}

#[tokio::test]
async fn a_web_request_escalates_the_agent_follows_the_mail_signs_in_and_replies_and_the_customer_reads_it() {
    let sink = SmtpSink::start();
    let app = crate::signin::app_with_mail_and(&sink, Some(("hotline.toml", HOTLINE))).await;

    // The customer files the request: the page is in the workflow's language, right to left.
    let customer = Browser::start_phone().await;
    customer.goto(&app.url("/request/hotline")).await;
    let dir = customer.client().find(Locator::Css("html")).await.expect("html").attr("dir").await.expect("dir");
    assert_eq!(dir.as_deref(), Some("rtl"), "a Persian workflow's form is right to left");
    customer.check_page("journey-1-request-fa").await;
    type_into(&customer, "#name", "سارا رحیمی").await;
    type_into(&customer, "#email", "sara.customer@example.org").await;
    type_into(&customer, "#subject", "تلفن همراه روشن نمی‌شود").await;
    press(&customer, "form[action='/request/hotline'] button[type=submit]").await;
    let number = wait_for(&customer, "#ticket-number").await;
    assert!(number.starts_with("HL-"), "{number}");

    // Nobody takes it within 30 minutes: the escalation mail links to the ticket page.
    app.advance(chrono::Duration::minutes(40));
    app.fire_timers().await;
    let escalation = mail_to(&sink, "agent@example.com", &format!("/t/{number}")).await;
    let ticket_link = link(escalation.text.as_deref().unwrap_or_default(), &format!("{}/t/", app.address));

    // The agent, not signed in, follows it: sign-in first, then that very ticket.
    let agent = Browser::start().await;
    agent.goto(&ticket_link).await;
    agent.wait_for_path("sent to sign in", |path| path == "/sign-in").await;
    let landed = crate::signin::sign_in_here(&agent, &sink, "agent@example.com").await;
    assert_eq!(landed, format!("/t/{number}"), "the escalation's link leads to its ticket");
    let page = agent.client().source().await.expect("source");
    assert!(page.contains("dir=\"rtl\"") && page.contains(&number), "the ticket page, in Persian");
    agent.check_page("journey-2-ticket-fa").await;

    // The agent replies to the customer.
    type_into(&agent, "#comment-body", "سلام، لطفاً دکمهٔ روشن‌کردن را ده ثانیه نگه دارید.").await;
    press(&agent, "form[action$='/comments'] button[value=true]").await;
    wait_for(&agent, "p.notice.ok[role=status]").await;
    let after = agent.client().source().await.expect("source");
    assert!(after.contains("ده ثانیه"), "the reply is on the ticket");

    // The customer follows the status link of their mail and reads the reply.
    let received = mail_to(&sink, "sara.customer@example.org", "/status/").await;
    let status = link(received.text.as_deref().unwrap_or_default(), &format!("{}/status/", app.address));
    customer.goto(&status).await;
    assert_eq!(wait_for(&customer, "#ticket-number").await, number);
    let html = customer.client().source().await.expect("source");
    assert!(html.contains("ده ثانیه"), "the agent's reply on the status page");
    assert!(!html.contains("agent@example.com"), "no staff address on the customer's page");
    customer.check_page("journey-3-status-fa").await;

    agent.close().await;
    customer.close().await;
    app.stop().await;
}
