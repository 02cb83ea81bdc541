//! The job service: the one owner of a job's life, and what handlers ask of it.
//!
//! Each operation checks who asks (another user's job is `NotFound`), makes one conditional
//! database write, publishes the phase change, and tells the executor when running work must
//! stop. Handlers (UWS, web pages, JSON) call the methods here; executors call those in
//! [`super::attempts`]. Nobody else touches the `jobs` table.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::sync::Notify;
use vocloud_workers::{DynKind, Registry};

use super::commit::Committer;
use super::events::Events;
use super::executor::Executor;
use super::{Caller, Error, JobId, JobRef, JobView, ListFilter, Result};
use crate::config::Limits;
use crate::db::jobs::{self as store, NewJob, Released};
use crate::db::{Db, experiments, now_ms};
use crate::storage::Storage;
use crate::uws::ExecutionPhase;
use crate::uws::params::Control;

#[derive(Clone)]
pub struct JobService {
    pub(super) inner: Arc<Inner>,
}

/// When an interrupted or crashed attempt gets another try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts a job gets in all (`executors.max_attempts`).
    pub max_attempts: i64,
    /// Crashes of a job's process after which it ends in ERROR (`executors.max_crashes`).
    pub max_crashes: i64,
}

pub(super) struct Inner {
    pub(super) db: Db,
    pub(super) storage: Storage,
    pub(super) registry: Registry,
    pub(super) limits: Limits,
    pub(super) retry: RetryPolicy,
    pub(super) events: Events,
    /// Wakes executors waiting for work when a job is queued.
    pub(super) queued: Notify,
    /// Registered executors, so that an abort reaches whoever runs the job.
    executors: RwLock<Vec<Arc<dyn Executor>>>,
    /// Cached storage totals per user (see [`super::quota`]).
    pub(super) usage: super::quota::UsageCache,
    /// Inserts new jobs, grouping concurrent creations into one commit.
    committer: Committer,
}

/// A file of a job's results, as UWS lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultView {
    pub name: String,
    pub size: u64,
    /// The type the kind declared for it, else one guessed from the file name.
    pub mime_type: String,
}

