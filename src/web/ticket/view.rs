//! What the ticket page shows, built from the store and the engine's own functions.
//!
//! The facts of the ticket and its customer, the customer's earlier tickets (repeats marked by
//! [`History::repeats`]), each running SLA clock ([`sla::deadline`], [`sla::used`] in the
//! clock's [`sla::calendar`]), the current stage's forms, checklist and transitions, approval,
//! the conversation, the files and the log in words. What the person may do, and why a
//! transition may not be taken yet, is asked of the engine: [`dry_run`] builds the
//! [`Context`] the writer builds and calls [`decide`], keeping only the answer.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::super::page::PageError;
use super::super::session::SignedIn;
use super::super::texts;
use super::Loaded;
use crate::api::AppState;
use crate::engine::customer::PastTicket;
use crate::engine::transition::{Duty, permit, roles_of};
use crate::engine::{
    Actor, Change, Command, Context, Customer, EngineError, Event, FieldProblem, History, Ticket, decide, sla,
};
use crate::locale::Lang;
use crate::web::clocks::ClockState;
use crate::workflow::Workflow;
use crate::workflow::model::{Field, FieldType, WorkflowFile};

/// Most earlier tickets of the customer listed.
pub const HISTORY_SHOWN: usize = 20;
/// How far back the customer's history is read, at least (the repeat window may be longer).
const HISTORY_DAYS: i64 = 365;
/// The notices a form may leave (`?done=...`); anything else is ignored.
pub const DONE: &[&str] = &[
    "saved",
    "ticked",
    "unticked",
    "moved",
    "approved",
    "rejected",
    "requested",
    "replied",
    "noted",
    "assigned",
    "attached",
];

/// What a refused or posted form leaves for the page shown again: its values, the engine's
/// problems, a notice.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// What the last form did (a key of [`DONE`]).
    pub done: Option<String>,
    /// The form whose posted values are shown again.
    pub form: Option<String>,
    /// Its posted values, by field (several for a multiple choice).
    pub values: BTreeMap<String, Vec<String>>,
    /// The engine's problems with what was posted.
    pub problems: Vec<FieldProblem>,
    /// Why a form was refused, in the page's language.
    pub notice: Option<String>,
    /// The kept text of a comment that was refused.
    pub comment: Option<String>,
    /// The kept note of an approval that was refused.
    pub note: Option<String>,
}

/// The whole page.
#[derive(Debug, Serialize)]
pub struct TicketPage {
    /// The ticket's facts.
    pub ticket: Facts,
    /// The revision every form posts back.
    pub revision: u64,
    /// What was just done, in words.
    pub done: Option<String>,
    /// Why a form was refused, in words.
    pub notice: Option<String>,
    /// Problems that belong to no field on the page.
    pub problems: Vec<String>,
    /// The customer.
    pub customer: Option<CustomerFacts>,
    /// Their other tickets, newest first.
    pub history: Vec<PastFacts>,
    /// How many earlier tickets this one repeats (same workflow and category, in the window).
    pub repeats: usize,
    /// Running SLA clocks.
    pub clocks: Vec<ClockFacts>,
    /// The current stage's forms.
    pub forms: Vec<FormView>,
    /// The current stage's checklist.
    pub checklist: Vec<ItemView>,
    /// The ways out of the current stage.
    pub transitions: Vec<TransitionView>,
    /// Approval of the current stage, where it has an accountable role.
    pub approval: Option<ApprovalView>,
    /// Replies, notes and the customer's messages, oldest first.
    pub comments: Vec<CommentView>,
    /// Files, oldest first.
    pub files: Vec<FileView>,
    /// The log in words, oldest first.
    pub timeline: Vec<EventView>,
    /// Whether the person may work the stage (forms, checklist, moves, assignment).
    pub may_work: bool,
    /// Why not, if not.
    pub work_refused: Option<String>,
    /// Whether the person may comment.
    pub may_comment: bool,
    /// Assignment.
    pub assign: AssignView,
    /// The kept text of a refused comment.
    pub comment: String,
    /// A problem with that comment.
    pub comment_problem: Option<String>,
}

