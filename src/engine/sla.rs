//! SLA clocks: when they start, pause, resume, stop; when they warn, breach, escalate and remind.
//!
//! Three kinds of clock, each with the rules of the workflow file:
//!
//! - `first_response` starts when the ticket is opened and is met by the first public reply of
//!   staff (or as its `met_by` says);
//! - `resolution` starts when the ticket is opened (again when it is reopened) and is met when
//!   the ticket is resolved (or as its `met_by` says); closing stops it too;
//! - `stage:ID` starts when the ticket enters a stage with an `sla` and stops when it leaves
//!   (but see waiting stages below).
//!
//! Every running clock pauses while the ticket is in a stage with `pauses_sla = true` and
//! resumes when it leaves; the deadline moves out by the business time spent paused. A stage
//! clock runs while the ticket is in its stage, pauses in waiting stages entered from it (it is
//! not met by leaving for one), resumes with the time it had left when the ticket comes back,
//! and stops when the ticket moves on anywhere else. A clock's
//! deadline, warning point, escalation levels and reminders are computed here from its state
//! and the definition ([`timers`]); the store keeps them as due timers, and when one comes due
//! [`fire`] checks again against the ticket as it is then, so a stale timer does nothing.

use chrono::{DateTime, Duration, Utc};

use super::calendar::BusinessCalendar;
use super::customer::Customer;
use super::event::Change;
use super::ticket::{SlaClock, Ticket};
use crate::workflow::check::{ALWAYS_OPEN, CUSTOMER};
use crate::workflow::model::{MetBy, Sla, WorkflowFile};

/// The ticket-level first-response clock.
pub const FIRST_RESPONSE: &str = "first_response";
/// The ticket-level resolution clock.
pub const RESOLUTION: &str = "resolution";

/// The clock of a stage.
pub fn stage_clock(stage: &str) -> String {
    format!("stage:{stage}")
}

/// The definition of a clock.
pub fn definition<'a>(workflow: &'a WorkflowFile, clock: &str) -> Option<&'a Sla> {
    match clock {
        FIRST_RESPONSE => workflow.sla.first_response.as_ref(),
        RESOLUTION => workflow.sla.resolution.as_ref(),
        other => other.strip_prefix("stage:").and_then(|stage| workflow.stages.get(stage)).and_then(|s| s.sla.as_ref()),
    }
}

/// The calendar a clock counts in: its own, else the workflow's, else always open.
pub fn calendar(workflow: &WorkflowFile, sla: &Sla) -> BusinessCalendar {
    let name = sla.calendar.as_ref().or(workflow.calendar.as_ref()).map(|c| c.get_ref().as_str());
    match name.and_then(|n| workflow.calendars.get(n)) {
        Some(calendar) if name != Some(ALWAYS_OPEN) => BusinessCalendar::from_definition(calendar),
        _ => BusinessCalendar::always_open(),
    }
}

/// Business time allowed for a ticket of `priority`.
pub fn target(sla: &Sla, priority: &str) -> Duration {
    let within = sla.by_priority.get(priority).unwrap_or(&sla.within);
    Duration::from_std(within.get_ref().get()).unwrap_or(Duration::MAX)
}

fn secs(duration: Duration) -> u64 {
    u64::try_from(duration.num_seconds()).unwrap_or(0)
}

/// Business time a clock has used by `now`.
pub fn used(clock: &SlaClock, calendar: &BusinessCalendar, now: DateTime<Utc>) -> Duration {
    let running = clock.running_since.map_or(Duration::zero(), |since| calendar.elapsed(since, now));
    Duration::seconds(i64::try_from(clock.used_secs).unwrap_or(i64::MAX)) + running
}

/// When a running clock runs out (`None` while paused or stopped).
pub fn deadline(clock: &SlaClock, calendar: &BusinessCalendar) -> Option<DateTime<Utc>> {
    let since = clock.running_since?;
    let left = clock.target_secs.saturating_sub(clock.used_secs);
    Some(calendar.add(since, Duration::seconds(i64::try_from(left).unwrap_or(i64::MAX))))
}

