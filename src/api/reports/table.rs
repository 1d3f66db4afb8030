//! Reports as flat tables: the same figures as the JSON answers, one column per number
//! (`first_response_median_secs`), written as CSV (RFC 4180, UTF-8, a header row). An absent
//! figure (a rate with nothing to divide by) is an empty cell.
//!
//! Which format a request wants: `?format=csv` or `?format=json`, else `Accept: text/csv`,
//! else JSON.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;

use super::super::problem::ApiError;
use crate::engine::FieldProblem;
use crate::reports::aggregate::Summary;
use crate::reports::kpis::{Backlog, Figures, Timing};

/// The media type of the CSV answers.
pub const TEXT_CSV: &str = "text/csv; charset=utf-8";

/// The form of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `text/csv`.
    Csv,
}

impl Format {
    /// What `?format=` asks for or, without it, the `Accept` header.
    pub fn of(format: Option<&str>, headers: &HeaderMap) -> Result<Self, FieldProblem> {
        match format {
            Some("csv") => Ok(Self::Csv),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(FieldProblem::new("format", format!("\"{other}\": use csv or json"))),
            None => {
                let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
                let csv = accept.split(',').any(|kind| {
                    kind.split(';').next().is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/csv"))
                });
                Ok(if csv { Self::Csv } else { Self::Json })
            }
        }
    }
}

/// A value as a CSV cell.
pub trait Cell {
    /// The cell's text.
    fn cell(&self) -> String;
}

macro_rules! display_cells {
    ($($t:ty),*) => {$(
        impl Cell for $t {
            fn cell(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
display_cells!(i64, u64, f64, str, String, NaiveDate);

impl<T: Cell + ?Sized> Cell for &T {
    fn cell(&self) -> String {
        (**self).cell()
    }
}

impl<T: Cell> Cell for Option<T> {
    fn cell(&self) -> String {
        self.as_ref().map(Cell::cell).unwrap_or_default()
    }
}

/// One row: its columns, named, in order.
#[derive(Debug, Clone, Default)]
pub struct Row(Vec<(String, String)>);

impl Row {
    /// Adds a column.
    pub fn put(&mut self, name: impl Into<String>, value: impl Cell) -> &mut Self {
        self.0.push((name.into(), value.cell()));
        self
    }

    /// Adds the columns of a duration summary, named `{name}_count`, `{name}_mean_secs`, ...
    pub fn summary(&mut self, name: &str, s: &Summary) -> &mut Self {
        self.put(format!("{name}_count"), s.count)
            .put(format!("{name}_mean_secs"), s.mean_secs)
            .put(format!("{name}_median_secs"), s.median_secs)
            .put(format!("{name}_p90_secs"), s.p90_secs)
    }

    /// Adds the columns of a timing: wall time, business time (`{name}_business_...`) and the
    /// SLA clock's met rate.
    pub fn timing(&mut self, name: &str, t: &Timing) -> &mut Self {
        let wall = Summary { count: t.count, mean_secs: t.mean_secs, median_secs: t.median_secs, p90_secs: t.p90_secs };
        self.summary(name, &wall)
            .summary(&format!("{name}_business"), &t.business)
            .put(format!("{name}_met_rate"), t.met_rate)
    }

    /// Adds every figure, with a column triple per SLA clock of `clocks` (those the workflow
    /// defines, so every row has the same columns; `stage:review` is named `sla_stage_review_...`).
    pub fn figures(&mut self, f: &Figures, clocks: &[String]) -> &mut Self {
        self.put("tickets_opened", f.tickets_opened).put("tickets_resolved", f.tickets_resolved);
        self.timing("first_response", &f.first_response).timing("resolution", &f.resolution);
        self.put("first_contact_resolutions", f.first_contact_resolutions)
            .put("first_contact_resolution_rate", f.first_contact_resolution_rate)
            .put("csat_responses", f.csat.responses)
            .put("csat_satisfied_rate", f.csat.satisfied_rate)
            .put("csat_mean", f.csat.mean)
            .put("nps_responses", f.nps.responses)
            .put("nps_score", f.nps.score)
            .put("ces_responses", f.ces.responses)
            .put("ces_mean", f.ces.mean)
            .put("surveys_sent", f.surveys.sent)
            .put("surveys_answered", f.surveys.answered)
            .put("surveys_response_rate", f.surveys.response_rate);
        for clock in clocks {
            let figure = f.sla.get(clock).copied().unwrap_or_default();
            let name = clock.replace(':', "_");
            self.put(format!("sla_{name}_met"), figure.met)
                .put(format!("sla_{name}_breached"), figure.breached)
                .put(format!("sla_{name}_breach_rate"), figure.breach_rate);
        }
        self.put("sla_breaches", f.sla_breaches)
            .put("reopened", f.reopened)
            .put("reopen_rate", f.reopen_rate)
            .put("repeats", f.repeats)
            .put("repeat_rate", f.repeat_rate)
    }

    /// Adds the backlog: open tickets, one column per stage of `stages` and per age band.
    pub fn backlog(&mut self, b: &Backlog, stages: &[String]) -> &mut Self {
        self.put("backlog_open", b.open);
        for stage in stages {
            self.put(format!("backlog_stage_{stage}"), b.by_stage.get(stage).copied().unwrap_or(0));
        }
        for (band, count) in &b.by_age {
            self.put(format!("backlog_age_{band}"), *count);
        }
        self
    }
}

/// A report in the form asked for: the JSON document, or its `items` as CSV rows made by
/// `row` (`template` is an item that names the columns even of an empty table).
pub fn answer<T: serde::Serialize, I>(
    format: Format,
    report: &T,
    items: &[I],
    template: &I,
    row: impl Fn(&I) -> Row,
) -> Result<Response, ApiError> {
    match format {
        Format::Json => Ok(axum::Json(report).into_response()),
        Format::Csv => csv(&row(template), &items.iter().map(&row).collect::<Vec<_>>()),
    }
}

/// A table as a CSV answer: the header from `template` (a row built like the others, so an
/// empty table still names its columns), then `rows`.
pub fn csv(template: &Row, rows: &[Row]) -> Result<Response, ApiError> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let write = |writer: &mut csv::Writer<Vec<u8>>, cells: Vec<&str>| writer.write_record(cells);
    write(&mut writer, template.0.iter().map(|(name, _)| name.as_str()).collect())
        .map_err(|e| ApiError::internal(&e))?;
    for row in rows {
        write(&mut writer, row.0.iter().map(|(_, value)| value.as_str()).collect())
            .map_err(|e| ApiError::internal(&e))?;
    }
    let body = writer.into_inner().map_err(|e| ApiError::internal(&e))?;
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_CSV));
    Ok(response)
}
