//! The KPI report a `kpi_report` job mails to managers: the period before the run, its figures
//! in business terms (the values of the `kpi_report` template: "3h 20m", "62%", "+31"), and
//! every figure as CSV for the attachment. It reads buckets and open tickets (O(buckets + open
//! tickets)); it queues nothing: the job does.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use super::facts::{BucketKey, Family};
use super::kpis::{Backlog, Figures, Period, grouped, sum};
use super::query::{Query, backlog, buckets, buckets_of};
use crate::engine::notices::human;
use crate::store::{Store, StoreError};
use crate::workflow::model::ReportPeriod;

/// How many repeating categories the mail lists.
const TOP_REPEATS: usize = 5;

/// One report, ready to mail.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiReport {
    /// First day covered (UTC days, as the buckets).
    pub from: NaiveDate,
    /// Last day covered.
    pub to: NaiveDate,
    /// The default subject line.
    pub subject: String,
    /// The template's values.
    pub context: Value,
    /// Every figure as CSV (RFC 4180, a `metric,value` header row).
    pub csv: String,
    /// The attachment's name: `kpi-<workflow>-<from>-<to>.csv`.
    pub file_name: String,
}

/// The whole period before the one `today` is in: the previous calendar month, or the previous
/// Monday-to-Sunday week.
pub fn previous_period(period: ReportPeriod, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let kind = match period {
        ReportPeriod::Month => Period::Month,
        ReportPeriod::Week => Period::Week,
    };
    let last = kind.start(today) - Duration::days(1);
    (kind.start(last), last)
}

/// What a report is about: which workflow (id and name), the job, and the period.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Workflow id.
    pub workflow: &'a str,
    /// Workflow name, for people.
    pub name: &'a str,
    /// The job's id.
    pub job: &'a str,
    /// Which period.
    pub period: ReportPeriod,
}

/// The report of `about`'s previous period as of `today` (in the job's time zone), with the
/// backlog at `now`.
pub fn build(store: &Store, about: Subject<'_>, today: NaiveDate, now: DateTime<Utc>) -> Result<KpiReport, StoreError> {
    let (from, to) = previous_period(about.period, today);
    let query = Query { workflow: about.workflow.to_string(), from, to, filter: Default::default() };
    let selected = buckets(store, &query)?;
    let figures = Figures::of(&sum(selected.iter().map(|(_, agg)| agg)));
    let repeats = top_repeats(&buckets_of(store, &query, Family::Category)?);
    let open = backlog(store, about.workflow, None, now)?;
    let file_name = format!("kpi-{}-{from}-{to}.csv", about.workflow);
    let context = json!({
        "workflow": about.name,
        "job": about.job,
        "period": match about.period { ReportPeriod::Month => "month", ReportPeriod::Week => "week" },
        "from": from.to_string(),
        "to": to.to_string(),
        "opened": figures.tickets_opened,
        "resolved": figures.tickets_resolved,
        "first_response": duration(figures.first_response.median_secs),
        "resolution": duration(figures.resolution.median_secs),
        "fcr_rate": percent(figures.first_contact_resolution_rate),
        "csat": percent(figures.csat.satisfied_rate),
        "csat_responses": figures.csat.responses,
        "nps": nps(figures.nps.score),
        "nps_responses": figures.nps.responses,
        "sla_breaches": figures.sla_breaches,
        "breach_rate": percent(breach_rate(&figures)),
        "reopen_rate": percent(figures.reopen_rate),
        "repeat_rate": percent(figures.repeat_rate),
        "top_repeats": repeats.iter().take(TOP_REPEATS)
            .map(|(category, n)| json!({ "category": category, "repeats": n })).collect::<Vec<_>>(),
        "backlog": open.open,
        "backlog_by_stage": open.by_stage,
        "csv": file_name,
    });
    Ok(KpiReport {
        from,
        to,
        subject: format!("[{}] KPIs {from} to {to}", about.name),
        context,
        csv: csv(about.workflow, (from, to), &figures, &repeats, &open),
        file_name,
    })
}

/// Breaches of every clock over outcomes of every clock.
fn breach_rate(figures: &Figures) -> Option<f64> {
    let outcomes: i64 = figures.sla.values().map(|c| c.met + c.breached).sum();
    #[allow(clippy::cast_precision_loss)]
    (outcomes > 0).then(|| figures.sla_breaches as f64 / outcomes as f64)
}

/// Categories with repeat requests, most first (`(none)` for tickets without a category).
fn top_repeats(selected: &[(BucketKey, super::aggregate::Agg)]) -> Vec<(String, i64)> {
    let by_category = grouped(selected, |key| key.category.clone());
    let mut repeats: Vec<(String, i64)> = by_category
        .into_iter()
        .filter(|(_, agg)| agg.repeats > 0)
        .map(|(category, agg)| (if category.is_empty() { "(none)".into() } else { category }, agg.repeats))
        .collect();
    repeats.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    repeats
}

/// What people read where there is nothing to show.
const NONE: &str = "n/a";

fn duration(secs: Option<u64>) -> String {
    secs.map_or_else(|| NONE.into(), |s| human(Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX))))
}

/// A rate as a percentage: whole where it is, else to one decimal (`62%`, `3.2%`).
fn percent(rate: Option<f64>) -> String {
    let Some(rate) = rate else { return NONE.into() };
    let p = rate * 100.0;
    if (p - p.round()).abs() < 0.05 { format!("{:.0}%", p.round()) } else { format!("{p:.1}%") }
}

