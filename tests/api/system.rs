//! Service routes: `/healthz`, `/metrics`, `/docs`, `/v1/me`, request ids, graceful stop.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{expect_status, header, new_ticket, spawn_app};

#[tokio::test]
async fn health_needs_no_token_and_counts_the_workflows() {
    let app = spawn_app().await;
    let response = app.anonymous(Method::GET, "/healthz").send().await.expect("answered");
    assert!(header(&response, "x-request-id").is_some_and(|id| !id.is_empty()), "every answer has a request id");
    let health = expect_status(response, StatusCode::OK).await;
    assert_eq!(health, json!({"status": "ok", "workflows": 1}));
    // A request id the caller sends comes back.
    let response =
        app.anonymous(Method::GET, "/healthz").header("x-request-id", "trace-me-42").send().await.expect("answered");
    assert_eq!(header(&response, "x-request-id").as_deref(), Some("trace-me-42"));
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_prometheus_text_about_requests_and_commands() {
    let app = spawn_app().await;
    let admin = app.admin();
    admin.open(new_ticket("Fridge", "sam@example.com")).await;
    admin.command("AS-1", "comments", json!({"body": "note"})).await;
    let _ = admin.get("/v1/tickets/AS-404").await;

    let response = app.anonymous(Method::GET, "/metrics").send().await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").is_some_and(|t| t.starts_with("text/plain")), "{response:?}");
    let text = response.text().await.expect("text");
    for expected in [
        "# TYPE afterdesk_http_requests_total counter",
        "afterdesk_http_requests_total{method=\"POST\",route=\"/v1/tickets\",status=\"201\"}",
        "afterdesk_http_requests_total{method=\"GET\",route=\"/v1/tickets/{id}\",status=\"404\"}",
        "afterdesk_http_request_duration_seconds_bucket{",
        "afterdesk_commands_total{command=\"comment\",outcome=\"ok\"}",
        "afterdesk_tickets_opened_total",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
    // Every sample line is `name{labels} value` with a number.
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let value = line.rsplit(' ').next().expect("a value");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    app.stop().await;
}

#[tokio::test]
async fn docs_are_an_html_page_on_the_openapi_document() {
    let app = spawn_app().await;
    let response = app.anonymous(Method::GET, "/docs").send().await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").is_some_and(|t| t.starts_with("text/html")), "{response:?}");
    let html = response.text().await.expect("text");
    assert!(html.to_lowercase().contains("<html") || html.to_lowercase().contains("<!doctype html"), "{html}");
    assert!(html.contains("Afterdesk API"), "the page carries the API document");
    app.stop().await;
}

#[tokio::test]
async fn me_tells_the_caller_who_they_are() {
    let app = spawn_app().await;
    let admin = expect_status(app.admin().get("/v1/me").await, StatusCode::OK).await;
    assert_eq!(admin["person"], "admin");
    assert_eq!(admin["role"], "admin");
    assert_eq!(admin["created_at"], "2026-11-23T05:30:00Z");
    assert!(admin["id"].as_str().is_some_and(|id| id.len() == 12), "{admin}");
    let web = app.integrator("web-form").await;
    let me = expect_status(web.get("/v1/me").await, StatusCode::OK).await;
    assert_eq!(me["person"], "web-form");
    assert_eq!(me["role"], "integrator");
    app.stop().await;
}

#[tokio::test]
async fn the_initial_admin_token_is_saved_in_the_data_folder_and_data_survives_a_restart() {
    let app = spawn_app().await;
    let saved = std::fs::read_to_string(app.root.path().join("data/initial-admin-token")).expect("token file");
    assert_eq!(saved.trim(), app.admin_token);
    app.admin().open(new_ticket("Fridge", "sam@example.com")).await;
    let TestParts { root, admin_token } = stop_keeping_data(app).await;

    // Same data folder: no new admin token, the old one works, the ticket is there.
    let config = afterdesk::config::Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data: root.path().join("data"),
        workflows: root.path().join("workflows"),
        ..afterdesk::config::Config::default()
    };
    let clock = afterdesk::clock::ManualClock::new(crate::helpers::start_time());
    let server = afterdesk::app::Application::build_with_clock(&config, std::sync::Arc::new(clock))
        .await
        .expect("the server starts again");
    assert!(server.initial_admin_token.is_none(), "tokens exist: no new admin token");
    let port = server.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://127.0.0.1:{port}/v1/tickets/AS-1"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("answered");
    let ticket = expect_status(response, StatusCode::OK).await;
    assert_eq!(ticket["subject"], "Fridge");
    drop(client);
    let _ = stop.send(());
    handle.await.expect("server task").expect("clean stop");
}

struct TestParts {
    root: tempfile::TempDir,
    admin_token: String,
}

/// Stops the server and keeps its folder.
async fn stop_keeping_data(mut app: crate::helpers::TestApp) -> TestParts {
    let root = std::mem::replace(&mut app.root, tempfile::tempdir().expect("temporary folder"));
    let admin_token = app.admin_token.clone();
    app.stop().await;
    TestParts { root, admin_token }
}
