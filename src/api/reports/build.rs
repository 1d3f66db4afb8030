//! The reports as values: the KPI, agent, category and trend reports built from the store for
//! a [`Query`], and each one's answer as JSON or CSV. The API's handlers and the manager's
//! dashboard (`crate::web::dashboard`) both build here, so a page and the API cannot disagree.
//!
//! Reads only: who may read what is [`super::access`]'s decision, made before a report is built.

use axum::Json;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::answers::{
    AgentReport, AgentRow, CategoryReport, CategoryRow, KpiReport, Performance, TrendReport, TrendRow,
};
use super::answers::{ratio, sla_totals};
use super::table::{self, Format, Row};
use crate::api::problem::ApiError;
use crate::reports::aggregate::Agg;
use crate::reports::facts::Family;
use crate::reports::kpis::{Backlog, Csat, Figures, Period, grouped};
use crate::reports::query::{Query, backlog, buckets, buckets_of, figures};
use crate::store::{Store, StoreError};
use crate::workflow::model::WorkflowFile;

/// The SLA clocks `workflow` defines, in the order of the CSV columns.
pub fn clocks(workflow: &WorkflowFile) -> Vec<String> {
    let mut clocks = Vec::new();
    if workflow.sla.first_response.is_some() {
        clocks.push(crate::engine::sla::FIRST_RESPONSE.to_string());
    }
    if workflow.sla.resolution.is_some() {
        clocks.push(crate::engine::sla::RESOLUTION.to_string());
    }
    for (id, stage) in &workflow.stages {
        if stage.sla.is_some() {
            clocks.push(crate::engine::sla::stage_clock(id.get_ref()));
        }
    }
    clocks
}

/// The stage ids of `workflow` (the backlog's CSV columns).
pub fn stages(workflow: &WorkflowFile) -> Vec<String> {
    workflow.stages.keys().map(|id| id.get_ref().clone()).collect()
}

/// `""` (none) as `null`.
fn named(name: String) -> Option<String> {
    (!name.is_empty()).then_some(name)
}

/// Every KPI of `query`, and the backlog at `now` (of the filter's agent only, when it names
/// one).
pub fn kpi_report(store: &Store, query: &Query, now: DateTime<Utc>) -> Result<KpiReport, StoreError> {
    let agent = query.filter.agent.clone();
    Ok(KpiReport {
        workflow: query.workflow.clone(),
        from: query.from,
        to: query.to,
        figures: figures(store, query)?,
        backlog: backlog(store, &query.workflow, agent.as_deref(), now)?,
        agent,
    })
}

/// The KPI report as JSON, or as one CSV row with a column per SLA clock of `clocks` and per
/// stage of `stages`.
pub fn kpi_answer(
    format: Format,
    report: &KpiReport,
    clocks: &[String],
    stages: &[String],
) -> Result<Response, ApiError> {
    match format {
        Format::Json => Ok(Json(report).into_response()),
        Format::Csv => {
            let mut row = Row::default();
            row.put("workflow", &report.workflow)
                .put("from", report.from)
                .put("to", report.to)
                .put("agent", &report.agent);
            row.figures(&report.figures, clocks).backlog(&report.backlog, stages);
            table::csv(&row, std::slice::from_ref(&row))
        }
    }
}

/// Per agent (`query.filter.agent`: that agent only), with each one's open workload at `now`.
pub fn agent_report(store: &Store, query: &Query, now: DateTime<Utc>) -> Result<AgentReport, StoreError> {
    agent_report_with(store, query, &backlog(store, &query.workflow, query.filter.agent.as_deref(), now)?)
}

/// Per agent, with the open workloads of `backlog` (the backlog of the same workflow and
/// agent filter, read once for a page that shows it beside the agents).
pub fn agent_report_with(store: &Store, query: &Query, backlog: &Backlog) -> Result<AgentReport, StoreError> {
    let selected = buckets_of(store, query, Family::Agent)?;
    let groups = grouped(&selected, |key| key.agent.clone());
    let mut names: Vec<&String> = groups.keys().chain(backlog.by_agent.keys()).collect();
    names.sort();
    names.dedup();
    let items = names
        .into_iter()
        .map(|name| AgentRow {
            agent: named(name.clone()),
            performance: Performance::of(groups.get(name).unwrap_or(&Agg::default())),
            open_workload: backlog.by_agent.get(name).copied().unwrap_or(0),
        })
        .collect();
    Ok(AgentReport { workflow: query.workflow.clone(), from: query.from, to: query.to, items })
}

