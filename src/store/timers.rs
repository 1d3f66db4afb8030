//! Due timers: one key per timer, ordered by due time, so the scheduler reads only what is due
//! and finds the next one with a single seek, however many are armed.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `timers` | due time in ms since 1970 (u64 BE) ++ ticket id (16) ++ kind (text) | empty |
//!
//! Timers are written and removed in the same transaction as the events that arm, fire or
//! cancel them (see [`super::commit`]); nothing else keeps timer state.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, keys};
use crate::engine::TicketId;

/// A timer as stored.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueTimer {
    /// When it comes due.
    pub due: DateTime<Utc>,
    /// The ticket.
    pub ticket: TicketId,
    /// What it does (see `engine::sla::Timer::kind`).
    pub kind: String,
}

/// The key of a timer.
pub fn key(due: DateTime<Utc>, ticket: TicketId, kind: &str) -> Vec<u8> {
    let millis = u64::try_from(due.timestamp_millis()).unwrap_or(0);
    let mut key = Vec::with_capacity(24 + kind.len());
    key.extend_from_slice(&millis.to_be_bytes());
    key.extend_from_slice(&keys::ticket(ticket));
    key.extend_from_slice(kind.as_bytes());
    key
}

fn parse(key: &[u8]) -> Option<DueTimer> {
    let millis = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let ticket = TicketId(keys::ulid_from(key.get(8..24)?)?);
    let kind = String::from_utf8(key.get(24..)?.to_vec()).ok()?;
    let due = DateTime::from_timestamp_millis(i64::try_from(millis).ok()?)?;
    Some(DueTimer { due, ticket, kind })
}

impl Store {
    /// Timers due at or before `now`, earliest first, at most `limit`.
    pub fn due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DueTimer>, StoreError> {
        let end = u64::try_from(now.timestamp_millis()).unwrap_or(0).saturating_add(1).to_be_bytes();
        self.timers
            .range(..end.as_slice())
            .keys()
            .take(limit)
            .map(|key| {
                let key = key?;
                parse(&key).ok_or_else(|| StoreError::Corrupt { what: "timer key".into(), reason: format!("{key:?}") })
            })
            .collect()
    }

    /// When the earliest timer comes due.
    pub fn next_timer(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.timers.first()?.and_then(|(key, _)| parse(&key)).map(|t| t.due))
    }

    /// How many timers are armed.
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }

    /// Removes one timer (one that fired and changed nothing).
    pub fn remove_timer(&self, timer: &DueTimer) -> Result<(), StoreError> {
        self.timers.remove(key(timer.due, timer.ticket, &timer.kind))?;
        Ok(())
    }
}
