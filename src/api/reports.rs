//! `/v1/reports`: a workflow's KPIs over a range of days, per agent, per team, per category,
//! per channel and as a trend, read from the aggregates the writer keeps (so a report costs the
//! buckets it reads, not the tickets), each built by [`build`] (which the manager's dashboard
//! uses too) and answered as JSON ([`answers`]) or CSV ([`table`]). Who
//! reads how much is decided in [`access`]; the definitions are those of
//! [`crate::reports::kpis`].
//!
//! Days are UTC days, `from` and `to` both included (default: the 30 days up to today by the
//! server's clock). The backlog is always "now".

pub mod access;
pub mod answers;
pub mod build;
pub mod table;

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiQuery, Caller};
use super::problem::{ApiError, Problem};
use crate::engine::FieldProblem;
use crate::reports::aggregate::Agg;
use crate::reports::facts::{BucketKey, Family};
use crate::reports::kpis::{Filter, Period, grouped};
use crate::reports::query::{Query, buckets_of};
use crate::workflow::load::Workflow;
use access::Access;
use answers::{
    AgentReport, CategoryReport, ChannelReport, ChannelRow, KpiReport, Performance, TeamReport, TeamRow, TrendReport,
    ratio,
};
use table::{Format, Row};

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(kpis))
        .routes(routes!(agents))
        .routes(routes!(teams))
        .routes(routes!(categories))
        .routes(routes!(channels))
        .routes(routes!(trend))
}

/// The longest range a report covers, in days (ten years).
pub const MAX_DAYS: i64 = 3_660;

/// `GET /v1/reports/kpis` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KpiQuery {
    /// Workflow id (required).
    workflow: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC; default: 29 days before `to`).
    from: Option<String>,
    /// Last day, included, `YYYY-MM-DD` (UTC; default: today).
    to: Option<String>,
    /// Only this category (empty: tickets without one).
    category: Option<String>,
    /// Only this priority.
    priority: Option<String>,
    /// Only this intake channel.
    channel: Option<String>,
    /// Only the tickets credited to this agent (agents other than managers: themselves only).
    agent: Option<String>,
    /// Only tickets worked in this role.
    team: Option<String>,
    /// `json` (default) or `csv` (or send `Accept: text/csv`).
    format: Option<String>,
}

/// Parameters of the per-agent, per-category and per-channel reports.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Workflow id (required).
    workflow: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC; default: 29 days before `to`).
    from: Option<String>,
    /// Last day, included, `YYYY-MM-DD` (UTC; default: today).
    to: Option<String>,
    /// `json` (default) or `csv` (or send `Accept: text/csv`).
    format: Option<String>,
}

/// `GET /v1/reports/trend` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// Workflow id (required).
    workflow: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC; default: 29 days before `to`).
    from: Option<String>,
    /// Last day, included, `YYYY-MM-DD` (UTC; default: today).
    to: Option<String>,
    /// `day` (default), `week` (ISO weeks, named by their Monday) or `month`.
    bucket: Option<String>,
    /// Only this category.
    category: Option<String>,
    /// Only this priority.
    priority: Option<String>,
    /// Only this intake channel.
    channel: Option<String>,
    /// Only the tickets credited to this agent.
    agent: Option<String>,
    /// Only tickets worked in this role.
    team: Option<String>,
    /// `json` (default) or `csv` (or send `Accept: text/csv`).
    format: Option<String>,
}

/// What every report request settles first: the workflow, the caller's access, the days and
/// the answer's form.
struct Scope {
    workflow: Arc<Workflow>,
    access: Access,
    from: NaiveDate,
    to: NaiveDate,
    format: Format,
}

impl Scope {
    /// Checks the common parameters (every problem at once, 422 naming each), then access.
    fn of(
        state: &AppState,
        caller: &Caller,
        headers: &HeaderMap,
        workflow: Option<&str>,
        (from, to): (Option<&str>, Option<&str>),
        format: Option<&str>,
        mut problems: Vec<FieldProblem>,
    ) -> Result<Self, ApiError> {
        let found = match workflow {
            None | Some("") => {
                problems.push(FieldProblem::new("workflow", "is required: the id of the workflow to report on"));
                None
            }
            Some(id) => {
                let found = state.registry.current(id);
                if found.is_none() {
                    problems.push(FieldProblem::new("workflow", format!("no workflow `{id}` is loaded")));
                }
                found
            }
        };
        let mut day = |field: &str, text: Option<&str>| {
            let text = text?;
            let parsed = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
            if parsed.is_none() {
                problems.push(FieldProblem::new(field, format!("\"{text}\" is not a day like 2026-11-23")));
            }
            parsed
        };
        let (from_day, to_day) = (day("from", from), day("to", to));
        let to_day = to_day.unwrap_or_else(|| state.clock.now().date_naive());
        let from_day = from_day.unwrap_or(to_day - Duration::days(29));
        if from_day > to_day && !problems.iter().any(|p| p.field == "from" || p.field == "to") {
            problems.push(FieldProblem::new("from", format!("{from_day} is after `to` ({to_day})")));
        } else if (to_day - from_day).num_days() >= MAX_DAYS {
            problems.push(FieldProblem::new("from", format!("a report covers at most {MAX_DAYS} days")));
        }
        let format = Format::of(format, headers).map_err(|p| problems.push(p)).unwrap_or(Format::Json);
        match found {
            Some(workflow) if problems.is_empty() => {
                let access = Access::of(caller, &workflow.definition)?;
                Ok(Self { workflow, access, from: from_day, to: to_day, format })
            }
            _ => Err(ApiError::invalid(problems)),
        }
    }

