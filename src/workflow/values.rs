//! Validated scalar values of the workflow language: durations, percentages, time zones,
//! weekly hours, dates and cron schedules.
//!
//! Each type parses itself while the file is deserialized, so a bad value is reported with the
//! exact line and column of the value (the TOML deserializer attaches the span to any error a
//! `Deserialize` impl returns). Every type serializes back to the text a consultant wrote.
//! Nothing here knows about stages, roles or any other part of a workflow.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Separates a value error's message from its hint; the parser splits them apart again.
pub const HINT_SEPARATOR: &str = " -- hint: ";

/// A value error: what is wrong, and how to write it instead.
fn problem(message: impl Into<String>, hint: impl AsRef<str>) -> String {
    format!("{}{HINT_SEPARATOR}{}", message.into(), hint.as_ref())
}

/// Implements `Deserialize` (through `FromStr`) and `Serialize` (through `Display`) for a value
/// written as a string.
macro_rules! string_value {
    ($ty:ty) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(D::Error::custom)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    };
}

/// A human duration such as `"90m"`, `"2h"`, `"1h 30m"` or `"3d"` (a day is 24 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

impl Duration {
    /// Builds a duration from whole minutes.
    pub fn from_minutes(minutes: u64) -> Self {
        Self(std::time::Duration::from_secs(minutes * 60))
    }

    /// The duration as a standard library value.
    pub fn get(self) -> std::time::Duration {
        self.0
    }

    /// Whole seconds.
    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(problem("empty duration", "write it like \"90m\", \"2h\" or \"3d\""));
        }
        humantime::parse_duration(trimmed).map(Self).map_err(|_| {
            problem(format!("invalid duration \"{text}\""), "write it like \"90m\", \"2h\", \"1h 30m\" or \"3d\"")
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total_minutes = self.0.as_secs() / 60;
        let seconds = self.0.as_secs() % 60;
        if self.0.as_secs() == 0 {
            return f.write_str("0m");
        }
        // Business durations read best in hours ("72h", not "3d") up to a week.
        let days = if total_minutes >= 7 * 1440 { total_minutes / 1440 } else { 0 };
        let (hours, minutes) = ((total_minutes - days * 1440) / 60, total_minutes % 60);
        let mut parts = Vec::new();
        for (value, unit) in [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")] {
            if value > 0 {
                parts.push(format!("{value}{unit}"));
            }
        }
        f.write_str(&parts.join(" "))
    }
}
string_value!(Duration);

/// A percentage written `"75%"`, between 0 and 100 inclusive.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(f64);

impl Percent {
    /// The percentage as a fraction between 0.0 and 1.0.
    pub fn fraction(self) -> f64 {
        self.0 / 100.0
    }

    /// The percentage as written, between 0 and 100.
    pub fn value(self) -> f64 {
        self.0
    }
}

impl FromStr for Percent {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hint = "write a percentage like \"75%\"";
        let number = text
            .trim()
            .strip_suffix('%')
            .ok_or_else(|| problem(format!("invalid percentage \"{text}\": the % sign is missing"), hint))?;
        let value: f64 = number.trim().parse().map_err(|_| problem(format!("invalid percentage \"{text}\""), hint))?;
        if !(0.0..=100.0).contains(&value) {
            return Err(problem(format!("percentage \"{text}\" is out of range"), "it must be between 0% and 100%"));
        }
        Ok(Self(value))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}
string_value!(Percent);

/// An IANA time zone such as `"Asia/Tehran"` or `"Europe/Berlin"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl FromStr for TimeZone {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse::<chrono_tz::Tz>().map(Self).map_err(|_| {
            let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
            match closest(text, names) {
                Some(name) => problem(format!("unknown time zone \"{text}\""), format!("did you mean \"{name}\"?")),
                None => {
                    problem(format!("unknown time zone \"{text}\""), "use an IANA name like \"Asia/Tehran\" or \"UTC\"")
                }
            }
        })
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}
string_value!(TimeZone);

/// The days a line of weekly hours applies to: `"mon"`, `"mon-fri"`, `"sat-wed"` (wrapping over
/// the weekend) or a comma list `"mon, wed, fri"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Days(pub Vec<Weekday>);

const DAY_NAMES: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

fn parse_day(text: &str) -> Result<Weekday, String> {
    let lower = text.trim().to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .find(|(name, _)| lower.starts_with(name) && (lower.len() == 3 || Weekday::from_str(&lower).is_ok()))
        .map(|(_, day)| *day)
        .ok_or_else(|| problem(format!("unknown day \"{}\"", text.trim()), "use mon, tue, wed, thu, fri, sat or sun"))
}

impl FromStr for Days {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut days = Vec::new();
        for part in text.split(',') {
            match part.split_once('-') {
                Some((from, to)) => {
                    let (mut day, last) = (parse_day(from)?, parse_day(to)?);
                    days.push(day);
                    while day != last {
                        day = day.succ();
                        days.push(day);
                    }
                }
                None => days.push(parse_day(part)?),
            }
        }
        Ok(Self(days))
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> =
            self.0.iter().filter_map(|day| DAY_NAMES.iter().find(|(_, d)| d == day).map(|(name, _)| *name)).collect();
        f.write_str(&names.join(","))
    }
}
string_value!(Days);

