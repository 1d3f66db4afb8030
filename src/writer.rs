//! The single writer: every change goes through it.
//!
//! One thread drains a queue of requests. For each, it loads what the engine needs, asks the
//! pure engine for the events, and folds them into the ticket; then it writes the whole group
//! in one sled transaction and hands the answers to a second thread, the flusher. The flusher
//! flushes once for every group that has piled up and only then answers their callers. While
//! it flushes, the writer already builds the next group: durability costs one flush per group
//! or more, not one per command (group commit), and both cores stay busy. Being the only
//! writer also makes per-ticket ordering, revision checks, ticket numbers and idempotency keys
//! race-free.

use std::collections::{BTreeMap, HashMap};

use crate::reports::aggregate::Agg;
use crate::reports::facts::BucketKey;
use std::sync::Arc;
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc, oneshot};
use ulid::Ulid;

use crate::clock::Clock;
use crate::engine::customer::{CustomerEvent, CustomerEventKind, FieldChange, PastTicket, Satisfaction};
use crate::engine::{
    Actor, Change, Command, Context, Customer, CustomerId, CustomerInput, EngineError, Event, FieldProblem, History,
    OpenTicket, Relation, Ticket, TicketId, forms, stamp,
};
use crate::engine::{assign, hooks, notices, sla};
use crate::notify::webhook;
use crate::registry::{Registry, RegistryError};
use crate::store::commit::TicketWrite;
use crate::store::outbox::{Email, OutboxMessage, Payload};
use crate::store::people::Availability;
use crate::store::{Batch, Store, StoreError, keys, timers};
use crate::team::TeamFacts;
use crate::workflow::load::ticket_prefix;

/// Most requests written in one group.
pub const MAX_GROUP: usize = 2_048;
/// Requests that may wait in the queue before callers wait to enqueue.
pub const QUEUE: usize = 8_192;

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The engine refused the command.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store failed; nothing of the group was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored workflow version could not be rebuilt.
    #[error("workflow version cannot be loaded: {0}")]
    Workflow(String),
    /// A bug: the request could not be processed (the cause is logged).
    #[error("{0}")]
    Internal(String),
    /// The writer has stopped (the server is shutting down).
    #[error("the server is shutting down")]
    Stopped,
}

impl From<RegistryError> for WriteError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Store(e) => Self::Store(e),
            RegistryError::Invalid(problems) => {
                Self::Workflow(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
            }
        }
    }
}

/// A ticket after a write, and the events the write added.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The ticket as it is now.
    pub ticket: Ticket,
    /// The events added (empty when nothing changed, or when an idempotent retry returned
    /// the ticket an earlier request opened).
    pub events: Vec<Event>,
    /// Whether this answer repeats an earlier request with the same idempotency key.
    pub replayed: bool,
}

/// A request to open a ticket.
#[derive(Debug, Clone)]
pub struct OpenRequest {
    /// What to open.
    pub ticket: OpenTicket,
    /// Who asks.
    pub actor: Actor,
    /// A key the caller reuses when retrying, so a retry returns the first ticket.
    pub idempotency_key: Option<String>,
}

/// A command on an existing ticket.
#[derive(Debug, Clone)]
pub struct CommandRequest {
    /// The ticket, by id or number.
    pub ticket: String,
    /// What to do.
    pub command: Command,
    /// Who asks.
    pub actor: Actor,
    /// Refuse unless the ticket is at this revision.
    pub expected_revision: Option<u64>,
}

enum Job {
    Open(Box<OpenRequest>, oneshot::Sender<Result<Outcome, WriteError>>),
    Command(Box<CommandRequest>, oneshot::Sender<Result<Outcome, WriteError>>),
    Customer(Box<(CustomerInput, Actor)>, oneshot::Sender<Result<(Customer, bool), WriteError>>),
    MergeCustomers(Box<MergeRequest>, oneshot::Sender<Result<MergedCustomers, WriteError>>),
    Availability(Box<AvailabilityRequest>, oneshot::Sender<Result<Availability, WriteError>>),
}

/// A request to merge one customer record into another.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    /// The record that goes (text as given: a customer id).
    pub merged: String,
    /// The record that stays.
    pub into: String,
    /// Who asks.
    pub actor: Actor,
}

/// Two customer records after a merge.
#[derive(Debug, Clone)]
pub struct MergedCustomers {
    /// The merged record, pointing at the survivor (`merged_into`).
    pub merged: Customer,
    /// The survivor, with the details it took.
    pub survivor: Customer,
    /// The tickets that moved to the survivor.
    pub moved: Vec<TicketId>,
}

/// What the writer is told besides the registry and the clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterSettings {
    /// The region customers' national phone numbers are read in (`default_phone_region`).
    pub phone_region: Option<crate::engine::phone::Region>,
    /// Leave the report figures alone (benchmarks measuring what keeping them costs; a server
    /// always keeps them, and `afterdesk reports rebuild` recomputes them).
    pub skip_reports: bool,
}

/// A request to set whether a person takes new work.
#[derive(Debug, Clone)]
pub struct AvailabilityRequest {
    /// The person, as written in `[roles]`.
    pub person: String,
    /// Available for new tickets.
    pub available: bool,
    /// Back at this time (only when unavailable).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Why.
    pub reason: Option<String>,
    /// Who sets it.
    pub by: String,
}

// Replies live for one group only; their size does not matter.
#[allow(clippy::large_enum_variant)]
enum Reply {
    Ticket(oneshot::Sender<Result<Outcome, WriteError>>, Result<Outcome, WriteError>),
    Customer(oneshot::Sender<Result<(Customer, bool), WriteError>>, Result<(Customer, bool), WriteError>),
    Merge(oneshot::Sender<Result<MergedCustomers, WriteError>>, Result<MergedCustomers, WriteError>),
    Person(oneshot::Sender<Result<Availability, WriteError>>, Result<Availability, WriteError>),
}

impl Reply {
    fn fail_if_ok(self, error: &str) -> Self {
        match self {
            Self::Ticket(tx, Ok(_)) => Self::Ticket(tx, Err(WriteError::Workflow(error.to_string()))),
            Self::Customer(tx, Ok(_)) => Self::Customer(tx, Err(WriteError::Workflow(error.to_string()))),
            Self::Merge(tx, Ok(_)) => Self::Merge(tx, Err(WriteError::Workflow(error.to_string()))),
            Self::Person(tx, Ok(_)) => Self::Person(tx, Err(WriteError::Workflow(error.to_string()))),
            other => other,
        }
    }

