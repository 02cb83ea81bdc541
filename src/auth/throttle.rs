//! Failed-password back-off: a table of recent failures per key (an account name, a client
//! address) that says how long the key must wait before its next attempt.
//!
//! A key gets `free` failures; each further one doubles its wait, from 1 s up to `max`. Failures
//! are forgotten `forget` after the last one, and a success clears its key. While a key waits,
//! attempts are answered at once with 429 and `Retry-After` instead of being delayed: a delay
//! would hold a connection and a queue slot per attempt, which is what a flood wants; a 429 costs
//! nothing and tells honest clients when to come back.
//!
//! The table is bounded ([`MAX_KEYS`]): when full, forgotten entries go first, then the ones that
//! are not waiting; an attacker cycling through names can at worst evict its own entries.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Keys the table holds at most (about 100 bytes each).
pub const MAX_KEYS: usize = 100_000;

const FIRST_WAIT: Duration = Duration::from_secs(1);

/// The back-off rule for one kind of key.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Failures allowed before waits start.
    pub free: u32,
    /// Longest wait.
    pub max: Duration,
    /// Failures are forgotten this long after the last one.
    pub forget: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    until: Instant,
}

/// Recent failures by key.
#[derive(Debug)]
pub struct Throttle {
    rule: Rule,
    entries: HashMap<String, Entry>,
}

impl Throttle {
    pub fn new(rule: Rule) -> Self {
        Throttle { rule, entries: HashMap::new() }
    }

    /// How long `key` must still wait at `now` (`None`: it may try).
    pub fn wait(&self, key: &str, now: Instant) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        (entry.until > now).then(|| entry.until - now)
    }

    /// Records a failed attempt of `key`; returns the wait it now has, if any.
    pub fn fail(&mut self, key: &str, now: Instant) -> Option<Duration> {
        if !self.entries.contains_key(key) && self.entries.len() >= MAX_KEYS {
            self.make_room(now);
        }
        let rule = self.rule;
        let entry = self.entries.entry(key.to_string()).or_insert(Entry { failures: 0, last: now, until: now });
        if now.duration_since(entry.last) > rule.forget {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        if entry.failures <= rule.free {
            return None;
        }
        let doublings = (entry.failures - rule.free - 1).min(30);
        let wait = FIRST_WAIT.saturating_mul(1 << doublings).min(rule.max);
        entry.until = now + wait;
        Some(wait)
    }

    /// A success: the key starts afresh.
    pub fn succeed(&mut self, key: &str) {
        self.entries.remove(key);
    }

    fn make_room(&mut self, now: Instant) {
        let forget = self.rule.forget;
        self.entries.retain(|_, e| now.duration_since(e.last) <= forget);
        if self.entries.len() >= MAX_KEYS {
            self.entries.retain(|_, e| e.until > now);
        }
        if self.entries.len() >= MAX_KEYS {
            // Everyone is waiting: drop the waits that end soonest.
            let mut ends: Vec<Instant> = self.entries.values().map(|e| e.until).collect();
            ends.sort_unstable();
            let cut = ends[MAX_KEYS / 2];
            self.entries.retain(|_, e| e.until > cut);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule { free: 3, max: Duration::from_secs(60), forget: Duration::from_secs(600) };

    #[test]
    fn waits_start_after_the_free_failures_and_double_up_to_the_cap() {
        let mut t = Throttle::new(RULE);
        let now = Instant::now();
        for _ in 0..3 {
            t.fail("alice", now);
        }
        assert_eq!(t.wait("alice", now), None);
        let mut waits = Vec::new();
        for _ in 0..9 {
            t.fail("alice", now);
            waits.push(t.wait("alice", now).unwrap().as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(t.wait("bob", now), None);
        t.succeed("alice");
        assert_eq!(t.wait("alice", now), None);
    }

    #[test]
    fn failures_are_forgotten_and_the_table_stays_bounded() {
        let mut t = Throttle::new(RULE);
        let start = Instant::now();
        for _ in 0..5 {
            t.fail("alice", start);
        }
        let later = start + Duration::from_secs(601);
        t.fail("alice", later);
        assert_eq!(t.wait("alice", later), None, "old failures forgotten");
        for i in 0..MAX_KEYS + 10 {
            t.fail(&format!("u{i}"), later);
        }
        assert!(t.len() <= MAX_KEYS, "{}", t.len());
    }
}
