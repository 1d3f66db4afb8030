//! Due timers: one key per timer, ordered by its exact due instant, so the scheduler reads only
//! what is due and finds the next one with a single seek, however many are armed.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `due_timers` | due time in ns since 1970 (u64 BE) ++ ticket id (16) ++ kind (text) | empty |
//!
//! The key keeps the due instant at the precision the engine compares at (nanoseconds): a timer
//! read as due is due for the engine too, so the scheduler never wakes "inside" a due instant
//! the key has rounded away. Timers are written and removed in the same transaction as the
//! events that arm, fire or cancel them (see [`super::commit`]); nothing else keeps timer state.
//!
//! Databases written before this format kept whole milliseconds in a `timers` tree; [`migrate`]
//! moves them over once at open, rounding each up to the end of its millisecond, so a migrated
//! key is never due before its timer (the engine then drops the old key when it handles it).

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

/// Nanoseconds since 1970 of `at`, clamped to what a key can hold (1970 to 2554).
fn nanos(at: DateTime<Utc>) -> u64 {
    at.timestamp_nanos_opt().and_then(|n| u64::try_from(n).ok()).unwrap_or(if at.timestamp() < 0 {
        0
    } else {
        u64::MAX
    })
}

/// The key of a timer.
pub fn key(due: DateTime<Utc>, ticket: TicketId, kind: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(24 + kind.len());
    key.extend_from_slice(&nanos(due).to_be_bytes());
    key.extend_from_slice(&keys::ticket(ticket));
    key.extend_from_slice(kind.as_bytes());
    key
}

fn parse(key: &[u8]) -> Option<DueTimer> {
    let ns = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let ticket = TicketId(keys::ulid_from(key.get(8..24)?)?);
    let kind = String::from_utf8(key.get(24..)?.to_vec()).ok()?;
    let due = DateTime::from_timestamp_nanos(i64::try_from(ns).ok()?);
    Some(DueTimer { due, ticket, kind })
}

/// Moves timers of the old millisecond format (tree `timers`) into `due_timers`, each rounded
/// up to the last nanosecond of its millisecond; empties the old tree. Runs at every open and
/// costs one seek when there is nothing to move.
pub(super) fn migrate(db: &sled::Db, timers: &sled::Tree) -> Result<usize, StoreError> {
    let old = db.open_tree("timers")?;
    let mut moved = 0;
    for entry in old.iter() {
        let (old_key, _) = entry?;
        let Some(millis) = old_key.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes) else { continue };
        let ns = millis.saturating_mul(1_000_000).saturating_add(999_999);
        let mut key = ns.to_be_bytes().to_vec();
        key.extend_from_slice(&old_key[8..]);
        timers.insert(key, Vec::<u8>::new())?;
        old.remove(&old_key)?;
        moved += 1;
    }
    if moved > 0 {
        db.flush()?;
        tracing::info!(moved, "timers moved to the nanosecond key format");
    }
    Ok(moved)
}

impl Store {
    /// Timers due at or before `now`, earliest first, at most `limit`.
    pub fn due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DueTimer>, StoreError> {
        let end = nanos(now).saturating_add(1).to_be_bytes();
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_nanoseconds_and_sort_by_due_instant() {
        let ticket = TicketId(ulid::Ulid::from_parts(5, 5));
        let at = |ns: i64| DateTime::from_timestamp_nanos(1_800_000_000_000_000_000 + ns);
        let (a, b) = (key(at(100), ticket, "x/warn"), key(at(101), ticket, "x/breach"));
        assert!(a < b, "one nanosecond apart must sort apart");
        assert_eq!(parse(&a).map(|t| t.due), Some(at(100)));
    }

    #[test]
    fn old_millisecond_keys_move_rounded_up_to_the_end_of_their_millisecond() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ticket = TicketId(ulid::Ulid::from_parts(7, 7));
        {
            let db = sled::open(dir.path()).expect("open");
            let mut old = 1_800_000_000_123u64.to_be_bytes().to_vec();
            old.extend_from_slice(&keys::ticket(ticket));
            old.extend_from_slice(b"first_response/warn");
            db.open_tree("timers").expect("tree").insert(old, Vec::<u8>::new()).expect("insert");
            db.flush().expect("flush");
        }
        let store = Store::open(&super::super::StoreConfig::new(dir.path())).expect("open");
        let far = DateTime::from_timestamp_nanos(i64::MAX);
        let due = store.due_timers(far, 10).expect("due");
        let expected = DateTime::from_timestamp_nanos(1_800_000_000_123_999_999);
        assert_eq!(due, vec![DueTimer { due: expected, ticket, kind: "first_response/warn".into() }]);
        assert!(store.db.open_tree("timers").expect("tree").is_empty(), "the old tree is emptied");
    }
}
