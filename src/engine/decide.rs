//! The engine's entry points: `(workflow, ticket, command, now) -> events`, with no I/O.
//!
//! [`open`] turns an [`OpenTicket`] into the events that create a ticket; [`decide`] turns a
//! [`Command`] on an existing ticket into the events that record it, or an [`EngineError`]
//! saying precisely why not. Everything the engine needs from outside (the customer, their
//! history, the other ticket of a link) comes in a [`Context`] the caller fills.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::assign::{self, Team};
use super::command::{Command, OpenTicket};
use super::customer::{Customer, CustomerId, History};
use super::error::{EngineError, FieldProblem};
use super::event::{Actor, ActorKind, Change, Event, Relation};
use super::forms;
use super::routing;
use super::rules;
use super::sla;
use super::survey;
use super::ticket::{Status, Ticket, TicketId};
use super::transition::{self, Duty, permit};
use super::view::ticket_view;
use crate::workflow::Workflow;
use crate::workflow::model::{Stage, Transition};

/// Longest subject, in characters.
pub const MAX_SUBJECT: usize = 200;
/// Longest comment, description or step, in characters.
pub const MAX_TEXT: usize = 100_000;

/// What the engine may know besides the ticket and the command.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The workflow version the ticket runs on.
    pub workflow: &'a Workflow,
    /// The ticket's customer.
    pub customer: Option<&'a Customer>,
    /// The customer's earlier tickets.
    pub history: &'a History,
    /// The other ticket of a link or merge.
    pub other: Option<&'a Ticket>,
    /// Now.
    pub now: DateTime<Utc>,
    /// Facts for assigning a new ticket to a person (load, availability, turns); `None`
    /// leaves new tickets unassigned in their queue.
    pub team: Option<&'a Team>,
}

/// Wraps changes into events of `ticket`, numbering revisions after `revision`.
pub fn stamp(ticket: TicketId, revision: u64, actor: &Actor, now: DateTime<Utc>, changes: Vec<Change>) -> Vec<Event> {
    changes
        .into_iter()
        .zip(revision + 1..)
        .map(|(change, revision)| Event { ticket, revision, at: now, actor: actor.clone(), change })
        .collect()
}

fn text_problem(problems: &mut Vec<FieldProblem>, field: &str, text: &str, max: usize, required: bool) {
    if required && text.trim().is_empty() {
        problems.push(FieldProblem::new(field, "must not be empty"));
    } else if text.chars().count() > max {
        problems.push(FieldProblem::new(field, format!("must be at most {max} characters")));
    }
}

fn one_of(
    problems: &mut Vec<FieldProblem>,
    field: &str,
    value: &str,
    list: &[crate::workflow::model::Name],
    what: &str,
) {
    if !list.iter().any(|item| item.get_ref() == value) {
        let names: Vec<&str> = list.iter().map(|n| n.get_ref().as_str()).collect();
        problems
            .push(FieldProblem::new(field, format!("unknown {what} \"{value}\"; use one of: {}", names.join(", "))));
    }
}

