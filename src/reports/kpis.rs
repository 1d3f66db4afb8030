//! A report: the buckets a filter selects, added up, and the figures managers read from them.
//!
//! Definitions (rates are fractions from 0 to 1, absent when there is nothing to divide by):
//! - **first response**: from opening to the first public reply by a person of staff (an agent
//!   or administrator; automatic mail never counts), wall time and, where the workflow has a
//!   `first_response` SLA, business time; `met_rate` is that clock's met / (met + breached);
//! - **resolution**: from opening to the (last) resolution; `met_rate` from the `resolution`
//!   clock;
//! - **first-contact resolution**: resolved with at most `[reports] fcr_max_replies` public
//!   replies by staff (default 1), never reopened, and within `fcr_within` if set; the rate is
//!   of tickets resolved;
//! - **CSAT**: the share of answers scoring 4 or 5 of 5, and the mean; **NPS**: % of 9-10 minus
//!   % of 0-6 (from -100 to 100); **CES**: the mean (1-7); the response rate is answers over
//!   surveys sent;
//! - **SLA**: per clock (`first_response`, `resolution`, `stage:ID`), met and breached, and the
//!   breach rate breached / (met + breached);
//! - **reopen rate**: resolved tickets that had been reopened, over tickets resolved;
//!   **repeat rate**: repeat requests (same customer and category within `repeat_window`) over
//!   tickets opened.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::aggregate::{Agg, SlaTally, Summary};
use super::facts::{BucketKey, Family};
use crate::engine::ticket::Ticket;

/// Which buckets a report adds up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this category (`""`: tickets without one).
    pub category: Option<String>,
    /// Only this priority.
    pub priority: Option<String>,
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this agent (the assignee credited).
    pub agent: Option<String>,
    /// Only this team (the role tickets are worked in).
    pub team: Option<String>,
}

impl Filter {
    /// The smallest family of buckets that answers this filter: totals without a filter, the
    /// category or agent family for a filter on that alone, every dimension otherwise.
    pub fn family(&self) -> Family {
        let named = [&self.category, &self.priority, &self.channel, &self.agent, &self.team].map(Option::is_some);
        match named {
            [false, false, false, false, false] => Family::Total,
            [true, false, false, false, false] => Family::Category,
            [false, false, false, true, false] => Family::Agent,
            _ => Family::Full,
        }
    }

    /// Whether `bucket` is selected.
    pub fn takes(&self, bucket: &BucketKey) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        is(&self.category, &bucket.category)
            && is(&self.priority, &bucket.priority)
            && is(&self.channel, &bucket.channel)
            // People are emails: an assignee written `Maryam@...` is still maryam.
            && self.agent.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(&bucket.agent))
            && is(&self.team, &bucket.team)
    }
}

/// Adds buckets up for a report: counts add, durations are gathered (not sorted: the result
/// is for [`Figures::of`], never stored).
pub fn sum<'a>(aggs: impl IntoIterator<Item = &'a Agg>) -> Agg {
    let mut total = Agg::default();
    for agg in aggs {
        let durations = (agg.first_response.clone(), agg.resolution.clone());
        let bare = Agg { first_response: Default::default(), resolution: Default::default(), ..agg.clone() };
        total.apply(&bare, 1);
        total.first_response.wall.extend(durations.0.wall);
        total.first_response.business.extend(durations.0.business);
        total.resolution.wall.extend(durations.1.wall);
        total.resolution.business.extend(durations.1.business);
    }
    total
}

/// Time to an outcome: wall time, business time, and the SLA clock's met rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Timing {
    /// How many.
    pub count: u64,
    /// Mean wall time, seconds.
    pub mean_secs: Option<f64>,
    /// Median wall time, seconds.
    pub median_secs: Option<u64>,
    /// 90th percentile of wall time, seconds.
    pub p90_secs: Option<u64>,
    /// The same in business time (the SLA clock's), where the workflow has the clock.
    pub business: Summary,
    /// Met / (met + breached) of the SLA clock.
    pub met_rate: Option<f64>,
}

/// CSAT figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Csat {
    /// Answers.
    pub responses: i64,
    /// Share of answers scoring 4 or 5.
    pub satisfied_rate: Option<f64>,
    /// Mean score (1-5).
    pub mean: Option<f64>,
}

/// NPS figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Nps {
    /// Answers.
    pub responses: i64,
    /// % promoters (9-10) minus % detractors (0-6), from -100 to 100.
    pub score: Option<f64>,
}

