//! Reading: tickets, their events, customers and their history, and filtered listing.
//!
//! Listing walks one secondary index (the most selective filter given) in ticket-id order and
//! resumes after a cursor, so a page costs the same with ten tickets or ten million; filters
//! without an index of their own are checked on the tickets that index yields. A caller who
//! may read only some workflows walks those workflows' indexes merged in ticket-id order, so
//! tickets they cannot see cost nothing.

use std::collections::BTreeSet;
use std::iter::Peekable;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::{Store, StoreError, decode, keys};
use crate::engine::customer::{CustomerEvent, PastTicket};
use crate::engine::{Customer, CustomerId, Event, History, Status, Ticket, TicketId};

/// Filters of a ticket list; all given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    /// Workflow id.
    pub workflow: Option<String>,
    /// Stage id (with `workflow`, or any workflow's stage of that id).
    pub stage: Option<String>,
    /// Status.
    pub status: Option<Status>,
    /// Assignee.
    pub assignee: Option<String>,
    /// Only tickets nobody is assigned to.
    pub unassigned: bool,
    /// Customer.
    pub customer: Option<CustomerId>,
    /// Category.
    pub category: Option<String>,
    /// Priority.
    pub priority: Option<String>,
    /// Queue.
    pub queue: Option<String>,
    /// Opened at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Opened before.
    pub created_to: Option<DateTime<Utc>>,
    /// Only tickets with (`true`) or without (`false`) a breached SLA clock still running.
    pub breached: Option<bool>,
    /// Newest first.
    pub newest_first: bool,
    /// Tag (added by hooks).
    pub tag: Option<String>,
    /// Only tickets of these workflows (the caller's read scope); `None`: any workflow.
    pub workflows: Option<BTreeSet<String>>,
}

impl ListFilter {
    fn matches(&self, ticket: &Ticket) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.workflow, &ticket.workflow)
            && self.workflows.as_ref().is_none_or(|set| set.contains(&ticket.workflow))
            && eq(&self.stage, &ticket.stage)
            && self.status.is_none_or(|s| s == ticket.status)
            && self
                .assignee
                .as_deref()
                .is_none_or(|a| ticket.assignee.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(a)))
            // "Unassigned" is open work nobody has, as the `unassigned` index holds it.
            && (!self.unassigned || (ticket.assignee.is_none() && !ticket.status.is_finished()))
            && self.customer.is_none_or(|c| c == ticket.customer)
            && self.category.as_deref().is_none_or(|c| ticket.category.as_deref() == Some(c))
            && eq(&self.priority, &ticket.priority)
            && self.queue.as_deref().is_none_or(|q| ticket.queue.as_deref() == Some(q))
            && self.tag.as_ref().is_none_or(|t| ticket.tags.contains(t))
            && self.breached.is_none_or(|b| {
                b == ticket.slas.values().any(|c| c.is_active() && c.breached_at.is_some())
            })
    }

    /// The index values to walk (merged in ticket-id order): the filter most likely to be
    /// selective, or else the workflows of the read scope; `None`: every ticket.
    fn indexes(&self) -> Option<Vec<(&'static str, String)>> {
        if self.workflows.as_ref().is_some_and(BTreeSet::is_empty) {
            return Some(Vec::new());
        }
        let one = self.index();
        match (&self.workflows, &one) {
            (Some(set), None | Some(("priority" | "status" | "workflow", _))) if self.workflow.is_none() => {
                Some(set.iter().map(|w| ("workflow", w.clone())).collect())
            }
            _ => one.map(|index| vec![index]),
        }
    }

    /// The index to walk: the filter most likely to be selective.
    fn index(&self) -> Option<(&'static str, String)> {
        if let Some(assignee) = &self.assignee {
            return Some(("assignee", assignee.to_lowercase()));
        }
        if let Some(customer) = self.customer {
            return Some(("customer", customer.to_string()));
        }
        // Open work nobody has is a short list (a queue), shorter than a stage's tickets.
        if self.unassigned {
            return Some(("unassigned", "yes".to_string()));
        }
        if let (Some(workflow), Some(stage)) = (&self.workflow, &self.stage) {
            return Some(("stage", format!("{workflow}/{stage}")));
        }
        if let Some(stage) = &self.stage {
            return Some(("stage_id", stage.clone()));
        }
        if let Some(tag) = &self.tag {
            return Some(("tag", tag.clone()));
        }
        if let Some(queue) = &self.queue {
            return Some(("queue", queue.clone()));
        }
        if let Some(category) = &self.category {
            return Some(("category", category.clone()));
        }
        // Most tickets are open and of normal priority: the least selective indexes come last.
        if let Some(priority) = &self.priority {
            return Some(("priority", priority.clone()));
        }
        if let Some(status) = self.status {
            return Some(("status", status.as_str().to_string()));
        }
        self.workflow.as_ref().map(|w| ("workflow", w.clone()))
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The tickets.
    pub tickets: Vec<Ticket>,
    /// Cursor of the next page, if there is one.
    pub next: Option<TicketId>,
}

