//! Per-user storage quota (`limits.user_quota_bytes`; 0 = unlimited).
//!
//! What counts: everything a user occupies on the storage root — their files (`users/<name>/`)
//! and the folders of all their jobs (`jobs/<id>/`: parameters, scratch, results), whoever wrote
//! them (uploads, `samp listen`, imports, any job kind).
//!
//! How it is counted — a walk, cached: the tree is the only truth that covers every writer
//! (remote workers and Slurm nodes write to the shared storage without telling the master), so
//! usage is a walk of those folders. A walk costs one `stat` per file (0.13 s per 100 000 files
//! with a warm cache, as fast as `du -sb`: benches/quota.rs),
//! too much for every request, so the total is cached per user for [`FRESH_FOR`] and kept exact
//! for the writes the master makes itself: a finished upload adds its size ([`JobService::charge`]),
//! a file deletion drops the cached value ([`JobService::forget_usage`]), a deleted job takes what
//! the walk counted for its folder with it, and a finished job replaces what the walk counted for
//! its folder with a walk of that folder alone, and has the owner's own folder (where imports
//! write) walked again at the next look (a user with thousands of jobs would otherwise have every
//! job's folder walked again at the next creation after each finish). Writes by a running job
//! show up within [`FRESH_FOR`] or when it finishes. A counter in the database would be cheaper
//! still, but every writer (remote workers, Slurm nodes, a crash between write and update) would
//! have to keep it exact; the walk cannot drift.
//!
//! Reserve before writing: an upload takes a [`Reservation`] before its first byte — its declared
//! `Content-Length`, or, for a chunked body, each chunk as it streams — and reservations count as
//! used until the upload is committed (its size joins the cached total) or dropped (an error, a
//! disconnect). So concurrent uploads cannot together pass the quota: with 20 MB left, eight
//! 15 MB uploads give one 201 and seven 413s. (A walk during an upload sees its partial file as
//! well as its reservation: counted twice for a moment, never too little.)
//!
//! Where it is enforced: uploads (`PUT /api/files`, refused with 413 and the numbers), imports
//! (the job gets its owner's usage at claim time in `jobs/<id>/quota.json` and stops downloading
//! before it would pass the quota), and job creation through [`JobService::check_quota`]. Other
//! jobs are not stopped mid-run: a job that pushes its owner past the quota completes,
//! `GET /api/quota` then shows `over_quota: true`, and uploads, imports and new jobs are refused
//! until space is freed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use super::JobService;
use crate::db::jobs as store;

/// How long a walked total is trusted.
const FRESH_FOR: Duration = Duration::from_secs(10);

/// The file in a job's folder that tells the job its owner's quota and usage at claim time.
pub const QUOTA_FILE: &str = "quota.json";

/// A user's storage use against their quota, as `GET /api/quota` shows it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    /// Bytes used.
    pub used: u64,
    /// Bytes promised to uploads in progress.
    pub reserved: u64,
    /// The quota in bytes; `None` when unlimited.
    pub quota: Option<u64>,
}

impl Usage {
    /// Bytes that may still be written (`u64::MAX` when unlimited).
    pub fn available(&self) -> u64 {
        self.quota.map_or(u64::MAX, |q| q.saturating_sub(self.used.saturating_add(self.reserved)))
    }

    pub fn over_quota(&self) -> bool {
        self.quota.is_some_and(|q| self.used > q)
    }

    /// "you use X of your Y byte quota", for error messages.
    pub fn describe(&self) -> String {
        match self.quota {
            Some(q) => format!(
                "you use {} of your {} byte storage quota ({} bytes reserved by uploads in progress, {} bytes free)",
                self.used,
                q,
                self.reserved,
                self.available()
            ),
            None => format!("you use {} bytes (no quota)", self.used),
        }
    }
}

/// Walked totals by user name, with the time of the walk, and the reservations in flight.
#[derive(Default)]
pub struct UsageCache(Mutex<Users>);

#[derive(Default)]
struct Users {
    walked: HashMap<String, Walked>,
    reserved: HashMap<String, u64>,
}

/// A user's total from a walk, and their quota read with it: both are trusted for
/// [`FRESH_FOR`], so that creating a job asks the database nothing about quotas (a query per
/// creation cost a fifth of the creation throughput). A quota changed by an admin applies at
/// once: the change drops the entry ([`JobService::forget_usage`]).
struct Walked {
    quota: Option<u64>,
    at: Instant,
    /// Bytes of the user's own folder (`users/<name>/`)…
    user_files: u64,
    /// … and of each of their job folders, with their sum: the total is the two sums.
    jobs: HashMap<String, u64>,
    jobs_total: u64,
    /// A job has ended since `user_files` was walked (it may have written there).
    files_changed: bool,
}

