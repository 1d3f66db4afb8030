//! What a caller may read: administrators and integrations read every ticket and customer;
//! an agent reads those of the workflows in which they hold a role (in the current version).
//!
//! A ticket or customer out of scope is answered 404 like one that does not exist, so its
//! existence is not given away; listings just leave it out. A customer is in an agent's scope
//! when one of their tickets is, or when they have no ticket yet (a record nobody's workflow
//! claims) and the agent holds any role at all.

use std::collections::BTreeSet;

use super::extract::Caller;
use crate::engine::CustomerId;
use crate::registry::Registry;
use crate::store::tokens::TokenRole;
use crate::store::{Store, StoreError};

/// The workflows whose tickets and customers a caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadScope {
    /// Every workflow (administrators, integrations).
    All,
    /// These workflows only (agents: where they hold a role).
    Workflows(BTreeSet<String>),
}

impl ReadScope {
    /// The scope of `caller` with the workflows loaded now.
    pub fn of(caller: &Caller, registry: &Registry) -> Self {
        match caller.0.role {
            TokenRole::Admin | TokenRole::Integrator => Self::All,
            TokenRole::Agent => Self::of_agent(&caller.0.person, registry),
        }
    }

    /// The scope of agent `person` (a person signed in to the pages, or an agent's token): the
    /// workflows loaded now in which they hold a role.
    pub fn of_agent(person: &str, registry: &Registry) -> Self {
        Self::Workflows(
            registry
                .all_current()
                .iter()
                .filter(|w| !crate::engine::transition::roles_of(&w.definition, person).is_empty())
                .map(|w| w.id().to_string())
                .collect(),
        )
    }

    /// Whether tickets of `workflow` are in scope.
    pub fn sees(&self, workflow: &str) -> bool {
        match self {
            Self::All => true,
            Self::Workflows(set) => set.contains(workflow),
        }
    }

    /// Whether `customer` is in scope: one of their tickets is, or they have none yet and the
    /// caller may read some workflow. Stops at the first ticket in scope.
    pub fn sees_customer(&self, store: &Store, customer: CustomerId) -> Result<bool, StoreError> {
        let set = match self {
            Self::All => return Ok(true),
            Self::Workflows(set) if set.is_empty() => return Ok(false),
            Self::Workflows(set) => set,
        };
        let ids = store.customer_tickets(customer)?;
        if ids.is_empty() {
            return Ok(true);
        }
        for id in ids.into_iter().rev() {
            if store.ticket(id)?.is_some_and(|ticket| set.contains(&ticket.workflow)) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
