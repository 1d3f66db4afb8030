//! Pages for people: another adapter over the same commands and guards as the API.
//!
//! Server-rendered HTML from MiniJinja templates compiled into the binary
//! (`src/web/templates/`, see `build.rs`), a stylesheet and a vendored copy of htmx
//! (`assets`); every page works without JavaScript. Texts are in English, Persian and Arabic
//! ([`texts`]), dates in the workflow's time zone and calendar ([`crate::locale`]).
//!
//! - shared: [`page`] (rendering, the common frame, HTML errors, security headers),
//!   [`session`] (who is signed in, CSRF), [`signin`] (sign-in by a one-time link, sign-out,
//!   the language switch), [`limits`] (per-address rate limits), [`clocks`] (a ticket's SLA
//!   clocks as pages show them), [`assets`];
//! - agents: [`work`] (my work: assigned to me, then my roles' queues), [`ticket`] (a ticket:
//!   clocks, forms, checklist, transitions with their unmet guards, approvals, replies, notes,
//!   files, timeline);
//! - managers: [`dashboard`] (the KPIs with charts, for accountable roles and admins);
//! - customers: [`request`] (the web request form of a workflow), [`status`] (a request's
//!   status page from the customer's mail, with a reply box). The survey page is
//!   [`crate::api::survey`].

pub mod assets;
pub mod clocks;
pub mod dashboard;
pub mod limits;
pub mod page;
pub mod request;
pub mod session;
pub mod signin;
pub mod status;
pub mod texts;
pub mod ticket;
pub mod work;

use axum::Router;

use crate::api::AppState;

/// Every page's route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(assets::routes())
        .merge(signin::routes())
        .merge(work::routes())
        .merge(ticket::routes())
        .merge(dashboard::routes())
        .merge(request::routes())
        .merge(status::routes())
        .layer(axum::middleware::from_fn(page::security_headers))
}