    fn send(self) {
        // A caller that gave up waiting is no reason to fail the others.
        match self {
            Self::Ticket(tx, result) => drop(tx.send(result)),
            Self::Customer(tx, result) => drop(tx.send(result)),
            Self::Merge(tx, result) => drop(tx.send(result)),
            Self::Person(tx, result) => drop(tx.send(result)),
        }
    }
}

/// A handle to the writer; cheap to clone. The writer stops when every handle is dropped.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
    timers: Arc<Notify>,
    outbox: Arc<Notify>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Open(..) => "Open",
            Self::Command(..) => "Command",
            Self::Customer(..) => "Customer",
            Self::MergeCustomers(..) => "MergeCustomers",
            Self::Availability(..) => "Availability",
        })
    }
}

impl Writer {
    /// Starts the writer and flusher threads. The handle finishes when both have stopped,
    /// after every accepted request was answered.
    pub fn start(registry: Arc<Registry>, clock: Arc<dyn Clock>) -> (Self, JoinHandle<()>) {
        Self::start_with(registry, clock, WriterSettings::default())
    }

    /// [`Writer::start`] with `settings`. Customers' phone numbers stored before they were
    /// normalised are indexed first (once per database), so they find their customer.
    pub fn start_with(
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        settings: WriterSettings,
    ) -> (Self, JoinHandle<()>) {
        let region = settings.phone_region;
        match registry.store().index_customer_phones(&|phone| crate::engine::phone::normalise(phone, region).ok()) {
            Ok(0) => {}
            Ok(indexed) => tracing::info!(indexed, "customers' phone numbers indexed"),
            Err(error) => {
                tracing::error!(%error, "cannot index customers' phone numbers; they are matched once saved again")
            }
        }
        let (queue, jobs) = mpsc::channel(QUEUE);
        let (flush_tx, flush_rx) = std::sync::mpsc::channel::<Vec<Reply>>();
        let store = registry.store().clone();
        let timers = Arc::new(Notify::new());
        let outbox = Arc::new(Notify::new());
        let mut state = State::new(registry, clock, flush_tx, timers.clone(), outbox.clone());
        state.phone_region = settings.phone_region;
        state.skip_reports = settings.skip_reports;
        let handle = std::thread::Builder::new()
            .name("afterdesk-writer".into())
            .spawn(move || {
                let flusher = std::thread::Builder::new()
                    .name("afterdesk-flusher".into())
                    .spawn(move || flush_loop(&store, &flush_rx))
                    .unwrap_or_else(|e| panic!("cannot start the flusher thread: {e}"));
                state.run(jobs);
                // The writer dropped its sender: the flusher answers what is left, then ends.
                if flusher.join().is_err() {
                    tracing::error!("the flusher thread panicked");
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the writer thread: {e}"));
        (Self { queue, timers, outbox }, handle)
    }

    /// A handle to no writer: every request answers [`WriteError::Stopped`]. Dropping the real
    /// handles (for example by replacing them with this) lets the writer thread finish.
    pub fn closed() -> Self {
        let (queue, _) = mpsc::channel(1);
        Self { queue, timers: Arc::new(Notify::new()), outbox: Arc::new(Notify::new()) }
    }

    /// Notified whenever a group arms timers, so the scheduler can wake up early.
    pub fn timer_signal(&self) -> Arc<Notify> {
        self.timers.clone()
    }

    /// Notified whenever a group queues messages, so the delivery worker can send them at once.
    pub fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox.clone()
    }

    /// Opens a ticket; returns once it is durable.
    pub async fn open(&self, request: OpenRequest) -> Result<Outcome, WriteError> {
        let (tx, rx) = oneshot::channel();
        self.queue.send(Job::Open(Box::new(request), tx)).await.map_err(|_| WriteError::Stopped)?;
        rx.await.map_err(|_| WriteError::Stopped)?
    }

    /// Runs a command on a ticket; returns once its events are durable.
    pub async fn command(&self, request: CommandRequest) -> Result<Outcome, WriteError> {
        let (tx, rx) = oneshot::channel();
        self.queue.send(Job::Command(Box::new(request), tx)).await.map_err(|_| WriteError::Stopped)?;
        rx.await.map_err(|_| WriteError::Stopped)?
    }

    /// Creates a customer, or updates the one with the same email or external id, as `actor`;
    /// returns it and whether it was created.
    pub async fn save_customer(&self, input: CustomerInput, actor: Actor) -> Result<(Customer, bool), WriteError> {
        let (tx, rx) = oneshot::channel();
        self.queue.send(Job::Customer(Box::new((input, actor)), tx)).await.map_err(|_| WriteError::Stopped)?;
        rx.await.map_err(|_| WriteError::Stopped)?
    }

    /// Merges the customer `merged` into `into` (see [`crate::engine::customer::merge`]): the
    /// merged record's tickets move to the survivor and its lookup keys find the survivor;
    /// returns both records once durable.
    pub async fn merge_customers(&self, request: MergeRequest) -> Result<MergedCustomers, WriteError> {
        let (tx, rx) = oneshot::channel();
        self.queue.send(Job::MergeCustomers(Box::new(request), tx)).await.map_err(|_| WriteError::Stopped)?;
        rx.await.map_err(|_| WriteError::Stopped)?
    }

    /// Sets whether a person takes new work; returns the record once durable.
    pub async fn set_availability(&self, request: AvailabilityRequest) -> Result<Availability, WriteError> {
        let (tx, rx) = oneshot::channel();
        self.queue.send(Job::Availability(Box::new(request), tx)).await.map_err(|_| WriteError::Stopped)?;
        rx.await.map_err(|_| WriteError::Stopped)?
    }
}

/// Flushes once for all the groups written since the last flush, then answers their callers.
fn flush_loop(store: &Store, groups: &std::sync::mpsc::Receiver<Vec<Reply>>) {
    while let Ok(first) = groups.recv() {
        let mut replies = first;
        while let Ok(more) = groups.try_recv() {
            replies.extend(more);
        }
        if let Err(error) = store.flush() {
            tracing::error!(%error, "flushing {} commands to disk failed; none was acknowledged", replies.len());
            let message = format!("the change could not be saved: {error}");
            replies = replies.into_iter().map(|reply| reply.fail_if_ok(&message)).collect();
        }
        for reply in replies {
            reply.send();
        }
    }
}

/// What the writer thread keeps between groups.
struct State {
    registry: Arc<Registry>,
    store: Store,
    clock: Arc<dyn Clock>,
    ids: ulid::Generator,
    sequences: HashMap<String, u64>,
    flusher: std::sync::mpsc::Sender<Vec<Reply>>,
    timers: Arc<Notify>,
    outbox: Arc<Notify>,
    team: TeamFacts,
    phone_region: Option<crate::engine::phone::Region>,
    skip_reports: bool,
}

/// What one group has changed so far, not yet written.
#[derive(Default)]
struct Group {
    tickets: HashMap<TicketId, TicketWrite>,
    order: Vec<TicketId>,
    events: Vec<Event>,
    customers: HashMap<CustomerId, Customer>,
    customer_keys: HashMap<Vec<u8>, CustomerId>,
    customer_events: Vec<CustomerEvent>,
    numbers: HashMap<String, TicketId>,
    sequences: HashMap<String, u64>,
    idempotency: HashMap<Vec<u8>, (TicketId, Vec<u8>)>,
    turns: HashMap<(String, String), u64>,
    people: Vec<(String, Availability)>,
    /// Timers the scheduler found due, by ticket: those a ticket no longer has after the group
    /// are removed with it.
    seen_timers: HashMap<TicketId, Vec<sla::TimerKey>>,
}

impl Group {
    fn into_batch(self) -> (Batch, HashMap<TicketId, Vec<sla::TimerKey>>) {
        let mut tickets = self.tickets;
        let batch = Batch {
            events: self.events,
            tickets: self.order.iter().filter_map(|id| tickets.remove(id)).collect(),
            customers: self.customers.into_values().collect(),
            customer_keys: self.customer_keys.into_iter().collect(),
            customer_events: self.customer_events,
            numbers: self.numbers.into_iter().collect(),
            sequences: self.sequences.into_iter().collect(),
            idempotency: self.idempotency.into_iter().map(|(key, (id, digest))| (key, id, digest)).collect(),
            timers_armed: Vec::new(),
            timers_removed: Vec::new(),
            outbox: Vec::new(),
            job_runs: Vec::new(),
            turns: self.turns.into_iter().map(|((workflow, role), next)| (workflow, role, next)).collect(),
            people: self.people,
            reports: Vec::new(),
        };
        (batch, self.seen_timers)
    }
}

/// The customer of a request, found or made: the record, the lookup keys to (re)write, whether
/// it is new, and the fields that changed.
struct FoundCustomer {
    customer: Customer,
    keys: Vec<Vec<u8>>,
    created: bool,
    changes: Vec<FieldChange>,
}

/// A change set of one request, applied to the group only when the request succeeds.
#[derive(Default)]
struct Pending {
    tickets: Vec<Ticket>,
    events: Vec<Event>,
    customer: Option<(Customer, Vec<Vec<u8>>)>,
    customer_events: Vec<CustomerEvent>,
    numbers: Vec<(String, TicketId, String, u64)>,
    idempotency: Option<(Vec<u8>, TicketId, Vec<u8>)>,
    turns: Vec<(String, String, u64)>,
    people: Vec<(String, Availability)>,
    seen_timers: Vec<(TicketId, sla::TimerKey)>,
}

impl State {
    fn new(
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        flusher: std::sync::mpsc::Sender<Vec<Reply>>,
        timers: Arc<Notify>,
        outbox: Arc<Notify>,
    ) -> Self {
        let store = registry.store().clone();
        let team = TeamFacts::load(&store).unwrap_or_else(|error| {
            tracing::error!(%error, "cannot read people's loads and availability; starting without");
            TeamFacts::default()
        });
        let ids = ulid::Generator::new();
        Self {
            registry,
            store,
            clock,
            ids,
            sequences: HashMap::new(),
            flusher,
            timers,
            outbox,
            team,
            phone_region: None,
            skip_reports: false,
        }
    }

    /// Fills in what follows from a group's tickets and events: the timers to arm and cancel
    /// (each ticket's timers before and after, and the due timers the scheduler saw that the
    /// ticket no longer has), and the messages its events cause.
    fn consequences(&mut self, batch: &mut Batch, seen: &HashMap<TicketId, Vec<sla::TimerKey>>) {
        let now = self.clock.now();
        // Each ticket's workflow version and customer, looked up once for all its events.
        let mut context = HashMap::new();
        let mut reports = Vec::new();
        for (i, write) in batch.tickets.iter().enumerate() {
            let Ok(Some(workflow)) = self.registry.version(&write.after.workflow, &write.after.version) else {
                continue;
            };
            let customer = batch
                .customers
                .iter()
                .find(|c| c.id == write.after.customer)
                .cloned()
                .or_else(|| self.store.customer(write.after.customer).ok().flatten());
            context.insert(write.after.id, (i, workflow.clone(), customer));
            let id = write.after.id;
            let seen = seen.get(&id).map_or(&[][..], Vec::as_slice);
            let (arm, cancel) = sla::timer_changes(&workflow.definition, write.before.as_ref(), &write.after, seen);
            batch.timers_removed.extend(cancel.iter().map(|(due, kind)| timers::key(*due, id, kind)));
            batch.timers_armed.extend(arm.iter().map(|(due, kind)| timers::key(*due, id, kind)));
            // The reports change with the ticket, in the same transaction.
            if self.skip_reports {
                continue;
            }
            let definition = &workflow.definition;
            let before = write.before.as_ref().map(|ticket| (definition, ticket));
            reports.extend(crate::reports::facts::delta(before, (definition, &write.after)));
        }
        // One change per bucket for the whole group: a busy day's bucket is read and written
        // once, not once per ticket.
        let mut merged: BTreeMap<BucketKey, (Agg, Agg)> = BTreeMap::new();
        for (bucket, minus, plus) in reports {
            let both = merged.entry(bucket).or_default();
            both.0.apply(&minus, 1);
            both.1.apply(&plus, 1);
        }
        batch.reports.extend(merged.into_iter().map(|(bucket, (minus, plus))| (bucket, minus, plus)));
        for event in &batch.events {
            let Some((i, workflow, customer)) = context.get(&event.ticket) else { continue };
            let Some(ticket) = batch.tickets.get(*i).map(|write| &write.after) else { continue };
            for notice in notices::notices(&workflow.definition, ticket, customer.as_ref(), event) {
                let id = keys::next_ulid(&mut self.ids, now);
                let email = Email {
                    template: notice.template,
                    to: notice.to,
                    subject: notice.subject,
                    context: notice.context,
                    audience: notice.audience,
                    personal: notice.personal,
                    attachments: notice.attachments,
                };
                let message = OutboxMessage::queued(id, Payload::Email(email), notice.not_before, now);
                batch.outbox.push(message.about(ticket, event.revision));
            }
            if workflow.definition.webhooks.is_empty() {
                continue;
            }
            let calls = webhook::calls(&workflow.definition, ticket, event, || keys::next_ulid(&mut self.ids, now));
            for (id, call) in calls {
                let message = OutboxMessage::queued(id, Payload::Webhook(call), event.at, now);
                batch.outbox.push(message.about(ticket, event.revision));
            }
        }
    }

    fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(first) = jobs.blocking_recv() {
            let mut group_jobs = vec![first];
            while group_jobs.len() < MAX_GROUP {
                match jobs.try_recv() {
                    Ok(job) => group_jobs.push(job),
                    Err(_) => break,
                }
            }
            self.write_group(group_jobs);
        }
    }

    fn write_group(&mut self, jobs: Vec<Job>) {
        let mut group = Group::default();
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            // A bug that panics on one request must not take the writer (and every later
            // request) down with it: that request fails, the others go on. A request changes the
            // group only once it has succeeded, so a panic leaves the group as it was.
            replies.push(match job {
                Job::Open(request, tx) => Reply::Ticket(tx, guarded(|| self.open(&mut group, &request))),
                Job::Command(request, tx) => Reply::Ticket(tx, guarded(|| self.command(&mut group, &request))),
                Job::Customer(request, tx) => {
                    Reply::Customer(tx, guarded(|| self.customer(&mut group, &request.0, &request.1)))
                }
                Job::MergeCustomers(request, tx) => {
                    Reply::Merge(tx, guarded(|| self.merge_customers(&mut group, &request)))
                }
                Job::Availability(request, tx) => {
                    Reply::Person(tx, guarded(|| self.availability(&mut group, &request)))
                }
            });
        }
        let (mut batch, seen) = group.into_batch();
        self.consequences(&mut batch, &seen);
        let armed = !batch.timers_armed.is_empty();
        let queued = !batch.outbox.is_empty();
        if let Err(error) = self.store.write(&batch) {
            tracing::error!(%error, "writing a group of {} commands failed; none was acknowledged", replies.len());
            // Counters advanced in memory for this group; read them again from the store.
            self.sequences.clear();
            self.team.reload(&self.store);
            let message = format!("the change could not be saved: {error}");
            replies = replies.into_iter().map(|reply| reply.fail_if_ok(&message)).collect();
        }
        if armed {
            self.timers.notify_one();
        }
        if queued {
            self.outbox.notify_one();
        }
        if let Err(unsent) = self.flusher.send(replies) {
            // The flusher is gone (it panicked): answer without the durability promise.
            let replies = unsent.0.into_iter().map(|reply| reply.fail_if_ok("the server cannot write to disk"));
            replies.for_each(Reply::send);
        }
    }

