//! `afterdesk simulate WORKFLOW SCENARIO`: runs a scenario (timed actions) through the pure
//! engine on a manual clock, with no server, database or mail, and prints the timeline: every
//! event, SLA warning, breach and escalation, and each email that would be sent, with
//! business-time figures. A consultant tests a workflow's SLAs before going live.
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
//! `approve`, `transition` (`name`), `resolve`, `close`, `reopen`, and `wait` (only lets time
//! pass). Steps act on the ticket the last `open` made. Timers due before a step fire first.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use ulid::Ulid;

use crate::engine::customer::{Customer, CustomerId, CustomerInput, History};
use crate::engine::notices::{self, human};
use crate::engine::sla;
use crate::engine::{Actor, Change, Command, Context, Event, OpenTicket, Ticket, TicketId, decide, open, stamp};
use crate::workflow::Workflow;
use crate::workflow::load::ticket_prefix;
use crate::workflow::values::Duration as Human;

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

struct Run<'a> {
    workflow: &'a Workflow,
    tz: Tz,
    now: DateTime<Utc>,
    ticket: Option<Ticket>,
    customer: Option<Customer>,
    out: String,
}

/// Runs `scenario` on `workflow`; returns the printed timeline.
pub fn simulate(workflow: &Workflow, scenario: &Scenario) -> Result<String, SimulateError> {
    let definition = &workflow.definition;
    let tz = definition.timezone();
    let start = scenario.start.to_utc();
    let mut run = Run { workflow, tz, now: start, ticket: None, customer: None, out: String::new() };
    let _ = writeln!(run.out, "Simulating {} (version {}), times in {}", workflow.id(), workflow.version, tz.name());
    for (index, step) in scenario.steps.iter().enumerate() {
        let at = start + chrono::Duration::from_std(step.at.get()).unwrap_or_default();
        run.fire_until(at);
        run.now = run.now.max(at);
        run.step(index + 1, step)?;
    }
    let end = run.now
        + scenario.run_on.map_or(chrono::Duration::zero(), |d| chrono::Duration::from_std(d.get()).unwrap_or_default());
    run.fire_until(end);
    run.summary();
    Ok(run.out)
}

