//! The Slurm executor: each QUEUED job becomes an `sbatch` of
//! `vocloud run-job <job-dir> --attempt N`, followed with `squeue`/`scontrol` and mapped to UWS
//! phases (table in `docs/refs/slurm.md`):
//!
//! | Slurm | UWS |
//! |---|---|
//! | PENDING, CONFIGURING, REQUEUED… | QUEUED |
//! | RUNNING, COMPLETING, SUSPENDED | EXECUTING |
//! | COMPLETED | COMPLETED, or ERROR if `status.json` says the job failed |
//! | FAILED | ERROR, with run-job's message and the exit code |
//! | TIMEOUT | ERROR: execution duration exceeded (Slurm enforces it: `--time`) |
//! | CANCELLED | ABORTED |
//! | OUT_OF_MEMORY | ERROR |
//! | NODE_FAIL, PREEMPTED, BOOT_FAIL | another attempt, or ERROR (transient) after the last |
//!
//! Everything it needs is in the database (`lease_owner = slurm:<id>`) and in the job folder
//! (`status.json`), so a master restart while jobs run in Slurm loses nothing: the next poll
//! picks their outcomes up.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use vocloud_workers::Failure;

use super::commands::{self, JobState, Submission};
use super::run_job::{RunState, read_status};
use crate::config::SlurmSettings;
use crate::db::batch::{self, BatchJob};
use crate::db::now_ms;
use crate::jobs::JobService;
use crate::jobs::executor::Executor;

pub const NAME: &str = "slurm";
const OWNER_PREFIX: &str = "slurm:";

pub struct SlurmExecutor {
    settings: SlurmSettings,
    binary: PathBuf,
    /// Slurm job ids of our jobs, by vocloud job id, so ABORT can scancel at once.
    submitted: Mutex<HashMap<String, String>>,
}

fn job_name(id: &str, attempt: i64) -> String {
    format!("vocloud-{id}-a{attempt}")
}

/// Runs a blocking Slurm command off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await.context("joining a Slurm command")?
}

impl SlurmExecutor {
    pub fn new(settings: SlurmSettings) -> anyhow::Result<Arc<SlurmExecutor>> {
        let binary = match &settings.binary {
            Some(path) => path.clone(),
            None => std::env::current_exe().context("finding the vocloud binary for run-job")?,
        };
        Ok(Arc::new(SlurmExecutor { settings, binary, submitted: Mutex::new(HashMap::new()) }))
    }