/// The events that open a ticket. `id` and `number` are allocated by the caller.
///
/// In order: `opened` and the initial forms (checked, with their validation scripts), the
/// priority rule's change (actor `priority-rule`), routing into `opened`'s queue and role, the
/// assignment within the role when `ctx.team` is given (actor: the strategy, see
/// [`super::assign`]), the link to the request this one repeats, and the SLA clocks.
pub fn open(
    ctx: &Context<'_>,
    id: TicketId,
    number: String,
    customer: CustomerId,
    request: &OpenTicket,
    actor: &Actor,
) -> Result<Vec<Event>, EngineError> {
    let workflow = ctx.workflow;
    let definition = &workflow.definition;
    let mut problems = Vec::new();
    text_problem(&mut problems, "subject", &request.subject, MAX_SUBJECT, true);
    let description = request.description.clone().unwrap_or_default();
    text_problem(&mut problems, "description", &description, MAX_TEXT, false);
    if let Some(category) = &request.category {
        one_of(&mut problems, "category", category, &definition.categories, "category");
    }
    let priority = match &request.priority {
        Some(priority) => {
            one_of(&mut problems, "priority", priority, &definition.priorities, "priority");
            priority.clone()
        }
        None => default_priority(workflow),
    };
    if let Some(channel) = &request.channel {
        one_of(&mut problems, "channel", channel, &definition.channels, "channel");
    }
    let start = start_stage(workflow);
    let Some(start_def) = definition.stages.get(start.as_str()) else {
        return Err(EngineError::Invalid(vec![FieldProblem::new("workflow", "the workflow has no stages")]));
    };
    let initial: Vec<(String, BTreeMap<String, serde_json::Value>)> = request
        .forms
        .iter()
        .map(|(form, values)| {
            let kept = normalize(values).into_iter().filter(|(_, v)| !v.is_null()).collect::<BTreeMap<_, _>>();
            (form.clone(), kept)
        })
        .filter(|(_, values)| !values.is_empty())
        .collect();
    for (form_id, values) in &initial {
        match definition.forms.get(form_id.as_str()) {
            Some(form) if start_def.forms.iter().any(|f| f.get_ref() == form_id) => {
                problems.extend(forms::check_values(form_id, form, values));
                // A new ticket has no files yet: a file field cannot be filled in at opening.
                problems.extend(forms::check_files(form_id, form, values, &[]));
            }
            _ => problems.push(FieldProblem::new(
                format!("forms.{form_id}"),
                format!("the start stage `{start}` has no form `{form_id}`"),
            )),
        }
    }
    if !problems.is_empty() {
        return Err(EngineError::Invalid(problems));
    }

    let opened = Change::Opened {
        number,
        workflow: workflow.id().to_string(),
        version: workflow.version.clone(),
        stage: start,
        priority,
        category: request.category.clone(),
        channel: request.channel.clone(),
        subject: request.subject.trim().to_string(),
        description,
        customer,
        queue: None,
        role: None,
    };
    let mut changes = vec![opened];
    for (form, values) in &initial {
        changes.push(Change::FormSaved { form: form.clone(), values: values.clone() });
    }
    // Opened by mail: the mail (so replies to it find the ticket), its files, and the closed
    // ticket it follows up.
    changes.extend(request.mail.iter().map(|mail| Change::MailReceived { mail: mail.clone() }));
    changes.extend(request.attachments.iter().map(|a| Change::Attached { attachment: a.clone() }));
    changes.extend(request.follow_up_of.map(|other| Change::Linked { other, relation: Relation::FollowUpOf }));
    // Route on the ticket as it would be, forms included, so rules can read them.
    let mut draft_events = stamp(id, 0, actor, ctx.now, changes);
    let draft = replay(&draft_events)?;
    let view = ticket_view(ctx, &draft);
    for (form_id, values) in &initial {
        problems.extend(run_form_script(workflow, form_id, &view, values)?);
    }
    if !problems.is_empty() {
        return Err(EngineError::Invalid(problems));
    }
    // The priority rule decides before routing, so routing rules see the priority it set.
    let (draft, view) = match &definition.priority_rule {
        Some(reference) => match workflow.scripts.get(reference.get_ref()) {
            Some(script) => match rules::priority(script, &view, &definition.priorities)? {
                Some(priority) if priority != draft.priority => {
                    let revision = draft_events.len() as u64;
                    let change = Change::PriorityChanged { priority };
                    draft_events.extend(stamp(id, revision, &Actor::system("priority-rule"), ctx.now, vec![change]));
                    let draft = replay(&draft_events)?;
                    let view = ticket_view(ctx, &draft);
                    (draft, view)
                }
                _ => (draft, view),
            },
            None => (draft, view),
        },
        None => (draft, view),
    };
    let route = routing::route(workflow, &draft, &view)?;
    let pick = ctx.team.map(|team| assign::pick(definition, &route, team, ctx.history));
    let role = route.role.clone();
    if let Some(Event { change: Change::Opened { queue, role, .. }, .. }) = draft_events.first_mut() {
        *queue = route.queue;
        *role = route.role;
    }
    if let (Some(pick), Some(role)) = (pick, role)
        && let Some((by, change)) = pick.change(&role)
    {
        let revision = draft_events.len() as u64;
        draft_events.extend(stamp(id, revision, &by, ctx.now, vec![change]));
    }
    let repeat_window = chrono::Duration::from_std(definition.repeat_window.get()).unwrap_or(chrono::Duration::MAX);
    if let Some(earlier) = ctx.history.repeat_of(workflow.id(), request.category.as_deref(), repeat_window, ctx.now) {
        let revision = draft_events.len() as u64;
        draft_events.extend(stamp(
            id,
            revision,
            actor,
            ctx.now,
            vec![Change::Linked { other: earlier.id, relation: Relation::RepeatOf }],
        ));
    }
    let opened = replay(&draft_events)?;
    let changes: Vec<Change> = draft_events.iter().map(|e| e.change.clone()).collect();
    let clocks = sla::follow_up(definition, None, &opened, &changes, ctx.now);
    let revision = draft_events.len() as u64;
    draft_events.extend(stamp(id, revision, actor, ctx.now, clocks));
    Ok(draft_events)
}

