//! CF time decoding (`units = "<unit> since <date>"`, `calendar`) as cftime — the decoder of
//! xarray and netCDF4 — does it, and the request's time bounds.
//!
//! Calendars (CF §4.4.1; names are case-insensitive, absent means `standard`):
//! - `standard`/`gregorian`: the mixed calendar, Julian up to 1582-10-04 and Gregorian from the
//!   next day, 1582-10-15 (the ten days between do not exist);
//! - `proleptic_gregorian`; `julian`; `tai` (proleptic Gregorian, dates from 1958 on);
//! - `noleap`/`365_day`, `all_leap`/`366_day`, `360_day` (twelve months of 30 days).
//!
//! Any other name is an error listing these. Units are cftime's: microseconds to days with
//! their abbreviations, plus `months` (30 days) on `360_day` only and `common_years` (365 days)
//! on `noleap` only. The reference date is matched by cftime's own ISO 8601 pattern (a time
//! zone offset is subtracted; text after the date is ignored, as cftime does) and must exist in
//! the calendar. An offset is counted in whole microseconds with cftime's rounding, so values
//! beyond ±2^63 µs (±292,000 years) are refused, as cftime refuses them. Years follow cftime:
//! `standard`, `julian` and `tai` have no year zero (1 BC is year -1), the others do.
//!
//! A [`Stamp`]'s `iso` is the date in the dataset's calendar exactly as cftime gives it, rounded
//! to the second; `epoch` reads that date on the proleptic Gregorian calendar. From 1582-10-15
//! on the standard calendar (and always on the proleptic ones) that is the true instant; for
//! Julian dates and the idealised calendars it is the date as labelled, so request bounds (ISO
//! 8601 dates) select the dataset's own dates, as xarray's `sel` does. A date the Gregorian
//! calendar lacks (the Julian 1500-02-29, a `360_day` 30 February) reads as the following days,
//! so it shares `epoch` with 1 (or 2) March; [`Stamp::chrono_cmp`] keeps calendar order.

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex_lite::{Captures, Regex};

/// One decoded time step.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    /// Seconds since 1970-01-01T00:00:00Z of the date read on the proleptic Gregorian calendar.
    pub epoch: i64,
    /// The date in the dataset's own calendar, `YYYY-MM-DDTHH:MM:SS+0000` (SDAP's `iso_time`).
    pub iso: String,
    /// Day of year 1..=366 in the dataset's calendar (the DDA climatology key).
    pub doy: u32,
}

impl Stamp {
    /// Time order: by `epoch`, then by date for the few dates that share an `epoch`.
    pub fn chrono_cmp(&self, other: &Stamp) -> Ordering {
        self.epoch.cmp(&other.epoch).then_with(|| self.iso.cmp(&other.iso))
    }
}

/// (astronomical year, month 1..=12, day 1..=31): year 0 is 1 BC on every calendar here.
type Date = (i64, u32, u32);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Calendar {
    /// Julian before 1582-10-15, Gregorian from then on.
    Standard,
    ProlepticGregorian,
    Julian,
    Tai,
    NoLeap,
    AllLeap,
    Day360,
}

const SUPPORTED: &str =
    "standard, gregorian, proleptic_gregorian, julian, tai, noleap, 365_day, all_leap, 366_day, 360_day";

/// Day number (days since 1970-01-01) of 1582-10-15, the first Gregorian day of `standard`.
const REFORM_DAY: i64 = -141_427;
/// Reference years are bounded so that no day or second count can overflow.
const MAX_YEAR: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;
const CUMULATIVE_DAYS: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

