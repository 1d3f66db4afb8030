//! Mail in the reader's language, through the real SMTP sink: a Persian workflow's customer
//! mail is Persian with a Solar Hijri date; a customer who reads Arabic gets Arabic mail from
//! an English workflow while its staff get English; the customer's language is part of the
//! record, its input and its trail.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_fields, expect_problem, expect_status};
use crate::mail::{WAIT, app_with_mail};
use crate::smtp::{Mail, SmtpSink};

/// A Persian repair desk in Tehran whose staff hear of every new ticket.
const PERSIAN_DESK: &str = r#"
id = "tehran-repairs"
name = "تعمیرات تهران"
ticket_prefix = "TR"
language = "fa"
calendar = "office"

[calendars.office]
timezone = "Asia/Tehran"
hours = { sat-wed = "08:00-17:00", thu = "08:00-13:00" }

[roles]
agent = ["maryam@example.com"]

[stages.intake]
name = "پذیرش"
raci = { responsible = "agent" }
transitions = [{ name = "close", to = "closed" }]

[stages.closed]
terminal = true

[[notifications]]
on = "ticket_opened"
notify = ["customer", "responsible"]
"#;

/// The same desk in English, in Berlin.
const ENGLISH_DESK: &str = r#"
id = "berlin-repairs"
name = "Berlin repairs"
ticket_prefix = "BR"
calendar = "office"

[calendars.office]
timezone = "Europe/Berlin"
hours = { mon-fri = "08:00-17:00" }

[roles]
agent = ["jonas@example.com"]

[stages.intake]
name = "Intake"
raci = { responsible = "agent" }
transitions = [{ name = "close", to = "closed" }]

[stages.closed]
terminal = true

[[notifications]]
on = "ticket_opened"
notify = ["customer", "responsible"]
"#;

/// The mail that went to `address`, among `mails`.
fn to<'a>(mails: &'a [Mail], address: &str) -> &'a Mail {
    mails.iter().find(|mail| mail.envelope_to.iter().any(|to| to == address)).unwrap_or_else(|| {
        panic!("no mail to {address}: {:#?}", mails.iter().map(|m| &m.envelope_to).collect::<Vec<_>>())
    })
}

