//! Password checks that a flood cannot turn against the service.
//!
//! - **A bounded pool.** An argon2 verification costs ~20 MB of memory and tens of milliseconds
//!   of a core by design; run without bound, 64 clients sending wrong passwords took the service
//!   to 7.5 GB. At most `auth.password_workers` checks (default: one per core) run at once, on
//!   that many threads of their own; up to `auth.password_queue` more wait for a turn; beyond
//!   that the answer is 503 with `Retry-After`, not more memory. Own threads, not tokio's
//!   blocking pool: malloc keeps freed memory per thread, so 20 MB blocks freed on ever new
//!   blocking threads stayed with the process (84 → 680 MB in 15 s of flood, measured with
//!   `benches/flood.rs`); on a fixed few threads each reuses its own.
//! - **Back-off** per account name and per client address ([`throttle`](super::throttle)):
//!   waiting keys get 429 with `Retry-After` without any argon2 work.
//! - **No enumeration by timing.** An unknown user is verified against a dummy hash made with
//!   the same parameters, so both cost one argon2 verification.
//!
//! [`Authenticator::check_password`] is the one entry point: HTTP Basic and the login form both
//! use it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::throttle::{Rule, Throttle};
use super::{Authenticator, caller, verify_password};
use crate::db;
use crate::error::ApiError;
use crate::jobs::Caller;

/// Password checking settings (`[auth]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// argon2 verifications running at once; unset means one per core.
    pub password_workers: Option<usize>,
    /// Verifications that may wait for a turn; more get 503 with `Retry-After`.
    pub password_queue: usize,
    /// Failed passwords an account name may have before it must wait (1 s, doubling).
    pub account_free_failures: u32,
    /// Failed passwords a client address may have before it must wait (1 s, doubling).
    pub address_free_failures: u32,
    /// Longest wait after failures, in seconds.
    pub max_backoff_seconds: u64,
    /// Failures are forgotten this many seconds after the last one.
    pub forget_failures_seconds: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            password_workers: None,
            password_queue: 64,
            account_free_failures: 5,
            address_free_failures: 20,
            max_backoff_seconds: 300,
            forget_failures_seconds: 3600,
        }
    }
}

/// The pool, the queue bound and the two back-off tables.
pub struct Passwords {
    /// The threads that run argon2.
    threads: rayon::ThreadPool,
    /// One permit per thread: who may hand a check to them.
    running: Semaphore,
    waiting: AtomicUsize,
    queue: usize,
    accounts: Mutex<Throttle>,
    addresses: Mutex<Throttle>,
}

impl Passwords {
    pub fn new(settings: &AuthSettings) -> Passwords {
        let workers = settings
            .password_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let rule = |free| Rule {
            free,
            max: Duration::from_secs(settings.max_backoff_seconds.max(1)),
            forget: Duration::from_secs(settings.forget_failures_seconds),
        };
        // Made now, so the first unknown user does not pay for it (and stand out by it).
        LazyLock::force(&DUMMY_HASH);
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .thread_name(|i| format!("argon2-{i}"))
            .build()
            .expect("starting the password threads");
        Passwords {
            threads,
            running: Semaphore::new(workers),
            waiting: AtomicUsize::new(0),
            queue: settings.password_queue,
            accounts: Mutex::new(Throttle::new(rule(settings.account_free_failures))),
            addresses: Mutex::new(Throttle::new(rule(settings.address_free_failures))),
        }
    }

    /// 429 if the account or the address is waiting.
    fn check_throttle(&self, name: &str, address: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let account = lock(&self.accounts).wait(name, now);
        let client = lock(&self.addresses).wait(address, now);
        match account.max(client) {
            None => Ok(()),
            Some(wait) => Err(ApiError::TooManyRequests {
                message: format!(
                    "too many failed passwords for this {}; try again in {} s",
                    if account >= client { "account" } else { "address" },
                    wait.as_secs().max(1)
                ),
                retry_after: wait,
            }),
        }
    }

