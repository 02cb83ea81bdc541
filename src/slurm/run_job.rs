//! `vocloud run-job JOB_DIR --attempt N`: runs one attempt of a job where the master cannot be
//! reached over HTTP (what Slurm runs on a compute node). It reads `params.json`, runs the kind,
//! and keeps `work/attempt-N/status.json` up to date (progress while running, the outcome at the
//! end), so the outcome survives anything that happens to the master meanwhile. SIGTERM (scancel,
//! time limit) cancels the job cleanly.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vocloud_workers::{CancelToken, Failure, JobContext, Registry, attempt_dir};

/// The state of an attempt as `run-job` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Completed,
    Failed,
    Retryable,
    Cancelled,
}

/// `work/attempt-N/status.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStatus {
    pub state: RunState,
    pub message: Option<String>,
    pub progress_fraction: Option<f64>,
    pub progress_message: Option<String>,
    pub host: String,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
}

pub fn status_path(job_dir: &Path, attempt: i64) -> PathBuf {
    attempt_dir(job_dir, attempt).join("status.json")
}

/// The attempt's status file, if it exists and parses.
pub fn read_status(job_dir: &Path, attempt: i64) -> Option<RunStatus> {
    serde_json::from_slice(&std::fs::read(status_path(job_dir, attempt)).ok()?).ok()
}

fn write_status(job_dir: &Path, attempt: i64, status: &RunStatus) {
    let bytes = serde_json::to_vec_pretty(status).unwrap_or_default();
    if let Err(e) = crate::storage::write_atomic(&status_path(job_dir, attempt), &bytes) {
        tracing::warn!(error.message = %e, "writing status.json failed");
    }
}

#[derive(Deserialize)]
struct ParamsFile {
    kind: String,
    owner: String,
    parameters: Map<String, Value>,
}

/// Runs the attempt; the process exits 0 only if the job completed.
/// `job_settings` are the deployment settings of the node's own configuration.
pub async fn run(job_dir: &Path, attempt: i64, job_settings: Vec<(String, String)>) -> anyhow::Result<bool> {
    let job_dir = std::fs::canonicalize(job_dir).with_context(|| format!("no job folder at {}", job_dir.display()))?;
    let params: ParamsFile = serde_json::from_slice(
        &std::fs::read(job_dir.join("params.json"))
            .with_context(|| format!("reading {}/params.json", job_dir.display()))?,
    )
    .context("parsing params.json")?;
    let root = job_dir.parent().and_then(Path::parent).context("the job folder must be <storage>/jobs/<id>")?;
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let slurm_job =
        std::env::var("SLURM_JOB_ID").map(|id| format!("slurm job {id}")).unwrap_or_else(|_| "run-job".into());
    let status = Arc::new(Mutex::new(RunStatus {
        state: RunState::Running,
        message: None,
        progress_fraction: None,
        progress_message: None,
        host: host.clone(),
        started_ms: crate::db::now_ms(),
        ended_ms: None,
    }));
    std::fs::create_dir_all(attempt_dir(&job_dir, attempt)).context("creating the attempt's folder")?;
    write_status(&job_dir, attempt, &status.lock().unwrap_or_else(|e| e.into_inner()));

    let cancel = CancelToken::new();
    let sink = (status.clone(), job_dir.clone(), Mutex::new(Instant::now() - Duration::from_secs(10)));
    let ctx = JobContext::new(
        &job_dir,
        attempt,
        &root.join("users").join(&params.owner),
        format!("{slurm_job} on {host}"),
        cancel.clone(),
    )
    .with_progress(move |p| {
        let (status, dir, last) = &sink;
        let mut status = status.lock().unwrap_or_else(|e| e.into_inner());
        status.progress_fraction = Some(p.fraction);
        status.progress_message = Some(p.message);
        // At most one write a second: the master polls no faster.
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= Duration::from_secs(1) {
            *last = Instant::now();
            write_status(dir, attempt, &status);
        }
    });
    let ctx = job_settings.into_iter().fold(ctx, |ctx, (key, value)| ctx.with_setting(&key, value));
    let kind = Registry::builtin().get(&params.kind);
    let parameters = params.parameters;
    let mut work = tokio::task::spawn_blocking(move || {
        let kind = kind.ok_or_else(|| Failure::Fatal("this vocloud build does not know the job's kind".into()))?;
        ctx.create_dirs().map_err(|e| Failure::Retryable(format!("creating the attempt's folders: {e}")))?;
        kind.run(&parameters, &ctx)
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let outcome = tokio::select! {
        outcome = &mut work => outcome,
        _ = term.recv() => {
            cancel.cancel();
            work.await
        }
    };
    let outcome = outcome.unwrap_or_else(|e| Err(Failure::Fatal(format!("the job crashed: {e}"))));
    let (state, message) = match &outcome {
        Ok(_) => (RunState::Completed, None),
        Err(Failure::Fatal(m)) => (RunState::Failed, Some(m.clone())),
        Err(Failure::Retryable(m)) => (RunState::Retryable, Some(m.clone())),
        Err(Failure::Cancelled) => (RunState::Cancelled, None),
    };
    let mut final_status = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
    final_status.state = state;
    final_status.message = message;
    final_status.ended_ms = Some(crate::db::now_ms());
    write_status(&job_dir, attempt, &final_status);
    Ok(state == RunState::Completed)
}
