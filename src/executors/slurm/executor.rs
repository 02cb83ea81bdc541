//! The Slurm executor: each QUEUED job becomes an `sbatch` of
//! `vocloud run-job <job-dir> --attempt N`, followed with `squeue`/`scontrol` and mapped to UWS
//! phases (table in `docs/refs/slurm.md`):
//!
//! | Slurm | UWS |
//! |---|---|
//! | PENDING, CONFIGURING, REQUEUED… | QUEUED |
//! | RUNNING, COMPLETING, SUSPENDED | EXECUTING |
//! | COMPLETED | what run-job recorded in `status.json` (COMPLETED, or ERROR if the job failed) |
//! | FAILED | run-job's outcome with the exit code; a signal without one is a crash |
//! | TIMEOUT | ERROR: execution duration exceeded (Slurm enforces it: `--time`) |
//! | CANCELLED | ABORTED |
//! | OUT_OF_MEMORY | ERROR |
//! | NODE_FAIL, PREEMPTED, BOOT_FAIL | another attempt, or ERROR (transient) after the last |
//!
//! Everything it needs is in the database (the lease owner is `slurm:<id>`) and in the job folder
//! (`status.json`), so a master restart while jobs run in Slurm loses nothing: the next poll
//! picks their outcomes up. Every phase change goes through the job service: hand over,
//! start, finish, release, each fenced by the attempt and its lease.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::commands::{self, JobState, Submission};
use crate::config::SlurmSettings;
use crate::jobs::executor::Executor;
use crate::jobs::{Claimed, Error, JobService, Lease};
use crate::runner::{Outcome, status};

pub const NAME: &str = "slurm";
const OWNER_PREFIX: &str = "slurm:";
/// The lease owner of a job handed over but not yet submitted (its Slurm id is not known).
const SUBMITTING: &str = "slurm";
/// What `vocloud run-job` itself holds beside the kind (runtime, libraries), added to the kind's
/// estimate for `--mem`.
const RUN_JOB_BASELINE_MB: u64 = 256;

pub struct SlurmExecutor {
    settings: SlurmSettings,
    binary: PathBuf,
}

fn job_name(id: &str, attempt: i64) -> String {
    format!("vocloud-{id}-a{attempt}")
}

/// Runs a blocking Slurm command off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await.context("joining a Slurm command")?
}

/// The Slurm job id in a lease owner `slurm:<id>`.
fn slurm_id(owner: &str) -> Option<&str> {
    owner.strip_prefix(OWNER_PREFIX)
}

