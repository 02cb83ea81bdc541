//! The memory a read may keep, shared by the threads reading a folder: every reader reserves
//! the bytes a file's declared sizes would take *before* allocating them, so a lying header is
//! refused instead of aborting the process.

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::Problem;

/// A byte budget; reservations only grow (a read keeps what it reserved until it returns).
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget { limit, used: AtomicU64::new(0) }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes reserved so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Reserves `bytes` for `what`, or says why not. Overflow-safe: a product that wrapped
    /// would pass a plain comparison, so callers compute `bytes` with [`bytes_of`].
    pub fn reserve(&self, bytes: u64, what: &dyn std::fmt::Display) -> Result<(), Problem> {
        let fits = |used: u64| used.checked_add(bytes).filter(|&total| total <= self.limit);
        match self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, fits) {
            Ok(_) => Ok(()),
            Err(used) => Err(Problem::too_large(format!(
                "{what} needs {} but the read's memory budget of {} has {} left",
                human(bytes),
                human(self.limit),
                human(self.limit.saturating_sub(used))
            ))),
        }
    }
}

/// `count × size` in bytes, or a problem naming `what` when the product does not fit 64 bits.
pub fn bytes_of(count: u64, size: u64, what: &dyn std::fmt::Display) -> Result<u64, Problem> {
    count.checked_mul(size).ok_or_else(|| Problem::invalid(format!("{what} declares more data than any file can hold")))
}

/// Bytes for people: "2.0 GiB", "880 B".
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stop_at_the_limit_and_never_wrap() {
        let b = Budget::new(100);
        b.reserve(60, &"a").unwrap();
        let e = b.reserve(41, &"b").unwrap_err();
        assert!(e.text.contains("b needs 41 B") && e.text.contains("40 B left"), "{}", e.text);
        b.reserve(40, &"c").unwrap();
        assert!(b.reserve(u64::MAX, &"d").is_err(), "a huge reservation must not wrap");
        assert_eq!(bytes_of(1 << 40, 1 << 23, &"image").unwrap(), 1 << 63);
        assert!(bytes_of(1 << 40, 1 << 24, &"image").unwrap_err().text.contains("more data than any file"));
        assert_eq!(human(3 << 30), "3.0 GiB");
    }
}
