//! Scheduled jobs on real sled with a manual clock: a digest at its cron time, a follow-up to
//! customers N days after closure, and after downtime a job that was missed runs once (or not
//! at all without `catch_up`).

mod support;

use std::path::Path;
use std::sync::Arc;

use afterdesk::clock::ManualClock;
use afterdesk::engine::{Actor, Command, CustomerInput, OpenTicket};
use afterdesk::jobs::Jobs;
use chrono::{DateTime, Duration, Utc};
use support::Desk;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid time").to_utc()
}

fn request(email: &str) -> OpenTicket {
    OpenTicket {
        workflow: "sla-test".into(),
        subject: "Pump is noisy".into(),
        customer: CustomerInput { email: Some(email.into()), ..CustomerInput::default() },
        ..OpenTicket::default()
    }
}

#[tokio::test]
async fn jobs_run_at_their_time_follow_up_after_closure_and_catch_up_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workflows/sla");
    let data = dir.path().join("data");
    // Monday 23 Nov 2026, 07:30 Berlin.
    let clock = ManualClock::new(at("2026-11-23T06:30:00Z"));
    let desk = Desk::start(&data, &workflows, clock.clone());
    let jobs = Jobs::new(desk.store.clone(), desk.registry.clone(), Arc::new(clock.clone()));
    assert!(jobs.tick().expect("tick").ran.is_empty(), "jobs count from the first start, they do not run at once");

    let first = desk.open(request("ana@example.com")).await.expect("open").ticket;
    desk.open(request("bo@example.com")).await.expect("open");
    clock.set(at("2026-11-23T07:00:00Z"));
    let runs = jobs.tick().expect("tick");
    assert_eq!(runs.ran, ["sla-test/digest"], "08:00 Berlin is the digest's time");
    assert!(jobs.tick().expect("tick").ran.is_empty(), "and it runs once");
    let digests = desk.store.outbox_with_template("digest").expect("outbox");
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].email().expect("mail").to, ["boss@example.com", "lead@example.com"]);
    assert!(
        digests[0].email().expect("mail").subject.contains("2 open, 0 breached"),
        "{}",
        digests[0].email().expect("mail").subject
    );

    // Close the first ticket on Monday 09:00 Berlin; two days later the 10:00 run follows up, once.
    clock.set(at("2026-11-23T08:00:00Z"));
    desk.run(&first.number, Actor::agent("agent@example.com"), Command::Transition { name: "done".into() })
        .await
        .expect("close");
    clock.set(at("2026-11-24T09:00:00Z"));
    let tuesday = jobs.tick().expect("tick");
    assert!(tuesday.ran.contains(&"sla-test/follow_up".to_string()), "{tuesday:?}");
    assert!(desk.store.outbox_with_template("follow_up").expect("outbox").is_empty(), "too early on Tuesday");
    clock.set(at("2026-11-25T09:00:00Z"));
    jobs.tick().expect("tick");
    let follow_ups = desk.store.outbox_with_template("follow_up").expect("outbox");
    assert_eq!(follow_ups.len(), 1);
    assert_eq!(follow_ups[0].email().expect("mail").to, ["ana@example.com"]);
    assert_eq!(follow_ups[0].number, first.number);
    clock.set(at("2026-11-26T09:00:00Z"));
    jobs.tick().expect("tick");
    assert_eq!(desk.store.outbox_with_template("follow_up").expect("outbox").len(), 1, "each customer once");

    // Down from Thursday to Monday: the missed digest runs once at start; the quiet digest
    // (catch_up = false) does not.
    let before = desk.store.outbox_with_template("digest").expect("outbox").len();
    drop(jobs);
    desk.stop();
    let clock = ManualClock::new(at("2026-11-30T12:00:00Z"));
    let desk = Desk::start(&data, &workflows, clock.clone());
    let jobs = Jobs::new(desk.store.clone(), desk.registry.clone(), Arc::new(clock.clone()));
    let runs = jobs.tick().expect("tick");
    assert!(runs.ran.contains(&"sla-test/digest".to_string()), "{runs:?}");
    assert!(!runs.ran.contains(&"sla-test/quiet_digest".to_string()), "{runs:?}");
    let after = desk.store.outbox_with_template("digest").expect("outbox");
    assert_eq!(after.len(), before + 1, "one digest for the whole downtime");
    assert!(jobs.tick().expect("tick").ran.is_empty());
    // The quiet digest counts from now: tomorrow 08:00 Berlin it runs again.
    clock.advance(Duration::hours(19));
    assert!(jobs.tick().expect("tick").ran.contains(&"sla-test/quiet_digest".to_string()));
    drop(jobs);
    desk.stop();
}
