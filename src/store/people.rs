//! People as assignment sees them: availability records, round-robin turns, open loads.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `person` 0 person id (lower-case) | availability (JSON) |
//! | `meta` | `turn` 0 workflow id 0 role id | next round-robin position (u64 BE) |
//!
//! Availability and turns are written with the group that changes them ([`super::Batch`]), so a
//! turn moves in the same transaction as the ticket it assigned. Open loads are not stored: they
//! are counted from the `assignee` and `status` indexes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, decode, keys};

/// Whether a person takes new work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Availability {
    /// Available for new tickets.
    pub available: bool,
    /// When an unavailable person is back (absent until then; `None`: until said otherwise).
    pub until: Option<DateTime<Utc>>,
    /// Why (leave, training, sick, ...).
    pub reason: Option<String>,
    /// When it was set.
    pub updated_at: DateTime<Utc>,
    /// Who set it.
    pub updated_by: String,
}

impl Availability {
    /// Whether the person is away at `now`.
    pub fn away_at(&self, now: DateTime<Utc>) -> bool {
        !self.available && self.until.is_none_or(|until| until > now)
    }
}

/// Key of a person's availability in `meta`.
pub fn person_key(person: &str) -> Vec<u8> {
    let mut key = b"person\0".to_vec();
    key.extend(person.trim().to_lowercase().bytes().map(|b| if b == 0 { 1 } else { b }));
    key
}

/// Key of a role's round-robin turn in `meta`.
pub fn turn_key(workflow: &str, role: &str) -> Vec<u8> {
    let mut key = b"turn\0".to_vec();
    key.extend(workflow.bytes().map(|b| if b == 0 { 1 } else { b }));
    key.push(0);
    key.extend(role.bytes().map(|b| if b == 0 { 1 } else { b }));
    key
}

impl Store {
    /// A person's availability, if it was ever set.
    pub fn availability(&self, person: &str) -> Result<Option<Availability>, StoreError> {
        self.meta.get(person_key(person))?.map(|bytes| decode(&bytes, "availability")).transpose()
    }

    /// Every availability record, by person (lower-case).
    pub fn availabilities(&self) -> Result<HashMap<String, Availability>, StoreError> {
        let prefix = b"person\0";
        self.meta
            .scan_prefix(prefix)
            .map(|entry| {
                let (key, value) = entry?;
                let person = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
                Ok((person, decode(&value, "availability")?))
            })
            .collect()
    }

    /// The next round-robin position of a role (0 when none was stored).
    pub fn turn(&self, workflow: &str, role: &str) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(turn_key(workflow, role))?
            .and_then(|bytes| bytes.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// Open tickets per assignee (lower-case): one pass over the `status/open` and `assignee`
    /// indexes. The writer calls it once at start and keeps the counts up to date itself.
    pub fn open_loads(&self) -> Result<HashMap<String, u32>, StoreError> {
        let open: std::collections::HashSet<Vec<u8>> = self
            .index
            .scan_prefix(keys::index_prefix("status", "open"))
            .keys()
            .map(|key| key.map(|k| k[k.len().saturating_sub(16)..].to_vec()))
            .collect::<Result<_, _>>()?;
        let prefix = b"assignee\0";
        let mut loads = HashMap::new();
        for key in self.index.scan_prefix(prefix).keys() {
            let key = key?;
            if key.len() < prefix.len() + 17 {
                continue;
            }
            let (value, id) = key[prefix.len()..].split_at(key.len() - prefix.len() - 16);
            if open.contains(id) {
                let person = String::from_utf8_lossy(&value[..value.len() - 1]).into_owned();
                *loads.entry(person).or_insert(0) += 1;
            }
        }
        Ok(loads)
    }

    /// Open tickets of one person.
    pub fn open_load(&self, person: &str) -> Result<u32, StoreError> {
        let mut count = 0;
        for key in self.index.scan_prefix(keys::index_prefix("assignee", &person.to_lowercase())).keys() {
            let key = key?;
            let id = &key[key.len().saturating_sub(16)..];
            let mut open = keys::index_prefix("status", "open");
            open.extend_from_slice(id);
            if self.index.contains_key(open)? {
                count += 1;
            }
        }
        Ok(count)
    }
}
