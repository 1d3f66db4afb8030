//! The manager's dashboard: a workflow's KPIs over a chosen period, with charts (trend per
//! week, breach rate per stage, CSAT per category, backlog per stage and by age), the agents
//! table, the open tickets past a deadline, and the reports as CSV downloads.
//!
//! Every figure is built by [`crate::api::reports::build`] from [`crate::reports`], the very
//! functions the reports API answers with, so the page and `GET /v1/reports/...` cannot
//! disagree; a download is byte for byte the API's CSV. Who may read it is the reports API's
//! rule ([`Access`]): administrators and the workflow's accountable roles; everyone else is
//! refused (403). Days are UTC days, as in the API.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::charts::{self, Bar, Chart, Series};
use super::page::{Frame, PageError};
use super::session::SignedIn;
use super::texts;
use crate::api::AppState;
use crate::api::reports::access::Access;
use crate::api::reports::answers::{AgentReport, CategoryReport, KpiReport, TrendReport, ratio, sla_totals};
use crate::api::reports::build;
use crate::api::reports::table::Format;
use crate::engine::ticket::{Status, Ticket};
use crate::locale::{Lang, dates};
use crate::reports::kpis::{AGE_BANDS, Filter, Period};
use crate::reports::query::Query as ReportQuery;
use crate::store::{ListFilter, Store, StoreError};
use crate::workflow::load::Workflow;
use crate::workflow::model::WorkflowFile;

/// Most breached tickets listed (the oldest breaches are not hidden: the list is by ticket).
pub const BREACHED_SHOWN: usize = 50;

/// The periods the form offers, in its order: days up to today, this month, or chosen days.
const CHOICES: [&str; 5] = ["7", "30", "90", "month", "custom"];

/// The reports a dashboard offers as CSV.
const DOWNLOADS: [&str; 4] = ["kpis", "agents", "categories", "trend"];

/// The routes of the dashboard.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(index))
        .route("/dashboard/{workflow}", get(board))
        .route("/dashboard/{workflow}/{file}", get(download))
}

/// The period form's fields (and a download's range).
#[derive(Debug, Default, Deserialize)]
struct RangeQuery {
    /// One of [`CHOICES`]; without it, `custom` when a day is given, else the last 30 days.
    period: Option<String>,
    /// First day of a custom period, `YYYY-MM-DD`.
    from: Option<String>,
    /// Last day of a custom period, included.
    to: Option<String>,
    /// A trend download's periods: `day`, `week` (default) or `month`.
    bucket: Option<String>,
}

/// The days a dashboard covers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Range {
    /// Which choice of the form.
    choice: &'static str,
    /// First day (UTC).
    from: NaiveDate,
    /// Last day, included (UTC).
    to: NaiveDate,
}

/// A field of the period form that cannot be read, and the text saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    field: &'static str,
    key: &'static str,
}

/// A day as `YYYY-MM-DD`; absent when empty.
fn day_of(text: Option<&str>, field: &'static str, problems: &mut Vec<Problem>) -> Option<NaiveDate> {
    let text = text.map(str::trim).filter(|t| !t.is_empty())?;
    let parsed = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
    if parsed.is_none() {
        problems.push(Problem { field, key: "dashboard.not_a_day" });
    }
    parsed
}

/// The days `query` asks for on `today`: every problem at once when it cannot be read. A custom
/// period without `to` ends today, without `from` is the 30 days up to `to`, as in the API.
fn range_of(query: &RangeQuery, today: NaiveDate) -> Result<Range, Vec<Problem>> {
    let given = |t: &Option<String>| t.as_deref().is_some_and(|t| !t.trim().is_empty());
    let asked = match query.period.as_deref() {
        Some(p) if !p.is_empty() => p,
        _ if given(&query.from) || given(&query.to) => "custom",
        _ => "30",
    };
    let Some(choice) = CHOICES.into_iter().find(|c| *c == asked) else {
        return Err(vec![Problem { field: "period", key: "dashboard.bad_period" }]);
    };
    let last = |days: i64| Ok(Range { choice, from: today - Duration::days(days - 1), to: today });
    match choice {
        "7" => last(7),
        "30" => last(30),
        "90" => last(90),
        "month" => Ok(Range { choice, from: today.with_day(1).unwrap_or(today), to: today }),
        _ => {
            let mut problems = Vec::new();
            let from = day_of(query.from.as_deref(), "from", &mut problems);
            let to = day_of(query.to.as_deref(), "to", &mut problems);
            if !problems.is_empty() {
                return Err(problems);
            }
            let to = to.unwrap_or(today);
            let from = from.unwrap_or(to - Duration::days(29));
            if from > to {
                return Err(vec![Problem { field: "from", key: "dashboard.from_after_to" }]);
            }
            if (to - from).num_days() >= crate::api::reports::MAX_DAYS {
                return Err(vec![Problem { field: "from", key: "dashboard.too_long" }]);
            }
            Ok(Range { choice, from, to })
        }
    }
}

