//! Dates, times, lengths of time and numbers as a language writes them, in a given time zone,
//! through ICU4X and its compiled CLDR data.
//!
//! - English (`en`, written as British English does): the Gregorian calendar, Western digits,
//!   a 24-hour clock: `1 Dec 2026, 14:30`.
//! - Persian (`fa`): the Solar Hijri (Persian) calendar with Persian month names and Persian
//!   digits (`۰۱۲…`), hours without a leading zero: `۱۰ آذر ۱۴۰۵، ۱۴:۳۰`.
//! - Arabic (`ar`): the Gregorian calendar with Arabic month names, and the digits CLDR's `ar`
//!   gives by default, which in the CLDR data of ICU4X 2.4 are the Western digits (`0123…`,
//!   not the Arabic-Indic `٠١٢٣…`): `1 ديسمبر 2026 في 14:30`.
//!
//! The time zone is applied first (chrono-tz, so summer time and every historical change of a
//! zone's offset are right); ICU then writes the local wall-clock date and time in the
//! language's calendar. Lengths of time (`2 h 5 min`) have no stable ICU formatter yet, so their
//! unit words live here ([`unit_text`]), chosen by the language's plural rules (`icu_plurals`).
//!
//! Formatters are built once per language (they are not cheap to build, and cheap to use).

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use icu_calendar::{Date, Iso};
use icu_datetime::fieldsets::{T, YM, YMD, YMDT};
use icu_datetime::input::{DateTime as CivilDateTime, Time};
use icu_datetime::preferences::{CalendarAlgorithm, HourCycle};
use icu_datetime::{DateTimeFormatter, DateTimeFormatterPreferences, NoCalendarFormatter};
use icu_decimal::DecimalFormatter;
use icu_decimal::input::Decimal;
use icu_locale_core::{Locale, locale};
use icu_plurals::{PluralCategory, PluralRules};

use super::Lang;

/// A whole number as `lang` writes it: `12,345`, `۱۲٬۳۴۵`, `12,345`.
pub fn number(n: i64, lang: Lang) -> String {
    formats(lang).decimal.format_to_string(&Decimal::from(n))
}

/// A date and time, in `tz`: `1 Dec 2026, 14:30` / `۱۰ آذر ۱۴۰۵، ۱۴:۳۰` / `1 ديسمبر 2026 في 14:30`.
pub fn datetime(at: DateTime<Utc>, tz: Tz, lang: Lang) -> String {
    let local = at.with_timezone(&tz).naive_local();
    civil(local)
        .map_or_else(|| local.format("%Y-%m-%d %H:%M").to_string(), |at| formats(lang).datetime.format(&at).to_string())
}

/// A date, in `tz`: `1 Dec 2026` / `۱۰ آذر ۱۴۰۵` / `1 ديسمبر 2026`.
pub fn date(at: DateTime<Utc>, tz: Tz, lang: Lang) -> String {
    day(at.with_timezone(&tz).date_naive(), lang)
}

/// A calendar date (a day, in no time zone: a report's first day, say), as [`date`] writes it.
pub fn day(day: NaiveDate, lang: Lang) -> String {
    iso(day).map_or_else(|| day.format("%Y-%m-%d").to_string(), |date| formats(lang).date.format(&date).to_string())
}

/// A month of a year, in `tz`: `Dec 2026` / `آذر ۱۴۰۵` / `ديسمبر 2026` (Persian months are Solar
/// Hijri months, which do not line up with Gregorian ones).
pub fn month_year(at: DateTime<Utc>, tz: Tz, lang: Lang) -> String {
    let local = at.with_timezone(&tz).date_naive();
    iso(local)
        .map_or_else(|| local.format("%Y-%m").to_string(), |date| formats(lang).month_year.format(&date).to_string())
}

/// A time of day on a 24-hour clock, in `tz`: `14:30` / `۱۴:۳۰` / `14:30`.
pub fn time(at: DateTime<Utc>, tz: Tz, lang: Lang) -> String {
    let local = at.with_timezone(&tz).naive_local();
    match Time::try_new(clock(local.hour()), clock(local.minute()), 0, 0) {
        Ok(of_day) => formats(lang).time.format(&of_day).to_string(),
        Err(_) => local.format("%H:%M").to_string(),
    }
}

/// A length of time, to the minute: `2 h 5 min` / `۲ ساعت و ۵ دقیقه` / `ساعتان و5 دقائق`;
/// a day or more to the hour (`3 d 4 h`). Negative lengths as their size.
pub fn duration(length: chrono::Duration, lang: Lang) -> String {
    let minutes = length.num_minutes().unsigned_abs();
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let parts: Vec<(Unit, u64)> = match (days, hours, minutes) {
        (0, 0, m) => vec![(Unit::Minute, m)],
        (0, h, 0) => vec![(Unit::Hour, h)],
        (0, h, m) => vec![(Unit::Hour, h), (Unit::Minute, m)],
        (d, 0, _) => vec![(Unit::Day, d)],
        (d, h, _) => vec![(Unit::Day, d), (Unit::Hour, h)],
    };
    let words: Vec<String> = parts.into_iter().map(|(unit, n)| amount(unit, n, lang)).collect();
    words.join(and(lang))
}