/// One working period of a day. `end` may be earlier than `start` for an overnight shift
/// (`"22:00-06:00"`), and `"24:00"` means the end of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    /// When the shift starts, local time.
    pub start: NaiveTime,
    /// When it ends, local time; `None` means midnight at the end of the day.
    pub end: Option<NaiveTime>,
}

impl Shift {
    /// Whether the shift runs past midnight into the next day.
    pub fn is_overnight(&self) -> bool {
        self.end.is_some_and(|end| end <= self.start)
    }
}

/// The working periods of a day: `"08:00-17:00"`, or split shifts `"08:00-12:00, 13:00-17:00"`,
/// or `"closed"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shifts(pub Vec<Shift>);

fn parse_time(text: &str, whole: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").map_err(|_| {
        problem(format!("invalid time \"{}\" in \"{whole}\"", text.trim()), "write hours like \"08:00-17:00\"")
    })
}

impl FromStr for Shifts {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().eq_ignore_ascii_case("closed") {
            return Ok(Self(Vec::new()));
        }
        let mut shifts = Vec::new();
        for part in text.split(',') {
            let (start, end) = part.split_once('-').ok_or_else(|| {
                problem(
                    format!("invalid hours \"{text}\""),
                    "write them like \"08:00-17:00\" or \"08:00-12:00, 13:00-17:00\"",
                )
            })?;
            let start = parse_time(start, text)?;
            let end = if end.trim() == "24:00" { None } else { Some(parse_time(end, text)?) };
            if end == Some(start) {
                return Err(problem(
                    format!("invalid hours \"{text}\": a shift cannot start and end at the same time"),
                    "write the whole day as \"00:00-24:00\"",
                ));
            }
            shifts.push(Shift { start, end });
        }
        Ok(Self(shifts))
    }
}

impl fmt::Display for Shifts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("closed");
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| {
                let end = s.end.map_or_else(|| "24:00".to_string(), |e| e.format("%H:%M").to_string());
                format!("{}-{end}", s.start.format("%H:%M"))
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}
string_value!(Shifts);

/// A calendar date, written as a TOML date (`2026-03-20`) or a string (`"2026-03-20"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

impl FromStr for Date {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map(Self)
            .map_err(|_| problem(format!("invalid date \"{text}\""), "write it like 2026-03-20"))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A bare TOML date arrives as a datetime value; a quoted one as a string.
        match toml::Value::deserialize(deserializer)? {
            toml::Value::String(text) => text.parse().map_err(D::Error::custom),
            toml::Value::Datetime(dt) => match (dt.date, dt.time) {
                (Some(_), None) => dt.to_string().parse().map_err(D::Error::custom),
                _ => Err(D::Error::custom(problem(
                    format!("invalid date {dt}"),
                    "write a day without a time, like 2026-03-20",
                ))),
            },
            other => Err(D::Error::custom(problem(
                format!("expected a date, found a {}", other.type_str()),
                "write it like 2026-03-20",
            ))),
        }
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A cron schedule. Both the classic five fields (`"0 8 * * mon-fri"`: minute, hour, day of
/// month, month, day of week) and the six or seven fields with seconds and year are accepted.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    text: String,
    schedule: cron::Schedule,
}

impl CronSchedule {
    /// The parsed schedule.
    pub fn schedule(&self) -> &cron::Schedule {
        &self.schedule
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl FromStr for CronSchedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fields = text.split_whitespace().count();
        let full = match fields {
            5 => {
                let mut parts: Vec<String> = text.split_whitespace().map(str::to_string).collect();
                if let Some(days) = parts.last_mut() {
                    *days = classic_weekdays(days).map_err(|e| {
                        problem(
                            format!("invalid cron expression \"{text}\": {e}"),
                            "days of the week are 0-6 (Sunday is 0 or 7) or sun, mon, ... sat",
                        )
                    })?;
                }
                format!("0 {}", parts.join(" "))
            }
            6 | 7 => text.trim().to_string(),
            n => {
                return Err(problem(
                    format!("invalid cron expression \"{text}\": it has {n} fields"),
                    "write five: minute hour day-of-month month day-of-week, e.g. \"0 8 * * mon-fri\"",
                ));
            }
        };
        let schedule = cron::Schedule::from_str(&full).map_err(|e| {
            // The crate's message repeats the expression with a caret; its last line says why.
            let message = e.to_string();
            let reason =
                message.lines().last().unwrap_or_default().trim().replace("must be less than", "must be at most");
            problem(
                format!("invalid cron expression \"{text}\": {}", reason.trim_end_matches('.')),
                "write minute hour day-of-month month day-of-week, e.g. \"0 8 * * mon-fri\"",
            )
        })?;
        Ok(Self { text: text.trim().to_string(), schedule })
    }
}

/// Classic cron numbers days of the week 0-6 from Sunday (7 is Sunday too); the `cron` crate
/// numbers them 1-7 from Sunday. Names mean the same in both, so numbers become names.
fn classic_weekdays(field: &str) -> Result<String, String> {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let mut out = String::new();
    let mut digits = String::new();
    let mut after_slash = false;
    let flush = |digits: &mut String, out: &mut String, after_slash: bool| -> Result<(), String> {
        if digits.is_empty() {
            return Ok(());
        }
        if after_slash {
            out.push_str(digits);
        } else {
            let n: usize = digits.parse().map_err(|_| format!("\"{digits}\" is not a day of the week"))?;
            out.push_str(NAMES.get(n).ok_or_else(|| format!("day of the week {n} is out of range (0-7)"))?);
        }
        digits.clear();
        Ok(())
    };
    for c in field.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out, after_slash)?;
            after_slash = c == '/';
            out.push(c);
        }
    }
    flush(&mut digits, &mut out, after_slash)?;
    Ok(out)
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
string_value!(CronSchedule);

