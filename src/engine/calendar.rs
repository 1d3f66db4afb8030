//! Business time: adding a business duration to an instant, and measuring the business time
//! between two instants, in a calendar of weekly hours, holidays and a time zone.
//!
//! A calendar is a sequence of working intervals in real time. Each local day contributes its
//! weekday's shifts, unless it is a holiday; an overnight shift (`22:00-06:00`) belongs to the
//! day it starts on. Local times become instants in the calendar's time zone, so daylight
//! saving is handled by construction: a shift that spans the spring change is an hour shorter
//! in real time, and business time is real time spent inside working intervals. A local time
//! that does not exist (the skipped hour) moves to the first one that does; an ambiguous one
//! (the repeated hour) takes the earlier instant.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::workflow::model::Calendar;

/// How far ahead the arithmetic looks for working time before giving up (a calendar with no
/// working hours at all is refused by the checker; this only bounds a pathological one).
const HORIZON_DAYS: i64 = 3 * 366;

/// Weekly hours, holidays and a time zone, ready for arithmetic.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessCalendar {
    tz: Tz,
    /// Working periods per weekday (Monday first), minutes from local midnight; an overnight
    /// shift ends after 1440.
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
    always_open: bool,
}

impl BusinessCalendar {
    /// The built-in `24x7` calendar: every instant is business time.
    pub fn always_open() -> Self {
        Self { tz: Tz::UTC, week: Default::default(), holidays: BTreeSet::new(), always_open: true }
    }

    /// A calendar from its definition in a workflow file.
    pub fn from_definition(calendar: &Calendar) -> Self {
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (days, shifts) in &calendar.hours {
            for day in &days.get_ref().0 {
                for shift in &shifts.0 {
                    let start = shift.start.hour() * 60 + shift.start.minute();
                    let mut end = shift.end.map_or(1440, |e| e.hour() * 60 + e.minute());
                    if end <= start {
                        end += 1440;
                    }
                    week[day.num_days_from_monday() as usize].push((start, end));
                }
            }
        }
        for shifts in &mut week {
            shifts.sort_unstable();
        }
        Self {
            tz: calendar.timezone.0,
            week,
            holidays: calendar.holidays.iter().map(|h| h.get_ref().0).collect(),
            always_open: false,
        }
    }

