//! SLA clocks and durable timers on the real writer, store and scheduler, with a manual clock:
//! warnings, breaches, escalation levels, reminders, pause and resume, per-priority targets,
//! first response met by the first public reply, business hours across a weekend, a holiday
//! and a daylight-saving change, mail held until business hours, and timers that survive a
//! restart and fire exactly once.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use afterdesk::clock::ManualClock;
use afterdesk::engine::{Actor, Change, Command, CustomerInput, Event, OpenTicket, Ticket};
use afterdesk::scheduler::Scheduler;
use afterdesk::store::ListFilter;
use afterdesk::store::timers::DueTimer;
use chrono::{DateTime, Duration, Utc};
use support::Desk;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workflows/sla")
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid time").to_utc()
}

/// Monday 23 November 2026, 09:00 in Berlin.
fn monday_morning() -> DateTime<Utc> {
    at("2026-11-23T08:00:00Z")
}

struct Sla {
    desk: Desk,
    scheduler: Scheduler,
    _dir: tempfile::TempDir,
}

impl Sla {
    fn start(now: DateTime<Utc>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, now)
    }

    fn start_in(dir: tempfile::TempDir, now: DateTime<Utc>) -> Self {
        let desk = Desk::start(&dir.path().join("data"), &fixture(), ManualClock::new(now));
        let scheduler = Scheduler::new(desk.store.clone(), desk.writer.clone(), Arc::new(desk.clock.clone()));
        Self { desk, scheduler, _dir: dir }
    }

    async fn open(&self, priority: &str) -> Ticket {
        let request = OpenTicket {
            workflow: "sla-test".into(),
            subject: "Broken pump".into(),
            priority: Some(priority.into()),
            customer: CustomerInput { email: Some("kim@example.com".into()), ..CustomerInput::default() },
            ..OpenTicket::default()
        };
        self.desk.open(request).await.expect("open").ticket
    }

    async fn run(&self, ticket: &Ticket, actor: &str, command: Command) -> Ticket {
        self.desk.run(&ticket.number, Actor::agent(actor), command).await.expect("command").ticket
    }

    fn later(&self, by: Duration) {
        self.desk.clock.advance(by);
    }

    fn set(&self, to: DateTime<Utc>) {
        self.desk.clock.set(to);
    }

    async fn tick(&self) -> usize {
        self.scheduler.tick().await.fired
    }

    fn events(&self, ticket: &Ticket) -> Vec<Event> {
        self.desk.store.events(ticket.id).expect("events")
    }

    fn ticket(&self, ticket: &Ticket) -> Ticket {
        self.desk.store.ticket(ticket.id).expect("read").expect("stored")
    }

    fn timers(&self, ticket: &Ticket) -> Vec<DueTimer> {
        let far = at("2100-01-01T00:00:00Z");
        self.desk.store.due_timers(far, 1_000).expect("timers").into_iter().filter(|t| t.ticket == ticket.id).collect()
    }

    fn timer(&self, ticket: &Ticket, kind: &str) -> Option<DateTime<Utc>> {
        self.timers(ticket).into_iter().find(|t| t.kind == kind).map(|t| t.due)
    }

    /// Kinds of the SLA events in the log, with the clock, e.g. `sla_warned stage:intake`.
    fn clock_events(&self, ticket: &Ticket) -> Vec<String> {
        self.events(ticket)
            .iter()
            .filter_map(|e| match &e.change {
                Change::SlaStarted { clock, .. }
                | Change::SlaPaused { clock, .. }
                | Change::SlaResumed { clock }
                | Change::SlaTargetChanged { clock, .. }
                | Change::SlaWarned { clock, .. }
                | Change::SlaBreached { clock }
                | Change::SlaEscalated { clock, .. }
                | Change::SlaReminded { clock, .. }
                | Change::SlaStopped { clock, .. } => Some(format!("{} {clock}", e.change.kind())),
                _ => None,
            })
            .collect()
    }

    /// Stops the writer; the scheduler holds a writer handle, so it goes first.
    fn stop(self) {
        let Self { desk, scheduler, _dir } = self;
        drop(scheduler);
        desk.stop();
    }
}

