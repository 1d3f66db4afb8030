//! `/v1/tickets`: open, read, list, and every command on a ticket.
//!
//! Handlers are thin: parse, build a command, hand it to the writer, answer with the ticket.
//! Every answer carrying a ticket has its revision as `ETag`; `If-Match` makes a command
//! conditional (412 when the ticket has moved on).

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller, IfMatch};
use super::problem::{ApiError, Problem};
use super::scope::ReadScope;
use crate::engine::{Command, EngineError, Event, FieldProblem, OpenTicket, Relation, Status, Ticket, TicketId};
use crate::store::ListFilter;
use crate::writer::{CommandRequest, OpenRequest, Outcome, WriteError};

/// Most tickets in one page of a list.
pub const MAX_PAGE: usize = 500;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_ticket, list_tickets))
        .routes(routes!(get_ticket))
        .routes(routes!(ticket_events))
        .routes(routes!(transition))
        .routes(routes!(save_form))
        .routes(routes!(tick))
        .routes(routes!(comment))
        .routes(routes!(customer_reply))
        .routes(routes!(record_step))
        .routes(routes!(assign))
        .routes(routes!(set_priority))
        .routes(routes!(approvals))
        .routes(routes!(resolve_ticket))
        .routes(routes!(close))
        .routes(routes!(reopen))
        .routes(routes!(link))
        .routes(routes!(merge))
}

/// A way out of the ticket's current stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionInfo {
    /// Name to use with `POST /v1/tickets/{id}/transitions`.
    pub name: String,
    /// Button text.
    pub label: String,
    /// Target stage.
    pub to: String,
    /// Whether the stage's accountable role must approve first.
    pub requires_approval: bool,
}

/// A ticket, with what a client needs to show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketBody {
    /// The ticket.
    #[serde(flatten)]
    pub ticket: Ticket,
    /// Human name of the current stage.
    pub stage_name: String,
    /// The transitions of the current stage.
    pub transitions: Vec<TransitionInfo>,
    /// Where the ticket is in the API.
    pub url: String,
}

/// A page of tickets.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketPage {
    /// The tickets.
    pub items: Vec<TicketBody>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A ticket's log.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// Every event, oldest first.
    pub items: Vec<Event>,
}

pub(super) fn body(state: &AppState, ticket: Ticket) -> TicketBody {
    let workflow = state.registry.version(&ticket.workflow, &ticket.version).ok().flatten();
    let stage = workflow.as_ref().and_then(|w| w.definition.stages.get(ticket.stage.as_str()).cloned());
    let stage_name = stage.as_ref().and_then(|s| s.name.clone()).unwrap_or_else(|| ticket.stage.clone());
    let transitions = stage
        .map(|s| {
            s.transitions
                .iter()
                .map(|t| TransitionInfo {
                    name: t.name.get_ref().clone(),
                    label: t.label.clone().unwrap_or_else(|| t.name.get_ref().clone()),
                    to: t.to.get_ref().clone(),
                    requires_approval: t.requires_approval,
                })
                .collect()
        })
        .unwrap_or_default();
    let url = format!("{}/v1/tickets/{}", state.public_url, ticket.number);
    TicketBody { ticket, stage_name, transitions, url }
}