/// Most index entries one page looks at. Filters that match rarely among many tickets return
/// a short (even empty) page with a cursor to go on, so no request scans without bound.
pub const MAX_SCAN: usize = 20_000;

impl Store {
    /// The ids of the tickets listed under `value` of index `name` (`status`/`open`,
    /// `stage`/`workflow/stage`, ...), read from the index keys alone, no snapshot decoded:
    /// for counting.
    pub fn indexed_ids(&self, name: &str, value: &str) -> impl Iterator<Item = Result<TicketId, StoreError>> + '_ {
        self.index.scan_prefix(keys::index_prefix(name, value)).keys().map(|key| {
            let key = key?;
            keys::ulid_from(&key[key.len().saturating_sub(16)..])
                .map(TicketId)
                .ok_or_else(|| StoreError::Corrupt { what: "index key".into(), reason: "short key".into() })
        })
    }

    /// A ticket's snapshot.
    pub fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        self.tickets.get(keys::ticket(id))?.map(|bytes| decode(&bytes, "ticket")).transpose()
    }

    /// Finds a ticket by id (`01J...`) or human number (`AS-1042`, any case).
    pub fn resolve(&self, text: &str) -> Result<Option<TicketId>, StoreError> {
        if let Ok(ulid) = Ulid::from_string(text)
            && self.tickets.contains_key(keys::ticket(TicketId(ulid)))?
        {
            return Ok(Some(TicketId(ulid)));
        }
        Ok(self
            .numbers
            .get(text.trim().to_uppercase().as_bytes())?
            .and_then(|bytes| keys::ulid_from(&bytes))
            .map(TicketId))
    }

    /// The ticket a mail with this Message-ID was received on, if any.
    pub fn ticket_of_mail(&self, message_id: &str) -> Result<Option<TicketId>, StoreError> {
        let prefix = keys::index_prefix(keys::MAIL_INDEX, &keys::mail_id(message_id));
        Ok(match self.index.scan_prefix(&prefix).keys().next().transpose()? {
            Some(key) => key.get(prefix.len()..).and_then(keys::ulid_from).map(TicketId),
            None => None,
        })
    }

    /// A ticket's whole log, oldest first.
    pub fn events(&self, id: TicketId) -> Result<Vec<Event>, StoreError> {
        self.events.scan_prefix(keys::ticket(id)).values().map(|bytes| decode(&bytes?, "event")).collect()
    }

    /// A customer.
    pub fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        self.customers.get(keys::customer(id))?.map(|bytes| decode(&bytes, "customer")).transpose()
    }

    /// The customer a lookup key (email or external id, see [`keys`]) points to.
    pub fn customer_by_key(&self, key: &[u8]) -> Result<Option<CustomerId>, StoreError> {
        Ok(self.customer_keys.get(key)?.and_then(|bytes| keys::ulid_from(&bytes)).map(CustomerId))
    }

    /// Ids of a customer's tickets, oldest first.
    pub fn customer_tickets(&self, customer: CustomerId) -> Result<Vec<TicketId>, StoreError> {
        self.index
            .scan_prefix(keys::index_prefix("customer", &customer.to_string()))
            .keys()
            .map(|key| {
                let key = key?;
                keys::ulid_from(&key[key.len().saturating_sub(16)..])
                    .map(TicketId)
                    .ok_or_else(|| StoreError::Corrupt { what: "customer index".into(), reason: "short key".into() })
            })
            .collect()
    }

    /// A customer's tickets opened at or after `since`, newest first. Ticket ids sort by
    /// creation time, so only that part of the customer's index is read, however long their
    /// history is.
    pub fn history(&self, customer: CustomerId, since: DateTime<Utc>) -> Result<History, StoreError> {
        let prefix = keys::index_prefix("customer", &customer.to_string());
        let mut from = prefix.clone();
        from.extend_from_slice(&keys::ulid_bytes(Ulid::from_parts(since.timestamp_millis().max(0) as u64, 0)));
        let ids: Vec<TicketId> = self
            .index
            .range(from..prefix_end_key(&prefix))
            .keys()
            .filter_map(|key| key.ok().and_then(|k| keys::ulid_from(&k[k.len().saturating_sub(16)..])))
            .map(TicketId)
            .collect();
        let mut tickets = Vec::new();
        for id in ids.into_iter().rev() {
            if let Some(ticket) = self.ticket(id)? {
                tickets.push(PastTicket {
                    id,
                    workflow: ticket.workflow,
                    category: ticket.category,
                    opened_at: ticket.created_at,
                    csat: ticket.surveys.iter().rev().find_map(|s| s.csat),
                    assignee: ticket.assignee,
                });
            }
        }
        Ok(History { tickets })
    }

    /// Up to `limit` entries of a customer's audit trail after the event `after` (exclusive),
    /// oldest first, and the cursor of the next page if there is more.
    pub fn customer_events(
        &self,
        customer: CustomerId,
        after: Option<Ulid>,
        limit: usize,
    ) -> Result<(Vec<CustomerEvent>, Option<Ulid>), StoreError> {
        let prefix = keys::customer(customer);
        let start = match after {
            Some(after) => Bound::Excluded(keys::customer_event(customer, after).to_vec()),
            None => Bound::Included(prefix.to_vec()),
        };
        let mut events = Vec::with_capacity(limit.min(1_000));
        for item in self.customer_events.range::<Vec<u8>, _>((start, prefix_end(&prefix))) {
            let (_, bytes) = item?;
            if events.len() == limit {
                let next = events.last().map(|e: &CustomerEvent| e.id);
                return Ok((events, next));
            }
            events.push(decode(&bytes, "customer event")?);
        }
        Ok((events, None))
    }

    /// Customers whose name, email, phone or external id contains `query` (any case), and for
    /// whom `keep` holds (the caller's read scope), up to `limit` of them.
    pub fn search_customers(
        &self,
        query: &str,
        limit: usize,
        mut keep: impl FnMut(&Customer) -> Result<bool, StoreError>,
    ) -> Result<Vec<Customer>, StoreError> {
        let needle = query.trim().to_lowercase();
        let mut found = Vec::new();
        for bytes in self.customers.iter().values() {
            let customer: Customer = decode(&bytes?, "customer")?;
            let hay =
                [Some(&customer.name), customer.email.as_ref(), customer.phone.as_ref(), customer.external_id.as_ref()];
            if hay.iter().flatten().any(|text| text.to_lowercase().contains(&needle)) && keep(&customer)? {
                found.push(customer);
                if found.len() >= limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// One page of tickets matching `filter`, after the ticket `after` (exclusive).
    pub fn list(&self, filter: &ListFilter, after: Option<TicketId>, limit: usize) -> Result<Page, StoreError> {
        let (prefixes, tree, by_index) = match filter.indexes() {
            Some(values) => {
                (values.iter().map(|(name, value)| keys::index_prefix(name, value)).collect(), &self.index, true)
            }
            None => (vec![Vec::new()], &self.tickets, false),
        };
        // The id range: the created-time bounds, then the cursor.
        let low = filter.created_from.map(|t| Ulid::from_parts(t.timestamp_millis().max(0) as u64, 0));
        let high = filter.created_to.map(|t| Ulid::from_parts(t.timestamp_millis().max(0) as u64, 0));
        let walk = |prefix: Vec<u8>| -> Peekable<Entries<'_>> {
            let with_id = |ulid: Ulid| {
                let mut key = prefix.clone();
                key.extend_from_slice(&keys::ulid_bytes(ulid));
                key
            };
            let mut start = low.map_or(Bound::Included(prefix.clone()), |l| Bound::Included(with_id(l)));
            let mut end = high.map_or_else(|| prefix_end(&prefix), |h| Bound::Excluded(with_id(h)));
            if let Some(cursor) = after {
                if filter.newest_first {
                    end = Bound::Excluded(with_id(cursor.0));
                } else {
                    start = Bound::Excluded(with_id(cursor.0));
                }
            }
            let range = tree.range::<Vec<u8>, _>((start, end));
            let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
                if filter.newest_first { Box::new(range.rev()) } else { Box::new(range) };
            let entries = iter.map(|item| {
                let (key, value) = item?;
                let id = keys::ulid_from(&key[key.len().saturating_sub(16)..])
                    .ok_or_else(|| StoreError::Corrupt { what: "ticket key".into(), reason: "short key".into() })?;
                Ok((TicketId(id), value))
            });
            (Box::new(entries) as Entries<'_>).peekable()
        };
        let iter = merged(prefixes.into_iter().map(walk).collect(), filter.newest_first);
        let mut tickets = Vec::with_capacity(limit.min(1_000));
        let mut next = None;
        let mut last_seen = None;
        for (scanned, item) in iter.enumerate() {
            if scanned == MAX_SCAN {
                next = last_seen;
                break;
            }
            let (id, value) = item?;
            let ticket: Ticket = if !by_index {
                decode(&value, "ticket")?
            } else {
                let Some(ticket) = self.ticket(id)? else { continue };
                ticket
            };
            last_seen = Some(ticket.id);
            if !filter.matches(&ticket) {
                continue;
            }
            if tickets.len() == limit {
                next = tickets.last().map(|t: &Ticket| t.id);
                break;
            }
            tickets.push(ticket);
        }
        Ok(Page { tickets, next })
    }

    /// Every ticket id, oldest first.
    pub fn ticket_ids(&self) -> impl Iterator<Item = Result<TicketId, StoreError>> + '_ {
        self.tickets.iter().keys().map(|key| {
            let key = key?;
            keys::ulid_from(&key)
                .map(TicketId)
                .ok_or_else(|| StoreError::Corrupt { what: "ticket key".into(), reason: "not 16 bytes".into() })
        })
    }
}

/// Index or ticket entries in ticket-id order: the ticket and the entry's value.
type Entries<'a> = Box<dyn Iterator<Item = Result<(TicketId, sled::IVec), StoreError>> + 'a>;

/// Several walks in ticket-id order merged into one in the same order (each ticket is in one
/// workflow, so no id comes twice).
fn merged(mut walks: Vec<Peekable<Entries<'_>>>, newest_first: bool) -> Entries<'_> {
    if walks.len() == 1
        && let Some(walk) = walks.pop()
    {
        return Box::new(walk);
    }
    Box::new(std::iter::from_fn(move || {
        let mut best: Option<(usize, TicketId)> = None;
        for (i, walk) in walks.iter_mut().enumerate() {
            match walk.peek() {
                None => {}
                // An error comes out at once.
                Some(Err(_)) => return walk.next(),
                Some(Ok((id, _))) => {
                    let first = best.is_none_or(|(_, best)| if newest_first { *id > best } else { *id < best });
                    if first {
                        best = Some((i, *id));
                    }
                }
            }
        }
        best.and_then(|(i, _)| walks[i].next())
    }))
}

/// The first key after every key starting with `prefix`, as a key.
fn prefix_end_key(prefix: &[u8]) -> Vec<u8> {
    match prefix_end(prefix) {
        Bound::Excluded(end) => end,
        _ => vec![u8::MAX; prefix.len() + 17],
    }
}

/// The first key after every key starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}