#[tokio::test]
async fn clocks_start_with_the_ticket_and_arm_their_timers() {
    let sla = Sla::start(monday_morning());
    let ticket = sla.open("normal").await;
    assert_eq!(
        sla.clock_events(&ticket),
        ["sla_started first_response", "sla_started resolution", "sla_started stage:intake"]
    );
    let t0 = monday_morning();
    // first response: 2 h on 24x7, warning at 75 %.
    assert_eq!(sla.timer(&ticket, "first_response/warn"), Some(t0 + Duration::minutes(90)));
    assert_eq!(sla.timer(&ticket, "first_response/breach"), Some(t0 + Duration::hours(2)));
    // intake: 4 h of office time from 09:00, warning at 50 %.
    assert_eq!(sla.timer(&ticket, "stage:intake/warn"), Some(t0 + Duration::hours(2)));
    assert_eq!(sla.timer(&ticket, "stage:intake/breach"), Some(t0 + Duration::hours(4)));
    // resolution: 16 office hours = Monday and Tuesday.
    assert_eq!(sla.timer(&ticket, "resolution/breach"), Some(at("2026-11-24T16:00:00Z")));
    sla.stop();
}

#[tokio::test]
async fn the_first_public_reply_meets_the_first_response_clock() {
    let sla = Sla::start(monday_morning());
    let ticket = sla.open("normal").await;
    sla.later(Duration::minutes(40));
    sla.run(&ticket, "agent@example.com", Command::Comment { body: "Internal: call back".into(), public: false }).await;
    assert!(sla.timer(&ticket, "first_response/breach").is_some(), "an internal note is no response");
    sla.later(Duration::minutes(20));
    let after =
        sla.run(&ticket, "agent@example.com", Command::Comment { body: "We are on it".into(), public: true }).await;
    let clock = &after.slas["first_response"];
    assert_eq!((clock.met, clock.business_secs), (Some(true), Some(3_600)));
    assert_eq!(sla.timer(&ticket, "first_response/breach"), None);
    assert_eq!(sla.timer(&ticket, "first_response/warn"), None);
    sla.stop();
}

