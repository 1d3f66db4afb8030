//! The pages' static files, compiled into the binary: the stylesheet, the icon, and a vendored htmx
//! (2.0.11, from the npm package `htmx.org`, unmodified). Served with a long cache lifetime;
//! their URLs carry the crate version, so a new release is fetched anew.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::api::AppState;

const CSS: &str = include_str!("assets/app.css");
const HTMX: &str = include_str!("assets/htmx.min.js");
const APP_JS: &str = include_str!("assets/app.js");
const ICON: &str = include_str!("assets/favicon.svg");

/// The routes of the static files.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", CSS) }))
        .route("/assets/htmx.min.js", get(|| async { asset("text/javascript; charset=utf-8", HTMX) }))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/assets/favicon.svg", get(|| async { asset("image/svg+xml", ICON) }))
        .route("/favicon.ico", get(|| async { asset("image/svg+xml", ICON) }))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=86400")], body)
}
