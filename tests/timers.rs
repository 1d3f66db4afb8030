//! Every armed timer fires, once, never before its due instant: through the real server with
//! the real clock (a burst of tickets with second-long clocks, due at arbitrary nanoseconds),
//! after downtime (each ticket's overdue timers in due order), and as a property over random
//! due instants and wake-up times on a manual clock.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use afterdesk::app::Application;
use afterdesk::clock::{Clock, ManualClock};
use afterdesk::config::Config;
use afterdesk::engine::{Change, CustomerInput, Event, OpenTicket, Ticket};
use afterdesk::scheduler::Scheduler;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use support::Desk;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workflows/timers")
}

/// The SLA alerts of a log, in order: `warned first_response`, `breached resolution`,
/// `escalated resolution 2`, ...
fn alerts(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.change {
            Change::SlaWarned { clock, .. } => Some(format!("warned {clock}")),
            Change::SlaBreached { clock } => Some(format!("breached {clock}")),
            Change::SlaEscalated { clock, level, .. } => Some(format!("escalated {clock} {level}")),
            _ => None,
        })
        .collect()
}

/// What every ticket of the fixture records once all its timers fired, in this order.
fn all_alerts() -> Vec<String> {
    [
        "warned first_response",
        "breached first_response",
        "warned resolution",
        "breached resolution",
        "escalated resolution 1",
        "escalated resolution 2",
    ]
    .map(String::from)
    .to_vec()
}

