//! `GET /v1/inbound`: the mail received, newest first, in pages; administrators only.

use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use reqwest::StatusCode;

use crate::helpers::{SUPPORT_ADDRESS, expect_problem, expect_status, spawn_app_with, with_receiver};

#[tokio::test]
async fn received_mail_is_listed_newest_first_in_pages_to_administrators_only() {
    let app = spawn_app_with(with_receiver).await;
    let smtp = app.smtp.expect("the receiver listens");
    let client = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").port(smtp.port()).build();
    let envelope =
        Envelope::new(Some("sam@example.net".parse().expect("from")), vec![SUPPORT_ADDRESS.parse().expect("to")])
            .expect("envelope");
    for n in 0..3 {
        let message = format!("Subject: number {n}\r\n\r\nhello");
        client.send_raw(&envelope, message.as_bytes()).await.expect("taken");
    }

    let first = expect_status(app.admin().get("/v1/inbound?limit=2").await, StatusCode::OK).await;
    let messages = first["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "{first}");
    assert!(messages[0]["id"].as_str() > messages[1]["id"].as_str(), "newest first: {first}");
    assert_eq!(messages[0]["source"]["via"], "smtp");
    // Pending, or already made into a ticket for the envelope sender (the message has no From).
    let state = messages[0]["outcome"]["state"].as_str();
    assert!(matches!(state, Some("pending" | "opened")), "{first}");
    assert_eq!(messages[0]["rcpt_to"][0], SUPPORT_ADDRESS);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second =
        expect_status(app.admin().get(&format!("/v1/inbound?limit=2&before={cursor}")).await, StatusCode::OK).await;
    assert_eq!(second["messages"].as_array().map(Vec::len), Some(1), "{second}");
    assert!(second["next_cursor"].is_null(), "the last page: {second}");

    let agent = app.agent("omid@example.com").await;
    expect_problem(agent.get("/v1/inbound").await, StatusCode::FORBIDDEN, "forbidden").await;
    let problem = expect_problem(
        app.admin().get("/v1/inbound?limit=0").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "limit");
    let problem = expect_problem(
        app.admin().get("/v1/inbound?before=x").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "before");
    app.stop().await;
}
