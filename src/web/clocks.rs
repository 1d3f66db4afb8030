//! A ticket's SLA clocks as the pages show them: label, state, due time, time left or overdue,
//! all computed by the engine's own functions ([`crate::engine::sla`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::engine::Ticket;
use crate::engine::calendar::BusinessCalendar;
use crate::engine::sla;
use crate::workflow::model::WorkflowFile;

/// Where a clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Past its deadline.
    Breached,
    /// Its warning went out.
    Warned,
    /// Counting, in time.
    Running,
    /// Not counting now (a waiting stage, outside business hours does not pause it).
    Paused,
}

/// The business calendars of one workflow version's clocks, built once per page (building
/// one reads its hours and holidays).
#[derive(Default)]
pub struct Calendars(HashMap<String, BusinessCalendar>);

/// One running (or paused) clock of a ticket.
#[derive(Debug, Clone, Serialize)]
pub struct ClockView {
    /// The clock's id (`first_response`, `resolution`, `stage:review`).
    pub id: String,
    /// What it times: `first_response`, `resolution` or `stage` (texts `clocks.KIND`).
    pub kind: &'static str,
    /// The stage's name, for a stage's clock.
    pub stage_name: Option<String>,
    /// Where it stands.
    pub state: ClockState,
    /// When it runs out (absent while paused).
    pub due: Option<DateTime<Utc>>,
    /// Business seconds left (negative: overdue by that much business time).
    pub left_secs: i64,
}

/// The clocks of `ticket` still counting at `now` (stopped ones left out), most urgent first.
/// `calendars` must be of the ticket's workflow version.
pub fn clocks(
    workflow: &WorkflowFile,
    ticket: &Ticket,
    now: DateTime<Utc>,
    calendars: &mut Calendars,
) -> Vec<ClockView> {
    let mut out: Vec<ClockView> = ticket
        .slas
        .iter()
        .filter(|(_, clock)| clock.is_active())
        .filter_map(|(id, clock)| {
            let definition = sla::definition(workflow, id)?;
            let calendar = calendars.0.entry(id.clone()).or_insert_with(|| sla::calendar(workflow, definition));
            let due = sla::deadline(clock, calendar);
            let used = sla::used(clock, calendar, now).num_seconds();
            let left_secs = i64::try_from(clock.target_secs).unwrap_or(i64::MAX).saturating_sub(used);
            let state = if clock.breached_at.is_some() {
                ClockState::Breached
            } else if clock.running_since.is_none() {
                ClockState::Paused
            } else if clock.warned {
                ClockState::Warned
            } else {
                ClockState::Running
            };
            let (kind, stage_name) = match id.as_str() {
                sla::FIRST_RESPONSE => ("first_response", None),
                sla::RESOLUTION => ("resolution", None),
                other => {
                    let stage = other.strip_prefix("stage:").unwrap_or(other);
                    let name = workflow.stages.get(stage).and_then(|s| s.name.clone()).unwrap_or_else(|| stage.into());
                    ("stage", Some(name))
                }
            };
            Some(ClockView { id: id.clone(), kind, stage_name, state, due, left_secs })
        })
        .collect();
    out.sort_by_key(urgency);
    out
}

/// How urgent a clock is: breached, then warned, then running, then paused; by due time within.
pub fn urgency(clock: &ClockView) -> (ClockState, DateTime<Utc>) {
    (clock.state, clock.due.unwrap_or(DateTime::<Utc>::MAX_UTC))
}

/// How urgent a ticket is, by its most urgent clock: breached first, then warned, then the
/// nearest due time; tickets without a running clock last.
pub fn ticket_urgency(most_urgent: Option<&ClockView>) -> (ClockState, DateTime<Utc>) {
    most_urgent.map_or((ClockState::Paused, DateTime::<Utc>::MAX_UTC), urgency)
}