/// The candidate closest to `word` when it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    // A candidate inside the word, or the word inside a candidate ("ticket_closed" → "closed").
    let containing = candidates
        .iter()
        .filter(|c| c.len() >= 3 && word.len() >= 3 && (word.contains(**c) || c.contains(word)))
        .max_by_key(|c| c.len());
    if let Some(found) = containing {
        return Some(found);
    }
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(word, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_human_units() {
        assert_eq!("2h".parse::<Duration>().map(|d| d.as_secs()), Ok(7200));
        assert_eq!("90m".parse::<Duration>().map(|d| d.as_secs()), Ok(5400));
        assert_eq!("3d".parse::<Duration>().map(|d| d.as_secs()), Ok(3 * 86400));
        assert_eq!("1h 30m".parse::<Duration>().map(|d| d.as_secs()), Ok(5400));
        assert!("2 hours and a bit".parse::<Duration>().is_err());
        assert!("".parse::<Duration>().is_err());
        assert_eq!("90m".parse::<Duration>().map(|d| d.to_string()), Ok("1h 30m".to_string()));
        assert_eq!("3d".parse::<Duration>().map(|d| d.to_string()), Ok("72h".to_string()));
        assert_eq!("14d".parse::<Duration>().map(|d| d.to_string()), Ok("14d".to_string()));
    }

    #[test]
    fn percentages_need_the_sign_and_a_range() {
        assert_eq!("75%".parse::<Percent>().map(Percent::fraction), Ok(0.75));
        assert!("75".parse::<Percent>().is_err());
        assert!("150%".parse::<Percent>().is_err());
        assert!("abc%".parse::<Percent>().is_err());
    }

    #[test]
    fn day_ranges_wrap_over_the_weekend() {
        let days: Days = "sat-wed".parse().expect("valid range");
        assert_eq!(days.0, vec![Weekday::Sat, Weekday::Sun, Weekday::Mon, Weekday::Tue, Weekday::Wed]);
        let list: Days = "mon, wed".parse().expect("valid list");
        assert_eq!(list.0, vec![Weekday::Mon, Weekday::Wed]);
        assert!("mon-frx".parse::<Days>().is_err());
    }

    #[test]
    fn shifts_allow_splits_overnight_and_closed() {
        let split: Shifts = "08:00-12:00, 13:00-17:00".parse().expect("split shift");
        assert_eq!(split.0.len(), 2);
        let night: Shifts = "22:00-06:00".parse().expect("overnight");
        assert!(night.0[0].is_overnight());
        let full: Shifts = "00:00-24:00".parse().expect("whole day");
        assert_eq!(full.0[0].end, None);
        assert!("closed".parse::<Shifts>().expect("closed").0.is_empty());
        assert!("8-5".parse::<Shifts>().is_err());
    }

    #[test]
    fn cron_accepts_five_fields() {
        assert!("0 8 * * mon-fri".parse::<CronSchedule>().is_ok());
        assert!("0 0 8 * * Mon-Fri".parse::<CronSchedule>().is_ok());
        assert!("every morning".parse::<CronSchedule>().is_err());
        // Classic numbering: 1-5 is Monday to Friday, 0 and 7 are Sunday.
        let weekdays: CronSchedule = "0 8 * * 1-5".parse().expect("valid");
        let sunday: CronSchedule = "0 8 * * 0".parse().expect("valid");
        assert!("0 8 * * 8".parse::<CronSchedule>().is_err());
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z").expect("valid").to_utc(); // a Sunday
        let next = weekdays.schedule().after(&start).next().expect("a next run");
        assert_eq!(chrono::Datelike::weekday(&next), Weekday::Mon);
        let next = sunday.schedule().after(&start).next().expect("a next run");
        assert_eq!(chrono::Datelike::weekday(&next), Weekday::Sun);
        assert!("61 8 * * *".parse::<CronSchedule>().is_err());
    }

    #[test]
    fn time_zones_suggest_a_close_name() {
        assert!("Asia/Tehran".parse::<TimeZone>().is_ok());
        let err = "Asia/Teheran".parse::<TimeZone>().expect_err("misspelt");
        assert!(err.contains("Asia/Tehran"), "{err}");
    }
}