/// How far `at` is from `now`, in words: `in 3 h` / `3 h ago`, `۳ ساعت دیگر` / `۳ ساعت پیش`,
/// `خلال 3 ساعات` / `قبل 3 ساعات`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>, lang: Lang) -> String {
    let length = duration(at - now, lang);
    let pattern = match (lang, at >= now) {
        (Lang::En, true) => "in {}",
        (Lang::En, false) => "{} ago",
        (Lang::Fa, true) => "{} دیگر",
        (Lang::Fa, false) => "{} پیش",
        (Lang::Ar, true) => "خلال {}",
        (Lang::Ar, false) => "قبل {}",
    };
    pattern.replace("{}", &length)
}

/// A unit of a length of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Minutes.
    Minute,
    /// Hours.
    Hour,
    /// Days.
    Day,
}

/// `n` of `unit`, in `lang`, with the plural form `n` takes in it.
fn amount(unit: Unit, n: u64, lang: Lang) -> String {
    let formats = formats(lang);
    let category = formats.plurals.category_for(n);
    let digits = formats.decimal.format_to_string(&Decimal::from(n));
    unit_text(lang, unit, category).replace("{0}", &digits)
}

/// The words for an amount of `unit` in `lang`, in the plural form `category` (`{0}` stands
/// for the number). English and Persian have short forms that do not change; Arabic has six
/// forms (zero, one, two, few, many, other), as CLDR writes them for lengths of time.
pub fn unit_text(lang: Lang, unit: Unit, category: PluralCategory) -> &'static str {
    use PluralCategory::{Few, Many, One, Two};
    match (lang, unit) {
        (Lang::En, Unit::Minute) => "{0} min",
        (Lang::En, Unit::Hour) => "{0} h",
        (Lang::En, Unit::Day) => "{0} d",
        (Lang::Fa, Unit::Minute) => "{0} دقیقه",
        (Lang::Fa, Unit::Hour) => "{0} ساعت",
        (Lang::Fa, Unit::Day) => "{0} روز",
        (Lang::Ar, unit) => match (unit, category) {
            (Unit::Minute, One) => "دقيقة واحدة",
            (Unit::Minute, Two) => "دقيقتان",
            (Unit::Minute, Few) => "{0} دقائق",
            (Unit::Minute, _) => "{0} دقيقة",
            (Unit::Hour, One) => "ساعة واحدة",
            (Unit::Hour, Two) => "ساعتان",
            (Unit::Hour, Few) => "{0} ساعات",
            (Unit::Hour, _) => "{0} ساعة",
            (Unit::Day, One) => "يوم واحد",
            (Unit::Day, Two) => "يومان",
            (Unit::Day, Few) => "{0} أيام",
            (Unit::Day, Many) => "{0} يومًا",
            (Unit::Day, _) => "{0} يوم",
        },
    }
}

/// How `lang` joins the parts of a length of time.
fn and(lang: Lang) -> &'static str {
    match lang {
        Lang::En => " ",
        Lang::Fa => " و ",
        Lang::Ar => " و",
    }
}

/// A local wall-clock date and time as ICU takes it; `None` past the years ICU takes.
fn civil(local: NaiveDateTime) -> Option<CivilDateTime<Iso>> {
    let time = Time::try_new(clock(local.hour()), clock(local.minute()), 0, 0).ok()?;
    Some(CivilDateTime { date: iso(local.date())?, time })
}

/// A calendar date as ICU takes it (ISO; each formatter converts it to its own calendar).
fn iso(day: NaiveDate) -> Option<Date<Iso>> {
    Date::try_new_iso(day.year(), u8::try_from(day.month()).ok()?, u8::try_from(day.day()).ok()?).ok()
}

/// An hour or minute (always under 60) as ICU takes it.
fn clock(n: u32) -> u8 {
    u8::try_from(n).unwrap_or_default()
}

/// The formatters of one language, in its calendar.
struct Formats {
    datetime: DateTimeFormatter<YMDT>,
    date: DateTimeFormatter<YMD>,
    month_year: DateTimeFormatter<YM>,
    time: NoCalendarFormatter<T>,
    decimal: DecimalFormatter,
    plurals: PluralRules,
}

