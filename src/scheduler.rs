//! The timer loop: fires due SLA timers, sleeps until the next one (or until the writer arms an
//! earlier one), and after a restart fires everything that came due while the server was down.
//!
//! It never polls tickets: it reads the ordered timer index only up to now, and finds the next
//! due time with one seek. It sends one `fire` command per ticket with due timers, through the
//! writer like any command (actor: the system): the engine fires that ticket's due timers one
//! after another in due order, checked against the ticket as it is then, and the events it
//! causes remove the timers in the same transaction, so a timer fires once even across a crash.
//! Different tickets fire concurrently; one ticket's timers never do.
//!
//! The scheduler itself removes nothing: a timer leaves the store only with the events of the
//! engine having handled it at or after its due instant.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::engine::{Actor, Command, TicketId};
use crate::store::Store;
use crate::store::timers::DueTimer;
use crate::writer::{CommandRequest, WriteError, Writer};

/// Timers read in one round (they form one or a few write groups).
const ROUND: usize = 4_096;
/// Longest sleep: the loop looks again at least this often (a changed clock, a missed signal).
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// What a round of firing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired {
    /// Tickets whose due timers changed them (warnings, breaches, escalations, reminders).
    pub fired: usize,
    /// Tickets whose due timers turned out stale (dropped by the engine, changing nothing else).
    pub stale: usize,
    /// Tickets whose firing failed (logged; their timers stay and are tried again).
    pub failed: usize,
}

/// Fires due timers.
#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    writer: Writer,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl Scheduler {
    /// A scheduler over `store`, firing through `writer`.
    pub fn new(store: Store, writer: Writer, clock: Arc<dyn Clock>) -> Self {
        let wake = writer.timer_signal();
        Self { store, writer, clock, wake }
    }

    /// Fires every timer due now, each ticket's in due order, including those that firing arms
    /// (a breach arms its first escalation level at the same instant); returns what happened.
    pub async fn tick(&self) -> Fired {
        let now = self.clock.now();
        let mut total = Fired::default();
        let mut tried = std::collections::BTreeSet::new();
        // Bounded: timers re-armed at or before `now` in a loop would be a bug, not a reason to hang.
        for _ in 0..1_000 {
            let due = match self.store.due_timers(now, ROUND) {
                Ok(due) => due,
                Err(error) => {
                    tracing::error!(%error, "cannot read due timers");
                    return total;
                }
            };
            // Only timers this tick already tried (failed, or not due for the engine): done.
            let fresh: Vec<DueTimer> = due.into_iter().filter(|t| !tried.contains(t)).collect();
            if fresh.is_empty() {
                return total;
            }
            tried.extend(fresh.iter().cloned());
            let due = fresh;
            let fired = self.fire_all(due).await;
            total.fired += fired.fired;
            total.stale += fired.stale;
            total.failed += fired.failed;
        }
        tracing::error!("timers keep coming due at {now}; stopped this round");
        total
    }

    async fn fire_all(&self, due: Vec<DueTimer>) -> Fired {
        // One command per ticket: the engine handles a ticket's timers in due order.
        let mut by_ticket: BTreeMap<TicketId, Vec<(DateTime<Utc>, String)>> = BTreeMap::new();
        for timer in due {
            by_ticket.entry(timer.ticket).or_default().push((timer.due, timer.kind));
        }
        let mut tasks = JoinSet::new();
        for (ticket, seen) in by_ticket {
            let writer = self.writer.clone();
            tasks.spawn(async move {
                let request = CommandRequest {
                    ticket: ticket.to_string(),
                    command: Command::Fire { seen },
                    actor: Actor::system("scheduler"),
                    expected_revision: None,
                };
                (ticket, writer.command(request).await)
            });
        }
        let mut fired = Fired::default();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((_, Ok(outcome))) if !outcome.events.is_empty() => fired.fired += 1,
                Ok((_, Ok(_))) => fired.stale += 1,
                Ok((ticket, Err(error))) => {
                    if !matches!(error, WriteError::Stopped) {
                        tracing::error!(%error, %ticket, "firing timers failed; they stay due");
                    }
                    fired.failed += 1;
                }
                Err(_) => fired.failed += 1,
            }
        }
        fired
    }

    /// When the earliest armed timer comes due (none armed, or unreadable: `None`).
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.store.next_timer().ok().flatten()
    }

    /// Fires timers as they come due until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let started = self.clock.now();
            let fired = self.tick().await;
            if fired.fired + fired.stale > 0 {
                tracing::debug!(fired = fired.fired, stale = fired.stale, "timers fired");
            }
            let now = self.clock.now();
            let sleep = match self.store.next_timer() {
                // Due before this tick began and still there: it failed, or the engine does not
                // find it due yet (the clock stepped back). Try again soon, without spinning.
                Ok(Some(next)) if next <= started => Duration::from_secs(1),
                Ok(Some(next)) => (next - now).to_std().unwrap_or(Duration::ZERO).min(MAX_SLEEP),
                _ => MAX_SLEEP,
            };
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = self.wake.notified() => {}
                () = stop.cancelled() => return,
            }
        }
    }
}
