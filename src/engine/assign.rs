//! Assignment: which member of the routed role takes a new ticket.
//!
//! Routing ([`super::routing`]) chose a queue, a role and a strategy; this module picks the
//! person, deterministically, from facts the caller gathers in a [`Team`]: each person's open
//! load, who is unavailable, and whose turn it is in each role. It does no I/O: the writer keeps
//! those facts (load in memory, turns and availability durable) and passes them in.
//!
//! - **sticky** (when the rule says so): the agent who last served the customer, if they are a
//!   member of the role and available;
//! - **round_robin**: members take turns in the order the workflow lists them, skipping
//!   unavailable people; the turn moves past the person picked;
//! - **least_loaded**: the available member with the fewest open tickets (ties: the one listed
//!   first);
//! - **manual** (or no strategy): nobody; the ticket waits in its queue.
//!
//! A role with no available member leaves the ticket unassigned and says so in a
//! [`Change::NotAssigned`] event. Nobody unavailable is ever picked. SLA escalations that
//! reassign a ticket use [`escalate_to`]: the least-loaded available member of the role.

use std::collections::{HashMap, HashSet};

use super::customer::History;
use super::event::{Actor, Change};
use super::routing::Route;
use crate::workflow::model::Strategy;
use crate::workflow::model::WorkflowFile;

/// Actor id of assignments by turn.
pub const ROUND_ROBIN: &str = "round-robin";
/// Actor id of assignments to the least-loaded member.
pub const LEAST_LOADED: &str = "least-loaded";
/// Actor id of assignments to the agent who last served the customer.
pub const STICKY: &str = "sticky-assignment";

/// What assignment needs to know about the people of a workflow, gathered by the caller.
/// People are keyed by their id as written in `[roles]`, lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Team {
    /// Open tickets per person (missing: none).
    pub load: HashMap<String, u32>,
    /// People unavailable now (absent, on leave, off shift).
    pub away: HashSet<String>,
    /// Next round-robin position per role of the workflow (missing: 0).
    pub turns: HashMap<String, u64>,
}

impl Team {
    /// Whether `person` may be given work now.
    pub fn available(&self, person: &str) -> bool {
        !self.away.contains(&person.to_lowercase())
    }

    /// Open tickets of `person`.
    pub fn load_of(&self, person: &str) -> u32 {
        self.load.get(&person.to_lowercase()).copied().unwrap_or(0)
    }
}

/// Who was picked, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// A person: the change assigning them, and the system actor naming the strategy.
    Person {
        /// The person, as written in `[roles]`.
        person: String,
        /// Index of the person in the role's member list.
        index: usize,
        /// The strategy that picked them (`round-robin`, `least-loaded`, `sticky-assignment`).
        by: &'static str,
    },
    /// Nobody could take it.
    Nobody {
        /// Why.
        reason: String,
    },
    /// The route asks for no automatic assignment.
    Manual,
}

impl Pick {
    /// The change recording the pick and who made it; `None` for manual routing.
    pub fn change(&self, role: &str) -> Option<(Actor, Change)> {
        match self {
            Self::Person { person, by, .. } => {
                Some((Actor::system(*by), Change::Assigned { assignee: Some(person.clone()), queue: None }))
            }
            Self::Nobody { reason } => Some((
                Actor::system("assignment"),
                Change::NotAssigned { role: role.to_string(), reason: reason.clone() },
            )),
            Self::Manual => None,
        }
    }
}

/// Picks the member of the routed role who takes a new ticket.
pub fn pick(workflow: &WorkflowFile, route: &Route, team: &Team, history: &History) -> Pick {
    let (Some(role), Some(strategy)) = (&route.role, route.strategy) else { return Pick::Manual };
    if strategy == Strategy::Manual {
        return Pick::Manual;
    }
    let members: Vec<&str> =
        workflow.roles.get(role.as_str()).map(|m| m.iter().map(|p| p.get_ref().as_str()).collect()).unwrap_or_default();
    if members.is_empty() {
        return Pick::Nobody { reason: format!("role `{role}` has no members") };
    }
    if !members.iter().any(|m| team.available(m)) {
        return Pick::Nobody { reason: format!("every member of role `{role}` is unavailable") };
    }
    if route.sticky
        && let Some(last) = history.last_agent()
        && let Some(index) = members.iter().position(|m| m.eq_ignore_ascii_case(last))
        && team.available(members[index])
    {
        return Pick::Person { person: members[index].to_string(), index, by: STICKY };
    }
    match strategy {
        Strategy::RoundRobin => {
            let n = members.len();
            let start = (team.turns.get(role.as_str()).copied().unwrap_or(0) % n as u64) as usize;
            (0..n).map(|k| (start + k) % n).find(|&i| team.available(members[i])).map_or(Pick::Manual, |index| {
                Pick::Person { person: members[index].to_string(), index, by: ROUND_ROBIN }
            })
        }
        Strategy::LeastLoaded => members
            .iter()
            .enumerate()
            .filter(|(_, m)| team.available(m))
            .min_by_key(|(i, m)| (team.load_of(m), *i))
            .map_or(Pick::Manual, |(index, m)| Pick::Person { person: m.to_string(), index, by: LEAST_LOADED }),
        Strategy::Manual => Pick::Manual,
    }
}

/// Who an escalation (`reassign_to = "role"`) hands a ticket to: the available member of `role`
/// with the fewest open tickets other than the current assignee (ties: the one listed first);
/// `None` when nobody else in the role is available.
pub fn escalate_to(workflow: &WorkflowFile, role: &str, current: Option<&str>, team: &Team) -> Option<String> {
    let members = workflow.roles.get(role)?;
    members
        .iter()
        .enumerate()
        .map(|(i, m)| (i, m.get_ref().as_str()))
        .filter(|(_, m)| team.available(m) && !current.is_some_and(|c| c.eq_ignore_ascii_case(m)))
        .min_by_key(|(i, m)| (team.load_of(m), *i))
        .map(|(_, m)| m.to_string())
}

/// The round-robin position after `person` was picked by turn in `role`: the next member.
/// `None` when the assignment was not by turn (sticky and least-loaded picks leave the turn).
pub fn turn_after(workflow: &WorkflowFile, role: &str, person: &str, by: &str) -> Option<u64> {
    if by != ROUND_ROBIN {
        return None;
    }
    let members = workflow.roles.get(role)?;
    let index = members.iter().position(|m| m.get_ref().eq_ignore_ascii_case(person))?;
    Some(index as u64 + 1)
}