/// Whether `who` may read the dashboard of `workflow`: the reports API's rule, full access
/// only (an agent who reads their own figures has `/work`, not the team's dashboard).
fn may_read(who: &SignedIn, workflow: &WorkflowFile) -> bool {
    matches!(Access::of_person(who.session.role, who.person(), workflow), Ok(Access::All))
}

/// The refusal of someone who may not read a dashboard.
fn refused(frame: &Frame) -> Response {
    frame.error(PageError::Forbidden(texts::text(frame.lang, "dashboard.not_for_you").to_string()))
}

/// `GET /dashboard`: the workflows whose dashboard the person may read; with one, that one.
async fn index(State(state): State<AppState>, who: SignedIn) -> Response {
    let frame = who.frame(who.lang(&state), chrono_tz::UTC);
    let mut readable: Vec<Arc<Workflow>> =
        state.registry.all_current().into_iter().filter(|w| may_read(&who, &w.definition)).collect();
    readable.sort_by(|a, b| a.id().cmp(b.id()));
    match readable.as_slice() {
        [] => refused(&frame),
        [only] => Redirect::to(&format!("/dashboard/{}", only.id())).into_response(),
        many => {
            let workflows: Vec<Value> =
                many.iter().map(|w| context! { id => w.id(), name => w.definition.name.clone() }).collect();
            frame.render("dashboard_index.html", context! { workflows => workflows })
        }
    }
}

/// The workflow a dashboard URL names, the page's frame, and whether the person may read it.
fn open(state: &AppState, who: &SignedIn, id: &str) -> Result<(Arc<Workflow>, Frame), Box<Response>> {
    let Some(workflow) = state.registry.current(id) else {
        return Err(Box::new(who.frame(who.lang(state), chrono_tz::UTC).error(PageError::NotFound)));
    };
    let definition = &workflow.definition;
    let frame = who.frame(who.visitor.lang_for(definition.language), definition.timezone());
    if !may_read(who, definition) {
        return Err(Box::new(refused(&frame)));
    }
    Ok((workflow, frame))
}

/// The query of a whole workflow's reports over `range`.
fn report_query(workflow: &Workflow, range: &Range) -> ReportQuery {
    ReportQuery { workflow: workflow.id().to_string(), from: range.from, to: range.to, filter: Filter::default() }
}

/// Runs a store read off the async threads.
async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, PageError> {
    match tokio::task::spawn_blocking(read).await {
        Ok(result) => result.map_err(PageError::from),
        Err(error) => Err(PageError::internal(&error)),
    }
}

/// Everything a dashboard shows, as read from the store.
struct Reports {
    kpis: KpiReport,
    agents: AgentReport,
    categories: CategoryReport,
    trend: TrendReport,
    breached: Vec<Ticket>,
    more_breached: bool,
}

fn read(store: &Store, query: &ReportQuery, now: DateTime<Utc>) -> Result<Reports, StoreError> {
    let (breached, more_breached) = breached(store, &query.workflow)?;
    let kpis = build::kpi_report(store, query, now)?;
    Ok(Reports {
        agents: build::agent_report_with(store, query, &kpis.backlog)?,
        kpis,
        categories: build::category_report(store, query)?,
        trend: build::trend_report(store, query, Period::Week)?,
        breached,
        more_breached,
    })
}

