//! The reports' buckets (see `crate::reports`): one record per workflow, day and dimensions,
//! updated in the same transaction as the events that change them.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `reports` | workflow, `0x00`, family (1 byte), the family's own dimension (category or agent families, postcard), day (4 bytes, days from CE, big-endian), dimensions (postcard) | [`Agg`] (postcard) |
//!
//! Keys sort by workflow, family, (category or agent), then day: a report reads only one
//! family of its workflow, and only the days in range (of one category or agent, for a filter
//! on it).

use chrono::{Datelike, NaiveDate};

use super::{Store, StoreError};
use crate::reports::aggregate::Agg;
use crate::reports::facts::{BucketKey, Family};

/// The key of a bucket.
pub fn key(bucket: &BucketKey) -> Vec<u8> {
    let mut key = family_prefix(&bucket.workflow, bucket.family, lead(bucket));
    push_day(&mut key, bucket.day);
    let dimensions = (&bucket.category, &bucket.priority, &bucket.channel, &bucket.agent, &bucket.team);
    key.extend(postcard::to_allocvec(&dimensions).unwrap_or_default());
    key
}

/// The dimension a single-dimension family keeps, which comes before the day in its keys:
/// one category's or one agent's buckets are then one range.
fn lead(bucket: &BucketKey) -> Option<&str> {
    match bucket.family {
        Family::Category => Some(&bucket.category),
        Family::Agent => Some(&bucket.agent),
        Family::Full | Family::Total => None,
    }
}

/// Workflow, family, and the family's lead dimension (when it has one and it is given).
fn family_prefix(workflow: &str, family: Family, lead: Option<&str>) -> Vec<u8> {
    let mut key = workflow.as_bytes().to_vec();
    key.push(0);
    key.push(family.byte());
    if let Some(lead) = lead {
        key.extend(postcard::to_allocvec(lead).unwrap_or_default());
    }
    key
}

fn push_day(key: &mut Vec<u8>, day: NaiveDate) {
    key.extend_from_slice(&u32::try_from(day.num_days_from_ce().max(0)).unwrap_or(0).to_be_bytes());
}

/// The bucket a key names.
pub fn bucket_of(key: &[u8]) -> Option<BucketKey> {
    let split = key.iter().position(|b| *b == 0)?;
    let workflow = std::str::from_utf8(&key[..split]).ok()?.to_string();
    let family = Family::from_byte(*key.get(split + 1)?)?;
    let mut rest = key.get(split + 2..)?;
    if matches!(family, Family::Category | Family::Agent) {
        let (_, after): (String, &[u8]) = postcard::take_from_bytes(rest).ok()?;
        rest = after;
    }
    let days = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    let day = NaiveDate::from_num_days_from_ce_opt(i32::try_from(days).ok()?)?;
    let (category, priority, channel, agent, team): (String, String, String, String, String) =
        postcard::from_bytes(rest.get(4..)?).ok()?;
    Some(BucketKey { workflow, family, day, category, priority, channel, agent, team })
}

/// A bucket's figures as stored.
pub fn decode(bytes: &[u8]) -> Result<Agg, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt { what: "report bucket".into(), reason: e.to_string() })
}

/// A bucket's figures to store.
pub fn encode(agg: &Agg) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(agg).map_err(|e| StoreError::Corrupt { what: "report bucket".into(), reason: e.to_string() })
}

/// Marks a database whose buckets were built (or that began with reports kept).
const BUILT: &[u8] = b"reports:built:v2";

impl Store {
    /// Whether the buckets were built for this database.
    pub fn reports_built(&self) -> Result<bool, StoreError> {
        Ok(self.meta.contains_key(BUILT)?)
    }

    /// Records that the buckets are built.
    pub fn mark_reports_built(&self) -> Result<(), StoreError> {
        self.meta.insert(BUILT, Vec::<u8>::new())?;
        self.flush()
    }