fn replay(events: &[Event]) -> Result<Ticket, EngineError> {
    Ticket::replay(events)
        .ok_or_else(|| EngineError::Invalid(vec![FieldProblem::new("ticket", "could not build the ticket")]))
}

/// The workflow's start stage (empty when it has no stages, which the checker refuses).
fn start_stage(workflow: &Workflow) -> String {
    workflow.definition.start_stage().unwrap_or_default().to_string()
}

/// The priority of a ticket nobody prioritised.
pub fn default_priority(workflow: &Workflow) -> String {
    let definition = &workflow.definition;
    if let Some(priority) = &definition.default_priority {
        return priority.get_ref().clone();
    }
    let listed = |name: &str| definition.priorities.iter().any(|p| p.get_ref() == name);
    if listed("normal") {
        return "normal".to_string();
    }
    definition.priorities.first().map(|p| p.get_ref().clone()).unwrap_or_default()
}

fn run_form_script(
    workflow: &Workflow,
    form_id: &str,
    view: &rhai::Dynamic,
    values: &BTreeMap<String, serde_json::Value>,
) -> Result<Vec<FieldProblem>, EngineError> {
    let Some(form) = workflow.definition.forms.get(form_id) else { return Ok(Vec::new()) };
    let Some(reference) = &form.validate else { return Ok(Vec::new()) };
    let Some(script) = workflow.scripts.get(reference.get_ref()) else { return Ok(Vec::new()) };
    rules::validate_form(script, form_id, view, &rules::form_value(values))
}

/// The events that record `command` on `ticket`, or why it is refused. An empty list means the
/// command changes nothing (ticking an item already ticked). The changes include what follows
/// for the SLA clocks (a stage left stops its clock, a waiting stage pauses them, ...).
pub fn decide(
    ctx: &Context<'_>,
    ticket: &Ticket,
    command: &Command,
    actor: &Actor,
) -> Result<Vec<Change>, EngineError> {
    let changes = match command {
        Command::Fire { .. } => {
            if actor.kind != ActorKind::System {
                return Err(EngineError::Forbidden("only Afterdesk itself fires timers".into()));
            }
            return Ok(fire_due(ctx, ticket, actor));
        }
        command => decide_command(ctx, ticket, command, actor)?,
    };
    Ok(with_clocks(ctx, ticket, changes, actor))
}

/// Every timer of `ticket` due by `ctx.now`, fired one after another in due order, each on the
/// ticket as the ones before left it (with what it means for the clocks): a warning before its
/// breach, a breach before the escalation it arms at the same instant.
fn fire_due(ctx: &Context<'_>, ticket: &Ticket, actor: &Actor) -> Vec<Change> {
    let definition = &ctx.workflow.definition;
    let mut draft = ticket.clone();
    let mut out = Vec::new();
    // Bounded: a definition whose timers keep coming due at the same instant is a bug, not a hang.
    for _ in 0..64 {
        let Some(timer) = sla::timers(definition, &draft).into_iter().filter(|t| t.due <= ctx.now).min() else {
            break;
        };
        let fired = sla::fire(definition, &draft, ctx.customer, &timer.clock, timer.alert, ctx.now, ctx.team);
        let changes = with_clocks(ctx, &draft, fired, actor);
        if changes.is_empty() {
            break;
        }
        for event in stamp(draft.id, draft.revision, actor, ctx.now, changes.clone()) {
            draft.apply(&event);
        }
        out.extend(changes);
    }
    out
}

/// `changes` followed by what they mean for the SLA clocks.
fn with_clocks(ctx: &Context<'_>, ticket: &Ticket, mut changes: Vec<Change>, actor: &Actor) -> Vec<Change> {
    if changes.is_empty() {
        return changes;
    }
    let mut after = ticket.clone();
    for event in stamp(ticket.id, ticket.revision, actor, ctx.now, changes.clone()) {
        after.apply(&event);
    }
    let follow = sla::follow_up(&ctx.workflow.definition, Some(ticket), &after, &changes, ctx.now);
    changes.extend(follow);
    changes
}

