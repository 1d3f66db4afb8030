//! Event hooks: the workflow's `[[hooks]]` scripts, run on the events of a command.
//!
//! After the engine decided a command (or opened a ticket), [`run`] looks at each of its events,
//! runs every hook whose `on` (and `stage`) matches, and turns the actions the scripts returned
//! into changes of the ticket and tickets to open elsewhere. It is pure like the rest of the
//! engine: the writer stamps the changes (actor `hook`), opens the linked tickets in the same
//! group, and links both ways.
//!
//! Hooks never trigger hooks: the changes they produce are not fed back to [`run`], and a ticket
//! opened by a hook does not run its own workflow's hooks. A script error, a limit hit or an
//! invalid action fails the whole command, naming the script (and line), like every other rule:
//! a half-applied automation would be worse than a refusal the workflow's author sees at once.

use std::collections::BTreeMap;

use rhai::Dynamic;

use super::command::OpenTicket;
use super::customer::CustomerInput;
use super::decide::{Context, MAX_TEXT};
use super::error::EngineError;
use super::event::{Change, Event};
use super::forms;
use super::rules::{self, HookAction};
use super::sla;
use super::ticket::Ticket;
use super::view::ticket_view;
use crate::workflow::check::CUSTOMER;

/// The actor id of changes made by hooks.
pub const ACTOR: &str = "hook";

/// What the hooks of a command asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Changes to the ticket, in order.
    pub changes: Vec<Change>,
    /// Tickets to open in other workflows, each linked to this one, with the name of the
    /// script that asked (for errors).
    pub open: Vec<(String, OpenTicket)>,
}

/// Runs the hooks matching `events` (those of one command, already applied to `ticket`).
pub fn run(ctx: &Context<'_>, ticket: &Ticket, events: &[Event]) -> Result<Outcome, EngineError> {
    let workflow = ctx.workflow;
    let mut outcome = Outcome::default();
    if workflow.definition.hooks.is_empty() || events.iter().any(|e| e.actor.id == ACTOR) {
        return Ok(outcome);
    }
    let mut view: Option<Dynamic> = None;
    for event in events {
        for (kind, stage) in super::notices::event_kinds(event) {
            for hook in &workflow.definition.hooks {
                let stage_matches = hook.stage.as_ref().is_none_or(|s| Some(s.get_ref().as_str()) == stage);
                if *hook.on.get_ref() != kind || !stage_matches {
                    continue;
                }
                let Some(script) = workflow.scripts.get(hook.script.get_ref()) else { continue };
                let ticket_view = view.get_or_insert_with(|| ticket_view(ctx, ticket));
                let event_view = rules::to_script_value(&event.change);
                for action in rules::hook(script, ticket_view, &event_view)? {
                    let name = rules::script_name(script);
                    apply(ctx, ticket, &mut outcome, action, &name)
                        .map_err(|message| EngineError::Script { script: name.clone(), message })?;
                }
            }
        }
    }
    Ok(outcome)
}

fn apply(
    ctx: &Context<'_>,
    ticket: &Ticket,
    outcome: &mut Outcome,
    action: HookAction,
    script: &str,
) -> Result<(), String> {
    let definition = &ctx.workflow.definition;
    match action {
        HookAction::SetField { form, field, value } => {
            let Some(definition_form) = definition.forms.get(form.as_str()) else {
                return Err(format!("set_field: the workflow has no form `{form}`"));
            };
            let values = BTreeMap::from([(field.clone(), value.clone())]);
            let problems = forms::check_values(&form, definition_form, &values).into_iter().chain(forms::check_files(
                &form,
                definition_form,
                &values,
                &ticket.attachments,
            ));
            if let Some(problem) = problems.into_iter().next() {
                return Err(format!("set_field: {}: {}", problem.field, problem.message));
            }
            let current = ticket.forms.get(&form).and_then(|f| f.get(&field));
            if current != Some(&value) && !(value.is_null() && current.is_none()) {
                outcome.changes.push(Change::FormSaved { form, values });
            }
        }
        HookAction::AddTag(tag) => {
            let tagged = outcome.changes.iter().any(|c| matches!(c, Change::Tagged { tag: t } if *t == tag));
            if !ticket.tags.contains(&tag) && !tagged {
                outcome.changes.push(Change::Tagged { tag });
            }
        }
        HookAction::Notify { to, message } => {
            if message.trim().is_empty() || message.chars().count() > MAX_TEXT {
                return Err(format!("notify: the message must have 1 to {MAX_TEXT} characters"));
            }
            let names: Vec<&str> = to.iter().map(String::as_str).collect();
            let unknown: Vec<&str> = names
                .iter()
                .copied()
                .filter(|name| {
                    !name.contains('@')
                        && !definition.roles.contains_key(*name)
                        && !["assignee", "responsible", "accountable", "consulted", "informed", CUSTOMER].contains(name)
                })
                .collect();
            if !unknown.is_empty() {
                return Err(format!(
                    "notify: unknown recipient {}; use a role, assignee, responsible, accountable, consulted, \
                     informed, customer or an email address",
                    unknown.join(", ")
                ));
            }
            let to = sla::recipients(definition, ticket, ctx.customer, &names);
            if !to.is_empty() {
                outcome.changes.push(Change::Notified { to, message });
            }
        }
        HookAction::OpenTicket(mut request) => {
            if request.workflow == ticket.workflow {
                return Err("open_ticket: a hook opens tickets in another workflow, not its own".to_string());
            }
            request.customer = CustomerInput { id: Some(ticket.customer.to_string()), ..CustomerInput::default() };
            outcome.open.push((script.to_string(), *request));
        }
    }
    Ok(())
}