/// The ticket's facts.
#[derive(Debug, Serialize)]
pub struct Facts {
    /// Number (`AS-12`).
    pub number: String,
    /// Id.
    pub id: String,
    /// Subject.
    pub subject: String,
    /// Status (`open`, ...).
    pub status: String,
    /// Status in words.
    pub status_text: String,
    /// The current stage's name.
    pub stage: String,
    /// What happens in the stage.
    pub stage_description: Option<String>,
    /// Priority.
    pub priority: String,
    /// Category.
    pub category: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Queue.
    pub queue: Option<String>,
    /// Assignee.
    pub assignee: Option<String>,
    /// When it was opened (RFC 3339).
    pub created: String,
    /// The customer's description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// The workflow's name.
    pub workflow: String,
}

/// The customer.
#[derive(Debug, Serialize)]
pub struct CustomerFacts {
    /// Name.
    pub name: String,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Very important.
    pub vip: bool,
}

/// One other ticket of the customer.
#[derive(Debug, Serialize)]
pub struct PastFacts {
    /// Its number.
    pub number: String,
    /// Its subject.
    pub subject: String,
    /// Its status.
    pub status: String,
    /// Its status in words.
    pub status_text: String,
    /// Its category.
    pub category: Option<String>,
    /// When it was opened (RFC 3339).
    pub opened: String,
    /// Whether this ticket repeats it.
    pub repeat: bool,
}

/// A running SLA clock.
#[derive(Debug, Serialize)]
pub struct ClockFacts {
    /// What it measures, in words.
    pub label: String,
    /// When it runs out (RFC 3339); absent while paused.
    pub due: Option<String>,
    /// Business time left, in seconds (negative: overdue by).
    pub left_secs: i64,
    /// Whether it is past its time.
    pub overdue: bool,
    /// Whether it is paused.
    pub paused: bool,
    /// Whether the warning went out.
    pub warned: bool,
    /// Whether it breached.
    pub breached: bool,
}

/// A form of the stage.
#[derive(Debug, Serialize)]
pub struct FormView {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its fields, in order.
    pub fields: Vec<FieldView>,
}

/// A field of a form.
#[derive(Debug, Serialize)]
pub struct FieldView {
    /// The HTML id of its input.
    pub html_id: String,
    /// Its name (the form field posted).
    pub name: String,
    /// Its label.
    pub label: String,
    /// Its kind (`text`, `long_text`, `integer`, ...).
    pub kind: &'static str,
    /// Whether the form is incomplete without it.
    pub required: bool,
    /// Help text.
    pub help: Option<String>,
    /// The value shown (text as typed, or as saved).
    pub value: String,
    /// Choices (options, or the ticket's files).
    pub options: Vec<OptionView>,
    /// Smallest value or length.
    pub min: Option<f64>,
    /// Largest value or length.
    pub max: Option<f64>,
    /// The engine's problem with it.
    pub problem: Option<String>,
}

/// One choice of a field.
#[derive(Debug, Serialize)]
pub struct OptionView {
    /// The value posted.
    pub value: String,
    /// What is shown.
    pub label: String,
    /// Whether it is chosen.
    pub selected: bool,
}

/// A checklist item.
#[derive(Debug, Serialize)]
pub struct ItemView {
    /// The item.
    pub item: String,
    /// Ticked.
    pub ticked: bool,
    /// Required to leave the stage.
    pub required: bool,
    /// The HTML id of its problem, if any.
    pub problem: Option<String>,
}

/// A transition with what stands in its way.
#[derive(Debug, Serialize)]
pub struct TransitionView {
    /// Its name.
    pub name: String,
    /// Its label.
    pub label: String,
    /// The stage it leads to.
    pub to: String,
    /// Why it may not be taken now (the engine's reasons); empty when it may.
    pub reasons: Vec<String>,
}

/// Approval of the current stage.
#[derive(Debug, Serialize)]
pub struct ApprovalView {
    /// The accountable role.
    pub role: String,
    /// Whether a transition of the stage needs it.
    pub needed: bool,
    /// Who asked for it.
    pub requested_by: Option<String>,
    /// Who gave it.
    pub approved_by: Option<String>,
    /// Whether the person may approve now (engine dry run).
    pub may_approve: bool,
    /// Why not, if not.
    pub approve_refused: Option<String>,
    /// Whether the person may reject now.
    pub may_reject: bool,
    /// Whether the person may ask for it now.
    pub may_request: bool,
    /// The kept note of a refused approval.
    pub note: String,
    /// A problem with that note.
    pub note_problem: Option<String>,
}

