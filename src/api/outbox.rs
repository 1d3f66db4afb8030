//! `/v1/outbox` and `/v1/webhooks`: what was sent, what waits, what failed for good, and a way
//! to send dead letters again, one or in bulk, once their cause is fixed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::problem::{ApiError, Problem};
use crate::engine::{FieldProblem, TicketId};
use crate::store::outbox::{DeliveryState, OutboxFilter, OutboxMessage};

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_outbox))
        .routes(routes!(get_message))
        .routes(routes!(retry_message))
        .routes(routes!(retry_dead))
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
    /// Only messages queued at or after this time (RFC 3339).
    since: Option<String>,
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
    let filter = OutboxFilter {
        state: parse_state(query.state.as_deref())?,
        ticket: resolve_ticket(&state, query.ticket.as_deref())?,
        since: parse_since(query.since.as_deref())?,
        ..OutboxFilter::default()
    };
    page(&state, &filter, query.cursor.as_deref(), query.limit)
}

/// The ticket a `ticket` filter names (id or number).
fn resolve_ticket(state: &AppState, ticket: Option<&str>) -> Result<Option<TicketId>, ApiError> {
    let Some(ticket) = ticket else { return Ok(None) };
    let found = state.store.resolve(ticket)?;
    found.map(Some).ok_or_else(|| ApiError::invalid(vec![FieldProblem::new("ticket", format!("no ticket {ticket}"))]))
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::invalid(vec![FieldProblem::new(field, message)])
}

fn parse_since(text: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    text.map(|text| {
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.to_utc())
            .map_err(|_| invalid("since", format!("\"{text}\" is not a time like 2026-11-23T09:00:00Z")))
    })
    .transpose()
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
            // Like the delivery worker, this records delivery state in the outbox directly
            // rather than through the writer: no ticket changes, no event is written.
            let again = message.retried(state.clock.now());
            state.store.record_delivery(&message, &again)?;
            state.store.flush()?;
            tracing::info!(id = %message.id, by = %caller.0.person, "dead letter queued again");
            Ok(Json(again))
        }
    }
}

/// Which dead letters `POST /v1/outbox/retry` queues again; an empty body means all of them.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryFilter {
    /// `dead` (the default and the only one: pending messages are tried anyway, and a sent
    /// message is never sent twice).
    state: Option<String>,
    /// Only messages about this ticket (id or number).
    ticket: Option<String>,
    /// Only messages queued at or after this time (RFC 3339), e.g. since an outage began.
    since: Option<String>,
}

/// What `POST /v1/outbox/retry` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    /// How many dead letters are pending again.
    pub requeued: usize,
}

/// Send dead letters again in bulk (after an outage of the mail server or a webhook's
/// receiver): every dead letter the filter selects is pending at once with a fresh set of
/// tries, keeping its Message-ID or delivery id. `GET /v1/outbox?state=dead` with the same
/// filter lists them first.
#[utoipa::path(post, path = "/v1/outbox/retry", tag = "outbox", request_body = RetryFilter,
    responses((status = 200, description = "Queued again", body = Retried),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn retry_dead(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RetryFilter>,
) -> Result<Json<Retried>, ApiError> {
    caller.require_admin()?;
    match body.state.as_deref() {
        None | Some("dead") => {}
        Some(other) => {
            return Err(invalid(
                "state",
                format!("only dead letters are retried, not \"{other}\" messages; use dead or leave it out"),
            ));
        }
    }
    let filter = OutboxFilter {
        ticket: resolve_ticket(&state, body.ticket.as_deref())?,
        since: parse_since(body.since.as_deref())?,
        ..OutboxFilter::default()
    };
    let now = state.clock.now();
    let store = state.store.clone();
    // See `retry_message`: delivery state, recorded in the outbox directly.
    let requeued = tokio::task::spawn_blocking(move || {
        let requeued = store.retry_dead(&filter, now)?;
        store.flush()?;
        Ok::<_, crate::store::StoreError>(requeued)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    tracing::info!(requeued, by = %caller.0.person, "dead letters queued again");
    Ok(Json(Retried { requeued }))
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
        ..OutboxFilter::default()
    };
    page(&state, &filter, query.cursor.as_deref(), query.limit)
}
