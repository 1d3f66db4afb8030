//! What one ticket counts for, as a pure function of the ticket (its snapshot, the fold of its
//! events) and its workflow: the buckets it adds to and what it adds. The writer takes a
//! ticket's contribution out and puts the new one in, in the same transaction as its events;
//! `afterdesk reports rebuild` sums the contributions of every ticket replayed from its events.
//! Both go through this one function, so they cannot disagree.
//!
//! Each figure counts on the day (UTC) it happened: opened on the opening day; the first
//! response on its day; resolution, first-contact resolution and reopens on the day it was
//! (last) resolved; survey answers and sending on that day too (or the opening day, unresolved);
//! an SLA clock's outcome on the day it was met or breached. Every bucket is also split by the
//! ticket's category, priority, channel, assignee (the agent credited) and role (the team).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::aggregate::Agg;
use crate::engine::event::Relation;
use crate::engine::ticket::Ticket;
use crate::workflow::model::WorkflowFile;

/// Which dimensions a bucket keeps. Every figure is kept four times: in one bucket per day
/// with every dimension (any filter can be answered from these), and in smaller sets of
/// buckets that keep none, or only the category, or only the agent, which answer the common
/// reports (no filter, per category, per agent, trends) reading far fewer buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    /// Every dimension.
    Full = 0,
    /// No dimension: the workflow's totals per day.
    Total = 1,
    /// The category only.
    Category = 2,
    /// The agent only.
    Agent = 3,
}

impl Family {
    /// Every family.
    pub const ALL: [Self; 4] = [Self::Full, Self::Total, Self::Category, Self::Agent];

    /// The family's bucket for a full one (dimensions it does not keep are `""`).
    pub fn of(self, full: &BucketKey) -> BucketKey {
        let keep = |yes: bool, value: &str| if yes { value.to_string() } else { String::new() };
        let (category, agent, all) = (self == Self::Category, self == Self::Agent, self == Self::Full);
        BucketKey {
            workflow: full.workflow.clone(),
            family: self,
            day: full.day,
            category: keep(all || category, &full.category),
            priority: keep(all, &full.priority),
            channel: keep(all, &full.channel),
            agent: keep(all || agent, &full.agent),
            team: keep(all, &full.team),
        }
    }

    /// The byte that stands for the family in keys.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// The family a key byte stands for.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.byte() == byte)
    }
}

/// One bucket: a workflow, a family, a day and the ticket's dimensions the family keeps (`""`
/// where a ticket has none, or the family does not keep it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BucketKey {
    /// Workflow id.
    pub workflow: String,
    /// Which dimensions it keeps.
    pub family: Family,
    /// The day (UTC).
    pub day: NaiveDate,
    /// Category.
    pub category: String,
    /// Priority.
    pub priority: String,
    /// Intake channel.
    pub channel: String,
    /// Assignee (the agent credited).
    pub agent: String,
    /// The role the ticket is worked in (the team).
    pub team: String,
}

/// What `ticket` counts for in the reports of `workflow`, in every family.
pub fn contribution(workflow: &WorkflowFile, ticket: &Ticket) -> BTreeMap<BucketKey, Agg> {
    let mut out: BTreeMap<BucketKey, Agg> = BTreeMap::new();
    for (full, agg) in full_contribution(workflow, ticket) {
        for family in Family::ALL {
            out.entry(family.of(&full)).or_default().apply(&agg, 1);
        }
    }
    out
}

