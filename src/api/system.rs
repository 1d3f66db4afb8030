//! Service routes: health, Prometheus metrics, who am I, and API tokens (administrators).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiJson, Caller};
use super::problem::{ApiError, Problem};
use crate::store::tokens::{TokenRecord, TokenRole};

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(metrics))
        .routes(routes!(me))
        .routes(routes!(create_token, list_tokens))
}

/// Health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the database answers.
    pub status: String,
    /// Workflows loaded.
    pub workflows: usize,
}

/// Whether the server is up and its database answers (no token needed).
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.has_tokens().map_err(|e| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unhealthy", "Database unavailable", e.to_string())
    })?;
    Ok(Json(Health { status: "ok".into(), workflows: state.registry.all_current().len() }))
}

/// Metrics in the Prometheus text format (no token needed).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

/// The caller, as the server sees them.
#[utoipa::path(get, path = "/v1/me", tag = "system", responses((status = 200, body = TokenRecord)),
    security(("bearer" = [])))]
async fn me(caller: Caller) -> Json<TokenRecord> {
    Json(caller.0)
}

/// Body of `POST /v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// The person (email) or system the token is for.
    pub person: String,
    /// What it may do.
    pub role: TokenRole,
}

/// A new token: the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// The secret to send as `Authorization: Bearer ...`.
    pub token: String,
    /// The stored record.
    #[serde(flatten)]
    pub record: TokenRecord,
}

/// Make an API token (administrators).
#[utoipa::path(post, path = "/v1/tokens", tag = "system", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require_admin()?;
    if new.person.trim().is_empty() {
        return Err(ApiError::invalid(vec![crate::engine::FieldProblem::new("person", "must not be empty")]));
    }
    let (token, record) = crate::auth::create_token(&state.store, &new.person, new.role, state.clock.now())?;
    tracing::info!(person = %record.person, role = ?record.role, by = %caller.0.person, "token created");
    Ok((StatusCode::CREATED, Json(CreatedToken { token, record })))
}

/// Tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// Every token (without secrets).
    pub items: Vec<TokenRecord>,
}

/// List API tokens (administrators).
#[utoipa::path(get, path = "/v1/tokens", tag = "system",
    responses((status = 200, body = TokenList), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn list_tokens(State(state): State<AppState>, caller: Caller) -> Result<Json<TokenList>, ApiError> {
    caller.require_admin()?;
    Ok(Json(TokenList { items: state.store.tokens()? }))
}
