//! Webhooks against a local receiver: a signed JSON POST per subscribed event, retried through
//! the outbox when the receiver fails, and a delivery log readable through the API.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{expect_status, spawn_app_with};

#[derive(Clone, Default)]
struct Received {
    calls: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    fail_first: Arc<Mutex<usize>>,
}

/// A receiver on 127.0.0.1 that records calls and answers 500 to the first `fail_first`.
async fn receiver(fail_first: usize) -> (String, Received) {
    let received = Received { fail_first: Arc::new(Mutex::new(fail_first)), ..Received::default() };
    let state = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                state.calls.lock().expect("lock").push((headers, body));
                let mut left = state.fail_first.lock().expect("lock");
                if *left > 0 {
                    *left -= 1;
                    AxumStatus::INTERNAL_SERVER_ERROR
                } else {
                    AxumStatus::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/hook"), received)
}

fn workflow(url: &str) -> String {
    format!(
        r#"
id = "gateway"
name = "Messaging gateway desk"
ticket_prefix = "GW"

[roles]
agent = ["agent@example.com"]

[stages.work]
raci = {{ responsible = "agent" }}
transitions = [{{ name = "close", to = "closed" }}]

[stages.closed]
terminal = true

[webhooks.sms]
url = "{url}"
on = ["ticket_opened", "closed"]
secret = "SMS_SECRET"
"#
    )
}

#[tokio::test]
async fn webhook_calls_are_signed_retried_and_logged() {
    let (url, received) = receiver(1).await;
    let text = workflow(&url);
    let app = spawn_app_with(move |config| {
        config.delivery.first_retry_ms = 100;
        config.delivery.max_retry_ms = 200;
        config.secrets.insert("SMS_SECRET".into(), "s3cr3t-shared-with-the-gateway".into());
        std::fs::write(config.workflows.join("gateway.toml"), text).expect("write the workflow");
    })
    .await;
    let ticket = app
        .admin()
        .open(json!({ "workflow": "gateway", "subject": "SMS me", "customer": { "phone": "+989121234567" } }))
        .await;
    let number = ticket["number"].as_str().expect("number").to_string();

    // The first call fails (500) and is retried with the same delivery id and body.
    let mut calls = Vec::new();
    for _ in 0..200 {
        calls = received.calls.lock().expect("lock").clone();
        if calls.len() >= 2 {
            break;
        }
        app.advance(chrono::Duration::milliseconds(250));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(calls.len(), 2, "one failed call, one retry");
    let (headers, body) = &calls[1];
    assert_eq!(calls[0].1, *body, "a retry posts the same bytes");
    assert_eq!(calls[0].0["x-afterdesk-delivery"], headers["x-afterdesk-delivery"]);
    assert_eq!(headers["x-afterdesk-event"], "ticket_opened");
    assert_eq!(headers["content-type"], "application/json");

    // The receiver checks the signature with the shared secret.
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cr3t-shared-with-the-gateway").expect("key");
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-afterdesk-signature"].to_str().expect("ascii"), expected);
    let mut wrong = Hmac::<Sha256>::new_from_slice(b"another secret").expect("key");
    wrong.update(body);
    assert_ne!(format!("sha256={}", hex::encode(wrong.finalize().into_bytes())), expected);
    let payload: Value = serde_json::from_slice(body).expect("JSON");
    assert_eq!(payload["event"], "ticket_opened");
    assert_eq!(payload["ticket"]["number"], number);
    assert_eq!(payload["delivery"], headers["x-afterdesk-delivery"].to_str().expect("ascii"));

    // The delivery log: sent after 2 attempts, with the receiver's answer.
    let mut log = Value::Null;
    for _ in 0..100 {
        log = expect_status(app.admin().get("/v1/webhooks/gateway/sms/deliveries").await, StatusCode::OK).await;
        if log["messages"][0]["state"] == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let delivery = &log["messages"][0];
    assert_eq!(delivery["state"], "sent", "{log:#}");
    assert_eq!(delivery["attempts"], 2);
    assert_eq!(delivery["response"], "HTTP 204");
    assert_eq!(delivery["last_error"], "HTTP 500 from the receiver");
    assert_eq!(delivery["id"], headers["x-afterdesk-delivery"].to_str().expect("ascii"));

    // Events it does not listen to are not sent; those it does are.
    app.admin().command(&number, "comments", json!({ "body": "note", "public": false })).await;
    app.admin().transition(&number, "close").await;
    for _ in 0..200 {
        if received.calls.lock().expect("lock").len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let calls = received.calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[2].0["x-afterdesk-event"], "closed");
    let listed = expect_status(app.admin().get("/v1/webhooks").await, StatusCode::OK).await;
    assert!(listed.as_array().expect("list").iter().any(|w| w["id"] == "gateway/sms" && w["signed"] == true));
    let unknown = app.admin().get("/v1/webhooks/gateway/nope/deliveries").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
