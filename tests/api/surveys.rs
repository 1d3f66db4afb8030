//! The survey round trip: close → survey mail at the real SMTP server → follow the link (a GET
//! records nothing) → answer → the ticket and the customer show the score; the link works once.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, expect_status};
use crate::mail::app_with_mail;
use crate::smtp::SmtpSink;

const REPAIRS: &str = r#"
id = "repairs"
name = "Repairs"
ticket_prefix = "RP"

[roles]
agent = ["agent@example.com"]

[stages.work]
raci = { responsible = "agent" }
transitions = [{ name = "close", to = "closed" }]

[stages.closed]
terminal = true

[survey]
questions = ["csat", "nps", "ces", "comment"]
expires_after = "14d"
"#;

async fn closed_ticket_with_survey(app: &TestApp, sink: &SmtpSink) -> (serde_json::Value, String) {
    let customer = json!({ "name": "Sara", "email": "sara.k@example.org" });
    let ticket = app.admin().open(json!({ "workflow": "repairs", "subject": "Kettle", "customer": customer })).await;
    let number = ticket["number"].as_str().expect("number").to_string();
    app.admin().transition(&number, "close").await;
    let mails = sink.wait_for(1, crate::mail::WAIT).await;
    let mail = &mails[0];
    assert_eq!(mail.envelope_to, ["sara.k@example.org"]);
    assert!(mail.subject.contains(&number), "{}", mail.subject);
    let text = mail.text.clone().expect("text");
    let link = text
        .split_whitespace()
        .find(|word| word.starts_with(&format!("{}/survey/", app.address)))
        .unwrap_or_else(|| panic!("a survey link in {text}"))
        .to_string();
    (ticket, link)
}

#[tokio::test]
async fn a_survey_is_answered_once_through_the_link_in_its_mail() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, Some(REPAIRS), 5).await;
    let (ticket, link) = closed_ticket_with_survey(&app, &sink).await;
    let number = ticket["number"].as_str().expect("number");

    // Following the link shows the form and records nothing (mail scanners follow links).
    for _ in 0..2 {
        let page = app.client.get(&link).send().await.expect("GET");
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.headers()["content-type"].to_str().is_ok_and(|c| c.starts_with("text/html")));
        let html = page.text().await.expect("body");
        assert!(html.contains("<form method=\"post\">") && html.contains("name=\"csat\""), "{html}");
        assert!(html.contains(number));
    }
    let before = app.admin().ticket(number).await;
    assert_eq!(before["surveys"], json!([]), "a GET recorded nothing");

    // Submitting the form records the answer on the ticket and in the customer's record.
    let form = [("csat", "5"), ("nps", "9"), ("ces", "6"), ("comment", "خیلی سریع بود، ممنون")];
    let answer = app.client.post(&link).form(&form).send().await.expect("POST");
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.text().await.expect("body").contains("Thank you"));
    let after = app.admin().ticket(number).await;
    let survey = &after["surveys"][0];
    assert_eq!((survey["csat"].as_u64(), survey["nps"].as_u64(), survey["ces"].as_u64()), (Some(5), Some(9), Some(6)));
    assert_eq!(survey["comment"], "خیلی سریع بود، ممنون");
    let events = expect_status(app.admin().get(&format!("/v1/tickets/{number}/events")).await, StatusCode::OK).await;
    let answered = events["items"].as_array().expect("events").iter().find(|e| e["kind"] == "survey_answered");
    let answered = answered.unwrap_or_else(|| panic!("a survey_answered event in {events:#}"));
    assert_eq!(answered["actor"]["kind"], "customer");
    let customer_id = ticket["customer"].as_str().expect("customer id");
    let customer = expect_status(app.admin().get(&format!("/v1/customers/{customer_id}")).await, StatusCode::OK).await;
    assert_eq!(customer["satisfaction"]["last_csat"], 5, "{customer:#}");
    assert_eq!(customer["satisfaction"]["answers"], 1);

    // The link works once.
    let again = app.client.post(&link).form(&form).send().await.expect("POST");
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let page = app.client.get(&link).send().await.expect("GET").text().await.expect("body");
    assert!(page.contains("already answered") && !page.contains("<form"), "{page}");
    assert_eq!(app.admin().ticket(number).await["surveys"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}

#[tokio::test]
async fn forged_expired_and_bad_answers_are_refused() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, Some(REPAIRS), 5).await;
    let (ticket, link) = closed_ticket_with_survey(&app, &sink).await;
    let number = ticket["number"].as_str().expect("number");

    // An altered token is not ours.
    let forged = format!("{}0", &link[..link.len() - 1]);
    let forged = if forged == link { format!("{}1", &link[..link.len() - 1]) } else { forged };
    assert_eq!(app.client.get(&forged).send().await.expect("GET").status(), StatusCode::NOT_FOUND);
    let response = app.client.post(&forged).form(&[("csat", "1")]).send().await.expect("POST");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Out of range: the form again, with what to fix; nothing recorded.
    let response = app.client.post(&link).form(&[("csat", "9")]).send().await.expect("POST");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.expect("body").contains("must be from 1 to 5"));

    // Integrations record answers taken by phone through the API; agents may not.
    let agent = app.agent("agent@example.com").await;
    let body = json!({ "survey": "phone-1", "csat": 4 });
    let refused = agent.request(Method::POST, &format!("/v1/tickets/{number}/survey")).json(&body).send().await;
    assert_eq!(refused.expect("answered").status(), StatusCode::FORBIDDEN);
    let gateway = app.integrator("sms-gateway").await;
    expect_status(gateway.post(&format!("/v1/tickets/{number}/survey"), body).await, StatusCode::OK).await;

    // Fifteen days on, the link has expired.
    app.advance(chrono::Duration::days(15));
    assert_eq!(app.client.get(&link).send().await.expect("GET").status(), StatusCode::GONE);
    assert_eq!(app.admin().ticket(number).await["surveys"].as_array().map(Vec::len), Some(1), "only the phone answer");
    app.stop().await;
}
