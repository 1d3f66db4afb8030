//! `/v1/sessions`: the people signed in to the pages, listed and revoked by administrators.
//!
//! A session is opened by a one-time sign-in link ([`crate::web::signin`]); revoking it signs
//! that browser out on its very next request. Revoked and ended sessions stay in the list with
//! when and by whom they were ended.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiPath, ApiQuery, Caller};
use super::problem::{ApiError, Problem};
use crate::engine::FieldProblem;
use crate::store::sessions::SessionRecord;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_sessions)).routes(routes!(revoke_session))
}

/// Sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// The sessions, newest first.
    pub items: Vec<SessionRecord>,
}

/// Which sessions to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// Only this person's sessions (case-insensitive).
    #[serde(default)]
    pub person: Option<String>,
    /// Only sessions that still work (not revoked, not expired).
    #[serde(default)]
    pub active: Option<bool>,
}

/// List the sessions of the pages (administrators): who, since when, last seen, browser, and
/// whether and by whom each was ended.
#[utoipa::path(get, path = "/v1/sessions", tag = "system", params(SessionQuery),
    responses((status = 200, body = SessionList), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn list_sessions(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<SessionQuery>,
) -> Result<Json<SessionList>, ApiError> {
    caller.require_admin()?;
    let now = state.clock.now();
    let items = state
        .store
        .sessions()?
        .into_iter()
        .filter(|s| query.person.as_deref().is_none_or(|p| s.person.eq_ignore_ascii_case(p.trim())))
        .filter(|s| query.active.is_none_or(|active| active == (s.revoked_at.is_none() && s.expires_at > now)))
        .collect();
    Ok(Json(SessionList { items }))
}

/// Revoke a session at once (administrators): its browser is signed out on its next request.
/// Revoking it again changes nothing.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "system",
    params(("id" = String, Path, description = "The session's id, as listed")),
    responses((status = 204, description = "Revoked"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn revoke_session(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    match state.store.revoke_session(&id, None, state.clock.now(), &caller.0.person)? {
        Some(record) => {
            tracing::info!(id = %record.id, person = %record.person, by = %caller.0.person, "session revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(ApiError::not_found(format!("there is no session {id}"))
            .with_errors(vec![FieldProblem::new("id", "no such session; see GET /v1/sessions")])),
    }
}