/// The agent report as JSON or CSV (a row per agent).
pub fn agent_answer(format: Format, report: &AgentReport) -> Result<Response, ApiError> {
    let row = |r: &AgentRow| {
        let mut row = Row::default();
        row.put("agent", &r.agent);
        r.performance.columns(&mut row);
        row.put("open_workload", r.open_workload);
        row
    };
    let template = AgentRow { agent: None, performance: Performance::default(), open_workload: 0 };
    table::answer(format, report, &report.items, &template, row)
}

/// Per category, least happy first (`query.filter.agent`: of that agent's tickets only).
pub fn category_report(store: &Store, query: &Query) -> Result<CategoryReport, StoreError> {
    // The category family has no agent: one agent's categories come from the full buckets.
    let family = if query.filter.agent.is_some() { Family::Full } else { Family::Category };
    let groups = grouped(&buckets_of(store, query, family)?, |key| key.category.clone());
    let mut items: Vec<CategoryRow> = groups
        .into_iter()
        .map(|(name, agg)| {
            let f = Figures::of(&agg);
            let (met, breached) = sla_totals(&f);
            CategoryRow {
                category: named(name),
                tickets_opened: f.tickets_opened,
                tickets_resolved: f.tickets_resolved,
                csat: f.csat,
                sla_met: met,
                sla_breached: breached,
                sla_breach_rate: ratio(breached, met + breached),
                repeats: f.repeats,
                repeat_rate: f.repeat_rate,
                reopen_rate: f.reopen_rate,
            }
        })
        .collect();
    // Least happy first; without answers last (stable: by name within).
    items.sort_by(|a, b| match (a.csat.satisfied_rate, b.csat.satisfied_rate) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    Ok(CategoryReport { workflow: query.workflow.clone(), from: query.from, to: query.to, items })
}

/// The category report as JSON or CSV (a row per category).
pub fn category_answer(format: Format, report: &CategoryReport) -> Result<Response, ApiError> {
    let row = |r: &CategoryRow| {
        let mut row = Row::default();
        row.put("category", &r.category)
            .put("tickets_opened", r.tickets_opened)
            .put("tickets_resolved", r.tickets_resolved)
            .put("csat_responses", r.csat.responses)
            .put("csat_satisfied_rate", r.csat.satisfied_rate)
            .put("csat_mean", r.csat.mean)
            .put("sla_met", r.sla_met)
            .put("sla_breached", r.sla_breached)
            .put("sla_breach_rate", r.sla_breach_rate)
            .put("repeats", r.repeats)
            .put("repeat_rate", r.repeat_rate)
            .put("reopen_rate", r.reopen_rate);
        row
    };
    let template = CategoryRow {
        category: None,
        tickets_opened: 0,
        tickets_resolved: 0,
        csat: Csat::default(),
        sla_met: 0,
        sla_breached: 0,
        sla_breach_rate: None,
        repeats: 0,
        repeat_rate: None,
        reopen_rate: None,
    };
    table::answer(format, report, &report.items, &template, row)
}

/// The name of a period in the trend's answer.
fn period_name(period: Period) -> &'static str {
    match period {
        Period::Day => "day",
        Period::Week => "week",
        Period::Month => "month",
    }
}

/// Every KPI per `period` of the query's range, empty periods included, oldest first.
pub fn trend_report(store: &Store, query: &Query, period: Period) -> Result<TrendReport, StoreError> {
    let groups = grouped(&buckets(store, query)?, |key| period.start(key.day).to_string());
    let mut items = Vec::new();
    let mut start = period.start(query.from);
    while start <= query.to {
        let agg = groups.get(&start.to_string()).cloned().unwrap_or_default();
        items.push(TrendRow { period: start, figures: Figures::of(&agg) });
        start = match period {
            Period::Day => start + Duration::days(1),
            Period::Week => start + Duration::days(7),
            Period::Month => Period::Month.start(start + Duration::days(31)),
        };
    }
    Ok(TrendReport {
        workflow: query.workflow.clone(),
        from: query.from,
        to: query.to,
        bucket: period_name(period).into(),
        agent: query.filter.agent.clone(),
        items,
    })
}

/// The trend as JSON or CSV (a row per period, a column triple per SLA clock of `clocks`).
pub fn trend_answer(format: Format, report: &TrendReport, clocks: &[String]) -> Result<Response, ApiError> {
    match format {
        Format::Json => Ok(Json(report).into_response()),
        Format::Csv => {
            let row = |period: NaiveDate, figures: &Figures| {
                let mut row = Row::default();
                row.put("period", period).figures(figures, clocks);
                row
            };
            let template = row(report.from, &Figures::default());
            table::csv(&template, &report.items.iter().map(|r| row(r.period, &r.figures)).collect::<Vec<_>>())
        }
    }
}