#[tokio::test]
async fn warning_breach_escalation_levels_and_reminders() {
    let sla = Sla::start(monday_morning());
    let ticket = sla.open("normal").await;
    // Answer the customer so only the intake stage clock is left to watch.
    sla.run(&ticket, "agent@example.com", Command::Comment { body: "Hello".into(), public: true }).await;

    sla.later(Duration::minutes(119));
    assert_eq!(sla.tick().await, 0, "nothing is due a minute before the warning");
    sla.later(Duration::minutes(1));
    assert_eq!(sla.tick().await, 1);
    let warned = sla.events(&ticket).into_iter().find_map(|e| match e.change {
        Change::SlaWarned { clock, notify } if clock == "stage:intake" => Some(notify),
        _ => None,
    });
    assert_eq!(warned, Some(vec!["agent@example.com".to_string()]));

    sla.later(Duration::hours(2));
    assert_eq!(sla.tick().await, 1, "one ticket fired: the breach, then escalation level 1 at +0m");
    let fired: Vec<String> = sla.clock_events(&ticket).into_iter().rev().take(2).collect();
    assert_eq!(fired, ["sla_escalated stage:intake", "sla_breached stage:intake"]);
    let ticket_now = sla.ticket(&ticket);
    assert_eq!(ticket_now.slas["stage:intake"].breached_at, Some(monday_morning() + Duration::hours(4)));
    assert_eq!(ticket_now.slas["stage:intake"].level, 1);
    let breached = ListFilter { breached: Some(true), ..ListFilter::default() };
    let listed = sla.desk.store.list(&breached, None, 10).expect("list");
    assert_eq!(listed.tickets.iter().map(|t| t.id).collect::<Vec<_>>(), [ticket.id], "GET /v1/tickets?breached=true");

    // Level 2 is 2 business hours after the breach: 13:00 + 2 h = 15:00; it raises the priority.
    sla.later(Duration::minutes(119));
    assert_eq!(sla.tick().await, 0);
    sla.later(Duration::minutes(1));
    assert_eq!(sla.tick().await, 1);
    let ticket_now = sla.ticket(&ticket);
    assert_eq!(ticket_now.priority, "high", "level 2 raises the priority");
    assert_eq!(ticket_now.slas["stage:intake"].level, 2);

    // Then reminders every business hour while nobody acts: 16:00, 17:00, then (nights do not
    // count) Tuesday 10:00.
    sla.later(Duration::hours(1));
    assert_eq!(sla.tick().await, 1);
    sla.later(Duration::hours(1));
    assert_eq!(sla.tick().await, 1);
    sla.set(at("2026-11-24T08:59:00Z"));
    assert_eq!(sla.tick().await, 0, "no reminder at night: the next business hour ends Tuesday 10:00");
    sla.set(at("2026-11-24T09:00:00Z"));
    assert_eq!(sla.tick().await, 1);
    assert_eq!(sla.ticket(&ticket).slas["stage:intake"].reminders, 3);

    // Someone acts: reminders stop.
    sla.run(&ticket, "agent@example.com", Command::RecordStep { description: "Called the customer".into() }).await;
    assert_eq!(sla.timer(&ticket, "stage:intake/remind/4"), None);

    // Every alert went to the outbox with the right people and the lateness in business time.
    let outbox = sla.desk.store.outbox_of(ticket.id).expect("outbox");
    let sent: Vec<(&str, Vec<String>)> =
        outbox.iter().filter_map(|m| m.email()).map(|m| (m.template.as_str(), m.to.clone())).collect();
    assert!(sent.contains(&("sla_warning", vec!["agent@example.com".into()])), "{sent:?}");
    assert!(sent.contains(&("sla_escalation", vec!["lead@example.com".into()])), "{sent:?}");
    assert!(sent.contains(&("sla_escalation", vec!["manager@example.com".into()])), "{sent:?}");
    let level_two =
        outbox.iter().filter_map(|m| m.email()).find(|m| m.to == ["manager@example.com"]).expect("level 2 mail");
    assert!(
        level_two.subject.contains(&ticket.number) && level_two.subject.contains("overdue by 2h"),
        "{}",
        level_two.subject
    );
    assert_eq!(outbox.iter().filter_map(|m| m.email()).filter(|m| m.template == "sla_reminder").count(), 3);
    sla.stop();
}

#[tokio::test]
async fn a_waiting_stage_pauses_the_clocks_and_the_deadline_moves_out() {
    let sla = Sla::start(monday_morning());
    let ticket = sla.open("normal").await;
    sla.later(Duration::hours(1));
    let waiting = sla.run(&ticket, "agent@example.com", Command::Transition { name: "wait".into() }).await;
    assert_eq!(waiting.slas["first_response"].used_secs, 3_600);
    assert!(sla.timer(&ticket, "first_response/breach").is_none(), "a paused clock has no timers");
    assert!(sla.timer(&ticket, "resolution/breach").is_none());

    sla.later(Duration::hours(5));
    assert_eq!(sla.tick().await, 0, "nothing fires while paused");
    sla.run(&ticket, "agent@example.com", Command::Transition { name: "back".into() }).await;
    // 1 h used before the pause: 1 h left from 15:00 Berlin (14:00 UTC).
    assert_eq!(sla.timer(&ticket, "first_response/breach"), Some(monday_morning() + Duration::hours(7)));
    // Resolution: 1 h used of 16 office hours; 15 h left from 15:00 Monday: 2 h on Monday,
    // 8 h on Tuesday, 5 h on Wednesday: Wednesday 14:00 Berlin.
    assert_eq!(sla.timer(&ticket, "resolution/breach"), Some(at("2026-11-25T13:00:00Z")));
    let kinds = sla.clock_events(&ticket);
    assert!(
        kinds.contains(&"sla_paused first_response".to_string())
            && kinds.contains(&"sla_resumed resolution".to_string()),
        "{kinds:?}"
    );
    // The intake clock paused too (the ticket waits on the customer, it did not move on), and
    // resumes with the 3 h it had left: 15:00-17:00 Monday, 09:00-10:00 Tuesday.
    assert!(!kinds.contains(&"sla_stopped stage:intake".to_string()), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "sla_started stage:intake").count(), 1, "{kinds:?}");
    assert!(kinds.contains(&"sla_paused stage:intake".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"sla_resumed stage:intake".to_string()), "{kinds:?}");
    assert_eq!(sla.timer(&ticket, "stage:intake/breach"), Some(at("2026-11-24T09:00:00Z")));
    sla.stop();
}

