//! Property: the report buckets the writer keeps, command by command in the same transaction as
//! the events, are exactly what a rebuild from the events gives. Random sequences of openings
//! (several customers, categories, channels, priorities), public and internal replies by
//! agents, replies by the customer, assignments, transitions, resolve, reopen, close, survey
//! answers and clock moves with the SLA timers fired run through the real writer into sled;
//! then `all_report_buckets()` must equal `rebuild::from_events` bucket for bucket, and the
//! `/metrics` backlog counted from the indexes must equal the backlog of the open tickets. And
//! `afterdesk reports rebuild` (the binary) on the stopped desk's data folder finds the same.

mod support;

use std::path::Path;
use std::process::Command as Process;
use std::sync::Arc;

use afterdesk::clock::ManualClock;
use afterdesk::engine::survey::SurveyAnswer;
use afterdesk::engine::{Actor, Command, CustomerInput, OpenTicket};
use afterdesk::reports::aggregate::Agg;
use afterdesk::reports::kpis::sum;
use afterdesk::reports::query::{backlog, open_ids, open_in_stage};
use afterdesk::reports::rebuild::from_events;
use afterdesk::scheduler::Scheduler;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use support::Desk;

/// A desk with every figure in play: office hours, a stage SLA and a waiting stage that pauses
/// it, 24x7 first-response and office resolution clocks, a survey stage that resolves (moving
/// back reopens), a sampled survey, repeat requests, and first-contact resolution settings.
const DESK: &str = r#"
id = "desk"
name = "Property desk"
ticket_prefix = "PD"
calendar = "office"
categories = ["repair", "billing", "warranty"]
channels = ["email", "phone", "web"]
repeat_window = "7d"

[calendars.office]
timezone = "Europe/Berlin"
hours = { mon-fri = "09:00-17:00" }

[reports]
fcr_max_replies = 2
fcr_within = "1d"

[roles]
agent = ["ali@example.com", "sara@example.com"]
lead = ["lead@example.com"]

[stages.intake]
raci = { responsible = "agent", accountable = "lead" }
transitions = [{ name = "work", to = "repair" }, { name = "wait", to = "waiting" }, { name = "solve", to = "survey" }]

[stages.intake.sla]
within = "2h"

[stages.repair]
raci = { responsible = "agent", accountable = "lead" }
transitions = [{ name = "solve", to = "survey" }, { name = "wait", to = "waiting" }, { name = "close", to = "closed" }]

[stages.waiting]
pauses_sla = true
raci = { responsible = "agent" }
transitions = [{ name = "back", to = "repair" }]

[stages.survey]
resolved = true
raci = { responsible = "agent", accountable = "lead" }
transitions = [{ name = "close", to = "closed" }, { name = "back", to = "repair" }]

[stages.closed]
terminal = true
resolved = true

[sla.first_response]
within = "1h"
calendar = "24x7"

[sla.resolution]
within = "8h"

[survey]
on_stage = "survey"
questions = ["csat", "nps", "ces"]
sample = "50%"
expires_after = "14d"
"#;

const CUSTOMERS: [&str; 3] = ["ana@example.org", "bo@example.org", "cy@example.org"];
const CATEGORIES: [Option<&str>; 4] = [Some("repair"), Some("billing"), Some("warranty"), None];
const CHANNELS: [Option<&str>; 3] = [Some("email"), Some("phone"), None];
const PRIORITIES: [&str; 3] = ["low", "normal", "urgent"];
const STAFF: [&str; 3] = ["ali@example.com", "sara@example.com", "lead@example.com"];
const TRANSITIONS: [&str; 6] = ["work", "wait", "back", "solve", "solve", "close"];

