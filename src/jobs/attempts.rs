//! What executors ask of the job service: the life of an attempt.
//!
//! ```text
//! claim ──────────────▶ EXECUTING ─┬─ renew / progress (fenced) ─┐
//! hand_over ─▶ QUEUED ─ start ─────┘                             ├─ finish(outcome) ─▶ COMPLETED | ERROR | ABORTED
//!              (batch)  release ─▶ back in the queue, uncounted  └─ requeue_or_fail  ─▶ QUEUED (attempt + 1) | ERROR
//! ```
//!
//! A claim takes the next job by fair share (see `db::jobs::claim`) and gives it a new attempt
//! number and a [`Lease`]; every later write names that lease and changes nothing once it is
//! gone (aborted, destroyed, re-queued, held by someone else), which callers see as
//! [`Error::LeaseLost`]. The job's `params.json` snapshot is written when its first attempt is
//! handed out. An outcome ([`Outcome`]) is judged here alone: a crash of the attempt's process
//! is retried until the job has crashed `executors.max_crashes` times, running out of memory
//! ends it at once, an interruption is retried until `executors.max_attempts`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use vocloud_workers::Progress;

use super::{Error, JobService, Lease, Result};
use crate::db::jobs::{self as store, Held, Take};
use crate::db::now_ms;
use crate::runner::Outcome;
use crate::uws::ExecutionPhase;

/// An attempt handed to an executor.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub lease: Lease,
    pub kind: String,
    /// The owner's user name.
    pub owner: String,
    pub owner_id: i64,
    /// The typed parameters the job runs with.
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Seconds the job may run (0: unlimited).
    pub execution_duration: i64,
    /// The job's folder on the master's storage (holds the `params.json` snapshot).
    pub job_dir: PathBuf,
}

impl JobService {
    /// Waits until a job may have been queued. Create the future (and `enable` it) before
    /// looking for work, so a job queued in between still wakes the caller.
    pub fn queued_notification(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.queued.notified()
    }

    /// Claims the next QUEUED job of `kinds` for `executor`: it becomes EXECUTING with a new
    /// attempt, leased to `lease_owner` for `lease`.
    pub async fn claim(
        &self,
        executor: &str,
        lease_owner: &str,
        kinds: &[&str],
        lease: Duration,
    ) -> Result<Option<Claimed>> {
        let now = now_ms();
        let take = Take { executor, lease_owner, kinds, now, lease_until: now + millis(lease), phase: "EXECUTING" };
        self.take(&take).await
    }

    /// Hands the next QUEUED job of `kinds` to a batch system: it stays QUEUED (waiting in the
    /// batch system's queue) until [`JobService::start`], and its time limit is the batch
    /// system's to enforce.
    pub async fn hand_over(&self, executor: &str, lease_owner: &str, kinds: &[&str]) -> Result<Option<Claimed>> {
        let take = Take { executor, lease_owner, kinds, now: now_ms(), lease_until: i64::MAX, phase: "QUEUED" };
        self.take(&take).await
    }

    async fn take(&self, take: &Take<'_>) -> Result<Option<Claimed>> {
        let Some(row) = store::claim(self.db(), take).await? else { return Ok(None) };
        let lease = Lease { id: row.id.clone(), attempt: row.attempt, owner: take.lease_owner.to_string() };
        tracing::info!(job.id = %row.id, job.kind = %row.kind, attempt = row.attempt, executor = take.executor, "job claimed");
        if take.phase == "EXECUTING" {
            self.inner.events.publish(&row.id, ExecutionPhase::Executing);
        }
        let (owner, created) = match self.prepare(&row).await {
            Ok(prepared) => prepared,
            // The attempt cannot run without its folder: it counts as interrupted.
            Err(e) => {
                self.requeue_or_fail(&lease, &format!("preparing the job's folder: {e:#}")).await?;
                return Err(e.into());
            }
        };
        // An ABORT or DELETE between the claim and the snapshot: the lease is gone, and a folder
        // made for this attempt alone must not outlive it (a DELETE removed the folder before we
        // wrote it).
        if !store::holds(self.db(), &lease).await? {
            if created {
                let _ = self.storage().remove_job_dir(&lease.id);
            }
            return Ok(None);
        }
        Ok(Some(Claimed {
            job_dir: self.storage().job_dir(&row.id),
            lease,
            kind: row.kind,
            owner,
            owner_id: row.owner_id,
            parameters: serde_json::from_str(&row.parameters).unwrap_or_default(),
            execution_duration: row.execution_duration,
        }))
    }

