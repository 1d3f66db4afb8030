//! `/v1/outbox` and `/v1/webhooks`: what was sent, what waits, what failed for good, and a way
//! to send a dead letter again once its cause is fixed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use ulid::Ulid;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiPath, ApiQuery, Caller};
use super::problem::{ApiError, Problem};
use crate::engine::FieldProblem;
use crate::store::outbox::{DeliveryState, OutboxFilter, OutboxMessage};

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_outbox))
        .routes(routes!(get_message))
        .routes(routes!(retry_message))
        .routes(routes!(list_webhooks))
        .routes(routes!(webhook_deliveries))
}

/// Query of `GET /v1/outbox`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// `pending`, `sent` or `dead`.
    state: Option<String>,
    /// Only messages about this ticket (id or number).
    ticket: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<usize>,
}

/// A page of messages, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxPage {
    /// The messages.
    pub messages: Vec<OutboxMessage>,
    /// Give this as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of the messages `filter` selects, after `cursor`.
fn page(
    state: &AppState,
    filter: &OutboxFilter,
    cursor: Option<&str>,
    limit: Option<usize>,
) -> Result<Json<OutboxPage>, ApiError> {
    let limit = page_limit(limit)?;
    let (messages, next) = state.store.list_outbox(filter, parse_cursor(cursor)?, limit)?;
    Ok(Json(OutboxPage { messages, next_cursor: next.map(|id| id.to_string()) }))
}

fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(50),
        Some(limit) if (1..=500).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError::invalid(vec![FieldProblem::new("limit", "must be from 1 to 500")])),
    }
}

fn parse_cursor(text: Option<&str>) -> Result<Option<Ulid>, ApiError> {
    text.map(|c| {
        Ulid::from_string(c)
            .map_err(|_| ApiError::invalid(vec![FieldProblem::new("cursor", "is not a cursor of this list")]))
    })
    .transpose()
}

/// List messages (email and webhook calls), newest first (pending ones in the order they come
/// due): `?state=dead` shows the dead letters.
/// Administrators only: messages carry customers' details.
#[utoipa::path(get, path = "/v1/outbox", tag = "outbox", params(OutboxQuery),
    responses((status = 200, body = OutboxPage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn list_outbox(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> Result<Json<OutboxPage>, ApiError> {
    caller.require_admin()?;
    let mut filter = OutboxFilter { state: parse_state(query.state.as_deref())?, ..OutboxFilter::default() };
    if let Some(ticket) = &query.ticket {
        filter.ticket = Some(
            state
                .store
                .resolve(ticket)?
                .ok_or_else(|| ApiError::invalid(vec![FieldProblem::new("ticket", format!("no ticket {ticket}"))]))?,
        );
    }
    page(&state, &filter, query.cursor.as_deref(), query.limit)
}

fn parse_state(text: Option<&str>) -> Result<Option<DeliveryState>, ApiError> {
    match text {
        None => Ok(None),
        Some("pending") => Ok(Some(DeliveryState::Pending)),
        Some("sent") => Ok(Some(DeliveryState::Sent)),
        Some("dead") => Ok(Some(DeliveryState::Dead)),
        Some(other) => Err(ApiError::invalid(vec![FieldProblem::new(
            "state",
            format!("unknown state \"{other}\"; use pending, sent or dead"),
        )])),
    }
}

fn find(state: &AppState, id: &str) -> Result<OutboxMessage, ApiError> {
    let not_found = || ApiError::not_found(format!("no message {id} in the outbox"));
    let ulid = Ulid::from_string(id).map_err(|_| not_found())?;
    state.store.outbox_message(ulid)?.ok_or_else(not_found)
}

/// One message, with its delivery state, attempts and last error.
#[utoipa::path(get, path = "/v1/outbox/{id}", tag = "outbox", params(("id" = String, Path)),
    responses((status = 200, body = OutboxMessage), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn get_message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OutboxMessage>, ApiError> {
    caller.require_admin()?;
    Ok(Json(find(&state, &id)?))
}

/// Send a dead letter again (after fixing what made it fail): it is pending at once, with a
/// fresh set of tries. The same Message-ID or delivery id is used. A pending message is left as
/// it is; a sent one is not sent twice.
#[utoipa::path(post, path = "/v1/outbox/{id}/retry", tag = "outbox", params(("id" = String, Path)),
    responses((status = 200, description = "Queued again", body = OutboxMessage),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "Already sent", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn retry_message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OutboxMessage>, ApiError> {
    caller.require_admin()?;
    let message = find(&state, &id)?;
    match message.state {
        DeliveryState::Pending => Ok(Json(message)),
        DeliveryState::Sent => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already-sent",
            "The message was sent",
            format!("message {id} was sent at {}; it is not sent twice", message.sent_at.unwrap_or(message.created_at)),
        )),
        DeliveryState::Dead => {
            let mut again = message.clone();
            again.state = DeliveryState::Pending;
            again.attempts = 0;
            again.next_attempt = Some(state.clock.now());
            state.store.record_delivery(&message, &again)?;
            state.store.flush()?;
            tracing::info!(id = %message.id, by = %caller.0.person, "dead letter queued again");
            Ok(Json(again))
        }
    }
}

/// A webhook and how its deliveries stand.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookInfo {
    /// `workflow/name`.
    pub id: String,
    /// Where it posts.
    pub url: String,
    /// The events it hears.
    pub on: Vec<String>,
    /// Whether its calls are signed.
    pub signed: bool,
    /// Its deliveries, newest first.
    pub deliveries_url: String,
}

/// The webhooks of the current workflows.
#[utoipa::path(get, path = "/v1/webhooks", tag = "outbox",
    responses((status = 200, body = Vec<WebhookInfo>)), security(("bearer" = [])))]
async fn list_webhooks(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<WebhookInfo>>, ApiError> {
    caller.require_admin()?;
    let mut out = Vec::new();
    for workflow in state.registry.all_current() {
        for (name, webhook) in &workflow.definition.webhooks {
            let id = format!("{}/{}", workflow.id(), name.get_ref());
            out.push(WebhookInfo {
                deliveries_url: format!("{}/v1/webhooks/{id}/deliveries", state.public_url),
                id,
                url: webhook.url.get_ref().clone(),
                on: webhook
                    .on
                    .iter()
                    .filter_map(|e| serde_json::to_value(e.get_ref()).ok()?.as_str().map(str::to_string))
                    .collect(),
                signed: webhook.secret.is_some(),
            });
        }
    }
    Ok(Json(out))
}

/// Query of a webhook's delivery log.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `pending`, `sent` or `dead`.
    state: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<usize>,
}

/// A webhook's delivery log, newest first: status, attempts, last error, the receiver's answer.
#[utoipa::path(get, path = "/v1/webhooks/{workflow}/{name}/deliveries", tag = "outbox",
    params(("workflow" = String, Path), ("name" = String, Path), DeliveryQuery),
    responses((status = 200, body = OutboxPage), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn webhook_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((workflow, name)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> Result<Json<OutboxPage>, ApiError> {
    caller.require_admin()?;
    let known = state.registry.current(&workflow).is_some_and(|w| w.definition.webhooks.contains_key(name.as_str()));
    if !known {
        return Err(ApiError::not_found(format!("workflow {workflow} has no webhook {name}")));
    }
    let filter = OutboxFilter {
        webhook: Some(format!("{workflow}/{name}")),
        state: parse_state(query.state.as_deref())?,
        ticket: None,
    };
    page(&state, &filter, query.cursor.as_deref(), query.limit)
}
