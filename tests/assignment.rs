//! Assignment: round robin, least loaded, availability and sticky assignment.
//!
//! The picker is pure ([`afterdesk::engine::assign::pick`]); the first tests drive it the way
//! the writer does (turns move past the person picked, loads grow), the last ones go through
//! the real writer and store: 1,000 tickets at once (grouped commits), turns that survive a
//! restart, loads counted again at start, and sticky assignment from the customer's history.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use afterdesk::clock::ManualClock;
use afterdesk::engine::assign::{self, LEAST_LOADED, Pick, ROUND_ROBIN, STICKY};
use afterdesk::engine::customer::PastTicket;
use afterdesk::engine::routing::Route;
use afterdesk::engine::{Change, CustomerInput, History, OpenTicket, Team, TicketId};
use afterdesk::workflow::model::Strategy;
use afterdesk::workflow::{Workflow, load_file};
use support::Desk;
use ulid::Ulid;

const A: &str = "a@example.com";
const B: &str = "b@example.com";
const C: &str = "c@example.com";

fn fixture() -> Workflow {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workflows/rules/rules.toml");
    load_file(&path).unwrap_or_else(|_| panic!("{} loads", path.display()))
}

fn route(strategy: Strategy, sticky: bool) -> Route {
    Route { queue: Some("q".into()), role: Some("team".into()), strategy: Some(strategy), sticky }
}

/// Picks `n` times as the writer would: a pick by turn moves the turn, every pick adds load.
fn run(workflow: &Workflow, route: &Route, team: &mut Team, history: &History, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        match assign::pick(&workflow.definition, route, team, history) {
            Pick::Person { person, by, .. } => {
                if let Some(next) = assign::turn_after(&workflow.definition, "team", &person, by) {
                    team.turns.insert("team".into(), next);
                }
                *team.load.entry(person.clone()).or_insert(0) += 1;
                *counts.entry(person).or_insert(0) += 1;
            }
            other => panic!("someone must be picked, not {other:?}"),
        }
    }
    counts
}

fn spread(counts: &BTreeMap<String, usize>) -> usize {
    counts.values().max().unwrap_or(&0) - counts.values().min().unwrap_or(&0)
}

#[test]
fn round_robin_is_fair_over_a_thousand_tickets() {
    let workflow = fixture();
    let mut team = Team::default();
    let counts = run(&workflow, &route(Strategy::RoundRobin, false), &mut team, &History::default(), 1_000);
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(spread(&counts) <= 1, "counts differ by at most one: {counts:?}");
    assert_eq!(counts.values().sum::<usize>(), 1_000);
    // Turns go in the order of `[roles]`, from where the last one stopped.
    assert_eq!(counts[A], 334);
    assert_eq!(team.turns["team"], 1);
}

#[test]
fn round_robin_skips_whoever_is_away_and_stays_fair_among_the_rest() {
    let workflow = fixture();
    let mut team = Team { away: [B.to_string()].into(), ..Team::default() };
    let counts = run(&workflow, &route(Strategy::RoundRobin, false), &mut team, &History::default(), 1_000);
    assert_eq!(counts.get(B), None, "never the absent one: {counts:?}");
    assert_eq!((counts[A], counts[C]), (500, 500));
    // Back again: B's turn comes as before.
    team.away.clear();
    team.turns.insert("team".into(), 1);
    assert!(matches!(
        assign::pick(&workflow.definition, &route(Strategy::RoundRobin, false), &team, &History::default()),
        Pick::Person { person, by: ROUND_ROBIN, .. } if person == B
    ));
}

#[test]
fn least_loaded_evens_out_the_load() {
    let workflow = fixture();
    let load: HashMap<String, u32> = [(A.to_string(), 40), (B.to_string(), 0), (C.to_string(), 25)].into();
    let mut team = Team { load, ..Team::default() };
    let counts = run(&workflow, &route(Strategy::LeastLoaded, false), &mut team, &History::default(), 35);
    // B catches up with C first, then both take turns towards A: B 30, C 30, A untouched.
    assert_eq!(counts.get(A), None, "{counts:?}");
    assert_eq!((counts[B], counts[C]), (30, 5));
    let more = run(&workflow, &route(Strategy::LeastLoaded, false), &mut team, &History::default(), 1_000);
    let loads: Vec<u32> = [A, B, C].iter().map(|p| team.load_of(p)).collect();
    assert!(loads.iter().max().unwrap_or(&0) - loads.iter().min().unwrap_or(&0) <= 1, "balanced: {loads:?} {more:?}");
}