/// A reply, note or customer message.
#[derive(Debug, Serialize)]
pub struct CommentView {
    /// `public`, `internal` or `customer`.
    pub kind: &'static str,
    /// What kind it is, in words.
    pub label: String,
    /// Who wrote it.
    pub who: String,
    /// When (RFC 3339).
    pub at: String,
    /// The text.
    pub body: String,
}

/// A file.
#[derive(Debug, Serialize)]
pub struct FileView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: i64,
    /// Its media type.
    pub content_type: String,
    /// When it was added (RFC 3339).
    pub added: String,
}

/// One event of the log.
#[derive(Debug, Serialize)]
pub struct EventView {
    /// What happened, in words.
    pub text: String,
    /// Who did it.
    pub who: String,
    /// When (RFC 3339).
    pub at: String,
}

/// Assignment.
#[derive(Debug, Serialize)]
pub struct AssignView {
    /// Whether the person may take the ticket (engine dry run).
    pub may_take: bool,
    /// The people it may be assigned to (members of the workflow's roles).
    pub people: Vec<OptionView>,
}

/// What the engine needs besides the ticket and the command, read like the writer reads it.
pub struct EngineFacts {
    customer: Option<Customer>,
    history: History,
    now: DateTime<Utc>,
}

impl EngineFacts {
    /// Reads the customer and (only where scripts may read it, as the writer does) their
    /// history.
    pub fn read(state: &AppState, loaded: &Loaded) -> Result<Self, PageError> {
        let now = state.clock.now();
        let ticket = &loaded.ticket;
        let customer = state.store.customer(ticket.customer)?;
        let history = if loaded.workflow.scripts.is_empty() {
            History::default()
        } else {
            let mut history = state.store.history(ticket.customer, now - repeat_window(&loaded.workflow))?;
            history.tickets.retain(|t| t.id != ticket.id);
            history
        };
        Ok(Self { customer, history, now })
    }

    /// The engine's answer to `command` by `actor`, discarded: `Ok` when the writer would
    /// take it now.
    pub fn dry_run(
        &self,
        workflow: &Workflow,
        ticket: &Ticket,
        command: &Command,
        actor: &Actor,
    ) -> Result<(), EngineError> {
        let ctx = Context {
            workflow,
            customer: self.customer.as_ref(),
            history: &self.history,
            other: None,
            now: self.now,
            team: None,
        };
        decide(&ctx, ticket, command, actor).map(|_| ())
    }
}

/// How far back a customer's history matters: the workflow's repeat window (as the writer).
pub fn repeat_window(workflow: &Workflow) -> chrono::Duration {
    chrono::Duration::from_std(workflow.definition.repeat_window.get()).unwrap_or(chrono::Duration::days(365))
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Builds the page of `loaded` for `who` in `lang`, with what `draft` kept.
pub fn build(
    state: &AppState,
    who: &SignedIn,
    loaded: &Loaded,
    draft: &Draft,
    lang: Lang,
) -> Result<TicketPage, PageError> {
    let ticket = &loaded.ticket;
    let workflow = &loaded.workflow;
    let definition = &workflow.definition;
    let tz = definition.timezone();
    let actor = who.actor();
    let engine = EngineFacts::read(state, loaded)?;
    let events = state.store.events(ticket.id)?;
    let stage = definition.stages.get(ticket.stage.as_str());
    let work = permit(definition, ticket, &actor, Duty::Work);
    let may_comment = permit(definition, ticket, &actor, Duty::Comment).is_ok() && !ticket.status.is_finished();
    let mut used = Vec::new();
    let forms = forms(definition, ticket, draft, tz, &mut used);
    let checklist = checklist(ticket, stage, draft, &mut used);
    let (comment, comment_problem) = kept(draft, "body", &draft.comment, &mut used);
    let (note, note_problem) = kept(draft, "note", &draft.note, &mut used);
    let approval = approval(loaded, &engine, &actor, note, note_problem);
    let problems = draft
        .problems
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, p)| worded(lang, definition, p))
        .collect();
    let (history, repeats) = history(state, loaded, engine.customer.as_ref(), engine.now, lang)?;
    Ok(TicketPage {
        ticket: facts(workflow, ticket, lang),
        revision: ticket.revision,
        done: draft
            .done
            .as_deref()
            .filter(|d| DONE.contains(d))
            .map(|d| texts::text(lang, &format!("ticket.done.{d}")).to_string()),
        notice: draft.notice.clone(),
        problems,
        customer: engine.customer.as_ref().map(|c| CustomerFacts {
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            vip: c.vip,
        }),
        history,
        repeats,
        clocks: clocks(definition, ticket, lang, engine.now),
        forms,
        checklist,
        transitions: transitions(loaded, &engine, &actor, lang),
        approval,
        comments: comments(&events, lang),
        files: ticket
            .attachments
            .iter()
            .map(|a| FileView {
                id: a.id.to_string(),
                name: a.name.clone(),
                size: i64::try_from(a.size).unwrap_or(i64::MAX),
                content_type: a.content_type.clone(),
                added: rfc3339(a.added_at),
            })
            .collect(),
        timeline: events.iter().map(|e| event_view(lang, definition, e)).collect(),
        may_work: work.is_ok() && !ticket.status.is_finished(),
        work_refused: work.err().map(|e| e.to_string()),
        may_comment,
        assign: assign(loaded, &engine, &actor, who.person()),
        comment,
        comment_problem,
    })
}

