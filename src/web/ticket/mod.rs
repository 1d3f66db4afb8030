//! The ticket page (`/t/{number}`): what an agent works a ticket on.
//!
//! - this file: the routes, finding the ticket a signed-in person may read (out of their
//!   [`ReadScope`] it is not found, like in the API), and rendering the page with a notice,
//!   problems or kept values;
//! - [`view`]: what the page shows, built from the store and the engine's own functions
//!   (SLA deadlines, repeat requests, guards as a dry run of [`crate::engine::decide`]);
//! - [`actions`]: the forms the page posts, each one command through the writer with the
//!   ticket's revision, answered `303` back to the page or the page again with the engine's
//!   reasons.
//!
//! No rule of the workflow is decided here: a button is disabled because the engine, asked the
//! same question the writer would ask it, said no.

pub mod actions;
pub mod view;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::page::{Frame, PageError};
use super::session::SignedIn;
use crate::api::AppState;
use crate::api::extract::Caller;
use crate::api::scope::ReadScope;
use crate::engine::Ticket;
use crate::locale::Lang;
use crate::store::tokens::TokenRecord;
use crate::workflow::Workflow;

pub use view::Draft;

/// The routes of the ticket page and its forms.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/t/{number}", get(page))
        .route("/t/{number}/forms/{form}", post(actions::save_form))
        .route("/t/{number}/checklist", post(actions::tick))
        .route("/t/{number}/transitions/{name}", post(actions::transition))
        .route("/t/{number}/approval", post(actions::approval))
        .route("/t/{number}/comments", post(actions::comment))
        .route("/t/{number}/assign", post(actions::assign))
        .route("/t/{number}/files", post(actions::upload))
        .route("/t/{number}/files/{id}", get(actions::download))
}

/// A ticket a signed-in person may read, with the workflow version it runs on.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The ticket as stored.
    pub ticket: Ticket,
    /// The workflow version the ticket runs on.
    pub workflow: Arc<Workflow>,
}

impl Loaded {
    /// The language of the page: the person's choice, else the workflow's.
    pub fn lang(&self, who: &SignedIn) -> Lang {
        who.visitor.lang_for(self.workflow.definition.language)
    }

    /// The frame of the page, in its language and the workflow's time zone.
    pub fn frame(&self, who: &SignedIn) -> Frame {
        who.frame(self.lang(who), self.workflow.definition.timezone())
    }

    /// The page's own address (by number).
    pub fn path(&self) -> String {
        format!("/t/{}", self.ticket.number)
    }
}

/// The scope of a signed-in person: the one an API token of theirs would have.
pub fn scope_of(state: &AppState, who: &SignedIn) -> ReadScope {
    let record =
        TokenRecord::new(who.session.id.clone(), who.person().to_string(), who.session.role, who.session.created_at);
    ReadScope::of(&Caller(record), &state.registry)
}

/// The ticket `number` (or id) names, if `who` may read it: one out of their scope is not
/// found, like one that does not exist.
pub fn load(state: &AppState, who: &SignedIn, number: &str) -> Result<Loaded, PageError> {
    let id = state.store.resolve(number)?.ok_or(PageError::NotFound)?;
    let ticket = state.store.ticket(id)?.ok_or(PageError::NotFound)?;
    if !scope_of(state, who).sees(&ticket.workflow) {
        return Err(PageError::NotFound);
    }
    let workflow =
        state.registry.version(&ticket.workflow, &ticket.version).map_err(|e| PageError::internal(&e))?.ok_or_else(
            || PageError::Internal(format!("workflow {} version {} is not loaded", ticket.workflow, ticket.version)),
        )?;
    Ok(Loaded { ticket, workflow })
}

/// The error page for `error`, in the language of a page about no one workflow.
pub fn error_page(state: &AppState, who: &SignedIn, error: PageError) -> Response {
    who.frame(who.lang(state), chrono_tz::UTC).error(error)
}

/// Renders the page of `loaded` with `status` and what a refused form left (`draft`).
pub fn show(state: &AppState, who: &SignedIn, loaded: &Loaded, status: StatusCode, draft: &Draft) -> Response {
    let frame = loaded.frame(who);
    match view::build(state, who, loaded, draft, frame.lang) {
        Ok(page) => frame.render_with(status, "ticket.html", minijinja::Value::from_serialize(&page)),
        Err(error) => frame.error(error),
    }
}

/// The query of the page: the notice of what was just done.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// What the last form did (`saved`, `ticked`, `moved`, ...).
    #[serde(default)]
    pub done: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Path(number): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let loaded = match load(&state, &who, &number) {
        Ok(loaded) => loaded,
        Err(error) => return error_page(&state, &who, error),
    };
    let draft = Draft { done: query.done, ..Draft::default() };
    show(&state, &who, &loaded, StatusCode::OK, &draft)
}
