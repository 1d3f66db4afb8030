//! Cost per ticket of routing and assignment on the bundled workflow, through the pure engine.
//!
//! For a mix of new tickets (categories, priorities, VIP and repeat customers) it measures:
//! building the script view of the ticket; the bundled `[[routing]]` rules, whose first rule
//! runs `scripts/route-vip.rhai` on every ticket; picking the person (round robin / least
//! loaded / sticky); and the whole `engine::open` with and without assignment. Compare with the
//! writer's per-open cost (`bench_commands`): routing must not be what limits throughput.
//!
//! ```sh
//! cargo run --release --example bench_routing [-- TICKETS]
//! ```

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use afterdesk::engine::customer::PastTicket;
use afterdesk::engine::view::ticket_view;
use afterdesk::engine::{
    Actor, Context, Customer, CustomerId, CustomerInput, History, OpenTicket, Team, Ticket, TicketId, assign, open,
    routing, rules,
};
use afterdesk::workflow::load_file;
use afterdesk::workflow::script::CompiledScript;
use chrono::{DateTime, Utc};
use ulid::Ulid;

fn per_ticket(name: &str, count: usize, elapsed: Duration) {
    let ns = elapsed.as_nanos() as f64 / count as f64;
    println!("{name:<44} {:>9.0} ns/ticket  ({:>8.0} tickets/s)", ns, 1e9 / ns);
}

fn main() {
    let count: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/after-sales.toml");
    let Ok(workflow) = load_file(&path) else {
        eprintln!("{} does not load", path.display());
        std::process::exit(1);
    };
    let now: DateTime<Utc> = "2026-11-23T06:00:00Z".parse().unwrap_or_default();
    let customers: Vec<Customer> = (0..16)
        .map(|i| Customer {
            id: CustomerId(Ulid::from_parts(1, i)),
            name: format!("Customer {i}"),
            email: Some(format!("c{i}@example.com")),
            phone: None,
            external_id: None,
            vip: i % 8 == 0,
            language: None,
            created_at: now,
            updated_at: now,
            satisfaction: Default::default(),
            merged_into: None,
        })
        .collect();
    let histories: Vec<History> = (0..16u64)
        .map(|i| History {
            tickets: (0..i % 4)
                .map(|k| PastTicket {
                    id: TicketId(Ulid::from_parts(2, k as u128)),
                    workflow: "after-sales".into(),
                    category: Some("repair".into()),
                    opened_at: now - chrono::Duration::days(k as i64 + 1),
                    csat: Some(4),
                    assignee: Some("sara@example.com".into()),
                })
                .collect(),
        })
        .collect();
    let categories = ["repair", "installation", "billing", "order_status", "complaint", "maintenance"];
    let priorities = ["low", "normal", "high", "urgent"];
    let requests: Vec<OpenTicket> = (0..64)
        .map(|i| OpenTicket {
            workflow: "after-sales".into(),
            subject: format!("Request {i}"),
            category: Some(categories[i % categories.len()].into()),
            priority: Some(priorities[i % priorities.len()].into()),
            customer: CustomerInput { id: Some(customers[i % 16].id.to_string()), ..CustomerInput::default() },
            ..OpenTicket::default()
        })
        .collect();
    let team = Team::default();
    let actor = Actor::integrator("bench");
    // Ticket i is request i % 64 of customer i % 16.
    let ctx_of = |i: usize| (i % 16, i % 64);
    // Tickets as they are when routing runs (opened, not yet routed).
    let drafts: Vec<(usize, Ticket)> = (0..64)
        .map(|i| {
            let (c, r) = ctx_of(i);
            let ctx = Context {
                workflow: &workflow,
                customer: Some(&customers[c]),
                history: &histories[c],
                other: None,
                now,
                team: None,
            };
            let events = open(
                &ctx,
                TicketId(Ulid::from_parts(3, i as u128)),
                format!("AS-{i}"),
                customers[c].id,
                &requests[r],
                &actor,
            );
            let ticket = events.ok().and_then(|e| Ticket::replay(&e));
            (c, ticket.unwrap_or_else(|| panic!("request {i} opens")))
        })
        .collect();

    println!("bundled routing of workflows/after-sales.toml, {count} tickets, release build\n");
    let mut routed_vip = 0;
    for (label, with_view, with_route, with_pick) in [
        ("script view of the ticket", true, false, false),
        ("view + routing rules (route-vip.rhai first)", true, true, false),
        ("view + routing + assignment pick", true, true, true),
    ] {
        let started = Instant::now();
        for i in 0..count {
            let (c, ticket) = &drafts[i % drafts.len()];
            let ctx = Context {
                workflow: &workflow,
                customer: Some(&customers[*c]),
                history: &histories[*c],
                other: None,
                now,
                team: None,
            };
            if with_view {
                let view = ticket_view(&ctx, ticket);
                if with_route {
                    let route = routing::route(&workflow, ticket, &view);
                    if let Ok(route) = &route {
                        routed_vip += usize::from(route.queue.as_deref() == Some("vip"));
                        if with_pick {
                            black_box(assign::pick(&workflow.definition, route, &team, &histories[*c]));
                        }
                    }
                    black_box(route.is_ok());
                }
                drop(black_box(view));
            }
        }
        per_ticket(label, count, started.elapsed());
    }
    black_box(routed_vip);
    for (label, assigned) in [("engine::open, no assignment", false), ("engine::open with assignment", true)] {
        let started = Instant::now();
        for i in 0..count {
            let (c, r) = ctx_of(i);
            let ctx = Context {
                workflow: &workflow,
                customer: Some(&customers[c]),
                history: &histories[c],
                other: None,
                now,
                team: assigned.then_some(&team),
            };
            let events = open(
                &ctx,
                TicketId(Ulid::from_parts(4, i as u128)),
                format!("AS-{i}"),
                customers[c].id,
                &requests[r],
                &actor,
            );
            black_box(events.is_ok());
        }
        per_ticket(label, count, started.elapsed());
    }

    // What a runaway rule costs before the sandbox stops it.
    let looping = "let n = 0;\nloop { n += 1; }";
    let Ok(ast) = rhai::Engine::new().compile(looping) else { return };
    let script = CompiledScript { path: None, source: Arc::from(looping), ast: Arc::new(ast) };
    let view = rules::to_script_value(&serde_json::json!({}));
    let started = Instant::now();
    let runs = 20;
    for _ in 0..runs {
        black_box(rules::condition(&script, &view).is_err());
    }
    println!(
        "\nan endless loop is stopped after {} operations in {:.1} ms",
        rules::MAX_OPERATIONS,
        started.elapsed().as_secs_f64() * 1e3 / runs as f64
    );
}