impl Walked {
    fn used(&self) -> u64 {
        self.user_files.saturating_add(self.jobs_total)
    }

    /// Counts job `id`'s folder as `size` bytes (None: the folder is gone).
    fn set_job(&mut self, id: &str, size: Option<u64>) {
        let before = match size {
            Some(size) => self.jobs.insert(id.to_string(), size),
            None => self.jobs.remove(id),
        };
        self.jobs_total = self.jobs_total.saturating_sub(before.unwrap_or(0)).saturating_add(size.unwrap_or(0));
    }
}

impl UsageCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Users> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Quota space promised to one upload; given back when dropped unless [committed](Self::commit).
pub struct Reservation {
    service: JobService,
    name: String,
    /// The user's quota when the reservation was made (their own, or the default).
    quota: Option<u64>,
    held: u64,
}

impl Reservation {
    /// Grows the reservation to `total` bytes, if that fits; else the usage that refused it.
    pub fn grow_to(&mut self, total: u64) -> Result<(), Usage> {
        if total <= self.held {
            return Ok(());
        }
        let quota = self.quota;
        let mut users = self.service.inner.usage.lock();
        let used = users.walked.get(&self.name).map_or(0, Walked::used);
        let reserved = users.reserved.get(&self.name).copied().unwrap_or(0);
        let usage = Usage { used, reserved, quota };
        if total - self.held > usage.available() {
            return Err(usage);
        }
        *users.reserved.entry(self.name.clone()).or_default() += total - self.held;
        self.held = total;
        Ok(())
    }

    /// The upload is in place and changed the user's total by `delta` bytes (negative when it
    /// replaced a larger file): the cached total takes it, the reservation is given back.
    pub fn commit(self, delta: i64) {
        self.service.charge(&self.name, delta);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut users = self.service.inner.usage.lock();
        if let Some(r) = users.reserved.get_mut(&self.name) {
            *r = r.saturating_sub(self.held);
            if *r == 0 {
                users.reserved.remove(&self.name);
            }
        }
    }
}

/// Why a new job or upload is refused: the owner's storage is full.
#[derive(Debug)]
pub struct OverQuota(pub Usage);

impl std::fmt::Display for OverQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "storage quota exceeded: {}; delete files or job results to free space", self.0.describe())
    }
}

impl std::error::Error for OverQuota {}

impl From<OverQuota> for crate::error::ApiError {
    fn from(e: OverQuota) -> Self {
        crate::error::ApiError::TooLarge(e.to_string())
    }
}

impl JobService {
    /// The user's own quota (set by an admin) or else the service default; `None` is unlimited.
    async fn quota_bytes(&self, user_id: i64) -> anyhow::Result<Option<u64>> {
        let own = crate::db::accounts::quota_bytes(self.db(), user_id).await?;
        let bytes = own.map_or(self.limits().user_quota_bytes, |q| q.max(0) as u64);
        Ok(Some(bytes).filter(|&q| q > 0))
    }

    /// The user's usage and quota: the cached ones if fresh, else a walk and a look at the quota.
    pub async fn usage(&self, user_id: i64, name: &str) -> anyhow::Result<Usage> {
        let cache = &self.inner.usage;
        let cached = cache.lock().walked.get(name).map(|w| (w.used(), w.quota, w.at, w.files_changed));
        let (used, quota) = match cached {
            Some((used, quota, at, false)) if at.elapsed() < FRESH_FOR => (used, quota),
            Some((_, quota, at, true)) if at.elapsed() < FRESH_FOR => {
                // A job has ended since: only the user's own folder is walked again.
                let own = self.storage().user_root(name);
                let user_files = tokio::task::spawn_blocking(move || crate::storage::tree_size(&own))
                    .await
                    .context("joining the usage walk")?;
                let updated = cache.lock().walked.get_mut(name).map(|walked| {
                    (walked.user_files, walked.files_changed) = (user_files, false);
                    walked.used()
                });
                match updated {
                    Some(used) => (used, quota),
                    // Dropped meanwhile (a deletion, a new quota): walk everything.
                    None => return Box::pin(self.usage(user_id, name)).await,
                }
            }
            _ => {
                let jobs = store::ids_of_owner(self.db(), user_id).await?;
                let storage = self.storage().clone();
                let user = name.to_string();
                let at = Instant::now();
                let (user_files, jobs) =
                    tokio::task::spawn_blocking(move || crate::storage::usage(&storage, &user, jobs))
                        .await
                        .context("joining the usage walk")?;
                let jobs_total = jobs.values().fold(0, |total: u64, size| total.saturating_add(*size));
                let quota = self.quota_bytes(user_id).await?;
                let walked = Walked { quota, at, user_files, jobs, jobs_total, files_changed: false };
                let used = walked.used();
                tracing::debug!(user = name, used, elapsed_ms = at.elapsed().as_millis() as u64, "usage walked");
                cache.lock().walked.insert(name.to_string(), walked);
                (used, quota)
            }
        };
        let reserved = cache.lock().reserved.get(name).copied().unwrap_or(0);
        Ok(Usage { used, reserved, quota })
    }

