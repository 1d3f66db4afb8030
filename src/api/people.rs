//! `/v1/people`: the people of the workflows' roles, whether they take new work, and how many
//! open tickets they carry. A person's id is their email (or id) as written in `[roles]`.
//!
//! Availability is set through the writer, like every change, so automatic assignment sees it
//! from the next ticket on; an administrator may set anyone's, an agent only their own.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiJson, ApiPath, Caller};
use super::problem::{ApiError, Problem};
use crate::store::people::Availability;
use crate::store::tokens::TokenRole;
use crate::writer::AvailabilityRequest;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_people)).routes(routes!(get_person)).routes(routes!(set_availability))
}

/// A role a person plays.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleOf {
    /// The workflow.
    pub workflow: String,
    /// The role.
    pub role: String,
}

/// A person as assignment sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Person {
    /// Id (email), lower-case.
    pub id: String,
    /// The roles they play in the current workflow versions.
    pub roles: Vec<RoleOf>,
    /// Whether they take new tickets now.
    pub available: bool,
    /// Their availability as last set (absent: never set, available).
    pub availability: Option<Availability>,
    /// Open tickets assigned to them.
    pub open_tickets: u32,
}

/// Everybody.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeopleList {
    /// The people, by id.
    pub items: Vec<Person>,
}

/// Whether a person takes new work.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityBody {
    /// `false` while absent: automatic assignment skips them.
    pub available: bool,
    /// When an unavailable person is back (RFC 3339); without it, until set available again.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Why (leave, training, ...).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Every person of every current workflow's roles, with their roles.
fn roster(state: &AppState) -> BTreeMap<String, Vec<RoleOf>> {
    let mut people: BTreeMap<String, Vec<RoleOf>> = BTreeMap::new();
    for workflow in state.registry.all_current() {
        for (role, members) in &workflow.definition.roles {
            for member in members {
                people
                    .entry(member.get_ref().to_lowercase())
                    .or_default()
                    .push(RoleOf { workflow: workflow.id().to_string(), role: role.get_ref().clone() });
            }
        }
    }
    for roles in people.values_mut() {
        roles.sort_by(|a, b| (&a.workflow, &a.role).cmp(&(&b.workflow, &b.role)));
    }
    people
}

fn person(state: &AppState, id: String, roles: Vec<RoleOf>) -> Result<Person, ApiError> {
    let availability = state.store.availability(&id)?;
    let now = state.clock.now();
    Ok(Person {
        available: !availability.as_ref().is_some_and(|a| a.away_at(now)),
        open_tickets: state.store.open_load(&id)?,
        availability,
        roles,
        id,
    })
}

/// Everybody who plays a role, with their availability and open load.
#[utoipa::path(get, path = "/v1/people", tag = "people",
    responses((status = 200, body = PeopleList)), security(("bearer" = [])))]
async fn list_people(State(state): State<AppState>, _caller: Caller) -> Result<Json<PeopleList>, ApiError> {
    let items = tokio::task::spawn_blocking(move || {
        roster(&state).into_iter().map(|(id, roles)| person(&state, id, roles)).collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(PeopleList { items }))
}

/// One person.
#[utoipa::path(get, path = "/v1/people/{id}", tag = "people",
    params(("id" = String, Path, description = "The person's id (email) as in `[roles]`")),
    responses((status = 200, body = Person), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn get_person(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Person>, ApiError> {
    let id = id.trim().to_lowercase();
    let roles =
        roster(&state).remove(&id).ok_or_else(|| ApiError::not_found(format!("{id} is not a member of any role")))?;
    Ok(Json(person(&state, id, roles)?))
}

/// Set whether a person takes new tickets (administrators, or the person themself).
#[utoipa::path(post, path = "/v1/people/{id}/availability", tag = "people",
    params(("id" = String, Path, description = "The person's id (email) as in `[roles]`")),
    request_body = AvailabilityBody,
    responses((status = 200, body = Person),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn set_availability(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AvailabilityBody>,
) -> Result<Json<Person>, ApiError> {
    let id = id.trim().to_lowercase();
    let themself = caller.0.role == TokenRole::Agent && caller.0.person.eq_ignore_ascii_case(&id);
    if !themself {
        caller
            .require_admin()
            .map_err(|_| ApiError::forbidden(format!("only an administrator or {id} may set {id}'s availability")))?;
    }
    let request = AvailabilityRequest {
        person: id.clone(),
        available: body.available,
        until: body.until,
        reason: body.reason,
        by: caller.0.person.clone(),
    };
    state.writer.set_availability(request).await?;
    let roles = roster(&state).remove(&id).unwrap_or_default();
    Ok(Json(person(&state, id, roles)?))
}
