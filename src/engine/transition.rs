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
use crate::workflow::model::{Name, Stage, Transition, WorkflowFile};

/// What an actor wants to do, as far as RACI is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// Work the ticket: forms, checklist, steps, moves, assignment (responsible or accountable;
    /// the assignee too where the stage says `assignee_may_work`).
    Work,
    /// Approve or reject (accountable only).
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
///
/// Agents are bound by the stage's RACI. Integrations (other systems) comment anywhere and do
/// the work of a stage only where its responsible or accountable role names the token's person;
/// they never approve. Administrators may do anything; Afterdesk itself (timers, hooks) works
/// but never approves. Nobody is exempt from the guards of a transition.
pub fn permit(workflow: &WorkflowFile, ticket: &Ticket, actor: &Actor, duty: Duty) -> Result<(), EngineError> {
    match actor.kind {
        ActorKind::Admin => return Ok(()),
        // Approval is a person's decision: an integration or Afterdesk itself cannot give it.
        ActorKind::System | ActorKind::Integrator if duty == Duty::Approve => {
            return Err(EngineError::Forbidden(
                "approval must be given by a person of the accountable role, not by an integration".into(),
            ));
        }
        ActorKind::System => return Ok(()),
        ActorKind::Integrator if duty == Duty::Comment => return Ok(()),
        ActorKind::Customer if duty == Duty::Comment && actor.id == ticket.customer.to_string() => return Ok(()),
        ActorKind::Customer => {
            return Err(EngineError::Forbidden("customers may only comment on their tickets".into()));
        }
        ActorKind::Agent | ActorKind::Integrator => {}
    }
    let Some(stage) = workflow.stages.get(ticket.stage.as_str()) else {
        return Err(EngineError::Forbidden(format!("stage `{}` is not in the workflow", ticket.stage)));
    };
    let mine = roles_of(workflow, &actor.id);
    let has = |role: Option<&Name>| role.is_some_and(|r| mine.contains(&r.get_ref().as_str()));
    let raci = &stage.raci;
    // An integration is never "the assignee": it acts for a person only through RACI.
    let assignee =
        actor.kind == ActorKind::Agent && ticket.assignee.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(&actor.id));
    let responsible = has(raci.responsible.as_ref());
    let accountable = has(raci.accountable.as_ref());
    let open_stage = raci.responsible.is_none() && raci.accountable.is_none() && !mine.is_empty();
    let allowed = match duty {
        Duty::Approve => accountable,
        Duty::Work => responsible || accountable || open_stage || (assignee && stage.assignee_may_work),
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
    let name = |role: &Option<Name>| role.as_ref().map_or("none", |r| r.get_ref().as_str()).to_string();
    let who = match actor.kind {
        ActorKind::Integrator => format!("the integration {}", actor.id),
        _ => actor.id.clone(),
    };
    let yours =
        if mine.is_empty() { "no role in this workflow".to_string() } else { format!("roles {}", mine.join(", ")) };
    let needed = match duty {
        Duty::Approve => format!("only the accountable role ({}) may approve", name(&raci.accountable)),
        Duty::Work if stage.assignee_may_work => format!(
            "only the responsible ({}) or accountable ({}) role, or the assignee, may do this",
            name(&raci.responsible),
            name(&raci.accountable)
        ),
        Duty::Work => format!(
            "only the responsible ({}) or accountable ({}) role may do this",
            name(&raci.responsible),
            name(&raci.accountable)
        ),
        Duty::Comment => {
            "only the responsible, accountable or consulted roles, or the assignee, may comment".to_string()
        }
    };
    let note = if assignee && duty == Duty::Work { " (being the assignee is not enough in this stage)" } else { "" };
    Err(EngineError::Forbidden(format!("in stage `{}` {needed}; {who} has {yours}{note}", ticket.stage)))
}

/// Whether separation of duties holds in `stage`: the stage's own setting, else the workflow's.
pub fn separates_duties(workflow: &WorkflowFile, stage: &Stage) -> bool {
    stage.separation_of_duties.unwrap_or(workflow.separation_of_duties)
}

/// Separation of duties: the approver is neither the person who asked for the approval nor the
/// ticket's assignee, who did the work (unless the stage or workflow relaxes it). Checked after
/// [`permit`], so it only ever narrows who may approve.
pub fn check_separation(
    workflow: &WorkflowFile,
    ticket: &Ticket,
    stage: &Stage,
    actor: &Actor,
) -> Result<(), EngineError> {
    if !separates_duties(workflow, stage) {
        return Ok(());
    }
    let same = |person: Option<&str>| person.is_some_and(|p| p.eq_ignore_ascii_case(&actor.id));
    let requester = ticket.approvals.get(&ticket.stage).and_then(|a| a.requested_by.as_deref());
    let role = stage.raci.accountable.as_ref().map_or("accountable", |r| r.get_ref().as_str());
    let why = if same(requester) {
        "asked for this approval"
    } else if same(ticket.assignee.as_deref()) {
        "is assigned the ticket and did the work"
    } else {
        return Ok(());
    };
    Err(EngineError::Forbidden(format!(
        "separation of duties: {} {why} and cannot approve it; another member of the accountable role `{role}` \
         must (stage `{}`)",
        actor.id, ticket.stage
    )))
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