    /// Reserves `bytes` of the user's quota for an upload, or the usage that refuses it.
    ///
    /// # Errors
    /// Walking the user's storage failed.
    pub async fn reserve(&self, user_id: i64, name: &str, bytes: u64) -> anyhow::Result<Result<Reservation, Usage>> {
        // A fresh walked total first (outside the lock: the walk may take a while).
        let quota = self.usage(user_id, name).await?.quota;
        let mut reservation = Reservation { service: self.clone(), name: name.to_string(), quota, held: 0 };
        Ok(reservation.grow_to(bytes).map(|()| reservation))
    }

    /// For job creation (and anything else that would write for the user): `Ok(Err(OverQuota))`
    /// with the numbers when the user's storage is full, counting uploads in progress.
    ///
    /// # Errors
    /// Walking the user's storage failed.
    pub async fn check_quota(&self, user_id: i64, name: &str) -> anyhow::Result<Result<(), OverQuota>> {
        let usage = self.usage(user_id, name).await?;
        Ok(if usage.quota.is_some() && usage.available() == 0 { Err(OverQuota(usage)) } else { Ok(()) })
    }

    /// Adjusts the cached total after a write the master made itself (an upload of `delta` bytes,
    /// negative when it replaced a larger file).
    pub fn charge(&self, name: &str, delta: i64) {
        if let Some(walked) = self.inner.usage.lock().walked.get_mut(name) {
            walked.user_files = walked.user_files.saturating_add_signed(delta);
        }
    }

    /// Drops the cached total and quota, so the next look walks again (after deletions, finished
    /// jobs, a new quota).
    pub fn forget_usage(&self, name: &str) {
        self.inner.usage.lock().walked.remove(name);
    }

    /// Tells a just-claimed job its owner's quota and current usage (`jobs/<id>/quota.json`, read
    /// by `JobContext::quota`), when its kind [uses it](vocloud_workers::Kind::USES_QUOTA). Every executor claims through the master and shares the
    /// storage, so this one file reaches local, fleet and Slurm runs alike.
    pub(crate) async fn hand_quota_to_job(&self, id: &str, kind: &str, owner_id: i64) -> anyhow::Result<()> {
        if !self.registry().get(kind).is_some_and(|k| k.uses_quota()) {
            return Ok(());
        }
        let owner = crate::db::users::by_id(self.db(), owner_id).await?.context("the job's owner is gone")?;
        self.forget_usage(&owner.name);
        let usage = self.usage(owner_id, &owner.name).await?;
        let doc = serde_json::json!({ "quota": usage.quota, "used": usage.used });
        let path = self.storage().job_dir(id).join(QUOTA_FILE);
        tokio::task::spawn_blocking(move || crate::storage::write_atomic(&path, doc.to_string().as_bytes()))
            .await
            .context("joining the quota write")?
            .context("writing the job's quota file")
    }

    /// After a job's folder is deleted: its size leaves the owner's cached total.
    pub(super) fn uncount_job(&self, name: &str, id: &str) {
        if let Some(walked) = self.inner.usage.lock().walked.get_mut(name) {
            walked.set_job(id, None);
        }
    }

    /// Before a job's end is published: the owner's cached total counts the job's folder as it
    /// is now, and their own folder (where imports and users' programs write) is walked again at
    /// the next look, so whoever looks once the job is over sees its results counted. The
    /// owner's other job folders are not walked again, and the own folder not here: finishing
    /// stays cheap for users with many jobs or files, and so does their next look.
    pub(super) async fn recount_before_finish(&self, id: &str) {
        let Ok(Some(owner)) = store::owner_of(self.db(), id).await else { return };
        if !self.inner.usage.lock().walked.contains_key(&owner) {
            return; // nothing cached: the next look walks everything anyway
        }
        let folder = self.storage().job_dir(id);
        let Ok(job) = tokio::task::spawn_blocking(move || crate::storage::tree_size(&folder)).await else {
            self.forget_usage(&owner);
            return;
        };
        if let Some(walked) = self.inner.usage.lock().walked.get_mut(&owner) {
            walked.set_job(id, Some(job));
            walked.files_changed = true;
        }
    }
}
