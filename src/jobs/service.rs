//! The job service: the only code that changes a job's phase.
//!
//! Each operation checks who asks (another user's job is `NotFound`), makes one conditional
//! database write, publishes the phase change, and tells the executor when running work must
//! stop. Executors call [`JobService::claim`], [`JobService::record`] and
//! [`JobService::progress`]; the UWS and JSON handlers call the rest.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;
use vocloud_workers::{DynKind, Failure, Outputs, Registry};

use super::events::Events;
use super::executor::Executor;
use super::{Caller, Error, JobId, Result};
use crate::config::Limits;
use crate::db::jobs::{self as store, JobRow, ListFilter, Outcome};
use crate::db::{Db, experiments, now_ms};
use crate::storage::{RelPath, ResultEntry, Storage};
use crate::uws::ExecutionPhase;
use crate::uws::params::Control;

#[derive(Clone)]
pub struct JobService {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    db: Db,
    storage: Storage,
    registry: Registry,
    limits: Limits,
    max_attempts: i64,
    events: Events,
    /// Wakes executors waiting for work when a job is queued.
    queued: Notify,
    /// Registered executors, so that an abort reaches whoever runs the job.
    executors: RwLock<Vec<Arc<dyn Executor>>>,
    /// Cached storage totals per user (see [`super::quota`]).
    pub(super) usage: super::quota::UsageCache,
}

/// A job with its parsed phase, as the protocol layers render it.
pub struct JobView {
    pub row: JobRow,
    pub phase: ExecutionPhase,
}

impl JobView {
    fn new(row: JobRow) -> JobView {
        let phase = row.phase.parse().unwrap_or(ExecutionPhase::Unknown);
        JobView { row, phase }
    }

    /// The validated parameters, in the kind's declaration order.
    pub fn parameters(&self) -> Map<String, Value> {
        serde_json::from_str(&self.row.parameters).unwrap_or_default()
    }
}

