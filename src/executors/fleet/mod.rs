//! The remote worker fleet: `vocloud worker` processes on any host that mounts the shared
//! storage, pulling jobs from the master over HTTP with leases.
//!
//! - [`protocol`]: the JSON messages of the fleet API.
//! - [`http`]: the master's side (worker-token auth, register, long-poll claim, heartbeat, finish)
//!   and the admin's view of the fleet. Lease logic is the job service's; handlers only ask.
//! - [`executor`]: the master's `Executor` for remote jobs: lease grace after a restart, and
//!   re-queueing jobs whose lease lapsed.
//! - [`client`]: the worker's loop, each attempt a child process (`crate::runner`).

pub mod client;
pub mod executor;
pub mod http;
pub mod protocol;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The lease and heartbeat timing every worker is told at registration.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub lease: Duration,
    pub heartbeat: Duration,
}

/// Why the fleet API refused a request. Mapped to HTTP in `crate::error`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("a worker token is required (Authorization: Bearer)")]
    NoToken,
    #[error("unknown or revoked worker token")]
    BadToken,
    #[error("malformed worker id (expected what registration returned)")]
    MalformedWorkerId,
    #[error("this worker is not registered with this token")]
    UnknownWorker,
    #[error("registration refused: {0}")]
    BadRegistration(String),
    #[error(
        "the worker's storage is not the master's: its .vocloud-storage marker differs. Mount the master's storage root on the worker and pass its path with --storage"
    )]
    ForeignStorage,
    #[error("too many registrations with worker token '{token}' (at most {REGISTRATIONS_PER_MINUTE} a minute)")]
    TooManyRegistrations { token: String, retry_after: Duration },
    #[error(transparent)]
    Jobs(#[from] crate::jobs::Error),
}

/// Registrations one worker token may make per minute: a restarting host registers once per
/// process, so this only stops floods (each registration is a stored row).
pub const REGISTRATIONS_PER_MINUTE: usize = 30;

/// Recent registrations per worker token, for [`REGISTRATIONS_PER_MINUTE`].
#[derive(Default)]
pub struct Registrations(Mutex<HashMap<i64, VecDeque<Instant>>>);

impl Registrations {
    /// Counts a registration with token `token_id`, or says how long to wait when the last
    /// minute's are used up.
    pub fn admit(&self, token_id: i64) -> Result<(), Duration> {
        const WINDOW: Duration = Duration::from_secs(60);
        let now = Instant::now();
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let recent = all.entry(token_id).or_default();
        while recent.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            recent.pop_front();
        }
        if recent.len() >= REGISTRATIONS_PER_MINUTE {
            let oldest = recent.front().copied().unwrap_or(now);
            return Err(WINDOW.saturating_sub(now.duration_since(oldest)));
        }
        recent.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_are_limited_per_token() {
        let limiter = Registrations::default();
        for _ in 0..REGISTRATIONS_PER_MINUTE {
            assert!(limiter.admit(1).is_ok());
        }
        let wait = limiter.admit(1).unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60), "{wait:?}");
        assert!(limiter.admit(2).is_ok(), "another token is not affected");
    }
}
