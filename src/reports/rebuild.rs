//! Every report bucket recomputed from the events: each ticket replayed from its log, its
//! contribution ([`super::facts::contribution`]) summed. `afterdesk reports rebuild` writes the
//! result in place of the buckets; tests compare it with the buckets the writer kept.

use std::collections::BTreeMap;

use super::aggregate::Agg;
use super::facts::{BucketKey, contribution};
use crate::engine::ticket::Ticket;
use crate::registry::{Registry, RegistryError};
use crate::store::{Store, StoreError};

/// Why a rebuild failed.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A workflow version could not be loaded.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A ticket's log does not start with its opening.
    #[error("ticket {0}: its events do not start with `opened`")]
    Log(String),
}

/// The buckets the events give, in key order.
pub fn from_events(store: &Store, registry: &Registry) -> Result<Vec<(BucketKey, Agg)>, RebuildError> {
    let mut buckets: BTreeMap<BucketKey, Agg> = BTreeMap::new();
    for id in store.ticket_ids() {
        let id = id?;
        let events = store.events(id)?;
        let ticket = Ticket::replay(&events).ok_or_else(|| RebuildError::Log(id.to_string()))?;
        let Some(workflow) = registry.version(&ticket.workflow, &ticket.version)? else {
            tracing::warn!(ticket = %ticket.number, workflow = %ticket.workflow, "workflow version not stored; ticket left out of the reports");
            continue;
        };
        for (bucket, agg) in contribution(&workflow.definition, &ticket) {
            buckets.entry(bucket).or_default().apply(&agg, 1);
        }
    }
    Ok(buckets.into_iter().filter(|(_, agg)| !agg.is_empty()).collect())
}

/// Recomputes every bucket from the events and stores the result in place of the buckets:
/// how many buckets there are now, and whether they differed from what was kept.
pub fn rebuild(store: &Store, registry: &Registry) -> Result<(usize, bool), RebuildError> {
    let fresh = from_events(store, registry)?;
    let differed = store.all_report_buckets()? != fresh;
    store.replace_report_buckets(&fresh)?;
    Ok((fresh.len(), differed))
}

/// Builds the buckets once for a database written before reports were kept (marked in the
/// store, so it happens once): how many buckets, or `None` when they were there already.
pub fn ensure(store: &Store, registry: &Registry) -> Result<Option<usize>, RebuildError> {
    if store.reports_built()? {
        return Ok(None);
    }
    let fresh = from_events(store, registry)?;
    store.replace_report_buckets(&fresh)?;
    store.mark_reports_built()?;
    Ok(Some(fresh.len()))
}