    /// The ticket as the group sees it: changed in this group, or as stored.
    fn load(&self, group: &Group, id: TicketId) -> Result<Option<Ticket>, WriteError> {
        if let Some(write) = group.tickets.get(&id) {
            return Ok(Some(write.after.clone()));
        }
        Ok(self.store.ticket(id)?)
    }

    fn resolve(&self, group: &Group, text: &str) -> Result<TicketId, WriteError> {
        if let Some(id) = group.numbers.get(&text.trim().to_uppercase()) {
            return Ok(*id);
        }
        if let Ok(ulid) = Ulid::from_string(text)
            && group.tickets.contains_key(&TicketId(ulid))
        {
            return Ok(TicketId(ulid));
        }
        self.store.resolve(text)?.ok_or_else(|| EngineError::NotFound(format!("ticket {text} not found")).into())
    }

    fn load_customer(&self, group: &Group, id: CustomerId) -> Result<Option<Customer>, WriteError> {
        if let Some(customer) = group.customers.get(&id) {
            return Ok(Some(customer.clone()));
        }
        Ok(self.store.customer(id)?)
    }

    fn customer_by_key(&self, group: &Group, key: &[u8]) -> Result<Option<CustomerId>, WriteError> {
        if let Some(id) = group.customer_keys.get(key) {
            return Ok(Some(*id));
        }
        Ok(self.store.customer_by_key(key)?)
    }