/// The open tickets of `workflow` with a running SLA clock past its deadline (the first
/// [`BREACHED_SHOWN`]), and whether there are more.
fn breached(store: &Store, workflow: &str) -> Result<(Vec<Ticket>, bool), StoreError> {
    let filter = ListFilter {
        workflow: Some(workflow.to_string()),
        status: Some(Status::Open),
        breached: Some(true),
        ..ListFilter::default()
    };
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let page = store.list(&filter, after, BREACHED_SHOWN + 1 - found.len())?;
        found.extend(page.tickets);
        match page.next {
            Some(next) if found.len() <= BREACHED_SHOWN => after = Some(next),
            _ => break,
        }
    }
    let more = found.len() > BREACHED_SHOWN;
    found.truncate(BREACHED_SHOWN);
    Ok((found, more))
}

/// `GET /dashboard/{workflow}`: the dashboard over the period the form chose.
async fn board(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Response {
    let (workflow, frame) = match open(&state, &who, &id) {
        Ok(found) => found,
        Err(refusal) => return *refusal,
    };
    let Ok(Query(query)) = query else {
        return frame.error(PageError::BadRequest(texts::text(frame.lang, "error.bad_form").to_string()));
    };
    let now = state.clock.now();
    let range = match range_of(&query, now.date_naive()) {
        Ok(range) => range,
        Err(problems) => return form_again(&frame, &workflow, &query, &problems, now.date_naive()),
    };
    let (store, report) = (state.store.clone(), report_query(&workflow, &range));
    let reports = match blocking(move || read(&store, &report, now)).await {
        Ok(reports) => reports,
        Err(error) => return frame.error(error),
    };
    let view = View { lang: frame.lang, tz: frame.tz, workflow: &workflow.definition };
    let downloads: Vec<Value> = DOWNLOADS
        .iter()
        .map(|name| {
            let href = format!("/dashboard/{}/{name}.csv?from={}&to={}", workflow.id(), range.from, range.to);
            context! { name => *name, href => href, label => format!("dashboard.download_{name}") }
        })
        .collect();
    frame.render(
        "dashboard.html",
        context! {
            workflow => context! { id => workflow.id(), name => workflow.definition.name.clone() },
            form => form_values(range.choice, query.from.as_deref(), query.to.as_deref(), &range, &[]),
            range => view.range(&range),
            kpis => view.kpis(&reports.kpis),
            trend => view.trend(&reports.trend),
            stages => view.stage_breaches(&reports.kpis),
            categories => view.categories(&reports.categories),
            agents => view.agents(&reports.agents),
            backlog => view.backlog(&reports.kpis),
            breached => view.breached(&reports.breached),
            more_breached => reports.more_breached,
            downloads => downloads,
        },
    )
}

/// The period form again with its problems, and no figures (422).
fn form_again(
    frame: &Frame,
    workflow: &Workflow,
    query: &RangeQuery,
    problems: &[Problem],
    today: NaiveDate,
) -> Response {
    let today = Range { choice: "custom", from: today, to: today };
    let choice = query.period.clone().unwrap_or_else(|| "custom".into());
    let problems: Vec<(String, String)> =
        problems.iter().map(|p| (p.field.to_string(), texts::text(frame.lang, p.key).to_string())).collect();
    frame.render_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        "dashboard.html",
        context! {
            workflow => context! { id => workflow.id(), name => workflow.definition.name.clone() },
            form => form_values(&choice, query.from.as_deref(), query.to.as_deref(), &today, &problems),
            invalid => true,
        },
    )
}

/// The period form's values: the choice, the days as typed (or the range's), the problems.
fn form_values(
    choice: &str,
    from: Option<&str>,
    to: Option<&str>,
    range: &Range,
    problems: &[(String, String)],
) -> Value {
    let typed = |text: Option<&str>, day: NaiveDate| {
        text.filter(|t| !t.is_empty()).map_or_else(|| day.to_string(), str::to_string)
    };
    let problem = |field: &str| problems.iter().find(|(f, _)| f == field).map(|(_, text)| text.clone());
    context! {
        choices => CHOICES
            .iter()
            .map(|c| context! { value => *c, checked => *c == choice, label => format!("dashboard.period_{c}") })
            .collect::<Vec<_>>(),
        from => typed(from, range.from),
        to => typed(to, range.to),
        from_problem => problem("from"),
        to_problem => problem("to"),
        period_problem => problem("period"),
    }
}