impl JobService {
    pub fn new(db: Db, storage: Storage, registry: Registry, limits: Limits, max_attempts: i64) -> Self {
        let inner = Inner {
            db,
            storage,
            registry,
            limits,
            max_attempts,
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

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn events(&self) -> &Events {
        &self.inner.events
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Registers an executor and starts it; the executor itself first deals with the jobs it was
    /// running when the master last stopped (see [`Executor::start`]).
    pub fn add_executor(&self, executor: Arc<dyn Executor>) {
        self.inner.executors.write().unwrap_or_else(|e| e.into_inner()).push(executor.clone());
        executor.start(self.clone());
    }

    fn kind(&self, name: &str) -> Result<Arc<dyn DynKind>> {
        self.inner.registry.get(name).ok_or(Error::NotFound)
    }

    /// Creates a job of `kind` from posted parameters (control parameters included).
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
            return Err(Error::NotAllowed(format!(
                "jobs of kind '{0}' run your own programs, which needs a grant: ask an admin to run \
                 `vocloud user grant {1} {0}`",
                kind.name(),
                caller.name
            )));
        }
        let parameters = self.validate(caller, kind.as_ref(), &raw)?;
        let now = now_ms();
        let id = JobId::generate();
        tracing::Span::current().record("job.id", id.as_str());
        let execution_duration =
            self.clamp_duration(control.execution_duration.unwrap_or(self.limits().default_execution_duration));
        let destruction =
            self.clamp_destruction(now, control.destruction.unwrap_or(now + self.limits().default_destruction * 1000));
        let experiment_id = match &control.experiment {
            Some(name) => Some(experiments::ensure(self.db(), caller.user_id, name, now).await?),
            None => None,
        };
        let params_json = self.params_file(kind.name(), caller, &parameters);
        let storage = self.storage().clone();
        let dir_id = id.clone();
        tokio::task::spawn_blocking(move || storage.create_job_dir(dir_id.as_str(), &params_json))
            .await
            .context("joining job-folder task")?
            .context("creating job folder")?;
        let phase = if control.run { ExecutionPhase::Queued } else { ExecutionPhase::Pending };
        let parameters_text = Value::Object(parameters).to_string();
        let row = store::NewJob {
            id: id.as_str(),
            kind: kind.name(),
            owner_id: caller.user_id,
            experiment_id,
            run_id: control.run_id.as_deref(),
            phase: phase.as_str(),
            parameters: &parameters_text,
            creation_time: now,
            execution_duration,
            destruction_time: destruction,
        };
        if let Err(e) = store::insert(self.db(), &row).await {
            let _ = self.storage().remove_job_dir(id.as_str());
            return Err(e.into());
        }
        tracing::info!(job.phase = %phase, "job created");
        if control.run {
            self.inner.queued.notify_waiters();
        }
        Ok(id)
    }

    /// Checks raw kind parameters, including that input paths exist in the caller's storage.
    fn validate(&self, caller: &Caller, kind: &dyn DynKind, raw: &[(String, String)]) -> Result<Map<String, Value>> {
        let parameters = kind.validate(&raw.to_vec())?;
        for spec in kind.parameters().iter().filter(|s| s.kind == vocloud_workers::ParamType::Path) {
            let Some(Value::String(path)) = parameters.get(spec.name) else {
                continue;
            };
            let rel = RelPath::parse(path).map_err(|e| Error::BadRequest(format!("parameter '{}': {e}", spec.name)))?;
            let full = self.storage().user_path(&caller.name, &rel).context("opening user storage")?;
            if !full.exists() {
                return Err(Error::BadRequest(format!(
                    "parameter '{}': '{path}' does not exist in your storage",
                    spec.name
                )));
            }
        }
        // Read-only: creating a job must not cost a mkdir.
        kind.check_inputs(&parameters, &self.storage().user_root(&caller.name))?;
        Ok(parameters)
    }

    fn params_file(&self, kind: &str, owner: &Caller, parameters: &Map<String, Value>) -> Vec<u8> {
        let doc = json!({ "kind": kind, "owner": owner.name, "parameters": parameters });
        serde_json::to_vec_pretty(&doc).unwrap_or_default()
    }

    fn clamp_duration(&self, seconds: i64) -> i64 {
        let max = self.limits().max_execution_duration;
        if max > 0 && (seconds == 0 || seconds > max) { max } else { seconds }
    }

    fn clamp_destruction(&self, created: i64, at: i64) -> i64 {
        at.clamp(now_ms(), created + self.limits().max_destruction * 1000)
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
    pub async fn list(&self, caller: &Caller, mut filter: ListFilter) -> Result<Vec<store::JobRef>> {
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
            phase => Err(Error::NotAllowed(format!("job is {phase}; only PENDING or HELD jobs can be run"))),
        }
    }

    /// PHASE=ABORT by a user: any active phase → ABORTED. Aborting a finished job changes nothing.
    pub async fn abort(&self, caller: &Caller, kind: &str, id: &str) -> Result<()> {
        self.get(caller, Some(kind), id).await?;
        self.abort_job(id, None).await
    }

    /// Aborts `id` with an optional reason (shown as error summary), stopping its executor.
    pub async fn abort_job(&self, id: &str, reason: Option<&str>) -> Result<()> {
        if let Some(executor) = store::abort(self.db(), id, now_ms(), reason).await? {
            tracing::info!(job.id = id, reason, "job aborted");
            self.inner.events.publish(id, ExecutionPhase::Aborted);
            if let Some(name) = executor {
                self.cancel_on(&name, id);
            }
        }
        Ok(())
    }

    fn cancel_on(&self, executor: &str, id: &str) {
        let executors = self.inner.executors.read().unwrap_or_else(|e| e.into_inner());
        for e in executors.iter().filter(|e| e.name() == executor) {
            e.cancel(id);
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
        if let Some(Some(user)) = match owner {
            Some(owner_id) => crate::db::users::by_id(self.db(), owner_id).await.ok(),
            None => None,
        } {
            self.forget_usage(&user.name);
        }
        tracing::info!(job.id = id, "job destroyed");
        Ok(())
    }

    pub async fn set_execution_duration(&self, caller: &Caller, kind: &str, id: &str, seconds: i64) -> Result<()> {
        let job = self.get(caller, Some(kind), id).await?;
        if !store::set_execution_duration(self.db(), id, self.clamp_duration(seconds)).await? {
            return Err(Error::NotAllowed(format!(
                "job is {}; its execution duration can no longer change",
                job.phase
            )));
        }
        Ok(())
    }

    pub async fn set_destruction(&self, caller: &Caller, kind: &str, id: &str, at: i64) -> Result<()> {
        let job = self.get(caller, Some(kind), id).await?;
        store::set_destruction(self.db(), id, self.clamp_destruction(job.row.creation_time, at)).await?;
        Ok(())
    }

    /// Changes parameters of a PENDING job; the whole set is validated again.
    pub async fn update_parameters(
        &self,
        caller: &Caller,
        kind: &str,
        id: &str,
        raw: Vec<(String, String)>,
    ) -> Result<()> {
        let job = self.get(caller, Some(kind), id).await?;
        if job.phase != ExecutionPhase::Pending {
            return Err(Error::NotAllowed(format!("job is {}; parameters can only change while PENDING", job.phase)));
        }
        let kind = self.kind(&job.row.kind)?;
        let mut merged: Vec<(String, String)> = job
            .parameters()
            .into_iter()
            .filter(|(name, _)| !raw.iter().any(|(n, _)| n == name))
            .map(|(name, value)| (name, vocloud_workers::params::display_value(&value)))
            .collect();
        merged.extend(raw);
        let parameters = self.validate(caller, kind.as_ref(), &merged)?;
        let owner = Caller { user_id: job.row.owner_id, name: job.row.owner_name.clone(), is_admin: false };
        self.storage()
            .rewrite_params(id, &self.params_file(kind.name(), &owner, &parameters))
            .context("rewriting params.json")?;
        if !store::set_parameters(self.db(), id, &Value::Object(parameters).to_string()).await? {
            return Err(Error::NotAllowed("job left PENDING while its parameters were updated".into()));
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

    async fn promote_results(&self, id: &str, attempt: i64) {
        let storage = self.storage().clone();
        let id_owned = id.to_string();
        let promoted = tokio::task::spawn_blocking(move || storage.promote_results(&id_owned, attempt)).await;
        if let Ok(Err(e)) | Err(e) = promoted.map_err(std::io::Error::other) {
            tracing::error!(job.id = id, attempt, error.message = %e, "publishing results failed");
        }
    }

    /// The job's result files. A finished job whose results were not published yet (the master
    /// stopped between recording the outcome and the rename) gets them published now.
    pub async fn results(&self, job: &JobView) -> Result<Vec<ResultEntry>> {
        if matches!(job.phase, ExecutionPhase::Completed | ExecutionPhase::Error) {
            self.promote_results(&job.row.id, job.row.attempt).await;
        }
        Ok(self.storage().list_results(&job.row.id).context("listing results")?)
    }

    // ---- executor side ----

    /// Waits until a job may have been queued (or `max` passes). Create the future before
    /// looking for work, so a job queued in between still wakes the caller.
    pub fn queued_notification(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.queued.notified()
    }

    /// Claims the oldest QUEUED job of `kinds` for `executor`; it becomes EXECUTING.
    pub async fn claim(
        &self,
        executor: &str,
        lease_owner: &str,
        kinds: &[&str],
        lease: Duration,
    ) -> anyhow::Result<Option<store::Claimed>> {
        let now = now_ms();
        let claimed =
            store::claim(self.db(), executor, lease_owner, kinds, now, now + lease.as_millis() as i64).await?;
        if let Some(job) = &claimed {
            tracing::info!(job.id = %job.id, job.kind = %job.kind, attempt = job.attempt, executor, "job claimed");
            self.inner.events.publish(&job.id, ExecutionPhase::Executing);
            if let Err(e) = self.hand_quota_to_job(&job.id, &job.kind, job.owner_id).await {
                // The job then runs without a quota of its own; uploads stay guarded.
                tracing::warn!(job.id = %job.id, error.message = %e, "could not hand the quota to the job");
            }
        }
        Ok(claimed)
    }

    /// Records how an attempt ended. Outcomes of attempts that no longer count (the job was
    /// aborted, destroyed or re-queued meanwhile) are dropped.
    pub async fn record(
        &self,
        id: &str,
        attempt: i64,
        outcome: std::result::Result<Outputs, Failure>,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        let (phase, error_type, message) = match &outcome {
            Ok(_) => (ExecutionPhase::Completed, None, None),
            Err(Failure::Cancelled) => (ExecutionPhase::Aborted, None, None),
            Err(Failure::Fatal(m)) => (ExecutionPhase::Error, Some("fatal"), Some(m.clone())),
            Err(Failure::Retryable(m)) => return self.requeue_or_fail(id, attempt, m).await,
        };
        let recorded = Outcome {
            phase: phase.as_str(),
            error_type,
            error_message: message.as_deref(),
            error_detail: message.as_deref(),
        };
        self.recount_before_finish(id).await;
        if store::finish(self.db(), id, attempt, now, &recorded).await? {
            tracing::info!(job.id = id, job.phase = %phase, attempt, "job finished");
            self.inner.events.publish(id, phase);
        }
        Ok(())
    }

    pub async fn progress(&self, id: &str, attempt: i64, fraction: f64, message: &str) -> anyhow::Result<()> {
        store::set_progress(self.db(), id, attempt, fraction, message).await?;
        Ok(())
    }

    /// Puts an interrupted attempt back in the queue, or ends the job in ERROR (transient) with
    /// `reason` once it has used its attempts.
    pub async fn requeue_or_fail(&self, id: &str, attempt: i64, reason: &str) -> anyhow::Result<()> {
        if attempt < self.inner.max_attempts {
            if store::requeue(self.db(), id, attempt, now_ms()).await? {
                tracing::warn!(job.id = id, attempt, reason, "attempt interrupted; job re-queued");
                self.inner.events.publish(id, ExecutionPhase::Queued);
                self.inner.queued.notify_waiters();
            }
            return Ok(());
        }
        let message = format!("{reason} (attempt {attempt} of {}); giving up", self.inner.max_attempts);
        let outcome = Outcome {
            phase: "ERROR",
            error_type: Some("transient"),
            error_message: Some(&message),
            error_detail: Some(&message),
        };
        if store::finish(self.db(), id, attempt, now_ms(), &outcome).await? {
            tracing::warn!(job.id = id, attempt, reason, "attempt interrupted; out of attempts");
            self.inner.events.publish(id, ExecutionPhase::Error);
        }
        Ok(())
    }

    /// Jobs `executor` was running when the master stopped, which nothing runs any more.
    pub async fn recover_interrupted(&self, executor: &str, reason: &str) -> anyhow::Result<()> {
        for (id, attempt) in store::executing_on(self.db(), executor).await? {
            self.requeue_or_fail(&id, attempt, reason).await?;
        }
        Ok(())
    }
}