impl Calendar {
    pub fn parse(name: Option<&str>) -> Result<Calendar, String> {
        match name.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "standard" | "gregorian") => Ok(Calendar::Standard),
            Some("proleptic_gregorian") => Ok(Calendar::ProlepticGregorian),
            Some("julian") => Ok(Calendar::Julian),
            Some("tai") => Ok(Calendar::Tai),
            Some("noleap" | "365_day") => Ok(Calendar::NoLeap),
            Some("all_leap" | "366_day") => Ok(Calendar::AllLeap),
            Some("360_day") => Ok(Calendar::Day360),
            Some(other) => Err(format!("calendar '{other}' is not supported (supported: {SUPPORTED})")),
        }
    }

    /// cftime's defaults (after CF 1.9): no year zero on the historical calendars.
    fn has_year_zero(self) -> bool {
        !matches!(self, Calendar::Standard | Calendar::Julian | Calendar::Tai)
    }

    fn is_leap(self, year: i64) -> bool {
        let julian = year.rem_euclid(4) == 0;
        let gregorian = julian && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0);
        match self {
            Calendar::Standard if year < 1582 => julian,
            Calendar::Standard | Calendar::ProlepticGregorian | Calendar::Tai => gregorian,
            Calendar::Julian => julian,
            Calendar::NoLeap | Calendar::Day360 => false,
            Calendar::AllLeap => true,
        }
    }

    fn month_len(self, year: i64, month: u32) -> u32 {
        match (self, month) {
            (Calendar::Day360, _) => 30,
            (_, 2) => 28 + self.is_leap(year) as u32,
            (_, 4 | 6 | 9 | 11) => 30,
            _ => 31,
        }
    }

    fn year_len(self) -> i64 {
        match self {
            Calendar::Day360 => 360,
            Calendar::AllLeap => 366,
            _ => 365,
        }
    }

    /// The day number of a date: days since 1970-01-01 on the real calendars (one count for
    /// Julian and Gregorian dates, so `standard` runs on across 1582), days since year 0 on the
    /// idealised ones. None when the calendar lacks the date.
    fn day_number(self, (y, m, d): Date) -> Option<i64> {
        if !(1..=12).contains(&m) || d < 1 || d > self.month_len(y, m) || y.abs() > 2 * MAX_YEAR {
            return None;
        }
        Some(match self {
            Calendar::Standard if (y, m, d) < (1582, 10, 15) => {
                if (y, m, d) > (1582, 10, 4) {
                    return None;
                }
                days_from_julian(y, m, d)
            }
            Calendar::Standard | Calendar::ProlepticGregorian | Calendar::Tai => days_from_civil(y, m, d as i64),
            Calendar::Julian => days_from_julian(y, m, d),
            Calendar::Day360 => y * 360 + (m as i64 - 1) * 30 + d as i64 - 1,
            Calendar::NoLeap | Calendar::AllLeap => {
                let leap_day = (self == Calendar::AllLeap && m > 2) as u32;
                y * self.year_len() + (CUMULATIVE_DAYS[m as usize - 1] + leap_day + d - 1) as i64
            }
        })
    }

    /// The date of a day number (the inverse of [`Calendar::day_number`]).
    fn date(self, day: i64) -> Date {
        match self {
            Calendar::Standard if day < REFORM_DAY => julian_from_days(day),
            Calendar::Standard | Calendar::ProlepticGregorian | Calendar::Tai => civil_from_days(day),
            Calendar::Julian => julian_from_days(day),
            Calendar::NoLeap | Calendar::AllLeap | Calendar::Day360 => {
                let year = day.div_euclid(self.year_len());
                let mut rest = day.rem_euclid(self.year_len()) as u32;
                let mut month = 1;
                while rest >= self.month_len(year, month) {
                    rest -= self.month_len(year, month);
                    month += 1;
                }
                (year, month, rest + 1)
            }
        }
    }

    /// cftime's `dayofyr`: the days of the months before, plus the day (so 1582-10-15 of the
    /// standard calendar is day 288, as if the ten lost days were there).
    fn day_of_year(self, (y, m, d): Date) -> u32 {
        (1..m).map(|month| self.month_len(y, month)).sum::<u32>() + d
    }

    /// A year as written (in units, in `iso`) to its astronomical number.
    fn astronomical_year(self, written: i64) -> Result<i64, String> {
        match written {
            0 if !self.has_year_zero() => Err("year zero does not exist on this calendar (1 BC is year -1)".into()),
            y if y < 0 && !self.has_year_zero() => Ok(y + 1),
            y => Ok(y),
        }
    }

    fn written_year(self, astronomical: i64) -> i64 {
        if astronomical <= 0 && !self.has_year_zero() { astronomical - 1 } else { astronomical }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm; the day may
/// overflow its month: 30 February is 1 or 2 March).
pub fn days_from_civil(y: i64, m: u32, d: i64) -> i64 {
    let (y, m) = if m <= 2 { (y - 1, m as i64 + 9) } else { (y, m as i64 - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> Date {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

/// Days since 1970-01-01 (Gregorian) of a Julian calendar date: Hinnant's algorithm with the
/// Julian four-year cycle of 1461 days, years starting in March so the leap day comes last.
/// Julian 0000-03-01 is 719,470 days before 1970-01-01.
fn days_from_julian(y: i64, m: u32, d: u32) -> i64 {
    let (y, m) = if m <= 2 { (y - 1, m as i64 + 9) } else { (y, m as i64 - 3) };
    let cycle = y.div_euclid(4);
    let year_of_cycle = y - cycle * 4;
    let day_of_year = (153 * m + 2) / 5 + d as i64 - 1;
    cycle * 1461 + year_of_cycle * 365 + day_of_year - 719_470
}

/// The Julian calendar date of a day count since 1970-01-01 (Gregorian).
fn julian_from_days(z: i64) -> Date {
    let z = z + 719_470;
    let cycle = z.div_euclid(1461);
    let day_of_cycle = z - cycle * 1461;
    // Day 1460 of a cycle is the leap day, still in the cycle's last (fourth) year.
    let year_of_cycle = (day_of_cycle - day_of_cycle / 1460) / 365;
    let doy = day_of_cycle - 365 * year_of_cycle;
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (year_of_cycle + cycle * 4 + (m <= 2) as i64, m, d)
}

/// Formats epoch seconds the way SDAP does: `%Y-%m-%dT%H:%M:%S%z`.
pub fn iso_utc(epoch: i64) -> String {
    let (y, m, d) = civil_from_days(epoch.div_euclid(86400));
    iso_fields(y, m, d, epoch.rem_euclid(86400))
}

/// `YYYY-MM-DDTHH:MM:SS+0000`; negative years as cftime writes them (`-0001-…`).
fn iso_fields(y: i64, m: u32, d: u32, secs: i64) -> String {
    let year = if y < 0 { format!("-{:04}", -y) } else { format!("{y:04}") };
    format!("{year}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A parsed `units` attribute of a time coordinate.
#[derive(Debug, Clone)]
pub struct TimeUnits {
    /// The attribute as written (for messages).
    text: String,
    micros_per_unit: f64,
    /// cftime snaps a count one microsecond off a whole second to it (except for µs and ms units).
    snaps: bool,
    /// The reference date's day number and its time of day in microseconds (UTC: a time zone
    /// offset is subtracted, so this may fall outside one day).
    origin_day: i64,
    origin_micros: i64,
    calendar: Calendar,
}

impl TimeUnits {
    /// Parses e.g. `days since 1981-01-01`, `seconds since 1970-01-01 00:00:00 UTC`,
    /// `hours since 2024-1-15T12:00:00+02:00` on `calendar`.
    pub fn parse(units: &str, calendar: Option<&str>) -> Result<TimeUnits, String> {
        let calendar = Calendar::parse(calendar)?;
        let bad = |why: String| format!("time units '{units}': {why}");
        // cftime's `_datesplit`: the unit, the word `since`, the reference date.
        let mut words = units.trim_start().splitn(2, char::is_whitespace);
        let unit = words.next().unwrap_or_default().to_ascii_lowercase();
        let rest = words.next().unwrap_or_default().trim_start();
        let (since, date) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if !since.eq_ignore_ascii_case("since") {
            return Err(bad("expected '<unit> since <date>'".into()));
        }
        let (micros_per_unit, snaps) = unit_micros(&unit, calendar).map_err(bad)?;
        let parsed = parse_date(date.trim()).ok_or_else(|| bad(format!("cannot read the date '{}'", date.trim())))?;
        if calendar == Calendar::Tai && (parsed.year < 1958 || parsed.offset_minutes != 0) {
            return Err(bad("the tai calendar needs a reference date from 1958 on, without a time zone".into()));
        }
        let year = calendar.astronomical_year(parsed.year).map_err(bad)?;
        let origin_day = calendar
            .day_number((year, parsed.month, parsed.day))
            .ok_or_else(|| bad(format!("the date {date} does not exist on the {calendar:?} calendar")))?;
        let origin_micros = parsed.micros_of_day - parsed.offset_minutes * 60_000_000;
        Ok(TimeUnits { text: units.to_string(), micros_per_unit, snaps, origin_day, origin_micros, calendar })
    }

    /// Decodes one raw coordinate value, rounded to the nearest second (half up).
    ///
    /// # Errors
    /// NaN (a missing time), and values beyond what cftime decodes (±2^63 microseconds).
    pub fn decode(&self, value: f64) -> Result<Stamp, String> {
        if value.is_nan() {
            return Err("is missing (NaN)".into());
        }
        let out_of_range = || format!("({value} {}) is out of range (cftime decodes ±292,000 years)", self.text);
        let scaled = value * self.micros_per_unit;
        // 2^63 is exact in f64; i64::MAX is not.
        if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&scaled) {
            return Err(out_of_range());
        }
        // cftime: round half to even, then snap a microsecond off a whole second to it.
        let mut micros = scaled.round_ties_even() as i64;
        if self.snaps {
            match micros.rem_euclid(1_000_000) {
                1 => micros = scaled.floor() as i64,
                999_999 => micros = scaled.ceil() as i64,
                _ => {}
            }
        }
        let micros = self.origin_micros.checked_add(micros).ok_or_else(out_of_range)?;
        let day = self.origin_day + micros.div_euclid(MICROS_PER_DAY);
        let micros_of_day = micros.rem_euclid(MICROS_PER_DAY);
        // Whole seconds, rounded half up (a rounding past midnight moves to the next day).
        let seconds = micros_of_day / 1_000_000 + (micros_of_day % 1_000_000 >= 500_000) as i64;
        let (day, second) = (day + seconds / 86_400, seconds % 86_400);
        let (y, m, d) = self.calendar.date(day);
        if self.calendar == Calendar::Tai && y < 1958 {
            return Err(format!("({value} {}) falls before 1958, where the tai calendar starts", self.text));
        }
        Ok(Stamp {
            epoch: days_from_civil(y, m, d as i64) * 86_400 + second,
            iso: iso_fields(self.calendar.written_year(y), m, d, second),
            doy: self.calendar.day_of_year((y, m, d)),
        })
    }
}

/// Microseconds per unit (cftime's `UNIT_CONVERSION_FACTORS`) and whether cftime snaps counts.
fn unit_micros(unit: &str, calendar: Calendar) -> Result<(f64, bool), String> {
    const DAY: f64 = 86_400e6;
    Ok(match unit {
        "microseconds" | "microsecond" | "microsec" | "microsecs" => (1.0, false),
        "milliseconds" | "millisecond" | "millisec" | "millisecs" | "msec" | "msecs" | "ms" => (1e3, false),
        "seconds" | "second" | "sec" | "secs" | "s" => (1e6, true),
        "minutes" | "minute" | "min" | "mins" => (60e6, true),
        "hours" | "hour" | "hr" | "hrs" | "h" => (3600e6, true),
        "days" | "day" | "d" => (DAY, true),
        "months" | "month" if calendar == Calendar::Day360 => (30.0 * DAY, true),
        "common_years" | "common_year" if calendar == Calendar::NoLeap => (365.0 * DAY, true),
        "months" | "month" => return Err("'months' are only defined on the 360_day calendar".into()),
        "common_years" | "common_year" => return Err("'common_years' are only defined on the noleap calendar".into()),
        other => {
            return Err(format!(
                "unit '{other}' is not one of days, hours, minutes, seconds, milliseconds, microseconds"
            ));
        }
    })
}

/// cftime's `ISO8601_REGEX`, verbatim (matched from the start; what follows is ignored).
static ISO8601: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?P<year>[+-]?[0-9]+)(-(?P<month>[0-9]{1,2})(-(?P<day>[0-9]{1,2})",
        r"(((?P<separator1>.)(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{1,2})(:(?P<second>[0-9]{1,2})(\.(?P<fraction>[0-9]+))?)?)?",
        r"((?P<separator2>.?)(?P<timezone>Z|(([-+])([0-9]{2})((:([0-9]{2}))|([0-9]{2}))?)))?)?)?)?",
    ))
    .expect("cftime's date pattern compiles")
});

/// A date as written: the year as written (not astronomical), the time of day, the offset.
struct Written {
    year: i64,
    month: u32,
    day: u32,
    micros_of_day: i64,
    offset_minutes: i64,
    /// How many bytes of the text the date took.
    len: usize,
}

/// Reads a date like cftime's `_parse_date`, and also a bare year (pandas and so xarray read
/// `days since 2000`; month and day default to 1).
fn parse_date(text: &str) -> Option<Written> {
    let caps = ISO8601.captures(text)?;
    let number =
        |name: &str, absent: i64| -> Option<i64> { caps.name(name).map_or(Some(absent), |m| m.as_str().parse().ok()) };
    let (year, month, day) = (number("year", 0)?, number("month", 1)?, number("day", 1)?);
    let (hour, minute, second) = (number("hour", 0)?, number("minute", 0)?, number("second", 0)?);
    if year.abs() > MAX_YEAR
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // cftime: int(float("0." + digits) * 1e6), truncated.
    let fraction = caps
        .name("fraction")
        .map_or(Some(0), |f| format!("0.{}", f.as_str()).parse::<f64>().ok().map(|x| (x * 1e6) as i64))?;
    Some(Written {
        year,
        month: month as u32,
        day: day as u32,
        micros_of_day: ((hour * 60 + minute) * 60 + second) * 1_000_000 + fraction,
        offset_minutes: offset_minutes(&caps),
        len: caps.get(0).map_or(0, |m| m.end()),
    })
}

/// cftime's `_parse_timezone`: `Z`, `±HH`, `±HHMM` or `±HH:MM`, in minutes east of UTC.
fn offset_minutes(caps: &Captures) -> i64 {
    let Some(zone) = caps.name("timezone").map(|m| m.as_str()) else { return 0 };
    if zone == "Z" {
        return 0;
    }
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone.chars().filter(char::is_ascii_digit).collect();
    let hours: i64 = digits[..2].parse().unwrap_or(0);
    let minutes: i64 = digits.get(2..4).and_then(|m| m.parse().ok()).unwrap_or(0);
    sign * (hours * 60 + minutes)
}

/// A request time bound: ISO 8601 (`2024-01-15`, `2024-01-15T09:00:00Z`, `…+02:00`), read on
/// the proleptic Gregorian calendar, or integer epoch seconds.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    let bad = || format!("expected ISO 8601 (years within ±{MAX_YEAR}) or epoch seconds, got '{text}'");
    let date = text.strip_suffix("UTC").map_or(text, str::trim_end);
    let w = parse_date(date).filter(|w| w.len == date.len()).ok_or_else(bad)?;
    let seconds = w.micros_of_day.div_euclid(1_000_000) - w.offset_minutes * 60;
    Ok(days_from_civil(w.year, w.month, w.day as i64) * 86400 + seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(units: &str, calendar: &str, value: f64) -> String {
        TimeUnits::parse(units, Some(calendar)).unwrap().decode(value).unwrap().iso
    }

    #[test]
    fn day_numbers_round_trip_on_every_calendar() {
        assert_eq!(days_from_civil(1582, 10, 15), REFORM_DAY);
        assert_eq!(days_from_julian(1582, 10, 4) + 1, REFORM_DAY, "Julian 4 October is followed by 15 October");
        for calendar in [
            Calendar::Standard,
            Calendar::ProlepticGregorian,
            Calendar::Julian,
            Calendar::NoLeap,
            Calendar::AllLeap,
            Calendar::Day360,
        ] {
            for day in (-800_000..800_000).step_by(997).chain(REFORM_DAY - 3..REFORM_DAY + 3) {
                let date = calendar.date(day);
                assert_eq!(calendar.day_number(date), Some(day), "{calendar:?} {date:?}");
            }
        }
        assert_eq!(Calendar::Standard.day_number((1582, 10, 10)), None, "in the switch's gap");
        assert_eq!(Calendar::NoLeap.day_number((2024, 2, 29)), None);
        assert_eq!(Calendar::Day360.day_number((2024, 1, 31)), None);
    }

    /// Expected values from cftime 1.6 (`num2date`, `dayofyr`); tests/api/ocean.rs compares
    /// tens of thousands more against cftime itself.
    #[test]
    fn calendars_decode_like_cftime() {
        let u = "days since 1500-01-01";
        assert_eq!(iso(u, "standard", 59.5), "1500-02-29T12:00:00+0000", "Julian leap day");
        assert_eq!(iso(u, "standard", 30_000.0), "1582-02-19T00:00:00+0000");
        assert_eq!(iso(u, "proleptic_gregorian", 30_000.0), "1582-02-20T00:00:00+0000");
        assert_eq!(iso(u, "gregorian", 191_000.0), "2022-12-19T00:00:00+0000", "9 days after proleptic");
        assert_eq!(iso(u, "julian", 191_000.0), "2022-12-06T00:00:00+0000");
        assert_eq!(iso(u, "noleap", 191_000.0), "2023-04-16T00:00:00+0000");
        assert_eq!(iso(u, "all_leap", 191_000.0), "2021-11-10T00:00:00+0000");
        assert_eq!(iso(u, "360_day", 59.5), "1500-02-30T12:00:00+0000");
        assert_eq!(iso(u, "standard", -1.0), "1499-12-31T00:00:00+0000");
        assert_eq!(iso("days since 1582-10-04", "standard", 1.0), "1582-10-15T00:00:00+0000");
        assert_eq!(iso("days since 0001-01-01", "standard", -1.0), "-0001-12-31T00:00:00+0000");
        assert_eq!(iso("days since 0001-01-01", "noleap", -1.0), "0000-12-31T00:00:00+0000");
        assert_eq!(iso("days since 2000-01-01 12:00:00-0930", "standard", 0.0), "2000-01-01T21:30:00+0000");
        assert_eq!(iso("seconds since 1981-01-01 00:00:00 UTC", "gregorian", 0.0), "1981-01-01T00:00:00+0000");
        assert_eq!(iso("months since 2000-01-01", "360_day", 2.0), "2000-03-01T00:00:00+0000");
        let doy = |units: &str, value| TimeUnits::parse(units, None).unwrap().decode(value).unwrap().doy;
        assert_eq!(doy("days since 1582-10-15", 0.0), 288, "cftime counts 1582's lost days");
        assert_eq!(doy("days since 2024-01-01", 59.0), 60);
        for (units, calendar) in [
            ("days since 1582-10-10", "standard"),
            ("days since 2000-02-29", "noleap"),
            ("days since 0000-01-01", "julian"),
            ("months since 2000-01-01", "standard"),
            ("weeks since 2000-01-01", "standard"),
            ("days after 2000-01-01", "standard"),
            ("days since 1957-01-01", "tai"),
        ] {
            assert!(TimeUnits::parse(units, Some(calendar)).is_err(), "{units} on {calendar}");
        }
        assert!(Calendar::parse(Some("lunar")).unwrap_err().contains("360_day"));
        let u = TimeUnits::parse("days since 2000-01-01", None).unwrap();
        assert!(u.decode(1e300).unwrap_err().contains("out of range"));
        assert!(u.decode(f64::NAN).unwrap_err().contains("missing"));
    }

    #[test]
    fn stamps_read_the_date_on_the_gregorian_calendar() {
        let u = TimeUnits::parse("days since 1500-01-01", Some("standard")).unwrap();
        let (feb29, mar1) = (u.decode(59.0).unwrap(), u.decode(60.0).unwrap());
        assert_eq!(feb29.epoch, mar1.epoch, "the Julian 29 February reads as 1 March");
        assert_eq!(feb29.chrono_cmp(&mar1), Ordering::Less);
        assert_eq!(parse_instant("1500-02-29").unwrap(), feb29.epoch);
        let modern = u.decode(191_000.0).unwrap();
        assert_eq!(modern.epoch, parse_instant("2022-12-19").unwrap(), "the true instant");
    }

    #[test]
    fn request_instants_parse_iso_and_epoch() {
        assert_eq!(parse_instant("0").unwrap(), 0);
        assert_eq!(parse_instant("2024-01-15T09:00:00Z").unwrap(), 1_705_309_200);
        assert_eq!(parse_instant("2024-01-15T11:00:00+02:00").unwrap(), 1_705_309_200);
        assert_eq!(parse_instant("2024-01-15 09:00:00 UTC").unwrap(), 1_705_309_200);
        assert_eq!(parse_instant("2024-01-15").unwrap(), 1_705_276_800);
        assert_eq!(iso_utc(1_705_309_200), "2024-01-15T09:00:00+0000");
        for bad in ["yesterday", "2024-01-15 and more", "99999999999999-01-01", "2024-13-01"] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }
}
