//! UWS instants: ISO 8601 in UTC with `T` and `Z` on output (UWS 2.2.1); on input also other
//! offsets and naive times, taken as UTC (uws-client sends naive ones), and plain dates.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, now: the one clock of the service (instants are stored
/// and compared as Unix milliseconds everywhere).
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2016-10-24T10:01:02.000Z` for Unix milliseconds.
pub fn format_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Unix milliseconds for an ISO 8601 instant, or `None` if it is not one.
pub fn parse_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_forms_clients_send_and_writes_utc_with_z() {
        let z = parse_ms("2016-10-24T10:01:02.000Z").unwrap();
        assert_eq!(format_ms(z), "2016-10-24T10:01:02.000Z");
        assert_eq!(parse_ms("2016-10-24T10:01:02"), Some(z));
        assert_eq!(parse_ms("2016-10-24T12:01:02+02:00"), Some(z));
        assert_eq!(parse_ms("2016-10-24T10:01:02.000123Z"), Some(z));
        assert_eq!(parse_ms("2016-10-24"), parse_ms("2016-10-24T00:00:00Z"));
        for bad in ["", "yesterday", "2016-13-01T00:00:00Z", "1477303262"] {
            assert_eq!(parse_ms(bad), None, "{bad}");
        }
    }
}