impl JobService {
    pub fn new(db: Db, storage: Storage, registry: Registry, limits: Limits, retry: RetryPolicy) -> Self {
        let inner = Inner {
            committer: Committer::start(db.clone()),
            db,
            storage,
            registry,
            limits,
            retry,
            events: Events::new(),
            queued: Notify::new(),
            executors: RwLock::new(Vec::new()),
            usage: Default::default(),
        };
        JobService { inner: Arc::new(inner) }
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// The database, for the modules of `jobs` only: everyone else asks the service.
    pub(super) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn events(&self) -> &Events {
        &self.inner.events
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Whether the database answers (health checks).
    pub async fn database_ok(&self) -> anyhow::Result<()> {
        self.db().ping().await
    }

    /// Registers an executor and starts it; the executor itself first deals with the jobs it was
    /// running when the master last stopped (see [`Executor::start`]).
    pub fn add_executor(&self, executor: Arc<dyn Executor>) {
        self.inner.executors.write().unwrap_or_else(|e| e.into_inner()).push(executor.clone());
        executor.start(self.clone());
    }

    pub(super) fn kind(&self, name: &str) -> Result<Arc<dyn DynKind>> {
        self.inner.registry.get(name).ok_or(Error::NotFound)
    }

    /// Creates a job of `kind` from posted parameters (control parameters split off). Refused
    /// while the caller is over their storage quota, or when the kind's memory estimate exceeds
    /// `limits.max_job_memory_mb`. No folder and no file is made: the job's folder appears when
    /// its first attempt is handed out.
    #[tracing::instrument(skip_all, fields(job.kind = kind, job.id = tracing::field::Empty))]
    pub async fn create(
        &self,
        caller: &Caller,
        kind: &str,
        control: Control,
        raw: Vec<(String, String)>,
    ) -> Result<JobId> {
        let kind = self.kind(kind)?;
        if kind.runs_user_code()
            && !caller.is_admin
            && !crate::db::users::has_grant(self.db(), caller.user_id, kind.name()).await?
        {
            return Err(Error::NeedsGrant { kind: kind.name().to_string(), user: caller.name.clone() });
        }
        self.refuse_over_quota(caller).await?;
        let parameters = self.validate(kind.as_ref(), &caller.name, raw)?;
        let now = now_ms();
        let id = JobId::generate();
        tracing::Span::current().record("job.id", id.as_str());
        let limits = self.limits();
        let execution_duration = clamp_duration(
            limits.max_execution_duration,
            control.execution_duration.unwrap_or(limits.default_execution_duration),
        );
        let wanted = control.destruction.unwrap_or(now + limits.default_destruction * 1000);
        let destruction = clamp_destruction(now, now, wanted, limits.max_destruction);
        let experiment_id = match &control.experiment {
            Some(name) => Some(experiments::ensure(self.db(), caller.user_id, name, now).await?),
            None => None,
        };
        let phase = if control.run { ExecutionPhase::Queued } else { ExecutionPhase::Pending };
        let row = NewJob {
            id: id.as_str().to_string(),
            kind: kind.name().to_string(),
            owner_id: caller.user_id,
            experiment_id,
            run_id: control.run_id,
            phase: phase.as_str(),
            parameters: Value::Object(parameters.typed).to_string(),
            posted_parameters: Value::Object(parameters.posted).to_string(),
            creation_time: now,
            execution_duration,
            destruction_time: destruction,
        };
        self.inner.committer.insert(row).await?;
        tracing::info!(job.phase = %phase, "job created");
        if control.run {
            self.inner.queued.notify_waiters();
        }
        Ok(id)
    }

    /// Over quota, nothing new: a job writes its results into the owner's storage.
    async fn refuse_over_quota(&self, caller: &Caller) -> Result<()> {
        if self.limits().user_quota_bytes == 0 {
            return Ok(());
        }
        let usage = self.usage(caller.user_id, &caller.name).await?;
        if usage.over_quota() { Err(Error::OverQuota { usage }) } else { Ok(()) }
    }

    /// The job, if the caller may see it and it is of `kind` (when given).
    pub async fn get(&self, caller: &Caller, kind: Option<&str>, id: &str) -> Result<JobView> {
        let Some(_) = JobId::parse(id) else {
            return Err(Error::NotFound);
        };
        let row = store::get(self.db(), id).await?.ok_or(Error::NotFound)?;
        if !caller.may_access(row.owner_id) || kind.is_some_and(|k| k != row.kind) {
            return Err(Error::NotFound);
        }
        Ok(JobView::new(row))
    }

    /// Jobs the caller may see (admins see everyone's).
    pub async fn list(&self, caller: &Caller, mut filter: ListFilter) -> Result<Vec<JobRef>> {
        if !caller.is_admin {
            filter.owner_id = Some(caller.user_id);
        }
        Ok(store::list(self.db(), &filter).await?)
    }

    /// PHASE=RUN: PENDING or HELD → QUEUED. Already queued or running is fine (idempotent);
    /// finished jobs cannot run again.
    pub async fn run(&self, caller: &Caller, kind: &str, id: &str) -> Result<()> {
        let job = self.get(caller, Some(kind), id).await?;
        if store::queue(self.db(), id, now_ms()).await? {
            tracing::info!(job.id = id, "job queued");
            self.inner.events.publish(id, ExecutionPhase::Queued);
            self.inner.queued.notify_waiters();
            return Ok(());
        }
        match job.phase {
            ExecutionPhase::Queued | ExecutionPhase::Executing => Ok(()),
            phase => Err(Error::NotAllowed { phase, rule: "only PENDING or HELD jobs can be run" }),
        }
    }

    /// PHASE=ABORT by a user: any active phase → ABORTED. Aborting a finished job changes nothing.
    pub async fn abort(&self, caller: &Caller, kind: &str, id: &str) -> Result<()> {
        self.get(caller, Some(kind), id).await?;
        self.abort_job(id, None).await
    }

    /// Aborts `id` with an optional reason (shown as error summary), stopping its executor.
    pub async fn abort_job(&self, id: &str, reason: Option<&str>) -> Result<()> {
        if let Some(released) = store::abort(self.db(), id, now_ms(), reason).await? {
            tracing::info!(job.id = id, reason, "job aborted");
            self.inner.events.publish(id, ExecutionPhase::Aborted);
            self.cancel_on(id, &released);
        }
        Ok(())
    }

    fn cancel_on(&self, id: &str, released: &Released) {
        let Some(name) = &released.executor else { return };
        let executors = self.inner.executors.read().unwrap_or_else(|e| e.into_inner());
        for e in executors.iter().filter(|e| e.name() == name) {
            e.cancel(id, released.lease_owner.as_deref());
        }
    }

    /// DELETE: aborts the job if it runs, then forgets it and deletes its files.
    pub async fn destroy(&self, caller: &Caller, kind: &str, id: &str) -> Result<()> {
        self.get(caller, Some(kind), id).await?;
        self.destroy_job(id).await
    }

    /// Destroys `id`: files first, then the row, so a crash in between leaves a row the reaper
    /// destroys again rather than files nobody knows about.
    pub async fn destroy_job(&self, id: &str) -> Result<()> {
        self.abort_job(id, Some("job destroyed")).await?;
        let owner = store::owner_of(self.db(), id).await?;
        let storage = self.storage().clone();
        let dir_id = id.to_string();
        tokio::task::spawn_blocking(move || storage.remove_job_dir(&dir_id))
            .await
            .context("joining delete task")?
            .context("deleting job folder")?;
        store::delete(self.db(), id).await?;
        if let Some(owner) = owner {
            self.uncount_job(&owner, id);
        }
        tracing::info!(job.id = id, "job destroyed");
        Ok(())
    }

    pub async fn set_execution_duration(&self, caller: &Caller, kind: &str, id: &str, seconds: i64) -> Result<()> {
        let job = self.get(caller, Some(kind), id).await?;
        let seconds = clamp_duration(self.limits().max_execution_duration, seconds);
        if !store::set_execution_duration(self.db(), id, seconds).await? {
            return Err(Error::NotAllowed { phase: job.phase, rule: "its execution duration can no longer change" });
        }
        Ok(())
    }

    pub async fn set_destruction(&self, caller: &Caller, kind: &str, id: &str, at: i64) -> Result<()> {
        let job = self.get(caller, Some(kind), id).await?;
        let at = clamp_destruction(now_ms(), job.row.creation_time, at, self.limits().max_destruction);
        store::set_destruction(self.db(), id, at).await?;
        Ok(())
    }

    /// Changes parameters of a PENDING job: the posted values are merged and the whole set is
    /// validated again, input paths against the job *owner's* storage (an admin may edit a
    /// user's job); then one conditional update, which fails if the job left PENDING meanwhile.
    pub async fn update_parameters(
        &self,
        caller: &Caller,
        kind: &str,
        id: &str,
        raw: Vec<(String, String)>,
    ) -> Result<()> {
        let job = self.get(caller, Some(kind), id).await?;
        let not_pending = |phase| Error::NotAllowed { phase, rule: "parameters can only change while PENDING" };
        if job.phase != ExecutionPhase::Pending {
            return Err(not_pending(job.phase));
        }
        let kind = self.kind(&job.row.kind)?;
        let mut merged: Vec<(String, String)> = job
            .posted_parameters()
            .into_iter()
            .filter(|(name, _)| !raw.iter().any(|(n, _)| n == name))
            .map(|(name, value)| (name, vocloud_workers::params::display_value(&value)))
            .collect();
        merged.extend(raw);
        let parameters = self.validate(kind.as_ref(), &job.row.owner_name, merged)?;
        let typed = Value::Object(parameters.typed).to_string();
        let posted = Value::Object(parameters.posted).to_string();
        if !store::set_parameters(self.db(), id, &typed, &posted).await? {
            let now = self.get(caller, Some(&job.row.kind), id).await?.phase;
            return Err(not_pending(now));
        }
        Ok(())
    }

    pub async fn set_annotations(&self, caller: &Caller, id: &str, label: &str, notes: &str) -> Result<()> {
        self.get(caller, None, id).await?;
        store::set_annotations(self.db(), id, label, notes).await?;
        Ok(())
    }

    /// Blocking WAIT (UWS 2.2.1.2): returns the job once its phase differs from what it was at
    /// the call, after `timeout`, or at once if the job is not active or not in `in_phase`.
    pub async fn wait(
        &self,
        caller: &Caller,
        kind: &str,
        id: &str,
        timeout: Duration,
        in_phase: Option<ExecutionPhase>,
    ) -> Result<JobView> {
        let mut events = self.inner.events.subscribe();
        let job = self.get(caller, Some(kind), id).await?;
        let start = job.phase;
        if !start.is_active() || in_phase.is_some_and(|p| p != start) || timeout.is_zero() {
            return Ok(job);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_elapsed) => break,
                Ok(Ok(event)) if event.id != id || event.phase == start => continue,
                // A phase change of this job, a lagging receiver, or a closed channel: re-read.
                Ok(_) => {
                    let job = self.get(caller, Some(kind), id).await?;
                    if job.phase != start {
                        return Ok(job);
                    }
                }
            }
        }
        self.get(caller, Some(kind), id).await
    }