/// A lost lease only means the job moved on meanwhile (aborted, destroyed): nothing to do.
fn unless_lost(result: Result<(), Error>) -> anyhow::Result<()> {
    match result {
        Ok(()) | Err(Error::LeaseLost { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl SlurmExecutor {
    pub fn new(settings: SlurmSettings) -> anyhow::Result<std::sync::Arc<SlurmExecutor>> {
        let binary = match &settings.binary {
            Some(path) => path.clone(),
            None => std::env::current_exe().context("finding the vocloud binary for run-job")?,
        };
        Ok(std::sync::Arc::new(SlurmExecutor { settings, binary }))
    }

    async fn run(self: std::sync::Arc<Self>, jobs: JobService) {
        if let Err(e) = self.recover(&jobs).await {
            tracing::error!(error.message = %e, error.cause_chain = ?e, "recovering Slurm jobs failed");
        }
        let interval = Duration::from_millis(self.settings.poll_ms);
        loop {
            let queued = jobs.queued_notification();
            tokio::pin!(queued);
            queued.as_mut().enable();
            if let Err(e) = self.poll(&jobs).await {
                tracing::error!(error.message = %e, error.cause_chain = ?e, "following Slurm jobs failed");
            }
            if let Err(e) = self.submit_queued(&jobs).await {
                tracing::error!(error.message = %e, error.cause_chain = ?e, "submitting to Slurm failed");
            }
            let _ = tokio::time::timeout(interval, queued).await;
        }
    }

    /// Jobs handed over just before the master stopped, whose Slurm id was never recorded: find
    /// them by name, or put them back in the queue.
    async fn recover(&self, jobs: &JobService) -> anyhow::Result<()> {
        for held in jobs.held_by(NAME).await? {
            if held.lease_owner.as_deref() != Some(SUBMITTING) {
                continue;
            }
            let lease = Lease { id: held.id, attempt: held.attempt, owner: SUBMITTING.into() };
            let name = job_name(&lease.id, lease.attempt);
            match blocking(move || commands::find_by_name(&name)).await?.first() {
                Some(slurm_id) => {
                    unless_lost(jobs.rebind(&lease, &format!("{OWNER_PREFIX}{slurm_id}")).await.map(drop))?
                }
                None => unless_lost(jobs.release(&lease).await)?,
            }
        }
        Ok(())
    }

    async fn submit_queued(&self, jobs: &JobService) -> anyhow::Result<()> {
        let kinds: Vec<&str> = match self.settings.kinds.is_empty() {
            true => jobs.registry().names(),
            false => self.settings.kinds.iter().map(String::as_str).collect(),
        };
        let mut in_flight = jobs.held_by(NAME).await?.len();
        while in_flight < self.settings.max_jobs {
            let Some(job) = jobs.hand_over(NAME, SUBMITTING, &kinds).await? else { return Ok(()) };
            in_flight += 1;
            match self.submit(jobs, &job).await {
                Ok(slurm_id) => {
                    unless_lost(jobs.rebind(&job.lease, &format!("{OWNER_PREFIX}{slurm_id}")).await.map(drop))?;
                    tracing::info!(job.id = %job.lease.id, attempt = job.lease.attempt, slurm.job = %slurm_id, "submitted to Slurm");
                }
                Err(e) => {
                    tracing::error!(job.id = %job.lease.id, error.message = %format!("{e:#}"), "sbatch failed");
                    unless_lost(jobs.release(&job.lease).await)?;
                    // Leave the queue alone until the next poll: Slurm may be down.
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn submit(&self, jobs: &JobService, job: &Claimed) -> anyhow::Result<String> {
        let workdir = vocloud_workers::attempt_dir(&job.job_dir, job.lease.attempt);
        std::fs::create_dir_all(&workdir).context("creating the attempt's folder")?;
        let resources = match jobs.registry().get(&job.kind) {
            Some(kind) => kind.resources(&job.parameters, &jobs.storage().user_root(&job.owner)),
            None => Default::default(),
        };
        let submission = Submission {
            name: job_name(&job.lease.id, job.lease.attempt),
            workdir,
            // Slurm counts whole minutes; round up so a job gets at least what it asked for.
            time_minutes: (job.execution_duration > 0).then(|| (job.execution_duration as u64).div_ceil(60)),
            cores: resources.cores,
            memory_mb: resources.memory_mb.map(|mb| mb.saturating_add(RUN_JOB_BASELINE_MB)),
            partition: self.settings.partition.clone(),
            account: self.settings.account.clone(),
            extra_args: self.settings.extra_args.clone(),
            command: vec![
                self.binary.display().to_string(),
                "run-job".into(),
                job.job_dir.display().to_string(),
                "--attempt".into(),
                job.lease.attempt.to_string(),
            ],
        };
        blocking(move || commands::sbatch(&submission)).await
    }

    /// Asks Slurm about every job it holds for us and moves the UWS phases along.
    async fn poll(&self, jobs: &JobService) -> anyhow::Result<()> {
        let held: Vec<(Lease, String, String)> = jobs
            .held_by(NAME)
            .await?
            .into_iter()
            .filter_map(|h| {
                let owner = h.lease_owner?;
                let slurm = slurm_id(&owner)?.to_string();
                Some((Lease { id: h.id, attempt: h.attempt, owner }, h.phase, slurm))
            })
            .collect();
        if held.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = held.iter().map(|(_, _, s)| s.clone()).collect();
        let states: HashMap<String, JobState> =
            blocking(move || commands::squeue(&ids)).await?.into_iter().map(|s| (s.id.clone(), s)).collect();
        for (lease, phase, slurm_id) in held {
            let state = match states.get(&slurm_id) {
                Some(s) if !is_final(&s.state) => Some(s.clone()),
                // Final, or forgotten by squeue: ask for the exit code, then the jobcomp file.
                _ => {
                    let id = slurm_id.clone();
                    blocking(move || Ok(commands::scontrol(&id)?.or_else(|| commands::sacct_completion(&id)))).await?
                }
            };
            self.follow(jobs, &lease, &phase, &slurm_id, state).await?;
        }
        Ok(())
    }

    async fn follow(
        &self,
        jobs: &JobService,
        lease: &Lease,
        phase: &str,
        slurm_id: &str,
        state: Option<JobState>,
    ) -> anyhow::Result<()> {
        let job_dir = jobs.storage().job_dir(&lease.id);
        let recorded = status::read(&job_dir, lease.attempt);
        match state.as_ref().map(|s| s.state.as_str()).unwrap_or("") {
            "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD" => Ok(()),
            "RUNNING" | "COMPLETING" | "SUSPENDED" | "STOPPED" => {
                if phase == "QUEUED" {
                    jobs.start(lease).await?;
                }
                if let Some(progress) = recorded.and_then(|s| s.progress) {
                    jobs.progress(lease, &progress).await?;
                }
                Ok(())
            }
            _ => {
                let outcome = outcome(slurm_id, state.as_ref(), recorded.and_then(|s| s.outcome));
                unless_lost(jobs.finish(lease, outcome).await)
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

/// The signal in Slurm's `exit:signal` exit code, if one ended the job.
fn signal_of(exit: &str) -> Option<i32> {
    exit.split_once(':').and_then(|(_, s)| s.parse().ok()).filter(|&s| s != 0)
}

/// The outcome of a finished Slurm job, from Slurm's final state and what run-job recorded.
fn outcome(slurm_id: &str, state: Option<&JobState>, recorded: Option<Outcome>) -> Outcome {
    let exit = state.and_then(|s| s.exit_code.clone()).unwrap_or_else(|| "unknown".into());
    let failed = |message: String| Outcome::Failed { message };
    match (state.map(|s| s.state.as_str()), recorded) {
        (Some("CANCELLED"), _) => Outcome::Cancelled,
        (Some("COMPLETED") | None, Some(recorded)) => recorded,
        (Some("FAILED"), Some(Outcome::Failed { message })) => {
            failed(format!("{message} (Slurm job {slurm_id} FAILED, exit code {exit})"))
        }
        (Some("FAILED"), Some(recorded)) => recorded,
        (Some("FAILED"), None) => match signal_of(&exit) {
            Some(signal) => Outcome::Crashed {
                reason: format!("the job's process crashed: signal {signal} (Slurm job {slurm_id}, exit code {exit})"),
            },
            None => Outcome::Crashed {
                reason: format!("Slurm job {slurm_id} FAILED with exit code {exit} and run-job recorded no outcome"),
            },
        },
        (Some("COMPLETED"), None) => failed(format!("Slurm job {slurm_id} completed but run-job recorded no outcome")),
        (Some("TIMEOUT"), _) => {
            failed(format!("execution duration exceeded: Slurm stopped job {slurm_id} at its time limit (TIMEOUT)"))
        }
        (Some("OUT_OF_MEMORY"), _) => Outcome::OutOfMemory { limit_mb: None },
        (Some(other @ ("NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL")), _) => {
            Outcome::Retryable { message: format!("Slurm job {slurm_id} ended with {other}") }
        }
        (Some(other), _) => failed(format!("Slurm job {slurm_id} ended with {other}, exit code {exit}")),
        (None, None) => failed(format!("Slurm no longer knows job {slurm_id} and run-job recorded no outcome")),
    }
}

impl Executor for SlurmExecutor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cancel(&self, _job_id: &str, lease_owner: Option<&str>) {
        let Some(slurm_id) = lease_owner.and_then(slurm_id).map(str::to_string) else { return };
        tokio::task::spawn_blocking(move || {
            if let Err(e) = commands::scancel(&slurm_id) {
                tracing::warn!(slurm.job = %slurm_id, error.message = %format!("{e:#}"), "scancel failed");
            }
        });
    }

    fn start(self: std::sync::Arc<Self>, jobs: JobService) {
        tokio::spawn(self.run(jobs));
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
        let completed = Outcome::Completed { results: vec![] };
        assert_eq!(outcome("7", Some(&state("COMPLETED", "0:0")), Some(completed.clone())), completed);
        let failed = outcome("7", Some(&state("FAILED", "1:0")), Some(Outcome::Failed { message: "bad input".into() }));
        assert_eq!(failed, Outcome::Failed { message: "bad input (Slurm job 7 FAILED, exit code 1:0)".into() });
        let crashed = outcome("7", Some(&state("FAILED", "0:11")), None);
        assert!(matches!(crashed, Outcome::Crashed { reason } if reason.contains("signal 11")));
        let timeout = outcome("7", Some(&state("TIMEOUT", "0:15")), Some(Outcome::Cancelled));
        assert!(matches!(timeout, Outcome::Failed { message } if message.contains("time limit")));
        assert_eq!(outcome("7", Some(&state("CANCELLED", "0:15")), None), Outcome::Cancelled);
        assert!(matches!(outcome("7", Some(&state("NODE_FAIL", "0:0")), None), Outcome::Retryable { .. }));
        assert!(matches!(outcome("7", Some(&state("OUT_OF_MEMORY", "0:9")), None), Outcome::OutOfMemory { .. }));
        assert!(matches!(outcome("7", Some(&state("COMPLETED", "0:0")), None), Outcome::Failed { .. }));
        assert_eq!(outcome("7", None, Some(completed.clone())), completed);
        assert!(matches!(outcome("7", None, None), Outcome::Failed { message } if message.contains("no longer knows")));
    }
}
