//! What rule scripts see of a ticket: the `ticket` variable.
//!
//! A plain, read-only copy: fields, form values, ticked items of the current stage, tags, dates
//! (RFC 3339 texts: `created_at`, `stage_entered_at`, and `now`, the engine's clock), the
//! workflow's business calendar (`ticket.calendar`, see [`super::helpers`]), and a summary of the
//! customer's history (`ticket.customer.tickets`: earlier tickets within the repeat window,
//! `repeats`: those of the same workflow and category, `last_csat`, `last_agent`), so rules can
//! say "third repeat request → high priority" without reaching into the store.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use rhai::Dynamic;
use serde::Serialize;

use super::calendar::BusinessCalendar;
use super::decide::Context;
use super::helpers::ScriptCalendar;
use super::rules::to_script_value;
use super::ticket::Ticket;

/// The `ticket` variable of a script.
#[derive(Debug, Serialize)]
struct TicketView<'a> {
    id: String,
    number: &'a str,
    workflow: &'a str,
    stage: &'a str,
    status: &'a str,
    priority: &'a str,
    category: Option<&'a str>,
    channel: Option<&'a str>,
    subject: &'a str,
    description: &'a str,
    queue: Option<&'a str>,
    assignee: Option<&'a str>,
    forms: &'a BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    checklist: BTreeMap<&'a str, bool>,
    approved: bool,
    reopened: u32,
    tags: Vec<&'a str>,
    created_at: DateTime<Utc>,
    stage_entered_at: DateTime<Utc>,
    now: DateTime<Utc>,
    customer: CustomerView<'a>,
}

#[derive(Debug, Serialize)]
struct CustomerView<'a> {
    id: String,
    name: &'a str,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    vip: bool,
    tickets: usize,
    repeats: usize,
    last_csat: Option<u8>,
    last_agent: Option<&'a str>,
}

/// Builds the `ticket` variable.
///
/// `customer.repeats` counts the customer's earlier tickets of the same workflow and category
/// within the workflow's repeat window.
pub fn ticket_view(ctx: &Context<'_>, ticket: &Ticket) -> Dynamic {
    let (customer, history) = (ctx.customer, ctx.history);
    let window =
        chrono::Duration::from_std(ctx.workflow.definition.repeat_window.get()).unwrap_or(chrono::Duration::MAX);
    let checklist = ticket
        .checklist
        .get(&ticket.stage)
        .map(|items| items.iter().map(|item| (item.as_str(), true)).collect())
        .unwrap_or_default();
    let view = TicketView {
        id: ticket.id.to_string(),
        number: &ticket.number,
        workflow: &ticket.workflow,
        stage: &ticket.stage,
        status: ticket.status.as_str(),
        priority: &ticket.priority,
        category: ticket.category.as_deref(),
        channel: ticket.channel.as_deref(),
        subject: &ticket.subject,
        description: &ticket.description,
        queue: ticket.queue.as_deref(),
        assignee: ticket.assignee.as_deref(),
        forms: &ticket.forms,
        checklist,
        approved: ticket.approvals.get(&ticket.stage).is_some_and(|a| a.approved_by.is_some()),
        reopened: ticket.reopened,
        tags: ticket.tags.iter().map(String::as_str).collect(),
        created_at: ticket.created_at,
        stage_entered_at: ticket.stage_entered_at,
        now: ctx.now,
        customer: CustomerView {
            id: ticket.customer.to_string(),
            name: customer.map_or("", |c| c.name.as_str()),
            email: customer.and_then(|c| c.email.as_deref()),
            phone: customer.and_then(|c| c.phone.as_deref()),
            vip: customer.is_some_and(|c| c.vip),
            tickets: history.tickets.len(),
            repeats: history.repeats(&ticket.workflow, ticket.category.as_deref(), window, ctx.now),
            last_csat: history.tickets.iter().find_map(|t| t.csat),
            last_agent: history.last_agent(),
        },
    };
    let mut value = to_script_value(&view);
    if let Some(mut map) = value.write_lock::<rhai::Map>() {
        map.insert("calendar".into(), Dynamic::from(calendar(ctx)));
    }
    value
}

/// The workflow's default business calendar (`24x7` when it names none).
fn calendar(ctx: &Context<'_>) -> ScriptCalendar {
    let calendar = ctx
        .workflow
        .definition
        .default_calendar()
        .map_or_else(BusinessCalendar::always_open, BusinessCalendar::from_definition);
    ScriptCalendar(Arc::new(calendar))
}