    /// Makes the staged results of `attempt` the job's results (see `Storage::promote_results`).
    pub(super) async fn promote_results(&self, id: &str, attempt: i64) {
        let storage = self.storage().clone();
        let id_owned = id.to_string();
        let promoted = tokio::task::spawn_blocking(move || storage.promote_results(&id_owned, attempt)).await;
        if let Ok(Err(e)) | Err(e) = promoted.map_err(std::io::Error::other) {
            tracing::error!(job.id = id, attempt, error.message = %e, "publishing results failed");
        }
    }

    /// The job's result files with their MIME types (the kind's, where it declared them). A
    /// finished job whose results were not published yet (the master stopped between recording
    /// the outcome and the rename) gets them published now.
    pub async fn results(&self, job: &JobView) -> Result<Vec<ResultView>> {
        if matches!(job.phase, ExecutionPhase::Completed | ExecutionPhase::Error) {
            self.promote_results(&job.row.id, job.row.attempt).await;
        }
        let declared = job.declared_results();
        let files = self.storage().list_results(&job.row.id).context("listing results")?;
        Ok(files
            .into_iter()
            .map(|f| {
                let mime_type = match declared.iter().find(|d| d.name == f.name) {
                    Some(d) => d.mime_type.clone(),
                    None => f.mime_type.to_string(),
                };
                ResultView { name: f.name, size: f.size, mime_type }
            })
            .collect())
    }
}