fn decide_command(
    ctx: &Context<'_>,
    ticket: &Ticket,
    command: &Command,
    actor: &Actor,
) -> Result<Vec<Change>, EngineError> {
    let workflow = ctx.workflow;
    let definition = &workflow.definition;
    let stage = definition.stages.get(ticket.stage.as_str()).ok_or_else(|| {
        EngineError::NotFound(format!("stage `{}` is not in workflow version {}", ticket.stage, workflow.version))
    })?;
    // A survey is answered after the ticket closed, as a rule.
    let after_close = matches!(command, Command::Reopen { .. } | Command::Link { .. } | Command::CustomerReply { .. })
        || (matches!(command, Command::AnswerSurvey(_)) && ticket.status != Status::Merged);
    if ticket.status.is_finished() && !after_close {
        return Err(EngineError::Finished(match ticket.status {
            Status::Merged => format!("ticket {} was merged into another ticket; work on that one", ticket.number),
            _ => format!("ticket {} is closed; reopen it first", ticket.number),
        }));
    }
    match command {
        Command::SaveForm { form, values } => {
            permit(definition, ticket, actor, Duty::Work)?;
            save_form(ctx, ticket, stage, form, values)
        }
        Command::Tick { item, checked } => {
            permit(definition, ticket, actor, Duty::Work)?;
            let known = stage.checklist.iter().chain(&stage.optional_checklist).any(|i| i.get_ref() == item);
            if !known {
                let items: Vec<&str> =
                    stage.checklist.iter().chain(&stage.optional_checklist).map(|i| i.get_ref().as_str()).collect();
                return Err(EngineError::Invalid(vec![FieldProblem::new(
                    "item",
                    format!(
                        "stage `{}` has no checklist item \"{item}\"; its items: {}",
                        ticket.stage,
                        items.join(", ")
                    ),
                )]));
            }
            let ticked = ticket.checklist.get(&ticket.stage).is_some_and(|t| t.contains(item));
            if ticked == *checked {
                return Ok(Vec::new());
            }
            Ok(vec![Change::ChecklistTicked { stage: ticket.stage.clone(), item: item.clone(), checked: *checked }])
        }
        Command::Comment { body, public } => {
            permit(definition, ticket, actor, Duty::Comment)?;
            let mut problems = Vec::new();
            text_problem(&mut problems, "body", body, MAX_TEXT, true);
            if actor.kind == ActorKind::Customer && !public {
                problems.push(FieldProblem::new("public", "customers cannot write internal notes"));
            }
            invalid_if_any(problems)?;
            Ok(vec![Change::Commented { body: body.clone(), public: *public }])
        }
        Command::RecordStep { description } => {
            permit(definition, ticket, actor, Duty::Work)?;
            let mut problems = Vec::new();
            text_problem(&mut problems, "description", description, MAX_TEXT, true);
            invalid_if_any(problems)?;
            Ok(vec![Change::StepRecorded { description: description.clone() }])
        }
        Command::Assign { assignee } => {
            permit(definition, ticket, actor, Duty::Work)?;
            if let Some(person) = assignee
                && transition::roles_of(definition, person).is_empty()
            {
                return Err(EngineError::Invalid(vec![FieldProblem::new(
                    "assignee",
                    format!("{person} has no role in workflow `{}`", workflow.id()),
                )]));
            }
            if ticket.assignee.as_deref().map(str::to_ascii_lowercase)
                == assignee.as_deref().map(str::to_ascii_lowercase)
            {
                return Ok(Vec::new());
            }
            Ok(vec![Change::Assigned { assignee: assignee.clone(), queue: None }])
        }
        Command::SetPriority { priority } => {
            permit(definition, ticket, actor, Duty::Work)?;
            let mut problems = Vec::new();
            one_of(&mut problems, "priority", priority, &definition.priorities, "priority");
            invalid_if_any(problems)?;
            if &ticket.priority == priority {
                return Ok(Vec::new());
            }
            Ok(vec![Change::PriorityChanged { priority: priority.clone() }])
        }
        Command::RequestApproval { note } => {
            permit(definition, ticket, actor, Duty::Work)?;
            no_accountable(ticket, stage)?;
            if approved(ticket) {
                return Err(EngineError::Refused(vec![FieldProblem::new(
                    "approval",
                    "this stage is already approved",
                )]));
            }
            Ok(vec![Change::ApprovalRequested { stage: ticket.stage.clone(), note: note.clone() }])
        }
        Command::Approve { note } => {
            no_accountable(ticket, stage)?;
            permit(definition, ticket, actor, Duty::Approve)?;
            transition::check_separation(definition, ticket, stage, actor)?;
            if approved(ticket) {
                return Err(EngineError::Refused(vec![FieldProblem::new(
                    "approval",
                    "this stage is already approved",
                )]));
            }
            Ok(vec![Change::Approved { stage: ticket.stage.clone(), note: note.clone() }])
        }
        Command::RejectApproval { note } => {
            no_accountable(ticket, stage)?;
            permit(definition, ticket, actor, Duty::Approve)?;
            if note.trim().is_empty() {
                return Err(EngineError::Invalid(vec![FieldProblem::new(
                    "note",
                    "a rejection needs a reason; the person who asked is told it",
                )]));
            }
            let mut problems = Vec::new();
            text_problem(&mut problems, "note", note, MAX_TEXT, false);
            invalid_if_any(problems)?;
            match ticket.approvals.get(&ticket.stage) {
                Some(approval) if approval.approved_by.is_some() => Err(EngineError::Refused(vec![FieldProblem::new(
                    "approval",
                    "this stage is already approved; an approval is voided by changing a form value of the stage",
                )])),
                Some(approval) if approval.requested_by.is_some() => Ok(vec![Change::ApprovalRejected {
                    stage: ticket.stage.clone(),
                    note: note.trim().to_string(),
                    requested_by: approval.requested_by.clone(),
                }]),
                _ => Err(EngineError::Refused(vec![FieldProblem::new(
                    "approval",
                    format!("no approval was asked for in stage `{}`: there is nothing to reject", ticket.stage),
                )])),
            }
        }
        Command::Transition { name } => {
            permit(definition, ticket, actor, Duty::Work)?;
            take(ctx, ticket, stage, name)
        }
        Command::Resolve { note } => {
            permit(definition, ticket, actor, Duty::Work)?;
            resolve(ctx, ticket, stage, note)
        }
        Command::Close => {
            permit(definition, ticket, actor, Duty::Work)?;
            let name = way(
                definition,
                ticket,
                stage,
                |s| s.terminal,
                &["close"],
                || format!("no transition of stage `{}` closes the ticket; move it on first", ticket.stage),
                "closed",
            )?;
            take(ctx, ticket, stage, name)
        }
        Command::Reopen { reason } => reopen(ctx, ticket, actor, reason),
        Command::Link { other, relation } => {
            permit(definition, ticket, actor, Duty::Work)?;
            let other_ticket = other_ticket(ctx, ticket, *other, "other")?;
            if ticket.links.iter().any(|l| l.ticket == other_ticket.id && l.relation == *relation) {
                return Ok(Vec::new());
            }
            Ok(vec![Change::Linked { other: other_ticket.id, relation: *relation }])
        }
        Command::Fire { .. } => Ok(Vec::new()),
        Command::AnswerSurvey(answer) => answer_survey(ctx, ticket, actor, answer),
        Command::CustomerReply { body, mail, attachments } => {
            super::reply::customer_reply(ctx, ticket, actor, body, mail.as_ref(), attachments)
        }
        Command::Attach { attachments } => super::attach::attach(ctx, ticket, actor, attachments),
        Command::Merge { into } => {
            permit(definition, ticket, actor, Duty::Work)?;
            let original = other_ticket(ctx, ticket, *into, "into")?;
            if original.status.is_finished() {
                return Err(EngineError::Refused(vec![FieldProblem::new(
                    "into",
                    format!("ticket {} is {}: merge into an open ticket", original.number, original.status.as_str()),
                )]));
            }
            if original.customer != ticket.customer {
                return Err(EngineError::Refused(vec![FieldProblem::new(
                    "into",
                    format!("ticket {} belongs to another customer", original.number),
                )]));
            }
            // A merge ends the duplicate: it takes the stage's way to a terminal stage, with
            // that transition's guards, and is recorded as merged rather than closed.
            let name = way(
                definition,
                ticket,
                stage,
                |s| s.terminal,
                &["merge", "cancel"],
                || {
                    format!(
                        "no transition of stage `{}` closes the ticket, so it cannot be merged here; move it on first",
                        ticket.stage
                    )
                },
                "closed",
            )?;
            let into = original.id;
            Ok(take(ctx, ticket, stage, name)?
                .into_iter()
                .map(|change| if change == Change::Closed { Change::Merged { into } } else { change })
                .collect())
        }
    }
}