/// An NPS with its sign (`+31`, `-4`, `0`).
fn nps(score: Option<f64>) -> String {
    match score {
        None => NONE.into(),
        Some(s) if s.abs() < 0.5 => "0".into(),
        Some(s) => format!("{:+.0}", s.round()),
    }
}

/// The figures as `metric,value` rows: counts, seconds and rates as fractions (0..1), empty
/// where there is nothing to divide by.
fn csv(
    workflow: &str,
    (from, to): (NaiveDate, NaiveDate),
    f: &Figures,
    repeats: &[(String, i64)],
    open: &Backlog,
) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |name: &str, value: String| rows.push((name.to_string(), value));
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let secs = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    row("workflow", workflow.to_string());
    row("from", from.to_string());
    row("to", to.to_string());
    row("tickets_opened", f.tickets_opened.to_string());
    row("tickets_resolved", f.tickets_resolved.to_string());
    for (name, t) in [("first_response", &f.first_response), ("resolution", &f.resolution)] {
        row(&format!("{name}.count"), t.count.to_string());
        row(&format!("{name}.mean_secs"), opt(t.mean_secs));
        row(&format!("{name}.median_secs"), secs(t.median_secs));
        row(&format!("{name}.p90_secs"), secs(t.p90_secs));
        row(&format!("{name}.business_median_secs"), secs(t.business.median_secs));
        row(&format!("{name}.met_rate"), opt(t.met_rate));
    }
    row("first_contact_resolutions", f.first_contact_resolutions.to_string());
    row("first_contact_resolution_rate", opt(f.first_contact_resolution_rate));
    row("csat.responses", f.csat.responses.to_string());
    row("csat.satisfied_rate", opt(f.csat.satisfied_rate));
    row("csat.mean", opt(f.csat.mean));
    row("nps.responses", f.nps.responses.to_string());
    row("nps.score", opt(f.nps.score));
    row("ces.responses", f.ces.responses.to_string());
    row("ces.mean", opt(f.ces.mean));
    row("surveys.sent", f.surveys.sent.to_string());
    row("surveys.answered", f.surveys.answered.to_string());
    row("surveys.response_rate", opt(f.surveys.response_rate));
    row("sla_breaches", f.sla_breaches.to_string());
    row("sla_breach_rate", opt(breach_rate(f)));
    for (clock, c) in &f.sla {
        row(&format!("sla.{clock}.met"), c.met.to_string());
        row(&format!("sla.{clock}.breached"), c.breached.to_string());
        row(&format!("sla.{clock}.breach_rate"), opt(c.breach_rate));
    }
    row("reopened", f.reopened.to_string());
    row("reopen_rate", opt(f.reopen_rate));
    row("repeats", f.repeats.to_string());
    row("repeat_rate", opt(f.repeat_rate));
    for (category, n) in repeats {
        row(&format!("repeats.category.{category}"), n.to_string());
    }
    row("backlog.open", open.open.to_string());
    for (stage, n) in &open.by_stage {
        row(&format!("backlog.stage.{stage}"), n.to_string());
    }
    for (band, n) in &open.by_age {
        row(&format!("backlog.age.{band}"), n.to_string());
    }
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let written = std::iter::once(("metric".to_string(), "value".to_string()))
        .chain(rows)
        .try_for_each(|(name, value)| out.write_record([name, value]));
    // Writing to memory cannot fail; the rows are text, so the bytes are UTF-8.
    let bytes = written.ok().and_then(|()| out.into_inner().ok()).unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a date")
    }

    #[test]
    fn the_previous_period_is_the_whole_month_or_week_before() {
        assert_eq!(previous_period(ReportPeriod::Month, day(2026, 12, 1)), (day(2026, 11, 1), day(2026, 11, 30)));
        assert_eq!(previous_period(ReportPeriod::Month, day(2027, 1, 15)), (day(2026, 12, 1), day(2026, 12, 31)));
        assert_eq!(previous_period(ReportPeriod::Month, day(2028, 3, 1)), (day(2028, 2, 1), day(2028, 2, 29)));
        // Thursday 3 December: the week of Monday 23 to Sunday 29 November.
        assert_eq!(previous_period(ReportPeriod::Week, day(2026, 12, 3)), (day(2026, 11, 23), day(2026, 11, 29)));
        assert_eq!(previous_period(ReportPeriod::Week, day(2026, 11, 30)), (day(2026, 11, 23), day(2026, 11, 29)));
    }

    #[test]
    fn figures_read_in_business_terms() {
        assert_eq!(percent(Some(0.62)), "62%");
        assert_eq!(percent(Some(1.0 / 3.0)), "33.3%");
        assert_eq!(percent(Some(0.0)), "0%");
        assert_eq!(percent(None), "n/a");
        assert_eq!(nps(Some(31.2)), "+31");
        assert_eq!(nps(Some(-4.0)), "-4");
        assert_eq!(nps(Some(0.2)), "0");
        assert_eq!(duration(Some(12_000)), "3h 20m");
        assert_eq!(duration(None), "n/a");
    }

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        let figures = Figures::default();
        let repeats = [("say \"hi\", twice".to_string(), 2)];
        let text = csv("after-sales", (day(2026, 11, 1), day(2026, 11, 30)), &figures, &repeats, &Backlog::default());
        assert!(text.starts_with("metric,value\r\nworkflow,after-sales\r\n"), "{text}");
        assert!(text.contains("\"repeats.category.say \"\"hi\"\", twice\",2\r\n"), "{text}");
    }
}
