//! `/v1/workflows`: the loaded workflows, their versions, their diagrams, and reloading the
//! folder (validated first: a broken file is refused with its errors and nothing changes).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiPath, ApiQuery, Caller};
use super::problem::{ApiError, Problem};
use crate::engine::FieldProblem;
use crate::registry::RegistryError;
use crate::workflow::Workflow;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_workflows))
        .routes(routes!(get_workflow))
        .routes(routes!(diagram))
        .routes(routes!(reload))
}

/// A workflow in short.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowSummary {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Current version.
    pub version: String,
    /// Stage ids, in order.
    pub stages: Vec<String>,
}

fn summary(workflow: &Workflow) -> WorkflowSummary {
    WorkflowSummary {
        id: workflow.id().to_string(),
        name: workflow.definition.name.clone(),
        description: workflow.definition.description.clone(),
        version: workflow.version.clone(),
        stages: workflow.definition.stages.keys().map(|k| k.get_ref().clone()).collect(),
    }
}

/// Workflows.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowList {
    /// The current version of each.
    pub items: Vec<WorkflowSummary>,
}

/// The workflows the server runs.
#[utoipa::path(get, path = "/v1/workflows", tag = "workflows", responses((status = 200, body = WorkflowList)),
    security(("bearer" = [])))]
async fn list_workflows(State(state): State<AppState>, _caller: Caller) -> Json<WorkflowList> {
    Json(WorkflowList { items: state.registry.all_current().iter().map(|w| summary(w)).collect() })
}

/// A stored version of a workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionInfo {
    /// Version (content hash).
    pub version: String,
    /// When it was first loaded.
    pub stored_at: String,
    /// Whether it is the current version.
    pub current: bool,
}

/// A workflow: its definition and every version tickets may run on.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowBody {
    /// In short.
    #[serde(flatten)]
    pub summary: WorkflowSummary,
    /// The definition as loaded (the workflow file's content).
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    /// Every version, oldest first.
    pub versions: Vec<VersionInfo>,
}

/// Which version to show.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A version; default: the current one.
    version: Option<String>,
}

fn find(state: &AppState, id: &str, version: Option<&str>) -> Result<std::sync::Arc<Workflow>, ApiError> {
    let found = match version {
        Some(version) => state.registry.version(id, version)?,
        None => state.registry.current(id),
    };
    found.ok_or_else(|| match version {
        Some(version) => ApiError::not_found(format!("workflow {id} has no version {version}")),
        None => ApiError::not_found(format!("no workflow {id}")),
    })
}

/// A workflow's definition and versions.
#[utoipa::path(get, path = "/v1/workflows/{id}", tag = "workflows", params(("id" = String, Path), VersionQuery),
    responses((status = 200, body = WorkflowBody), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn get_workflow(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<VersionQuery>,
) -> Result<Json<WorkflowBody>, ApiError> {
    let workflow = find(&state, &id, query.version.as_deref())?;
    let current = state.registry.current(&id).map(|w| w.version.clone());
    let versions = state
        .store
        .workflow_versions(&id)?
        .into_iter()
        .map(|v| VersionInfo {
            current: Some(&v.version) == current.as_ref(),
            version: v.version,
            stored_at: v.stored_at,
        })
        .collect();
    let definition = serde_json::to_value(&workflow.definition).map_err(|e| ApiError::internal(&e))?;
    Ok(Json(WorkflowBody { summary: summary(&workflow), definition, versions }))
}

/// The workflow as a Mermaid state diagram.
#[utoipa::path(get, path = "/v1/workflows/{id}/diagram", tag = "workflows", params(("id" = String, Path), VersionQuery),
    responses((status = 200, description = "Mermaid source", content_type = "text/plain", body = String),
              (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn diagram(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<VersionQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let workflow = find(&state, &id, query.version.as_deref())?;
    let text = crate::workflow::diagram::mermaid(&workflow.definition);
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

/// Reload the workflow folder (administrators). Every file is checked first; if any has an
/// error, nothing changes and the errors are returned, each with file, line and column.
#[utoipa::path(post, path = "/v1/workflows/reload", tag = "workflows",
    responses((status = 200, body = WorkflowList), (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn reload(State(state): State<AppState>, caller: Caller) -> Result<Json<WorkflowList>, ApiError> {
    caller.require_admin()?;
    let registry = state.registry.clone();
    let result = tokio::task::spawn_blocking(move || registry.reload()).await.map_err(|e| ApiError::internal(&e))?;
    match result {
        Ok(loaded) => Ok(Json(WorkflowList { items: loaded.iter().map(|w| summary(w)).collect() })),
        Err(RegistryError::Invalid(problems)) => {
            let errors = problems
                .iter()
                .filter(|p| p.is_error())
                .map(|p| {
                    let message = match &p.hint {
                        Some(hint) => format!("{} (hint: {hint})", p.message),
                        None => p.message.clone(),
                    };
                    FieldProblem::new(format!("{}:{}:{}", p.file.display(), p.line, p.column), message)
                })
                .collect();
            Err(ApiError::invalid(errors))
        }
        Err(other) => Err(other.into()),
    }
}