fn etag(revision: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

fn ticket_response(state: &AppState, status: StatusCode, ticket: Ticket) -> Response {
    let revision = ticket.revision;
    let mut response = (status, Json(body(state, ticket))).into_response();
    response.headers_mut().insert(header::ETAG, etag(revision));
    response
}

/// Runs a command and answers with the ticket.
pub(super) async fn run(
    state: &AppState,
    caller: &Caller,
    id: &str,
    if_match: IfMatch,
    command: Command,
) -> Result<Response, ApiError> {
    let name = command.name();
    let request =
        CommandRequest { ticket: id.to_string(), command, actor: caller.actor(), expected_revision: if_match.0 };
    let result = state.writer.command(request).await;
    let outcome = if result.is_ok() { "ok" } else { "refused" };
    metrics::counter!("afterdesk_commands_total", "command" => name, "outcome" => outcome).increment(1);
    match result {
        Ok(Outcome { ticket, .. }) => Ok(ticket_response(state, StatusCode::OK, ticket)),
        Err(WriteError::Engine(EngineError::Conflict { expected, actual })) if if_match.0.is_some() => {
            Err(ApiError::precondition_failed(expected, actual))
        }
        Err(error) => Err(error.into()),
    }
}

/// Resolves an id or number to a ticket id (404 if unknown).
fn find_ticket(state: &AppState, id: &str, field: &str) -> Result<TicketId, ApiError> {
    state.store.resolve(id)?.ok_or_else(|| {
        ApiError::not_found(format!("ticket {id} not found"))
            .with_errors(vec![FieldProblem::new(field, "no such ticket")])
    })
}

/// Open a ticket.
///
/// On the bundled workflow `{"workflow":"after-sales","subject":"...","customer":{"name":"...",
/// "email":"..."}}` is enough; the rest defaults or is routed. Send an `Idempotency-Key` header
/// to make retries safe: a retry with the same key returns the ticket the first request opened.
/// The customer's `language` (`en`, `fa`, `ar`), when given, is the language of their mail
/// (filled in only on a record that has none).
#[utoipa::path(post, path = "/v1/tickets", tag = "tickets", request_body = OpenTicket,
    params(("Idempotency-Key" = Option<String>, Header, description = "A unique key per ticket to open; retries reuse it")),
    responses(
        (status = 201, description = "Opened (or returned again for a retried Idempotency-Key)", body = TicketBody,
         headers(("Location" = String, description = "The ticket's URL"), ("ETag" = String, description = "Revision"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field values", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn open_ticket(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(ticket): ApiJson<OpenTicket>,
) -> Result<Response, ApiError> {
    let idempotency_key = match headers.get("idempotency-key") {
        Some(value) => {
            let key = value.to_str().map(str::trim).unwrap_or_default();
            if key.is_empty() || key.len() > 255 {
                return Err(ApiError::bad_field("Idempotency-Key", "must be 1 to 255 visible characters"));
            }
            Some(key.to_string())
        }
        None => None,
    };
    let outcome = state.writer.open(OpenRequest { ticket, actor: caller.actor(), idempotency_key }).await?;
    if !outcome.replayed {
        metrics::counter!("afterdesk_tickets_opened_total").increment(1);
    }
    let location = format!("/v1/tickets/{}", outcome.ticket.number);
    let mut response = ticket_response(&state, StatusCode::CREATED, outcome.ticket);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if outcome.replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Read a ticket by id (`01K...`) or number (`AS-1042`).
#[utoipa::path(get, path = "/v1/tickets/{id}", tag = "tickets",
    params(("id" = String, Path, description = "Ticket id or number")),
    responses((status = 200, body = TicketBody, headers(("ETag" = String))),
              (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn get_ticket(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let ticket = readable_ticket(&state, &caller, &id)?;
    Ok(ticket_response(&state, StatusCode::OK, ticket))
}

/// The ticket `id` names, if the caller may read it: one out of their scope is not found, like
/// one that does not exist.
pub(super) fn readable_ticket(state: &AppState, caller: &Caller, id: &str) -> Result<Ticket, ApiError> {
    let ticket_id = find_ticket(state, id, "id")?;
    state
        .store
        .ticket(ticket_id)?
        .filter(|ticket| ReadScope::of(caller, &state.registry).sees(&ticket.workflow))
        .ok_or_else(|| {
            ApiError::not_found(format!("ticket {id} not found"))
                .with_errors(vec![FieldProblem::new("id", "no such ticket")])
        })
}

/// The full audit trail of a ticket: every event, oldest first.
#[utoipa::path(get, path = "/v1/tickets/{id}/events", tag = "tickets",
    params(("id" = String, Path, description = "Ticket id or number")),
    responses((status = 200, body = EventList), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn ticket_events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EventList>, ApiError> {
    let ticket = readable_ticket(&state, &caller, &id)?;
    Ok(Json(EventList { items: state.store.events(ticket.id)? }))
}

/// Filters of `GET /v1/tickets`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Workflow id.
    workflow: Option<String>,
    /// Stage id.
    stage: Option<String>,
    /// open, resolved, closed or merged.
    status: Option<String>,
    /// Person (email) the tickets are assigned to.
    assignee: Option<String>,
    /// Only tickets nobody is assigned to.
    unassigned: Option<bool>,
    /// Customer id.
    customer: Option<String>,
    /// Category.
    category: Option<String>,
    /// Priority.
    priority: Option<String>,
    /// Queue.
    queue: Option<String>,
    /// Tag (added by a workflow's hooks).
    tag: Option<String>,
    /// Only tickets with (`true`) or without (`false`) a breached SLA clock still running.
    breached: Option<bool>,
    /// Opened at or after (RFC 3339).
    created_from: Option<String>,
    /// Opened before (RFC 3339).
    created_to: Option<String>,
    /// `oldest` (default) or `newest` first.
    order: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<usize>,
}

fn time(field: &str, value: Option<&String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.to_utc())
                .map_err(|_| ApiError::bad_field(field, format!("\"{text}\" is not a time like 2026-11-23T09:00:00Z")))
        })
        .transpose()
}

/// List tickets, filtered, a page at a time (cursor pagination: each page costs the same
/// however many tickets there are).
#[utoipa::path(get, path = "/v1/tickets", tag = "tickets", params(ListQuery),
    responses((status = 200, body = TicketPage, headers(("Link" = String, description = "rel=next URL"))),
              (status = 400, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn list_tickets(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some("open") => Some(Status::Open),
        Some("resolved") => Some(Status::Resolved),
        Some("closed") => Some(Status::Closed),
        Some("merged") => Some(Status::Merged),
        Some(other) => {
            return Err(ApiError::bad_field("status", format!("\"{other}\": use open, resolved, closed or merged")));
        }
    };
    let customer = query
        .customer
        .as_deref()
        .map(|c| c.parse().map_err(|_| ApiError::bad_field("customer", format!("\"{c}\" is not a customer id"))))
        .transpose()?;
    let newest_first = match query.order.as_deref() {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(other) => return Err(ApiError::bad_field("order", format!("\"{other}\": use oldest or newest"))),
    };
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<TicketId>().map_err(|_| ApiError::bad_field("cursor", "is not a cursor from a previous page"))
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_field("limit", format!("must be between 1 and {MAX_PAGE}")));
    }
    let filter = ListFilter {
        workflow: query.workflow.clone(),
        stage: query.stage.clone(),
        status,
        assignee: query.assignee.clone(),
        unassigned: query.unassigned.unwrap_or(false),
        customer,
        category: query.category.clone(),
        priority: query.priority.clone(),
        queue: query.queue.clone(),
        breached: query.breached,
        created_from: time("created_from", query.created_from.as_ref())?,
        created_to: time("created_to", query.created_to.as_ref())?,
        newest_first,
        tag: query.tag.clone(),
        // Agents list only the workflows they hold a role in.
        workflows: match ReadScope::of(&caller, &state.registry) {
            ReadScope::All => None,
            ReadScope::Workflows(set) => match &query.workflow {
                Some(workflow) if set.contains(workflow) => None,
                Some(_) => Some(BTreeSet::new()),
                None => Some(set),
            },
        },
    };
    let store = state.store.clone();
    let page = tokio::task::spawn_blocking(move || store.list(&filter, cursor, limit))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    let next_cursor = page.next.map(|id| id.to_string());
    let items = page.tickets.into_iter().map(|ticket| body(&state, ticket)).collect();
    let mut response = Json(TicketPage { items, next_cursor: next_cursor.clone() }).into_response();
    if let Some(next) = next_cursor {
        let mut params: BTreeMap<&str, String> = BTreeMap::new();
        let optional = [
            ("workflow", &query.workflow),
            ("stage", &query.stage),
            ("status", &query.status),
            ("assignee", &query.assignee),
            ("customer", &query.customer),
            ("category", &query.category),
            ("priority", &query.priority),
            ("queue", &query.queue),
            ("tag", &query.tag),
            ("created_from", &query.created_from),
            ("created_to", &query.created_to),
            ("order", &query.order),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                params.insert(key, value.clone());
            }
        }
        if query.unassigned == Some(true) {
            params.insert("unassigned", "true".into());
        }
        if let Some(breached) = query.breached {
            params.insert("breached", breached.to_string());
        }
        params.insert("limit", limit.to_string());
        params.insert("cursor", next);
        let link = format!(
            "<{}/v1/tickets?{}>; rel=\"next\"",
            state.public_url,
            serde_urlencoded::to_string(&params).unwrap_or_default()
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// Body of `POST /transitions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// The transition's name.
    pub name: String,
}

/// Move the ticket through a transition of its current stage. Refused (422) with every unmet
/// guard at once: required fields, unticked checklist items, missing approval, a rule's reason.
#[utoipa::path(post, path = "/v1/tickets/{id}/transitions", tag = "commands", request_body = TransitionBody,
    params(("id" = String, Path, description = "Ticket id or number"), ("If-Match" = Option<String>, Header, description = "ETag the ticket must still have")),
    responses((status = 200, body = TicketBody), (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 412, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<TransitionBody>,
) -> Result<Response, ApiError> {
    run(&state, &caller, &id, if_match, Command::Transition { name: body.name }).await
}

/// Save values of a form: the body is an object of field → value (`null` or `""` clears).
/// Fields not sent keep their values, so a form can be filled in over several saves.
#[utoipa::path(put, path = "/v1/tickets/{id}/forms/{form}", tag = "commands",
    request_body(content = Object, description = "Field values", example = json!({"serial": "AB12CD34", "problem": "Leaks water"})),
    params(("id" = String, Path), ("form" = String, Path, description = "Form id"), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn save_form(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, form)): ApiPath<(String, String)>,
    if_match: IfMatch,
    ApiJson(values): ApiJson<BTreeMap<String, serde_json::Value>>,
) -> Result<Response, ApiError> {
    run(&state, &caller, &id, if_match, Command::SaveForm { form, values }).await
}

/// Body of `POST /checklist/{item}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TickBody {
    /// Ticked (default) or not.
    #[serde(default = "yes")]
    pub checked: bool,
}

fn yes() -> bool {
    true
}

/// Tick (or untick, with `{"checked": false}`) a checklist item of the current stage.
#[utoipa::path(post, path = "/v1/tickets/{id}/checklist/{item}", tag = "commands", request_body = TickBody,
    params(("id" = String, Path), ("item" = String, Path, description = "The item's text, URL-encoded"), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn tick(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, item)): ApiPath<(String, String)>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<TickBody>,
) -> Result<Response, ApiError> {
    run(&state, &caller, &id, if_match, Command::Tick { item, checked: body.checked }).await
}

/// Body of `POST /comments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    /// The text.
    pub body: String,
    /// A reply the customer sees (`true`), or an internal note (default).
    #[serde(default)]
    pub public: bool,
}

/// Add an internal note or a public reply; the first public reply by staff meets the
/// first-response SLA.
#[utoipa::path(post, path = "/v1/tickets/{id}/comments", tag = "commands", request_body = CommentBody,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn comment(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<CommentBody>,
) -> Result<Response, ApiError> {
    run(&state, &caller, &id, if_match, Command::Comment { body: body.body, public: body.public }).await
}