/// An execution duration within the service's cap (`max` > 0); 0 (unlimited) becomes the cap.
fn clamp_duration(max: i64, seconds: i64) -> i64 {
    if max > 0 && (seconds == 0 || seconds > max) { max } else { seconds }
}

/// A destruction time no later than `created + max_seconds` and not in the past — unless the
/// latest allowed time itself has passed, which then wins (the job is due for destruction).
fn clamp_destruction(now: i64, created: i64, at: i64, max_seconds: i64) -> i64 {
    let latest = created.saturating_add(max_seconds.saturating_mul(1000));
    at.clamp(now.min(latest), latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destruction_is_clamped_even_when_the_latest_time_has_passed() {
        let (now, day) = (1_000_000_000_000, 86_400_000);
        assert_eq!(clamp_destruction(now, now, now + day, 365 * 86_400), now + day);
        assert_eq!(clamp_destruction(now, now, now - day, 365 * 86_400), now, "not in the past");
        assert_eq!(clamp_destruction(now, now, now + 400 * day, 365 * 86_400), now + 365 * day);
        // Created two days ago with a one-day maximum: the latest time lies before now.
        let created = now - 2 * day;
        assert_eq!(clamp_destruction(now, created, now + day, 86_400), created + day);
        assert_eq!(clamp_destruction(now, created, now - 5 * day, 86_400), created + day);
    }

    #[test]
    fn execution_durations_respect_the_cap() {
        assert_eq!(clamp_duration(100, 0), 100);
        assert_eq!(clamp_duration(100, 500), 100);
        assert_eq!(clamp_duration(100, 50), 50);
        assert_eq!(clamp_duration(0, 0), 0);
    }
}