    /// The customer's history as the group sees it, newest first.
    fn history(
        &self,
        group: &Group,
        customer: CustomerId,
        except: Option<TicketId>,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<History, WriteError> {
        let mut history = self.store.history(customer, since)?;
        for id in group.order.iter().rev() {
            let Some(write) = group.tickets.get(id) else { continue };
            let ticket = &write.after;
            if ticket.customer == customer && write.before.is_none() {
                history.tickets.insert(
                    0,
                    PastTicket {
                        id: ticket.id,
                        workflow: ticket.workflow.clone(),
                        category: ticket.category.clone(),
                        opened_at: ticket.created_at,
                        csat: ticket.surveys.iter().rev().find_map(|s| s.csat),
                        assignee: ticket.assignee.clone(),
                    },
                );
            }
        }
        history.tickets.retain(|t| Some(t.id) != except);
        Ok(history)
    }

    fn apply(&mut self, group: &mut Group, pending: Pending) -> Result<(), WriteError> {
        for ticket in pending.tickets {
            let id = ticket.id;
            match group.tickets.get_mut(&id) {
                Some(write) => {
                    self.team.ticket_changed(Some(&write.after), &ticket);
                    write.after = ticket;
                }
                None => {
                    let before = self.store.ticket(id)?;
                    self.team.ticket_changed(before.as_ref(), &ticket);
                    group.order.push(id);
                    group.tickets.insert(id, TicketWrite { before, after: ticket });
                }
            }
        }
        group.events.extend(pending.events);
        if let Some((customer, keys)) = pending.customer {
            for key in keys {
                group.customer_keys.insert(key, customer.id);
            }
            group.customers.insert(customer.id, customer);
        }
        group.customer_events.extend(pending.customer_events);
        for (number, id, workflow, sequence) in pending.numbers {
            group.numbers.insert(number, id);
            self.sequences.insert(workflow.clone(), sequence);
            group.sequences.insert(workflow, sequence);
        }
        for (workflow, role, next) in pending.turns {
            self.team.turn_moved(&workflow, &role, next);
            group.turns.insert((workflow, role), next);
        }
        for (person, availability) in pending.people {
            self.team.availability_set(&person, availability.clone());
            group.people.push((person, availability));
        }
        if let Some((key, id, digest)) = pending.idempotency {
            group.idempotency.insert(key, (id, digest));
        }
        for (ticket, key) in pending.seen_timers {
            group.seen_timers.entry(ticket).or_default().push(key);
        }
        Ok(())
    }

    /// Finds or creates the customer of a request (by id, email, external id, then phone
    /// number in E.164), filling in details the record lacks. A merged record found stands for
    /// the one it was merged into. Returns the customer, the lookup keys to (re)write, whether it
    /// was created, and the fields changed. Changing an existing customer needs the engine's
    /// leave ([`crate::engine::customer::may_change`]): refused on an update; on a ticket's
    /// opening (`update` false), the details are just not filled in.
    fn find_or_create_customer(
        &self,
        group: &Group,
        input: &CustomerInput,
        update: bool,
        actor: &Actor,
    ) -> Result<FoundCustomer, WriteError> {
        let now = self.clock.now();
        let mut problems = validate_customer(input);
        let phone = match input.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(phone) => match crate::engine::phone::normalise(phone, self.phone_region) {
                Ok(e164) => Some(e164),
                Err(message) => {
                    problems.push(FieldProblem::new("phone", message));
                    None
                }
            },
            None => None,
        };
        if !problems.is_empty() {
            for problem in &mut problems {
                problem.field = format!("customer.{}", problem.field);
            }
            return Err(EngineError::Invalid(problems).into());
        }
        let email = input.email.as_deref().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty());
        let external = input.external_id.as_deref().map(str::trim).filter(|e| !e.is_empty());
        let existing = if let Some(id) = &input.id {
            let id: CustomerId = id
                .parse()
                .map_err(|_| EngineError::Invalid(vec![FieldProblem::new("customer.id", "is not a customer id")]))?;
            Some(
                self.surviving_customer(group, id)?
                    .ok_or_else(|| EngineError::NotFound(format!("customer {id} not found")))?,
            )
        } else {
            let mut found = None;
            let lookups = [
                email.as_deref().map(keys::customer_email),
                external.map(keys::customer_external),
                phone.as_deref().map(keys::customer_phone),
            ];
            for key in lookups.iter().flatten() {
                if let Some(id) = self.customer_by_key(group, key)? {
                    found = Some(id);
                    break;
                }
            }
            match found {
                Some(id) => self.surviving_customer(group, id)?,
                None => None,
            }
        };
        let created = existing.is_none();
        // An update of an existing customer (even one changing nothing: it answers with the
        // record) is only for those who may change it.
        if update && let Some(existing) = &existing {
            self.may_change_customer(group, actor, existing)??;
        }
        let mut customer = existing.unwrap_or_else(|| Customer {
            id: CustomerId(Ulid::from_datetime(now.into())),
            name: String::new(),
            email: None,
            phone: None,
            external_id: None,
            vip: false,
            language: None,
            created_at: now,
            updated_at: now,
            satisfaction: Satisfaction::default(),
            merged_into: None,
        });
        let before = customer.clone();
        let set = |field: &mut Option<String>, value: Option<&str>| {
            if let Some(value) = value.map(str::trim).filter(|v| !v.is_empty())
                && (update || field.is_none())
            {
                *field = Some(value.to_string());
            }
        };
        if let Some(name) = input.name.as_deref().map(str::trim).filter(|n| !n.is_empty())
            && (update || customer.name.is_empty())
        {
            customer.name = name.to_string();
        }
        set(&mut customer.email, email.as_deref());
        set(&mut customer.phone, phone.as_deref());
        set(&mut customer.external_id, external);
        if let Some(vip) = input.vip
            && (update || created)
        {
            customer.vip = vip;
        }
        if let Some(language) = input.language
            && (update || customer.language.is_none())
        {
            customer.language = Some(language);
        }
        if customer.name.is_empty() {
            customer.name =
                customer.email.as_deref().and_then(|e| e.split('@').next()).unwrap_or("customer").to_string();
        }
        // A ticket's opening fills in details only for those who may change the customer.
        if !update && !created && customer != before && self.may_change_customer(group, actor, &before)?.is_err() {
            customer = before.clone();
        }
        // A phone number is one customer's. A ticket for someone else calling from it still
        // opens, without filling it in; an update that would take it from its customer is refused.
        if customer.phone != before.phone
            && let Some(phone) = &customer.phone
            && let Some(other) = self.customer_by_key(group, &keys::customer_phone(phone))?
            && other != customer.id
        {
            if update {
                return Err(EngineError::Invalid(vec![FieldProblem::new(
                    "customer.phone",
                    "another customer has this phone number",
                )])
                .into());
            }
            customer.phone.clone_from(&before.phone);
        }
        let mut lookup = Vec::new();
        if created || customer != before {
            customer.updated_at = now;
            if let Some(email) = &customer.email {
                let key = keys::customer_email(email);
                if let Some(other) = self.customer_by_key(group, &key)?
                    && other != customer.id
                {
                    return Err(EngineError::Invalid(vec![FieldProblem::new(
                        "customer.email",
                        "another customer has this email address",
                    )])
                    .into());
                }
                lookup.push(key);
            }
            if let Some(external) = &customer.external_id {
                let key = keys::customer_external(external);
                if let Some(other) = self.customer_by_key(group, &key)?
                    && other != customer.id
                {
                    return Err(EngineError::Invalid(vec![FieldProblem::new(
                        "customer.external_id",
                        "another customer has this external id",
                    )])
                    .into());
                }
                lookup.push(key);
            }
            if let Some(phone) = customer.phone.as_deref().and_then(|p| self.e164(p)) {
                let key = keys::customer_phone(&phone);
                if self.customer_by_key(group, &key)?.is_none_or(|other| other == customer.id) {
                    lookup.push(key);
                }
            }
        }
        let changed = created || customer != before;
        let changes = crate::engine::customer::changes((!created).then_some(&before), &customer);
        Ok(FoundCustomer { customer, keys: if changed { lookup } else { Vec::new() }, created, changes })
    }

    /// A stored phone number in E.164 (numbers saved before normalisation may be otherwise).
    fn e164(&self, phone: &str) -> Option<String> {
        crate::engine::phone::normalise(phone, self.phone_region).ok()
    }

    /// The customer `id` names, or the one it was merged into (and so on).
    fn surviving_customer(&self, group: &Group, id: CustomerId) -> Result<Option<Customer>, WriteError> {
        let mut customer = self.load_customer(group, id)?;
        // A merge refuses a survivor that was itself merged, so chains are short; the bound
        // only guards against a damaged record pointing in a circle.
        for _ in 0..16 {
            match customer.as_ref().and_then(|c| c.merged_into) {
                Some(next) => customer = self.load_customer(group, next)?,
                None => break,
            }
        }
        Ok(customer)
    }

    /// Merges one customer into another: the engine decides the records
    /// ([`crate::engine::customer::merge`]); each of the merged record's tickets gets a
    /// [`Change::CustomerChanged`] event (so the customer index and history follow the events);
    /// the merged record's lookup keys now find the survivor; both trails get an entry.
    fn merge_customers(&mut self, group: &mut Group, request: &MergeRequest) -> Result<MergedCustomers, WriteError> {
        let now = self.clock.now();
        let load = |field: &str, text: &str| -> Result<Customer, WriteError> {
            let not_found = || EngineError::NotFound(format!("customer {text} not found"));
            let id: CustomerId = text.trim().parse().map_err(|_| {
                if field == "into" {
                    WriteError::from(EngineError::Invalid(vec![FieldProblem::new("into", "is not a customer id")]))
                } else {
                    not_found().into()
                }
            })?;
            match self.load_customer(group, id)? {
                Some(customer) => Ok(customer),
                None if field == "into" => {
                    Err(EngineError::Invalid(vec![FieldProblem::new("into", format!("customer {id} not found"))])
                        .into())
                }
                None => Err(not_found().into()),
            }
        };
        let merged = load("id", &request.merged)?;
        let survivor = load("into", &request.into)?;
        let merge = crate::engine::customer::merge(&request.actor, &merged, &survivor, now)?;
        let mut ids = self.store.customer_tickets(merged.id)?;
        let in_group = group.tickets.iter().filter(|(_, write)| write.after.customer == merged.id);
        let in_group: Vec<TicketId> = in_group.map(|(id, _)| *id).filter(|id| !ids.contains(id)).collect();
        ids.extend(in_group);
        let mut pending = Pending::default();
        let mut moved = Vec::new();
        for id in ids {
            let Some(mut ticket) = self.load(group, id)? else { continue };
            if ticket.customer != merged.id {
                continue;
            }
            let change = Change::CustomerChanged { from: merged.id, to: survivor.id };
            let events = stamp(ticket.id, ticket.revision, &request.actor, now, vec![change]);
            for event in &events {
                ticket.apply(event);
            }
            pending.events.extend(events);
            pending.tickets.push(ticket);
            moved.push(id);
        }
        // Every key that found either record finds the survivor now.
        let mut lookup = Vec::new();
        for customer in [&merged, &merge.survivor] {
            lookup.extend(customer.email.as_deref().map(keys::customer_email));
            lookup.extend(customer.external_id.as_deref().map(keys::customer_external));
            lookup.extend(customer.phone.as_deref().and_then(|p| self.e164(p)).map(|p| keys::customer_phone(&p)));
        }
        let survivor_event = CustomerEvent {
            id: keys::next_ulid(&mut self.ids, now),
            customer: survivor.id,
            at: now,
            actor: request.actor.clone(),
            kind: CustomerEventKind::Merged,
            changes: merge.changes.clone(),
            ticket: None,
            other: Some(merged.id),
        };
        let merged_event = CustomerEvent {
            id: keys::next_ulid(&mut self.ids, now),
            customer: merged.id,
            at: now,
            actor: request.actor.clone(),
            kind: CustomerEventKind::Merged,
            changes: vec![FieldChange {
                field: "merged_into".into(),
                old: serde_json::Value::Null,
                new: serde_json::json!(survivor.id),
            }],
            ticket: None,
            other: Some(survivor.id),
        };
        pending.customer = Some((merge.survivor.clone(), lookup));
        pending.customer_events = vec![survivor_event, merged_event];
        self.apply(group, pending)?;
        // A second record of the same request: applying a customer alone cannot fail.
        let gone = Pending { customer: Some((merge.merged.clone(), Vec::new())), ..Pending::default() };
        self.apply(group, gone)?;
        Ok(MergedCustomers { merged: merge.merged, survivor: merge.survivor, moved })
    }

    /// Whether `actor` may change `customer`, asked of the engine with the customer's open
    /// tickets as the group sees them.
    fn may_change_customer(
        &self,
        group: &Group,
        actor: &Actor,
        customer: &Customer,
    ) -> Result<Result<(), EngineError>, WriteError> {
        let mut ids = self.store.customer_tickets(customer.id)?;
        let in_group = group.tickets.iter().filter(|(_, write)| write.after.customer == customer.id);
        ids.extend(in_group.map(|(id, _)| *id).filter(|id| !ids.contains(id)).collect::<Vec<_>>());
        let mut open = Vec::new();
        for id in ids {
            if let Some(ticket) = self.load(group, id)?
                && ticket.customer == customer.id
                && !ticket.status.is_finished()
                && let Some(workflow) = self.registry.version(&ticket.workflow, &ticket.version)?
            {
                open.push((ticket, workflow));
            }
        }
        let open: Vec<_> = open.iter().map(|(ticket, workflow)| (ticket, &workflow.definition)).collect();
        Ok(crate::engine::customer::may_change(actor, customer, &open))
    }

    /// The entry of the customer's audit trail for `changes` (none if nothing changed).
    fn customer_event(
        &mut self,
        customer: &Customer,
        actor: &Actor,
        kind: CustomerEventKind,
        changes: Vec<FieldChange>,
        ticket: Option<TicketId>,
    ) -> Option<CustomerEvent> {
        if changes.is_empty() {
            return None;
        }
        let at = self.clock.now();
        let id = keys::next_ulid(&mut self.ids, at);
        Some(CustomerEvent { id, customer: customer.id, at, actor: actor.clone(), kind, changes, ticket, other: None })
    }

    fn customer(
        &mut self,
        group: &mut Group,
        input: &CustomerInput,
        actor: &Actor,
    ) -> Result<(Customer, bool), WriteError> {
        let FoundCustomer { customer, keys, created, changes } =
            self.find_or_create_customer(group, input, true, actor)?;
        let kind = if created { CustomerEventKind::Created } else { CustomerEventKind::Updated };
        let event = self.customer_event(&customer, actor, kind, changes, None);
        let pending = Pending {
            customer: Some((customer.clone(), keys)),
            customer_events: event.into_iter().collect(),
            ..Pending::default()
        };
        self.apply(group, pending)?;
        Ok((customer, created))
    }

    fn open(&mut self, group: &mut Group, request: &OpenRequest) -> Result<Outcome, WriteError> {
        let now = self.clock.now();
        let idempotency = match &request.idempotency_key {
            Some(key) => {
                let digest = Sha256::digest(serde_json::to_vec(&request.ticket).unwrap_or_default()).to_vec();
                let store_key = keys::idempotency(&request.actor.id, key);
                let earlier = match group.idempotency.get(&store_key) {
                    Some(found) => Some(found.clone()),
                    None => self.store.idempotent(&store_key)?,
                };
                if let Some((id, earlier_digest)) = earlier {
                    if earlier_digest != digest {
                        return Err(EngineError::Invalid(vec![FieldProblem::new(
                            "Idempotency-Key",
                            "this key was already used for a different request",
                        )])
                        .into());
                    }
                    let ticket =
                        self.load(group, id)?.ok_or_else(|| EngineError::NotFound(format!("ticket {id} not found")))?;
                    return Ok(Outcome { ticket, events: Vec::new(), replayed: true });
                }
                Some((store_key, digest))
            }
            None => None,
        };
        let workflow = self.registry.current(&request.ticket.workflow).ok_or_else(|| {
            let known: Vec<String> = self.registry.all_current().iter().map(|w| w.id().to_string()).collect();
            EngineError::Invalid(vec![FieldProblem::new(
                "workflow",
                format!("unknown workflow \"{}\"; workflows: {}", request.ticket.workflow, known.join(", ")),
            )])
        })?;
        let FoundCustomer { customer, keys: customer_keys, created, changes } =
            self.find_or_create_customer(group, &request.ticket.customer, false, &request.actor)?;
        let history = self.history(group, customer.id, None, now - repeat_window(&workflow))?;
        let mut pending = Pending::default();
        let sequence = self.next_sequence(group, &pending, workflow.id())?;
        let number = format!("{}-{sequence}", ticket_prefix(&workflow));
        let id = TicketId(keys::next_ulid(&mut self.ids, now));
        let kind = if created { CustomerEventKind::Created } else { CustomerEventKind::FilledIn };
        pending.customer_events.extend(self.customer_event(&customer, &request.actor, kind, changes, Some(id)));
        let team = self.team.team(&self.store, &workflow, now)?;
        let ctx = Context {
            workflow: &workflow,
            customer: Some(&customer),
            history: &history,
            other: None,
            now,
            team: Some(&team),
        };
        let mut events = crate::engine::open(&ctx, id, number.clone(), customer.id, &request.ticket, &request.actor)?;
        let mut ticket = Ticket::replay(&events)
            .ok_or_else(|| EngineError::Invalid(vec![FieldProblem::new("ticket", "empty log")]))?;
        let actions = hooks::run(&ctx, &ticket, &events)?;
        pending.numbers.push((number, id, workflow.id().to_string(), sequence));
        pending.idempotency = idempotency.map(|(key, digest)| (key, id, digest));
        self.opened(group, &mut pending, &workflow, &ticket, &events)?;
        events.extend(self.carry_out(group, &mut pending, &mut ticket, actions, Some(&customer))?);
        pending.tickets.insert(0, ticket.clone());
        pending.events.splice(0..0, events.iter().cloned());
        pending.customer = Some((customer, customer_keys));
        self.apply(group, pending)?;
        Ok(Outcome { ticket, events, replayed: false })
    }

    /// The next ticket number of a workflow, counting numbers given out in this group and
    /// request.
    fn next_sequence(&self, group: &Group, pending: &Pending, workflow: &str) -> Result<u64, WriteError> {
        let in_request = pending.numbers.iter().filter(|n| n.2 == workflow).map(|n| n.3).max();
        let last = match in_request.or_else(|| group.sequences.get(workflow).copied()) {
            Some(last) => last,
            None => match self.sequences.get(workflow) {
                Some(last) => *last,
                None => self.store.sequence(workflow)?,
            },
        };
        Ok(last + 1)
    }

    /// What follows the opening of `ticket` besides its own events: the earlier ticket of a
    /// repeat request is linked back, and a turn taken by round robin moves on.
    fn opened(
        &mut self,
        group: &Group,
        pending: &mut Pending,
        workflow: &crate::workflow::Workflow,
        ticket: &Ticket,
        events: &[Event],
    ) -> Result<(), WriteError> {
        let now = self.clock.now();
        for event in events {
            match &event.change {
                Change::Linked { other, relation: relation @ (Relation::RepeatOf | Relation::FollowUpOf) } => {
                    if let Some(mut earlier) = self.load(group, *other)? {
                        let by = if *relation == Relation::RepeatOf { "repeat-detection" } else { "inbound-mail" };
                        let back = stamp(
                            earlier.id,
                            earlier.revision,
                            &Actor::system(by),
                            now,
                            vec![Change::Linked { other: ticket.id, relation: relation.inverse() }],
                        );
                        for event in &back {
                            earlier.apply(event);
                        }
                        pending.events.extend(back);
                        pending.tickets.push(earlier);
                    }
                }
                Change::Assigned { assignee: Some(person), .. } => {
                    if let Some(role) = &ticket.role
                        && let Some(next) = assign::turn_after(&workflow.definition, role, person, &event.actor.id)
                    {
                        pending.turns.push((workflow.id().to_string(), role.clone(), next));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Carries out what hooks asked for: stamps their changes on `ticket` (returning those
    /// events) and opens the linked tickets in other workflows, in `pending`.
    fn carry_out(
        &mut self,
        group: &Group,
        pending: &mut Pending,
        ticket: &mut Ticket,
        actions: hooks::Outcome,
        customer: Option<&Customer>,
    ) -> Result<Vec<Event>, WriteError> {
        let now = self.clock.now();
        let actor = Actor::system(hooks::ACTOR);
        let mut events = stamp(ticket.id, ticket.revision, &actor, now, actions.changes);
        for event in &events {
            ticket.apply(event);
        }
        for (script, request) in actions.open {
            let failed = |message: String| WriteError::from(EngineError::Script { script: script.clone(), message });
            let customer = customer.ok_or_else(|| failed("open_ticket: the ticket's customer is missing".into()))?;
            let workflow = self.registry.current(&request.workflow).ok_or_else(|| {
                failed(format!("open_ticket: there is no workflow \"{}\" to open a ticket in", request.workflow))
            })?;
            let history = self.history(group, customer.id, None, now - repeat_window(&workflow))?;
            let sequence = self.next_sequence(group, pending, workflow.id())?;
            let number = format!("{}-{sequence}", ticket_prefix(&workflow));
            let id = TicketId(keys::next_ulid(&mut self.ids, now));
            let team = self.team.team(&self.store, &workflow, now)?;
            let ctx = Context {
                workflow: &workflow,
                customer: Some(customer),
                history: &history,
                other: None,
                now,
                team: Some(&team),
            };
            let mut opened = crate::engine::open(&ctx, id, number.clone(), customer.id, &request, &actor)
                .map_err(|error| failed(format!("open_ticket in workflow `{}`: {error}", request.workflow)))?;
            let link = Change::Linked { other: ticket.id, relation: Relation::SpawnedFrom };
            opened.extend(stamp(id, opened.len() as u64, &actor, now, vec![link]));
            let spawned = Ticket::replay(&opened)
                .ok_or_else(|| EngineError::Invalid(vec![FieldProblem::new("ticket", "empty log")]))?;
            let back = stamp(
                ticket.id,
                ticket.revision,
                &actor,
                now,
                vec![Change::Linked { other: id, relation: Relation::Spawned }],
            );
            for event in &back {
                ticket.apply(event);
            }
            events.extend(back);
            pending.numbers.push((number, id, workflow.id().to_string(), sequence));
            self.opened(group, pending, &workflow, &spawned, &opened)?;
            pending.tickets.push(spawned);
            pending.events.extend(opened);
        }
        Ok(events)
    }

    /// Sets a person's availability.
    fn availability(&mut self, group: &mut Group, request: &AvailabilityRequest) -> Result<Availability, WriteError> {
        let now = self.clock.now();
        let person = request.person.trim().to_lowercase();
        let known = self.registry.all_current().iter().any(|workflow| {
            workflow.definition.roles.values().flatten().any(|member| member.get_ref().eq_ignore_ascii_case(&person))
        });
        if !known {
            return Err(EngineError::NotFound(format!("{person} is not a member of any role")).into());
        }
        let mut problems = Vec::new();
        if let Some(until) = request.until {
            if request.available {
                problems.push(FieldProblem::new("until", "only an unavailable person is away until a time"));
            } else if until <= now {
                problems.push(FieldProblem::new("until", "must be in the future"));
            }
        }
        if request.reason.as_deref().is_some_and(|r| r.chars().count() > 500) {
            problems.push(FieldProblem::new("reason", "must be at most 500 characters"));
        }
        if !problems.is_empty() {
            return Err(EngineError::Invalid(problems).into());
        }
        let record = Availability {
            available: request.available,
            until: request.until,
            reason: request.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string),
            updated_at: now,
            updated_by: request.by.clone(),
        };
        self.apply(group, Pending { people: vec![(person, record.clone())], ..Pending::default() })?;
        Ok(record)
    }

    fn command(&mut self, group: &mut Group, request: &CommandRequest) -> Result<Outcome, WriteError> {
        let now = self.clock.now();
        let id = self.resolve(group, &request.ticket)?;
        let mut ticket = self
            .load(group, id)?
            .ok_or_else(|| EngineError::NotFound(format!("ticket {} not found", request.ticket)))?;
        if let Some(expected) = request.expected_revision
            && expected != ticket.revision
        {
            return Err(EngineError::Conflict { expected, actual: ticket.revision }.into());
        }
        let workflow = self.registry.version(&ticket.workflow, &ticket.version)?.ok_or_else(|| {
            WriteError::Workflow(format!("version {} of workflow {} is not stored", ticket.version, ticket.workflow))
        })?;
        let customer = self.load_customer(group, ticket.customer)?;
        // Scripts are the only readers of the history; spare the lookups when there are none.
        let history = if workflow.scripts.is_empty() {
            History::default()
        } else {
            self.history(group, ticket.customer, Some(id), now - repeat_window(&workflow))?
        };
        let other_id = match &request.command {
            Command::Link { other, .. } => Some(*other),
            Command::Merge { into } => Some(*into),
            _ => None,
        };
        let other = match other_id {
            Some(other) => self.load(group, other)?,
            None => None,
        };
        // A timer may escalate and reassign: that picks by the team's load and availability.
        let team = match &request.command {
            Command::Fire { .. } => Some(self.team.team(&self.store, &workflow, now)?),
            _ => None,
        };
        let ctx = Context {
            workflow: &workflow,
            customer: customer.as_ref(),
            history: &history,
            other: other.as_ref(),
            now,
            team: team.as_ref(),
        };
        let changes = crate::engine::decide(&ctx, &ticket, &request.command, &request.actor)?;
        let mut events = stamp(ticket.id, ticket.revision, &request.actor, now, changes);
        for event in &events {
            ticket.apply(event);
        }
        let actions = hooks::run(&ctx, &ticket, &events)?;
        let mut pending = Pending { tickets: vec![ticket.clone()], events: events.clone(), ..Pending::default() };
        if let Command::Fire { seen } = &request.command {
            pending.seen_timers = seen.iter().map(|timer| (id, timer.clone())).collect();
        }
        // A survey answer is also part of the customer's record.
        for event in &events {
            if let Change::SurveyAnswered { answer } = &event.change
                && let Some(mut customer) = customer.clone()
            {
                customer.satisfaction.add(answer, ticket.id, event.at);
                customer.updated_at = now;
                pending.customer = Some((customer, Vec::new()));
            }
        }
        // Links and merges are recorded on both tickets.
        if let Some(mut other) = other {
            let back: Vec<Change> = events
                .iter()
                .filter_map(|event| match &event.change {
                    Change::Linked { relation, .. } => Some(Change::Linked { other: id, relation: relation.inverse() }),
                    Change::Merged { .. } => Some(Change::Linked { other: id, relation: Relation::Duplicate }),
                    _ => None,
                })
                .filter(|change| match change {
                    Change::Linked { other: linked, relation } => {
                        !other.links.iter().any(|l| l.ticket == *linked && l.relation == *relation)
                    }
                    _ => true,
                })
                .collect();
            if !back.is_empty() {
                let back = stamp(other.id, other.revision, &request.actor, now, back);
                for event in &back {
                    other.apply(event);
                }
                pending.events.extend(back);
                pending.tickets.push(other);
            }
        }
        let by_hooks = self.carry_out(group, &mut pending, &mut ticket, actions, customer.as_ref())?;
        if !by_hooks.is_empty() {
            pending.events.extend(by_hooks.iter().cloned());
            events.extend(by_hooks);
            pending.tickets[0] = ticket.clone();
        }
        self.apply(group, pending)?;
        Ok(Outcome { ticket, events, replayed: false })
    }
}

/// Runs one request, turning a panic into an error for that request alone.
fn guarded<T>(request: impl FnOnce() -> Result<T, WriteError>) -> Result<T, WriteError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(request)).unwrap_or_else(|_| {
        tracing::error!("a request panicked in the writer; it was refused, the others go on");
        Err(WriteError::Internal("the request could not be processed; the error was logged".into()))
    })
}

/// How far back a customer's history matters: the workflow's repeat window.
fn repeat_window(workflow: &crate::workflow::Workflow) -> chrono::Duration {
    chrono::Duration::from_std(workflow.definition.repeat_window.get()).unwrap_or(chrono::Duration::days(365))
}

/// Problems with customer details (field names without the `customer.` prefix).
fn validate_customer(input: &CustomerInput) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    if input.id.is_none() && !given(&input.email) && !given(&input.external_id) && !given(&input.phone) {
        problems.push(FieldProblem::new("email", "give the customer's email (or id, external_id or phone)"));
    }
    if let Some(email) = input.email.as_deref().map(str::trim).filter(|e| !e.is_empty())
        && !forms::is_email(email)
    {
        problems.push(FieldProblem::new("email", format!("\"{email}\" is not an email address")));
    }
    // The phone number is checked (and normalised) where the region is known: the writer.
    if input.name.as_deref().is_some_and(|n| n.chars().count() > 200) {
        problems.push(FieldProblem::new("name", "must be at most 200 characters"));
    }
    problems
}