/// A status in words.
fn status_text(lang: Lang, status: crate::engine::Status) -> String {
    texts::text(lang, &format!("ticket.statuses.{}", status.as_str())).to_string()
}

fn facts(workflow: &Workflow, ticket: &Ticket, lang: Lang) -> Facts {
    let stage = workflow.definition.stages.get(ticket.stage.as_str());
    Facts {
        number: ticket.number.clone(),
        id: ticket.id.to_string(),
        subject: ticket.subject.clone(),
        status: ticket.status.as_str().to_string(),
        status_text: status_text(lang, ticket.status),
        stage: stage_name(&workflow.definition, &ticket.stage),
        stage_description: stage.and_then(|s| s.description.clone()),
        priority: ticket.priority.clone(),
        category: ticket.category.clone(),
        channel: ticket.channel.clone(),
        queue: ticket.queue.clone(),
        assignee: ticket.assignee.clone(),
        created: rfc3339(ticket.created_at),
        description: ticket.description.clone(),
        tags: ticket.tags.iter().cloned().collect(),
        workflow: workflow.definition.name.clone(),
    }
}

/// A stage's name (its id when it has none).
pub fn stage_name(definition: &WorkflowFile, stage: &str) -> String {
    definition.stages.get(stage).and_then(|s| s.name.clone()).unwrap_or_else(|| stage.to_string())
}

/// The customer's other tickets (newest first, at most [`HISTORY_SHOWN`]), each marked when
/// this ticket repeats it, and how many this ticket repeats: [`History::repeats`] of the
/// tickets opened before it.
fn history(
    state: &AppState,
    loaded: &Loaded,
    customer: Option<&Customer>,
    now: DateTime<Utc>,
    lang: Lang,
) -> Result<(Vec<PastFacts>, usize), PageError> {
    let Some(customer) = customer else { return Ok((Vec::new(), 0)) };
    let ticket = &loaded.ticket;
    let window = repeat_window(&loaded.workflow);
    let since = (ticket.created_at - window).min(now - chrono::Duration::days(HISTORY_DAYS));
    let mut all = state.store.history(customer.id, since)?;
    all.tickets.retain(|t| t.id != ticket.id);
    let earlier =
        History { tickets: all.tickets.iter().filter(|t| t.opened_at <= ticket.created_at).cloned().collect() };
    let category = ticket.category.as_deref();
    let repeats = earlier.repeats(&ticket.workflow, category, window, ticket.created_at);
    let is_repeat = |past: &PastTicket| {
        past.opened_at <= ticket.created_at
            && History { tickets: vec![past.clone()] }.repeats(&ticket.workflow, category, window, ticket.created_at)
                == 1
    };
    let mut out = Vec::new();
    for past in all.tickets.iter().take(HISTORY_SHOWN) {
        let Some(other) = state.store.ticket(past.id)? else { continue };
        out.push(PastFacts {
            number: other.number,
            subject: other.subject,
            status: other.status.as_str().to_string(),
            status_text: status_text(lang, other.status),
            category: other.category,
            opened: rfc3339(past.opened_at),
            repeat: is_repeat(past),
        });
    }
    Ok((out, repeats))
}

