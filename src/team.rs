//! What the writer knows about people, for assignment: open loads, availability, and the
//! round-robin turn of each role.
//!
//! The writer is the only writer, so it can keep these facts in memory and hand the engine a
//! [`Team`] per new ticket without reading the store: loads are counted once from the indexes
//! at start and then follow every ticket the writer changes; availability records are read once
//! and follow every change the writer makes; turns are read from the store the first time a role
//! needs one. If a group fails to be written, [`TeamFacts::reload`] forgets what that group
//! changed by reading everything again.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::engine::{Status, Team, Ticket};
use crate::store::people::Availability;
use crate::store::{Store, StoreError};
use crate::workflow::Workflow;

/// The writer's memory of people.
#[derive(Debug, Default)]
pub struct TeamFacts {
    loads: HashMap<String, u32>,
    away: HashMap<String, Availability>,
    turns: HashMap<(String, String), u64>,
}

/// Whether a ticket counts towards its assignee's load, and whose.
fn counted(ticket: &Ticket) -> Option<String> {
    (ticket.status == Status::Open).then(|| ticket.assignee.as_ref().map(|a| a.to_lowercase())).flatten()
}

impl TeamFacts {
    /// Reads loads and availability from the store.
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        Ok(Self { loads: store.open_loads()?, away: store.availabilities()?, turns: HashMap::new() })
    }

    /// Reads everything again (after a failed write); on error keeps going with what it has.
    pub fn reload(&mut self, store: &Store) {
        match Self::load(store) {
            Ok(fresh) => *self = fresh,
            Err(error) => {
                tracing::error!(%error, "cannot read people's loads and availability again");
                self.turns.clear();
            }
        }
    }

    /// The facts the engine needs to assign a new ticket of `workflow`.
    pub fn team(&mut self, store: &Store, workflow: &Workflow, now: DateTime<Utc>) -> Result<Team, StoreError> {
        let mut team = Team::default();
        for (role, members) in &workflow.definition.roles {
            for member in members {
                let id = member.get_ref().to_lowercase();
                if let Some(load) = self.loads.get(&id) {
                    team.load.insert(id.clone(), *load);
                }
                if self.away.get(&id).is_some_and(|a| a.away_at(now)) {
                    team.away.insert(id);
                }
            }
            let key = (workflow.id().to_string(), role.get_ref().clone());
            let turn = match self.turns.get(&key) {
                Some(turn) => *turn,
                None => {
                    let turn = store.turn(&key.0, &key.1)?;
                    self.turns.insert(key, turn);
                    turn
                }
            };
            team.turns.insert(role.get_ref().clone(), turn);
        }
        Ok(team)
    }

    /// Follows a ticket's change from `before` (`None`: new) to `after`.
    pub fn ticket_changed(&mut self, before: Option<&Ticket>, after: &Ticket) {
        let (old, new) = (before.and_then(counted), counted(after));
        if old == new {
            return;
        }
        if let Some(old) = old
            && let Some(load) = self.loads.get_mut(&old)
        {
            *load = load.saturating_sub(1);
        }
        if let Some(new) = new {
            *self.loads.entry(new).or_insert(0) += 1;
        }
    }

    /// Records a role's next round-robin position.
    pub fn turn_moved(&mut self, workflow: &str, role: &str, next: u64) {
        self.turns.insert((workflow.to_string(), role.to_string()), next);
    }

    /// Records a person's availability.
    pub fn availability_set(&mut self, person: &str, availability: Availability) {
        self.away.insert(person.trim().to_lowercase(), availability);
    }

    /// A person's availability as the writer knows it.
    pub fn availability(&self, person: &str) -> Option<&Availability> {
        self.away.get(&person.trim().to_lowercase())
    }
}