    fn remember(&self, id: &str, slurm_id: &str) {
        self.submitted.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), slurm_id.to_string());
    }

    async fn run(self: Arc<Self>, service: JobService) {
        if let Err(e) = self.recover(&service).await {
            tracing::error!(error.message = %e, error.cause_chain = ?e, "recovering Slurm jobs failed");
        }
        let interval = Duration::from_millis(self.settings.poll_ms);
        loop {
            let queued = service.queued_notification();
            tokio::pin!(queued);
            queued.as_mut().enable();
            if let Err(e) = self.poll(&service).await {
                tracing::error!(error.message = %e, error.cause_chain = ?e, "following Slurm jobs failed");
            }
            if let Err(e) = self.submit_queued(&service).await {
                tracing::error!(error.message = %e, error.cause_chain = ?e, "submitting to Slurm failed");
            }
            let _ = tokio::time::timeout(interval, queued).await;
        }
    }

    /// Jobs handed over just before the master stopped, whose Slurm id was never recorded: find
    /// them by name, or put them back in the queue.
    async fn recover(&self, service: &JobService) -> anyhow::Result<()> {
        for job in batch::active_on(service.db(), NAME).await? {
            if job.lease_owner.is_some() {
                continue;
            }
            let name = job_name(&job.id, job.attempt);
            match blocking(move || commands::find_by_name(&name)).await?.first() {
                Some(slurm_id) => {
                    batch::set_lease_owner(service.db(), &job.id, job.attempt, &format!("{OWNER_PREFIX}{slurm_id}"))
                        .await?;
                }
                None => {
                    batch::release(service.db(), &job.id, job.attempt).await?;
                }
            }
        }
        Ok(())
    }

    async fn submit_queued(&self, service: &JobService) -> anyhow::Result<()> {
        let kinds: Vec<&str> = match self.settings.kinds.is_empty() {
            true => service.registry().names(),
            false => self.settings.kinds.iter().map(String::as_str).collect(),
        };
        let mut in_flight = batch::active_on(service.db(), NAME).await?.len();
        while in_flight < self.settings.max_jobs {
            let Some(job) = batch::hand_over(service.db(), NAME, &kinds).await? else { return Ok(()) };
            in_flight += 1;
            let view = crate::db::jobs::get(service.db(), &job.id).await?.context("handed-over job vanished")?;
            if let Err(e) = service.hand_quota_to_job(&job.id, &job.kind, job.owner_id).await {
                tracing::warn!(job.id = %job.id, error.message = %e, "could not hand the quota to the job");
            }
            match self.submit(service, &job, &view).await {
                Ok(slurm_id) => {
                    batch::set_lease_owner(service.db(), &job.id, job.attempt, &format!("{OWNER_PREFIX}{slurm_id}"))
                        .await?;
                    self.remember(&job.id, &slurm_id);
                    tracing::info!(job.id = %job.id, attempt = job.attempt, slurm.job = %slurm_id, "submitted to Slurm");
                }
                Err(e) => {
                    tracing::error!(job.id = %job.id, error.message = %format!("{e:#}"), "sbatch failed");
                    batch::release(service.db(), &job.id, job.attempt).await?;
                    // Leave the queue alone until the next poll: Slurm may be down.
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn submit(
        &self,
        service: &JobService,
        job: &crate::db::jobs::Claimed,
        view: &crate::db::jobs::JobRow,
    ) -> anyhow::Result<String> {
        let job_dir = service.storage().job_dir(&job.id);
        let workdir = vocloud_workers::attempt_dir(&job_dir, job.attempt);
        std::fs::create_dir_all(&workdir).context("creating the attempt's folder")?;
        let parameters = serde_json::from_str(&job.parameters).unwrap_or_default();
        let resources = service.registry().get(&job.kind).map(|k| k.resources(&parameters)).unwrap_or_default();
        let submission = Submission {
            name: job_name(&job.id, job.attempt),
            workdir,
            // Slurm counts whole minutes; round up so a job gets at least what it asked for.
            time_minutes: (view.execution_duration > 0).then(|| (view.execution_duration as u64).div_ceil(60)),
            cores: resources.cores,
            memory_mb: resources.memory_mb,
            partition: self.settings.partition.clone(),
            account: self.settings.account.clone(),
            extra_args: self.settings.extra_args.clone(),
            command: vec![
                self.binary.display().to_string(),
                "run-job".into(),
                job_dir.display().to_string(),
                "--attempt".into(),
                job.attempt.to_string(),
            ],
        };
        blocking(move || commands::sbatch(&submission)).await
    }

    /// Asks Slurm about every job it holds for us and moves the UWS phases along.
    async fn poll(&self, service: &JobService) -> anyhow::Result<()> {
        let jobs: Vec<(BatchJob, String)> = batch::active_on(service.db(), NAME)
            .await?
            .into_iter()
            .filter_map(|j| {
                let slurm_id = j.lease_owner.as_deref()?.strip_prefix(OWNER_PREFIX)?.to_string();
                Some((j, slurm_id))
            })
            .collect();
        if jobs.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = jobs.iter().map(|(_, s)| s.clone()).collect();
        let states: HashMap<String, JobState> =
            blocking(move || commands::squeue(&ids)).await?.into_iter().map(|s| (s.id.clone(), s)).collect();
        for (job, slurm_id) in jobs {
            self.remember(&job.id, &slurm_id);
            let state = match states.get(&slurm_id) {
                Some(s) if !is_final(&s.state) => Some(s.clone()),
                // Final, or forgotten by squeue: ask for the exit code, then the jobcomp file.
                _ => {
                    let id = slurm_id.clone();
                    blocking(move || Ok(commands::scontrol(&id)?.or_else(|| commands::sacct_completion(&id)))).await?
                }
            };
            self.follow(service, &job, &slurm_id, state).await?;
        }
        Ok(())
    }

    async fn follow(
        &self,
        service: &JobService,
        job: &BatchJob,
        slurm_id: &str,
        state: Option<JobState>,
    ) -> anyhow::Result<()> {
        let job_dir = service.storage().job_dir(&job.id);
        let status = read_status(&job_dir, job.attempt);
        let state_name = state.as_ref().map(|s| s.state.as_str()).unwrap_or("");
        match state_name {
            "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD" => Ok(()),
            "RUNNING" | "COMPLETING" | "SUSPENDED" | "STOPPED" => {
                if job.phase == "QUEUED" && batch::mark_started(service.db(), &job.id, job.attempt, now_ms()).await? {
                    service.events().publish(&job.id, crate::uws::ExecutionPhase::Executing);
                }
                if let Some((fraction, message)) =
                    status.and_then(|s| Some((s.progress_fraction?, s.progress_message?)))
                {
                    service.progress(&job.id, job.attempt, fraction, &message).await?;
                }
                Ok(())
            }
            _ => {
                if job.phase == "QUEUED" {
                    batch::mark_started(service.db(), &job.id, job.attempt, now_ms()).await?;
                }
                let outcome = outcome(slurm_id, state.as_ref(), status.as_ref().map(|s| (s.state, s.message.clone())));
                self.submitted.lock().unwrap_or_else(|e| e.into_inner()).remove(&job.id);
                service.record(&job.id, job.attempt, outcome).await
            }
        }
    }
}

fn is_final(state: &str) -> bool {
    !matches!(
        state,
        "PENDING"
            | "CONFIGURING"
            | "REQUEUED"
            | "REQUEUE_HOLD"
            | "REQUEUE_FED"
            | "RESV_DEL_HOLD"
            | "RUNNING"
            | "COMPLETING"
            | "SUSPENDED"
            | "STOPPED"
    )
}

/// The outcome of a finished Slurm job, from Slurm's final state and what run-job recorded.
fn outcome(
    slurm_id: &str,
    state: Option<&JobState>,
    status: Option<(RunState, Option<String>)>,
) -> Result<vocloud_workers::Outputs, Failure> {
    let exit = state.and_then(|s| s.exit_code.clone()).unwrap_or_else(|| "unknown".into());
    let recorded = |default: &str| status.as_ref().and_then(|(_, m)| m.clone()).unwrap_or_else(|| default.to_string());
    match (state.map(|s| s.state.as_str()), &status) {
        (Some("COMPLETED") | None, Some((RunState::Completed, _))) => Ok(Default::default()),
        (Some("COMPLETED") | None, Some((RunState::Failed, m))) => Err(Failure::Fatal(m.clone().unwrap_or_default())),
        (Some("COMPLETED") | None, Some((RunState::Retryable, m))) => {
            Err(Failure::Retryable(m.clone().unwrap_or_default()))
        }
        (Some("CANCELLED"), _) | (None, Some((RunState::Cancelled, _))) => Err(Failure::Cancelled),
        (Some("COMPLETED"), _) => {
            Err(Failure::Fatal(format!("Slurm job {slurm_id} completed but run-job recorded no outcome")))
        }
        (Some("FAILED"), _) => Err(Failure::Fatal(format!(
            "{} (Slurm job {slurm_id} FAILED, exit code {exit})",
            recorded("the job failed")
        ))),
        (Some("TIMEOUT"), _) => Err(Failure::Fatal(format!(
            "execution duration exceeded: Slurm stopped job {slurm_id} at its time limit (TIMEOUT)"
        ))),
        (Some("OUT_OF_MEMORY"), _) => {
            Err(Failure::Fatal(format!("out of memory (Slurm job {slurm_id} OUT_OF_MEMORY)")))
        }
        (Some(other @ ("NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL")), _) => {
            Err(Failure::Retryable(format!("Slurm job {slurm_id} ended with {other}")))
        }
        (Some(other), _) => Err(Failure::Fatal(format!("Slurm job {slurm_id} ended with {other}, exit code {exit}"))),
        (None, _) => {
            Err(Failure::Fatal(format!("Slurm no longer knows job {slurm_id} and run-job recorded no outcome")))
        }
    }
}

impl Executor for SlurmExecutor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cancel(&self, job_id: &str) {
        let Some(slurm_id) = self.submitted.lock().unwrap_or_else(|e| e.into_inner()).remove(job_id) else { return };
        tokio::task::spawn_blocking(move || {
            if let Err(e) = commands::scancel(&slurm_id) {
                tracing::warn!(slurm.job = %slurm_id, error.message = %format!("{e:#}"), "scancel failed");
            }
        });
    }

    fn start(self: Arc<Self>, service: JobService) {
        tokio::spawn(self.run(service));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(s: &str, exit: &str) -> JobState {
        JobState { id: "7".into(), state: s.into(), exit_code: Some(exit.into()) }
    }

    #[test]
    fn slurm_states_map_to_the_documented_outcomes() {
        let ok = outcome("7", Some(&state("COMPLETED", "0:0")), Some((RunState::Completed, None)));
        assert!(ok.is_ok());
        let failed = outcome("7", Some(&state("FAILED", "1:0")), Some((RunState::Failed, Some("bad input".into()))));
        assert!(matches!(failed, Err(Failure::Fatal(m)) if m == "bad input (Slurm job 7 FAILED, exit code 1:0)"));
        let timeout = outcome("7", Some(&state("TIMEOUT", "0:15")), Some((RunState::Cancelled, None)));
        assert!(matches!(timeout, Err(Failure::Fatal(m)) if m.contains("time limit")));
        assert!(matches!(outcome("7", Some(&state("CANCELLED", "0:15")), None), Err(Failure::Cancelled)));
        assert!(matches!(outcome("7", Some(&state("NODE_FAIL", "0:0")), None), Err(Failure::Retryable(_))));
        assert!(matches!(outcome("7", Some(&state("COMPLETED", "0:0")), None), Err(Failure::Fatal(_))));
        assert!(outcome("7", None, Some((RunState::Completed, None))).is_ok());
        assert!(matches!(outcome("7", None, None), Err(Failure::Fatal(m)) if m.contains("no longer knows")));
    }
}