    /// Makes the claimed job's folder ready for its attempt — the `params.json` snapshot, the
    /// owner's quota for kinds that use it — and returns the owner's name and whether the folder
    /// was made now.
    async fn prepare(&self, row: &store::Claimed) -> anyhow::Result<(String, bool)> {
        let owner = crate::db::users::by_id(self.db(), row.owner_id).await?.context("the job's owner is gone")?.name;
        let created = self.write_snapshot(&row.id, &row.kind, &owner, &row.parameters).await?;
        if let Err(e) = self.hand_quota_to_job(&row.id, &row.kind, row.owner_id).await {
            // The job then runs without a quota of its own; uploads stay guarded.
            tracing::warn!(job.id = %row.id, error.message = %e, "could not hand the quota to the job");
        }
        Ok((owner, created))
    }

    /// A handed-over job started running in its batch system: QUEUED → EXECUTING.
    pub async fn start(&self, lease: &Lease) -> Result<bool> {
        let started = store::start(self.db(), lease, now_ms()).await?;
        if started {
            self.inner.events.publish(&lease.id, ExecutionPhase::Executing);
        }
        Ok(started)
    }

    /// Gives a held attempt a new lease owner (a batch system's job id, once known).
    pub async fn rebind(&self, lease: &Lease, owner: &str) -> Result<Lease> {
        if !store::rebind(self.db(), lease, owner).await? {
            return Err(lease_lost(lease));
        }
        Ok(Lease { owner: owner.to_string(), ..lease.clone() })
    }

    /// Renews a running attempt's lease for `duration` and records its progress.
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when the attempt must stop (aborted, destroyed, overrun, re-queued).
    pub async fn renew(&self, lease: &Lease, duration: Duration, progress: Option<&Progress>) -> Result<()> {
        if !store::renew(self.db(), lease, now_ms() + millis(duration)).await? {
            return Err(lease_lost(lease));
        }
        if let Some(p) = progress {
            self.progress(lease, p).await?;
        }
        Ok(())
    }

    /// Records a running attempt's progress (dropped once its lease is gone).
    pub async fn progress(&self, lease: &Lease, progress: &Progress) -> Result<()> {
        let fraction = if progress.fraction.is_finite() { progress.fraction.clamp(0.0, 1.0) } else { 0.0 };
        store::set_progress(self.db(), lease, fraction, &progress.message).await?;
        Ok(())
    }

    /// Records how an attempt ended and what it means for the job.
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when the attempt no longer counts; its outcome is dropped.
    pub async fn finish(&self, lease: &Lease, outcome: Outcome) -> Result<()> {
        let max_crashes = self.inner.retry.max_crashes;
        match outcome {
            Outcome::Completed { results } => {
                let results = serde_json::to_string(&results).context("encoding results")?;
                self.record(lease, Ending::completed(results)).await
            }
            Outcome::Failed { message } => self.record(lease, Ending::error("fatal", message, false)).await,
            Outcome::Cancelled => self.record(lease, Ending::aborted()).await,
            Outcome::Retryable { message } => self.retry(lease, &message, false).await,
            Outcome::OutOfMemory { limit_mb } => {
                let limit = limit_mb.map(|mb| format!(" (limit {mb} MiB)")).unwrap_or_default();
                let message = format!("the job ran out of memory{limit}");
                self.record(lease, Ending::error("fatal", message, true)).await
            }
            Outcome::Crashed { reason } => {
                let crashes = store::get(self.db(), &lease.id).await?.map_or(0, |j| j.crashes) + 1;
                if crashes >= max_crashes {
                    let times = if crashes == 1 { "once".to_string() } else { format!("{crashes} times") };
                    let message = format!("{reason} (the job's process crashed {times}; giving up)");
                    self.record(lease, Ending::error("fatal", message, true)).await
                } else {
                    self.retry(lease, &reason, true).await
                }
            }
        }
    }

    /// Puts an interrupted attempt back in the queue, or ends the job in ERROR (transient) with
    /// `reason` once it has used its attempts.
    pub async fn requeue_or_fail(&self, lease: &Lease, reason: &str) -> Result<()> {
        self.retry(lease, reason, false).await
    }