    fn record(&self, name: &str, address: &str, ok: bool) {
        let now = Instant::now();
        if ok {
            // Only the account starts afresh: one good password must not reset an address
            // that is trying many accounts.
            lock(&self.accounts).succeed(name);
        } else {
            let account = lock(&self.accounts).fail(name, now);
            let client = lock(&self.addresses).fail(address, now);
            // One line per wait (they double), not per failure: a flood must not flood the log.
            if account.is_some() || client.is_some() {
                tracing::warn!(
                    user = %name,
                    client = %address,
                    account_wait_s = account.map(|w| w.as_secs()),
                    address_wait_s = client.map(|w| w.as_secs()),
                    "wrong passwords: backing off"
                );
            }
        }
    }

    /// Runs one argon2 verification in the pool: waits for a turn, or 503 if the queue is full.
    async fn verify(&self, password: String, hash: String) -> Result<bool, ApiError> {
        let queued = Queued::join(&self.waiting, self.queue)
            .ok_or_else(|| ApiError::Busy("too many password checks waiting; try again in a moment".into()))?;
        let permit = self.running.acquire().await.context("password pool closed")?;
        drop(queued);
        let (done, ok) = tokio::sync::oneshot::channel();
        self.threads.spawn(move || {
            let _ = done.send(verify_password(&password, &hash));
        });
        let ok = ok.await.context("verifying a password")?;
        drop(permit);
        Ok(ok)
    }
}

/// A place in the queue, given back when dropped (also when the request is cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn join(counter: &'a AtomicUsize, bound: usize) -> Option<Queued<'a>> {
        counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < bound).then_some(n + 1)).ok()?;
        Some(Queued(counter))
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn lock(throttle: &Mutex<Throttle>) -> std::sync::MutexGuard<'_, Throttle> {
    throttle.lock().unwrap_or_else(|e| e.into_inner())
}

/// A hash of a random password, with the parameters real hashes have: what an unknown user's
/// password is checked against.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| super::hash_password(&super::new_secret("")).unwrap_or_else(|_| String::new()));

/// The throttle key of a client address: IPv6 clients usually own a whole /64.
fn address_key(client: Option<IpAddr>) -> String {
    match client {
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(ip) => ip.to_string(),
        None => "unknown".into(),
    }
}

impl Authenticator {
    /// Checks `name`'s password: the caller if it is right and the account enabled, `None` if not. Throttled names and
    /// addresses get [`ApiError::TooManyRequests`], a full queue [`ApiError::Busy`].
    pub async fn check_password(
        &self,
        name: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Option<Caller>, ApiError> {
        let address = address_key(client);
        // Names are compared as stored; a bounded key keeps the table small.
        let account: String = name.chars().take(64).collect();
        self.passwords.check_throttle(&account, &address)?;
        let row = db::users::by_name(&self.db, name).await?;
        let hash = row.as_ref().map_or_else(|| DUMMY_HASH.clone(), |r| r.password_hash.clone());
        let ok = self.passwords.verify(password.to_string(), hash).await? && row.is_some();
        self.passwords.record(&account, &address, ok);
        // A disabled account's right password counts as right for the throttle, but lets no one in.
        Ok(row.filter(|r| ok && r.disabled == 0).map(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_bound_holds_and_places_are_given_back() {
        let counter = AtomicUsize::new(0);
        let a = Queued::join(&counter, 2).unwrap();
        let b = Queued::join(&counter, 2).unwrap();
        assert!(Queued::join(&counter, 2).is_none());
        drop(a);
        assert!(Queued::join(&counter, 2).is_some());
        drop(b);
        assert_eq!(counter.load(Ordering::Acquire), 0);
    }

    #[test]
    fn v6_clients_are_throttled_per_64() {
        assert_eq!(address_key(Some("2001:db8:1:2:3::9".parse().unwrap())), "2001:db8:1:2::/64");
        assert_eq!(address_key(Some("192.0.2.1".parse().unwrap())), "192.0.2.1");
    }

    #[test]
    fn the_dummy_hash_is_a_real_argon2_hash() {
        assert!(DUMMY_HASH.starts_with("$argon2"));
        assert!(!verify_password("", &DUMMY_HASH));
    }
}