fn request(n: usize) -> OpenTicket {
    OpenTicket {
        workflow: "timers".into(),
        subject: format!("Request {n}"),
        customer: CustomerInput { email: Some(format!("c{n}@example.com")), ..CustomerInput::default() },
        ..OpenTicket::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_second_long_clocks_through_the_real_server_and_clock_fires_every_alert_once() {
    const TICKETS: usize = 300;
    let root = tempfile::tempdir().expect("temporary folder");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data: root.path().join("data"),
        workflows: fixture(),
        cache_mb: 16,
        ..Config::default()
    };
    let mut config = config;
    config.mail.disabled = true;
    let app = Application::build(&config).await.expect("the server starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let token = app.initial_admin_token.clone().expect("an initial admin token");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");

    // A burst: 300 tickets opened by 30 clients at once, each due at its own nanosecond.
    let mut opening = tokio::task::JoinSet::new();
    for worker in 0..30 {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        opening.spawn(async move {
            let mut numbers = Vec::new();
            for n in (worker..TICKETS).step_by(30) {
                let body = json!({"workflow": "timers", "subject": format!("Request {n}"),
                                  "customer": {"email": format!("c{n}@example.com")}});
                let response = client
                    .post(format!("{base}/v1/tickets"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("open");
                assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
                let ticket: Value = response.json().await.expect("json");
                numbers.push(ticket["number"].as_str().expect("number").to_string());
            }
            numbers
        });
    }
    let mut numbers = Vec::new();
    while let Some(done) = opening.join_next().await {
        numbers.extend(done.expect("an opening client"));
    }
    assert_eq!(numbers.len(), TICKETS);

    // Every ticket's clocks run out within seconds; wait (generously, for a loaded machine)
    // until each has every alert, then a little longer so a second firing would show.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut pending = numbers.clone();
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} of {TICKETS} tickets still miss alerts, e.g. {}",
            pending.len(),
            pending[0]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut still = Vec::new();
        for number in pending {
            if server_alerts(&client, &base, &token, &number).await.len() < all_alerts().len() {
                still.push(number);
            }
        }
        pending = still;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for number in &numbers {
        assert_eq!(server_alerts(&client, &base, &token, number).await, all_alerts(), "alerts of {number}");
    }
    let _ = stop_tx.send(());
    server.await.expect("server task").expect("server stops cleanly");
}

async fn server_alerts(client: &reqwest::Client, base: &str, token: &str, number: &str) -> Vec<String> {
    let url = format!("{base}/v1/tickets/{number}/events?limit=1000");
    let page: Value = client.get(url).bearer_auth(token).send().await.expect("events").json().await.expect("json");
    let items = page["items"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .filter_map(|e| {
            let clock = e["change"]["clock"].as_str().or_else(|| e["clock"].as_str()).unwrap_or_default().to_string();
            match e["kind"].as_str()? {
                "sla_warned" => Some(format!("warned {clock}")),
                "sla_breached" => Some(format!("breached {clock}")),
                "sla_escalated" => {
                    let level = e["change"]["level"].as_u64().or_else(|| e["level"].as_u64()).unwrap_or_default();
                    Some(format!("escalated {clock} {level}"))
                }
                _ => None,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_downtime_each_tickets_overdue_timers_fire_in_due_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = DateTime::parse_from_rfc3339("2026-11-23T08:00:00.000123456Z").expect("time").to_utc();
    let clock = ManualClock::new(start);
    let desk = Desk::start(&dir.path().join("data"), &fixture(), clock.clone());
    let mut tickets = Vec::new();
    for n in 0..200 {
        clock.advance(chrono::Duration::nanoseconds(7_919 * n as i64 + 1));
        tickets.push(desk.open(request(n)).await.expect("open").ticket);
    }
    // The server was down while every timer came due: on its return, one tick handles them.
    clock.advance(chrono::Duration::minutes(10));
    let scheduler = Scheduler::new(desk.store.clone(), desk.writer.clone(), Arc::new(clock.clone()));
    let fired = scheduler.tick().await;
    assert_eq!(fired.failed, 0);
    for ticket in &tickets {
        let events = desk.store.events(ticket.id).expect("events");
        assert_eq!(alerts(&events), all_alerts(), "alerts of {}", ticket.number);
    }
    assert_eq!(desk.store.timer_count(), 0, "every timer was handled and removed");
    assert_eq!(scheduler.tick().await.fired, 0, "nothing fires twice");
    drop(scheduler);
    desk.stop();
}

/// Which alerts of `ticket` must have fired by `now`, from the due instants it was armed with.
fn expected_by(armed: &[(DateTime<Utc>, String)], now: DateTime<Utc>) -> usize {
    armed.iter().filter(|(due, _)| *due <= now).count()
}

/// The due instant of each alert of a ticket opened at `opened` (24x7 calendar, whole seconds).
fn due_instants(opened: DateTime<Utc>) -> Vec<(DateTime<Utc>, String)> {
    let s = |secs: f64| opened + chrono::Duration::nanoseconds((secs * 1e9) as i64);
    vec![
        (s(1.0), "warned first_response".into()),
        (s(3.0), "breached first_response".into()),
        (s(4.0), "warned resolution".into()),
        (s(5.0), "breached resolution".into()),
        (s(5.0), "escalated resolution 1".into()),
        (s(5.0), "escalated resolution 2".into()),
    ]
}

fn ticket_log(desk: &Desk, ticket: &Ticket) -> Vec<String> {
    alerts(&desk.store.events(ticket.id).expect("events"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Tickets due at random nanoseconds, a scheduler waking at random instants (often inside
    /// the very millisecond a timer is due, before or after its nanosecond): at every wake-up
    /// exactly the alerts due by then have fired, each once, in due order; none is lost.
    #[test]
    fn timers_fire_exactly_when_due_whatever_the_wake_up_times(
        opened in prop::collection::vec(0u64..3_000_000_000, 1..6),
        wakes in prop::collection::vec(0u64..8_000_000_000, 1..25),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let start = DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z").expect("time").to_utc();
            let clock = ManualClock::new(start);
            let desk = Desk::start(&dir.path().join("data"), &fixture(), clock.clone());
            let mut opened = opened;
            opened.sort_unstable();
            let mut tickets = Vec::new();
            for (n, at) in opened.iter().enumerate() {
                clock.set(start + chrono::Duration::nanoseconds(*at as i64));
                let ticket = desk.open(request(n)).await.expect("open").ticket;
                tickets.push((due_instants(ticket.created_at), ticket));
            }
            let scheduler = Scheduler::new(desk.store.clone(), desk.writer.clone(), Arc::new(clock.clone()));
            // Wake-ups after the last opening, in order; some land near due instants on purpose.
            let last = clock.now();
            let mut wakes: Vec<DateTime<Utc>> = wakes.iter().map(|w| last + chrono::Duration::nanoseconds(*w as i64 % 6_000_000_000)).collect();
            for (armed, _) in &tickets {
                for (due, _) in armed.iter().take(2) {
                    wakes.push(*due - chrono::Duration::nanoseconds(1));
                    wakes.push(*due);
                }
            }
            wakes.retain(|w| *w >= last);
            wakes.sort_unstable();
            wakes.push(last + chrono::Duration::seconds(10));
            for wake in wakes {
                clock.set(wake);
                scheduler.tick().await;
                for (armed, ticket) in &tickets {
                    let log = ticket_log(&desk, ticket);
                    let want: Vec<String> = armed.iter().filter(|(due, _)| *due <= wake).map(|(_, a)| a.clone()).collect();
                    assert_eq!(log.len(), expected_by(armed, wake), "{} at {wake}: {log:?}", ticket.number);
                    assert_eq!(log, want, "{} at {wake}", ticket.number);
                }
            }
            for (_, ticket) in &tickets {
                assert_eq!(ticket_log(&desk, ticket), all_alerts());
            }
            assert_eq!(desk.store.timer_count(), 0);
            drop(scheduler);
            desk.stop();
        });
    }
}