fn met_by(clock: &str, sla: &Sla) -> MetBy {
    match (sla.met_by.as_ref().map(|m| *m.get_ref()), clock) {
        (Some(met_by), _) => met_by,
        (None, FIRST_RESPONSE) => MetBy::FirstPublicReply,
        _ => MetBy::Resolved,
    }
}

fn start(workflow: &WorkflowFile, clock: &str, ticket: &Ticket) -> Option<Change> {
    let sla = definition(workflow, clock)?;
    Some(Change::SlaStarted { clock: clock.to_string(), target_secs: secs(target(sla, &ticket.priority)) })
}

fn stop(workflow: &WorkflowFile, clock: &str, ticket: &Ticket, now: DateTime<Utc>) -> Option<Change> {
    let state = ticket.slas.get(clock).filter(|c| c.is_active())?;
    let sla = definition(workflow, clock)?;
    let taken = used(state, &calendar(workflow, sla), now);
    let met = state.breached_at.is_none() && secs(taken) <= state.target_secs;
    Some(Change::SlaStopped { clock: clock.to_string(), business_secs: secs(taken), met })
}

/// The clock changes that follow from `changes`, which took the ticket from `before` (`None`
/// for a new ticket) to `after` at `now`.
pub fn follow_up(
    workflow: &WorkflowFile,
    before: Option<&Ticket>,
    after: &Ticket,
    changes: &[Change],
    now: DateTime<Utc>,
) -> Vec<Change> {
    let mut out = Vec::new();
    let pauses = |stage: &str| workflow.stages.get(stage).is_some_and(|s| s.pauses_sla);
    let start_stage = workflow.start_stage();
    // Clocks as they will be after `out`: so a clock stopped here is not also paused.
    let mut active: Vec<String> = after.slas.iter().filter(|(_, c)| c.is_active()).map(|(k, _)| k.clone()).collect();
    let stopping = |out: &mut Vec<Change>, active: &mut Vec<String>, clock: &str| {
        if let Some(change) = active.iter().any(|c| c == clock).then(|| stop(workflow, clock, after, now)).flatten() {
            active.retain(|c| c != clock);
            out.push(change);
        }
    };
    for change in changes {
        match change {
            Change::Opened { stage, .. } if before.is_none() => {
                for clock in [FIRST_RESPONSE.to_string(), RESOLUTION.to_string(), stage_clock(stage)] {
                    if let Some(started) = start(workflow, &clock, after) {
                        out.push(started);
                    }
                }
            }
            Change::StageChanged { from, to, .. } => {
                // A stage clock pauses in a waiting stage entered from its stage, resumes when
                // the ticket comes back, and stops when it moves on anywhere else.
                if pauses(to) && !pauses(from) {
                    // Kept: paused below with the other running clocks.
                } else {
                    stopping(&mut out, &mut active, &stage_clock(from));
                }
                if pauses(from) && !pauses(to) {
                    let elsewhere: Vec<String> =
                        active.iter().filter(|c| c.starts_with("stage:") && **c != stage_clock(to)).cloned().collect();
                    for clock in elsewhere {
                        stopping(&mut out, &mut active, &clock);
                    }
                }
                for clock in [FIRST_RESPONSE, RESOLUTION] {
                    let sla = definition(workflow, clock);
                    if sla.is_some_and(|s| met_by(clock, s) == MetBy::LeavingStart)
                        && Some(from.as_str()) == start_stage
                    {
                        stopping(&mut out, &mut active, clock);
                    }
                }
                let terminal = workflow.stages.get(to.as_str()).is_some_and(|s| s.terminal);
                let resumes = active.contains(&stage_clock(to));
                if !terminal
                    && !resumes
                    && let Some(started) = start(workflow, &stage_clock(to), after)
                {
                    out.push(started);
                }
                match (pauses(from), pauses(to)) {
                    (false, true) => {
                        for clock in &active {
                            if let Some(state) = after.slas.get(clock).filter(|c| c.running_since.is_some())
                                && let Some(sla) = definition(workflow, clock)
                            {
                                let used_secs = secs(used(state, &calendar(workflow, sla), now));
                                out.push(Change::SlaPaused { clock: clock.clone(), used_secs });
                            }
                        }
                    }
                    (true, false) => {
                        for clock in &active {
                            if after.slas.get(clock).is_some_and(|c| c.running_since.is_none()) {
                                out.push(Change::SlaResumed { clock: clock.clone() });
                            }
                        }
                    }
                    _ => {}
                }
            }
            Change::Commented { public: true, .. } => {
                let first_reply =
                    before.is_some_and(|b| b.first_response_at.is_none()) && after.first_response_at.is_some();
                for clock in [FIRST_RESPONSE, RESOLUTION] {
                    let sla = definition(workflow, clock);
                    if first_reply && sla.is_some_and(|s| met_by(clock, s) == MetBy::FirstPublicReply) {
                        stopping(&mut out, &mut active, clock);
                    }
                }
            }
            Change::Resolved { .. } => {
                for clock in [FIRST_RESPONSE, RESOLUTION] {
                    if definition(workflow, clock).is_some_and(|s| met_by(clock, s) == MetBy::Resolved) {
                        stopping(&mut out, &mut active, clock);
                    }
                }
            }
            Change::Closed | Change::Merged { .. } => {
                for clock in active.clone() {
                    stopping(&mut out, &mut active, &clock);
                }
            }
            Change::Reopened { .. } => {
                if !active.iter().any(|c| c == RESOLUTION)
                    && let Some(started) = start(workflow, RESOLUTION, after)
                {
                    active.push(RESOLUTION.to_string());
                    out.push(started);
                }
            }
            Change::PriorityChanged { priority } => {
                for clock in &active {
                    if let (Some(sla), Some(state)) = (definition(workflow, clock), after.slas.get(clock)) {
                        let target_secs = secs(target(sla, priority));
                        if target_secs != state.target_secs {
                            out.push(Change::SlaTargetChanged { clock: clock.clone(), target_secs });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// What a timer does when it comes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alert {
    /// Send the warning.
    Warn,
    /// Record the breach.
    Breach,
    /// Reach this escalation level (from 1).
    Escalate(u32),
    /// Send this reminder (from 1).
    Remind(u32),
}

/// A due timer of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timer {
    /// When it comes due.
    pub due: DateTime<Utc>,
    /// The clock.
    pub clock: String,
    /// What it does.
    pub alert: Alert,
}

impl Timer {
    /// The timer's kind as text: `CLOCK/warn`, `CLOCK/breach`, `CLOCK/escalate/N`,
    /// `CLOCK/remind/N`.
    pub fn kind(&self) -> String {
        match self.alert {
            Alert::Warn => format!("{}/warn", self.clock),
            Alert::Breach => format!("{}/breach", self.clock),
            Alert::Escalate(level) => format!("{}/escalate/{level}", self.clock),
            Alert::Remind(count) => format!("{}/remind/{count}", self.clock),
        }
    }

    /// Reads a kind written by [`Timer::kind`].
    pub fn parse_kind(kind: &str) -> Option<(String, Alert)> {
        let mut parts = kind.rsplitn(3, '/');
        let last = parts.next()?;
        let middle = parts.next()?;
        match (middle, last) {
            (_, "warn") => Some((kind.strip_suffix("/warn")?.to_string(), Alert::Warn)),
            (_, "breach") => Some((kind.strip_suffix("/breach")?.to_string(), Alert::Breach)),
            ("escalate", n) => Some((parts.next()?.to_string(), Alert::Escalate(n.parse().ok()?))),
            ("remind", n) => Some((parts.next()?.to_string(), Alert::Remind(n.parse().ok()?))),
            _ => None,
        }
    }
}

/// The timers a ticket needs now: for each running clock its next warning, breach,
/// escalation level or reminder. Paused and stopped clocks have none.
pub fn timers(workflow: &WorkflowFile, ticket: &Ticket) -> Vec<Timer> {
    let mut out = Vec::new();
    if ticket.status.is_finished() {
        return out;
    }
    for (name, clock) in &ticket.slas {
        let (Some(since), Some(sla)) = (clock.running_since, definition(workflow, name)) else { continue };
        let calendar = calendar(workflow, sla);
        let timer = |due, alert| Timer { due, clock: name.clone(), alert };
        match clock.breached_at {
            None => {
                if let Some(warn_at) = &sla.warn_at
                    && !clock.warned
                {
                    let point = (clock.target_secs as f64 * warn_at.get_ref().fraction()) as u64;
                    let left = point.saturating_sub(clock.used_secs);
                    out.push(timer(calendar.add(since, Duration::seconds(left as i64)), Alert::Warn));
                }
                if let Some(due) = deadline(clock, &calendar) {
                    out.push(timer(due, Alert::Breach));
                }
            }
            Some(breached) => {
                if let Some(level) = sla.escalate.get(clock.level as usize) {
                    // `after` the deadline in the clock's own business time, so time paused
                    // after the breach moves the level out like it moves the deadline.
                    let after = level.after.get_ref().get().as_secs();
                    let left = clock.target_secs.saturating_add(after).saturating_sub(clock.used_secs);
                    let due = calendar.add(since, Duration::seconds(i64::try_from(left).unwrap_or(i64::MAX)));
                    out.push(timer(due, Alert::Escalate(clock.level + 1)));
                } else if let Some(every) = &sla.remind_every {
                    let acted = ticket.staff_activity_at.is_some_and(|at| at > breached);
                    if !acted {
                        let last = clock.last_alert_at.unwrap_or(breached);
                        let every = Duration::from_std(every.get_ref().get()).unwrap_or(Duration::MAX);
                        out.push(timer(calendar.add(last, every), Alert::Remind(clock.reminders + 1)));
                    }
                }
            }
        }
    }
    out
}

/// A timer as the store keeps it: its due instant and kind (see [`Timer::kind`]).
pub type TimerKey = (DateTime<Utc>, String);

/// The timers to arm and to cancel when a ticket goes from `before` (`None`: new) to `after`:
/// the difference of the timers each needs, plus every timer in `seen` (found due and handed
/// to a `fire` command) that `after` no longer needs. A timer is only ever cancelled once the
/// engine has the ticket past it: fired, stopped, paused, or never the ticket's at all.
pub fn timer_changes(
    workflow: &WorkflowFile,
    before: Option<&Ticket>,
    after: &Ticket,
    seen: &[TimerKey],
) -> (Vec<TimerKey>, Vec<TimerKey>) {
    use std::collections::BTreeSet;
    let keys = |ticket: &Ticket| -> BTreeSet<TimerKey> {
        timers(workflow, ticket).into_iter().map(|t| (t.due, t.kind())).collect()
    };
    let mut had = before.map(keys).unwrap_or_default();
    had.extend(seen.iter().cloned());
    let needs = keys(after);
    (needs.difference(&had).cloned().collect(), had.difference(&needs).cloned().collect())
}

/// The changes a due timer causes, checked against the ticket as it is at `now`; nothing if
/// the timer is stale (the clock moved on, paused, or stopped).
///
/// `team`, when given, lets a `reassign_to` escalation pick the least-loaded available member
/// of the role; without it the next member after the current assignee takes the ticket.
pub fn fire(
    workflow: &WorkflowFile,
    ticket: &Ticket,
    customer: Option<&Customer>,
    clock: &str,
    alert: Alert,
    now: DateTime<Utc>,
    team: Option<&super::assign::Team>,
) -> Vec<Change> {
    let due = timers(workflow, ticket).into_iter().any(|t| t.clock == clock && t.alert == alert && t.due <= now);
    let Some(sla) = definition(workflow, clock).filter(|_| due) else { return Vec::new() };
    let notify = |list: &[crate::workflow::model::Name], fallback: &str| {
        let mut names: Vec<&str> = list.iter().map(|n| n.get_ref().as_str()).collect();
        if names.is_empty() {
            names.push(fallback);
        }
        recipients(workflow, ticket, customer, &names)
    };
    let clock = clock.to_string();
    match alert {
        Alert::Warn => vec![Change::SlaWarned { notify: notify(&sla.warn, "responsible"), clock }],
        Alert::Breach => vec![Change::SlaBreached { clock }],
        Alert::Escalate(level) => {
            let Some(step) = sla.escalate.get(level.saturating_sub(1) as usize) else { return Vec::new() };
            let mut out = vec![Change::SlaEscalated { clock, level, notify: notify(&step.notify, "accountable") }];
            if step.raise_priority {
                let position = workflow.priorities.iter().position(|p| p.get_ref() == &ticket.priority);
                if let Some(higher) = position.and_then(|i| workflow.priorities.get(i + 1)) {
                    out.push(Change::PriorityChanged { priority: higher.get_ref().clone() });
                }
            }
            let current = ticket.assignee.as_deref();
            let to = |role: &str| match team {
                Some(team) => super::assign::escalate_to(workflow, role, current, team),
                None => next_member(workflow, role, current),
            };
            if let Some(role) = &step.reassign_to
                && let Some(person) = to(role.get_ref())
            {
                out.push(Change::Assigned { assignee: Some(person), queue: None });
            }
            out
        }
        Alert::Remind(count) => {
            let last = sla.escalate.last().map_or(&sla.warn[..], |step| &step.notify[..]);
            vec![Change::SlaReminded { clock, count, notify: notify(last, "responsible") }]
        }
    }
}

/// The member of `role` after `current` (the first when `current` is not in the role).
fn next_member(workflow: &WorkflowFile, role: &str, current: Option<&str>) -> Option<String> {
    let members = workflow.roles.get(role)?;
    let index = current
        .and_then(|c| members.iter().position(|m| m.get_ref().eq_ignore_ascii_case(c)))
        .map_or(0, |i| (i + 1) % members.len().max(1));
    members.get(index).map(|m| m.get_ref().clone())
}

/// The email addresses (or people ids) behind a list of recipients: role ids, RACI words of the
/// ticket's current stage, `assignee`, `customer`, or addresses. Sorted, without repeats.
pub fn recipients(workflow: &WorkflowFile, ticket: &Ticket, customer: Option<&Customer>, list: &[&str]) -> Vec<String> {
    let stage = workflow.stages.get(ticket.stage.as_str());
    let members = |role: &str| -> Vec<String> {
        workflow.roles.get(role).map(|m| m.iter().map(|p| p.get_ref().clone()).collect()).unwrap_or_default()
    };
    let mut out = Vec::new();
    for entry in list {
        match *entry {
            CUSTOMER => out.extend(customer.and_then(|c| c.email.clone())),
            "assignee" => match &ticket.assignee {
                Some(person) => out.push(person.clone()),
                None => out.extend(
                    stage.and_then(|s| s.raci.responsible.as_ref()).map_or_else(Vec::new, |r| members(r.get_ref())),
                ),
            },
            "responsible" => out.extend(
                stage.and_then(|s| s.raci.responsible.as_ref()).map_or_else(Vec::new, |r| members(r.get_ref())),
            ),
            "accountable" => out.extend(
                stage.and_then(|s| s.raci.accountable.as_ref()).map_or_else(Vec::new, |r| members(r.get_ref())),
            ),
            "consulted" => {
                for role in stage.map_or(&[][..], |s| &s.raci.consulted[..]) {
                    out.extend(members(role.get_ref()));
                }
            }
            "informed" => {
                for party in stage.map_or(&[][..], |s| &s.raci.informed[..]) {
                    match party.get_ref().as_str() {
                        CUSTOMER => out.extend(customer.and_then(|c| c.email.clone())),
                        role => out.extend(members(role)),
                    }
                }
            }
            address if address.contains('@') => out.push(address.to_string()),
            role => out.extend(members(role)),
        }
    }
    out.iter_mut().for_each(|a| *a = a.to_lowercase());
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_kinds_read_back() {
        for (clock, alert) in [
            ("first_response", Alert::Warn),
            ("stage:review", Alert::Breach),
            ("stage:waiting/customer", Alert::Escalate(3)),
            ("resolution", Alert::Remind(12)),
        ] {
            let timer = Timer { due: DateTime::<Utc>::MIN_UTC, clock: clock.into(), alert };
            assert_eq!(Timer::parse_kind(&timer.kind()), Some((clock.to_string(), alert)), "{}", timer.kind());
        }
        assert_eq!(Timer::parse_kind("nonsense"), None);
    }
}
