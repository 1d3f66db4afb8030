//! Signing in to the pages in a real browser: the sign-in page, the link from the mail, the
//! session, signing out; in English and Persian.

use std::time::Duration;

use fantoccini::Locator;

use crate::browser::Browser;
use crate::helpers::{TestApp, spawn_app_with};
use crate::pages::sign_in_link;
use crate::smtp::SmtpSink;

/// The server with mail going to `sink`.
pub async fn app_with_mail(sink: &SmtpSink) -> TestApp {
    app_with_mail_and(sink, None).await
}

/// The server with mail going to `sink`, and `workflow` (file name, text) added to the
/// bundled ones.
pub async fn app_with_mail_and(sink: &SmtpSink, workflow: Option<(&str, &str)>) -> TestApp {
    let port = sink.port();
    let workflow = workflow.map(|(name, text)| (name.to_string(), text.to_string()));
    spawn_app_with(move |config| {
        config.mail.disabled = false;
        config.mail.port = port;
        config.mail.from = "Afterdesk <desk@afterdesk.test>".into();
        config.delivery.first_retry_ms = 100;
        config.delivery.max_retry_ms = 200;
        if let Some((name, text)) = workflow {
            std::fs::write(config.workflows.join(name), text).expect("write the workflow");
        }
    })
    .await
}

/// Signs `person` in through the browser: the sign-in page, the mail's link, its button.
/// Returns the page the browser landed on.
pub async fn sign_in(browser: &Browser, app: &TestApp, sink: &SmtpSink, person: &str, next: &str) -> String {
    let query = serde_urlencoded::to_string([("next", next)]).expect("query");
    browser.goto(&app.url(&format!("/sign-in?{query}"))).await;
    sign_in_here(browser, sink, person).await
}

/// Signs `person` in from the sign-in page the browser is on (where a page sent them): the
/// address, the mail's link, its button. Returns the page the browser landed on.
pub async fn sign_in_here(browser: &Browser, sink: &SmtpSink, person: &str) -> String {
    let before = sink.messages().len();
    let client = browser.client();
    client.find(Locator::Id("email")).await.expect("the address field").send_keys(person).await.expect("type");
    browser.press("form[action='/sign-in'] button").await;
    client.wait().for_element(Locator::Css("p[role=status]")).await.expect("the mail-sent page");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let link = loop {
        let mails = sink.messages();
        let found = mails
            .iter()
            .skip(before)
            .filter(|m| m.to.iter().any(|to| to == person))
            .find_map(|m| sign_in_link(m.text.as_deref()?));
        if let Some(link) = found {
            break link;
        }
        assert!(std::time::Instant::now() < deadline, "no sign-in mail to {person}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    browser.goto(&link).await;
    browser.press("#confirm-sign-in").await;
    browser.wait_for_path("signed in", |path| !path.starts_with("/sign-in")).await
}

#[tokio::test]
async fn an_agent_signs_in_by_the_mailed_link_and_out_again() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let browser = Browser::start().await;

    browser.goto(&app.url("/sign-in")).await;
    browser.screenshot("signin-en").await;
    browser.check_console("sign-in page").await;
    browser.check_accessible("sign-in page").await;

    // In Persian: the switch keeps the choice, and the page is right to left.
    browser.client().find(Locator::Css("a[hreflang=fa]")).await.expect("the switch").click().await.expect("click");
    let dir = browser.client().find(Locator::Css("html")).await.expect("html").attr("dir").await.expect("dir");
    assert_eq!(dir.as_deref(), Some("rtl"));
    browser.screenshot("signin-fa").await;
    browser.check_accessible("sign-in page in Persian").await;
    browser.client().find(Locator::Css("a[hreflang=en]")).await.expect("the switch").click().await.expect("click");

    let landed = sign_in(&browser, &app, &sink, "ali@example.com", "/work").await;
    assert_eq!(landed, "/work");
    browser.check_console("after signing in").await;

    // The link worked once: opening it again says so.
    let mails = sink.messages();
    let link = sign_in_link(mails.last().and_then(|m| m.text.as_deref()).unwrap_or_default()).expect("link");
    browser.goto(&link).await;
    let heading = browser.client().find(Locator::Css("h1")).await.expect("h1").text().await.expect("text");
    assert_eq!(heading, "This link no longer works");

    // Signing out ends the session: a page then asks to sign in.
    browser.goto(&app.url("/work")).await;
    browser
        .client()
        .find(Locator::Css("form[action='/sign-out'] button"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("click");
    browser.wait_for_path("signed out", |path| path == "/sign-in").await;
    browser.goto(&app.url("/work")).await;
    assert_eq!(browser.client().current_url().await.expect("url").path(), "/sign-in");
    browser.close().await;
}
