//! `afterdesk simulate WORKFLOW SCENARIO`: runs a scenario (timed actions) through the server's
//! own writer, engine and scheduler on a manual clock, with a temporary database and no mail
//! server, and prints the timeline: every event of every ticket touched (hooks, assignment and
//! tickets opened elsewhere included), SLA warnings, breaches and escalations, and each email
//! that would be sent with the subject the workflow's own templates give it. A consultant tests
//! a workflow before going live; what simulate prints is what the server would do, because it
//! is the server's code path: the same writer decides and commits every command, the same
//! scheduler fires the timers, the same delivery code renders the subjects.
//!
//! The workflow file is loaded with the other workflows of its folder, as `serve --workflows`
//! would load them, so hooks that open tickets in another workflow work.
//!
//! A scenario file:
//!
//! ```toml
//! start = "2026-11-23T09:00:00+03:30"      # when the scenario begins
//! [[step]]
//! at = "0m"                                # time since the start
//! action = "open"
//! subject = "Dishwasher leaks"
//! category = "repair"
//! customer = { name = "Neda", email = "neda@example.com" }
//! [[step]]
//! at = "3h"
//! as = "maryam@example.com"                # who acts (an agent of the workflow)
//! action = "reply"
//! body = "We are on it"
//! ```
//!
//! Actions: `open`, `save_form` (`form`, `values`), `tick` (`item`), `reply` / `note` (`body`),
//! `step` (`description`), `assign` (`assignee`), `priority` (`priority`), `request_approval`,
//! `approve`, `reject` (`body`: why), `transition` (`name`), `resolve`, `close`, `reopen`, and
//! `wait` (only lets time pass). Steps act on the ticket the last `open` made, or on
//! `ticket = "AS-2"`. Without `as`,
//! an `open` comes from the web form (an integration) and any other step is done by the
//! ticket's assignee, else the first member of the stage's responsible role: never by an
//! administrator, so RACI holds as on the server. Timers due before a step fire first, each at
//! its due time.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::engine::customer::CustomerInput;
use crate::engine::notices::{self, human};
use crate::engine::sla;
use crate::engine::{Actor, Change, Command, Event, OpenTicket, Ticket, TicketId};
use crate::notify::worker::Delivery;
use crate::registry::Registry;
use crate::scheduler::Scheduler;
use crate::store::outbox::{OutboxMessage, Payload};
use crate::store::{ListFilter, Store};
use crate::workflow::Workflow;
use crate::workflow::values::Duration as Human;
use crate::writer::{CommandRequest, OpenRequest, Writer};

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// When the scenario begins (RFC 3339 with an offset).
    pub start: DateTime<chrono::FixedOffset>,
    /// How long to keep running after the last step, so late timers show (default 0).
    #[serde(default)]
    pub run_on: Option<Human>,
    /// The steps.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// One timed action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Time since the start.
    pub at: Human,
    /// Who acts (default: the system for `open`, else the stage's first responsible member).
    #[serde(default, rename = "as")]
    pub actor: Option<String>,
    /// What is done.
    pub action: String,
    /// `open`: subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// `open`: category.
    #[serde(default)]
    pub category: Option<String>,
    /// `open`, `priority`: priority.
    #[serde(default)]
    pub priority: Option<String>,
    /// `open`: channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// `open`: the customer.
    #[serde(default)]
    pub customer: Option<CustomerInput>,
    /// `save_form`: the form.
    #[serde(default)]
    pub form: Option<String>,
    /// `save_form`: values.
    #[serde(default)]
    pub values: BTreeMap<String, serde_json::Value>,
    /// `tick`: the checklist item.
    #[serde(default)]
    pub item: Option<String>,
    /// `reply`, `note`: text.
    #[serde(default)]
    pub body: Option<String>,
    /// `step`: what was done.
    #[serde(default)]
    pub description: Option<String>,
    /// `assign`: the person.
    #[serde(default)]
    pub assignee: Option<String>,
    /// `transition`: its name.
    #[serde(default)]
    pub name: Option<String>,
    /// The ticket the step acts on (default: the last one opened).
    #[serde(default)]
    pub ticket: Option<String>,
}

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The scenario file cannot be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The workflows cannot be loaded, or the simulated server cannot start.
    #[error("{0}")]
    Setup(String),
    /// A step is wrong.
    #[error("step {step} ({action}): {reason}")]
    Step {
        /// 1-based step number.
        step: usize,
        /// Its action.
        action: String,
        /// Why.
        reason: String,
    },
}

