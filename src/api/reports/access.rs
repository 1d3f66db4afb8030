//! Who may read a workflow's reports, and how much of them.
//!
//! Administrators and integrations (a BI tool, a dashboard: read-only systems) read every
//! figure; so do people holding any of the workflow's accountable roles (a stage's
//! `raci.accountable`: the managers). Other people with a role in the workflow read their own
//! figures only (the tickets credited to them). Anyone else is refused.

use super::super::extract::Caller;
use super::super::problem::ApiError;
use crate::store::tokens::TokenRole;
use crate::workflow::model::WorkflowFile;

/// How much of a workflow's reports a caller reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every figure (administrators, integrations, accountable roles).
    All,
    /// The figures of this agent's tickets only.
    Own(String),
}

impl Access {
    /// The access of `caller` to the reports of `workflow`; 403 with the reason for someone
    /// without a role in it.
    pub fn of(caller: &Caller, workflow: &WorkflowFile) -> Result<Self, ApiError> {
        Self::of_person(caller.0.role, &caller.0.person, workflow).map_err(ApiError::forbidden)
    }

    /// The access of `person`, signed in or holding a token as `role`, to the reports of
    /// `workflow` (the one rule for the API and the pages); the reason for someone without a
    /// role in it.
    pub fn of_person(role: TokenRole, person: &str, workflow: &WorkflowFile) -> Result<Self, String> {
        match role {
            TokenRole::Admin | TokenRole::Integrator => return Ok(Self::All),
            TokenRole::Agent => {}
        }
        let roles = crate::engine::transition::roles_of(workflow, person);
        if roles.is_empty() {
            return Err(format!(
                "{person} holds no role in workflow `{}`: its reports are for its managers and agents",
                workflow.id.get_ref()
            ));
        }
        let accountable = workflow
            .stages
            .values()
            .filter_map(|stage| stage.raci.accountable.as_ref())
            .any(|role| roles.contains(&role.get_ref().as_str()));
        Ok(if accountable { Self::All } else { Self::Own(person.to_lowercase()) })
    }

    /// The agent the figures are limited to, if any.
    pub fn agent(&self) -> Option<&str> {
        match self {
            Self::All => None,
            Self::Own(agent) => Some(agent),
        }
    }

    /// The agent filter a request may use: anything for full access; for own access, only the
    /// caller (also when the request names nobody).
    pub fn agent_filter(&self, asked: Option<String>) -> Result<Option<String>, ApiError> {
        match (self, asked) {
            (Self::All, asked) => Ok(asked),
            (Self::Own(me), None) => Ok(Some(me.clone())),
            (Self::Own(me), Some(asked)) if asked.eq_ignore_ascii_case(me) => Ok(Some(me.clone())),
            (Self::Own(me), Some(asked)) => Err(ApiError::forbidden(format!(
                "{me} may read their own figures only, not those of {asked}; managers read everyone's"
            ))),
        }
    }
}
