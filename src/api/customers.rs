//! `/v1/customers`: create or update a customer, find customers, read one customer with all
//! their tickets (so nobody asks a customer to explain twice), and a customer's audit trail.
//!
//! Reads follow the caller's [`ReadScope`]: an agent finds and reads only customers of the
//! workflows they hold a role in, and sees only those workflows' tickets of them. Who may
//! change an existing customer is the engine's call, made in the writer.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::problem::{ApiError, Problem};
use super::scope::ReadScope;
use crate::engine::customer::CustomerEvent;
use crate::engine::{Customer, CustomerId, CustomerInput, EngineError, FieldProblem, Status};
use crate::writer::{MergeRequest, WriteError};

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(save_customer, search_customers))
        .routes(routes!(get_customer))
        .routes(routes!(customer_events))
        .routes(routes!(merge_customer))
}

/// One of a customer's tickets, in short.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketSummary {
    /// Id.
    pub id: String,
    /// Number.
    pub number: String,
    /// Workflow.
    pub workflow: String,
    /// Stage.
    pub stage: String,
    /// Status.
    pub status: Status,
    /// Category.
    pub category: Option<String>,
    /// Subject.
    pub subject: String,
    /// Opened.
    pub created_at: DateTime<Utc>,
}

/// A customer and their history.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerBody {
    /// The customer.
    #[serde(flatten)]
    pub customer: Customer,
    /// Every ticket of the customer, newest first.
    pub tickets: Vec<TicketSummary>,
}