impl Formats {
    /// The formatters of `lang`; the compiled data has every language Afterdesk writes (a test
    /// builds them all).
    #[allow(clippy::expect_used)]
    fn new(lang: Lang) -> Self {
        let (locale, calendar): (Locale, CalendarAlgorithm) = match lang {
            // British English: day before month.
            Lang::En => (locale!("en-GB"), CalendarAlgorithm::Gregory),
            Lang::Fa => (locale!("fa"), CalendarAlgorithm::Persian),
            // Arabic as CLDR's `ar` writes it, in the Gregorian calendar (`ar-SA` would be Hijri).
            Lang::Ar => (locale!("ar"), CalendarAlgorithm::Gregory),
        };
        let mut prefs = DateTimeFormatterPreferences::from(&locale);
        prefs.hour_cycle = Some(HourCycle::H23);
        prefs.calendar_algorithm = Some(calendar);
        // Arabic's medium dates are all digits (`01/12/2026`); its long ones name the month.
        let (ymd, ym) = match lang {
            Lang::Ar => (YMD::long(), YM::long()),
            Lang::En | Lang::Fa => (YMD::medium(), YM::medium()),
        };
        Self {
            datetime: DateTimeFormatter::try_new(prefs, ymd.with_time_hm())
                .expect("compiled data has date and time patterns"),
            date: DateTimeFormatter::try_new(prefs, ymd).expect("compiled data has dates"),
            month_year: DateTimeFormatter::try_new(prefs, ym).expect("compiled data has months"),
            time: NoCalendarFormatter::try_new(prefs, T::hm()).expect("compiled data has times"),
            decimal: DecimalFormatter::try_new((&locale).into(), Default::default())
                .expect("compiled data has numbers"),
            plurals: PluralRules::try_new_cardinal((&locale).into()).expect("compiled data has plural rules"),
        }
    }
}

static EN: LazyLock<Formats> = LazyLock::new(|| Formats::new(Lang::En));
static FA: LazyLock<Formats> = LazyLock::new(|| Formats::new(Lang::Fa));
static AR: LazyLock<Formats> = LazyLock::new(|| Formats::new(Lang::Ar));

