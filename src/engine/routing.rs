//! Routing: which queue a new ticket lands in and which role it is assigned within.
//!
//! The workflow's rules are tried in order; the first that matches decides. A rule matches when
//! each of its conditions (category, priority, channel lists) contains the ticket's value; a
//! script rule decides itself or passes (`()`). Picking a person within the role is the job of
//! assignment, which needs the team's load and availability.

use rhai::Dynamic;

use super::error::EngineError;
use super::rules;
use super::ticket::Ticket;
use crate::workflow::Workflow;
use crate::workflow::model::{RoutingRule, Strategy};

/// Where a ticket goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Queue.
    pub queue: Option<String>,
    /// Role whose members may be assigned.
    pub role: Option<String>,
    /// How a member is picked.
    pub strategy: Option<Strategy>,
    /// Prefer the agent who last served the customer.
    pub sticky: bool,
}

fn matches(list: &[crate::workflow::model::Name], value: Option<&str>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.iter().any(|item| item.get_ref() == v))
}

fn strategy(text: &str) -> Option<Strategy> {
    match text {
        "round_robin" => Some(Strategy::RoundRobin),
        "least_loaded" => Some(Strategy::LeastLoaded),
        "manual" => Some(Strategy::Manual),
        _ => None,
    }
}

fn from_rule(rule: &RoutingRule) -> Route {
    Route {
        queue: rule.queue.as_ref().map(|q| q.get_ref().clone()),
        role: rule.role.as_ref().map(|r| r.get_ref().clone()),
        strategy: rule.assign.as_ref().map(|a| *a.get_ref()),
        sticky: rule.sticky,
    }
}

/// Routes `ticket` (freshly opened) by the rules of `workflow`; `view` is what scripts see.
pub fn route(workflow: &Workflow, ticket: &Ticket, view: &Dynamic) -> Result<Route, EngineError> {
    for rule in &workflow.definition.routing {
        let conditions = matches(&rule.category, ticket.category.as_deref())
            && matches(&rule.priority, Some(&ticket.priority))
            && matches(&rule.channel, ticket.channel.as_deref());
        if !conditions {
            continue;
        }
        let Some(reference) = &rule.script else { return Ok(from_rule(rule)) };
        let Some(script) = workflow.scripts.get(reference.get_ref()) else { continue };
        if let Some(decision) = rules::route(script, view)? {
            let mut route = from_rule(rule);
            route.queue = decision.queue.or(route.queue);
            route.role = decision.role.or(route.role);
            if let Some(text) = decision.assign {
                route.strategy = Some(strategy(&text).ok_or_else(|| EngineError::Script {
                    script: rules::script_name(script),
                    message: format!("returned assign = \"{text}\"; use round_robin, least_loaded or manual"),
                })?);
            }
            if let Some(role) = &route.role
                && !workflow.definition.roles.contains_key(role.as_str())
            {
                return Err(EngineError::Script {
                    script: rules::script_name(script),
                    message: format!("returned role \"{role}\", which the workflow does not define"),
                });
            }
            return Ok(route);
        }
    }
    Ok(Route::default())
}
