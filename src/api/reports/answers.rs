//! The answers of the reports API: what each report's JSON holds (and its OpenAPI schema),
//! and how a group of tickets did ([`Performance`], shared by the agent and team rows).

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::table::Row;
use crate::reports::aggregate::Agg;
use crate::reports::kpis::{Backlog, Csat, Figures, Timing};

/// A workflow's figures over a range of days, and its backlog now.
#[derive(Debug, Serialize, ToSchema)]
pub struct KpiReport {
    /// Workflow id.
    pub workflow: String,
    /// First day (UTC).
    pub from: NaiveDate,
    /// Last day, included (UTC).
    pub to: NaiveDate,
    /// The agent the figures are limited to (asked for, or the caller's own).
    pub agent: Option<String>,
    /// Every KPI.
    #[serde(flatten)]
    pub figures: Figures,
    /// Open tickets now (of that agent only, when limited to one).
    pub backlog: Backlog,
}

/// How a group of tickets (an agent's, a team's) did.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Performance {
    /// Tickets opened.
    pub tickets_opened: i64,
    /// Tickets resolved.
    pub tickets_resolved: i64,
    /// Time to first response.
    pub first_response: Timing,
    /// Time to resolution.
    pub resolution: Timing,
    /// First-contact resolutions / tickets resolved.
    pub first_contact_resolution_rate: Option<f64>,
    /// CSAT.
    pub csat: Csat,
    /// SLA clocks met (every clock).
    pub sla_met: i64,
    /// SLA clocks breached (every clock).
    pub sla_breached: i64,
    /// Met / (met + breached).
    pub sla_met_rate: Option<f64>,
}

impl Performance {
    /// The performance of `agg`.
    pub fn of(agg: &Agg) -> Self {
        let f = Figures::of(agg);
        let (met, breached) = sla_totals(&f);
        Self {
            tickets_opened: f.tickets_opened,
            tickets_resolved: f.tickets_resolved,
            first_response: f.first_response,
            resolution: f.resolution,
            first_contact_resolution_rate: f.first_contact_resolution_rate,
            csat: f.csat,
            sla_met: met,
            sla_breached: breached,
            sla_met_rate: ratio(met, met + breached),
        }
    }

    /// Adds its CSV columns to `row`.
    pub fn columns(&self, row: &mut Row) {
        row.put("tickets_opened", self.tickets_opened).put("tickets_resolved", self.tickets_resolved);
        row.timing("first_response", &self.first_response).timing("resolution", &self.resolution);
        row.put("first_contact_resolution_rate", self.first_contact_resolution_rate)
            .put("csat_responses", self.csat.responses)
            .put("csat_satisfied_rate", self.csat.satisfied_rate)
            .put("csat_mean", self.csat.mean)
            .put("sla_met", self.sla_met)
            .put("sla_breached", self.sla_breached)
            .put("sla_met_rate", self.sla_met_rate);
    }
}

/// One agent's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentRow {
    /// The agent (the assignee credited); `null`: tickets nobody was assigned.
    pub agent: Option<String>,
    /// How their tickets did.
    #[serde(flatten)]
    pub performance: Performance,
    /// Open tickets assigned now.
    pub open_workload: u64,
}

/// One team's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamRow {
    /// The team (the role tickets are worked in); `null`: tickets routed to no role.
    pub team: Option<String>,
    /// How its tickets did.
    #[serde(flatten)]
    pub performance: Performance,
}

/// Per team, by role id.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamReport {
    /// Workflow id.
    pub workflow: String,
    /// First day (UTC).
    pub from: NaiveDate,
    /// Last day, included (UTC).
    pub to: NaiveDate,
    /// One row per team with figures in the range.
    pub items: Vec<TeamRow>,
}

/// Per agent, by agent id (unassigned first).
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentReport {
    /// Workflow id.
    pub workflow: String,
    /// First day (UTC).
    pub from: NaiveDate,
    /// Last day, included (UTC).
    pub to: NaiveDate,
    /// One row per agent with figures in the range or open work now.
    pub items: Vec<AgentRow>,
}

/// One category's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryRow {
    /// The category; `null`: tickets without one.
    pub category: Option<String>,
    /// Tickets opened (the volume).
    pub tickets_opened: i64,
    /// Tickets resolved.
    pub tickets_resolved: i64,
    /// CSAT.
    pub csat: Csat,
    /// SLA clocks met (every clock).
    pub sla_met: i64,
    /// SLA clocks breached (every clock).
    pub sla_breached: i64,
    /// Breached / (met + breached).
    pub sla_breach_rate: Option<f64>,
    /// Repeat requests opened.
    pub repeats: i64,
    /// Repeats / opened.
    pub repeat_rate: Option<f64>,
    /// Reopened / resolved.
    pub reopen_rate: Option<f64>,
}

/// Per category, least happy first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryReport {
    /// Workflow id.
    pub workflow: String,
    /// First day (UTC).
    pub from: NaiveDate,
    /// Last day, included (UTC).
    pub to: NaiveDate,
    /// By CSAT satisfied rate, lowest first; categories without answers last; then by name.
    pub items: Vec<CategoryRow>,
}

/// One intake channel's share.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelRow {
    /// The channel; `null`: tickets without one.
    pub channel: Option<String>,
    /// Tickets opened.
    pub tickets_opened: i64,
    /// Of all tickets opened in the range.
    pub share: Option<f64>,
}

/// The channel mix.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelReport {
    /// Workflow id.
    pub workflow: String,
    /// First day (UTC).
    pub from: NaiveDate,
    /// Last day, included (UTC).
    pub to: NaiveDate,
    /// By channel id (none first).
    pub items: Vec<ChannelRow>,
}

/// One period's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrendRow {
    /// The period's first day (a Monday for weeks, the 1st for months); the first and last
    /// periods count only the days of the range.
    pub period: NaiveDate,
    /// Every KPI of the period.
    #[serde(flatten)]
    pub figures: Figures,
}

/// A trend: one row per period of the range, empty periods included.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrendReport {
    /// Workflow id.
    pub workflow: String,
    /// First day (UTC).
    pub from: NaiveDate,
    /// Last day, included (UTC).
    pub to: NaiveDate,
    /// `day`, `week` or `month`.
    pub bucket: String,
    /// The agent the figures are limited to.
    pub agent: Option<String>,
    /// Oldest period first.
    pub items: Vec<TrendRow>,
}

/// Met and breached, every SLA clock together.
pub fn sla_totals(f: &Figures) -> (i64, i64) {
    f.sla.values().fold((0, 0), |(met, breached), s| (met + s.met, breached + s.breached))
}

/// `part / whole`, absent when `whole` is 0.
#[allow(clippy::cast_precision_loss)]
pub fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}
