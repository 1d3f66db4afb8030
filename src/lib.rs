//! Afterdesk: a workflow engine for after-sales customer service.

pub mod workflow;