/// Reads a scenario file.
pub fn read_scenario(path: &Path) -> Result<Scenario, SimulateError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SimulateError::Read { path: path.display().to_string(), reason: e.to_string() })?;
    toml::from_str(&text).map_err(|e| SimulateError::Read { path: path.display().to_string(), reason: e.to_string() })
}

/// What a scenario did: the printed timeline, and the events and messages behind it.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The timeline, as `afterdesk simulate` prints it.
    pub timeline: String,
    /// Every event of every ticket, in the order they happened.
    pub events: Vec<Event>,
    /// Every message queued, with its rendered subject (or why it cannot be rendered).
    pub messages: Vec<(OutboxMessage, String)>,
}

/// Runs `scenario` on the workflow of `workflow_file`; returns the printed timeline.
pub fn simulate(workflow: &Workflow, scenario: &Scenario) -> Result<String, SimulateError> {
    run(workflow, scenario).map(|simulation| simulation.timeline)
}

/// Runs `scenario` on `workflow` (loaded with the other workflows of its folder) through the
/// server's writer and scheduler on a manual clock and a temporary database.
pub fn run(workflow: &Workflow, scenario: &Scenario) -> Result<Simulation, SimulateError> {
    let setup = |what: &str, error: &dyn std::fmt::Display| SimulateError::Setup(format!("{what}: {error}"));
    let store = Store::open_temporary().map_err(|e| setup("cannot open a temporary database", &e))?;
    let folder = workflow.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let registry = match Registry::load(store.clone(), folder) {
        Ok(registry) => Arc::new(registry),
        // The folder has other, broken files: run this workflow alone.
        Err(_) => Arc::new(Registry::load(store.clone(), &workflow.path).map_err(|e| setup("cannot load", &e))?),
    };
    let workflow = registry
        .current(workflow.id())
        .ok_or_else(|| SimulateError::Setup(format!("workflow {} is not loaded", workflow.id())))?;
    let start = scenario.start.to_utc();
    let clock = ManualClock::new(start);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| setup("cannot start the runtime", &e))?;
    let (writer, thread) = Writer::start(registry.clone(), Arc::new(clock.clone()));
    // The webhook client's TLS, as the server sets it up (nothing is sent).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = Config::default();
    config.mail.disabled = true;
    let delivery =
        Delivery::new(&config, registry.clone(), Arc::new(clock.clone()), writer.outbox_signal(), PUBLIC_URL)
            .map_err(|e| setup("cannot prepare mail", &e))?;
    let scheduler = Scheduler::new(store.clone(), writer.clone(), Arc::new(clock.clone()));
    let tz = workflow.definition.timezone();
    let mut run = Run {
        workflow: &workflow,
        registry: registry.clone(),
        tz,
        clock,
        store,
        writer,
        scheduler,
        delivery,
        current: None,
        printed: BTreeMap::new(),
        messages_seen: HashSet::new(),
        out: String::new(),
        events: Vec::new(),
        messages: Vec::new(),
    };
    let _ = writeln!(run.out, "Simulating {} (version {}), times in {}", workflow.id(), workflow.version, tz.name());
    let result = runtime.block_on(async {
        for (index, step) in scenario.steps.iter().enumerate() {
            let at = start + chrono::Duration::from_std(step.at.get()).unwrap_or_default();
            run.fire_until(at).await;
            run.clock.set(run.clock.now().max(at));
            run.step(index + 1, step).await?;
            run.show();
        }
        let run_on = scenario
            .run_on
            .map_or(chrono::Duration::zero(), |d| chrono::Duration::from_std(d.get()).unwrap_or_default());
        run.fire_until(run.clock.now() + run_on).await;
        Ok::<(), SimulateError>(())
    });
    run.summary();
    let Run { out, events, messages, writer, scheduler, .. } = run;
    drop(scheduler);
    drop(writer);
    if thread.join().is_err() {
        return Err(SimulateError::Setup("the writer stopped unexpectedly".into()));
    }
    result?;
    Ok(Simulation { timeline: out, events, messages })
}