/// Form values as the engine keeps them: a blank text is no value (`null`), so an optional
/// email, phone or date field can be cleared with `""` as well as with `null`.
fn normalize(values: &BTreeMap<String, serde_json::Value>) -> BTreeMap<String, serde_json::Value> {
    values
        .iter()
        .map(|(field, value)| {
            let blank = value.as_str().is_some_and(|text| text.trim().is_empty());
            (field.clone(), if blank { serde_json::Value::Null } else { value.clone() })
        })
        .collect()
}

fn invalid_if_any(problems: Vec<FieldProblem>) -> Result<(), EngineError> {
    if problems.is_empty() { Ok(()) } else { Err(EngineError::Invalid(problems)) }
}

fn approved(ticket: &Ticket) -> bool {
    ticket.approvals.get(&ticket.stage).is_some_and(|a| a.approved_by.is_some())
}

fn no_accountable(ticket: &Ticket, stage: &Stage) -> Result<(), EngineError> {
    if stage.raci.accountable.is_none() {
        return Err(EngineError::Refused(vec![FieldProblem::new(
            "approval",
            format!("stage `{}` has no accountable role to approve", ticket.stage),
        )]));
    }
    Ok(())
}

fn other_ticket<'a>(
    ctx: &Context<'a>,
    ticket: &Ticket,
    other: TicketId,
    field: &str,
) -> Result<&'a Ticket, EngineError> {
    let found = ctx
        .other
        .filter(|o| o.id == other)
        .ok_or_else(|| EngineError::NotFound(format!("ticket {other} not found")))?;
    if found.id == ticket.id {
        return Err(EngineError::Invalid(vec![FieldProblem::new(field, "a ticket cannot be linked to itself")]));
    }
    Ok(found)
}

