//! What reports cost: reading KPIs at 100k and 1M tickets, and what keeping the figures adds to
//! every command.
//!
//! 1. **Reading.** `TICKETS` tickets of a year (six categories, four priorities, five
//!    channels, ten agents in three teams; most answered and resolved, some reopened, surveyed,
//!    breached) are made in memory and their contributions stored as the writer would have
//!    kept them. Then `reports::query::figures` (what `GET /v1/reports/kpis` computes) runs for
//!    the last 30 days, the whole year, and one agent's year, `RUNS` times each: p50 and p99.
//!    The limit, measured in the same run: reading the same buckets' bytes from sled without
//!    decoding or adding anything.
//! 2. **Writing.** The same commands (open, then a transition) through the writer with 64
//!    concurrent callers, once keeping the figures and once with `skip_reports`, on fresh
//!    stores: the ratio of the throughputs.
//!
//! ```sh
//! cargo run --release --example bench_reports [-- TICKETS... ]   # default: 100000 1000000
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use afterdesk::clock::SystemClock;
use afterdesk::engine::event::{Event, Relation};
use afterdesk::engine::survey::SurveyAnswer;
use afterdesk::engine::ticket::{Link, SlaClock};
use afterdesk::engine::{Actor, Change, Command, CustomerId, CustomerInput, OpenTicket, Ticket, TicketId};
use afterdesk::registry::Registry;
use afterdesk::reports::aggregate::Agg;
use afterdesk::reports::facts::{BucketKey, contribution};
use afterdesk::reports::kpis::Filter;
use afterdesk::reports::query::{Query, figures};
use afterdesk::store::{Store, StoreConfig};
use afterdesk::workflow::model::WorkflowFile;
use afterdesk::writer::{CommandRequest, OpenRequest, Writer, WriterSettings};
use chrono::{DateTime, Duration as Span, NaiveDate, Utc};
use ulid::Ulid;

const RUNS: usize = 50;
const CATEGORIES: [&str; 6] = ["installation", "repair", "maintenance", "billing", "order_status", "complaint"];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
const CHANNELS: [&str; 5] = ["phone", "email", "web", "walk_in", "messaging"];

/// A cheap deterministic generator (xorshift), so runs are comparable.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Ticket `n` of a year that ends at `end`.
fn ticket(n: usize, end: DateTime<Utc>, dice: &mut Dice) -> Ticket {
    let opened = end - Span::seconds(i64::try_from(dice.below(365 * 86_400)).unwrap_or(0));
    let event = Event {
        ticket: TicketId(Ulid::from_parts(u64::try_from(opened.timestamp_millis()).unwrap_or(0), n as u128)),
        revision: 1,
        at: opened,
        actor: Actor::integrator("bench"),
        change: Change::Opened {
            number: format!("AS-{n}"),
            workflow: "after-sales".into(),
            version: "bench".into(),
            stage: "intake".into(),
            priority: PRIORITIES[dice.below(4) as usize].into(),
            category: Some(CATEGORIES[dice.below(6) as usize].into()),
            channel: Some(CHANNELS[dice.below(5) as usize].into()),
            subject: "bench".into(),
            description: String::new(),
            customer: CustomerId(Ulid::from_parts(0, dice.below(100_000).into())),
            queue: None,
            role: None,
        },
    };
    let mut t = Ticket::open(&event).unwrap_or_else(|| unreachable!("an Opened event opens a ticket"));
    let agent = dice.below(10);
    t.assignee = Some(format!("agent{agent}@example.com"));
    t.role = Some(["support_agent", "technician", "support_lead"][(agent % 3) as usize].into());
    if dice.below(10) < 9 {
        let after = Span::seconds(i64::try_from(60 + dice.below(8 * 3600)).unwrap_or(0));
        t.first_response_at = Some(opened + after);
        t.public_replies = 1 + u32::try_from(dice.below(3)).unwrap_or(0);
        t.slas.insert("first_response".into(), clock(opened, opened + after, dice.below(10) < 8));
    }
    if dice.below(10) < 8 {
        let after = Span::seconds(i64::try_from(3600 + dice.below(5 * 86_400)).unwrap_or(0));
        t.resolved_at = Some(opened + after);
        t.replies_at_resolution = Some(t.public_replies);
        t.reopened = u32::from(dice.below(10) == 0);
        t.visited.insert("survey".into());
        t.slas.insert("resolution".into(), clock(opened, opened + after, dice.below(10) < 7));
        if dice.below(3) == 0 {
            t.surveys.push(SurveyAnswer {
                survey: "mail".into(),
                csat: Some(1 + u8::try_from(dice.below(5)).unwrap_or(0)),
                nps: Some(u8::try_from(dice.below(11)).unwrap_or(0)),
                ces: Some(1 + u8::try_from(dice.below(7)).unwrap_or(0)),
                comment: None,
            });
        }
    }
    if dice.below(8) == 0 {
        t.links.insert(Link { ticket: TicketId(Ulid::nil()), relation: Relation::RepeatOf });
    }
    t
}

