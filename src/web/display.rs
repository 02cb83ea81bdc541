//! How numbers and instants read on the pages: sizes in binary units, instants in UTC (the
//! machine-readable form goes in `<time datetime>`), durations in the two largest units.

/// `1.5 MiB`, `812 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `2026-12-03 23:45:07 UTC`.
pub fn instant(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// `2026-12-03T23:45:07Z`, for `<time datetime>`.
pub fn iso(ms: i64) -> String {
    crate::uws::time::format_ms(ms)
}

/// `3 min 2 s`, `1 h 5 min`, `2 d 3 h`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) if ms < 1000 => format!("{} ms", ms.max(0)),
        (0, 0, 0) => format!("{sec} s"),
        (0, 0, _) => format!("{m} min {sec} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// A progress fraction as a whole percentage (0–100).
pub fn percent(fraction: f64) -> u32 {
    (fraction.clamp(0.0, 1.0) * 100.0).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_naturally() {
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(10 << 30), "10.0 GiB");
        assert_eq!(duration(250), "250 ms");
        assert_eq!(duration(62_000), "1 min 2 s");
        assert_eq!(duration(3_900_000), "1 h 5 min");
        assert_eq!(duration(-5), "0 ms");
        assert_eq!(instant(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(percent(0.456), 46);
        assert_eq!(percent(7.0), 100);
    }
}
