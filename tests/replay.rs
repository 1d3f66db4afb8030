//! Property: a ticket's state is exactly the fold of its events. Random command sequences run
//! through the engine (thousands of them) and through the writer into sled; replaying the log
//! always gives the snapshot, byte for byte after a JSON round trip.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use afterdesk::clock::ManualClock;
use afterdesk::engine::{Actor, Command, Context, Customer, Event, History, Ticket, TicketId, decide, open, stamp};
use afterdesk::workflow::{Workflow, load_file};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::json;
use ulid::Ulid;

fn workflow() -> Arc<Workflow> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/after-sales.toml");
    Arc::new(load_file(&path).expect("bundled workflow loads"))
}

const PEOPLE: [&str; 6] = [
    "maryam@example.com",
    "ali@example.com",
    "reza@example.com",
    "leila@example.com",
    "parts@example.com",
    "stranger@example.com",
];

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        5 => (0..PEOPLE.len()).prop_map(|i| Actor::agent(PEOPLE[i])),
        5 => Just(Actor::admin("admin@example.com")),
        1 => Just(Actor { id: "customer".into(), kind: afterdesk::engine::ActorKind::Customer }),
    ]
}

fn form_values() -> impl Strategy<Value = (String, BTreeMap<String, serde_json::Value>)> {
    prop_oneof![
        Just((
            "request".to_string(),
            BTreeMap::from([
                ("product".to_string(), json!("Washer W1")),
                ("problem".to_string(), json!("It stops in the middle of a cycle")),
            ])
        )),
        Just(("request".to_string(), BTreeMap::from([("serial".to_string(), json!("bad serial"))]))),
        Just((
            "diagnosis".to_string(),
            BTreeMap::from([
                ("findings".to_string(), json!("Pump blocked")),
                ("cause".to_string(), json!("wear")),
                ("under_warranty".to_string(), json!(true)),
            ])
        )),
        Just(("diagnosis".to_string(), BTreeMap::from([("estimated_cost".to_string(), json!(9_000_000))]))),
        Just((
            "resolution_report".to_string(),
            BTreeMap::from([
                ("outcome".to_string(), json!("repaired")),
                ("work_done".to_string(), json!("Pump cleaned")),
            ])
        )),
        Just(("satisfaction".to_string(), BTreeMap::from([("csat".to_string(), json!(5))]))),
        Just(("request".to_string(), BTreeMap::from([("problem".to_string(), serde_json::Value::Null)]))),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    let items = [
        "Customer and product identified",
        "Request confirmed with the customer",
        "Warranty status checked",
        "Parts availability checked",
        "Customer agreed to the cost",
        "Solution explained to the customer",
        "Customer confirmed the fix",
    ];
    // Weighted so that sequences get deep into the workflow rather than cancel early.
    let transitions = prop::sample::select(vec![
        "accept",
        "accept",
        "accept",
        "proceed",
        "proceed",
        "proceed",
        "resolve",
        "resolve",
        "resolve",
        "close",
        "close",
        "ask_customer",
        "customer_replied",
        "customer_replied",
        "back_to_review",
        "cancel",
    ]);
    prop_oneof![
        6 => form_values().prop_map(|(form, values)| Command::SaveForm { form, values }),
        8 => ((0..items.len()), prop::bool::weighted(0.85)).prop_map(move |(i, checked)| Command::Tick { item: items[i].into(), checked }),
        2 => any::<bool>().prop_map(|public| Command::Comment { body: "An update".into(), public }),
        1 => Just(Command::RecordStep { description: "Called the customer".into() }),
        1 => (0..PEOPLE.len()).prop_map(|i| Command::Assign { assignee: Some(PEOPLE[i].into()) }),
        1 => prop::sample::select(vec!["low", "normal", "high", "urgent"]).prop_map(|p| Command::SetPriority { priority: p.into() }),
        1 => Just(Command::RequestApproval { note: None }),
        1 => Just(Command::Approve { note: Some("ok".into()) }),
        5 => transitions.prop_map(|name| Command::Transition { name: name.into() }),
        1 => Just(Command::Resolve { note: None }),
        1 => Just(Command::Close),
        1 => Just(Command::Reopen { reason: Some("Not fixed".into()) }),
    ]
}

fn customer() -> Customer {
    support::sam(false, support::start_time())
}

/// Runs `steps` on a fresh ticket through the pure engine; returns the log and the snapshot.
fn run(workflow: &Workflow, steps: &[(Actor, Command, i64)]) -> (Vec<Event>, Ticket, usize) {
    let clock = ManualClock::new(support::start_time());
    let customer = customer();
    let history = History::default();
    let ctx = Context {
        workflow,
        customer: Some(&customer),
        history: &history,
        other: None,
        now: clock.now_utc(),
        team: None,
    };
    let id = TicketId(Ulid::from_parts(2, 2));
    let request = support::request("Washer", "sam@example.com");
    let mut log = open(&ctx, id, "AS-1".into(), customer.id, &request, &Actor::integrator("web")).expect("open");
    let mut ticket = Ticket::replay(&log).expect("opened");
    let mut accepted = 0;
    for (actor, command, minutes) in steps {
        clock.advance(chrono::Duration::minutes(*minutes));
        let ctx = Context { now: clock.now_utc(), ..ctx };
        if let Ok(changes) = decide(&ctx, &ticket, command, actor) {
            let events = stamp(ticket.id, ticket.revision, actor, ctx.now, changes);
            for event in &events {
                ticket.apply(event);
            }
            accepted += usize::from(!events.is_empty());
            log.extend(events);
        }
    }
    (log, ticket, accepted)
}

trait NowUtc {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc>;
}

impl NowUtc for ManualClock {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc> {
        afterdesk::clock::Clock::now(self)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

    #[test]
    fn replaying_the_log_gives_the_snapshot(steps in prop::collection::vec((actor(), command(), 0i64..600), 0..40)) {
        let workflow = workflow();
        let (log, ticket, _) = run(&workflow, &steps);
        // Revisions count events one by one.
        for (i, event) in log.iter().enumerate() {
            prop_assert_eq!(event.revision, i as u64 + 1);
        }
        prop_assert_eq!(Ticket::replay(&log), Some(ticket.clone()));
        // The log as stored (JSON) replays to the snapshot as stored.
        let stored: Vec<Event> = serde_json::from_str(&serde_json::to_string(&log).expect("encode")).expect("decode");
        let snapshot: Ticket = serde_json::from_str(&serde_json::to_string(&ticket).expect("encode")).expect("decode");
        prop_assert_eq!(Ticket::replay(&stored), Some(snapshot));
    }
}

/// The generator reaches deep into the workflow, so the property is not only about openings.
#[test]
fn generated_sequences_move_tickets_through_the_workflow() {
    let workflow = workflow();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec((actor(), command(), 0i64..600), 100..120);
    let mut stages = std::collections::BTreeSet::new();
    let mut accepted = 0;
    for _ in 0..600 {
        let steps = strategy.new_tree(&mut runner).expect("generate").current();
        let (log, ticket, count) = run(&workflow, &steps);
        accepted += count;
        stages.extend(ticket.visited.iter().cloned());
        assert!(!log.is_empty());
    }
    assert!(accepted > 1_000, "only {accepted} commands were accepted");
    for stage in ["intake", "review", "waiting_customer", "cancelled"] {
        assert!(stages.contains(stage), "no sequence reached {stage}: {stages:?}");
    }
}

/// The same through the writer and sled: every stored snapshot is the fold of its stored log.
#[test]
fn stored_snapshots_are_the_fold_of_stored_events() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = support::copy_project_workflows(dir.path());
    let desk = support::Desk::start(&dir.path().join("data"), &workflows, ManualClock::new(support::start_time()));
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec((0usize..8, actor(), command()), 300);
    let steps = strategy.new_tree(&mut runner).expect("generate").current();
    runtime.block_on(async {
        let mut numbers = Vec::new();
        for i in 0..8 {
            let ticket = desk.open(support::request(&format!("Request {i}"), &format!("c{}@example.com", i % 3))).await;
            numbers.push(ticket.expect("open").ticket.number);
        }
        for (which, actor, command) in steps {
            desk.clock.advance(chrono::Duration::minutes(7));
            let _ = desk.run(&numbers[which], actor, command).await;
        }
    });
    let mut checked = 0;
    for id in desk.store.ticket_ids() {
        let id = id.expect("id");
        let snapshot = desk.store.ticket(id).expect("read").expect("stored");
        let events = desk.store.events(id).expect("events");
        assert_eq!(Ticket::replay(&events), Some(snapshot));
        checked += 1;
    }
    assert_eq!(checked, 8);
    desk.stop();
}