#[tokio::test]
async fn a_persian_workflow_sends_persian_mail_with_a_solar_hijri_date() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, Some(PERSIAN_DESK), 5).await;
    // The test clock starts at 2026-11-23 05:30 UTC: 09:00 in Tehran on 2 Azar 1405.
    let body = json!({
        "workflow": "tehran-repairs", "subject": "یخچال خنک نمی‌کند",
        "customer": { "name": "سارا رحیمی", "email": "sara@example.ir" },
    });
    let ticket = app.admin().open(body).await;
    let number = ticket["number"].as_str().expect("a number");
    let mails = sink.wait_for(2, WAIT).await;
    let customer = to(&mails, "sara@example.ir");
    assert_eq!(customer.subject, format!("[{number}] درخواست شما دریافت شد: یخچال خنک نمی‌کند"));
    let text = customer.text.as_deref().expect("a text part");
    assert!(text.starts_with("سلام سارا رحیمی،"), "{text}");
    assert!(text.contains("۲ آذر ۱۴۰۵، ۹:۰۰ (Asia/Tehran)"), "a Solar Hijri date in Persian digits: {text}");
    let html = customer.html.as_deref().expect("an HTML part");
    assert!(html.contains(r#"<html lang="fa" dir="rtl">"#), "{html}");
    assert!(html.contains("۲ آذر ۱۴۰۵"), "{html}");
    // The staff of a Persian workflow read Persian too.
    let staff = to(&mails, "maryam@example.com");
    assert_eq!(staff.subject, format!("[{number}] درخواست تازه: یخچال خنک نمی‌کند"));
    assert!(staff.text.as_deref().is_some_and(|t| t.contains("در مرحلهٔ «پذیرش»")), "{:?}", staff.text);
    app.stop().await;
}

#[tokio::test]
async fn a_customer_who_reads_arabic_gets_arabic_mail_and_the_staff_english() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, Some(ENGLISH_DESK), 5).await;
    let body = json!({
        "workflow": "berlin-repairs", "subject": "Washer leaks",
        "customer": { "name": "Huda", "email": "huda@example.com", "language": "ar" },
    });
    let ticket = app.admin().open(body).await;
    let number = ticket["number"].as_str().expect("a number");
    let mails = sink.wait_for(2, WAIT).await;
    let customer = to(&mails, "huda@example.com");
    assert_eq!(customer.subject, format!("[{number}] تلقّينا طلبك: Washer leaks"));
    let text = customer.text.as_deref().expect("a text part");
    assert!(text.starts_with("مرحبًا Huda،"), "{text}");
    // 05:30 UTC is 06:30 in Berlin (winter time), in the Gregorian calendar with Arabic months.
    assert!(text.contains("23 نوفمبر 2026 في 06:30 (Europe/Berlin)"), "{text}");
    assert!(customer.html.as_deref().is_some_and(|h| h.contains(r#"<html lang="ar" dir="rtl">"#)));
    let staff = to(&mails, "jonas@example.com");
    assert_eq!(staff.subject, format!("[{number}] New ticket: Washer leaks"));
    assert!(staff.text.as_deref().is_some_and(|t| t.starts_with("New ticket")), "{:?}", staff.text);
    assert!(staff.html.as_deref().is_some_and(|h| h.contains(r#"<html lang="en" dir="ltr">"#)));

    // The customer's language is on their record, and saving it again changes it, in the trail.
    let id = ticket["customer"].as_str().expect("the customer's id");
    let record = expect_status(app.admin().get(&format!("/v1/customers/{id}")).await, StatusCode::OK).await;
    assert_eq!(record["language"], "ar");
    let saved = app.admin().post("/v1/customers", json!({ "id": id, "language": "fa" })).await;
    assert_eq!(expect_status(saved, StatusCode::OK).await["language"], "fa");
    let trail = expect_status(app.admin().get(&format!("/v1/customers/{id}/events")).await, StatusCode::OK).await;
    let changed = trail.to_string();
    assert!(changed.contains(r#""field":"language""#) && changed.contains(r#""new":"fa""#), "{trail:#}");
    app.stop().await;
}

#[tokio::test]
async fn a_language_afterdesk_has_no_texts_in_is_refused() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, Some(ENGLISH_DESK), 5).await;
    let body = json!({
        "workflow": "berlin-repairs", "subject": "Washer leaks",
        "customer": { "email": "klaus@example.com", "language": "de" },
    });
    let response = app.admin().post("/v1/tickets", body).await;
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert!(problem.to_string().contains("`en`, `fa`, `ar`"), "the allowed values: {problem:#}");
    assert!(!error_fields(&problem).is_empty(), "{problem:#}");
    app.stop().await;
}

#[test]
fn validate_names_the_allowed_languages() {
    let dir = tempfile::tempdir().expect("a folder");
    let file = dir.path().join("desk.toml");
    // Line 5 of the file says which language.
    std::fs::write(&file, ENGLISH_DESK.replace("calendar = \"office\"\n", "language = \"de\"\n")).expect("write");
    let problems = match afterdesk::workflow::load_file(&file) {
        Ok(_) => panic!("a workflow in German loaded"),
        Err(problems) => problems,
    };
    let language = problems.iter().find(|p| p.message.contains("`de`")).expect("a problem naming `de`");
    assert_eq!(language.line, 5, "{language:?}");
    assert_eq!(language.hint.as_deref(), Some("allowed values: en, fa, ar"), "{language:?}");
}

#[tokio::test]
async fn the_api_document_has_the_customers_language() {
    let app = crate::helpers::spawn_app().await;
    let response = app.anonymous(reqwest::Method::GET, "/openapi.json").send().await.expect("answered");
    let openapi = expect_status(response, StatusCode::OK).await;
    for schema in ["Customer", "CustomerInput"] {
        let language = &openapi["components"]["schemas"][schema]["properties"]["language"];
        assert!(language.is_object(), "{schema} has a language: {:#}", openapi["components"]["schemas"][schema]);
    }
    app.stop().await;
}