/// One step of a random history. Ticket indexes are taken modulo the tickets opened so far.
#[derive(Debug, Clone)]
enum Op {
    Open { customer: usize, category: usize, channel: usize, priority: usize },
    Reply { ticket: usize, by: usize, public: bool },
    CustomerReply { ticket: usize },
    Assign { ticket: usize, to: Option<usize> },
    Transition { ticket: usize, name: usize },
    Resolve { ticket: usize },
    Reopen { ticket: usize },
    Close { ticket: usize },
    Survey { ticket: usize, survey: u8, csat: u8, nps: u8, ces: u8 },
    Wait { minutes: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    let ticket = 0usize..64;
    prop_oneof![
        3 => (0..CUSTOMERS.len(), 0..CATEGORIES.len(), 0..CHANNELS.len(), 0..PRIORITIES.len())
            .prop_map(|(customer, category, channel, priority)| Op::Open { customer, category, channel, priority }),
        4 => (ticket.clone(), 0..STAFF.len() + 1, any::<bool>()).prop_map(|(ticket, by, public)| Op::Reply { ticket, by, public }),
        1 => ticket.clone().prop_map(|ticket| Op::CustomerReply { ticket }),
        2 => (ticket.clone(), prop::option::of(0..STAFF.len())).prop_map(|(ticket, to)| Op::Assign { ticket, to }),
        4 => (ticket.clone(), 0..TRANSITIONS.len()).prop_map(|(ticket, name)| Op::Transition { ticket, name }),
        1 => ticket.clone().prop_map(|ticket| Op::Resolve { ticket }),
        2 => ticket.clone().prop_map(|ticket| Op::Reopen { ticket }),
        1 => ticket.clone().prop_map(|ticket| Op::Close { ticket }),
        2 => (ticket.clone(), 0u8..2, 1u8..=5, 0u8..=10, 1u8..=7)
            .prop_map(|(ticket, survey, csat, nps, ces)| Op::Survey { ticket, survey, csat, nps, ces }),
        3 => prop_oneof![0i64..30, 30i64..600, 600i64..3_000].prop_map(|minutes| Op::Wait { minutes }),
    ]
}

fn staff(by: usize) -> Actor {
    match STAFF.get(by) {
        Some(person) => Actor::agent(*person),
        None => Actor::admin("admin@example.com"),
    }
}

/// A desk over a fresh sled store in `dir` with [`DESK`] as its only workflow.
fn desk(dir: &Path, clock: &ManualClock) -> Desk {
    let workflows = dir.join("workflows");
    std::fs::create_dir_all(&workflows).expect("workflows folder");
    std::fs::write(workflows.join("desk.toml"), DESK).expect("write the workflow");
    Desk::start(&dir.join("data"), &workflows, clock.clone())
}

/// Runs `ops` through the writer (refused commands are part of the game: they change nothing).
async fn play(desk: &Desk, ops: &[Op]) {
    let scheduler = Scheduler::new(desk.store.clone(), desk.writer.clone(), Arc::new(desk.clock.clone()));
    let mut tickets: Vec<String> = Vec::new();
    for op in ops {
        let pick = |i: usize| (!tickets.is_empty()).then(|| tickets[i % tickets.len()].clone());
        let (ticket, actor, command) = match op.clone() {
            Op::Open { customer, category, channel, priority } => {
                let request = OpenTicket {
                    workflow: "desk".into(),
                    subject: "It broke".into(),
                    customer: CustomerInput { email: Some(CUSTOMERS[customer].into()), ..CustomerInput::default() },
                    category: CATEGORIES[category].map(str::to_string),
                    channel: CHANNELS[channel].map(str::to_string),
                    priority: Some(PRIORITIES[priority].into()),
                    ..OpenTicket::default()
                };
                if let Ok(outcome) = desk.open(request).await {
                    tickets.push(outcome.ticket.number);
                }
                continue;
            }
            Op::Wait { minutes } => {
                desk.clock.advance(chrono::Duration::minutes(minutes));
                scheduler.tick().await;
                continue;
            }
            Op::Reply { ticket, by, public } => {
                (pick(ticket), staff(by), Command::Comment { body: "On it".into(), public })
            }
            Op::CustomerReply { ticket } => (
                pick(ticket),
                Actor::integrator("web-form"),
                Command::CustomerReply { body: "Any news?".into(), mail: None, attachments: Vec::new() },
            ),
            Op::Assign { ticket, to } => {
                (pick(ticket), staff(STAFF.len()), Command::Assign { assignee: to.map(|i| STAFF[i].to_string()) })
            }
            Op::Transition { ticket, name } => {
                (pick(ticket), staff(ticket % 3), Command::Transition { name: TRANSITIONS[name].into() })
            }
            Op::Resolve { ticket } => (pick(ticket), staff(ticket % 3), Command::Resolve { note: None }),
            Op::Reopen { ticket } => (pick(ticket), staff(STAFF.len()), Command::Reopen { reason: None }),
            Op::Close { ticket } => (pick(ticket), staff(ticket % 3), Command::Close),
            Op::Survey { ticket, survey, csat, nps, ces } => {
                let answer = SurveyAnswer {
                    survey: format!("s{survey}"),
                    csat: Some(csat),
                    nps: Some(nps),
                    ces: Some(ces),
                    comment: None,
                };
                (pick(ticket), Actor::integrator("phone"), Command::AnswerSurvey(answer))
            }
        };
        if let Some(ticket) = ticket {
            let _ = desk.run(&ticket, actor, command).await;
        }
    }
}

/// Every bucket kept, added up.
fn total(desk: &Desk) -> Agg {
    let kept = desk.store.all_report_buckets().expect("buckets");
    sum(kept.iter().map(|(_, agg)| agg))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn kept_buckets_are_exactly_the_rebuild_from_the_events(ops in prop::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(support::start_time());
        let desk = desk(dir.path(), &clock);
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(play(&desk, &ops));
        let kept = desk.store.all_report_buckets().expect("kept buckets");
        let rebuilt = from_events(&desk.store, &desk.registry).expect("rebuild");
        // The gauges' backlog from the indexes alone is the backlog from the open tickets.
        let now = afterdesk::clock::Clock::now(&clock);
        let listed = backlog(&desk.store, "desk", None, now).expect("backlog").by_stage;
        let open = open_ids(&desk.store).expect("open ids");
        let mut indexed = std::collections::BTreeMap::new();
        for stage in ["intake", "repair", "waiting", "survey"] {
            let count = open_in_stage(&desk.store, "desk", stage, &open).expect("count");
            if count > 0 {
                indexed.insert(stage.to_string(), count);
            }
        }
        desk.stop();
        prop_assert_eq!(kept, rebuilt);
        prop_assert_eq!(indexed, listed);
    }
}

/// A long history, stopped, then the binary: the rebuild agrees with what was kept. The
/// history exercises every kind of figure (so agreement is not over empty buckets), and a
/// tampered bucket is noticed (so the binary's verdict is not a constant).
#[test]
fn the_rebuild_command_finds_the_buckets_as_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(support::start_time());
    let desk = desk(dir.path(), &clock);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let ops = prop::collection::vec(op(), 400).new_tree(&mut runner).expect("generate").current();
    tokio::runtime::Runtime::new().expect("runtime").block_on(play(&desk, &ops));