/// CES figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Ces {
    /// Answers.
    pub responses: i64,
    /// Mean effort (1-7).
    pub mean: Option<f64>,
}

/// Surveys sent and answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Surveys {
    /// Sent (tickets that reached the survey stage, in the sample).
    pub sent: i64,
    /// Answers recorded.
    pub answered: i64,
    /// Answered / sent.
    pub response_rate: Option<f64>,
}

/// An SLA clock's outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct SlaFigure {
    /// Met.
    pub met: i64,
    /// Breached.
    pub breached: i64,
    /// Breached / (met + breached).
    pub breach_rate: Option<f64>,
}

/// The figures of a set of buckets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    /// Tickets opened.
    pub tickets_opened: i64,
    /// Tickets resolved.
    pub tickets_resolved: i64,
    /// Time to first response.
    pub first_response: Timing,
    /// Time to resolution.
    pub resolution: Timing,
    /// Tickets resolved at first contact.
    pub first_contact_resolutions: i64,
    /// First-contact resolutions / tickets resolved.
    pub first_contact_resolution_rate: Option<f64>,
    /// CSAT.
    pub csat: Csat,
    /// NPS.
    pub nps: Nps,
    /// CES.
    pub ces: Ces,
    /// Surveys sent and answered.
    pub surveys: Surveys,
    /// By SLA clock.
    pub sla: BTreeMap<String, SlaFigure>,
    /// SLA breaches of every clock.
    pub sla_breaches: i64,
    /// Resolved tickets that had been reopened.
    pub reopened: i64,
    /// Reopened / resolved.
    pub reopen_rate: Option<f64>,
    /// Repeat requests opened.
    pub repeats: i64,
    /// Repeats / opened.
    pub repeat_rate: Option<f64>,
}

#[allow(clippy::cast_precision_loss)]
fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[allow(clippy::cast_precision_loss)]
fn mean_of(tally: &[i64], first: i64) -> Option<f64> {
    let count: i64 = tally.iter().sum();
    let total: i64 = tally.iter().zip(first..).map(|(n, score)| n * score).sum();
    ratio(total, count)
}

fn timing(wall: &[u32], business: &[u32], clock: Option<&SlaTally>) -> Timing {
    let summary = Summary::of(wall);
    Timing {
        count: summary.count,
        mean_secs: summary.mean_secs,
        median_secs: summary.median_secs,
        p90_secs: summary.p90_secs,
        business: Summary::of(business),
        met_rate: clock.and_then(|c| ratio(c.met, c.met + c.breached)),
    }
}

impl Figures {
    /// The figures of `agg` (its durations in any order).
    pub fn of(agg: &Agg) -> Self {
        let answers = |tally: &[i64]| tally.iter().sum::<i64>();
        let csat_responses = answers(&agg.csat);
        let nps_responses = answers(&agg.nps);
        let promoters = agg.nps[9] + agg.nps[10];
        let detractors: i64 = agg.nps[..7].iter().sum();
        Self {
            tickets_opened: agg.opened,
            tickets_resolved: agg.resolved,
            first_response: timing(
                &agg.first_response.wall,
                &agg.first_response.business,
                agg.sla.get("first_response"),
            ),
            resolution: timing(&agg.resolution.wall, &agg.resolution.business, agg.sla.get("resolution")),
            first_contact_resolutions: agg.fcr,
            first_contact_resolution_rate: ratio(agg.fcr, agg.resolved),
            csat: Csat {
                responses: csat_responses,
                satisfied_rate: ratio(agg.csat[3] + agg.csat[4], csat_responses),
                mean: mean_of(&agg.csat, 1),
            },
            nps: Nps {
                responses: nps_responses,
                score: ratio(promoters - detractors, nps_responses).map(|r| r * 100.0),
            },
            ces: Ces { responses: answers(&agg.ces), mean: mean_of(&agg.ces, 1) },
            surveys: Surveys {
                sent: agg.surveys_sent,
                answered: agg.surveys_answered,
                response_rate: ratio(agg.surveys_answered, agg.surveys_sent),
            },
            sla: agg
                .sla
                .iter()
                .map(|(clock, t)| {
                    (
                        clock.clone(),
                        SlaFigure {
                            met: t.met,
                            breached: t.breached,
                            breach_rate: ratio(t.breached, t.met + t.breached),
                        },
                    )
                })
                .collect(),
            sla_breaches: agg.sla.values().map(|t| t.breached).sum(),
            reopened: agg.reopened,
            reopen_rate: ratio(agg.reopened, agg.resolved),
            repeats: agg.repeats,
            repeat_rate: ratio(agg.repeats, agg.opened),
        }
    }
}

