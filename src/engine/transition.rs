//! Guards: who may act on a ticket (RACI), and what must be true before it leaves a stage
//! (forms complete, checklist ticked, approval given, rule condition).
//!
//! Every guard that fails is reported, each with a precise reason, so an agent fixes everything
//! in one go instead of discovering problems one refusal at a time.

use rhai::Dynamic;

use super::error::{EngineError, FieldProblem};
use super::event::{Actor, ActorKind};
use super::forms::missing_required;
use super::rules;
use super::ticket::Ticket;
use crate::workflow::Workflow;
use crate::workflow::model::{Stage, Transition, WorkflowFile};

/// What an actor wants to do, as far as RACI is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// Work the ticket: forms, checklist, steps, moves, assignment (responsible, accountable,
    /// or the assignee).
    Work,
    /// Approve (accountable only).
    Approve,
    /// Comment (responsible, accountable, consulted, or the assignee).
    Comment,
}

/// The roles of `workflow` that `person` is a member of.
pub fn roles_of<'a>(workflow: &'a WorkflowFile, person: &str) -> Vec<&'a str> {
    workflow
        .roles
        .iter()
        .filter(|(_, members)| members.iter().any(|m| m.get_ref().eq_ignore_ascii_case(person)))
        .map(|(role, _)| role.get_ref().as_str())
        .collect()
}

/// Whether `actor` may do `duty` on `ticket` in its current stage.
pub fn permit(workflow: &WorkflowFile, ticket: &Ticket, actor: &Actor, duty: Duty) -> Result<(), EngineError> {
    match actor.kind {
        ActorKind::Admin => return Ok(()),
        // Approval is a person's decision: an integration or Afterdesk itself cannot give it.
        ActorKind::System | ActorKind::Integrator if duty == Duty::Approve => {
            return Err(EngineError::Forbidden(
                "approval must be given by a person of the accountable role, not by an integration".into(),
            ));
        }
        ActorKind::System | ActorKind::Integrator => return Ok(()),
        ActorKind::Customer if duty == Duty::Comment && actor.id == ticket.customer.to_string() => return Ok(()),
        ActorKind::Customer => {
            return Err(EngineError::Forbidden("customers may only comment on their tickets".into()));
        }
        ActorKind::Agent => {}
    }
    let Some(stage) = workflow.stages.get(ticket.stage.as_str()) else {
        return Err(EngineError::Forbidden(format!("stage `{}` is not in the workflow", ticket.stage)));
    };
    let mine = roles_of(workflow, &actor.id);
    let has = |role: Option<&crate::workflow::model::Name>| role.is_some_and(|r| mine.contains(&r.get_ref().as_str()));
    let raci = &stage.raci;
    let assignee = ticket.assignee.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(&actor.id));
    let responsible = has(raci.responsible.as_ref());
    let accountable = has(raci.accountable.as_ref());
    let open_stage = raci.responsible.is_none() && raci.accountable.is_none() && !mine.is_empty();
    let allowed = match duty {
        Duty::Approve => accountable,
        Duty::Work => responsible || accountable || assignee || open_stage,
        Duty::Comment => {
            responsible
                || accountable
                || assignee
                || open_stage
                || raci.consulted.iter().any(|c| mine.contains(&c.get_ref().as_str()))
        }
    };
    if allowed {
        return Ok(());
    }
    let name = |role: &Option<crate::workflow::model::Name>| {
        role.as_ref().map_or("none", |r| r.get_ref().as_str()).to_string()
    };
    let yours =
        if mine.is_empty() { "no role in this workflow".to_string() } else { format!("roles {}", mine.join(", ")) };
    let needed = match duty {
        Duty::Approve => format!("only the accountable role ({}) may approve", name(&raci.accountable)),
        Duty::Work => format!(
            "only the responsible ({}) or accountable ({}) role, or the assignee, may do this",
            name(&raci.responsible),
            name(&raci.accountable)
        ),
        Duty::Comment => {
            "only the responsible, accountable or consulted roles, or the assignee, may comment".to_string()
        }
    };
    Err(EngineError::Forbidden(format!("in stage `{}` {needed}; {} has {yours}", ticket.stage, actor.id)))
}

/// Finds a transition of the ticket's current stage by name.
pub fn find<'a>(stage_id: &str, stage: &'a Stage, name: &str) -> Result<&'a Transition, EngineError> {
    stage.transitions.iter().find(|t| t.name.get_ref() == name).ok_or_else(|| {
        let available: Vec<&str> = stage.transitions.iter().map(|t| t.name.get_ref().as_str()).collect();
        let list = if available.is_empty() { "none".to_string() } else { available.join(", ") };
        EngineError::Invalid(vec![FieldProblem::new(
            "name",
            format!("stage `{stage_id}` has no transition `{name}`; available: {list}"),
        )])
    })
}

/// Every reason `transition` may not be taken now; empty when it may.
pub fn check_guards(
    workflow: &Workflow,
    ticket: &Ticket,
    stage: &Stage,
    transition: &Transition,
    view: &Dynamic,
) -> Result<Vec<FieldProblem>, EngineError> {
    let definition = &workflow.definition;
    let mut refusals = Vec::new();
    if transition.requires_forms {
        for form_id in &stage.forms {
            if let Some(form) = definition.forms.get(form_id.get_ref().as_str()) {
                refusals.extend(missing_required(form_id.get_ref(), form, ticket.forms.get(form_id.get_ref())));
            }
        }
    }
    if transition.requires_checklist {
        let ticked = ticket.checklist.get(&ticket.stage);
        for item in &stage.checklist {
            if !ticked.is_some_and(|t| t.contains(item.get_ref())) {
                refusals.push(FieldProblem::new(
                    format!("checklist.{}", item.get_ref()),
                    format!("checklist item \"{}\" is not ticked", item.get_ref()),
                ));
            }
        }
    }
    if transition.requires_approval {
        let approved = ticket.approvals.get(&ticket.stage).is_some_and(|a| a.approved_by.is_some());
        if !approved {
            let role = stage.raci.accountable.as_ref().map_or("accountable", |r| r.get_ref().as_str());
            refusals.push(FieldProblem::new("approval", format!("needs approval by the accountable role `{role}`")));
        }
    }
    if let Some(reference) = &transition.when
        && let Some(script) = workflow.scripts.get(reference.get_ref())
        && let Some(reason) = rules::condition(script, view)?
    {
        refusals.push(FieldProblem::new("rule", reason));
    }
    Ok(refusals)
}
