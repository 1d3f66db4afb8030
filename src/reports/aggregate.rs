//! The figures of one bucket (a workflow, a day, a category, a priority, a channel, an agent,
//! a team), and how buckets add up: counts, score tallies, and the durations themselves (kept
//! sorted, so medians and percentiles are exact, and one ticket's durations can be taken out
//! again when it changes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Durations in seconds, sorted: wall time and business time separately (a ticket without a
/// business clock has only its wall time).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durations {
    /// Wall-clock seconds, sorted.
    pub wall: Vec<u32>,
    /// Business seconds (the SLA clock's), sorted.
    pub business: Vec<u32>,
}

/// An SLA clock's outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaTally {
    /// Stopped within its target.
    pub met: i64,
    /// Breached.
    pub breached: i64,
}

/// What a bucket holds. Every field adds up across buckets; a ticket's contribution is an
/// `Agg` too, added when the ticket is written and taken out before it is written again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agg {
    /// Tickets opened.
    pub opened: i64,
    /// Of those, repeat requests (linked `repeat_of` an earlier ticket).
    pub repeats: i64,
    /// Tickets resolved.
    pub resolved: i64,
    /// Of those, resolved at first contact.
    pub fcr: i64,
    /// Of those, reopened at least once before.
    pub reopened: i64,
    /// Time to the first public reply by staff.
    pub first_response: Durations,
    /// Time to resolution.
    pub resolution: Durations,
    /// Surveys sent (tickets that reached the survey stage and were in the sample).
    pub surveys_sent: i64,
    /// Survey answers received.
    pub surveys_answered: i64,
    /// CSAT answers by score 1-5 (index 0 is score 1).
    pub csat: [i64; 5],
    /// NPS answers by score 0-10.
    pub nps: [i64; 11],
    /// CES answers by score 1-7 (index 0 is score 1).
    pub ces: [i64; 7],
    /// SLA outcomes by clock (`first_response`, `resolution`, `stage:ID`).
    pub sla: BTreeMap<String, SlaTally>,
}

impl Agg {
    /// Whether nothing is counted (the bucket can go).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Adds `other` (`sign` 1) or takes it out (`sign` -1).
    pub fn apply(&mut self, other: &Self, sign: i64) {
        self.opened += sign * other.opened;
        self.repeats += sign * other.repeats;
        self.resolved += sign * other.resolved;
        self.fcr += sign * other.fcr;
        self.reopened += sign * other.reopened;
        self.surveys_sent += sign * other.surveys_sent;
        self.surveys_answered += sign * other.surveys_answered;
        for (mine, theirs) in self.csat.iter_mut().zip(other.csat) {
            *mine += sign * theirs;
        }
        for (mine, theirs) in self.nps.iter_mut().zip(other.nps) {
            *mine += sign * theirs;
        }
        for (mine, theirs) in self.ces.iter_mut().zip(other.ces) {
            *mine += sign * theirs;
        }
        for (clock, tally) in &other.sla {
            let mine = self.sla.entry(clock.clone()).or_default();
            mine.met += sign * tally.met;
            mine.breached += sign * tally.breached;
            if *mine == SlaTally::default() {
                self.sla.remove(clock);
            }
        }
        for (mine, theirs) in
            [(&mut self.first_response, &other.first_response), (&mut self.resolution, &other.resolution)]
        {
            merge(&mut mine.wall, &theirs.wall, sign);
            merge(&mut mine.business, &theirs.business, sign);
        }
    }
}

/// Adds the sorted `values` to the sorted `into`, or takes one occurrence of each out.
fn merge(into: &mut Vec<u32>, values: &[u32], sign: i64) {
    for value in values {
        let at = into.partition_point(|v| v < value);
        if sign > 0 {
            into.insert(at, *value);
        } else if into.get(at) == Some(value) {
            into.remove(at);
        }
    }
}

/// Summary of durations: how many, mean, median, 90th percentile (nearest rank), in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// How many.
    pub count: u64,
    /// Mean, in seconds (absent when there are none).
    pub mean_secs: Option<f64>,
    /// Median (the lower middle value when the count is even), in seconds.
    pub median_secs: Option<u64>,
    /// 90th percentile (nearest rank: the smallest value at or above 90 % of them), in seconds.
    pub p90_secs: Option<u64>,
}

impl Summary {
    /// The summary of `values`, in any order (the ranks are found by selection, in linear
    /// time, not by sorting).
    pub fn of(values: &[u32]) -> Self {
        let count = values.len();
        if count == 0 {
            return Self::default();
        }
        let sum: u64 = values.iter().map(|v| u64::from(*v)).sum();
        #[allow(clippy::cast_precision_loss)]
        let mean = sum as f64 / count as f64;
        let mut work = values.to_vec();
        let mut rank = |p: usize| {
            let at = (count * p).div_ceil(100).max(1) - 1;
            u64::from(*work.select_nth_unstable(at).1)
        };
        let median = rank(50);
        let p90 = rank(90);
        Self { count: count as u64, mean_secs: Some(mean), median_secs: Some(median), p90_secs: Some(p90) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_and_taking_out_leaves_nothing() {
        let mut one = Agg { opened: 1, csat: [0, 0, 0, 1, 0], ..Agg::default() };
        one.first_response.wall = vec![30, 60];
        one.sla.insert("resolution".into(), SlaTally { met: 1, breached: 0 });
        let mut total = Agg::default();
        total.apply(&one, 1);
        total.apply(&one, 1);
        assert_eq!(total.first_response.wall, [30, 30, 60, 60]);
        total.apply(&one, -1);
        total.apply(&one, -1);
        assert!(total.is_empty(), "{total:?}");
    }

    #[test]
    fn medians_and_percentiles_are_nearest_rank() {
        let s = Summary::of(&[10, 20, 30, 40]);
        assert_eq!((s.count, s.mean_secs, s.median_secs, s.p90_secs), (4, Some(25.0), Some(20), Some(40)));
        let values: Vec<u32> = (1..=10).collect();
        let s = Summary::of(&values);
        assert_eq!((s.median_secs, s.p90_secs), (Some(5), Some(9)));
        assert_eq!(Summary::of(&[]), Summary::default());
        assert_eq!(Summary::of(&[7]).p90_secs, Some(7));
    }
}