fn save_form(
    ctx: &Context<'_>,
    ticket: &Ticket,
    stage: &Stage,
    form_id: &str,
    values: &BTreeMap<String, serde_json::Value>,
) -> Result<Vec<Change>, EngineError> {
    let workflow = ctx.workflow;
    let definition = &workflow.definition;
    let Some(form) = definition.forms.get(form_id) else {
        let known: Vec<&str> = definition.forms.keys().map(|k| k.get_ref().as_str()).collect();
        return Err(EngineError::NotFound(format!(
            "workflow `{}` has no form `{form_id}`; forms: {}",
            workflow.id(),
            known.join(", ")
        )));
    };
    // A form of the current stage, or of a stage already passed (amending earlier answers).
    let usable = stage.forms.iter().any(|f| f.get_ref() == form_id)
        || ticket.visited.iter().any(|visited| {
            definition.stages.get(visited.as_str()).is_some_and(|s| s.forms.iter().any(|f| f.get_ref() == form_id))
        });
    if !usable {
        return Err(EngineError::Refused(vec![FieldProblem::new(
            format!("forms.{form_id}"),
            format!("form `{form_id}` belongs to a stage the ticket has not reached (it is in `{}`)", ticket.stage),
        )]));
    }
    if values.is_empty() {
        return Err(EngineError::Invalid(vec![FieldProblem::new("values", "no values to save")]));
    }
    let values = &normalize(values);
    let mut problems = forms::check_values(form_id, form, values);
    problems.extend(forms::check_files(form_id, form, values, &ticket.attachments));
    if problems.is_empty() && form.validate.is_some() {
        let mut merged = ticket.forms.get(form_id).cloned().unwrap_or_default();
        for (field, value) in values {
            if value.is_null() {
                merged.remove(field);
            } else {
                merged.insert(field.clone(), value.clone());
            }
        }
        let view = ticket_view(ctx, ticket);
        problems.extend(run_form_script(workflow, form_id, &view, &merged)?);
    }
    invalid_if_any(problems)?;
    let current = ticket.forms.get(form_id);
    let changed: BTreeMap<String, serde_json::Value> = values
        .iter()
        .filter(|(field, value)| {
            current.and_then(|c| c.get(*field)) != Some(*value)
                && !(value.is_null() && current.and_then(|c| c.get(*field)).is_none())
        })
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect();
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let mut changes = vec![Change::FormSaved { form: form_id.to_string(), values: changed }];
    // An approval covers the stage's forms as they were: a value changed after it voids it.
    let of_this_stage = stage.forms.iter().any(|f| f.get_ref() == form_id);
    if of_this_stage && let Some(approval) = ticket.approvals.get(&ticket.stage).filter(|a| a.approved_by.is_some()) {
        changes.push(Change::ApprovalVoided {
            stage: ticket.stage.clone(),
            form: form_id.to_string(),
            approved_by: approval.approved_by.clone(),
        });
    }
    Ok(changes)
}

