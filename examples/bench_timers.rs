//! Durable SLA timers at scale, on real sled: arm rate, memory and disk for a million armed
//! timers, the cost of finding due work among them, and the firing lag when many real
//! timers come due at the same instant.
//!
//! 1. Arms `TIMERS` inert timers (synthetic ticket ids, due 1 to 31 days after the start, so
//!    none comes due during the run) through `Store::commit`, `BATCH` keys per durable batch.
//! 2. Times `Store::next_timer()` and `Store::due_timers(now, 4096)` with all of them armed.
//! 3. Opens `TICKETS` real tickets of `tests/workflows/sla` through the writer (each arms its
//!    SLA timers), moves the manual clock past their first-response warning (+91 min) and times
//!    one `Scheduler::tick()` firing them all; then checks the inert timers are untouched and
//!    that a second tick fires nothing.
//!
//! ```sh
//! cargo run --release --example bench_timers [-- TIMERS [TICKETS [BATCH]]]
//! ```
//! The data folder is a temporary folder (set `BENCH_DIR` to put it elsewhere); it is removed
//! at the end.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use afterdesk::clock::{Clock, ManualClock};
use afterdesk::engine::{Actor, CustomerInput, OpenTicket, TicketId};
use afterdesk::registry::Registry;
use afterdesk::scheduler::{Fired, Scheduler};
use afterdesk::store::{Batch, Store, StoreConfig, timers};
use afterdesk::writer::{OpenRequest, Writer};
use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use ulid::Ulid;

/// The page cache given to sled.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// Kinds the inert timers carry (real kinds, so keys have a realistic size).
const KINDS: [&str; 4] = ["first_response/breach", "stage:intake/warn", "stage:intake/breach", "resolution/breach"];
const DAY_MS: u64 = 24 * 3_600 * 1_000;

/// Resident and peak resident memory of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib_kib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn rss_line(label: &str) -> u64 {
    let (rss, peak) = memory();
    println!("  RSS {label:<44} {:>8.1} MiB  (peak so far {:>7.1} MiB)", mib_kib(rss), mib_kib(peak));
    rss
}

/// Apparent size and allocated size of every file under `path`, in bytes.
fn folder_size(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut allocated = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                apparent += meta.len();
                allocated += meta.blocks() * 512;
            }
        }
    }
    (apparent, allocated)
}

fn disk_line(label: &str, path: &Path) {
    let (apparent, allocated) = folder_size(path);
    println!("  disk {label:<43} {:>8.1} MiB  ({:.1} MiB allocated)", mib(apparent), mib(allocated));
}

/// A small deterministic generator (splitmix64), so runs are comparable.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `runs` timings of `f`: (mean, p50, p99, max) in microseconds.
fn time_us<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, f64, f64, f64) {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |q: f64| samples.get(((samples.len() as f64 - 1.0) * q) as usize).copied().unwrap_or_default();
    let mean = samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len().max(1) as f64;
    (mean, us(at(0.5)), us(at(0.99)), us(at(1.0)))
}

fn at(text: &str) -> Result<DateTime<Utc>, Box<dyn Error>> {
    Ok(DateTime::parse_from_rfc3339(text)?.to_utc())
}

fn millis(time: DateTime<Utc>) -> u64 {
    u64::try_from(time.timestamp_millis()).unwrap_or(0)
}

fn from_millis(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX)).unwrap_or_default()
}

/// Inert timers are recognised by their synthetic ticket ids (ULID time 0): count and sum of due times.
fn inert_census(store: &Store, far: DateTime<Utc>) -> Result<(usize, u128), Box<dyn Error>> {
    let all = store.due_timers(far, usize::MAX)?;
    let inert = all.iter().filter(|t| t.ticket.0.timestamp_ms() == 0);
    Ok(inert.fold((0, 0), |(n, sum), t| (n + 1, sum + u128::from(millis(t.due)))))
}

