//! Errors as HTTP answers: every 4xx and 5xx is an RFC 9457 `application/problem+json` body with
//! `type`, `title`, `status`, `detail` and, for invalid input, the list of `{field, message}`.
//!
//! This is the one place errors become statuses. A 500 never shows internals: the cause is
//! logged with the request and the caller gets a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::engine::{EngineError, FieldProblem};
use crate::registry::RegistryError;
use crate::store::StoreError;
use crate::writer::WriteError;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem detail (RFC 9457).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// For invalid input: each field and what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    problem: Problem,
}

impl ApiError {
    /// A problem of kind `slug` (`/problems/{slug}`).
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        let problem = Problem {
            kind: format!("/problems/{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        };
        Self { status, problem }
    }

    /// Adds field problems.
    pub fn with_errors(mut self, errors: Vec<FieldProblem>) -> Self {
        self.problem.errors = errors;
        self
    }

    /// 400: the request cannot be understood.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail)
    }

    /// 400 naming a field.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", format!("{field}: {message}"))
            .with_errors(vec![FieldProblem::new(field, message)])
    }

    /// 422: well-formed, but invalid.
    pub fn invalid(errors: Vec<FieldProblem>) -> Self {
        let detail = summary(&errors);
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation-error", "Invalid request", detail).with_errors(errors)
    }

    /// 401: no or unknown token.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required", detail)
    }

    /// 403: known caller, not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 412: `If-Match` did not match.
    pub fn precondition_failed(expected: u64, actual: u64) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "The ticket has changed",
            format!("If-Match asked for revision {expected}, the ticket is at revision {actual}; read it again"),
        )
    }

    /// 500 without internals; the cause is logged.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "Internal error",
            "something went wrong on the server; it has been logged",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

fn summary(errors: &[FieldProblem]) -> String {
    match errors {
        [] => "the request is invalid".to_string(),
        [one] => format!("{}: {}", one.field, one.message),
        [first, rest @ ..] => format!("{}: {} (and {} more)", first.field, first.message, rest.len()),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Invalid(errors) => Self::invalid(errors),
            EngineError::Refused(errors) => {
                let detail = summary(&errors);
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", "The workflow does not allow this yet", detail)
                    .with_errors(errors)
            }
            EngineError::Forbidden(reason) => Self::forbidden(reason),
            EngineError::Conflict { expected, actual } => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "The ticket has changed",
                format!("expected revision {expected}, the ticket is at revision {actual}"),
            ),
            EngineError::Finished(reason) => {
                Self::new(StatusCode::CONFLICT, "ticket-finished", "The ticket is finished", reason)
            }
            EngineError::NotFound(what) => Self::not_found(what),
            EngineError::Script { script, message } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rule-failed",
                "A workflow rule failed",
                format!("{script}: {message}"),
            )
            .with_errors(vec![FieldProblem::new("rule", format!("{script}: {message}"))]),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::Engine(error) => error.into(),
            WriteError::Stopped => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                "The server is shutting down",
                "try again in a moment",
            ),
            other => Self::internal(&other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::internal(&error)
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        Self::internal(&error)
    }
}
