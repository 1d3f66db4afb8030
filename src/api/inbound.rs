//! `/v1/inbound`: the mail Afterdesk received (by the SMTP receiver or the raw-message route),
//! newest first, with what became of each message. Administrators only: mail carries
//! customers' details.
//!
//! `POST /v1/inbound/email` takes one raw message from a mail gateway (an integration that
//! fetches mail by IMAP, a provider's inbound webhook): spooled durably, then processed like
//! mail the SMTP receiver took; the answer says what became of it.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use ulid::Ulid;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiQuery, Caller};
use super::problem::{ApiError, Problem};
use crate::engine::FieldProblem;
use crate::store::inbound::{InboundMail, MailOutcome, MailSource};
use crate::store::tokens::TokenRole;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_inbound)).routes(routes!(post_email))
}

/// Query of `POST /v1/inbound/email`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EmailQuery {
    /// The envelope recipients, comma-separated (default: the message's `To` and `Cc`); the
    /// first one an `[[inbound.routes]]` entry takes chooses the workflow of a new ticket.
    to: Option<String>,
    /// The envelope sender (`MAIL FROM`); empty for a bounce.
    mail_from: Option<String>,
}

/// Hand in one raw mail message (`Content-Type: message/rfc822`), as a mail gateway fetched
/// it. It is stored durably first, then processed at once: a new ticket, a reply on the
/// ticket it answers, a bounce, or ignored (automatic mail that answers no ticket, our own
/// mail). 201 with the record when processed, 202 when it stays queued (the store was busy;
/// it is processed shortly). Integrations and administrators.
#[utoipa::path(post, path = "/v1/inbound/email", tag = "inbound", params(EmailQuery),
    request_body(content = String, content_type = "message/rfc822", description = "The raw message (RFC 5322)"),
    responses((status = 201, body = InboundMail), (status = 202, body = InboundMail),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn post_email(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<EmailQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    if caller.0.role == TokenRole::Agent {
        return Err(ApiError::forbidden(format!(
            "mail is handed in by integrations and administrators; {} is an agent",
            caller.0.person
        )));
    }
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !["message/rfc822", "message/global", "text/plain", "application/octet-stream"].contains(&media.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Not a mail message",
            format!("send the raw message as Content-Type: message/rfc822, not \"{content_type}\""),
        ));
    }
    let limit = state.inbound.max_message_bytes();
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "The message is too large",
            format!("body: messages may be at most {limit} bytes (inbound.max_message_bytes)"),
        )
        .with_errors(vec![FieldProblem::new("body", format!("must be at most {limit} bytes"))])
    };
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let raw = axum::body::to_bytes(request.into_body(), limit).await.map_err(|_| too_large())?;
    if crate::inbound::parse::parse(&raw).is_err() {
        return Err(ApiError::invalid(vec![FieldProblem::new(
            "body",
            "is not a mail message: no header could be read",
        )]));
    }
    let mut to = Vec::new();
    for (i, address) in
        query.to.as_deref().unwrap_or("").split(',').map(str::trim).filter(|a| !a.is_empty()).enumerate()
    {
        if address.parse::<lettre::Address>().is_err() {
            return Err(ApiError::invalid(vec![FieldProblem::new(format!("to[{i}]"), "is not an email address")]));
        }
        to.push(address.to_lowercase());
    }
    let mail_from = query.mail_from.unwrap_or_default();
    let mail_from = mail_from.trim();
    if !mail_from.is_empty() && mail_from.parse::<lettre::Address>().is_err() {
        return Err(ApiError::invalid(vec![FieldProblem::new("mail_from", "is not an email address")]));
    }
    let (store, now, by) = (state.store.clone(), state.clock.now(), caller.0.person.clone());
    let id = Ulid::from_datetime(now.into());
    let (mail_from, spooled_to) = (mail_from.to_string(), to.clone());
    let spooled = tokio::task::spawn_blocking(move || {
        store.spool_mail(id, now, MailSource::Api { by }, &mail_from, &spooled_to, &raw)
    })
    .await
    .map_err(|error| ApiError::internal(&error))??;
    // Processed now, so the answer says what became of it; should that fail, the processor's
    // loop picks it up from the queue.
    let record = match state.inbound.process(spooled.id).await {
        Ok(Some(record)) => record,
        Ok(None) | Err(_) => {
            state.inbound_signal.notify_one();
            spooled
        }
    };
    let status = if record.outcome == MailOutcome::Pending { StatusCode::ACCEPTED } else { StatusCode::CREATED };
    Ok((status, Json(record)).into_response())
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
