//! `/v1/tokens`: make, list and revoke API tokens.
//!
//! Administrators make and list tokens and revoke any; everybody may revoke their own (a
//! leaked token is best revoked by whoever notices first). A revoked token stops working on
//! the very next request and stays in the list with when and by whom it was revoked. A token
//! may carry an expiry; the list shows when each was last used (to the minute).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiJson, ApiPath, Caller};
use super::problem::{ApiError, Problem};
use crate::auth::AuthError;
use crate::engine::FieldProblem;
use crate::store::tokens::{TokenRecord, TokenRole};

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_token, list_tokens)).routes(routes!(revoke_token))
}

/// Body of `POST /v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// The person (email) or system the token is for.
    pub person: String,
    /// What it may do.
    pub role: TokenRole,
    /// When it stops working (RFC 3339, in the future); without it, never.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
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
    responses((status = 201, body = CreatedToken), (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require_admin()?;
    let now = state.clock.now();
    let mut problems = Vec::new();
    if new.person.trim().is_empty() {
        problems.push(FieldProblem::new("person", "must not be empty"));
    }
    if let Some(at) = new.expires_at
        && at <= now
    {
        problems.push(FieldProblem::new("expires_at", format!("must be in the future (now is {})", now.to_rfc3339())));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let (token, record) = crate::auth::create_token(&state.store, &new.person, new.role, new.expires_at, now)?;
    tracing::info!(id = %record.id, person = %record.person, role = ?record.role, expires_at = ?record.expires_at,
        by = %caller.0.person, "token created");
    Ok((StatusCode::CREATED, Json(CreatedToken { token, record })))
}

/// Tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// Every token (without secrets), oldest first, revoked ones included.
    pub items: Vec<TokenRecord>,
}

/// List API tokens (administrators), with their expiry, last use and revocation.
#[utoipa::path(get, path = "/v1/tokens", tag = "system",
    responses((status = 200, body = TokenList), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn list_tokens(State(state): State<AppState>, caller: Caller) -> Result<Json<TokenList>, ApiError> {
    caller.require_admin()?;
    Ok(Json(TokenList { items: state.store.tokens()? }))
}

/// Revoke a token at once (administrators; anybody for their own tokens). Revoking a revoked
/// token again changes nothing.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "system",
    params(("id" = String, Path, description = "The token's id, as listed")),
    responses((status = 204, description = "Revoked"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "The token is set in the configuration file", body = Problem,
               content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = |id: &str| {
        ApiError::not_found(format!("there is no token {id}"))
            .with_errors(vec![FieldProblem::new("id", "no such token; see GET /v1/tokens")])
    };
    if caller.require_admin().is_err() {
        let owner = crate::auth::find(&state.store, &id)?.map(|record| record.person);
        match owner {
            Some(person) if person.eq_ignore_ascii_case(&caller.0.person) => {}
            // Somebody else's token, or none: the same answer, so ids cannot be probed.
            _ => {
                return Err(ApiError::forbidden(format!(
                    "only administrators may revoke other people's tokens; {} may revoke their own",
                    caller.0.person
                )));
            }
        }
    }
    let (store, configured, by, now) =
        (state.store.clone(), state.config_tokens.clone(), caller.0.person.clone(), state.clock.now());
    let target = id.clone();
    let revoked = tokio::task::spawn_blocking(move || crate::auth::revoke(&store, &configured, &target, &by, now))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match revoked {
        Ok(record) => {
            tracing::info!(id = %record.id, person = %record.person, by = %caller.0.person, "token revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(AuthError::NoSuchToken(_)) => Err(not_found(&id)),
        Err(error @ AuthError::Configured(_)) => {
            Err(ApiError::new(StatusCode::CONFLICT, "configured-token", "Set in the configuration", error.to_string()))
        }
        Err(AuthError::Store(error)) => Err(error.into()),
        Err(other) => Err(ApiError::internal(&other)),
    }
}
