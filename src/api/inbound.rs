//! `/v1/inbound`: the mail Afterdesk received (by the SMTP receiver or the raw-message route),
//! newest first, with what became of each message. Administrators only: mail carries
//! customers' details.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use ulid::Ulid;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiQuery, Caller};
use super::problem::{ApiError, Problem};
use crate::engine::FieldProblem;
use crate::store::inbound::InboundMail;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_inbound))
}

/// Query of `GET /v1/inbound`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboundQuery {
    /// Only messages received before this one: the `next_cursor` of the previous page.
    before: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<usize>,
}

/// A page of received messages, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboundPage {
    /// The messages (the raw message itself is in the blob store, by `raw_sha256`).
    pub messages: Vec<InboundMail>,
    /// Give this as `before` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// List received mail, newest first: envelope, size, and what became of each message
/// (`pending` until processed). Administrators only.
#[utoipa::path(get, path = "/v1/inbound", tag = "inbound", params(InboundQuery),
    responses((status = 200, body = InboundPage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn list_inbound(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<InboundQuery>,
) -> Result<Json<InboundPage>, ApiError> {
    caller.require_admin()?;
    let limit = match query.limit {
        None => 50,
        Some(limit) if (1..=500).contains(&limit) => limit,
        Some(_) => return Err(ApiError::invalid(vec![FieldProblem::new("limit", "must be from 1 to 500")])),
    };
    let before = query
        .before
        .as_deref()
        .map(|text| {
            Ulid::from_string(text)
                .map_err(|_| ApiError::invalid(vec![FieldProblem::new("before", "is not a cursor of this list")]))
        })
        .transpose()?;
    let store = state.store.clone();
    let messages = tokio::task::spawn_blocking(move || store.list_inbound(before, limit))
        .await
        .map_err(|error| ApiError::internal(&error))??;
    let next_cursor = (messages.len() == limit).then(|| messages.last().map(|m| m.id.to_string())).flatten();
    Ok(Json(InboundPage { messages, next_cursor }))
}
