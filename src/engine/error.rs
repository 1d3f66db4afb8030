//! Why the engine refused a command. Each variant is a distinct answer a caller can act on; the
//! API maps them to HTTP statuses in one place.

use serde::Serialize;

/// One problem with a command, naming what it is about: a request field (`subject`,
/// `customer.email`), a form field (`forms.request.serial`), a checklist item
/// (`checklist.Warranty status checked`), `approval`, or a rule (`rule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    /// What the problem is about.
    pub field: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl FieldProblem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The command's input is invalid (unknown category, bad form value, ...).
    #[error("invalid request: {}", summary(.0))]
    Invalid(Vec<FieldProblem>),
    /// A guard of the workflow refused (required fields, checklist, approval, rule).
    #[error("{}", summary(.0))]
    Refused(Vec<FieldProblem>),
    /// The actor may not do this here (RACI).
    #[error("{0}")]
    Forbidden(String),
    /// The ticket changed since the revision the caller expected.
    #[error("the ticket is at revision {actual}, not {expected}")]
    Conflict {
        /// Revision the caller expected.
        expected: u64,
        /// Revision the ticket is at.
        actual: u64,
    },
    /// The ticket is closed or merged and takes no more work.
    #[error("{0}")]
    Finished(String),
    /// Nothing with this id exists.
    #[error("{0}")]
    NotFound(String),
    /// A rule script failed (error, or a limit hit): the workflow needs fixing.
    #[error("rule {script} failed: {message}")]
    Script {
        /// The script (file path or `inline`).
        script: String,
        /// What went wrong, with the script's line.
        message: String,
    },
}

fn summary(problems: &[FieldProblem]) -> String {
    problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; ")
}