/// The transition of `stage` a command without a transition name takes: the only one leading
/// to a stage that `leads` accepts, else the one among them named like the first of
/// `preferred` that exists. Refused (naming the stage and the choices) when there is none, or
/// several and none preferred; `done` says what the ticket would be ("closed").
fn way<'a>(
    definition: &crate::workflow::model::WorkflowFile,
    ticket: &Ticket,
    stage: &'a Stage,
    leads: impl Fn(&Stage) -> bool,
    preferred: &[&str],
    none: impl FnOnce() -> String,
    done: &str,
) -> Result<&'a str, EngineError> {
    let names: Vec<&str> = stage
        .transitions
        .iter()
        .filter(|t| definition.stages.get(t.to.get_ref().as_str()).is_some_and(&leads))
        .map(|t| t.name.get_ref().as_str())
        .collect();
    let refuse = |message: String| Err(EngineError::Refused(vec![FieldProblem::new("stage", message)]));
    match names.as_slice() {
        [] => refuse(none()),
        [only] => Ok(*only),
        several => match preferred.iter().find_map(|p| several.iter().find(|n| *n == p)) {
            Some(name) => Ok(*name),
            None => refuse(format!(
                "stage `{}` can be {done} several ways ({}); take one by name",
                ticket.stage,
                several.join(", ")
            )),
        },
    }
}

/// Resolving goes through the workflow like every other change of status: it takes the
/// stage's transition to a working stage marked `resolved = true` (a survey or confirmation
/// stage), or, where the way on leads to a terminal stage marked `resolved = true` (a solved
/// `closed`, not `cancelled`), it resolves the ticket in place once every guard of that
/// transition is met, leaving `close` to take it. Anything else is refused.
fn resolve(
    ctx: &Context<'_>,
    ticket: &Ticket,
    stage: &Stage,
    note: &Option<String>,
) -> Result<Vec<Change>, EngineError> {
    let definition = &ctx.workflow.definition;
    if ticket.status == Status::Resolved {
        return Err(EngineError::Refused(vec![FieldProblem::new("status", "the ticket is already resolved")]));
    }
    let leads_to = |wanted: fn(&Stage) -> bool| {
        stage.transitions.iter().any(|t| definition.stages.get(t.to.get_ref().as_str()).is_some_and(wanted))
    };
    let working = |s: &Stage| s.resolved && !s.terminal;
    let solved_end = |s: &Stage| s.resolved && s.terminal;
    let none = || {
        format!(
            "no transition of stage `{}` resolves the ticket (leads to a stage with `resolved = true`); move it on first",
            ticket.stage
        )
    };
    if leads_to(working) {
        let name = way(definition, ticket, stage, working, &["resolve"], none, "resolved")?;
        return Ok(take(ctx, ticket, stage, name)?
            .into_iter()
            .map(|change| match change {
                Change::Resolved { .. } => Change::Resolved { note: note.clone() },
                change => change,
            })
            .collect());
    }
    let name = way(definition, ticket, stage, solved_end, &["close", "resolve"], none, "resolved")?;
    guarded(ctx, ticket, stage, name)?;
    Ok(vec![Change::Resolved { note: note.clone() }])
}

/// The transition `name` of the ticket's stage, if every one of its guards is met now.
fn guarded<'a>(
    ctx: &Context<'_>,
    ticket: &Ticket,
    stage: &'a Stage,
    name: &str,
) -> Result<&'a Transition, EngineError> {
    let transition = transition::find(&ticket.stage, stage, name)?;
    let view = ticket_view(ctx, ticket);
    let refusals = transition::check_guards(ctx.workflow, ticket, stage, transition, &view)?;
    if !refusals.is_empty() {
        return Err(EngineError::Refused(refusals));
    }
    Ok(transition)
}