fn arg(n: usize, default: usize) -> usize {
    std::env::args().nth(n).and_then(|a| a.replace('_', "").parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let total_timers = arg(1, 1_000_000);
    let tickets = arg(2, 20_000);
    let batch_size = arg(3, 10_000).max(1);
    let dir = match std::env::var_os("BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base)?,
        None => tempfile::tempdir()?,
    };
    let data: PathBuf = dir.path().join("data");
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workflows/sla");
    // Monday 23 November 2026, 09:00 in Berlin (the SLA test workflow's office calendar).
    let start = at("2026-11-23T08:00:00Z")?;
    let far = at("2100-01-01T00:00:00Z")?;
    let clock = ManualClock::new(start);

    println!("afterdesk bench_timers");
    println!(
        "  machine: {} cores (available_parallelism), release build, sled 0.34.7, page cache {} MiB (StoreConfig.cache_bytes)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        CACHE_BYTES / (1024 * 1024)
    );
    println!("  data folder: {} (on disk, not tmpfs)", data.display());
    println!("  manual clock starts at {start}");
    println!();

    // ---------------------------------------------------------------- 1. arm
    println!("1. Arming {total_timers} inert timers, {batch_size} keys per durable Store::commit");
    let rss_before = rss_line("before opening the store");
    let store = Store::open(&StoreConfig { path: data.clone(), cache_bytes: CACHE_BYTES })?;
    let rss_open = rss_line("store open, empty");
    let inert_from = millis(start) + DAY_MS;
    let inert_span = 30 * DAY_MS;
    println!(
        "  due times uniformly random in [{}, {}) (30 days; none due during the run)",
        from_millis(inert_from),
        from_millis(inert_from + inert_span)
    );
    let mut rng = SplitMix(0x00AF_7E2D_E5C0_FFEE);
    let mut armed = 0usize;
    let mut due_sum: u128 = 0;
    let mut commit_time = Duration::ZERO;
    let mut batch_times = Vec::new();
    let started = Instant::now();
    while armed < total_timers {
        let n = batch_size.min(total_timers - armed);
        let keys: Vec<Vec<u8>> = (armed..armed + n)
            .map(|i| {
                let due = inert_from + rng.next() % inert_span;
                due_sum += u128::from(due);
                let ticket = TicketId(Ulid::from_parts(0, (u128::from(rng.next()) << 32) | i as u128));
                timers::key(from_millis(due), ticket, KINDS[i % KINDS.len()])
            })
            .collect();
        let batch = Batch { timers_armed: keys, ..Batch::default() };
        let t = Instant::now();
        store.commit(&batch)?;
        let took = t.elapsed();
        commit_time += took;
        batch_times.push(took);
        armed += n;
        if armed % 100_000 < batch_size {
            let (rss, _) = memory();
            eprintln!(
                "  .. {armed:>9} armed, {:>6.1}s, {:>8.0}/s, RSS {:.0} MiB",
                started.elapsed().as_secs_f64(),
                armed as f64 / started.elapsed().as_secs_f64(),
                mib_kib(rss)
            );
        }
    }
    let wall = started.elapsed();
    batch_times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = batch_times.get(batch_times.len() / 2).copied().unwrap_or_default();
    let slowest = batch_times.last().copied().unwrap_or_default();
    println!(
        "  armed {armed} timers in {:.2}s wall = {:.0} timers/s ({:.2}s inside Store::commit = {:.0}/s)",
        wall.as_secs_f64(),
        armed as f64 / wall.as_secs_f64(),
        commit_time.as_secs_f64(),
        armed as f64 / commit_time.as_secs_f64()
    );
    println!(
        "  {} batches: median {:.1} ms, slowest {:.1} ms per durable batch of {batch_size}",
        batch_times.len(),
        ms(median),
        ms(slowest)
    );
    let rss_armed = rss_line("after arming");
    println!(
        "  RSS growth: +{:.1} MiB over the open store (+{:.1} MiB over the bare process)",
        mib_kib(rss_armed.saturating_sub(rss_open)),
        mib_kib(rss_armed.saturating_sub(rss_before))
    );
    disk_line("data folder after arming (flushed)", &data);
    println!();

    // ---------------------------------------------------------------- 2. find due work
    println!("2. Finding due work with {armed} timers armed (1,000 calls each; mean / p50 / p99 / max)");
    let first_inert = store.next_timer()?;
    println!("  next_timer() = {first_inert:?}");
    let show = |label: &str, found: usize, (mean, p50, p99, max): (f64, f64, f64, f64)| {
        println!("  {label:<48} -> {found:>4} due   {mean:>7.1} / {p50:>7.1} / {p99:>7.1} / {max:>7.1} µs");
    };
    show("next_timer()", usize::from(first_inert.is_some()), time_us(1_000, || store.next_timer()));
    let nothing = start + chrono::Duration::minutes(91);
    let found = store.due_timers(nothing, 4_096)?.len();
    show("due_timers(start + 91 min, 4096)  [nothing]", found, time_us(1_000, || store.due_timers(nothing, 4_096)));
    let first = first_inert.unwrap_or(start);
    let little = first + chrono::Duration::minutes(5);
    let found = store.due_timers(little, 4_096)?.len();
    show("due_timers(first due + 5 min, 4096)  [little]", found, time_us(1_000, || store.due_timers(little, 4_096)));
    let lots = first + chrono::Duration::days(1);
    let found = store.due_timers(lots, 4_096)?.len();
    show("due_timers(first due + 1 day, 4096)  [full round]", found, time_us(200, || store.due_timers(lots, 4_096)));
    let t = Instant::now();
    let count = store.timer_count();
    println!(
        "  for contrast, timer_count() = {count} takes {:.1} ms (sled Tree::len() iterates the whole tree)",
        t.elapsed().as_secs_f64() * 1e3
    );
    rss_line("after the reads of step 2");
    println!();

    // ---------------------------------------------------------------- 3. fire many at once
    println!("3. Firing lag: {tickets} real tickets whose first-response warnings come due at one instant");
    let registry = Arc::new(Registry::load(store.clone(), &workflows)?);
    let (writer, thread) = Writer::start(registry.clone(), Arc::new(clock.clone()));
    let scheduler = Scheduler::new(store.clone(), writer.clone(), Arc::new(clock.clone()));
    rss_line("workflow loaded, writer started");
    let before_open = count;
    let started = Instant::now();
    let mut opens = JoinSet::new();
    for i in 0..tickets {
        let writer = writer.clone();
        opens.spawn(async move {
            let ticket = OpenTicket {
                workflow: "sla-test".into(),
                subject: format!("Broken pump {i}"),
                customer: CustomerInput {
                    email: Some(format!("customer{}@example.com", i % 5_000)),
                    ..CustomerInput::default()
                },
                ..OpenTicket::default()
            };
            writer.open(OpenRequest { ticket, actor: Actor::integrator("bench"), idempotency_key: None }).await
        });
    }
    let mut opened = 0usize;
    let mut open_errors = 0usize;
    while let Some(joined) = opens.join_next().await {
        match joined {
            Ok(Ok(_)) => opened += 1,
            Ok(Err(error)) => {
                if open_errors == 0 {
                    eprintln!("open failed: {error}");
                }
                open_errors += 1;
            }
            Err(error) => {
                eprintln!("open task failed: {error}");
                open_errors += 1;
            }
        }
    }
    let open_wall = started.elapsed();
    let after_open = store.timer_count();
    let real = after_open - before_open;
    println!(
        "  opened {opened} tickets ({open_errors} failed) in {:.2}s = {:.0} tickets/s, all at {start} (durable, through the writer)",
        open_wall.as_secs_f64(),
        opened as f64 / open_wall.as_secs_f64()
    );
    println!(
        "  they armed {real} timers ({:.1} per ticket); {after_open} armed in all",
        real as f64 / opened.max(1) as f64
    );
    rss_line("after opening the tickets");

    clock.advance(chrono::Duration::minutes(91));
    let now = clock.now();
    let due_now = store.due_timers(now, usize::MAX)?.len();
    println!("  clock moved to {now} (+91 min): {due_now} timers due now (the first-response warnings)");
    let started = Instant::now();
    let fired = scheduler.tick().await;
    let lag = started.elapsed();
    println!(
        "  scheduler.tick(): fired {}, stale {}, failed {} in {:.3}s = {:.0} timers fired/s",
        fired.fired,
        fired.stale,
        fired.failed,
        lag.as_secs_f64(),
        fired.fired as f64 / lag.as_secs_f64()
    );
    println!("  lag of the last warning (all were due when the tick started) = {:.3}s", lag.as_secs_f64());
    let due_after = store.due_timers(now, usize::MAX)?.len();
    let t = Instant::now();
    let second = scheduler.tick().await;
    let second_took = t.elapsed();
    println!(
        "  second tick at the same instant: {second:?} in {:.1} µs; timers still due: {due_after}",
        second_took.as_secs_f64() * 1e6
    );
    rss_line("after firing");
    disk_line("data folder after tickets and firing", &data);

    // Checks (after the memory reading: the census reads every key into memory).
    let t = Instant::now();
    let (inert_left, inert_due_sum) = inert_census(&store, far)?;
    let census = t.elapsed();
    let total_after = store.timer_count();
    let next = store.next_timer()?;
    println!();
    println!("Checks");
    let check = |ok: bool, what: String| {
        println!("  [{}] {what}", if ok { "ok" } else { "FAILED" });
        ok
    };
    let mut all_ok = true;
    all_ok &= check(
        inert_left == armed && inert_due_sum == due_sum,
        format!(
            "inert timers untouched: {inert_left} of {armed}, same due times (full scan, {:.0} ms)",
            census.as_secs_f64() * 1e3
        ),
    );
    all_ok &= check(open_errors == 0 && opened == tickets, format!("{opened} of {tickets} tickets opened"));
    all_ok &= check(due_now == tickets, format!("{due_now} timers due at +91 min = one warning per ticket"));
    all_ok &= check(
        fired.fired == tickets && fired.stale == 0 && fired.failed == 0,
        format!("first tick fired all {tickets} warnings, none stale or failed"),
    );
    all_ok &= check(second == Fired::default(), format!("second tick fired nothing ({second:?})"));
    all_ok &= check(due_after == 0, format!("nothing left due at {now}"));
    all_ok &= check(
        total_after == armed + real - tickets,
        format!("timers armed now: {total_after} = {armed} inert + {} real left", real.saturating_sub(tickets)),
    );
    all_ok &= check(
        next.is_some_and(|n| n > now),
        format!("next timer {} is after now", next.map(|n| n.to_string()).unwrap_or_default()),
    );
    println!();
    println!("{}", if all_ok { "all checks passed" } else { "SOME CHECKS FAILED" });

    drop(scheduler);
    drop(writer);
    if thread.join().is_err() {
        eprintln!("the writer thread panicked");
    }
    drop(registry);
    drop(store);
    if all_ok { Ok(()) } else { Err("some checks failed".into()) }
}
