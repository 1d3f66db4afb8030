//! The pure core: `(workflow, ticket, command, now) -> events`.
//!
//! No I/O happens here: no sled, no HTTP, no mail, no system clock. Callers pass in what the
//! engine needs (see [`Context`]) and carry out what it decides. That is what makes replay,
//! `simulate` and millisecond-fast tests possible.
//!
//! - [`command`]: what callers ask for;
//! - [`event`]: what happened (the ticket's log);
//! - [`ticket`]: state as the fold of events;
//! - [`customer`]: customers and their history (repeat requests);
//! - [`decide`]: commands to events;
//! - [`transition`]: guards and RACI permissions;
//! - [`forms`]: form values against their definition;
//! - [`routing`]: queue and role of a new ticket; [`assign`]: the person within the role;
//! - [`rules`]: the sandboxed Rhai host and its rule kinds; [`view`]: what scripts see;
//!   [`helpers`]: functions scripts may call; [`hooks`]: event hooks and their actions;
//! - [`sla`] and [`calendar`]: SLA clocks in business time; [`notices`]: the mail events cause;
//! - [`reply`]: what a customer's reply does (on_customer_reply, reopening);
//! - [`survey`]: who is surveyed and what a valid answer is;
//! - [`attachment`]: files on a ticket; [`attach`]: who may attach what, within which limits;
//!   [`phone`]: phone numbers in E.164;
//! - [`error`]: why a command is refused.

pub mod assign;
pub mod attach;
pub mod attachment;
pub mod calendar;
pub mod command;
pub mod customer;
pub mod decide;
pub mod error;
pub mod event;
pub mod forms;
pub mod helpers;
pub mod hooks;
pub mod notices;
pub mod phone;
pub mod reply;
pub mod routing;
pub mod rules;
pub mod sla;
pub mod survey;
pub mod ticket;
pub mod transition;
pub mod view;

pub use assign::Team;
pub use command::{Command, OpenTicket};
pub use customer::{Customer, CustomerId, CustomerInput, History};
pub use decide::{Context, decide, open, stamp};
pub use error::{EngineError, FieldProblem};
pub use event::{Actor, ActorKind, Change, Event, Relation};
pub use ticket::{Status, Ticket, TicketId};
