//! Kill -9 during mail delivery: the real server binary sends receipts to a real SMTP server
//! (aiosmtpd) and is killed while it sends. After a restart on the same data folder every
//! acknowledged ticket's receipt arrives; a message sent twice (sent, then killed before it was
//! recorded) carries the same Message-ID both times, so a mail client shows it once.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use support::server::Server;
use support::smtp::SmtpSink;

/// Tickets opened before the kill.
const TICKETS: usize = 60;
/// Longest any wait lasts: generous for a loaded machine; a passing run returns as soon as the
/// condition holds.
const WAIT: Duration = Duration::from_secs(120);

fn settings(sink: &SmtpSink) -> Vec<(&'static str, String)> {
    vec![
        ("AFTERDESK_MAIL__PORT", sink.port().to_string()),
        ("AFTERDESK_MAIL__FROM", "Afterdesk <desk@afterdesk.test>".to_string()),
        // One at a time, so the kill lands in the middle of the queue.
        ("AFTERDESK_DELIVERY__CONCURRENCY", "1".to_string()),
        ("AFTERDESK_DELIVERY__FIRST_RETRY_MS", "100".to_string()),
        ("AFTERDESK_DELIVERY__MAX_RETRY_MS", "500".to_string()),
    ]
}

async fn open_tickets(client: &Client, base: &str, token: &str) -> Vec<String> {
    let mut numbers = Vec::new();
    for i in 0..TICKETS {
        let body = json!({
            "workflow": "after-sales",
            "subject": format!("Washer {i}"),
            "customer": { "name": format!("Customer {i}"), "email": format!("c{i}@example.org") },
        });
        let response =
            client.post(format!("{base}/v1/tickets")).bearer_auth(token).json(&body).send().await.expect("answer");
        assert_eq!(response.status(), StatusCode::CREATED);
        let ticket: Value = response.json().await.expect("JSON");
        numbers.push(ticket["number"].as_str().expect("number").to_string());
    }
    numbers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_in_flight_when_the_server_is_killed_arrives_after_the_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut sink = SmtpSink::start();
    let client = Client::builder().timeout(Duration::from_secs(60)).build().expect("client");

    // The mail server is down while the tickets are opened: every receipt waits in the outbox.
    sink.stop();
    let mut server = Server::start_with(&data, dir.path().join("first.log"), &settings(&sink));
    server.wait_healthy(&client).await;
    let token = std::fs::read_to_string(data.join("initial-admin-token")).expect("admin token").trim().to_string();
    let numbers = open_tickets(&client, &server.base, &token).await;

    // It comes back; the server sends one at a time and is killed after the first few.
    sink.restart();
    sink.wait_for(5, WAIT).await;
    server.child.lock().expect("lock").kill().expect("SIGKILL");
    drop(server);
    let before_restart = sink.messages().len();
    assert!(before_restart < TICKETS, "the kill came in the middle of delivery ({before_restart} sent)");

    let mut server = Server::start_with(&data, dir.path().join("second.log"), &settings(&sink));
    server.wait_healthy(&client).await;
    let deadline = Instant::now() + WAIT;
    let by_number = loop {
        let mails = sink.messages();
        let mut by_number: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for mail in &mails {
            let number = numbers.iter().find(|n| mail.subject.contains(&format!("[{n}]"))).cloned();
            if let (Some(number), Some(id)) = (number, mail.message_id.clone()) {
                by_number.entry(number).or_default().insert(id);
            }
        }
        if by_number.len() == TICKETS {
            break by_number;
        }
        assert!(Instant::now() < deadline, "after the restart only {} of {TICKETS} receipts arrived", by_number.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (number, ids) in &by_number {
        assert_eq!(ids.len(), 1, "{number}: one Message-ID, however often it was sent: {ids:?}");
    }
    let mails = sink.messages();
    assert!(mails.len() <= TICKETS + 1, "at most the message in flight at the kill is sent again: {}", mails.len());

    // Nothing is left pending or dead.
    let outbox: Value = client
        .get(format!("{}/v1/outbox?state=sent&limit=500", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(outbox["messages"].as_array().map(Vec::len), Some(TICKETS));
    drop(server);
}