#[test]
fn least_loaded_never_picks_the_unavailable_even_when_idle() {
    let workflow = fixture();
    let load: HashMap<String, u32> = [(A.to_string(), 9), (B.to_string(), 7)].into();
    let mut team = Team { load, away: [C.to_string()].into(), ..Team::default() };
    let counts = run(&workflow, &route(Strategy::LeastLoaded, false), &mut team, &History::default(), 100);
    assert_eq!(counts.get(C), None);
    assert_eq!((team.load_of(A), team.load_of(B)), (58, 58));
}

#[test]
fn a_role_with_everyone_away_assigns_nobody_and_says_why() {
    let workflow = fixture();
    let team = Team { away: [A, B, C].iter().map(|p| p.to_string()).collect(), ..Team::default() };
    for strategy in [Strategy::RoundRobin, Strategy::LeastLoaded] {
        let pick = assign::pick(&workflow.definition, &route(strategy, true), &team, &History::default());
        let Pick::Nobody { reason } = &pick else { panic!("nobody, not {pick:?}") };
        assert!(reason.contains("unavailable"), "{reason}");
        assert!(matches!(pick.change("team"), Some((_, Change::NotAssigned { role, .. })) if role == "team"));
    }
    let manual = assign::pick(&workflow.definition, &route(Strategy::Manual, true), &team, &History::default());
    assert_eq!(manual, Pick::Manual);
    assert_eq!(manual.change("team"), None);
}

fn served_by(person: Option<&str>) -> History {
    History {
        tickets: vec![PastTicket {
            id: TicketId(Ulid::generate()),
            workflow: "engine-rules".into(),
            category: Some("repair".into()),
            opened_at: support::start_time(),
            csat: Some(5),
            assignee: person.map(str::to_string),
        }],
    }
}

#[test]
fn sticky_prefers_the_agent_who_last_served_the_customer() {
    let workflow = fixture();
    let mut team = Team::default();
    let sticky = route(Strategy::RoundRobin, true);
    // C served the customer last time: C again, and the turn does not move.
    let pick = assign::pick(&workflow.definition, &sticky, &team, &served_by(Some("C@Example.com")));
    assert!(matches!(&pick, Pick::Person { person, by: STICKY, .. } if person == C), "{pick:?}");
    assert_eq!(assign::turn_after(&workflow.definition, "team", C, STICKY), None);
    // Not when C is away, nor when the rule is not sticky, nor for someone outside the role.
    team.away.insert(C.into());
    let pick = assign::pick(&workflow.definition, &sticky, &team, &served_by(Some(C)));
    assert!(matches!(&pick, Pick::Person { person, by: ROUND_ROBIN, .. } if person == A), "{pick:?}");
    team.away.clear();
    let pick = assign::pick(&workflow.definition, &route(Strategy::RoundRobin, false), &team, &served_by(Some(C)));
    assert!(matches!(&pick, Pick::Person { by: ROUND_ROBIN, .. }), "{pick:?}");
    let pick = assign::pick(&workflow.definition, &sticky, &team, &served_by(Some("l@example.com")));
    assert!(matches!(&pick, Pick::Person { by: ROUND_ROBIN, .. }), "{pick:?}");
    let least = route(Strategy::LeastLoaded, true);
    let pick = assign::pick(&workflow.definition, &least, &team, &served_by(None));
    assert!(matches!(&pick, Pick::Person { by: LEAST_LOADED, .. }), "{pick:?}");
}

// ================================================================= through the writer and store

fn rules_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workflows/rules")
}

fn ticket(subject: &str, email: &str, category: Option<&str>) -> OpenTicket {
    OpenTicket {
        workflow: "engine-rules".into(),
        subject: subject.into(),
        category: category.map(str::to_string),
        customer: CustomerInput { email: Some(email.into()), ..CustomerInput::default() },
        ..OpenTicket::default()
    }
}

