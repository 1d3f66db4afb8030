//! Afterdesk: a workflow engine for after-sales customer service.
//!
//! # Layout
//!
//! Data flows one way:
//!
//! ```text
//!  workflows/*.toml, scripts/*.rhai ──> workflow (load + check)
//!  caller ──> writer ──> engine (pure) ──> events ──> store (sled, one transaction per batch)
//!                          ^                                  │ timers, outbox
//!                          └── clock (system or manual)       v
//!                                       scheduler (timers), jobs (cron), notify (mail, webhooks)
//! ```
//!
//! - [`workflow`]: the definition language: model, parser, checker, loader, diagram;
//! - [`engine`]: the pure core: commands in, events out; ticket state as a fold of events;
//! - [`store`]: sled, and only sled: events, snapshots, indexes, customers, workflow versions;
//! - [`writer`]: the single writer task: applies commands through the engine and commits them
//!   in groups (one transaction and one flush per group), answering each caller once durable;
//! - [`team`]: what the writer knows of people for assignment (loads, availability, turns);
//! - [`registry`]: loaded workflow versions, current and old;
//! - [`scheduler`] and [`jobs`]: due SLA timers and cron jobs;
//! - [`notify`]: delivery of the outbox: mail (SMTP), webhooks, survey links;
//! - [`inbound`]: mail in: the SMTP receiver spools messages for the addresses routed to workflows;
//! - [`api`]: the REST API (axum), thin over the writer and the store;
//! - [`serve`]: the HTTP listener: a connection limit, header-read and idle timeouts, a graceful stop;
//! - [`locale`]: languages of the built-in texts, dates in a time zone and calendar;
//! - [`web`]: pages for people: agents, managers and customers;
//! - [`clock`]: the time source.

pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod engine;
pub mod inbound;
pub mod jobs;
pub mod locale;
pub mod notify;
pub mod registry;
pub mod reports;
pub mod scheduler;
pub mod serve;
pub mod simulate;
pub mod store;
pub mod team;
pub mod web;
pub mod workflow;
pub mod writer;
