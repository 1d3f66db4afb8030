//! `/v1/customers`: create or update a customer, find customers, and read one customer with all
//! their tickets, so nobody asks a customer to explain twice.

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
use crate::engine::{Customer, CustomerId, CustomerInput, EngineError, Status};
use crate::writer::WriteError;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(save_customer, search_customers)).routes(routes!(get_customer))
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

/// Create a customer, or update the one with the same email or external id.
#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = CustomerInput,
    responses((status = 201, description = "Created", body = Customer,
               headers(("Location" = String, description = "The customer's URL"))),
              (status = 200, description = "Updated", body = Customer),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn save_customer(
    State(state): State<AppState>,
    _caller: Caller,
    ApiJson(input): ApiJson<CustomerInput>,
) -> Result<Response, ApiError> {
    let (customer, created) = state.writer.save_customer(input).await.map_err(|error| match error {
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
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CustomerBody>, ApiError> {
    let not_found = || ApiError::not_found(format!("customer {id} not found"));
    let customer_id: CustomerId = id.parse().map_err(|_| not_found())?;
    let customer = state.store.customer(customer_id)?.ok_or_else(not_found)?;
    let mut tickets = Vec::new();
    for ticket_id in state.store.customer_tickets(customer_id)?.into_iter().rev() {
        if let Some(t) = state.store.ticket(ticket_id)? {
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

/// Find customers by name, email, phone or external id.
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(SearchQuery),
    responses((status = 200, body = CustomerList)), security(("bearer" = [])))]
async fn search_customers(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<CustomerList>, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_field("limit", "must be between 1 and 200"));
    }
    let store = state.store.clone();
    let q = query.q.unwrap_or_default();
    let items = tokio::task::spawn_blocking(move || store.search_customers(&q, limit))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(CustomerList { items }))
}
