//! Mail in: messages that reach Afterdesk become commands.
//!
//! - [`smtp`]: the built-in SMTP receiver: takes a message for a routed address, spools it
//!   durably, and only then answers `250`.
//! - [`parse`]: what a raw message says (author, thread, new text, files, automatic or not,
//!   bounce).
//! - [`process`]: turns each spooled message into what it means: a new ticket, a customer's
//!   reply, a bounce marked on the outbox, or nothing (recorded why).

pub mod parse;
pub mod process;
pub mod smtp;
