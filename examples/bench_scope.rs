//! What read scoping costs a ticket list: an agent who may read one small workflow among many
//! tickets, against an administrator reading everything.
//!
//! Opens `TICKETS` tickets through the writer in two workflows, `big` and `small` (every
//! `RATIO`-th ticket is `small`), then times one page of 50 (`Store::list`, the call behind
//! `GET /v1/tickets`) for:
//!
//! - everything (an administrator): the baseline;
//! - the scope `{small}` (an agent of `small` only), which walks `small`'s workflow index;
//! - the scope `{big, small}` (an agent of both), which merges both workflows' indexes;
//! - the naive alternative for `{small}`: read pages of everything and keep `small`'s tickets
//!   until 50 are found (what filtering after the fact would cost).
//!
//! and prints each as a ratio to the baseline.
//!
//! ```sh
//! cargo run --release --example bench_scope [-- TICKETS [RATIO]]
//! ```

use std::collections::BTreeSet;
use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use afterdesk::clock::ManualClock;
use afterdesk::engine::{Actor, CustomerInput, OpenTicket};
use afterdesk::registry::Registry;
use afterdesk::store::{ListFilter, Store, StoreConfig};
use afterdesk::writer::{OpenRequest, Writer};
use tokio::task::JoinSet;

const PAGE: usize = 50;

fn workflow(id: &str, prefix: &str) -> String {
    format!(
        "id = \"{id}\"\nname = \"{id}\"\nticket_prefix = \"{prefix}\"\npriorities = [\"normal\"]\n\n\
         [roles]\ndesk = [\"d@example.com\"]\n\n[stages.todo]\nraci = {{ responsible = \"desk\" }}\n\
         transitions = [{{ name = \"finish\", to = \"done\" }}]\n\n[stages.done]\nterminal = true\n"
    )
}

/// Mean microseconds of `f` over `runs` runs.
fn time_us<T>(runs: u32, mut f: impl FnMut() -> T) -> f64 {
    let started = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(f());
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(runs)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let tickets: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20_000);
    let ratio: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);
    let root = tempfile::tempdir()?;
    let workflows = root.path().join("workflows");
    std::fs::create_dir_all(&workflows)?;
    std::fs::write(workflows.join("big.toml"), workflow("big", "BG"))?;
    std::fs::write(workflows.join("small.toml"), workflow("small", "SM"))?;
    let store = Store::open(&StoreConfig { path: root.path().join("data"), cache_bytes: 64 * 1024 * 1024 })?;
    let registry = Arc::new(Registry::load(store.clone(), &workflows)?);
    let clock = ManualClock::new(chrono::Utc::now());
    let (writer, thread) = Writer::start(registry, Arc::new(clock));

    let started = Instant::now();
    let mut opens = JoinSet::new();
    for i in 0..tickets {
        let writer = writer.clone();
        opens.spawn(async move {
            let ticket = OpenTicket {
                workflow: if i % ratio == 0 { "small" } else { "big" }.into(),
                subject: format!("Ticket {i}"),
                customer: CustomerInput { email: Some(format!("c{}@example.com", i % 1_000)), ..Default::default() },
                ..OpenTicket::default()
            };
            writer.open(OpenRequest { ticket, actor: Actor::integrator("bench"), idempotency_key: None }).await
        });
    }
    while let Some(opened) = opens.join_next().await {
        opened??;
    }
    println!("{tickets} tickets opened in {:.1} s; 1 in {ratio} is in `small`", started.elapsed().as_secs_f64());
    drop(writer);
    thread.join().map_err(|_| "the writer panicked")?;

    let scope = |ids: &[&str]| ListFilter {
        workflows: Some(ids.iter().map(|id| id.to_string()).collect::<BTreeSet<_>>()),
        ..ListFilter::default()
    };
    let all = ListFilter::default();
    let small = scope(&["small"]);
    let both = scope(&["big", "small"]);
    let check = |filter: &ListFilter| store.list(filter, None, PAGE).map(|page| page.tickets.len());
    println!("page sizes: all {}, {{small}} {}, {{big, small}} {}", check(&all)?, check(&small)?, check(&both)?);

    // Filtering after the fact: pages of everything until 50 of `small` are found.
    let naive = || -> Result<usize, Box<dyn Error>> {
        let (mut found, mut cursor) = (0, None);
        while found < PAGE {
            let page = store.list(&all, cursor, PAGE)?;
            found += page.tickets.iter().filter(|t| t.workflow == "small").count();
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(found)
    };
    let runs = 200;
    let base = time_us(runs, || store.list(&all, None, PAGE));
    let rows = [
        ("everything (administrator)", base),
        ("scope {small} (index walk)", time_us(runs, || store.list(&small, None, PAGE))),
        ("scope {big, small} (merged)", time_us(runs, || store.list(&both, None, PAGE))),
        ("scope {small}, naive filter", time_us(runs / 10, naive)),
    ];
    println!("one page of {PAGE}, mean of {runs} runs:");
    for (name, us) in rows {
        println!("  {name:<30} {us:>9.1} µs   {:>6.2}× the administrator's page", us / base);
    }
    Ok(())
}