/// Body of `POST /customer-replies`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerReplyBody {
    /// What the customer wrote (new text only).
    pub body: String,
}

/// Relay what the customer wrote (a web form, a messaging or telephony gateway): a
/// `customer_replied` event. A stage's `on_customer_reply` moves the ticket on (out of a
/// waiting stage); a resolved or closed ticket reopens (or, with `reply_when_closed =
/// "follow_up"`, is refused with 409: open a new ticket). Integrations and administrators;
/// staff write comments (403).
#[utoipa::path(post, path = "/v1/tickets/{id}/customer-replies", tag = "commands", request_body = CustomerReplyBody,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn customer_reply(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<CustomerReplyBody>,
) -> Result<Response, ApiError> {
    let command = Command::CustomerReply { body: body.body, mail: None, attachments: Vec::new() };
    run(&state, &caller, &id, if_match, command).await
}

/// Body of `POST /steps`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    /// What was done.
    pub description: String,
}

/// Record a step taken to resolve the request.
#[utoipa::path(post, path = "/v1/tickets/{id}/steps", tag = "commands", request_body = StepBody,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody)), security(("bearer" = [])))]
async fn record_step(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<StepBody>,
) -> Result<Response, ApiError> {
    run(&state, &caller, &id, if_match, Command::RecordStep { description: body.description }).await
}

