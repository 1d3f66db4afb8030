//! Reading a report from the store: the buckets of a workflow and period that a filter
//! selects, the figures they add up to, and the backlog of open tickets now.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};

use super::aggregate::Agg;
use super::facts::{BucketKey, Family};
use super::kpis::{Backlog, Figures, Filter, sum};
use crate::engine::TicketId;
use crate::engine::ticket::Status;
use crate::store::{ListFilter, Store, StoreError};

/// What a report covers: a workflow, the days from `from` to `to` (both included, UTC), and
/// the buckets the filter takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Workflow id.
    pub workflow: String,
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Dimensions.
    pub filter: Filter,
}

/// The buckets `query` selects, in key order, from the smallest family that can answer it
/// (see [`Filter::family`]).
pub fn buckets(store: &Store, query: &Query) -> Result<Vec<(BucketKey, Agg)>, StoreError> {
    buckets_of(store, query, query.filter.family())
}

/// The buckets `query` selects from `family` (which must keep every dimension the filter
/// names; [`Family::Full`] always does).
pub fn buckets_of(store: &Store, query: &Query, family: Family) -> Result<Vec<(BucketKey, Agg)>, StoreError> {
    let lead = match family {
        Family::Category => query.filter.category.clone(),
        Family::Agent => query.filter.agent.as_deref().map(str::to_lowercase),
        Family::Full | Family::Total => None,
    };
    let range = (query.from, query.to);
    store.report_buckets(&query.workflow, family, lead.as_deref(), range, |bucket| query.filter.takes(bucket))
}

/// The figures of everything `query` selects.
pub fn figures(store: &Store, query: &Query) -> Result<Figures, StoreError> {
    let selected = buckets(store, query)?;
    Ok(Figures::of(&sum(selected.iter().map(|(_, agg)| agg))))
}

/// Open tickets of `workflow` now (status open: not resolved, closed or merged), those of
/// `agent` only when given.
pub fn backlog(store: &Store, workflow: &str, agent: Option<&str>, now: DateTime<Utc>) -> Result<Backlog, StoreError> {
    let filter = ListFilter {
        workflow: Some(workflow.to_string()),
        status: Some(Status::Open),
        assignee: agent.map(str::to_string),
        ..ListFilter::default()
    };
    let mut open = Vec::new();
    let mut after = None;
    loop {
        let page = store.list(&filter, after, 500)?;
        open.extend(page.tickets);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(Backlog::of(&open, now))
}

/// Every open ticket's id (status open), from the status index alone: with
/// [`open_in_stage`], a backlog by stage without reading a ticket.
pub fn open_ids(store: &Store) -> Result<HashSet<TicketId>, StoreError> {
    store.indexed_ids("status", Status::Open.as_str()).collect()
}

/// How many of the `open` tickets are in `stage` of `workflow` (the same count as
/// [`backlog`]'s `by_stage`, from the indexes alone).
pub fn open_in_stage(store: &Store, workflow: &str, stage: &str, open: &HashSet<TicketId>) -> Result<u64, StoreError> {
    let mut count = 0;
    for id in store.indexed_ids("stage", &format!("{workflow}/{stage}")) {
        count += u64::from(open.contains(&id?));
    }
    Ok(count)
}
