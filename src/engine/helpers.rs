//! The functions rule scripts may call besides Rhai's own: dates, business time, text.
//!
//! Dates are RFC 3339 texts (`"2026-11-24T08:30:00Z"`) or plain dates (`"2026-11-24"`, read as
//! midnight UTC), as they appear in `ticket` and in date form fields. Every helper is pure: no
//! clock (scripts read `ticket.now`), no files, no network. A bad argument raises a script error
//! naming the line, like any other Rhai error.
//!
//! | function | returns |
//! |---|---|
//! | `timestamp(date)` | seconds since 1970 |
//! | `date(seconds)` | the RFC 3339 text of a timestamp |
//! | `days_between(a, b)`, `hours_between(a, b)` | whole days / fractional hours from `a` to `b` |
//! | `add_days(date, n)`, `add_hours(date, n)` | a date moved by `n` (may be negative) |
//! | `format_date(date, "%d.%m.%Y")` | the date in a `strftime` format, in UTC |
//! | `ticket.calendar.business_hours(a, b)` | business hours between `a` and `b` on the workflow calendar (at most [`MAX_CALENDAR_DAYS`] days walked per evaluation) |
//! | `ticket.calendar.is_open(date)` | whether `date` is business time |
//! | `is_blank(text)` | whether the text is empty or only spaces |
//! | `matches(text, regex)` | whether the text matches a regular expression (size-limited) |

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rhai::{EvalAltResult, Position};

use super::calendar::BusinessCalendar;

/// Largest compiled regular expression a script may build, in bytes.
const MAX_REGEX_SIZE: usize = 64 * 1024;

/// Calendar days business-time helpers may walk in one evaluation. A call counts as one Rhai
/// operation however long its range, so without this budget a loop of calls over years could
/// keep a worker busy for seconds within the operation limit.
pub const MAX_CALENDAR_DAYS: i64 = 20_000;

thread_local! {
    static CALENDAR_DAYS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// Starts a new evaluation's budget of calendar days (the host calls it before each run).
pub fn reset_budget() {
    CALENDAR_DAYS.with(|days| days.set(0));
}

/// Spends the days between `a` and `b` from this evaluation's budget.
fn spend(a: DateTime<Utc>, b: DateTime<Utc>) -> Fallible<()> {
    let days = (b - a).num_days().abs() + 1;
    let spent = CALENDAR_DAYS.with(|used| {
        let total = used.get().saturating_add(days);
        used.set(total);
        total
    });
    if spent > MAX_CALENDAR_DAYS {
        return fail(format!(
            "business-time helpers walked more than {MAX_CALENDAR_DAYS} calendar days: scripts are limited in time"
        ));
    }
    Ok(())
}

/// The workflow's business calendar, as scripts see it (`ticket.calendar`).
#[derive(Debug, Clone)]
pub struct ScriptCalendar(pub Arc<BusinessCalendar>);

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn fail<T>(message: String) -> Fallible<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(message.into(), Position::NONE)))
}

/// Reads a date text.
pub fn parse_date(text: &str) -> Fallible<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Some(at) = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)) {
        return Ok(at.and_utc());
    }
    fail(format!("\"{text}\" is not a date: use RFC 3339 (2026-11-24T08:30:00Z) or 2026-11-24"))
}

fn text_of(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn moved(text: &str, by: Option<chrono::Duration>) -> Fallible<String> {
    let at = parse_date(text)?;
    match by.and_then(|by| at.checked_add_signed(by)) {
        Some(at) => Ok(text_of(at)),
        None => fail("the date is out of range".to_string()),
    }
}

/// Registers the helpers on `engine`.
pub fn register(engine: &mut rhai::Engine) {
    engine.register_fn("timestamp", |text: &str| -> Fallible<i64> { Ok(parse_date(text)?.timestamp()) });
    engine.register_fn("date", |seconds: i64| -> Fallible<String> {
        match DateTime::from_timestamp(seconds, 0) {
            Some(at) => Ok(text_of(at)),
            None => fail(format!("{seconds} is out of range for a date")),
        }
    });
    engine.register_fn("days_between", |a: &str, b: &str| -> Fallible<i64> {
        Ok((parse_date(b)? - parse_date(a)?).num_days())
    });
    engine.register_fn("hours_between", |a: &str, b: &str| -> Fallible<f64> {
        Ok((parse_date(b)? - parse_date(a)?).num_seconds() as f64 / 3600.0)
    });
    engine.register_fn("add_days", |text: &str, days: i64| moved(text, chrono::Duration::try_days(days)));
    engine.register_fn("add_hours", |text: &str, hours: i64| moved(text, chrono::Duration::try_hours(hours)));
    engine.register_fn("format_date", |text: &str, format: &str| -> Fallible<String> {
        let at = parse_date(text)?;
        let mut out = String::new();
        // An unknown `%` specifier is an error of the script, not a panic of the server.
        match write!(out, "{}", at.format(format)) {
            Ok(()) => Ok(out),
            Err(_) => fail(format!("\"{format}\" is not a date format (see strftime)")),
        }
    });
    engine.register_type_with_name::<ScriptCalendar>("Calendar");
    engine.register_fn("business_hours", |calendar: &mut ScriptCalendar, a: &str, b: &str| -> Fallible<f64> {
        let (a, b) = (parse_date(a)?, parse_date(b)?);
        spend(a, b)?;
        Ok(calendar.0.elapsed(a, b).num_seconds() as f64 / 3600.0)
    });
    engine.register_fn("is_open", |calendar: &mut ScriptCalendar, at: &str| -> Fallible<bool> {
        let at = parse_date(at)?;
        spend(at, at)?;
        Ok(calendar.0.is_open(at))
    });
    engine.register_fn("is_blank", |text: &str| text.trim().is_empty());
    engine.register_fn("is_blank", |_: ()| true);
    engine.register_fn("matches", |text: &str, pattern: &str| -> Fallible<bool> {
        match regex::RegexBuilder::new(pattern).size_limit(MAX_REGEX_SIZE).build() {
            Ok(regex) => Ok(regex.is_match(text)),
            Err(error) => fail(format!("bad regular expression: {error}")),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_both_forms() {
        assert_eq!(parse_date("2026-11-24").map(|d| d.timestamp()).ok(), Some(1_795_478_400));
        assert!(parse_date("2026-11-24T08:30:00+03:30").is_ok());
        assert!(parse_date("yesterday").is_err());
    }
}