/// Body of `POST /assign`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The person (email); `null` unassigns.
    pub assignee: Option<String>,
}

/// Assign the ticket to a person with a role in its workflow, or unassign it.
#[utoipa::path(post, path = "/v1/tickets/{id}/assign", tag = "commands", request_body = AssignBody,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody)), security(("bearer" = [])))]
async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Response, ApiError> {
    run(&state, &caller, &id, if_match, Command::Assign { assignee: body.assignee }).await
}

/// Body of `POST /priority`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityBody {
    /// One of the workflow's priorities.
    pub priority: String,
}

/// Change the priority.
#[utoipa::path(post, path = "/v1/tickets/{id}/priority", tag = "commands", request_body = PriorityBody,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody)), security(("bearer" = [])))]
async fn set_priority(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<PriorityBody>,
) -> Result<Response, ApiError> {
    run(&state, &caller, &id, if_match, Command::SetPriority { priority: body.priority }).await
}

/// What to do about approval.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalAction {
    /// Give approval (the stage's accountable role only).
    #[default]
    Approve,
    /// Ask the accountable role to approve.
    Request,
    /// Refuse the approval asked for (the accountable role only; `note` required): the
    /// request is cleared and its requester is told why.
    Reject,
}

/// Body of `POST /approvals`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalBody {
    /// `approve` (default), `request` or `reject`.
    #[serde(default)]
    pub action: ApprovalAction,
    /// A comment; the reason, required, with `reject`.
    #[serde(default)]
    pub note: Option<String>,
}