/// Buckets grouped by one dimension (agent, category, ...), each group added up.
pub fn grouped<'a>(
    buckets: impl IntoIterator<Item = &'a (BucketKey, Agg)>,
    dimension: impl Fn(&BucketKey) -> String,
) -> BTreeMap<String, Agg> {
    let mut groups: BTreeMap<String, Vec<&Agg>> = BTreeMap::new();
    for (bucket, agg) in buckets {
        groups.entry(dimension(bucket)).or_default().push(agg);
    }
    groups.into_iter().map(|(name, aggs)| (name, sum(aggs))).collect()
}

/// How trends are bucketed in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Calendar days.
    Day,
    /// ISO weeks, named by their Monday.
    Week,
    /// Calendar months, named by their first day.
    Month,
}

impl Period {
    /// The first day of the period `day` is in.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => day,
            Self::Week => day - chrono::Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Self::Month => day.with_day(1).unwrap_or(day),
        }
    }
}

/// Open tickets now: by stage, by age and by agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Backlog {
    /// Open tickets.
    pub open: u64,
    /// By stage.
    pub by_stage: BTreeMap<String, u64>,
    /// By age since opening: `0-1d`, `1-3d`, `3-7d`, `7-30d`, `30d+`.
    pub by_age: BTreeMap<String, u64>,
    /// By assignee (`""`: unassigned): each agent's open workload.
    pub by_agent: BTreeMap<String, u64>,
}

/// The age bands of [`Backlog::by_age`], with their upper bounds in days.
pub const AGE_BANDS: [(&str, i64); 5] = [("0-1d", 1), ("1-3d", 3), ("3-7d", 7), ("7-30d", 30), ("30d+", i64::MAX)];

impl Backlog {
    /// The backlog of `open` tickets (not resolved, closed or merged) at `now`.
    pub fn of<'a>(open: impl IntoIterator<Item = &'a Ticket>, now: DateTime<Utc>) -> Self {
        let mut backlog = Self::default();
        for (band, _) in AGE_BANDS {
            backlog.by_age.insert(band.to_string(), 0);
        }
        for ticket in open {
            backlog.open += 1;
            *backlog.by_stage.entry(ticket.stage.clone()).or_default() += 1;
            *backlog.by_agent.entry(ticket.assignee.clone().unwrap_or_default()).or_default() += 1;
            let age = (now - ticket.created_at).num_seconds();
            let band = AGE_BANDS.iter().find(|(_, days)| age < days.saturating_mul(86_400)).map_or("30d+", |(b, _)| b);
            *backlog.by_age.entry(band.to_string()).or_default() += 1;
        }
        backlog
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_their_definitions() {
        let mut agg = Agg { opened: 4, repeats: 1, resolved: 2, fcr: 1, reopened: 1, ..Agg::default() };
        agg.csat = [0, 1, 0, 1, 2]; // 2, 4, 5, 5
        agg.nps = [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]; // 0, 8, 9, 10
        agg.ces = [0, 2, 0, 0, 0, 0, 0];
        agg.surveys_sent = 8;
        agg.surveys_answered = 4;
        agg.sla.insert("resolution".into(), SlaTally { met: 3, breached: 1 });
        agg.resolution.wall = vec![60, 120];
        let f = Figures::of(&agg);
        assert_eq!(f.csat.satisfied_rate, Some(0.75));
        assert_eq!(f.csat.mean, Some(4.0));
        assert_eq!(f.nps.score, Some(25.0));
        assert_eq!(f.ces.mean, Some(2.0));
        assert_eq!(f.surveys.response_rate, Some(0.5));
        assert_eq!(f.first_contact_resolution_rate, Some(0.5));
        assert_eq!(f.reopen_rate, Some(0.5));
        assert_eq!(f.repeat_rate, Some(0.25));
        assert_eq!(f.resolution.met_rate, Some(0.75));
        assert_eq!(f.sla["resolution"].breach_rate, Some(0.25));
        assert_eq!(f.resolution.median_secs, Some(60));
        assert_eq!(f.first_response.count, 0);
        assert_eq!(f.first_response.met_rate, None);
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 3).expect("a date"); // a Thursday
        assert_eq!(Period::Week.start(day), NaiveDate::from_ymd_opt(2026, 11, 30).expect("a date"));
        assert_eq!(Period::Month.start(day), NaiveDate::from_ymd_opt(2026, 12, 1).expect("a date"));
        assert_eq!(Period::Day.start(day), day);
    }
}