impl Run<'_> {
    fn time(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.tz).format("%a %Y-%m-%d %H:%M").to_string()
    }

    fn ctx(&self) -> (Option<Customer>, History) {
        (self.customer.clone(), History::default())
    }

    /// Fires every timer due up to `until`, in due order, each at its own time.
    fn fire_until(&mut self, until: DateTime<Utc>) {
        for _ in 0..10_000 {
            let Some(ticket) = &self.ticket else { return };
            let next = sla::timers(&self.workflow.definition, ticket).into_iter().filter(|t| t.due <= until).min();
            let Some(timer) = next else { return };
            self.now = self.now.max(timer.due);
            let command = Command::Fire { seen: Vec::new() };
            if self.apply(&Actor::system("scheduler"), &command).map(|n| n == 0).unwrap_or(true) {
                return;
            }
        }
    }

    /// Decides and applies a command; prints its events; returns how many there were.
    fn apply(&mut self, actor: &Actor, command: &Command) -> Result<usize, String> {
        let Some(ticket) = self.ticket.clone() else { return Err("no ticket yet: `open` one first".into()) };
        let (customer, history) = self.ctx();
        let ctx = Context {
            workflow: self.workflow,
            customer: customer.as_ref(),
            history: &history,
            other: None,
            now: self.now,
            team: None,
        };
        let changes = decide(&ctx, &ticket, command, actor).map_err(|e| e.to_string())?;
        let events = stamp(ticket.id, ticket.revision, actor, self.now, changes);
        let mut after = ticket;
        for event in &events {
            after.apply(event);
        }
        for event in &events {
            self.print(&after, event);
        }
        let count = events.len();
        self.ticket = Some(after);
        Ok(count)
    }

    fn print(&mut self, ticket: &Ticket, event: &Event) {
        let definition = &self.workflow.definition;
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
            Change::StageChanged { from, to, transition } => {
                format!("{transition}: {from} -> {to} (by {})", event.actor.id)
            }
            other => format!("{} by {}", other.kind().replace('_', " "), event.actor.id),
        };
        let _ = writeln!(self.out, "{}  {}  {line}", self.time(event.at), ticket.number);
        for notice in notices::notices(definition, ticket, self.customer.as_ref(), event) {
            let held = if notice.not_before > event.at {
                format!(" (held until {})", self.time(notice.not_before))
            } else {
                String::new()
            };
            let _ = writeln!(
                self.out,
                "{:>20}  email {} to {}: \"{}\"{held}",
                "",
                notice.template,
                notice.to.join(", "),
                notice.subject
            );
        }
    }

    fn step(&mut self, number: usize, step: &Step) -> Result<(), SimulateError> {
        let fail = |reason: String| SimulateError::Step { step: number, action: step.action.clone(), reason };
        let need = |value: &Option<String>, what: &str| value.clone().ok_or_else(|| fail(format!("needs `{what}`")));
        if step.action == "open" {
            return self.open(step).map_err(fail);
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
            "transition" => Command::Transition { name: need(&step.name, "name")? },
            "resolve" => Command::Resolve { note: step.body.clone() },
            "close" => Command::Close,
            "reopen" => Command::Reopen { reason: step.body.clone() },
            other => return Err(fail(format!("unknown action \"{other}\""))),
        };
        let actor = match &step.actor {
            Some(person) => Actor::agent(person.clone()),
            None => Actor::admin("consultant"),
        };
        match self.apply(&actor, &command) {
            Ok(_) => Ok(()),
            Err(reason) => {
                let _ =
                    writeln!(self.out, "{}  {}  REFUSED {}: {reason}", self.time(self.now), self.number(), step.action);
                Ok(())
            }
        }
    }

    fn number(&self) -> String {
        self.ticket.as_ref().map_or_else(|| "-".to_string(), |t| t.number.clone())
    }

    fn open(&mut self, step: &Step) -> Result<(), String> {
        let input = step.customer.clone().unwrap_or(CustomerInput {
            name: Some("Customer".into()),
            email: Some("customer@example.com".into()),
            ..CustomerInput::default()
        });
        let customer = Customer {
            id: CustomerId(Ulid::from_parts(1, 1)),
            name: input.name.clone().unwrap_or_else(|| "Customer".into()),
            email: input.email.clone(),
            phone: input.phone.clone(),
            external_id: input.external_id.clone(),
            vip: input.vip.unwrap_or(false),
            created_at: self.now,
            updated_at: self.now,
            satisfaction: crate::engine::customer::Satisfaction::default(),
        };
        let request = OpenTicket {
            workflow: self.workflow.id().to_string(),
            subject: step.subject.clone().unwrap_or_else(|| "Simulated request".into()),
            description: step.body.clone(),
            customer: input,
            category: step.category.clone(),
            priority: step.priority.clone(),
            channel: step.channel.clone(),
            forms: BTreeMap::new(),
        };
        let history = History::default();
        let ctx = Context {
            workflow: self.workflow,
            customer: Some(&customer),
            history: &history,
            other: None,
            now: self.now,
            team: None,
        };
        let number = format!("{}-{}", ticket_prefix(self.workflow), 1);
        let actor = Actor::integrator(step.actor.clone().unwrap_or_else(|| "web-form".into()));
        let events = open(&ctx, TicketId(Ulid::from_parts(2, 2)), number, customer.id, &request, &actor)
            .map_err(|e| e.to_string())?;
        let ticket = Ticket::replay(&events).ok_or("no ticket")?;
        self.customer = Some(customer);
        for event in &events {
            self.print(&ticket, event);
        }
        self.ticket = Some(ticket);
        Ok(())
    }

    fn summary(&mut self) {
        let Some(ticket) = self.ticket.clone() else { return };
        let _ = writeln!(
            self.out,
            "\nSLA summary of {} (stage {}, status {}):",
            ticket.number,
            ticket.stage,
            ticket.status.as_str()
        );
        let definition = &self.workflow.definition;
        for (clock, state) in &ticket.slas {
            let Some(d) = sla::definition(definition, clock) else { continue };
            let used = match state.business_secs {
                Some(taken) => chrono::Duration::seconds(i64::try_from(taken).unwrap_or(i64::MAX)),
                None => sla::used(state, &sla::calendar(definition, d), self.now),
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