/// Ask for approval, give it, or refuse it with a reason. Only the current stage's accountable
/// role approves or rejects, and (separation of duties, unless the workflow relaxes it) never
/// the person who asked nor the assignee. Changing a form value of the stage voids an approval.
#[utoipa::path(post, path = "/v1/tickets/{id}/approvals", tag = "commands", request_body = ApprovalBody,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody), (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "A reject without a note, nothing to approve or reject", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn approvals(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<ApprovalBody>,
) -> Result<Response, ApiError> {
    let command = match body.action {
        ApprovalAction::Approve => Command::Approve { note: body.note },
        ApprovalAction::Request => Command::RequestApproval { note: body.note },
        // A missing note is the engine's to refuse (422 on `note`), like an empty one.
        ApprovalAction::Reject => Command::RejectApproval { note: body.note.unwrap_or_default() },
    };
    run(&state, &caller, &id, if_match, command).await
}

/// Body of `POST /resolve`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// A comment.
    #[serde(default)]
    pub note: Option<String>,
}

/// Resolve through the workflow: take the stage's transition to a stage marked
/// `resolved = true` (with its guards), or, where the way on is the transition to a terminal
/// resolved stage, resolve in place once all its guards are met. 422 naming why otherwise.
#[utoipa::path(post, path = "/v1/tickets/{id}/resolve", tag = "commands", request_body = NoteBody,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody), (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn resolve_ticket(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<NoteBody>,
) -> Result<Response, ApiError> {
    run(&state, &caller, &id, if_match, Command::Resolve { note: body.note }).await
}

/// Body of `POST /close`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {}

/// Close: take the current stage's transition to a terminal stage (with its guards).
#[utoipa::path(post, path = "/v1/tickets/{id}/close", tag = "commands", request_body = CloseBody,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn close(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    body: ApiJson<CloseBody>,
) -> Result<Response, ApiError> {
    let ApiJson(CloseBody {}) = body;
    run(&state, &caller, &id, if_match, Command::Close).await
}

/// Body of `POST /reopen`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenBody {
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Reopen a resolved or closed ticket: from a resolved stage (a survey) by that stage's
/// transition back to work (with its guards); a closed one returns to the stage before closing.
#[utoipa::path(post, path = "/v1/tickets/{id}/reopen", tag = "commands", request_body = ReopenBody,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn reopen(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<ReopenBody>,
) -> Result<Response, ApiError> {
    run(&state, &caller, &id, if_match, Command::Reopen { reason: body.reason }).await
}

/// Body of `POST /links`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// The other ticket (id or number).
    pub other: String,
    /// This ticket's relation to it (default `related`).
    #[serde(default = "related")]
    pub relation: Relation,
}

fn related() -> Relation {
    Relation::Related
}

/// Link the ticket to another (recorded on both).
#[utoipa::path(post, path = "/v1/tickets/{id}/links", tag = "commands", request_body = LinkBody,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn link(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<LinkBody>,
) -> Result<Response, ApiError> {
    let other = find_ticket(&state, &body.other, "other")?;
    run(&state, &caller, &id, if_match, Command::Link { other, relation: body.relation }).await
}

/// Body of `POST /merge`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The original ticket (id or number) this duplicate goes into.
    pub into: String,
}

/// Merge this ticket, a duplicate, into its original (same customer, still open). The
/// duplicate takes its stage's transition to a terminal stage (`merge`, else `cancel`, else
/// the only one), with that transition's guards.
#[utoipa::path(post, path = "/v1/tickets/{id}/merge", tag = "commands", request_body = MergeBody,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = TicketBody), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn merge(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<MergeBody>,
) -> Result<Response, ApiError> {
    let into = find_ticket(&state, &body.into, "into")?;
    run(&state, &caller, &id, if_match, Command::Merge { into }).await
}
