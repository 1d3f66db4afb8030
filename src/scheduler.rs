//! The timer loop: fires due SLA timers in due order, sleeps until the next one (or until the
//! writer arms an earlier one), and after a restart fires everything that came due while the
//! server was down, once.
//!
//! It never polls tickets: it reads the ordered timer index only up to now, and finds the next
//! due time with one seek. Firing goes through the writer like any command (actor: the system),
//! and the engine checks each timer against the ticket as it is then; the events it causes
//! remove the timer in the same transaction, so a timer fires once even across a crash.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::engine::sla::Timer;
use crate::engine::{Actor, Command};
use crate::store::Store;
use crate::store::timers::DueTimer;
use crate::writer::{CommandRequest, Writer};

/// Timers fired in one round (they form one or a few write groups).
const ROUND: usize = 4_096;
/// Longest sleep: the loop looks again at least this often (a changed clock, a missed signal).
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// What a round of firing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired {
    /// Timers that changed their ticket (a warning, breach, escalation or reminder).
    pub fired: usize,
    /// Timers that turned out stale and were dropped.
    pub stale: usize,
    /// Timers that failed (logged; retried next round).
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

    /// Fires every timer due now, in due order, including those that firing arms (a breach
    /// arms its first escalation level at the same instant); returns what happened.
    pub async fn tick(&self) -> Fired {
        let now = self.clock.now();
        let mut total = Fired::default();
        // Bounded: timers re-armed at or before `now` in a loop would be a bug, not a reason to hang.
        for _ in 0..1_000 {
            let due = match self.store.due_timers(now, ROUND) {
                Ok(due) => due,
                Err(error) => {
                    tracing::error!(%error, "cannot read due timers");
                    return total;
                }
            };
            let round = due.len();
            let fired = self.fire_all(due).await;
            total.fired += fired.fired;
            total.stale += fired.stale;
            total.failed += fired.failed;
            if round == 0 || fired.fired + fired.stale == 0 {
                return total;
            }
        }
        tracing::error!("timers keep coming due at {now}; stopped this round");
        total
    }

    async fn fire_all(&self, due: Vec<DueTimer>) -> Fired {
        let mut tasks = JoinSet::new();
        for timer in due {
            let writer = self.writer.clone();
            tasks.spawn(async move {
                let Some((clock, alert)) = Timer::parse_kind(&timer.kind) else { return (timer, None) };
                let request = CommandRequest {
                    ticket: timer.ticket.to_string(),
                    command: Command::Fire { clock, alert },
                    actor: Actor::system("scheduler"),
                    expected_revision: None,
                };
                let result = writer.command(request).await;
                (timer, Some(result))
            });
        }
        let mut fired = Fired::default();
        while let Some(joined) = tasks.join_next().await {
            let Ok((timer, result)) = joined else {
                fired.failed += 1;
                continue;
            };
            match result {
                Some(Ok(outcome)) if !outcome.events.is_empty() => fired.fired += 1,
                Some(Err(crate::writer::WriteError::Stopped)) => fired.failed += 1,
                other => {
                    // Stale, unreadable, or refused for good (ticket gone): drop it so it cannot
                    // come back every round.
                    if let Some(Err(error)) = &other {
                        tracing::warn!(%error, ticket = %timer.ticket, kind = %timer.kind, "timer dropped");
                    }
                    if let Err(error) = self.store.remove_timer(&timer) {
                        tracing::error!(%error, "cannot drop a stale timer");
                    }
                    fired.stale += 1;
                }
            }
        }
        fired
    }

    /// Fires timers as they come due until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let fired = self.tick().await;
            if fired.fired + fired.stale > 0 {
                tracing::debug!(fired = fired.fired, stale = fired.stale, "timers fired");
            }
            let now = self.clock.now();
            let sleep = match self.store.next_timer() {
                Ok(Some(next)) => (next - now).to_std().unwrap_or(Duration::ZERO).min(MAX_SLEEP),
                _ => MAX_SLEEP,
            };
            // Failed timers stay due: do not spin on them.
            let sleep = if fired.failed > 0 { sleep.max(Duration::from_secs(1)) } else { sleep };
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = self.wake.notified() => {}
                () = stop.cancelled() => return,
            }
        }
    }
}
