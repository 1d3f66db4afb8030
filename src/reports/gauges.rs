//! Gauges for `/metrics`, computed when it is scraped, in the Prometheus text format, from
//! index keys and buckets alone (O(open tickets + tickets in working stages + buckets of 30
//! days); no ticket is decoded):
//!
//! - `afterdesk_backlog{workflow,stage}`: open tickets now in each stage of the current version
//!   that is not terminal (0 when empty);
//! - `afterdesk_sla_breaches{workflow,clock}`: SLA breaches of the last 30 days (UTC days,
//!   today included), counted on the day each clock was breached, every clock the workflow has
//!   listed (0 when none).
//!
//! Written out here rather than through the process-wide `metrics` recorder: each scrape
//! answers from this server's own store, a stage that empties reads 0 instead of its last
//! value, and servers sharing a process (tests) cannot see each other's figures.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};

use super::kpis::Filter;
use super::query::{Query, buckets, open_ids, open_in_stage};
use crate::registry::Registry;
use crate::store::{Store, StoreError};

/// How many days of breaches `afterdesk_sla_breaches` counts, today included.
pub const BREACH_DAYS: i64 = 30;

/// The gauges of every current workflow at `now`, as Prometheus text.
pub fn render(store: &Store, registry: &Registry, now: DateTime<Utc>) -> Result<String, StoreError> {
    let today = now.date_naive();
    let mut backlogs: Vec<(String, BTreeMap<String, u64>)> = Vec::new();
    let mut breaches: Vec<(String, BTreeMap<String, i64>)> = Vec::new();
    let open = open_ids(store)?;
    for workflow in registry.all_current() {
        let definition = &workflow.definition;
        let mut stages: BTreeMap<String, u64> = BTreeMap::new();
        for (id, _) in definition.stages.iter().filter(|(_, stage)| !stage.terminal) {
            stages.insert(id.get_ref().clone(), open_in_stage(store, workflow.id(), id.get_ref(), &open)?);
        }
        backlogs.push((workflow.id().to_string(), stages));

        let mut clocks: BTreeMap<String, i64> = BTreeMap::new();
        for (clock, present) in [
            ("first_response", definition.sla.first_response.is_some()),
            ("resolution", definition.sla.resolution.is_some()),
        ] {
            if present {
                clocks.insert(clock.to_string(), 0);
            }
        }
        for (id, stage) in &definition.stages {
            if stage.sla.is_some() {
                clocks.insert(format!("stage:{}", id.get_ref()), 0);
            }
        }
        let query = Query {
            workflow: workflow.id().to_string(),
            from: today - Duration::days(BREACH_DAYS - 1),
            to: today,
            filter: Filter::default(),
        };
        for (_, agg) in buckets(store, &query)? {
            for (clock, tally) in &agg.sla {
                *clocks.entry(clock.clone()).or_default() += tally.breached;
            }
        }
        breaches.push((workflow.id().to_string(), clocks));
    }
    let mut out = String::new();
    out.push_str("# HELP afterdesk_backlog Open tickets now, by workflow and stage.\n");
    out.push_str("# TYPE afterdesk_backlog gauge\n");
    for (workflow, stages) in &backlogs {
        for (stage, count) in stages {
            let _ = writeln!(
                out,
                "afterdesk_backlog{{workflow=\"{}\",stage=\"{}\"}} {count}",
                label(workflow),
                label(stage)
            );
        }
    }
    out.push_str("# HELP afterdesk_sla_breaches SLA breaches of the last 30 days (UTC), by workflow and clock.\n");
    out.push_str("# TYPE afterdesk_sla_breaches gauge\n");
    for (workflow, clocks) in &breaches {
        for (clock, count) in clocks {
            let _ = writeln!(
                out,
                "afterdesk_sla_breaches{{workflow=\"{}\",clock=\"{}\"}} {count}",
                label(workflow),
                label(clock)
            );
        }
    }
    Ok(out)
}

/// A label value escaped as the text format wants (backslash, quote, line feed).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label("x\ny"), "x\\ny");
    }
}