#[tokio::test]
async fn a_stage_clock_pauses_in_a_waiting_stage_over_the_weekend_and_stops_when_the_ticket_moves_on() {
    // Thursday 26 Nov 16:00 Berlin: the intake clock (4 office hours) starts.
    let sla = Sla::start(at("2026-11-26T15:00:00Z"));
    let ticket = sla.open("normal").await;
    sla.later(Duration::hours(1));
    // 17:00: waiting on the customer after 1 h of office time; the clock is paused with 3 h left.
    let waiting = sla.run(&ticket, "agent@example.com", Command::Transition { name: "wait".into() }).await;
    let intake = &waiting.slas["stage:intake"];
    assert_eq!((intake.used_secs, intake.running_since, intake.met), (3_600, None, None));
    assert!(sla.timer(&ticket, "stage:intake/breach").is_none(), "a paused clock has no timers");
    // The customer answers on Saturday 11:00; the ticket comes back: 3 h left from Monday 09:00.
    sla.set(at("2026-11-28T10:00:00Z"));
    assert_eq!(sla.tick().await, 0, "nothing fires while paused");
    let back = sla.run(&ticket, "agent@example.com", Command::Transition { name: "back".into() }).await;
    assert_eq!(back.slas["stage:intake"].used_secs, 3_600);
    assert_eq!(sla.timer(&ticket, "stage:intake/breach"), Some(at("2026-11-30T11:00:00Z")), "Monday 12:00 Berlin");
    // Waiting again, then given up from the waiting stage: the intake clock stops there.
    sla.set(at("2026-11-30T08:30:00Z"));
    sla.run(&ticket, "agent@example.com", Command::Transition { name: "wait".into() }).await;
    sla.later(Duration::hours(1));
    let closed = sla.run(&ticket, "agent@example.com", Command::Transition { name: "give_up".into() }).await;
    let intake = &closed.slas["stage:intake"];
    assert_eq!((intake.business_secs, intake.met), (Some(3_600 + 1_800), Some(true)));
    let kinds = sla.clock_events(&ticket);
    let intake_kinds: Vec<&str> = kinds
        .iter()
        .filter(|k| k.ends_with(" stage:intake"))
        .map(|k| k.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(intake_kinds, ["sla_started", "sla_paused", "sla_resumed", "sla_paused", "sla_stopped"]);
    sla.stop();
}

#[tokio::test]
async fn priority_overrides_the_time_allowed() {
    let sla = Sla::start(monday_morning());
    let urgent = sla.open("urgent").await;
    assert_eq!(urgent.slas["first_response"].target_secs, 1_800);
    assert_eq!(sla.timer(&urgent, "first_response/breach"), Some(monday_morning() + Duration::minutes(30)));
    // Lowering the priority gives the normal target back.
    let normal = sla.run(&urgent, "agent@example.com", Command::SetPriority { priority: "normal".into() }).await;
    assert_eq!(normal.slas["first_response"].target_secs, 7_200);
    assert_eq!(sla.timer(&urgent, "first_response/breach"), Some(monday_morning() + Duration::hours(2)));
    sla.stop();
}

#[tokio::test]
async fn business_hours_skip_a_weekend_a_holiday_and_a_daylight_saving_change() {
    // Friday 27 Nov 16:00 Berlin: 1 h on Friday, 3 h on Monday: Monday 12:00.
    let sla = Sla::start(at("2026-11-27T15:00:00Z"));
    let ticket = sla.open("normal").await;
    assert_eq!(sla.timer(&ticket, "stage:intake/breach"), Some(at("2026-11-30T11:00:00Z")));
    sla.stop();
    // Thursday 24 Dec 16:00: Friday 25 is a holiday: Monday 28 Dec 12:00.
    let sla = Sla::start(at("2026-12-24T15:00:00Z"));
    let ticket = sla.open("normal").await;
    assert_eq!(sla.timer(&ticket, "stage:intake/breach"), Some(at("2026-12-28T11:00:00Z")));
    sla.stop();
    // Friday 27 Mar 16:00 CET: clocks go forward on Sunday: Monday 12:00 CEST is 10:00 UTC.
    let sla = Sla::start(at("2026-03-27T15:00:00Z"));
    let ticket = sla.open("normal").await;
    assert_eq!(sla.timer(&ticket, "stage:intake/breach"), Some(at("2026-03-30T10:00:00Z")));
    sla.stop();
}

#[tokio::test]
async fn escalation_mail_at_night_is_held_until_business_hours() {
    // Monday 21:00 Berlin: the 24x7 first-response clock warns at 22:30.
    let sla = Sla::start(at("2026-11-23T20:00:00Z"));
    let ticket = sla.open("normal").await;
    sla.later(Duration::minutes(90));
    assert_eq!(sla.tick().await, 1);
    let warning = sla
        .desk
        .store
        .outbox_of(ticket.id)
        .expect("outbox")
        .into_iter()
        .find(|m| m.email().is_some_and(|e| e.template == "sla_warning"));
    let warning = warning.expect("a warning is queued");
    assert_eq!(warning.created_at, at("2026-11-23T21:30:00Z"));
    assert_eq!(warning.not_before, at("2026-11-24T08:00:00Z"), "held until Tuesday 09:00 Berlin");
    sla.stop();
}

#[tokio::test]
async fn closing_cancels_every_timer() {
    let sla = Sla::start(monday_morning());
    let ticket = sla.open("normal").await;
    assert!(!sla.timers(&ticket).is_empty());
    let closed = sla.run(&ticket, "agent@example.com", Command::Transition { name: "done".into() }).await;
    assert!(sla.timers(&ticket).is_empty(), "{:?}", sla.timers(&ticket));
    assert!(closed.slas.values().all(|c| c.stopped_at.is_some()));
    assert_eq!(closed.slas["stage:intake"].met, Some(true));
    sla.later(Duration::days(7));
    assert_eq!(sla.tick().await, 0);
    sla.stop();
}

#[tokio::test]
async fn timers_due_while_the_server_was_down_fire_once_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sla = Sla::start_in(dir, monday_morning());
    let mut tickets = Vec::new();
    for _ in 0..3 {
        tickets.push(sla.open("normal").await);
    }
    let Sla { desk, scheduler, _dir: dir } = sla;
    drop(scheduler);
    desk.stop();

    // Down over the warning and breach of every clock of Monday and Tuesday.
    let sla = Sla::start_in(dir, at("2026-11-25T08:00:00Z"));
    let fired = sla.tick().await;
    assert!(fired > 0);
    assert_eq!(sla.tick().await, 0, "each timer fires once");
    for ticket in &tickets {
        let kinds = sla.clock_events(ticket);
        for expected in [
            "sla_warned first_response",
            "sla_breached first_response",
            "sla_warned stage:intake",
            "sla_breached stage:intake",
            "sla_breached resolution",
        ] {
            assert_eq!(kinds.iter().filter(|k| *k == expected).count(), 1, "{expected} in {kinds:?}");
        }
    }
    sla.stop();
}