/// The label of clock `name`.
fn clock_label(definition: &WorkflowFile, lang: Lang, name: &str) -> String {
    match name {
        sla::FIRST_RESPONSE => texts::text(lang, "ticket.clock.first_response").to_string(),
        sla::RESOLUTION => texts::text(lang, "ticket.clock.resolution").to_string(),
        other => {
            let stage = other.strip_prefix("stage:").unwrap_or(other);
            texts::fill(lang, "ticket.clock.stage", &[("stage", stage_name(definition, stage))])
        }
    }
}

fn clocks(definition: &WorkflowFile, ticket: &Ticket, lang: Lang, now: DateTime<Utc>) -> Vec<ClockFacts> {
    let mut calendars = crate::web::clocks::Calendars::default();
    crate::web::clocks::clocks(definition, ticket, now, &mut calendars)
        .into_iter()
        .map(|clock| ClockFacts {
            label: clock_label(definition, lang, &clock.id),
            due: clock.due.map(rfc3339),
            left_secs: clock.left_secs,
            overdue: clock.left_secs < 0 || clock.state == ClockState::Breached,
            paused: clock.state == ClockState::Paused,
            warned: ticket.slas.get(&clock.id).is_some_and(|c| c.warned),
            breached: clock.state == ClockState::Breached,
        })
        .collect()
}

fn kind_name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Text => "text",
        FieldType::LongText => "long_text",
        FieldType::Integer => "integer",
        FieldType::Number => "number",
        FieldType::Bool => "bool",
        FieldType::Date => "date",
        FieldType::Datetime => "datetime",
        FieldType::Email => "email",
        FieldType::Phone => "phone",
        FieldType::Choice => "choice",
        FieldType::MultiChoice => "multi_choice",
        FieldType::File => "file",
        FieldType::Files => "files",
    }
}

/// A saved value as the page's input shows it: text as is, a date and time in the workflow's
/// time zone (`2026-03-20T14:30`, as `datetime-local` takes it), numbers and yes/no as text,
/// lists as their items.
pub fn shown(field: &Field, value: &serde_json::Value, tz: Tz) -> Vec<String> {
    match value {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::String(text) if *field.kind.get_ref() == FieldType::Datetime => {
            match DateTime::parse_from_rfc3339(text) {
                Ok(at) => vec![at.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string()],
                Err(_) => vec![text.clone()],
            }
        }
        serde_json::Value::String(text) => vec![text.clone()],
        serde_json::Value::Array(items) => {
            items.iter().map(|item| item.as_str().map_or_else(|| item.to_string(), str::to_string)).collect()
        }
        other => vec![other.to_string()],
    }
}

fn forms(definition: &WorkflowFile, ticket: &Ticket, draft: &Draft, tz: Tz, used: &mut Vec<usize>) -> Vec<FormView> {
    let Some(stage) = definition.stages.get(ticket.stage.as_str()) else { return Vec::new() };
    stage
        .forms
        .iter()
        .filter_map(|form_id| {
            let id = form_id.get_ref();
            let form = definition.forms.get(id.as_str())?;
            let saved = ticket.forms.get(id);
            let posted = (draft.form.as_deref() == Some(id.as_str())).then_some(&draft.values);
            let fields = form
                .fields
                .iter()
                .map(|field| {
                    let name = field.name.get_ref();
                    let values = match posted {
                        Some(posted) => posted.get(name).cloned().unwrap_or_default(),
                        None => saved.and_then(|s| s.get(name)).map(|v| shown(field, v, tz)).unwrap_or_default(),
                    };
                    let path = format!("forms.{id}.{name}");
                    let problem = draft.problems.iter().enumerate().find(|(_, p)| p.field == path).map(|(i, p)| {
                        used.push(i);
                        p.message.clone()
                    });
                    field_view(id, field, &values, &ticket.attachments, problem)
                })
                .collect();
            Some(FormView { id: id.clone(), title: form.title.clone().unwrap_or_else(|| id.clone()), fields })
        })
        .collect()
}

