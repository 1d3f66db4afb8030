//! Which messages an event causes: SLA warnings, escalations and reminders to the people the
//! workflow names, a refused approval to the person who asked for it, and the workflow's
//! `[[notifications]]` (ticket received, stage entered, ...).
//!
//! A notice says who gets which template with which values, and from when it may be sent
//! (escalation mail can be held until business hours). Rendering and delivery are done
//! elsewhere; the writer stores notices in the outbox with the event that caused them.
//!
//! Every notice is for one [`Audience`]. The customer and the team never share a message:
//! when a rule names both (`informed` often does), the customer gets the customer-facing
//! template with values fit for them (no staff addresses, priority or API links) and the team
//! the staff-facing one, as two messages. An agent's public reply is mailed to the customer
//! (`public_reply`) without any rule; internal notes never are.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::attachment::Attachment;
use super::calendar::BusinessCalendar;
use super::customer::Customer;
use super::event::{ActorKind, Change, Event};
use super::sla;
use super::ticket::{SlaClock, Ticket};
use crate::workflow::model::{EventKind, WorkflowFile};

/// Who reads a message, which decides its template, its values and its headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The team: staff-facing templates, with links into the API and internal details.
    #[default]
    Staff,
    /// The ticket's customer: customer-facing templates only, and a Reply-To to answer.
    Customer,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Template name.
    pub template: String,
    /// Who reads it.
    pub audience: Audience,
    /// Written by a person (a public reply), not generated: mailed without `Auto-Submitted`.
    pub personal: bool,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Values for the template.
    pub context: serde_json::Value,
    /// Not before.
    pub not_before: DateTime<Utc>,
    /// Files of the ticket sent along (a notification's `attach`).
    pub attachments: Vec<Attachment>,
}

