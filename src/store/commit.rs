//! Writing: everything a group of commands changed, in one sled transaction and one flush.
//!
//! Events, ticket snapshots, their index entries, customers, ticket numbers and counters of a
//! whole batch are written atomically: after a crash either all of a batch is there or none of
//! it. [`Store::write`] applies a batch; [`Store::flush`] makes everything written so far
//! durable. Callers acknowledge commands only after a flush that followed their write, so
//! nothing acknowledged is ever lost; [`Store::commit`] does both.

use std::collections::BTreeSet;

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::outbox::OutboxMessage;
use super::{Store, StoreError, encode, indexes, keys};
use crate::engine::customer::CustomerEvent;
use crate::engine::{Change, Customer, CustomerId, Event, Ticket, TicketId};
use crate::reports::aggregate::Agg;
use crate::reports::facts::BucketKey;

/// A ticket as it was in the store before the batch, and as it is after.
#[derive(Debug, Clone)]
pub struct TicketWrite {
    /// As stored before the batch (`None` for a new ticket).
    pub before: Option<Ticket>,
    /// As it must be stored.
    pub after: Ticket,
}

/// Everything a batch of commands changed.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// New events.
    pub events: Vec<Event>,
    /// Changed tickets.
    pub tickets: Vec<TicketWrite>,
    /// New or changed customers.
    pub customers: Vec<Customer>,
    /// Lookup keys of customers (email, external id).
    pub customer_keys: Vec<(Vec<u8>, CustomerId)>,
    /// New entries of customers' audit trails.
    pub customer_events: Vec<CustomerEvent>,
    /// Human numbers of new tickets.
    pub numbers: Vec<(String, TicketId)>,
    /// Ticket-number counters: workflow → last number.
    pub sequences: Vec<(String, u64)>,
    /// Idempotency keys used: key (see [`keys::idempotency`]) → ticket and request digest.
    pub idempotency: Vec<(Vec<u8>, TicketId, Vec<u8>)>,
    /// Timers armed (keys of [`super::timers::key`]).
    pub timers_armed: Vec<Vec<u8>>,
    /// Timers fired or cancelled.
    pub timers_removed: Vec<Vec<u8>>,
    /// Messages queued (pending; each is put in the delivery queue).
    pub outbox: Vec<OutboxMessage>,
    /// Scheduled jobs run: workflow, job, when.
    pub job_runs: Vec<(String, String, chrono::DateTime<chrono::Utc>)>,
    /// Round-robin turns moved: workflow, role, next position.
    pub turns: Vec<(String, String, u64)>,
    /// Availability set: person, record.
    pub people: Vec<(String, super::people::Availability)>,
    /// Report buckets changed: each bucket, what to take out and what to add (see
    /// `crate::reports::facts::delta`).
    pub reports: Vec<(BucketKey, Agg, Agg)>,
}

impl Batch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.tickets.is_empty()
            && self.customers.is_empty()
            && self.customer_events.is_empty()
            && self.timers_armed.is_empty()
            && self.timers_removed.is_empty()
            && self.outbox.is_empty()
            && self.job_runs.is_empty()
            && self.people.is_empty()
            && self.reports.is_empty()
    }
}

/// Which tree a write goes to (positions in the transaction's tree list).
#[derive(Clone, Copy)]
enum Tree {
    Events = 0,
    Tickets = 1,
    Numbers = 2,
    Customers = 3,
    CustomerKeys = 4,
    Index = 5,
    Meta = 6,
    Idempotency = 7,
    Timers = 8,
    Outbox = 9,
    OutboxQueue = 10,
    OutboxIndex = 11,
    CustomerEvents = 12,
    Reports = 13,
}

type Write = (Tree, Vec<u8>, Option<Vec<u8>>);