fn field_view(
    form: &str,
    field: &Field,
    values: &[String],
    files: &[crate::engine::attachment::Attachment],
    problem: Option<String>,
) -> FieldView {
    let name = field.name.get_ref().clone();
    let kind = *field.kind.get_ref();
    let options = match kind {
        FieldType::Choice | FieldType::MultiChoice => field
            .options
            .as_ref()
            .map(|o| o.get_ref().as_slice())
            .unwrap_or_default()
            .iter()
            .map(|o| OptionView {
                value: o.get_ref().clone(),
                label: o.get_ref().replace('_', " "),
                selected: values.contains(o.get_ref()),
            })
            .collect(),
        FieldType::File | FieldType::Files => files
            .iter()
            .map(|a| OptionView {
                value: a.id.to_string(),
                label: a.name.clone(),
                selected: values.contains(&a.id.to_string()),
            })
            .collect(),
        _ => Vec::new(),
    };
    FieldView {
        html_id: format!("f-{form}-{name}"),
        label: field.label.clone().unwrap_or_else(|| name.clone()),
        name,
        kind: kind_name(kind),
        required: field.required,
        help: field.help.clone(),
        value: values.first().cloned().unwrap_or_default(),
        options,
        min: field.min.as_ref().map(|m| *m.get_ref()),
        max: field.max.as_ref().map(|m| *m.get_ref()),
        problem,
    }
}

fn checklist(
    ticket: &Ticket,
    stage: Option<&crate::workflow::model::Stage>,
    draft: &Draft,
    used: &mut Vec<usize>,
) -> Vec<ItemView> {
    let Some(stage) = stage else { return Vec::new() };
    let ticked = ticket.checklist.get(&ticket.stage);
    let required = stage.checklist.iter().map(|i| (i, true));
    let optional = stage.optional_checklist.iter().map(|i| (i, false));
    required
        .chain(optional)
        .map(|(item, required)| {
            let item = item.get_ref().clone();
            let path = format!("checklist.{item}");
            let problem =
                draft.problems.iter().enumerate().find(|(_, p)| p.field == path || p.field == "item").map(|(i, p)| {
                    used.push(i);
                    p.message.clone()
                });
            ItemView { ticked: ticked.is_some_and(|t| t.contains(&item)), item, required, problem }
        })
        .collect()
}

/// A kept text and the problem the engine had with `field`.
fn kept(draft: &Draft, field: &str, text: &Option<String>, used: &mut Vec<usize>) -> (String, Option<String>) {
    let problem = text.as_ref().and_then(|_| {
        draft.problems.iter().enumerate().find(|(_, p)| p.field == field).map(|(i, p)| {
            used.push(i);
            p.message.clone()
        })
    });
    (text.clone().unwrap_or_default(), problem)
}

fn transitions(loaded: &Loaded, engine: &EngineFacts, actor: &Actor, lang: Lang) -> Vec<TransitionView> {
    let ticket = &loaded.ticket;
    let definition = &loaded.workflow.definition;
    let Some(stage) = definition.stages.get(ticket.stage.as_str()) else { return Vec::new() };
    stage
        .transitions
        .iter()
        .map(|t| {
            let name = t.name.get_ref().clone();
            let command = Command::Transition { name: name.clone() };
            let reasons = match engine.dry_run(&loaded.workflow, ticket, &command, actor) {
                Ok(()) => Vec::new(),
                Err(error) => reasons(lang, definition, &error),
            };
            TransitionView {
                label: t.label.clone().unwrap_or_else(|| name.clone()),
                to: stage_name(definition, t.to.get_ref()),
                name,
                reasons,
            }
        })
        .collect()
}

fn approval(
    loaded: &Loaded,
    engine: &EngineFacts,
    actor: &Actor,
    note: String,
    note_problem: Option<String>,
) -> Option<ApprovalView> {
    let ticket = &loaded.ticket;
    let workflow = &loaded.workflow;
    let stage = workflow.definition.stages.get(ticket.stage.as_str())?;
    let role = stage.raci.accountable.as_ref()?.get_ref().clone();
    let state = ticket.approvals.get(&ticket.stage);
    let approve = engine.dry_run(workflow, ticket, &Command::Approve { note: None }, actor);
    let reject = engine.dry_run(workflow, ticket, &Command::RejectApproval { note: "?".into() }, actor);
    let request = engine.dry_run(workflow, ticket, &Command::RequestApproval { note: None }, actor);
    Some(ApprovalView {
        role,
        needed: stage.transitions.iter().any(|t| t.requires_approval),
        requested_by: state.and_then(|a| a.requested_by.clone()),
        approved_by: state.and_then(|a| a.approved_by.clone()),
        may_approve: approve.is_ok(),
        approve_refused: approve.err().map(|e| e.to_string()),
        may_reject: reject.is_ok(),
        may_request: request.is_ok(),
        note,
        note_problem,
    })
}

