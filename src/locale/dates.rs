//! Dates, times, durations and numbers as a language writes them, in the workflow's time zone:
//! Persian in the Solar Hijri calendar, Arabic and English in the Gregorian calendar.
//!
//! (A first cut with chrono and Western digits; the calendar work of issue 15 replaces it.)

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::Lang;

/// A whole number as `lang` writes it.
pub fn number(n: i64, _lang: Lang) -> String {
    n.to_string()
}

/// A date and time (`2026-12-01 14:30`), in `tz`.
pub fn datetime(at: DateTime<Utc>, tz: Tz, _lang: Lang) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// A date (`2026-12-01`), in `tz`.
pub fn date(at: DateTime<Utc>, tz: Tz, _lang: Lang) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d").to_string()
}

/// A length of time, to the minute (`2 h 5 min`); negative lengths as their size.
pub fn duration(length: chrono::Duration, _lang: Lang) -> String {
    let minutes = length.num_minutes().unsigned_abs();
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours, minutes) {
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}
