//! The reports' buckets (see `crate::reports`): one record per workflow, day and dimensions,
//! updated in the same transaction as the events that change them.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `reports` | workflow, `0x00`, family (1 byte), day (4 bytes, days from CE, big-endian), dimensions (postcard) | [`Agg`] (postcard) |
//!
//! Keys sort by workflow, family, then day: a report reads only one family of its workflow,
//! and only the days in range.

use chrono::{Datelike, NaiveDate};

use super::{Store, StoreError};
use crate::reports::aggregate::Agg;
use crate::reports::facts::{BucketKey, Family};

/// The key of a bucket.
pub fn key(bucket: &BucketKey) -> Vec<u8> {
    let mut key = day_prefix(&bucket.workflow, bucket.family, bucket.day);
    let dimensions = (&bucket.category, &bucket.priority, &bucket.channel, &bucket.agent, &bucket.team);
    key.extend(postcard::to_allocvec(&dimensions).unwrap_or_default());
    key
}

fn day_prefix(workflow: &str, family: Family, day: NaiveDate) -> Vec<u8> {
    let mut key = workflow.as_bytes().to_vec();
    key.push(0);
    key.push(family.byte());
    key.extend_from_slice(&u32::try_from(day.num_days_from_ce().max(0)).unwrap_or(0).to_be_bytes());
    key
}

/// The bucket a key names.
pub fn bucket_of(key: &[u8]) -> Option<BucketKey> {
    let split = key.iter().position(|b| *b == 0)?;
    let workflow = std::str::from_utf8(&key[..split]).ok()?.to_string();
    let family = Family::from_byte(*key.get(split + 1)?)?;
    let days = u32::from_be_bytes(key.get(split + 2..split + 6)?.try_into().ok()?);
    let day = NaiveDate::from_num_days_from_ce_opt(i32::try_from(days).ok()?)?;
    let (category, priority, channel, agent, team): (String, String, String, String, String) =
        postcard::from_bytes(key.get(split + 6..)?).ok()?;
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
const BUILT: &[u8] = b"reports:built:v1";

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
    /// `wanted` takes, in key order; only those are decoded.
    pub fn report_buckets(
        &self,
        workflow: &str,
        family: Family,
        (from, to): (NaiveDate, NaiveDate),
        wanted: impl Fn(&BucketKey) -> bool,
    ) -> Result<Vec<(BucketKey, Agg)>, StoreError> {
        let start = day_prefix(workflow, family, from);
        let end = day_prefix(workflow, family, to.succ_opt().unwrap_or(to));
        let mut taken = Vec::new();
        for entry in self.reports.range(start..end) {
            let (key, value) = entry?;
            let bucket = bucket_of(&key)
                .ok_or_else(|| StoreError::Corrupt { what: "report bucket key".into(), reason: "unreadable".into() })?;
            if wanted(&bucket) {
                taken.push((bucket, decode(&value)?));
            }
        }
        Ok(taken)
    }

    /// The bytes of `workflow`'s buckets from `from` to `to`, read and not decoded (the floor
    /// under a report's cost, for benchmarks).
    pub fn raw_report_bytes(&self, workflow: &str, family: Family, from: NaiveDate, to: NaiveDate) -> usize {
        let start = day_prefix(workflow, family, from);
        let end = day_prefix(workflow, family, to.succ_opt().unwrap_or(to));
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