fn assign(loaded: &Loaded, engine: &EngineFacts, actor: &Actor, me: &str) -> AssignView {
    let ticket = &loaded.ticket;
    let definition = &loaded.workflow.definition;
    let mine = ticket.assignee.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(me));
    let take = Command::Assign { assignee: Some(me.to_string()) };
    let may_take = !mine && engine.dry_run(&loaded.workflow, ticket, &take, actor).is_ok();
    let mut people: Vec<String> = definition.roles.values().flatten().map(|m| m.get_ref().clone()).collect();
    people.sort_by_key(|p| p.to_lowercase());
    people.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let people = people
        .into_iter()
        .filter(|p| !roles_of(definition, p).is_empty())
        .map(|p| OptionView {
            selected: ticket.assignee.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(&p)),
            label: p.clone(),
            value: p,
        })
        .collect();
    AssignView { may_take, people }
}

fn comments(events: &[Event], lang: Lang) -> Vec<CommentView> {
    events
        .iter()
        .filter_map(|event| {
            let (kind, body) = match &event.change {
                Change::Commented { body, public: true } => ("public", body),
                Change::Commented { body, public: false } => ("internal", body),
                Change::CustomerReplied { body, .. } => ("customer", body),
                _ => return None,
            };
            let label = texts::text(lang, &format!("ticket.comment.{kind}")).to_string();
            Some(CommentView { kind, label, who: event.actor.id.clone(), at: rfc3339(event.at), body: body.clone() })
        })
        .collect()
}

/// The engine's reasons for refusing a command, for a person: a guard's problems in the page's
/// language where a text says them (a required field, an unticked item, an approval), the
/// engine's own words otherwise.
pub fn reasons(lang: Lang, definition: &WorkflowFile, error: &EngineError) -> Vec<String> {
    match error {
        EngineError::Refused(problems) | EngineError::Invalid(problems) => {
            problems.iter().map(|p| worded(lang, definition, p)).collect()
        }
        EngineError::Conflict { .. } => vec![texts::text(lang, "ticket.stale").to_string()],
        other => vec![other.to_string()],
    }
}

/// One problem in words: a guard's in the page's language, any other in the engine's.
pub fn worded(lang: Lang, definition: &WorkflowFile, problem: &FieldProblem) -> String {
    if let Some(path) = problem.field.strip_prefix("forms.")
        && problem.message.starts_with("required field")
        && let Some((form, field)) = path.split_once('.')
    {
        let label = definition
            .forms
            .get(form)
            .and_then(|f| f.fields.iter().find(|x| x.name.get_ref() == field))
            .map_or_else(|| field.to_string(), |f| f.label.clone().unwrap_or_else(|| field.to_string()));
        return texts::fill(lang, "ticket.problem.required", &[("field", isolated(label))]);
    }
    if let Some(item) = problem.field.strip_prefix("checklist.")
        && problem.message.ends_with("is not ticked")
    {
        return texts::fill(lang, "ticket.problem.unticked", &[("item", isolated(item.to_string()))]);
    }
    if problem.field == "approval" && problem.message.starts_with("needs approval") {
        return texts::text(lang, "ticket.problem.approval").to_string();
    }
    problem.message.clone()
}

/// `text` isolated from the words around it (FSI ... PDI): a workflow's English name inside a
/// Persian or Arabic sentence keeps its own direction and punctuation.
fn isolated(text: String) -> String {
    format!("\u{2068}{text}\u{2069}")
}