fn formats(lang: Lang) -> &'static Formats {
    match lang {
        Lang::En => &EN,
        Lang::Fa => &FA,
        Lang::Ar => &AR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Asia::{Riyadh, Tehran};
    use chrono_tz::Europe::Berlin;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().expect("a time")
    }

    fn minutes(n: i64) -> chrono::Duration {
        chrono::Duration::minutes(n)
    }

    #[test]
    fn english_is_gregorian_day_first_on_a_24_hour_clock() {
        let at = utc(2026, 12, 1, 11, 0);
        assert_eq!(datetime(at, Tehran, Lang::En), "1 Dec 2026, 14:30");
        assert_eq!(date(at, Tehran, Lang::En), "1 Dec 2026");
        assert_eq!(month_year(at, Tehran, Lang::En), "Dec 2026");
        assert_eq!(time(at, Tehran, Lang::En), "14:30");
        assert_eq!(number(1_234_567, Lang::En), "1,234,567");
        assert_eq!(day(NaiveDate::from_ymd_opt(2026, 11, 30).expect("a day"), Lang::En), "30 Nov 2026");
    }

    #[test]
    fn persian_is_solar_hijri_in_persian_digits() {
        let at = utc(2026, 12, 1, 11, 0);
        assert_eq!(datetime(at, Tehran, Lang::Fa), "۱۰ آذر ۱۴۰۵، ۱۴:۳۰");
        assert_eq!(date(at, Tehran, Lang::Fa), "۱۰ آذر ۱۴۰۵");
        assert_eq!(month_year(at, Tehran, Lang::Fa), "آذر ۱۴۰۵");
        assert_eq!(time(at, Tehran, Lang::Fa), "۱۴:۳۰");
        assert_eq!(number(1_234_567, Lang::Fa), "۱٬۲۳۴٬۵۶۷");
        assert_eq!(number(-7, Lang::Fa), "‎−۷");
    }

    #[test]
    fn the_persian_new_year_begins_at_midnight_in_tehran() {
        // Nowruz 1405: the equinox is on 20 March 2026 after noon in Tehran, so 1 Farvardin is
        // 21 March; Tehran is UTC+3:30 (no summer time since 2022).
        assert_eq!(datetime(utc(2026, 3, 20, 20, 30), Tehran, Lang::Fa), "۱ فروردین ۱۴۰۵، ۰:۰۰");
        assert_eq!(datetime(utc(2026, 3, 20, 20, 29), Tehran, Lang::Fa), "۲۹ اسفند ۱۴۰۴، ۲۳:۵۹");
        // The same instant is still 20 March in UTC: the zone decides the day.
        assert_eq!(date(utc(2026, 3, 20, 20, 30), chrono_tz::UTC, Lang::Fa), "۲۹ اسفند ۱۴۰۴");
        assert_eq!(date(utc(2026, 3, 20, 20, 30), Tehran, Lang::En), "21 Mar 2026");
        assert_eq!(day(NaiveDate::from_ymd_opt(2025, 3, 21).expect("a day"), Lang::Fa), "۱ فروردین ۱۴۰۴");
    }

    #[test]
    fn arabic_is_gregorian_with_arabic_month_names() {
        let at = utc(2026, 12, 1, 11, 30);
        assert_eq!(datetime(at, Riyadh, Lang::Ar), "1 ديسمبر 2026 في 14:30");
        assert_eq!(date(at, Riyadh, Lang::Ar), "1 ديسمبر 2026");
        assert_eq!(month_year(at, Riyadh, Lang::Ar), "ديسمبر 2026");
        assert_eq!(time(at, Riyadh, Lang::Ar), "14:30");
        // CLDR's `ar` default numbering system is Latin digits.
        assert_eq!(number(1_234_567, Lang::Ar), "1,234,567");
    }

    #[test]
    fn summer_time_moves_the_wall_clock_not_the_instant() {
        // Berlin springs forward at 01:00 UTC on 29 March 2026 (02:00 CET becomes 03:00 CEST).
        assert_eq!(datetime(utc(2026, 3, 29, 0, 59), Berlin, Lang::En), "29 Mar 2026, 01:59");
        assert_eq!(datetime(utc(2026, 3, 29, 1, 0), Berlin, Lang::En), "29 Mar 2026, 03:00");
        // And falls back at 01:00 UTC on 25 October: 02:30 happens twice.
        assert_eq!(time(utc(2026, 10, 25, 0, 30), Berlin, Lang::En), "02:30");
        assert_eq!(time(utc(2026, 10, 25, 1, 30), Berlin, Lang::En), "02:30");
        assert_eq!(
            time(utc(2026, 10, 25, 2, 30), Berlin, Lang::Fa),
            "۳:۳۰",
            "Persian writes hours without a leading zero"
        );
        // A Persian date on a Berlin wall clock: the calendar follows the language, the hour the zone.
        assert_eq!(datetime(utc(2026, 3, 29, 1, 0), Berlin, Lang::Fa), "۹ فروردین ۱۴۰۵، ۳:۰۰");
    }

    #[test]
    fn lengths_of_time_in_each_language() {
        assert_eq!(duration(minutes(125), Lang::En), "2 h 5 min");
        assert_eq!(duration(minutes(-125), Lang::En), "2 h 5 min", "a negative length as its size");
        assert_eq!(duration(minutes(0), Lang::En), "0 min");
        assert_eq!(duration(minutes(120), Lang::En), "2 h");
        assert_eq!(duration(minutes(3 * 1440 + 4 * 60 + 10), Lang::En), "3 d 4 h");
        assert_eq!(duration(minutes(2 * 1440), Lang::En), "2 d");
        assert_eq!(duration(minutes(125), Lang::Fa), "۲ ساعت و ۵ دقیقه");
        assert_eq!(duration(minutes(-1440 - 60), Lang::Fa), "۱ روز و ۱ ساعت");
    }

    #[test]
    fn arabic_lengths_take_their_plural_forms() {
        let hours = |n: i64| duration(minutes(n * 60), Lang::Ar);
        assert_eq!(hours(1), "ساعة واحدة");
        assert_eq!(hours(2), "ساعتان");
        assert_eq!(hours(3), "3 ساعات");
        assert_eq!(hours(10), "10 ساعات");
        assert_eq!(hours(11), "11 ساعة");
        assert_eq!(duration(minutes(0), Lang::Ar), "0 دقيقة");
        assert_eq!(duration(minutes(125), Lang::Ar), "ساعتان و5 دقائق");
        assert_eq!(duration(minutes(1440 + 60), Lang::Ar), "يوم واحد وساعة واحدة");
        assert_eq!(duration(minutes(15 * 1440), Lang::Ar), "15 يومًا");
        assert_eq!(duration(minutes(100 * 1440), Lang::Ar), "100 يوم");
    }

    #[test]
    fn relative_times_say_which_way() {
        let now = utc(2026, 12, 1, 11, 0);
        let later = now + minutes(180);
        assert_eq!(relative(later, now, Lang::En), "in 3 h");
        assert_eq!(relative(now, later, Lang::En), "3 h ago");
        assert_eq!(relative(later, now, Lang::Fa), "۳ ساعت دیگر");
        assert_eq!(relative(now, later, Lang::Fa), "۳ ساعت پیش");
        assert_eq!(relative(later, now, Lang::Ar), "خلال 3 ساعات");
        assert_eq!(relative(now, later, Lang::Ar), "قبل 3 ساعات");
    }
}
