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

/// A raw connection that sent part of a request line and then nothing more (slowloris).
async fn stalled_connection(app: &crate::helpers::TestApp, sent: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.expect("connect");
    stream.write_all(sent.as_bytes()).await.expect("write a partial request");
    stream
}

/// Reads until the server closes the connection (end of stream, or a reset), and returns what
/// came; panics if it is still open after a minute.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let mut received = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut buffer = [0; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server still holds the connection after 60 s; it sent {received:?}");
    received
}

#[tokio::test]
async fn a_client_too_slow_to_send_its_headers_is_disconnected() {
    let app = crate::helpers::spawn_app_with(|config| config.server.header_read_timeout_secs = 1).await;
    // Half a request line, and a connection that sends nothing at all.
    let mut slow = stalled_connection(&app, "GET /healthz HTTP/1.1\r\nHost: loc").await;
    let mut silent = stalled_connection(&app, "").await;
    let answered = read_until_closed(&mut slow).await;
    assert!(!String::from_utf8_lossy(&answered).contains("200 OK"), "no answer to half a request");
    read_until_closed(&mut silent).await;
    // The server goes on serving everyone else.
    expect_status(app.anonymous(Method::GET, "/healthz").send().await.expect("answered"), StatusCode::OK).await;
    app.stop().await;
}

#[tokio::test]
async fn a_kept_alive_connection_left_idle_is_closed() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.request_timeout_secs = 1;
        config.server.idle_timeout_secs = 2;
        config.server.header_read_timeout_secs = 600;
    })
    .await;
    let mut stream = stalled_connection(&app, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    // The answer comes, the connection stays open for the next request, then is closed idle.
    let received = String::from_utf8_lossy(&read_until_closed(&mut stream).await).into_owned();
    assert!(received.starts_with("HTTP/1.1 200 OK"), "{received}");
    assert!(!received.to_lowercase().contains("connection: close"), "kept alive at first: {received}");
    app.stop().await;
}

#[tokio::test]
async fn past_the_connection_limit_a_new_client_waits_for_a_free_slot() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.server.max_connections = 2;
        config.server.header_read_timeout_secs = 600;
        config.server.idle_timeout_secs = 600;
    })
    .await;
    let first = stalled_connection(&app, "GET /heal").await;
    let second = stalled_connection(&app, "GET /heal").await;
    let client = app.client.clone();
    let url = app.url("/healthz");
    let mut third = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    // Both slots are held: the third waits (in the listen backlog) ...
    let early = tokio::time::timeout(std::time::Duration::from_millis(1_500), &mut third).await;
    assert!(early.is_err(), "a third connection was served past a limit of two: {early:?}");
    // ... and is served as soon as one of them closes.
    drop(first);
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), third).await;
    let status = status.expect("served once a slot is free").expect("the request task").expect("answered");
    assert_eq!(status, StatusCode::OK);
    // A graceful stop waits for connections mid-request (here until the header timeout).
    drop(second);
    app.stop().await;
}

#[tokio::test]
async fn many_half_open_connections_past_the_limit_do_not_stop_service() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.server.max_connections = 4;
        config.server.header_read_timeout_secs = 1;
    })
    .await;
    let mut stalled = Vec::new();
    for _ in 0..20 {
        stalled.push(stalled_connection(&app, "GET /healthz HTTP/1.1\r\nX-a: b").await);
    }
    // The limit keeps them from taking every socket, the header timeout sheds them in turn.
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().expect("client");
    let response = client.get(app.url("/healthz")).send().await.expect("answered despite the stalled clients");
    expect_status(response, StatusCode::OK).await;
    drop(stalled);
    app.stop().await;
}