/// One event of the log in words.
pub fn event_view(lang: Lang, definition: &WorkflowFile, event: &Event) -> EventView {
    let stage = |s: &str| stage_name(definition, s);
    let clock = |c: &str| clock_label(definition, lang, c);
    let values: Vec<(&str, String)> = match &event.change {
        Change::Opened { stage: s, .. } => vec![("stage", stage(s))],
        Change::FormSaved { form, values } => vec![
            ("form", definition.forms.get(form.as_str()).and_then(|f| f.title.clone()).unwrap_or_else(|| form.clone())),
            ("fields", values.keys().cloned().collect::<Vec<_>>().join(", ")),
        ],
        Change::ChecklistTicked { item, .. } => vec![("item", item.clone())],
        Change::StepRecorded { description } => vec![("text", description.clone())],
        Change::Assigned { assignee, .. } => vec![("assignee", assignee.clone().unwrap_or_default())],
        Change::PriorityChanged { priority } => vec![("priority", priority.clone())],
        Change::ApprovalRequested { stage: s, .. }
        | Change::Approved { stage: s, .. }
        | Change::ApprovalVoided { stage: s, .. } => vec![("stage", stage(s))],
        Change::ApprovalRejected { stage: s, note, .. } => vec![("stage", stage(s)), ("note", note.clone())],
        Change::StageChanged { from, to, .. } => vec![("from", stage(from)), ("to", stage(to))],
        Change::Reopened { reason } => vec![("reason", reason.clone().unwrap_or_default())],
        Change::SlaStarted { clock: c, .. }
        | Change::SlaPaused { clock: c, .. }
        | Change::SlaResumed { clock: c }
        | Change::SlaTargetChanged { clock: c, .. }
        | Change::SlaWarned { clock: c, .. }
        | Change::SlaBreached { clock: c }
        | Change::SlaReminded { clock: c, .. } => vec![("clock", clock(c))],
        Change::SlaEscalated { clock: c, level, .. } => vec![("clock", clock(c)), ("level", level.to_string())],
        Change::SlaStopped { clock: c, .. } => vec![("clock", clock(c))],
        Change::Tagged { tag } => vec![("tag", tag.clone())],
        Change::Attached { attachment } => vec![("name", attachment.name.clone())],
        Change::NotAssigned { role, .. } => vec![("role", role.clone())],
        Change::Notified { to, .. } => vec![("to", to.join(", "))],
        _ => Vec::new(),
    };
    let key = match &event.change {
        Change::ChecklistTicked { checked: false, .. } => "ticket.event.checklist_unticked".to_string(),
        Change::Commented { public: false, .. } => "ticket.event.noted".to_string(),
        Change::Assigned { assignee: None, .. } => "ticket.event.unassigned".to_string(),
        Change::SlaStopped { met: false, .. } => "ticket.event.sla_stopped_late".to_string(),
        change => format!("ticket.event.{}", change.kind()),
    };
    let values: Vec<(&str, String)> = values.into_iter().map(|(name, value)| (name, isolated(value))).collect();
    EventView { text: texts::fill(lang, &key, &values), who: event.actor.id.clone(), at: rfc3339(event.at) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_and_event_has_a_text() {
        let kinds = [
            "opened",
            "form_saved",
            "checklist_ticked",
            "checklist_unticked",
            "commented",
            "noted",
            "step_recorded",
            "assigned",
            "unassigned",
            "priority_changed",
            "approval_requested",
            "approved",
            "approval_rejected",
            "approval_voided",
            "stage_changed",
            "resolved",
            "closed",
            "reopened",
            "linked",
            "merged",
            "survey_answered",
            "sla_started",
            "sla_paused",
            "sla_resumed",
            "sla_target_changed",
            "sla_warned",
            "sla_breached",
            "sla_escalated",
            "sla_reminded",
            "sla_stopped",
            "sla_stopped_late",
            "not_assigned",
            "tagged",
            "notified",
            "attached",
            "customer_replied",
            "mail_received",
            "customer_changed",
        ];
        let keys = kinds
            .iter()
            .map(|k| format!("ticket.event.{k}"))
            .chain(DONE.iter().map(|d| format!("ticket.done.{d}")))
            .chain(["open", "resolved", "closed", "merged"].iter().map(|s| format!("ticket.statuses.{s}")))
            .chain(["public", "internal", "customer"].iter().map(|c| format!("ticket.comment.{c}")));
        let missing: Vec<String> = keys.filter(|k| !texts::has(k)).collect();
        assert!(missing.is_empty(), "texts missing: {missing:?}");
    }

    #[test]
    fn a_name_in_a_sentence_is_isolated_from_its_direction() {
        let problem = FieldProblem::new("checklist.Parts checked", "checklist item \"Parts checked\" is not ticked");
        let definition: WorkflowFile =
            toml::from_str("id = \"w\"\nname = \"W\"\n[stages.a]\n").expect("a workflow file");
        let worded = worded(Lang::Fa, &definition, &problem);
        assert!(worded.contains("\u{2068}Parts checked\u{2069}"), "{worded}");
        assert_ne!(worded, problem.message, "said in Persian");
    }
}