    /// The calendar's time zone.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The instant of a local date and time, resolving gaps and overlaps of daylight saving.
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => t.to_utc(),
            LocalResult::Ambiguous(earlier, _) => earlier.to_utc(),
            LocalResult::None => {
                // In the skipped hour: the first local minute that exists.
                (1..=180)
                    .find_map(|m| self.tz.from_local_datetime(&(local + Duration::minutes(m))).earliest())
                    .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.to_utc())
            }
        }
    }

    /// The working intervals contributed by one local date, in time order.
    fn intervals_of(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let working = !self.holidays.contains(&date);
        let midnight = date.and_time(NaiveTime::MIN);
        let shifts = if working { self.week[date.weekday().num_days_from_monday() as usize].as_slice() } else { &[] };
        shifts.iter().map(move |&(start, end)| {
            (
                self.instant(midnight + Duration::minutes(i64::from(start))),
                self.instant(midnight + Duration::minutes(i64::from(end))),
            )
        })
    }

    /// Working intervals from the day before `from` on, without overlaps, in time order.
    fn intervals_from(&self, from: DateTime<Utc>) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        // The day before may hold an overnight shift still running at `from`.
        let first = from.with_timezone(&self.tz).date_naive() - Duration::days(1);
        let mut reached = DateTime::<Utc>::MIN_UTC;
        (0..HORIZON_DAYS)
            .filter_map(move |offset| first.checked_add_signed(Duration::days(offset)))
            .flat_map(move |date| self.intervals_of(date).collect::<Vec<_>>())
            .filter_map(move |(start, end)| {
                // An overnight shift may run into the next day's first shift: count once.
                let start = start.max(reached);
                if end <= start {
                    return None;
                }
                reached = end;
                Some((start, end))
            })
    }

    /// The instant `duration` of business time after `start`.
    pub fn add(&self, start: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
        if self.always_open || duration <= Duration::zero() {
            return start + duration.max(Duration::zero());
        }
        let mut remaining = duration;
        for (open, close) in self.intervals_from(start) {
            if close <= start {
                continue;
            }
            let open = open.max(start);
            let available = close - open;
            if remaining <= available {
                return open + remaining;
            }
            remaining -= available;
        }
        start + Duration::days(HORIZON_DAYS) + remaining
    }

    /// The business time between `from` and `to` (zero when `to` is not after `from`).
    pub fn elapsed(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        if self.always_open {
            return to - from;
        }
        let mut total = Duration::zero();
        for (open, close) in self.intervals_from(from) {
            if open >= to {
                break;
            }
            let (open, close) = (open.max(from), close.min(to));
            if close > open {
                total += close - open;
            }
        }
        total
    }

    /// Whether `at` is business time.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.always_open || self.next_open(at) == at
    }

    /// `at` if it is business time, else the next instant that is.
    pub fn next_open(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.always_open {
            return at;
        }
        self.intervals_from(at).find(|(_, close)| *close > at).map_or(at, |(open, _)| open.max(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar(text: &str) -> BusinessCalendar {
        let definition: Calendar = toml::from_str(text).expect("valid calendar");
        BusinessCalendar::from_definition(&definition)
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("valid time").to_utc()
    }

    fn hours(n: i64) -> Duration {
        Duration::hours(n)
    }

    fn berlin_office() -> BusinessCalendar {
        calendar("timezone = \"Europe/Berlin\"\nhours = { mon-fri = \"09:00-17:00\" }\nholidays = [2026-12-25]")
    }

    #[test]
    fn always_open_is_plain_time() {
        let c = BusinessCalendar::always_open();
        assert_eq!(c.add(at("2026-11-23T10:00:00Z"), hours(30)), at("2026-11-24T16:00:00Z"));
        assert_eq!(c.elapsed(at("2026-11-23T10:00:00Z"), at("2026-11-24T16:00:00Z")), hours(30));
        assert!(c.is_open(at("2026-11-29T03:00:00Z")));
    }

    #[test]
    fn adding_within_a_day_and_across_a_night() {
        let c = berlin_office();
        // Monday 10:00 CET (09:00 UTC) + 2 h = 12:00 CET.
        assert_eq!(c.add(at("2026-11-23T09:00:00Z"), hours(2)), at("2026-11-23T11:00:00Z"));
        // Monday 15:00 CET + 4 h = Tuesday 11:00 CET.
        assert_eq!(c.add(at("2026-11-23T14:00:00Z"), hours(4)), at("2026-11-24T10:00:00Z"));
        // Starting at night counts from the next opening: Monday 20:00 + 1 h = Tuesday 10:00.
        assert_eq!(c.add(at("2026-11-23T19:00:00Z"), hours(1)), at("2026-11-24T09:00:00Z"));
    }

    #[test]
    fn a_weekend_is_skipped() {
        let c = berlin_office();
        // Friday 16:00 CET + 2 h = Monday 10:00 CET.
        assert_eq!(c.add(at("2026-11-27T15:00:00Z"), hours(2)), at("2026-11-30T09:00:00Z"));
        assert_eq!(c.elapsed(at("2026-11-27T15:00:00Z"), at("2026-11-30T09:00:00Z")), hours(2));
        assert!(!c.is_open(at("2026-11-28T12:00:00Z")));
        assert_eq!(c.next_open(at("2026-11-28T12:00:00Z")), at("2026-11-30T08:00:00Z"));
    }

    #[test]
    fn a_holiday_is_skipped() {
        let c = berlin_office();
        // Thursday 24 Dec 16:00 + 3 h: Friday 25 Dec is a holiday, so Monday 28 Dec 11:00 CET.
        assert_eq!(c.add(at("2026-12-24T15:00:00Z"), hours(3)), at("2026-12-28T10:00:00Z"));
        assert_eq!(c.elapsed(at("2026-12-24T08:00:00Z"), at("2026-12-28T17:00:00Z")), hours(8 + 8));
    }

    #[test]
    fn a_weekend_with_a_daylight_saving_change() {
        let c = berlin_office();
        // Friday 27 Mar 2026 09:00 CET (08:00 UTC) + 16 h: Friday and Monday. Clocks went
        // forward on Sunday 29 Mar, so Monday 17:00 is CEST (15:00 UTC).
        assert_eq!(c.add(at("2026-03-27T08:00:00Z"), hours(16)), at("2026-03-30T15:00:00Z"));
        assert_eq!(c.elapsed(at("2026-03-27T08:00:00Z"), at("2026-03-30T15:00:00Z")), hours(16));
        // Autumn: Friday 23 Oct 2026 09:00 CEST + 16 h = Monday 26 Oct 17:00 CET (16:00 UTC).
        assert_eq!(c.add(at("2026-10-23T07:00:00Z"), hours(16)), at("2026-10-26T16:00:00Z"));
    }

    #[test]
    fn a_round_the_clock_local_calendar_has_a_23_hour_spring_day() {
        let c = calendar("timezone = \"Europe/Berlin\"\nhours = { mon-sun = \"00:00-24:00\" }");
        // Saturday 28 Mar 12:00 CET (11:00 UTC) + 24 h of real time = Sunday 13:00 CEST.
        assert_eq!(c.add(at("2026-03-28T11:00:00Z"), hours(24)), at("2026-03-29T11:00:00Z"));
        // The whole of Sunday 29 March is 23 hours long.
        assert_eq!(c.elapsed(at("2026-03-28T23:00:00Z"), at("2026-03-29T22:00:00Z")), hours(23));
        // ... and Sunday 25 October is 25 hours long.
        assert_eq!(c.elapsed(at("2026-10-24T22:00:00Z"), at("2026-10-25T23:00:00Z")), hours(25));
    }

    #[test]
    fn a_night_shift_spanning_midnight() {
        let c = calendar("timezone = \"UTC\"\nhours = { mon-fri = \"22:00-06:00\" }");
        // Monday 23:00 + 5 h = Tuesday 04:00 (inside Monday's shift).
        assert_eq!(c.add(at("2026-11-23T23:00:00Z"), hours(5)), at("2026-11-24T04:00:00Z"));
        // Tuesday 05:00 + 2 h: 1 h until 06:00, the next hour from Tuesday 22:00.
        assert_eq!(c.add(at("2026-11-24T05:00:00Z"), hours(2)), at("2026-11-24T23:00:00Z"));
        // Friday's shift runs into Saturday morning; nothing more until Monday 22:00.
        assert_eq!(c.add(at("2026-11-28T05:00:00Z"), hours(2)), at("2026-11-30T23:00:00Z"));
        assert!(c.is_open(at("2026-11-28T03:00:00Z")));
        assert!(!c.is_open(at("2026-11-28T12:00:00Z")));
    }

    #[test]
    fn split_shifts_and_a_short_day_in_tehran() {
        let c = calendar(
            "timezone = \"Asia/Tehran\"\nhours = { sat-wed = \"08:00-12:00, 13:00-17:00\", thu = \"08:00-13:00\" }\n\
             holidays = [\"2026-11-25\"]",
        );
        // Tehran is UTC+3:30. Tuesday 24 Nov 11:00 local (07:30 UTC) + 3 h: 1 h to 12:00, 2 h
        // after lunch, so 15:00 local (11:30 UTC).
        assert_eq!(c.add(at("2026-11-24T07:30:00Z"), hours(3)), at("2026-11-24T11:30:00Z"));
        // Tuesday 16:00 local + 3 h: 1 h on Tuesday, Wednesday 25 is a holiday, Thursday
        // 08:00-10:00.
        assert_eq!(c.add(at("2026-11-24T12:30:00Z"), hours(3)), at("2026-11-26T06:30:00Z"));
        // Thursday 12:00 + 2 h: 1 h on Thursday, Friday closed, Saturday 08:00-09:00.
        assert_eq!(c.add(at("2026-11-26T08:30:00Z"), hours(2)), at("2026-11-28T05:30:00Z"));
        assert!(!c.is_open(at("2026-11-24T09:00:00Z")), "12:30 local is lunch");
    }

    #[test]
    fn adding_then_measuring_gives_the_same_business_time() {
        let calendars = [
            berlin_office(),
            calendar(
                "timezone = \"America/New_York\"\nhours = { mon-fri = \"08:00-12:00, 13:00-18:00\", sat = \"10:00-14:00\" }",
            ),
            calendar("timezone = \"Asia/Tehran\"\nhours = { sat-wed = \"08:00-17:00\", thu = \"08:00-13:00\" }"),
            calendar("timezone = \"UTC\"\nhours = { mon-fri = \"22:00-06:00\" }"),
        ];
        let mut start = at("2026-03-01T00:00:00Z");
        for step in 0..400 {
            for c in &calendars {
                let duration = Duration::minutes(37 * step % 5000 + 1);
                let end = c.add(start, duration);
                assert_eq!(c.elapsed(start, end), duration, "{c:?} from {start} + {duration}");
                assert!(c.is_open(end) || c.elapsed(end - Duration::minutes(1), end) == Duration::minutes(1));
            }
            start += Duration::minutes(613);
        }
    }
}