    fn id(&self) -> String {
        self.workflow.id().to_string()
    }

    fn query(&self, filter: Filter) -> Query {
        Query { workflow: self.id(), from: self.from, to: self.to, filter }
    }

    /// The SLA clocks the workflow defines (the CSV columns).
    fn clocks(&self) -> Vec<String> {
        build::clocks(&self.workflow.definition)
    }

    /// The stage ids (the backlog's CSV columns).
    fn stages(&self) -> Vec<String> {
        build::stages(&self.workflow.definition)
    }
}

/// Runs a store read off the async threads.
async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(read).await.map_err(|e| ApiError::internal(&e))?
}

/// `""` (none) as `null`.
fn named(name: String) -> Option<String> {
    (!name.is_empty()).then_some(name)
}

/// A workflow's KPIs over a range of days (filtered by category, priority, channel, agent or
/// team), with the backlog now. Administrators, integrations and the workflow's accountable
/// roles read everything; its other agents their own figures only (`agent` is then them).
#[utoipa::path(get, path = "/v1/reports/kpis", tag = "reports", params(KpiQuery),
    responses((status = 200, description = "The report (JSON, or CSV when asked)",
               content((KpiReport = "application/json"), (String = "text/csv"))),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn kpis(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<KpiQuery>,
) -> Result<Response, ApiError> {
    let range = (q.from.as_deref(), q.to.as_deref());
    let scope = Scope::of(&state, &caller, &headers, q.workflow.as_deref(), range, q.format.as_deref(), Vec::new())?;
    let agent = scope.access.agent_filter(q.agent)?;
    let filter =
        Filter { category: q.category, priority: q.priority, channel: q.channel, agent: agent.clone(), team: q.team };
    let query = scope.query(filter);
    let (store, now) = (state.store.clone(), state.clock.now());
    let report = blocking(move || Ok(build::kpi_report(&store, &query, now)?)).await?;
    build::kpi_answer(scope.format, &report, &scope.clocks(), &scope.stages())
}

/// Per agent: tickets resolved, first response, first-contact resolution, CSAT, SLA met and
/// breached, and open workload now. An agent who is not a manager gets their own row only.
#[utoipa::path(get, path = "/v1/reports/agents", tag = "reports", params(RangeQuery),
    responses((status = 200, description = "The report (JSON, or CSV when asked)",
               content((AgentReport = "application/json"), (String = "text/csv"))),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn agents(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Response, ApiError> {
    let range = (q.from.as_deref(), q.to.as_deref());
    let scope = Scope::of(&state, &caller, &headers, q.workflow.as_deref(), range, q.format.as_deref(), Vec::new())?;
    let own = scope.access.agent().map(str::to_string);
    let query = scope.query(Filter { agent: own, ..Filter::default() });
    let (store, now) = (state.store.clone(), state.clock.now());
    let report = blocking(move || Ok(build::agent_report(&store, &query, now)?)).await?;
    build::agent_answer(scope.format, &report)
}

/// Per team (the role tickets are worked in): the same figures as per agent, for "% met per
/// team". An agent who is not a manager sees the teams of their own tickets.
#[utoipa::path(get, path = "/v1/reports/teams", tag = "reports", params(RangeQuery),
    responses((status = 200, description = "The report (JSON, or CSV when asked)",
               content((TeamReport = "application/json"), (String = "text/csv"))),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn teams(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Response, ApiError> {
    let range = (q.from.as_deref(), q.to.as_deref());
    let scope = Scope::of(&state, &caller, &headers, q.workflow.as_deref(), range, q.format.as_deref(), Vec::new())?;
    let groups = grouped_by(&state, &scope, Family::Full, |key| key.team.clone()).await?;
    let items = groups
        .into_iter()
        .map(|(name, agg)| TeamRow { team: named(name), performance: Performance::of(&agg) })
        .collect();
    let report = TeamReport { workflow: scope.id(), from: scope.from, to: scope.to, items };
    let row = |r: &TeamRow| {
        let mut row = Row::default();
        row.put("team", &r.team);
        r.performance.columns(&mut row);
        row
    };
    let template = TeamRow { team: None, performance: Performance::default() };
    table::answer(scope.format, &report, &report.items, &template, row)
}

/// Per category: volume, CSAT (least happy first), SLA breach rate, repeat and reopen rates.
/// An agent who is not a manager sees the categories of their own tickets.
#[utoipa::path(get, path = "/v1/reports/categories", tag = "reports", params(RangeQuery),
    responses((status = 200, description = "The report (JSON, or CSV when asked)",
               content((CategoryReport = "application/json"), (String = "text/csv"))),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn categories(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Response, ApiError> {
    let range = (q.from.as_deref(), q.to.as_deref());
    let scope = Scope::of(&state, &caller, &headers, q.workflow.as_deref(), range, q.format.as_deref(), Vec::new())?;
    let own = scope.access.agent().map(str::to_string);
    let query = scope.query(Filter { agent: own, ..Filter::default() });
    let store = state.store.clone();
    let report = blocking(move || Ok(build::category_report(&store, &query)?)).await?;
    build::category_answer(scope.format, &report)
}

/// The channel mix: tickets opened per intake channel and their share.
#[utoipa::path(get, path = "/v1/reports/channels", tag = "reports", params(RangeQuery),
    responses((status = 200, description = "The report (JSON, or CSV when asked)",
               content((ChannelReport = "application/json"), (String = "text/csv"))),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn channels(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Response, ApiError> {
    let range = (q.from.as_deref(), q.to.as_deref());
    let scope = Scope::of(&state, &caller, &headers, q.workflow.as_deref(), range, q.format.as_deref(), Vec::new())?;
    let groups = grouped_by(&state, &scope, Family::Full, |key| key.channel.clone()).await?;
    let total: i64 = groups.values().map(|agg| agg.opened).sum();
    let items: Vec<ChannelRow> = groups
        .into_iter()
        .filter(|(_, agg)| agg.opened > 0)
        .map(|(name, agg)| ChannelRow {
            channel: named(name),
            tickets_opened: agg.opened,
            share: ratio(agg.opened, total),
        })
        .collect();
    let report = ChannelReport { workflow: scope.id(), from: scope.from, to: scope.to, items };
    let row = |r: &ChannelRow| {
        let mut row = Row::default();
        row.put("channel", &r.channel).put("tickets_opened", r.tickets_opened).put("share", r.share);
        row
    };
    let template = ChannelRow { channel: None, tickets_opened: 0, share: None };
    table::answer(scope.format, &report, &report.items, &template, row)
}

/// The buckets of the scope (the caller's own, for own access) grouped by one dimension,
/// read from `family` (one that keeps the dimension), or from the buckets of every dimension
/// when the caller sees only their own tickets.
async fn grouped_by(
    state: &AppState,
    scope: &Scope,
    family: Family,
    dimension: fn(&BucketKey) -> String,
) -> Result<std::collections::BTreeMap<String, Agg>, ApiError> {
    let own = scope.access.agent().map(str::to_string);
    let family = if own.is_some() { Family::Full } else { family };
    let query = scope.query(Filter { agent: own, ..Filter::default() });
    let store = state.store.clone();
    blocking(move || Ok(grouped(&buckets_of(&store, &query, family)?, dimension))).await
}

/// Every KPI per day, ISO week or month of the range, filtered like `/v1/reports/kpis`.
#[utoipa::path(get, path = "/v1/reports/trend", tag = "reports", params(TrendQuery),
    responses((status = 200, description = "The report (JSON, or CSV when asked)",
               content((TrendReport = "application/json"), (String = "text/csv"))),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn trend(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<TrendQuery>,
) -> Result<Response, ApiError> {
    let mut problems = Vec::new();
    let period = match q.bucket.as_deref() {
        None | Some("day") => Period::Day,
        Some("week") => Period::Week,
        Some("month") => Period::Month,
        Some(other) => {
            problems.push(FieldProblem::new("bucket", format!("\"{other}\": use day, week or month")));
            Period::Day
        }
    };
    let range = (q.from.as_deref(), q.to.as_deref());
    let scope = Scope::of(&state, &caller, &headers, q.workflow.as_deref(), range, q.format.as_deref(), problems)?;
    let agent = scope.access.agent_filter(q.agent)?;
    let filter =
        Filter { category: q.category, priority: q.priority, channel: q.channel, agent: agent.clone(), team: q.team };
    let query = scope.query(filter);
    let store = state.store.clone();
    let report = blocking(move || Ok(build::trend_report(&store, &query, period)?)).await?;
    build::trend_answer(scope.format, &report, &scope.clocks())
}