    async fn retry(&self, lease: &Lease, reason: &str, crashed: bool) -> Result<()> {
        let max = self.inner.retry.max_attempts;
        if lease.attempt < max {
            if !store::requeue(self.db(), lease, now_ms(), crashed).await? {
                return Err(lease_lost(lease));
            }
            tracing::warn!(job.id = %lease.id, attempt = lease.attempt, reason, "attempt interrupted; job re-queued");
            self.inner.events.publish(&lease.id, ExecutionPhase::Queued);
            self.inner.queued.notify_waiters();
            return Ok(());
        }
        let message = format!("{reason} (attempt {} of {max}); giving up", lease.attempt);
        self.record(lease, Ending::error("transient", message, crashed)).await
    }

    async fn record(&self, lease: &Lease, ending: Ending) -> Result<()> {
        self.recount_before_finish(&lease.id).await;
        let outcome = store::Outcome {
            phase: ending.phase.as_str(),
            error_type: ending.error_type,
            error_message: ending.message.as_deref(),
            error_detail: ending.message.as_deref(),
            results: ending.results.as_deref(),
            crashed: ending.crashed,
        };
        if !store::finish(self.db(), lease, now_ms(), &outcome).await? {
            return Err(lease_lost(lease));
        }
        tracing::info!(job.id = %lease.id, job.phase = %ending.phase, attempt = lease.attempt, "job finished");
        if matches!(ending.phase, ExecutionPhase::Completed | ExecutionPhase::Error) {
            self.promote_results(&lease.id, lease.attempt).await;
        }
        self.inner.events.publish(&lease.id, ending.phase);
        Ok(())
    }

    /// Gives a handed-over job back to the queue, its attempt uncounted (the batch system
    /// refused it, or never got it).
    pub async fn release(&self, lease: &Lease) -> Result<()> {
        if !store::release(self.db(), lease).await? {
            return Err(lease_lost(lease));
        }
        self.inner.queued.notify_waiters();
        Ok(())
    }

    /// Whether `lease` still holds its job.
    pub async fn holds(&self, lease: &Lease) -> Result<bool> {
        Ok(store::holds(self.db(), lease).await?)
    }

    /// The active jobs `executor` holds, with their leases.
    pub async fn held_by(&self, executor: &str) -> Result<Vec<Held>> {
        Ok(store::held_by(self.db(), executor).await?)
    }

    /// The ids of the running jobs `owner` holds for `executor` (a worker's current jobs).
    pub async fn held_by_owner(&self, executor: &str, owner: &str) -> Result<Vec<String>> {
        Ok(store::held_by_owner(self.db(), executor, owner).await?)
    }

    /// Re-queues (or ends in ERROR after the last attempt) every running job of `executor`
    /// whose lease has lapsed; `reason` explains a lapse of the given lease.
    pub async fn requeue_lapsed(&self, executor: &str, reason: impl Fn(&Lease) -> String) -> Result<()> {
        for lease in store::lapsed(self.db(), executor, now_ms()).await? {
            match self.requeue_or_fail(&lease, &reason(&lease)).await {
                Ok(()) | Err(Error::LeaseLost { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Gives every running job of `executor` a fresh lease of `duration` (after a master
    /// restart, so that workers still at it can renew before anything is re-queued).
    pub async fn extend_leases(&self, executor: &str, duration: Duration) -> Result<u64> {
        Ok(store::extend_leases(self.db(), executor, now_ms() + millis(duration)).await?)
    }

    /// Jobs `executor` was running when the master stopped, which nothing runs any more.
    pub async fn recover_interrupted(&self, executor: &str, reason: &str) -> Result<()> {
        for held in store::held_by(self.db(), executor).await? {
            let Some(owner) = held.lease_owner else { continue };
            let lease = Lease { id: held.id, attempt: held.attempt, owner };
            match self.requeue_or_fail(&lease, reason).await {
                Ok(()) | Err(Error::LeaseLost { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// How an attempt's job ends.
struct Ending {
    phase: ExecutionPhase,
    error_type: Option<&'static str>,
    message: Option<String>,
    results: Option<String>,
    crashed: bool,
}

impl Ending {
    fn completed(results: String) -> Ending {
        Ending {
            phase: ExecutionPhase::Completed,
            error_type: None,
            message: None,
            results: Some(results),
            crashed: false,
        }
    }

    fn aborted() -> Ending {
        Ending { phase: ExecutionPhase::Aborted, error_type: None, message: None, results: None, crashed: false }
    }

    fn error(error_type: &'static str, message: String, crashed: bool) -> Ending {
        Ending {
            phase: ExecutionPhase::Error,
            error_type: Some(error_type),
            message: Some(message),
            results: None,
            crashed,
        }
    }
}

fn lease_lost(lease: &Lease) -> Error {
    Error::LeaseLost { job: lease.id.clone(), attempt: lease.attempt }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