fn writes(batch: &Batch) -> Result<Vec<Write>, StoreError> {
    let mut out: Vec<Write> = Vec::new();
    for event in &batch.events {
        out.push((Tree::Events, keys::event(event.ticket, event.revision).to_vec(), Some(encode(event)?)));
        // Mail received on a ticket, by Message-ID: replies to it find the ticket, and the same
        // mail processed again after a crash is recognised.
        if let Change::MailReceived { mail } | Change::CustomerReplied { mail: Some(mail), .. } = &event.change {
            out.push((Tree::Index, keys::mail(&mail.message_id, event.ticket), Some(Vec::new())));
        }
    }
    for write in &batch.tickets {
        let after = &write.after;
        out.push((Tree::Tickets, keys::ticket(after.id).to_vec(), Some(encode(after)?)));
        let old: BTreeSet<Vec<u8>> = write
            .before
            .iter()
            .flat_map(|t| indexes::entries(t).into_iter().map(|(name, value)| keys::index(name, &value, t.id)))
            .collect();
        let new: BTreeSet<Vec<u8>> =
            indexes::entries(after).into_iter().map(|(name, value)| keys::index(name, &value, after.id)).collect();
        out.extend(old.difference(&new).map(|key| (Tree::Index, key.clone(), None)));
        out.extend(new.difference(&old).map(|key| (Tree::Index, key.clone(), Some(Vec::new()))));
    }
    for customer in &batch.customers {
        out.push((Tree::Customers, keys::customer(customer.id).to_vec(), Some(encode(customer)?)));
    }
    for (key, id) in &batch.customer_keys {
        out.push((Tree::CustomerKeys, key.clone(), Some(keys::customer(*id).to_vec())));
    }
    // Customers' audit trails.
    for event in &batch.customer_events {
        out.push((Tree::CustomerEvents, keys::customer_event(event.customer, event.id).to_vec(), Some(encode(event)?)));
    }
    for (number, id) in &batch.numbers {
        out.push((Tree::Numbers, number.as_bytes().to_vec(), Some(keys::ticket(*id).to_vec())));
    }
    for (key, id, digest) in &batch.idempotency {
        let mut value = keys::ticket(*id).to_vec();
        value.extend_from_slice(digest);
        out.push((Tree::Idempotency, key.clone(), Some(value)));
    }
    out.extend(batch.timers_removed.iter().map(|key| (Tree::Timers, key.clone(), None)));
    out.extend(batch.timers_armed.iter().map(|key| (Tree::Timers, key.clone(), Some(Vec::new()))));
    for message in &batch.outbox {
        out.push((Tree::Outbox, super::outbox::key(message.id).to_vec(), Some(encode(message)?)));
        out.push((Tree::OutboxQueue, super::outbox::queue_key(message.due(), message.id).to_vec(), Some(Vec::new())));
        if let Some(call) = message.webhook() {
            out.push((Tree::OutboxIndex, super::outbox::webhook_key(&call.webhook, message.id), Some(Vec::new())));
        }
    }
    for (workflow, job, at) in &batch.job_runs {
        out.push((Tree::Meta, keys::job(workflow, job), Some(at.timestamp_millis().to_be_bytes().to_vec())));
    }
    for (workflow, last) in &batch.sequences {
        out.push((Tree::Meta, keys::sequence(workflow), Some(last.to_be_bytes().to_vec())));
    }
    for (workflow, role, next) in &batch.turns {
        out.push((Tree::Meta, super::people::turn_key(workflow, role), Some(next.to_be_bytes().to_vec())));
    }
    for (person, availability) in &batch.people {
        out.push((Tree::Meta, super::people::person_key(person), Some(encode(availability)?)));
    }
    Ok(out)
}

impl Store {
    /// Writes `batch` atomically and flushes it to disk.
    pub fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        self.write(batch)?;
        self.flush()
    }

    /// Writes `batch` atomically, without waiting for the disk: readers see it at once, and it
    /// is durable after the next [`Store::flush`].
    pub fn write(&self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let writes = writes(batch)?;
        let trees = [
            &self.events,
            &self.tickets,
            &self.numbers,
            &self.customers,
            &self.customer_keys,
            &self.index,
            &self.meta,
            &self.idempotency,
            &self.timers,
            &self.outbox,
            &self.outbox_queue,
            &self.outbox_index,
            &self.customer_events,
            &self.reports,
        ];
        let reports: Vec<(Vec<u8>, &Agg, &Agg)> =
            batch.reports.iter().map(|(bucket, minus, plus)| (super::reports::key(bucket), minus, plus)).collect();
        trees
            .transaction(|views| {
                for (tree, key, value) in &writes {
                    let view = &views[*tree as usize];
                    match value {
                        Some(value) => view.insert(key.as_slice(), value.as_slice())?,
                        None => view.remove(key.as_slice())?,
                    };
                }
                // Report buckets: read, change, write, in the same transaction as the events.
                let view = &views[Tree::Reports as usize];
                for (key, minus, plus) in &reports {
                    let mut agg = match view.get(key.as_slice())? {
                        Some(bytes) => {
                            super::reports::decode(&bytes).map_err(|_| ConflictableTransactionError::Abort(()))?
                        }
                        None => Agg::default(),
                    };
                    agg.apply(minus, -1);
                    agg.apply(plus, 1);
                    if agg.is_empty() {
                        view.remove(key.as_slice())?;
                    } else {
                        let bytes =
                            super::reports::encode(&agg).map_err(|_| ConflictableTransactionError::Abort(()))?;
                        view.insert(key.as_slice(), bytes)?;
                    }
                }
                Ok(())
            })
            .map_err(|e: TransactionError<()>| match e {
                TransactionError::Storage(e) => StoreError::Sled(e),
                TransactionError::Abort(()) => {
                    StoreError::Corrupt { what: "transaction".into(), reason: "aborted".into() }
                }
            })?;
        Ok(())
    }
}