async fn open_many(desk: &Desk, n: usize, category: Option<&str>) -> BTreeMap<String, usize> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let writer = desk.writer.clone();
        let request = ticket(&format!("T{i}"), &format!("c{i}@example.com"), category);
        tasks.push(tokio::spawn(async move {
            let request = afterdesk::writer::OpenRequest {
                ticket: request,
                actor: afterdesk::engine::Actor::integrator("web-form"),
                idempotency_key: None,
            };
            writer.open(request).await
        }));
    }
    let mut counts = BTreeMap::new();
    for task in tasks {
        let outcome = task.await.expect("task").expect("opened");
        *counts.entry(outcome.ticket.assignee.unwrap_or_default()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tickets_at_once_are_dealt_out_fairly_and_turns_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(support::start_time());
    let desk = Desk::start(&dir.path().join("data"), &rules_dir(), clock.clone());
    let counts = open_many(&desk, 1_000, None).await;
    assert_eq!(counts.keys().map(String::as_str).collect::<Vec<_>>(), [A, B, C]);
    assert!(spread(&counts) <= 1, "{counts:?}");
    // 1,000 = 3 * 333 + 1: A had one more, so the next turn is B's, also after a restart.
    desk.stop();
    let desk = Desk::start(&dir.path().join("data"), &rules_dir(), clock.clone());
    let next = desk.open(ticket("after restart", "z@example.com", None)).await.expect("opened");
    assert_eq!(next.ticket.assignee.as_deref(), Some(B));
    // Loads were counted again at start: least-loaded sees A 334, B 335, C 333 and picks C.
    let billing = desk.open(ticket("billing", "y@example.com", Some("billing"))).await.expect("opened");
    assert_eq!(billing.ticket.assignee.as_deref(), Some(C));
    assert_eq!(desk.store.open_load(C).expect("load"), 334);
    desk.stop();
}

#[tokio::test]
async fn least_loaded_follows_tickets_closing_and_sticky_follows_the_customer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(support::start_time());
    let desk = Desk::start(&dir.path().join("data"), &rules_dir(), clock.clone());
    let counts = open_many(&desk, 30, Some("billing")).await;
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), [10, 10, 10]);
    // A closes three of theirs: the next three billing tickets are A's.
    let mine: Vec<String> = desk
        .store
        .list(&afterdesk::store::ListFilter { assignee: Some(A.into()), ..Default::default() }, None, 3)
        .expect("list")
        .tickets
        .into_iter()
        .map(|t| t.number)
        .collect();
    for number in &mine {
        let done = afterdesk::engine::Command::Transition { name: "done".into() };
        desk.run(number, afterdesk::engine::Actor::agent(A), done).await.expect("closed");
    }
    for i in 0..3 {
        let opened = desk.open(ticket(&format!("B{i}"), &format!("b{i}@example.com"), Some("billing"))).await;
        assert_eq!(opened.expect("opened").ticket.assignee.as_deref(), Some(A));
    }
    // Sticky repairs: a customer served by C comes back to C, whoever's turn it is.
    let first = desk.open(ticket("repair 1", "s@example.com", Some("repair"))).await.expect("opened");
    let served = first.ticket.assignee.clone().expect("assigned");
    let other = desk.open(ticket("repair 2", "t@example.com", Some("repair"))).await.expect("opened");
    assert_ne!(other.ticket.assignee, Some(served.clone()));
    let again = desk.open(ticket("repair 3", "s@example.com", Some("repair"))).await.expect("opened");
    assert_eq!(again.ticket.assignee, Some(served));
    let by = again.events.iter().find(|e| matches!(e.change, Change::Assigned { .. })).map(|e| e.actor.id.clone());
    assert_eq!(by.as_deref(), Some(STICKY));
    desk.stop();
}

#[test]
fn an_escalation_hands_the_ticket_to_the_least_loaded_available_other_member() {
    let workflow = fixture();
    let load: HashMap<String, u32> = [(A.to_string(), 1), (B.to_string(), 4), (C.to_string(), 2)].into();
    let mut team = Team { load, ..Team::default() };
    let to = |team: &Team, current: Option<&str>| assign::escalate_to(&workflow.definition, "team", current, team);
    assert_eq!(to(&team, Some(C)).as_deref(), Some(A));
    assert_eq!(to(&team, Some(A)).as_deref(), Some(C), "never back to the one who let it slip");
    team.away.insert(C.into());
    assert_eq!(to(&team, Some(A)).as_deref(), Some(B));
    team.away.insert(B.into());
    assert_eq!(to(&team, Some(A)), None, "nobody else: it stays where it is");
    assert_eq!(assign::escalate_to(&workflow.definition, "nobody", None, &team), None);
}
