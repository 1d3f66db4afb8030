//! Service routes: health, Prometheus metrics, and who am I. Tokens are in [`super::tokens`].

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::Caller;
use super::problem::{ApiError, Problem};
use crate::store::tokens::TokenRecord;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(metrics)).routes(routes!(me))
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

/// Metrics in the Prometheus text format (no token needed): request counters and latencies,
/// and the backlog and SLA breach gauges of every workflow, read from the store when scraped.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = state.metrics.render();
    let (store, registry, now) = (state.store.clone(), state.registry.clone(), state.clock.now());
    match tokio::task::spawn_blocking(move || crate::reports::gauges::render(&store, &registry, now)).await {
        Ok(Ok(gauges)) => text.push_str(&gauges),
        Ok(Err(error)) => tracing::error!(%error, "report gauges could not be read"),
        Err(error) => tracing::error!(%error, "report gauges task failed"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

/// The caller, as the server sees them.
#[utoipa::path(get, path = "/v1/me", tag = "system", responses((status = 200, body = TokenRecord)),
    security(("bearer" = [])))]
async fn me(caller: Caller) -> Json<TokenRecord> {
    Json(caller.0)
}
