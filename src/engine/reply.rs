//! The customer writes: a reply by mail, or relayed by an integration. It is recorded with its
//! files; unless it is mail nobody should answer (an automatic reply), it then moves the ticket
//! on: out of a waiting stage by the stage's `on_customer_reply`, and back to work when the
//! ticket was resolved or closed (`reply_when_closed = "reopen"`, the default).

use super::attachment::Attachment;
use super::decide::{Context, MAX_TEXT, reopen, take};
use super::error::{EngineError, FieldProblem};
use super::event::{Actor, ActorKind, Change, MailMeta};
use super::ticket::{Status, Ticket};
use crate::workflow::model::ReplyWhenClosed;

/// Who reopens or moves a ticket on a customer's reply.
pub const ACTOR: &str = "customer-reply";

/// The changes a customer's reply causes on `ticket`.
pub fn customer_reply(
    ctx: &Context<'_>,
    ticket: &Ticket,
    actor: &Actor,
    body: &str,
    mail: Option<&MailMeta>,
    attachments: &[Attachment],
) -> Result<Vec<Change>, EngineError> {
    let own = actor.kind == ActorKind::Customer && actor.id == ticket.customer.to_string();
    if !(own || matches!(actor.kind, ActorKind::Integrator | ActorKind::System | ActorKind::Admin)) {
        return Err(EngineError::Forbidden(
            "a customer's reply comes from the customer, an integration or inbound mail; staff write comments".into(),
        ));
    }
    if ticket.status == Status::Merged {
        return Err(EngineError::Finished(format!(
            "ticket {} was merged into another ticket; reply on that one",
            ticket.number
        )));
    }
    let definition = &ctx.workflow.definition;
    let when_closed = definition.reply_when_closed.as_ref().map(|r| *r.get_ref()).unwrap_or_default();
    if ticket.status == Status::Closed && when_closed == ReplyWhenClosed::FollowUp {
        return Err(EngineError::Finished(format!(
            "ticket {} is closed and its workflow opens a follow-up ticket for a reply (reply_when_closed = \
             \"follow_up\"): open a new ticket",
            ticket.number
        )));
    }
    if body.trim().is_empty() && attachments.is_empty() {
        return Err(EngineError::Invalid(vec![FieldProblem::new("body", "is empty")]));
    }
    if body.chars().count() > MAX_TEXT {
        return Err(EngineError::Invalid(vec![FieldProblem::new(
            "body",
            format!("must be at most {MAX_TEXT} characters"),
        )]));
    }
    let mut changes = vec![Change::CustomerReplied { body: body.trim().to_string(), mail: mail.cloned() }];
    changes.extend(attachments.iter().map(|a| Change::Attached { attachment: a.clone() }));
    if mail.is_some_and(|m| m.unanswered.is_some()) {
        return Ok(changes);
    }
    let moved = match ticket.status {
        Status::Closed | Status::Resolved => {
            reopen(ctx, ticket, &Actor::system(ACTOR), &Some("the customer wrote again".to_string()))
        }
        Status::Open => {
            let stage = definition.stages.get(ticket.stage.as_str());
            let target = stage.and_then(|s| s.on_customer_reply.as_ref()).map(|t| t.get_ref().as_str());
            let way = stage.zip(target).and_then(|(stage, target)| {
                stage.transitions.iter().find(|t| t.to.get_ref() == target).map(|t| (stage, t.name.get_ref()))
            });
            match way {
                Some((stage, name)) => take(ctx, ticket, stage, name),
                None => Ok(Vec::new()),
            }
        }
        Status::Merged => Ok(Vec::new()),
    };
    // A reply is never lost because the ticket cannot move (a guard is not met): it is
    // recorded, and the ticket stays where it is for staff to move.
    if let Ok(moved) = moved {
        changes.extend(moved);
    }
    Ok(changes)
}