/// A UTC day as an instant the `day` filter writes as that day in any time zone (noon UTC is
/// the same date from UTC-12 to UTC+12).
fn noon(day: NaiveDate) -> String {
    format!("{day}T12:00:00Z")
}

/// `GET /dashboard/{workflow}/{report}.csv`: a report as the API's CSV, for the same range.
async fn download(
    State(state): State<AppState>,
    who: SignedIn,
    Path((id, file)): Path<(String, String)>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Response {
    let (workflow, frame) = match open(&state, &who, &id) {
        Ok(found) => found,
        Err(refusal) => return *refusal,
    };
    let Some(name) = file.strip_suffix(".csv").filter(|name| DOWNLOADS.contains(name)) else {
        return frame.error(PageError::NotFound);
    };
    let bad = |key: &str| frame.error(PageError::BadRequest(texts::text(frame.lang, key).to_string()));
    let Ok(Query(query)) = query else { return bad("error.bad_form") };
    let now = state.clock.now();
    let Ok(range) = range_of(&query, now.date_naive()) else { return bad("dashboard.bad_range") };
    let period = match query.bucket.as_deref() {
        None | Some("" | "week") => Period::Week,
        Some("day") => Period::Day,
        Some("month") => Period::Month,
        Some(_) => return bad("dashboard.bad_range"),
    };
    let (store, report, name_) = (state.store.clone(), report_query(&workflow, &range), name.to_string());
    let definition = workflow.definition.clone();
    let answer = blocking(move || {
        let answer = match name_.as_str() {
            "kpis" => build::kpi_answer(
                Format::Csv,
                &build::kpi_report(&store, &report, now)?,
                &build::clocks(&definition),
                &build::stages(&definition),
            ),
            "agents" => build::agent_answer(Format::Csv, &build::agent_report(&store, &report, now)?),
            "categories" => build::category_answer(Format::Csv, &build::category_report(&store, &report)?),
            _ => build::trend_answer(
                Format::Csv,
                &build::trend_report(&store, &report, period)?,
                &build::clocks(&definition),
            ),
        };
        Ok(answer)
    })
    .await;
    match answer {
        Ok(Ok(mut response)) => {
            let disposition =
                format!("attachment; filename=\"{}-{name}-{}-{}.csv\"", workflow.id(), range.from, range.to);
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Ok(Err(error)) => frame.error(PageError::internal(&format!("{error:?}"))),
        Err(error) => frame.error(error),
    }
}

/// A figure as the page shows it: its name (`data-kpi`), text key, kind (how it is written),
/// its value as shown (rounded: percent, seconds, count) and as the API gives it (`data-value`).
#[derive(Debug, Clone, Serialize)]
struct Figure {
    name: &'static str,
    label: String,
    kind: &'static str,
    value: Option<i64>,
    raw: String,
    note: Option<String>,
}

/// A rate as a whole percent.
#[allow(clippy::cast_possible_truncation)]
fn percent(rate: Option<f64>) -> Option<i64> {
    rate.map(|r| (r * 100.0).round() as i64)
}

fn raw_of<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// Seconds as a page shows them.
fn secs(value: Option<u64>) -> Option<i64> {
    value.and_then(|v| i64::try_from(v).ok())
}

/// What a view of the dashboard writes in: language, time zone, the workflow's names.
struct View<'a> {
    lang: Lang,
    tz: chrono_tz::Tz,
    workflow: &'a WorkflowFile,
}

impl View<'_> {
    fn text(&self, key: &str) -> String {
        texts::text(self.lang, key).to_string()
    }

    /// A whole number as the page writes it.
    fn number(&self, n: i64) -> String {
        dates::number(n, self.lang)
    }

    /// A percent as the page writes it (`—` when absent).
    fn percent(&self, value: Option<i64>) -> String {
        match value {
            Some(v) => texts::fill(self.lang, "dashboard.percent", &[("value", self.number(v))]),
            None => self.text("dashboard.none"),
        }
    }

    /// A mean with one decimal, in the language's digits and decimal separator.
    #[allow(clippy::cast_possible_truncation)]
    fn decimal(&self, value: Option<f64>) -> String {
        let Some(value) = value else { return self.text("dashboard.none") };
        let tenths = (value * 10.0).round() as i64;
        let sign = if tenths < 0 { "-" } else { "" };
        let separator = self.text("dashboard.decimal_separator");
        format!("{sign}{}{separator}{}", self.number(tenths.abs() / 10), self.number(tenths.abs() % 10))
    }

    /// A stage's name as the workflow writes it.
    fn stage(&self, id: &str) -> String {
        self.workflow
            .stages
            .iter()
            .find(|(stage, _)| stage.get_ref() == id)
            .and_then(|(_, stage)| stage.name.clone())
            .unwrap_or_else(|| id.to_string())
    }

    /// An SLA clock's name.
    fn clock(&self, clock: &str) -> String {
        match clock.strip_prefix("stage:") {
            Some(stage) => self.stage(stage),
            None if clock == crate::engine::sla::FIRST_RESPONSE => self.text("dashboard.clock_first_response"),
            None if clock == crate::engine::sla::RESOLUTION => self.text("dashboard.clock_resolution"),
            None => clock.to_string(),
        }
    }

    fn chart(&self, id: &str, title_key: &str, desc_key: &str, draw: impl FnOnce(&Chart) -> String) -> Value {
        let (title, desc) = (self.text(title_key), self.text(desc_key));
        let chart = Chart { id, title: &title, desc: &desc, rtl: self.lang.is_rtl() };
        Value::from_safe_string(draw(&chart))
    }

    /// The period in words, each date isolated so a right-to-left sentence keeps its digits
    /// in order.
    fn range(&self, range: &Range) -> String {
        let isolated = |day| format!("\u{2068}{}\u{2069}", dates::date(at_noon(day), self.tz, self.lang));
        texts::fill(self.lang, "dashboard.range", &[("from", isolated(range.from)), ("to", isolated(range.to))])
    }

    fn kpis(&self, report: &KpiReport) -> Vec<Figure> {
        let f = &report.figures;
        let (met, breached) = sla_totals(f);
        let breach_rate = ratio(breached, met + breached);
        #[allow(clippy::cast_possible_truncation)]
        let nps = f.nps.score.map(|s| s.round() as i64);
        let count = |name, n: i64| (name, "count", Some(n), n.to_string(), None);
        let rate = |name, r: Option<f64>| (name, "percent", percent(r), raw_of(r), None);
        let time = |name, s: Option<u64>| (name, "span", secs(s), raw_of(s), None);
        let answers = |n: i64| Some(texts::counted(self.lang, "dashboard.answers", n, &[]));
        let figures = [
            count("opened", f.tickets_opened),
            count("resolved", f.tickets_resolved),
            time("first_response_median", f.first_response.median_secs),
            time("resolution_median", f.resolution.median_secs),
            rate("fcr_rate", f.first_contact_resolution_rate),
            (
                "csat",
                "percent",
                percent(f.csat.satisfied_rate),
                raw_of(f.csat.satisfied_rate),
                answers(f.csat.responses),
            ),
            ("nps", "count", nps, raw_of(f.nps.score), answers(f.nps.responses)),
            count("sla_breaches", f.sla_breaches),
            rate("breach_rate", breach_rate),
            rate("reopen_rate", f.reopen_rate),
            rate("repeat_rate", f.repeat_rate),
            ("backlog", "count", i64::try_from(report.backlog.open).ok(), report.backlog.open.to_string(), None),
        ];
        figures
            .into_iter()
            .map(|(name, kind, value, raw, note)| Figure {
                name,
                label: format!("dashboard.kpi_{name}"),
                kind,
                value,
                raw,
                note,
            })
            .collect()
    }

    fn trend(&self, report: &TrendReport) -> Value {
        let periods: Vec<String> =
            report.items.iter().map(|r| dates::date(at_noon(r.period), self.tz, self.lang)).collect();
        #[allow(clippy::cast_precision_loss)]
        let series = |name: &str, class, pick: fn(&crate::reports::kpis::Figures) -> i64| Series {
            name: self.text(name),
            class,
            values: report.items.iter().map(|r| (pick(&r.figures) as f64, self.number(pick(&r.figures)))).collect(),
        };
        let opened = series("dashboard.opened", "a", |f| f.tickets_opened);
        let resolved = series("dashboard.resolved", "b", |f| f.tickets_resolved);
        let chart = self.chart("trend-chart", "dashboard.trend_title", "dashboard.trend_desc", |c| {
            charts::columns(c, &periods, &[opened, resolved])
        });
        let rows: Vec<Value> = report
            .items
            .iter()
            .map(|r| {
                context! {
                    period => noon(r.period),
                    opened => r.figures.tickets_opened,
                    resolved => r.figures.tickets_resolved,
                }
            })
            .collect();
        context! { chart => chart, rows => rows }
    }

    fn stage_breaches(&self, report: &KpiReport) -> Value {
        let stage_clocks: Vec<String> =
            build::clocks(self.workflow).into_iter().filter(|c| c.starts_with("stage:")).collect();
        let figure = |clock: &String| report.figures.sla.get(clock).copied().unwrap_or_default();
        let bars: Vec<Bar> = stage_clocks
            .iter()
            .map(|clock| {
                let f = figure(clock);
                Bar {
                    label: self.clock(clock),
                    value: f.breach_rate.unwrap_or(0.0),
                    shown: self.percent(percent(f.breach_rate)),
                }
            })
            .collect();
        let chart = self
            .chart("stage-chart", "dashboard.stages_title", "dashboard.stages_desc", |c| charts::bars(c, &bars, 1.0));
        let rows: Vec<Value> = stage_clocks
            .iter()
            .map(|clock| {
                let f = figure(clock);
                context! { stage => self.clock(clock), met => f.met, breached => f.breached, rate => percent(f.breach_rate) }
            })
            .collect();
        context! { chart => chart, rows => rows }
    }

    fn categories(&self, report: &CategoryReport) -> Value {
        let name = |c: &Option<String>| c.clone().unwrap_or_else(|| self.text("dashboard.no_category"));
        let answered: Vec<Bar> = report
            .items
            .iter()
            .filter(|r| r.csat.responses > 0)
            .map(|r| Bar {
                label: name(&r.category),
                value: r.csat.satisfied_rate.unwrap_or(0.0),
                shown: self.percent(percent(r.csat.satisfied_rate)),
            })
            .collect();
        let chart = self
            .chart("csat-chart", "dashboard.csat_title", "dashboard.csat_desc", |c| charts::bars(c, &answered, 1.0));
        let rows: Vec<Value> = report
            .items
            .iter()
            .map(|r| {
                context! {
                    category => name(&r.category),
                    opened => r.tickets_opened,
                    responses => r.csat.responses,
                    satisfied => percent(r.csat.satisfied_rate),
                    mean => self.decimal(r.csat.mean),
                }
            })
            .collect();
        context! { chart => chart, rows => rows }
    }

    fn agents(&self, report: &AgentReport) -> Vec<Value> {
        report
            .items
            .iter()
            .map(|r| {
                let p = &r.performance;
                context! {
                    agent => r.agent.clone(),
                    resolved => p.tickets_resolved,
                    resolution => secs(p.resolution.median_secs),
                    fcr => percent(p.first_contact_resolution_rate),
                    csat => percent(p.csat.satisfied_rate),
                    csat_responses => p.csat.responses,
                    breaches => p.sla_breached,
                    open => r.open_workload,
                }
            })
            .collect()
    }

    #[allow(clippy::cast_precision_loss)]
    fn backlog(&self, report: &KpiReport) -> Value {
        let backlog = &report.backlog;
        let stages: Vec<(String, u64)> = self
            .workflow
            .stages
            .iter()
            .map(|(id, stage)| (id.get_ref(), stage))
            .map(|(id, stage)| (id, stage, backlog.by_stage.get(id).copied().unwrap_or(0)))
            .filter(|(_, stage, count)| *count > 0 || !(stage.terminal || stage.resolved))
            .map(|(id, _, count)| (self.stage(id), count))
            .collect();
        let ages: Vec<(String, u64)> = AGE_BANDS
            .iter()
            .map(|(band, _)| {
                (
                    self.text(&format!("dashboard.age_{}", band.replace('-', "_").replace('+', "_plus"))),
                    backlog.by_age.get(*band).copied().unwrap_or(0),
                )
            })
            .collect();
        let bars = |rows: &[(String, u64)]| -> Vec<Bar> {
            rows.iter()
                .map(|(label, n)| Bar {
                    label: label.clone(),
                    value: *n as f64,
                    shown: self.number(i64::try_from(*n).unwrap_or(i64::MAX)),
                })
                .collect()
        };
        let by_stage =
            self.chart("backlog-stage-chart", "dashboard.backlog_stage_title", "dashboard.backlog_stage_desc", |c| {
                charts::bars(c, &bars(&stages), 1.0)
            });
        let by_age =
            self.chart("backlog-age-chart", "dashboard.backlog_age_title", "dashboard.backlog_age_desc", |c| {
                charts::bars(c, &bars(&ages), 1.0)
            });
        let rows = |rows: Vec<(String, u64)>| -> Vec<Value> {
            rows.into_iter().map(|(label, count)| context! { label => label, count => count }).collect()
        };
        context! {
            open => backlog.open,
            stage_chart => by_stage,
            stage_rows => rows(stages),
            age_chart => by_age,
            age_rows => rows(ages),
        }
    }

    fn breached(&self, tickets: &[Ticket]) -> Vec<Value> {
        tickets
            .iter()
            .map(|ticket| {
                let late: Vec<(&String, DateTime<Utc>)> = ticket
                    .slas
                    .iter()
                    .filter(|(_, clock)| clock.is_active())
                    .filter_map(|(name, clock)| clock.breached_at.map(|at| (name, at)))
                    .collect();
                let since = late.iter().map(|(_, at)| *at).min();
                context! {
                    number => ticket.number.clone(),
                    subject => ticket.subject.clone(),
                    stage => self.stage(&ticket.stage),
                    assignee => ticket.assignee.clone(),
                    clocks => late.iter().map(|(name, _)| self.clock(name)).collect::<Vec<_>>().join(", "),
                    since => since.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                }
            })
            .collect()
    }
}