/// Links in simulated mail point here (nothing is served).
const PUBLIC_URL: &str = "http://afterdesk.invalid";

struct Run<'a> {
    workflow: &'a Workflow,
    registry: Arc<Registry>,
    tz: Tz,
    clock: ManualClock,
    store: Store,
    writer: Writer,
    scheduler: Scheduler,
    delivery: Delivery,
    /// The ticket steps act on: the last one opened.
    current: Option<String>,
    /// Last revision printed, per ticket.
    printed: BTreeMap<TicketId, u64>,
    messages_seen: HashSet<ulid::Ulid>,
    out: String,
    events: Vec<Event>,
    messages: Vec<(OutboxMessage, String)>,
}

impl Run<'_> {
    fn time(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.tz).format("%a %Y-%m-%d %H:%M").to_string()
    }

    /// Fires every timer due up to `until`, in due order, each at its own due time, as the
    /// server's scheduler does.
    async fn fire_until(&mut self, until: DateTime<Utc>) {
        for _ in 0..100_000 {
            let Ok(Some(next)) = self.store.next_timer() else { break };
            if next > until {
                break;
            }
            self.clock.set(self.clock.now().max(next));
            let fired = self.scheduler.tick().await;
            self.show();
            if fired.fired + fired.stale == 0 {
                break;
            }
        }
        self.clock.set(self.clock.now().max(until));
    }

    /// Every ticket, oldest first.
    fn tickets(&self) -> Vec<Ticket> {
        let mut tickets = Vec::new();
        let mut after = None;
        loop {
            let Ok(page) = self.store.list(&ListFilter::default(), after, 500) else { break };
            after = page.tickets.last().map(|t| t.id);
            let more = page.tickets.len() == 500;
            tickets.extend(page.tickets);
            if !more {
                break;
            }
        }
        tickets
    }

    /// Prints what happened since the last call: new events of every ticket, in order, each
    /// with the messages it queued.
    fn show(&mut self) {
        let tickets: BTreeMap<TicketId, Ticket> = self.tickets().into_iter().map(|t| (t.id, t)).collect();
        let mut fresh = Vec::new();
        for ticket in tickets.values() {
            let seen = self.printed.get(&ticket.id).copied().unwrap_or(0);
            if ticket.revision > seen {
                fresh
                    .extend(self.store.events(ticket.id).unwrap_or_default().into_iter().filter(|e| e.revision > seen));
                self.printed.insert(ticket.id, ticket.revision);
            }
        }
        fresh.sort_by_key(|e| (e.at, e.ticket, e.revision));
        for event in fresh {
            if let Some(ticket) = tickets.get(&event.ticket) {
                self.print(ticket, &event);
            }
            self.events.push(event);
        }
    }

    /// The messages `event` queued, with their rendered subjects.
    fn messages_of(&mut self, event: &Event) -> Vec<(OutboxMessage, String)> {
        let mut out = Vec::new();
        for message in self.store.outbox_of(event.ticket).unwrap_or_default() {
            if message.revision != event.revision || !self.messages_seen.insert(message.id) {
                continue;
            }
            let subject = match &message.payload {
                Payload::Email(email) => match self.delivery.render(&message, email) {
                    Ok(rendered) => rendered.subject,
                    Err(error) => format!("(cannot be rendered: {error})"),
                },
                Payload::Webhook(call) => call.url.clone(),
            };
            out.push((message, subject));
        }
        out.sort_by_key(|(message, _)| message.id);
        out
    }

    /// The workflow version a ticket runs on.
    fn workflow_of(&self, ticket: &Ticket) -> Arc<Workflow> {
        match self.registry.version(&ticket.workflow, &ticket.version) {
            Ok(Some(workflow)) => workflow,
            _ => Arc::new(self.workflow.clone()),
        }
    }

    /// Who does a step without `as`: the assignee, else the first responsible member.
    fn default_actor(&self, ticket: &str) -> Option<Actor> {
        let id = self.store.resolve(ticket).ok().flatten()?;
        let ticket = self.store.ticket(id).ok().flatten()?;
        if let Some(assignee) = &ticket.assignee {
            return Some(Actor::agent(assignee.clone()));
        }
        let workflow = self.workflow_of(&ticket);
        let definition = &workflow.definition;
        let stage = definition.stages.get(ticket.stage.as_str())?;
        let role = stage.raci.responsible.as_ref().or(stage.raci.accountable.as_ref())?;
        let member = definition.roles.get(role.get_ref().as_str())?.first()?;
        Some(Actor::agent(member.get_ref().clone()))
    }

    fn print(&mut self, ticket: &Ticket, event: &Event) {
        let workflow = self.workflow_of(ticket);
        let definition = &workflow.definition;
        let label = |clock: &str| notices::clock_label(definition, clock);
        let line = match &event.change {
            Change::Opened { subject, stage, priority, category, queue, .. } => format!(
                "opened by {}: \"{subject}\" ({}, {priority}) in stage {stage}{}",
                event.actor.id,
                category.as_deref().unwrap_or("no category"),
                queue.as_ref().map(|q| format!(", queue {q}")).unwrap_or_default()
            ),
            Change::SlaStarted { clock, target_secs } => {
                let due = ticket
                    .slas
                    .get(clock)
                    .zip(sla::definition(definition, clock))
                    .and_then(|(state, d)| sla::deadline(state, &sla::calendar(definition, d)));
                format!(
                    "SLA {} started: {} of business time, due {}",
                    label(clock),
                    human(chrono::Duration::seconds(*target_secs as i64)),
                    due.map_or("-".to_string(), |d| self.time(d))
                )
            }
            Change::SlaPaused { clock, used_secs } => {
                format!("SLA {} paused after {}", label(clock), human(chrono::Duration::seconds(*used_secs as i64)))
            }
            Change::SlaResumed { clock } => format!("SLA {} resumed", label(clock)),
            Change::SlaTargetChanged { clock, target_secs } => {
                format!("SLA {} now allows {}", label(clock), human(chrono::Duration::seconds(*target_secs as i64)))
            }
            Change::SlaWarned { clock, .. } => format!("SLA WARNING: {}", label(clock)),
            Change::SlaBreached { clock } => format!("SLA BREACHED: {}", label(clock)),
            Change::SlaEscalated { clock, level, .. } => format!("ESCALATION level {level}: {}", label(clock)),
            Change::SlaReminded { clock, count, .. } => format!("REMINDER {count}: {} still overdue", label(clock)),
            Change::SlaStopped { clock, business_secs, met } => format!(
                "SLA {} {} after {} of business time",
                label(clock),
                if *met { "met" } else { "stopped late" },
                human(chrono::Duration::seconds(*business_secs as i64))
            ),
            Change::Assigned { assignee: Some(person), .. } => format!("assigned to {person} by {}", event.actor.id),
            Change::Assigned { assignee: None, .. } => format!("unassigned by {}", event.actor.id),
            Change::StageChanged { from, to, transition } => {
                format!("{transition}: {from} -> {to} (by {})", event.actor.id)
            }
            other => format!("{} by {}", other.kind().replace('_', " "), event.actor.id),
        };
        let _ = writeln!(self.out, "{}  {}  {line}", self.time(event.at), ticket.number);
        for (message, subject) in self.messages_of(event) {
            let held = if message.not_before > event.at {
                format!(" (held until {})", self.time(message.not_before))
            } else {
                String::new()
            };
            let line = match &message.payload {
                Payload::Email(email) => {
                    format!("email {} to {}: \"{subject}\"{held}", email.template, email.to.join(", "))
                }
                Payload::Webhook(call) => format!("webhook {} POST {subject}{held}", call.webhook),
            };
            let _ = writeln!(self.out, "{:>20}  {line}", "");
            self.messages.push((message, subject));
        }
    }

    async fn step(&mut self, number: usize, step: &Step) -> Result<(), SimulateError> {
        let fail = |reason: String| SimulateError::Step { step: number, action: step.action.clone(), reason };
        let need = |value: &Option<String>, what: &str| value.clone().ok_or_else(|| fail(format!("needs `{what}`")));
        if step.action == "open" {
            return self.open(step).await.map_err(fail);
        }
        let command = match step.action.as_str() {
            "wait" => return Ok(()),
            "save_form" => Command::SaveForm { form: need(&step.form, "form")?, values: step.values.clone() },
            "tick" => Command::Tick { item: need(&step.item, "item")?, checked: true },
            "reply" => Command::Comment { body: need(&step.body, "body")?, public: true },
            "note" => Command::Comment { body: need(&step.body, "body")?, public: false },
            "step" => Command::RecordStep { description: need(&step.description, "description")? },
            "assign" => Command::Assign { assignee: step.assignee.clone() },
            "priority" => Command::SetPriority { priority: need(&step.priority, "priority")? },
            "request_approval" => Command::RequestApproval { note: step.body.clone() },
            "approve" => Command::Approve { note: step.body.clone() },
            "reject" => Command::RejectApproval { note: need(&step.body, "body")? },
            "transition" => Command::Transition { name: need(&step.name, "name")? },
            "resolve" => Command::Resolve { note: step.body.clone() },
            "close" => Command::Close,
            "reopen" => Command::Reopen { reason: step.body.clone() },
            other => return Err(fail(format!("unknown action \"{other}\""))),
        };
        let ticket = match step.ticket.clone().or_else(|| self.current.clone()) {
            Some(ticket) => ticket,
            None => return Err(fail("no ticket yet: `open` one first".into())),
        };
        let actor = match &step.actor {
            Some(person) => Actor::agent(person.clone()),
            None => self.default_actor(&ticket).ok_or_else(|| {
                fail(format!("say who acts (`as`): {ticket} has no assignee and its stage no responsible member"))
            })?,
        };
        let request = CommandRequest { ticket: ticket.clone(), command, actor, expected_revision: None };
        if let Err(error) = self.writer.command(request).await {
            let _ = writeln!(self.out, "{}  {ticket}  REFUSED {}: {error}", self.time(self.clock.now()), step.action);
        }
        Ok(())
    }

    async fn open(&mut self, step: &Step) -> Result<(), String> {
        let customer = step.customer.clone().unwrap_or(CustomerInput {
            name: Some("Customer".into()),
            email: Some("customer@example.com".into()),
            ..CustomerInput::default()
        });
        let ticket = OpenTicket {
            workflow: self.workflow.id().to_string(),
            subject: step.subject.clone().unwrap_or_else(|| "Simulated request".into()),
            description: step.body.clone(),
            customer,
            category: step.category.clone(),
            priority: step.priority.clone(),
            channel: step.channel.clone(),
            forms: BTreeMap::new(),
            ..OpenTicket::default()
        };
        let actor = match &step.actor {
            Some(person) => Actor::agent(person.clone()),
            None => Actor::integrator("web-form"),
        };
        match self.writer.open(OpenRequest { ticket, actor, idempotency_key: None }).await {
            Ok(outcome) => {
                self.current = Some(outcome.ticket.number.clone());
                Ok(())
            }
            Err(error) => {
                let _ = writeln!(self.out, "{}  -  REFUSED open: {error}", self.time(self.clock.now()));
                Ok(())
            }
        }
    }

    fn summary(&mut self) {
        let now = self.clock.now();
        for ticket in self.tickets() {
            let _ = writeln!(
                self.out,
                "\nSLA summary of {} (stage {}, status {}):",
                ticket.number,
                ticket.stage,
                ticket.status.as_str()
            );
            let workflow = self.workflow_of(&ticket);
            let definition = &workflow.definition;
            for (clock, state) in &ticket.slas {
                let Some(d) = sla::definition(definition, clock) else { continue };
                let used = match state.business_secs {
                    Some(taken) => chrono::Duration::seconds(i64::try_from(taken).unwrap_or(i64::MAX)),
                    None => sla::used(state, &sla::calendar(definition, d), now),
                };
                let outcome = match (state.met, state.breached_at) {
                    (Some(true), _) => "met".to_string(),
                    (Some(false), _) => "missed".to_string(),
                    (None, Some(at)) => format!("breached at {}", self.time(at)),
                    (None, None) if state.running_since.is_none() => "paused".to_string(),
                    (None, None) => "running".to_string(),
                };
                let _ = writeln!(
                    self.out,
                    "  {:<40} {outcome:<28} {} of {} business time",
                    notices::clock_label(definition, clock),
                    human(used),
                    human(chrono::Duration::seconds(state.target_secs as i64))
                );
            }
        }
    }
}