    /// The buckets of `workflow`'s `family` from day `from` to day `to` (both included) that
    /// `wanted` takes, in key order; only those are decoded. `lead` is the value of the
    /// family's own dimension (the category of the category family, the agent of the agent
    /// family) when only its buckets are wanted: then only they are read.
    pub fn report_buckets(
        &self,
        workflow: &str,
        family: Family,
        lead: Option<&str>,
        (from, to): (NaiveDate, NaiveDate),
        wanted: impl Fn(&BucketKey) -> bool,
    ) -> Result<Vec<(BucketKey, Agg)>, StoreError> {
        let lead = lead.filter(|_| matches!(family, Family::Category | Family::Agent));
        let by_day = lead.is_some() || matches!(family, Family::Full | Family::Total);
        let prefix = family_prefix(workflow, family, lead);
        let range = if by_day {
            let (mut start, mut end) = (prefix.clone(), prefix);
            push_day(&mut start, from);
            push_day(&mut end, to.succ_opt().unwrap_or(to));
            self.reports.range(start..end)
        } else {
            // Every value of the lead dimension: the whole family, days checked one by one.
            let mut end = prefix.clone();
            end.push(0xff);
            self.reports.range(prefix..end)
        };
        let mut taken = Vec::new();
        for entry in range {
            let (key, value) = entry?;
            let bucket = bucket_of(&key)
                .ok_or_else(|| StoreError::Corrupt { what: "report bucket key".into(), reason: "unreadable".into() })?;
            if (from..=to).contains(&bucket.day) && wanted(&bucket) {
                taken.push((bucket, decode(&value)?));
            }
        }
        Ok(taken)
    }

    /// The bytes of `workflow`'s totals from `from` to `to`, read and not decoded (the floor
    /// under a report's cost, for benchmarks).
    pub fn raw_report_bytes(&self, workflow: &str, from: NaiveDate, to: NaiveDate) -> usize {
        let (mut start, mut end) =
            (family_prefix(workflow, Family::Total, None), family_prefix(workflow, Family::Total, None));
        push_day(&mut start, from);
        push_day(&mut end, to.succ_opt().unwrap_or(to));
        self.reports.range(start..end).filter_map(Result::ok).map(|(key, value)| key.len() + value.len()).sum()
    }

    /// Every bucket, in [`BucketKey`] order, as a rebuild gives them (to compare with one).
    /// Stored keys sort otherwise within a day: postcard puts a string's length first.
    pub fn all_report_buckets(&self) -> Result<Vec<(BucketKey, Agg)>, StoreError> {
        let mut all = self
            .reports
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                let bucket = bucket_of(&key).ok_or_else(|| StoreError::Corrupt {
                    what: "report bucket key".into(),
                    reason: "unreadable".into(),
                })?;
                Ok((bucket, decode(&value)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    /// Replaces every bucket by `buckets` (a rebuild), in one transaction.
    pub fn replace_report_buckets(&self, buckets: &[(BucketKey, Agg)]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for key in self.reports.iter().keys() {
            batch.remove(key?);
        }
        for (bucket, agg) in buckets {
            batch.insert(key(bucket), encode(agg)?);
        }
        self.reports.apply_batch(batch)?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_bucket_and_sort_by_lead_then_day() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).expect("a date");
        let full = BucketKey {
            workflow: "after-sales".into(),
            family: Family::Full,
            day: day(1),
            category: "repair".into(),
            priority: "high".into(),
            channel: "email".into(),
            agent: "ali@example.com".into(),
            team: "technician".into(),
        };
        for family in Family::ALL {
            let bucket = family.of(&full);
            assert_eq!(bucket_of(&key(&bucket)).as_ref(), Some(&bucket), "{family:?}");
        }
        // One agent's days are one range: a later day of "ali" sorts before any day of "sara".
        let ali_later = Family::Agent.of(&BucketKey { day: day(30), ..full.clone() });
        let sara = Family::Agent.of(&BucketKey { agent: "sara@example.com".into(), ..full.clone() });
        assert!(key(&ali_later) < key(&sara));
        let ali_earlier = Family::Agent.of(&full);
        assert!(key(&ali_earlier) < key(&ali_later));
    }
}
