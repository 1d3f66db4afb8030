//! The secondary indexes of a ticket: which (index, value) pairs list it.
//!
//! The store keeps them in step with the snapshot: on every commit it removes the pairs of the
//! old snapshot that the new one no longer has and adds the new ones, in the same transaction.

use crate::engine::Ticket;

/// The (index, value) pairs of `ticket`. `stage` values are `workflow/stage`, since stage ids
/// repeat across workflows.
pub fn entries(ticket: &Ticket) -> Vec<(&'static str, String)> {
    let mut entries = vec![
        ("workflow", ticket.workflow.clone()),
        ("stage", format!("{}/{}", ticket.workflow, ticket.stage)),
        ("stage_id", ticket.stage.clone()),
        ("status", ticket.status.as_str().to_string()),
        ("customer", ticket.customer.to_string()),
        ("priority", ticket.priority.clone()),
    ];
    match &ticket.assignee {
        Some(assignee) => entries.push(("assignee", assignee.to_lowercase())),
        None if !ticket.status.is_finished() => entries.push(("unassigned", "yes".to_string())),
        None => {}
    }
    if let Some(category) = &ticket.category {
        entries.push(("category", category.clone()));
    }
    if let Some(queue) = &ticket.queue {
        entries.push(("queue", queue.clone()));
    }
    entries.extend(ticket.tags.iter().map(|tag| ("tag", tag.clone())));
    entries
}