fn clock(started: DateTime<Utc>, stopped: DateTime<Utc>, met: bool) -> SlaClock {
    let used = u64::try_from((stopped - started).num_seconds()).unwrap_or(0) / 2;
    SlaClock {
        target_secs: 4 * 3600,
        started_at: started,
        used_secs: used,
        running_since: None,
        warned: !met,
        breached_at: (!met).then_some(stopped - Span::seconds(60)),
        level: 0,
        reminders: 0,
        last_alert_at: None,
        stopped_at: Some(stopped),
        business_secs: Some(used),
        met: Some(met),
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

/// Runs `f` `RUNS` times: p50 and p99.
fn timed(mut f: impl FnMut()) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn reading(workflow: &WorkflowFile, tickets: usize, base: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let end = Utc::now();
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut buckets: BTreeMap<BucketKey, Agg> = BTreeMap::new();
    let made = Instant::now();
    for n in 0..tickets {
        for (bucket, agg) in contribution(workflow, &ticket(n, end, &mut dice)) {
            buckets.entry(bucket).or_default().apply(&agg, 1);
        }
    }
    let buckets: Vec<(BucketKey, Agg)> = buckets.into_iter().collect();
    let dir = tempfile::tempdir_in(base)?;
    let store = Store::open(&StoreConfig::new(dir.path()))?;
    store.replace_report_buckets(&buckets)?;
    println!("\n{tickets} tickets: {} buckets, made and stored in {:.1}s", buckets.len(), made.elapsed().as_secs_f64());
    let today = end.date_naive();
    let year = today - Span::days(365);
    let cases: [(&str, NaiveDate, Filter); 3] = [
        ("last 30 days", today - Span::days(29), Filter::default()),
        ("whole year", year, Filter::default()),
        ("one agent's year", year, Filter { agent: Some("agent3@example.com".into()), ..Filter::default() }),
    ];
    for (name, from, filter) in cases {
        let query = Query { workflow: "after-sales".into(), from, to: today, filter };
        let result = figures(&store, &query)?;
        let (p50, p99) = timed(|| {
            let _ = figures(&store, &query);
        });
        let (raw50, raw99) = timed(|| {
            let bytes: usize = store.raw_report_bytes("after-sales", query.from, query.to);
            std::hint::black_box(bytes);
        });
        println!(
            "  {name:<17} {:>8} opened {:>8} resolved: p50 {:>7.2} ms  p99 {:>7.2} ms   (reading the bytes alone: p50 {:>6.2} ms  p99 {:>6.2} ms; ratio p99 {:.1})",
            result.tickets_opened,
            result.tickets_resolved,
            ms(p50),
            ms(p99),
            ms(raw50),
            ms(raw99),
            ms(p99) / ms(raw99).max(1e-6),
        );
    }
    Ok(())
}

fn request(i: usize) -> OpenTicket {
    OpenTicket {
        workflow: "after-sales".into(),
        subject: format!("Request {i}"),
        category: Some(CATEGORIES[i % 6].into()),
        customer: CustomerInput {
            email: Some(format!("customer{}@example.com", i % 5_000)),
            ..CustomerInput::default()
        },
        ..OpenTicket::default()
    }
}

/// Commands per second: `count` opens and `count` notes, 64 callers at a time.
async fn writing(count: usize, skip_reports: bool, base: &Path) -> Result<f64, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir_in(base)?;
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let store = Store::open(&StoreConfig::new(dir.path()))?;
    let registry = Arc::new(Registry::load(store, &workflows)?);
    let settings = WriterSettings { skip_reports, ..WriterSettings::default() };
    let (writer, _thread) = Writer::start_with(registry, Arc::new(SystemClock), settings);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..64 {
        let writer = writer.clone();
        tasks.spawn(async move {
            let admin = Actor::admin("bench@example.com");
            let mut i = w;
            while i < count {
                let opened = writer
                    .open(OpenRequest { ticket: request(i), actor: admin.clone(), idempotency_key: None })
                    .await
                    .map_err(|e| e.to_string())?;
                let command = Command::Comment { body: "Called the customer back.".into(), public: true };
                let request = CommandRequest {
                    ticket: opened.ticket.number,
                    command,
                    actor: admin.clone(),
                    expected_revision: None,
                };
                writer.command(request).await.map_err(|e| e.to_string())?;
                i += 64;
            }
            Ok::<(), String>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    #[allow(clippy::cast_precision_loss)]
    Ok((2 * count) as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![100_000, 1_000_000] } else { sizes };
    let base = std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    println!(
        "afterdesk bench_reports: {} CPUs, {} build",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    let workflow =
        afterdesk::workflow::load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/after-sales.toml"))
            .map_err(|problems| format!("the bundled workflow: {} problems", problems.len()))?;
    for tickets in sizes {
        reading(&workflow.definition, tickets, &base)?;
    }

    println!("\nWriting: opens and public replies, 64 callers, durable group commit");
    let count = 3_000;
    // Alternate, so drift of a loaded machine affects both alike.
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..2 {
        without.push(writing(count, true, &base).await?);
        with.push(writing(count, false, &base).await?);
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    println!(
        "  without report figures: {:.0} commands/s (best of {:?})",
        best(&without),
        without.iter().map(|r| r.round()).collect::<Vec<_>>()
    );
    println!(
        "  keeping them:           {:.0} commands/s (best of {:?})",
        best(&with),
        with.iter().map(|r| r.round()).collect::<Vec<_>>()
    );
    println!("  cost: {:.1} % of the throughput", 100.0 * (1.0 - best(&with) / best(&without)));
    Ok(())
}