/// What `ticket` counts for, in buckets of every dimension.
fn full_contribution(workflow: &WorkflowFile, ticket: &Ticket) -> BTreeMap<BucketKey, Agg> {
    let mut out: BTreeMap<BucketKey, Agg> = BTreeMap::new();
    let key = |at: DateTime<Utc>| BucketKey {
        workflow: ticket.workflow.clone(),
        family: Family::Full,
        day: at.date_naive(),
        category: ticket.category.clone().unwrap_or_default(),
        priority: ticket.priority.clone(),
        channel: ticket.channel.clone().unwrap_or_default(),
        // Lower-case, as the assignee index has it: one agent whatever case they were written in.
        agent: ticket.assignee.as_deref().map(str::to_lowercase).unwrap_or_default(),
        team: ticket.role.clone().unwrap_or_default(),
    };
    let opened = out.entry(key(ticket.created_at)).or_default();
    opened.opened = 1;
    opened.repeats = i64::from(ticket.links.iter().any(|l| l.relation == Relation::RepeatOf));

    if let Some(at) = ticket.first_response_at {
        let agg = out.entry(key(at)).or_default();
        agg.first_response.wall.push(secs(ticket.created_at, at));
        if let Some(business) = stopped_business(ticket, "first_response") {
            agg.first_response.business.push(business);
        }
    }

    let settled = ticket.resolved_at.unwrap_or(ticket.created_at);
    if let Some(at) = ticket.resolved_at {
        let agg = out.entry(key(at)).or_default();
        agg.resolved = 1;
        agg.resolution.wall.push(secs(ticket.created_at, at));
        if let Some(business) = stopped_business(ticket, "resolution") {
            agg.resolution.business.push(business);
        }
        let settings = workflow.reports;
        let replies = ticket.replies_at_resolution.unwrap_or(ticket.public_replies);
        let in_time =
            settings.fcr_within.is_none_or(|within| u64::from(secs(ticket.created_at, at)) <= within.as_secs());
        agg.fcr = i64::from(ticket.reopened == 0 && replies <= settings.fcr_max_replies && in_time);
        agg.reopened = i64::from(ticket.reopened > 0);
    }

    if let Some(survey) = &workflow.survey
        && let Some(stage) = crate::engine::survey::stage(workflow, survey)
        && ticket.visited.contains(&stage)
        && crate::engine::survey::sampled(survey, ticket)
    {
        out.entry(key(settled)).or_default().surveys_sent = 1;
    }
    if !ticket.surveys.is_empty() {
        let agg = out.entry(key(settled)).or_default();
        for answer in &ticket.surveys {
            agg.surveys_answered += 1;
            if let Some(score) = answer.csat.filter(|s| (1..=5).contains(s)) {
                agg.csat[usize::from(score - 1)] += 1;
            }
            if let Some(score) = answer.nps.filter(|s| *s <= 10) {
                agg.nps[usize::from(score)] += 1;
            }
            if let Some(score) = answer.ces.filter(|s| (1..=7).contains(s)) {
                agg.ces[usize::from(score - 1)] += 1;
            }
        }
    }

    for (name, clock) in &ticket.slas {
        if let Some(at) = clock.breached_at {
            out.entry(key(at)).or_default().sla.entry(name.clone()).or_default().breached = 1;
        } else if clock.met == Some(true)
            && let Some(at) = clock.stopped_at
        {
            out.entry(key(at)).or_default().sla.entry(name.clone()).or_default().met = 1;
        }
    }
    out
}

/// What changes in the buckets when a ticket goes from `before` to `after`: each bucket's
/// delta, nothing for a bucket where they are the same.
pub fn delta(before: Option<(&WorkflowFile, &Ticket)>, after: (&WorkflowFile, &Ticket)) -> Vec<(BucketKey, Agg, Agg)> {
    let old = before.map(|(workflow, ticket)| contribution(workflow, ticket)).unwrap_or_default();
    let new = contribution(after.0, after.1);
    let mut keys: Vec<&BucketKey> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (minus, plus) = (old.get(key).cloned().unwrap_or_default(), new.get(key).cloned().unwrap_or_default());
            (minus != plus).then(|| (key.clone(), minus, plus))
        })
        .collect()
}

fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> u32 {
    u32::try_from((to - from).num_seconds().max(0)).unwrap_or(u32::MAX)
}

/// The business seconds a stopped SLA clock used.
fn stopped_business(ticket: &Ticket, clock: &str) -> Option<u32> {
    let clock = ticket.slas.get(clock)?;
    clock.stopped_at?;
    let used = clock.business_secs.unwrap_or(clock.used_secs);
    Some(u32::try_from(used).unwrap_or(u32::MAX))
}
