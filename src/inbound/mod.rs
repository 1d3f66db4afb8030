//! Mail in: messages that reach Afterdesk become commands.
//!
//! - [`smtp`]: the built-in SMTP receiver: takes a message for a routed address, spools it
//!   durably, and only then answers `250`.

pub mod smtp;