    let all = total(&desk);
    assert!(all.opened > 20 && all.repeats > 0, "{all:?}");
    assert!(all.resolved > 0 && all.fcr > 0 && all.reopened > 0, "{all:?}");
    assert!(!all.first_response.wall.is_empty() && !all.resolution.business.is_empty(), "{all:?}");
    assert!(all.surveys_sent > 0 && all.csat.iter().sum::<i64>() > 0, "{all:?}");
    assert!(all.sla.values().any(|t| t.breached > 0) && all.sla.values().any(|t| t.met > 0), "{all:?}");
    assert_eq!(
        desk.store.all_report_buckets().expect("kept"),
        from_events(&desk.store, &desk.registry).expect("rebuild")
    );
    let kept = desk.store.all_report_buckets().expect("kept");
    desk.stop();

    let data = dir.path().join("data");
    // sled's threads may hold the file lock a moment after the last handle is dropped.
    let rebuild = || {
        for _ in 0..50 {
            let output = Process::new(env!("CARGO_BIN_EXE_afterdesk"))
                .args(["reports", "rebuild", "--data"])
                .arg(&data)
                .arg("--workflows")
                .arg(dir.path().join("workflows"))
                .output()
                .expect("run afterdesk");
            if output.status.success() {
                return String::from_utf8_lossy(&output.stdout).into_owned();
            }
            eprintln!("rebuild failed ({}); retrying", String::from_utf8_lossy(&output.stderr));
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("afterdesk reports rebuild kept failing");
    };
    let said = rebuild();
    assert!(said.contains(&format!("{} report bucket(s)", kept.len())) && said.contains("the same as kept"), "{said}");

    // One bucket off by one ticket: the rebuild notices and puts it right.
    let store = open_store(&data);
    let mut tampered = kept.clone();
    tampered[0].1.opened += 1;
    store.replace_report_buckets(&tampered).expect("tamper");
    drop(store);
    let said = rebuild();
    assert!(said.contains("differed"), "{said}");
    let store = open_store(&data);
    assert_eq!(store.all_report_buckets().expect("buckets"), kept, "the rebuild wrote the buckets the events give");
}

/// The store in `data`, once the previous handle has let go of it.
fn open_store(data: &Path) -> afterdesk::store::Store {
    for _ in 0..50 {
        if let Ok(store) = afterdesk::store::Store::open(&afterdesk::store::StoreConfig::new(data)) {
            return store;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the store in {} stays locked", data.display());
}
