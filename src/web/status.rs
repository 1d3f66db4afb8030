//! (Built by issue 15.)

use axum::Router;

use crate::api::AppState;

/// The routes of this page.
pub fn routes() -> Router<AppState> {
    Router::new()
}
