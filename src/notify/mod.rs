//! Side effects, delivered from the outbox: email (lettre over SMTP) and webhooks.
//!
//! The writer puts every message in the outbox in the same transaction as the event that caused
//! it; the [`worker`] sends them, with retries, backoff and dead letters, so a mail server that
//! is down delays mail and loses none.
//!
//! - [`templates`]: built-in mail templates and a workflow's overrides (MiniJinja);
//! - [`mail`]: an outbox message as a MIME message (stable Message-ID, per-ticket thread), sent
//!   over SMTP;
//! - [`files`]: a ticket's files attached to a mail;
//! - [`webhook`]: which events a webhook hears, and the signed POST;
//! - [`survey`]: signed, expiring survey links;
//! - [`links`]: the other signed links of mails: sign-in (staff), request status (customers);
//! - [`worker`]: the delivery loop.

pub mod files;
pub mod links;
pub mod mail;
pub mod survey;
pub mod templates;
pub mod webhook;
pub mod worker;

pub use worker::Delivery;