pub(super) fn take(ctx: &Context<'_>, ticket: &Ticket, stage: &Stage, name: &str) -> Result<Vec<Change>, EngineError> {
    let workflow = ctx.workflow;
    let transition = guarded(ctx, ticket, stage, name)?;
    let to = transition.to.get_ref().clone();
    let target = workflow.definition.stages.get(to.as_str());
    let terminal = target.is_some_and(|s| s.terminal);
    let resolved_here = target.is_some_and(|s| s.resolved);
    let mut changes =
        vec![Change::StageChanged { from: ticket.stage.clone(), to: to.clone(), transition: name.to_string() }];
    if terminal {
        changes.push(Change::Closed);
    } else if resolved_here && ticket.status == Status::Open {
        changes.push(Change::Resolved { note: None });
    } else if !resolved_here && ticket.status == Status::Resolved {
        changes.push(Change::Reopened { reason: Some(format!("moved back to `{to}`")) });
    }
    Ok(changes)
}

pub(super) fn reopen(
    ctx: &Context<'_>,
    ticket: &Ticket,
    actor: &Actor,
    reason: &Option<String>,
) -> Result<Vec<Change>, EngineError> {
    let definition = &ctx.workflow.definition;
    match ticket.status {
        Status::Open => Err(EngineError::Refused(vec![FieldProblem::new("status", "the ticket is open already")])),
        Status::Merged => {
            Err(EngineError::Finished(format!("ticket {} was merged into another; work on that one", ticket.number)))
        }
        Status::Resolved => {
            permit(definition, ticket, actor, Duty::Work)?;
            let Some(stage) = definition.stages.get(ticket.stage.as_str()).filter(|s| s.resolved && !s.terminal) else {
                // Resolved in place: nothing moved, so nothing moves back.
                return Ok(vec![Change::Reopened { reason: reason.clone() }]);
            };
            // In a resolved stage (a survey): back to work by the stage's own way back, with
            // its guards, never by staying in a stage that counts as resolved.
            let name = way(
                definition,
                ticket,
                stage,
                |s| !s.terminal && !s.resolved,
                &["reopen"],
                || format!("no transition of stage `{}` leads back to a working stage", ticket.stage),
                "reopened",
            )?;
            Ok(take(ctx, ticket, stage, name)?
                .into_iter()
                .map(|change| match change {
                    Change::Reopened { reason: moved } => Change::Reopened { reason: reason.clone().or(moved) },
                    change => change,
                })
                .collect())
        }
        Status::Closed => {
            // Back to where work was before closing, bound by that stage's RACI. A stage where
            // the ticket counted as resolved (a survey) is no place for reopened work: go
            // where it leads back to.
            let is_work = |id: &str| definition.stages.get(id).is_some_and(|s| !s.terminal && !s.resolved);
            let back = ticket
                .previous_stage
                .as_deref()
                .and_then(|previous| {
                    if is_work(previous) {
                        return Some(previous.to_string());
                    }
                    let stage = definition.stages.get(previous)?;
                    stage.transitions.iter().map(|t| t.to.get_ref()).find(|to| is_work(to)).cloned()
                })
                .unwrap_or_else(|| start_stage(ctx.workflow));
            let mut there = ticket.clone();
            there.stage.clone_from(&back);
            permit(definition, &there, actor, Duty::Work)?;
            Ok(vec![
                Change::StageChanged { from: ticket.stage.clone(), to: back, transition: "reopen".to_string() },
                Change::Reopened { reason: reason.clone() },
            ])
        }
    }
}

/// Records a survey answer: the customer themself, an integration that asked on their behalf,
/// or an administrator; never an agent, whose own work it rates. Each survey counts once.
fn answer_survey(
    ctx: &Context<'_>,
    ticket: &Ticket,
    actor: &Actor,
    answer: &survey::SurveyAnswer,
) -> Result<Vec<Change>, EngineError> {
    let allowed = match actor.kind {
        ActorKind::Customer => actor.id == ticket.customer.to_string(),
        ActorKind::Integrator | ActorKind::Admin => true,
        ActorKind::Agent | ActorKind::System => false,
    };
    if !allowed {
        return Err(EngineError::Forbidden(format!(
            "only the customer (or an integration on their behalf) answers the survey of ticket {}",
            ticket.number
        )));
    }
    let problems = survey::problems(ctx.workflow.definition.survey.as_ref(), answer);
    if !problems.is_empty() {
        return Err(EngineError::Invalid(problems));
    }
    if ticket.surveys.iter().any(|s| s.survey == answer.survey) {
        return Err(EngineError::Finished(format!("this survey of ticket {} was already answered", ticket.number)));
    }
    let mut answer = answer.clone();
    answer.comment = answer.comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    Ok(vec![Change::SurveyAnswered { answer }])
}