/// Human text of a business duration: `3h 20m` (seconds only under a minute: `40s`).
pub fn human(duration: chrono::Duration) -> String {
    let minutes = duration.num_minutes().max(0);
    match (minutes / 60, minutes % 60) {
        (0, 0) => format!("{}s", duration.num_seconds().max(0)),
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// How late a breached clock is at `at`, in its business time: since its deadline (which may be
/// earlier than the moment the breach was noticed), or since the breach when paused.
fn lateness(state: &SlaClock, calendar: &BusinessCalendar, at: DateTime<Utc>) -> Option<chrono::Duration> {
    let breached = state.breached_at?;
    let since = sla::deadline(state, calendar).map_or(breached, |due| due.min(breached));
    Some(calendar.elapsed(since, at))
}

/// The name of a clock for people.
pub fn clock_label(workflow: &WorkflowFile, clock: &str) -> String {
    match clock {
        sla::FIRST_RESPONSE => "first response".to_string(),
        sla::RESOLUTION => "resolution".to_string(),
        other => {
            let stage = other.strip_prefix("stage:").unwrap_or(other);
            let name = workflow.stages.get(stage).and_then(|s| s.name.clone()).unwrap_or_else(|| stage.to_string());
            format!("stage \"{name}\"")
        }
    }
}

/// What one event is, as notifications, hooks and webhooks name it, each with the stage it is
/// about when that matters: a stage change is leaving one stage and entering another; SLA
/// bookkeeping and the like are nothing.
pub fn event_kinds(event: &Event) -> Vec<(EventKind, Option<&str>)> {
    match &event.change {
        Change::Opened { stage, .. } => vec![(EventKind::TicketOpened, Some(stage.as_str()))],
        Change::StageChanged { from, to, .. } => {
            vec![(EventKind::StageLeft, Some(from.as_str())), (EventKind::StageEntered, Some(to.as_str()))]
        }
        _ => event_kind(event).map(|kind| (kind, None)).into_iter().collect(),
    }
}

/// The kind of event, for events that are one kind whatever the stage.
fn event_kind(event: &Event) -> Option<EventKind> {
    Some(match &event.change {
        Change::Opened { .. } => EventKind::TicketOpened,
        Change::Assigned { .. } => EventKind::Assigned,
        Change::Commented { public: true, .. } if matches!(event.actor.kind, ActorKind::Agent | ActorKind::Admin) => {
            EventKind::PublicReply
        }
        Change::Commented { public: false, .. } => EventKind::InternalNote,
        Change::ApprovalRequested { .. } => EventKind::ApprovalRequested,
        Change::Approved { .. } => EventKind::ApprovalGiven,
        Change::ApprovalRejected { .. } => EventKind::ApprovalRejected,
        Change::ApprovalVoided { .. } => EventKind::ApprovalVoided,
        Change::SlaWarned { .. } => EventKind::SlaWarning,
        Change::SlaBreached { .. } => EventKind::SlaBreached,
        Change::Resolved { .. } => EventKind::Resolved,
        Change::Closed => EventKind::Closed,
        Change::Reopened { .. } => EventKind::Reopened,
        Change::SurveyAnswered { .. } => EventKind::SurveyAnswered,
        // Mail that is not to be answered (an automatic reply, a list) tells nobody.
        Change::CustomerReplied { mail, .. } if mail.as_ref().is_none_or(|m| m.unanswered.is_none()) => {
            EventKind::CustomerReplied
        }
        _ => return None,
    })
}

/// `base` with the keys of `extra` added (or replaced).
fn merged(mut base: serde_json::Value, extra: &serde_json::Value) -> serde_json::Value {
    if let (Some(target), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        target.extend(extra.clone());
    }
    base
}

/// The notices `event` causes, for `ticket` as it is after the event.
pub fn notices(workflow: &WorkflowFile, ticket: &Ticket, customer: Option<&Customer>, event: &Event) -> Vec<Notice> {
    let mut out = Vec::new();
    let base = json!({
        "number": ticket.number,
        "subject": ticket.subject,
        "stage": ticket.stage,
        "stage_name": workflow.stages.get(ticket.stage.as_str()).and_then(|s| s.name.clone()).unwrap_or_else(|| ticket.stage.clone()),
        "priority": ticket.priority,
        "assignee": ticket.assignee,
        "customer": customer.map(|c| c.name.clone()),
        "workflow": workflow.name,
    });
    let with = |extra: serde_json::Value| merged(base.clone(), &extra);
    // What the customer may see of the ticket: no staff, no priority.
    let for_customer = json!({
        "number": ticket.number,
        "subject": ticket.subject,
        "stage_name": base["stage_name"],
        "customer": base["customer"],
        "workflow": workflow.name,
        "opened_at": ticket.created_at,
    });
    let customer_email = customer.and_then(|c| c.email.as_ref()).map(|e| e.to_lowercase());
    let responsible = sla::recipients(workflow, ticket, customer, &["responsible"]);
    // SLA alerts: to the people the clock names, held until business hours if it says so. The
    // subject is worded knowing how late the clock is (`""` when not breached).
    let alert =
        |clock: &str, template: &str, notify: &[String], subject: &dyn Fn(&str) -> String, extra: serde_json::Value| {
            let definition = sla::definition(workflow, clock)?;
            let calendar = sla::calendar(workflow, definition);
            // Held until people work: the workflow's calendar (a 24x7 clock still mails in office hours).
            let office =
                workflow.default_calendar().map_or_else(|| calendar.clone(), BusinessCalendar::from_definition);
            let not_before = if definition.business_hours_mail { office.next_open(event.at) } else { event.at };
            let state = ticket.slas.get(clock)?;
            let late = lateness(state, &calendar, event.at).map(human);
            let deadline = sla::deadline(state, &calendar);
            let subject = subject(late.as_deref().unwrap_or_default());
            let clock_fields = json!({
                "clock": clock_label(workflow, clock),
                "deadline": deadline.or(state.breached_at),
                "late_by": late,
                "responsible": responsible,
            });
            let context = merged(with(clock_fields), &extra);
            Some(Notice::staff(template, notify.to_vec(), subject, context, not_before))
        };
    match &event.change {
        Change::SlaWarned { clock, notify } => {
            let subject =
                |_: &str| format!("[{}] SLA warning: {} is due soon", ticket.number, clock_label(workflow, clock));
            out.extend(alert(clock, "sla_warning", notify, &subject, json!({})));
        }
        Change::SlaEscalated { clock, level, notify } => {
            let subject = |late: &str| {
                format!(
                    "[{}] Escalation level {level}: {} overdue by {late} (business time)",
                    ticket.number,
                    clock_label(workflow, clock)
                )
            };
            let template = sla::definition(workflow, clock)
                .and_then(|d| d.escalate.get((*level as usize).saturating_sub(1)))
                .and_then(|e| e.template.as_ref())
                .map_or("sla_escalation", |t| t.get_ref().as_str());
            out.extend(alert(clock, template, notify, &subject, json!({ "level": level })));
        }
        Change::SlaReminded { clock, count, notify } => {
            let subject = |_: &str| {
                format!("[{}] Reminder {count}: {} is still overdue", ticket.number, clock_label(workflow, clock))
            };
            out.extend(alert(clock, "sla_reminder", notify, &subject, json!({ "reminder": count })));
        }
        // Without escalation levels a breach would pass unnoticed: tell the stage's owners.
        Change::SlaBreached { clock } if sla::definition(workflow, clock).is_some_and(|d| d.escalate.is_empty()) => {
            let to = sla::recipients(workflow, ticket, customer, &["responsible", "accountable"]);
            let subject = |_: &str| format!("[{}] SLA breached: {}", ticket.number, clock_label(workflow, clock));
            out.extend(alert(clock, "sla_breach", &to, &subject, json!({})));
        }
        // A refused approval: the person who asked is told why (staff-facing).
        Change::ApprovalRejected { note, requested_by: Some(requester), .. } if requester.contains('@') => {
            out.push(Notice::staff(
                "approval_rejected",
                vec![requester.to_lowercase()],
                format!("[{}] Approval refused: {}", ticket.number, ticket.subject),
                with(json!({ "note": note, "rejected_by": event.actor.id })),
                event.at,
            ));
        }
        // A hook's `notify` action: its message to the people it named.
        Change::Notified { to, message } => out.push(Notice::staff(
            "hook_notice",
            to.clone(),
            format!("[{}] {}", ticket.number, ticket.subject),
            with(json!({ "message": message })),
            event.at,
        )),
        // A person's public reply: to the customer, as written.
        Change::Commented { body, public: true }
            if workflow.mail.public_replies && matches!(event.actor.kind, ActorKind::Agent | ActorKind::Admin) =>
        {
            if let Some(email) = &customer_email {
                out.push(Notice {
                    template: "public_reply".to_string(),
                    audience: Audience::Customer,
                    personal: true,
                    to: vec![email.clone()],
                    subject: format!("[{}] {}", ticket.number, ticket.subject),
                    context: merged(for_customer.clone(), &json!({ "reply": body })),
                    not_before: event.at,
                    attachments: Vec::new(),
                });
            }
        }
        _ => {}
    }
    if let Change::StageChanged { to, .. } = &event.change {
        out.extend(survey(workflow, ticket, customer, to, event.at));
    }
    for rule in &workflow.notifications {
        let kind = *rule.on.get_ref();
        let stage_is = |stage: &str| rule.stage.as_ref().is_none_or(|s| s.get_ref() == stage);
        let matches = event_kinds(event).iter().any(|(is, at)| *is == kind && at.is_none_or(stage_is));
        if !matches {
            continue;
        }
        let names: Vec<&str> = rule.notify.iter().map(|n| n.get_ref().as_str()).collect();
        let (to_customer, to_staff): (Vec<String>, Vec<String>) = sla::recipients(workflow, ticket, customer, &names)
            .into_iter()
            .partition(|address| customer_email.as_ref() == Some(address));
        let defaults = Defaults::of(kind, ticket, base["stage_name"].as_str().unwrap_or_default());
        let context = json!({ "event": event.change.kind() });
        if !to_staff.is_empty() {
            let template = rule.template.as_ref().map_or(defaults.staff.0, |t| t.get_ref().as_str());
            out.push(Notice::staff(template, to_staff, defaults.staff.1, with(context.clone()), event.at));
        }
        // The customer has the reply itself already.
        let replied = kind == EventKind::PublicReply && workflow.mail.public_replies;
        if !to_customer.is_empty() && !replied {
            let template = rule.customer_template.as_ref().map_or(defaults.customer.0, |t| t.get_ref().as_str());
            out.push(Notice {
                template: template.to_string(),
                audience: Audience::Customer,
                personal: false,
                to: to_customer,
                subject: defaults.customer.1,
                context: merged(for_customer.clone(), &context),
                not_before: event.at,
                attachments: files_of(ticket, &rule.attach),
            });
        }
    }
    out
}

/// The files that `form.field` paths name on `ticket` (file fields' values), each once, in
/// the order named; ids naming no file of the ticket are left out.
pub fn files_of(ticket: &Ticket, paths: &[crate::workflow::model::Name]) -> Vec<Attachment> {
    let mut out: Vec<Attachment> = Vec::new();
    for path in paths {
        let Some((form, field)) = path.get_ref().split_once('.') else { continue };
        let Some(value) = ticket.forms.get(form).and_then(|values| values.get(field)) else { continue };
        for id in super::forms::file_ids(value) {
            let found = ticket.attachments.iter().find(|a| a.id.to_string().eq_ignore_ascii_case(id));
            if let Some(file) = found
                && !out.iter().any(|seen| seen.id == file.id)
            {
                out.push(file.clone());
            }
        }
    }
    out
}

/// The survey mail, when `ticket` enters the survey stage and is in the sample.
fn survey(
    workflow: &WorkflowFile,
    ticket: &Ticket,
    customer: Option<&Customer>,
    entered: &str,
    at: DateTime<Utc>,
) -> Option<Notice> {
    let definition = workflow.survey.as_ref()?;
    if super::survey::stage(workflow, definition).as_deref() != Some(entered)
        || !super::survey::sampled(definition, ticket)
    {
        return None;
    }
    let delay = definition.delay.as_ref().map_or(std::time::Duration::ZERO, |d| d.get_ref().get());
    survey_mail(workflow, ticket, customer, at + chrono::Duration::from_std(delay).unwrap_or_default())
}

/// A survey mail to the ticket's customer, sent from `at` (none if they have no email).
pub fn survey_mail(
    workflow: &WorkflowFile,
    ticket: &Ticket,
    customer: Option<&Customer>,
    at: DateTime<Utc>,
) -> Option<Notice> {
    let email = customer?.email.clone()?;
    let default = crate::workflow::model::Survey::default();
    let definition = workflow.survey.as_ref().unwrap_or(&default);
    let questions: Vec<_> = definition.questions.iter().map(|q| *q.get_ref()).collect();
    Some(Notice {
        template: definition.template.as_ref().map_or_else(|| "survey".to_string(), |t| t.get_ref().clone()),
        audience: Audience::Customer,
        personal: false,
        to: vec![email],
        subject: format!("[{}] How did we do?", ticket.number),
        context: json!({
            "number": ticket.number,
            "subject": ticket.subject,
            "customer": customer.map(|c| c.name.clone()),
            "workflow": workflow.name,
            "questions": questions,
            "expires_at": super::survey::expires(definition, at),
        }),
        not_before: at,
        attachments: Vec::new(),
    })
}

impl Notice {
    /// A generated message to staff.
    fn staff(template: &str, to: Vec<String>, subject: String, context: serde_json::Value, at: DateTime<Utc>) -> Self {
        Self {
            template: template.to_string(),
            audience: Audience::Staff,
            personal: false,
            to,
            subject,
            context,
            not_before: at,
            attachments: Vec::new(),
        }
    }
}

/// The default templates and subjects of a notification rule: (template, subject) for staff
/// and for the customer. Every subject starts with the ticket number in brackets, which is how
/// a reply finds its ticket again.
struct Defaults {
    staff: (&'static str, String),
    customer: (&'static str, String),
}

impl Defaults {
    fn of(kind: EventKind, ticket: &Ticket, stage_name: &str) -> Self {
        let (number, subject) = (&ticket.number, &ticket.subject);
        let update = format!("[{number}] {subject}");
        let (staff, customer) = match kind {
            EventKind::TicketOpened => (
                ("ticket_opened", format!("[{number}] New ticket: {subject}")),
                ("ticket_received", format!("[{number}] We received your request: {subject}")),
            ),
            EventKind::StageEntered => {
                let now_in = format!("[{number}] {subject}: now in \"{stage_name}\"");
                (("stage_entered", now_in.clone()), ("stage_entered_customer", now_in))
            }
            EventKind::Resolved => (
                ("ticket_resolved", format!("[{number}] Resolved: {subject}")),
                ("resolved", format!("[{number}] Your request is resolved")),
            ),
            EventKind::Closed => (
                ("closed", format!("[{number}] Closed: {subject}")),
                ("closed_customer", format!("[{number}] Your request is closed")),
            ),
            EventKind::Reopened => {
                let reopened = format!("[{number}] Reopened: {subject}");
                (("reopened", reopened.clone()), ("reopened_customer", reopened))
            }
            EventKind::ApprovalRequested => (
                ("approval_requested", format!("[{number}] Your approval is needed")),
                ("ticket_update_customer", update.clone()),
            ),
            _ => (("ticket_update", update.clone()), ("ticket_update_customer", update)),
        };
        Self { staff, customer }
    }
}