/// Create a customer, or update the one with the same email, external id or `id`.
///
/// Anybody with a token may create a customer. Changing an existing one (or reading it back
/// this way) needs an administrator, an integration, or an agent working one of the customer's
/// open tickets (its assignee, or of its stage's responsible or accountable role); others get
/// 403. Every change is an entry of the customer's trail (`GET /v1/customers/{id}/events`).
#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = CustomerInput,
    responses((status = 201, description = "Created", body = Customer,
               headers(("Location" = String, description = "The customer's URL"))),
              (status = 200, description = "Updated", body = Customer),
              (status = 403, description = "The caller may not change this customer", body = Problem,
               content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn save_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<CustomerInput>,
) -> Result<Response, ApiError> {
    let saved = state.writer.save_customer(input, caller.actor()).await;
    let (customer, created) = saved.map_err(|error| match error {
        // The writer names fields as they sit in a ticket's `customer` object; this body is the
        // customer itself, so `customer.email` is `email` here.
        WriteError::Engine(EngineError::Invalid(mut problems)) => {
            for problem in &mut problems {
                if let Some(field) = problem.field.strip_prefix("customer.") {
                    problem.field = field.to_string();
                }
            }
            ApiError::invalid(problems)
        }
        other => other.into(),
    })?;
    if !created {
        return Ok((StatusCode::OK, Json(customer)).into_response());
    }
    let location = format!("/v1/customers/{}", customer.id);
    let mut response = (StatusCode::CREATED, Json(customer)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// A customer with all their tickets.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "Customer id")),
    responses((status = 200, body = CustomerBody), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn get_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CustomerBody>, ApiError> {
    let scope = ReadScope::of(&caller, &state.registry);
    let customer = readable_customer(&state, &scope, &id)?;
    let mut tickets = Vec::new();
    for ticket_id in state.store.customer_tickets(customer.id)?.into_iter().rev() {
        if let Some(t) = state.store.ticket(ticket_id)?
            && scope.sees(&t.workflow)
        {
            tickets.push(TicketSummary {
                id: t.id.to_string(),
                number: t.number,
                workflow: t.workflow,
                stage: t.stage,
                status: t.status,
                category: t.category,
                subject: t.subject,
                created_at: t.created_at,
            });
        }
    }
    Ok(Json(CustomerBody { customer, tickets }))
}

/// The customer `id` names, if the caller may read them: one out of scope is not found, like
/// one that does not exist.
fn readable_customer(state: &AppState, scope: &ReadScope, id: &str) -> Result<Customer, ApiError> {
    let not_found = || {
        ApiError::not_found(format!("customer {id} not found"))
            .with_errors(vec![FieldProblem::new("id", "no such customer")])
    };
    let customer_id: CustomerId = id.parse().map_err(|_| not_found())?;
    let customer = state.store.customer(customer_id)?.ok_or_else(not_found)?;
    if !scope.sees_customer(&state.store, customer_id)? {
        return Err(not_found());
    }
    Ok(customer)
}

/// Which customer a record is merged into.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The id of the customer that stays.
    pub into: String,
}

/// Two customer records after a merge.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergeOutcome {
    /// The record merged, now pointing at the survivor (`merged_into`).
    pub merged: Customer,
    /// The customer that stays, with the details it took from the merged record.
    pub into: Customer,
    /// Ids of the tickets that moved to the survivor.
    pub moved: Vec<String>,
}

/// Merge customer `id` into customer `into`: one person with two records (a phone-only record
/// and a later one with an email) becomes one customer.
///
/// The merged record's tickets move to the survivor (an event `customer_changed` on each), so
/// the survivor's tickets, history and repeat detection cover both; the survivor takes the
/// details it lacks; the merged record's email, phone and external id find the survivor from
/// now on; the merged record stays readable with `merged_into`; both trails get a `merged`
/// entry. Administrators and integrations only.
#[utoipa::path(post, path = "/v1/customers/{id}/merge", tag = "customers", request_body = MergeBody,
    params(("id" = String, Path, description = "The customer merged (the one that goes)")),
    responses((status = 200, body = MergeOutcome),
              (status = 403, description = "Only administrators and integrations merge", body = Problem,
               content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn merge_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MergeBody>,
) -> Result<Json<MergeOutcome>, ApiError> {
    let request = MergeRequest { merged: id, into: body.into, actor: caller.actor() };
    let merged = state.writer.merge_customers(request).await?;
    Ok(Json(MergeOutcome {
        merged: merged.merged,
        into: merged.survivor,
        moved: merged.moved.iter().map(ToString::to_string).collect(),
    }))
}

/// Paging of a customer's trail.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    limit: Option<usize>,
}

/// A page of a customer's audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerEventPage {
    /// The changes, oldest first.
    pub items: Vec<CustomerEvent>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A customer's audit trail: every change to the record (created, updated, details filled in
/// from a ticket), with who made it, when, and each field's old and new value; oldest first.
#[utoipa::path(get, path = "/v1/customers/{id}/events", tag = "customers",
    params(("id" = String, Path, description = "Customer id"), EventsQuery),
    responses((status = 200, body = CustomerEventPage),
              (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn customer_events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<CustomerEventPage>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_field("limit", "must be between 1 and 500"));
    }
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| {
            ulid::Ulid::from_string(c)
                .map_err(|_| ApiError::bad_field("cursor", "is not a cursor from a previous page"))
        })
        .transpose()?;
    let customer = readable_customer(&state, &ReadScope::of(&caller, &state.registry), &id)?;
    let (items, next) = state.store.customer_events(customer.id, cursor, limit)?;
    Ok(Json(CustomerEventPage { items, next_cursor: next.map(|id| id.to_string()) }))
}

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Text found in the name, email, phone or external id (any case).
    q: Option<String>,
    /// Most results, 1 to 200 (default 20).
    limit: Option<usize>,
}

/// Customers found.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerList {
    /// The customers.
    pub items: Vec<Customer>,
}

/// Find customers by name, email, phone or external id (agents: among the customers of the
/// workflows they hold a role in).
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(SearchQuery),
    responses((status = 200, body = CustomerList)), security(("bearer" = [])))]
async fn search_customers(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<CustomerList>, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_field("limit", "must be between 1 and 200"));
    }
    let store = state.store.clone();
    let q = query.q.unwrap_or_default();
    let scope = ReadScope::of(&caller, &state.registry);
    let items = tokio::task::spawn_blocking(move || {
        store.search_customers(&q, limit, |customer| scope.sees_customer(&store, customer.id))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(CustomerList { items }))
}