/// Noon UTC of `day`, as an instant.
fn at_noon(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc() + Duration::hours(12)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a day")
    }

    fn query(period: Option<&str>, from: Option<&str>, to: Option<&str>) -> RangeQuery {
        RangeQuery { period: period.map(Into::into), from: from.map(Into::into), to: to.map(Into::into), bucket: None }
    }

    #[test]
    fn the_default_is_the_thirty_days_up_to_today_as_in_the_api() {
        let today = day("2026-12-10");
        let range = range_of(&RangeQuery::default(), today).expect("a range");
        assert_eq!((range.choice, range.from, range.to), ("30", day("2026-11-11"), today));
        assert_eq!(range_of(&query(Some("7"), None, None), today).expect("a range").from, day("2026-12-04"));
        assert_eq!(range_of(&query(Some("month"), None, None), today).expect("a range").from, day("2026-12-01"));
    }

    #[test]
    fn custom_days_are_checked_together() {
        let today = day("2026-12-10");
        let range = range_of(&query(None, Some("2026-11-01"), Some("2026-11-05")), today).expect("a range");
        assert_eq!((range.choice, range.from, range.to), ("custom", day("2026-11-01"), day("2026-11-05")));
        let problems = range_of(&query(Some("custom"), Some("soon"), Some("later")), today).expect_err("bad days");
        assert_eq!(problems.iter().map(|p| p.field).collect::<Vec<_>>(), ["from", "to"]);
        let after = range_of(&query(Some("custom"), Some("2026-11-06"), Some("2026-11-05")), today).expect_err("after");
        assert_eq!(after[0].key, "dashboard.from_after_to");
        assert_eq!(range_of(&query(Some("year"), None, None), today).expect_err("unknown")[0].field, "period");
    }
}
