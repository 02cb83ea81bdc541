//! CF time decoding (`units = "<unit> since <date>"`, `calendar`) and the request's time bounds.
//!
//! Instants are carried as epoch seconds (UTC), as SDAP does. Non-standard calendars (`noleap`,
//! `all_leap`, `360_day`) are decoded to their own year/month/day first; `iso` keeps that date
//! exactly, and `epoch` is the same date read on the Gregorian calendar (a `360_day` 30 February
//! lands on 2 March: such datasets have no true UTC instant). `julian` is refused rather than
//! guessed.

/// One decoded time step.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    /// Seconds since 1970-01-01T00:00:00Z (see the module note for non-standard calendars).
    pub epoch: i64,
    /// The date in the dataset's own calendar, `YYYY-MM-DDTHH:MM:SS+0000` (SDAP's `iso_time`).
    pub iso: String,
    /// Day of year 1..=366 in the dataset's calendar (the DDA climatology key).
    pub doy: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Calendar {
    /// standard, gregorian, proleptic_gregorian (dates before 1582 are read proleptically).
    Gregorian,
    NoLeap,
    AllLeap,
    Day360,
}

impl Calendar {
    pub fn parse(name: Option<&str>) -> Result<Calendar, String> {
        match name.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            None | Some("standard" | "gregorian" | "proleptic_gregorian" | "") => Ok(Calendar::Gregorian),
            Some("noleap" | "365_day") => Ok(Calendar::NoLeap),
            Some("all_leap" | "366_day") => Ok(Calendar::AllLeap),
            Some("360_day") => Ok(Calendar::Day360),
            Some(other) => Err(format!("calendar '{other}' is not supported (standard, noleap, all_leap, 360_day)")),
        }
    }

    fn is_leap(self, year: i64) -> bool {
        match self {
            Calendar::Gregorian => (year % 4 == 0 && year % 100 != 0) || year % 400 == 0,
            Calendar::NoLeap | Calendar::Day360 => false,
            Calendar::AllLeap => true,
        }
    }

    fn month_len(self, year: i64, month: u32) -> i64 {
        match (self, month) {
            (Calendar::Day360, _) => 30,
            (_, 2) => 28 + self.is_leap(year) as i64,
            (_, 4 | 6 | 9 | 11) => 30,
            _ => 31,
        }
    }

    fn year_len(self, year: i64) -> i64 {
        match self {
            Calendar::Day360 => 360,
            _ => 365 + self.is_leap(year) as i64,
        }
    }

    /// Days from 0001-01-01 of this calendar to the given date (the date's fields may overflow).
    fn days_from(self, (y, m, d): (i64, u32, i64)) -> i64 {
        match self {
            Calendar::Gregorian => days_from_civil(y, m, d) - days_from_civil(1, 1, 1),
            _ => {
                let years: i64 = (y - 1) * self.year_len(1); // fixed-length years
                let months: i64 = (1..m).map(|mm| self.month_len(y, mm)).sum();
                years + months + d - 1
            }
        }
    }

    /// The date `days` after 0001-01-01 of this calendar, plus its day of year.
    fn date_of(self, days: i64) -> ((i64, u32, i64), u32) {
        match self {
            Calendar::Gregorian => {
                let (y, m, d) = civil_from_days(days + days_from_civil(1, 1, 1));
                let doy = (days_from_civil(y, m, d) - days_from_civil(y, 1, 1) + 1) as u32;
                ((y, m, d), doy)
            }
            _ => {
                let len = self.year_len(1);
                let y = days.div_euclid(len) + 1;
                let mut rest = days.rem_euclid(len);
                let doy = rest as u32 + 1;
                let mut m = 1;
                while rest >= self.month_len(y, m) {
                    rest -= self.month_len(y, m);
                    m += 1;
                }
                ((y, m, rest + 1), doy)
            }
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm; fields may overflow).
pub fn days_from_civil(y: i64, m: u32, d: i64) -> i64 {
    let (y, m) = if m <= 2 { (y - 1, m as i64 + 9) } else { (y, m as i64 - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

/// Formats epoch seconds the way SDAP does: `%Y-%m-%dT%H:%M:%S%z`.
pub fn iso_utc(epoch: i64) -> String {
    let (y, m, d) = civil_from_days(epoch.div_euclid(86400));
    iso_fields((y, m, d), epoch.rem_euclid(86400))
}

fn iso_fields((y, m, d): (i64, u32, i64), secs: i64) -> String {
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A parsed `units` attribute of a time coordinate.
#[derive(Debug, Clone)]
pub struct TimeUnits {
    seconds_per_unit: f64,
    /// The reference date and its seconds of day.
    origin: (i64, u32, i64),
    origin_secs: f64,
    calendar: Calendar,
}

impl TimeUnits {
    /// Parses e.g. `days since 1981-01-01`, `seconds since 1970-01-01 00:00:00 UTC`,
    /// `hours since 2024-1-15T12:00:00Z`.
    pub fn parse(units: &str, calendar: Option<&str>) -> Result<TimeUnits, String> {
        let calendar = Calendar::parse(calendar)?;
        let bad = || format!("time units '{units}' are not '<unit> since <date>'");
        let (unit, since) = units.trim().split_once(" since ").ok_or_else(bad)?;
        let seconds_per_unit = match unit.trim().to_ascii_lowercase().as_str() {
            "days" | "day" | "d" => 86400.0,
            "hours" | "hour" | "hrs" | "hr" | "h" => 3600.0,
            "minutes" | "minute" | "mins" | "min" => 60.0,
            "seconds" | "second" | "secs" | "sec" | "s" => 1.0,
            "milliseconds" | "millisecond" | "ms" => 0.001,
            other => return Err(format!("time unit '{other}' in '{units}' is not supported")),
        };
        let (origin, origin_secs) = parse_datetime(since).ok_or_else(bad)?;
        Ok(TimeUnits { seconds_per_unit, origin, origin_secs, calendar })
    }

    /// Decodes one raw coordinate value, rounded to the nearest second.
    pub fn decode(&self, value: f64) -> Stamp {
        let total = (self.origin_secs + value * self.seconds_per_unit).round() as i64;
        let days = self.calendar.days_from(self.origin) + total.div_euclid(86400);
        let secs = total.rem_euclid(86400);
        let (date, doy) = self.calendar.date_of(days);
        let epoch = days_from_civil(date.0, date.1, date.2) * 86400 + secs;
        Stamp { epoch, iso: iso_fields(date, secs), doy }
    }
}

/// `YYYY-M-D[( |T)HH:MM[:SS[.fff]]][Z| UTC|+00:00]` → (date, seconds of day). Time zones other
/// than UTC are not accepted (CF data essentially never carries them).
fn parse_datetime(text: &str) -> Option<((i64, u32, i64), f64)> {
    let text = text.trim().trim_end_matches("UTC").trim_end_matches('Z').trim();
    let text = text.strip_suffix("+00:00").or_else(|| text.strip_suffix("+0000")).unwrap_or(text).trim();
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, t.trim()),
        None => (text, ""),
    };
    let (neg, date) = match date.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, date),
    };
    let mut parts = date.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next().map_or(Some(1), |p| p.parse().ok())?;
    let day: i64 = parts.next().map_or(Some(1), |p| p.parse().ok())?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = 0.0;
    if !time.is_empty() {
        let mut hms = time.split(':');
        let h: f64 = hms.next()?.parse().ok()?;
        let m: f64 = hms.next().map_or(Some(0.0), |p| p.parse().ok())?;
        let s: f64 = hms.next().map_or(Some(0.0), |p| p.parse().ok())?;
        secs = h * 3600.0 + m * 60.0 + s;
    }
    Some(((if neg { -year } else { year }, month, day), secs))
}

/// A request time bound: ISO 8601 (`2024-01-15`, `2024-01-15T09:00:00Z`) or integer epoch seconds.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    let ((y, m, d), secs) =
        parse_datetime(text).ok_or_else(|| format!("expected ISO 8601 or epoch seconds, got '{text}'"))?;
    Ok(days_from_civil(y, m, d) * 86400 + secs.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gregorian_days_round_trip_and_leap_years() {
        for z in [-800_000, -1, 0, 1, 59, 60, 11_016, 19_737, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        let units = TimeUnits::parse("days since 2024-01-01", None).unwrap();
        assert_eq!(units.decode(59.0).iso, "2024-02-29T00:00:00+0000");
        assert_eq!(units.decode(59.0).doy, 60);
        assert_eq!(units.decode(60.0).doy, 61);
    }

    #[test]
    fn units_and_calendars_decode_like_cftime() {
        let u = TimeUnits::parse("seconds since 1981-01-01 00:00:00 UTC", Some("gregorian")).unwrap();
        assert_eq!(u.decode(0.0).epoch, 347_155_200);
        let u = TimeUnits::parse("hours since 2024-1-15T09:00:00Z", None).unwrap();
        assert_eq!(u.decode(24.0).iso, "2024-01-16T09:00:00+0000");
        // noleap: 59 days after 1 Jan 2024 is 1 March, there is no 29 February.
        let u = TimeUnits::parse("days since 2024-01-01", Some("noleap")).unwrap();
        assert_eq!(u.decode(59.0).iso, "2024-03-01T00:00:00+0000");
        assert_eq!(u.decode(365.0).iso, "2025-01-01T00:00:00+0000");
        let u = TimeUnits::parse("days since 2000-01-01", Some("360_day")).unwrap();
        assert_eq!(u.decode(59.0).iso, "2000-02-30T00:00:00+0000");
        assert_eq!(u.decode(360.0).iso, "2001-01-01T00:00:00+0000");
        assert!(TimeUnits::parse("days after 2000", None).is_err());
        assert!(Calendar::parse(Some("julian")).is_err());
    }

    #[test]
    fn request_instants_parse_iso_and_epoch() {
        assert_eq!(parse_instant("0").unwrap(), 0);
        assert_eq!(parse_instant("2024-01-15T09:00:00Z").unwrap(), 1_705_309_200);
        assert_eq!(parse_instant("2024-01-15").unwrap(), 1_705_276_800);
        assert_eq!(iso_utc(1_705_309_200), "2024-01-15T09:00:00+0000");
        assert!(parse_instant("yesterday").is_err());
    }
}
