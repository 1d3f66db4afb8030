//! The workflow language: what a consultant writes in `workflows/*.toml`, how it is read,
//! checked and drawn.
//!
//! - [`model`]: the serde types of a workflow file;
//! - [`values`]: durations, percentages, time zones, hours, dates and cron schedules;
//! - [`parse`]: text to model, reporting every syntax and structure problem;
//! - [`script`]: finds and compiles the Rhai scripts a workflow uses;
//! - [`check`]: semantic validation (references, reachability, ...);
//! - [`load`]: reads files and folders into versioned [`Workflow`]s;
//! - [`diagnostic`]: problems with file, line, column and hint;
//! - [`diagram`]: Mermaid export.
//!
//! Nothing here does network or database I/O; `load` only reads files.

pub mod check;
pub mod diagnostic;
pub mod load;
pub mod model;
pub mod parse;
pub mod script;
pub mod values;

pub use diagnostic::{Diagnostic, Severity};
pub use load::{Loaded, Workflow, load_file, load_paths};
pub mod diagram;
