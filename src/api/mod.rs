//! The REST API (axum): thin handlers that parse a request, hand a command to the writer (or
//! read the store), and answer. Errors become `application/problem+json` in one place
//! ([`problem`]); request parts that can be wrong are parsed by the extractors of [`extract`].
//!
//! - [`tickets`]: open, read, list, commands, the audit trail;
//! - [`attachments`]: files on a ticket (upload, list, download); [`disposition`]: their
//!   `Content-Disposition` header;
//! - [`customers`]: customers and their history;
//! - [`workflows`]: definitions, versions, diagrams, reload;
//! - [`people`]: role members, their availability and open load;
//! - [`system`]: health, metrics, who am I;
//! - [`tokens`]: make, list and revoke API tokens;
//! - [`sessions`]: list and revoke the sessions of people signed in to the pages;
//! - [`inbound`]: the mail received, and what became of it;
//! - [`reports`]: KPIs per workflow, agent, category, channel and period (JSON or CSV);
//! - [`scope`]: which tickets and customers a caller may read.
//!
//! The OpenAPI document is generated from the handlers (`GET /openapi.json`, browsable at
//! `GET /docs`), so it cannot drift from the routes.

pub mod attachments;
pub mod customers;
pub mod disposition;
pub mod extract;
pub mod inbound;
pub mod outbox;
pub mod people;
pub mod problem;
pub mod reports;
pub mod scope;
pub mod sessions;
pub mod survey;
pub mod system;
pub mod tickets;
pub mod tokens;
pub mod workflows;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::clock::Clock;
use crate::registry::Registry;
use crate::store::Store;
use crate::store::tokens::TokenRecord;
use crate::writer::Writer;
use problem::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The single writer.
    pub writer: Writer,
    /// The store, for reads.
    pub store: Store,
    /// Loaded workflow versions.
    pub registry: Arc<Registry>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Base URL for links in answers.
    pub public_url: Arc<str>,
    /// Tokens from the configuration file, by digest.
    pub config_tokens: Arc<HashMap<[u8; 32], TokenRecord>>,
    /// Prometheus metrics.
    pub metrics: PrometheusHandle,
    /// The secret that signs survey links.
    pub survey_secret: Arc<[u8; 32]>,
    /// Turns received mail into tickets and replies.
    pub inbound: crate::inbound::process::Processor,
    /// Woken each time mail is spooled (the processor waits on it).
    pub inbound_signal: Arc<tokio::sync::Notify>,
    /// The secret that signs the pages' sign-in links, session cookies and CSRF tokens, and
    /// the customers' status links.
    pub web_secret: Arc<[u8; 32]>,
    /// Limits on how often an address may ask for a sign-in link or file a web request.
    pub web_limits: Arc<crate::web::limits::WebLimits>,
}

/// Limits of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Longest a request may take.
    pub timeout: Duration,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Afterdesk API",
        description = "After-sales customer service as a workflow engine. Authenticate with \
                       `Authorization: Bearer <token>`. Errors are RFC 9457 problem details.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "tickets", description = "Open, read and list tickets"),
        (name = "commands", description = "Work a ticket through its workflow"),
        (name = "customers", description = "Customers and their history"),
        (name = "workflows", description = "Workflow definitions"),
        (name = "inbound", description = "Mail received: envelope, size and what became of each message"),
        (name = "outbox", description = "Mail and webhook deliveries: pending, sent, dead letters, retries"),
        (name = "surveys", description = "The customer's survey page (HTML; the link in the survey mail)"),
        (name = "people", description = "Role members and their availability"),
        (name = "reports", description = "KPIs from the event log: per workflow, agent, category, channel and period; JSON or CSV"),
        (name = "system", description = "Health, metrics, tokens")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    with_error_responses(api_routes().split_for_parts().1)
}

/// Adds to every operation the error answers the layers around the handlers give (so clients
/// generated from the document know them): 400 malformed input, 401/403 for protected routes,
/// 404 where the path names something, 413/415 where there is a body, 409/412 for commands on a
/// ticket, 503 when a request takes too long. Each is `application/problem+json`.
fn with_error_responses(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let problem = |description: &str| {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
        ResponseBuilder::new().description(description).content("application/problem+json", content).build()
    };
    for (path, item) in &mut api.paths.paths {
        let html = path.starts_with("/survey/");
        let operations =
            [item.get.as_mut(), item.post.as_mut(), item.put.as_mut(), item.delete.as_mut(), item.patch.as_mut()];
        for operation in operations.into_iter().flatten() {
            let mut add = |status: &str, description: &str| {
                operation.responses.responses.entry(status.to_string()).or_insert_with(|| problem(description).into());
            };
            if html {
                continue;
            }
            add("400", "Malformed request: bad JSON (with line and column) or query parameter");
            add("503", "The request took too long; a command may still complete");
            if operation.security.is_some() {
                add("401", "No token, or an unknown one");
                add("403", "The token's role may not do this");
            }
            if path.contains('{') {
                add("404", "Not found");
            }
            if operation.request_body.is_some() {
                add("413", "The body is too large");
                add("415", "The body is not JSON");
                add("422", "Invalid values, named field by field");
            }
            if path.starts_with("/v1/tickets/{id}/") && operation.request_body.is_some() {
                add("409", "The ticket is closed, or changed meanwhile");
                add("412", "If-Match: the ticket is no longer at that revision");
            }
        }
    }
    api
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(tickets::routes())
        .merge(attachments::routes())
        .merge(customers::routes())
        .merge(workflows::routes())
        .merge(people::routes())
        .merge(system::routes())
        .merge(tokens::routes())
        .merge(sessions::routes())
        .merge(outbox::routes())
        .merge(inbound::routes())
        .merge(survey::routes())
        .merge(reports::routes())
}

/// The process-wide metrics recorder (one per process: tests start several servers).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

/// The whole HTTP application.
pub fn router(state: AppState, limits: Limits) -> axum::Router {
    let (router, api) = api_routes().split_for_parts();
    let api = with_error_responses(api);
    let docs = utoipa_scalar::Scalar::new(api.clone()).to_html();
    router
        .merge(crate::web::routes())
        .route("/openapi.json", get(move || async move { Json(api) }))
        .route("/docs", get(move || async move { Html(docs) }))
        // Inside the routes, where the matched route template is known.
        .route_layer(middleware::from_fn(record_metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn(move |request, next| timeout(limits.timeout, request, next)))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal(&"a request handler panicked").into_response()))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!("no route {} {}; see /docs", request.method(), request.uri().path()))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!("{} is not allowed on {}; see /docs", request.method(), request.uri().path()),
    )
}

async fn timeout(limit: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "The request took too long",
            format!("no answer within {} s; a command may still complete: read the ticket again", limit.as_secs()),
        )
        .into_response(),
    }
}

async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("afterdesk_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("afterdesk_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
