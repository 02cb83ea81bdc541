//! One attempt of a job, in this process: `vocloud run-job JOB_DIR --attempt N` (Slurm), or a
//! child of the attempt [forkserver](super::forkserver) (local pool, workers). It reads the
//! `params.json` snapshot the master wrote when it handed the attempt out, runs the kind on a
//! blocking thread, and keeps [`status.json`](super::status) up to date: the latest progress
//! while running (within [`PROGRESS_WRITE_INTERVAL`] of the report), the [`Outcome`] at the end. SIGTERM (an abort, an overrun, Slurm's
//! time limit, a worker shutting down) trips the job's cancellation token, and the kind stops at
//! its next checkpoint.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Map, Value};
use vocloud_workers::{CancelToken, JobContext, Registry};

use super::Outcome;
use super::status::{self, Status};

/// Progress is written at most this often, and the latest report never later than this after
/// it was made (a report followed quickly by others is not lost behind them); the parent polls
/// as often.
pub const PROGRESS_WRITE_INTERVAL: Duration = Duration::from_millis(250);

/// `jobs/<id>/params.json`, written once by the master when the first attempt was handed out.
#[derive(Deserialize)]
pub struct Snapshot {
    pub kind: String,
    pub owner: String,
    pub parameters: Map<String, Value>,
}

/// Runs attempt `attempt` of the job in `job_dir` and returns its outcome (also in status.json).
/// `runner` says where it runs, for the job's diagnostics; `job_settings` are the deployment
/// settings of this process's configuration (`VOCLOUD_JOB_*` in the environment win).
pub async fn run(
    job_dir: &Path,
    attempt: i64,
    runner: String,
    job_settings: Vec<(String, String)>,
) -> anyhow::Result<Outcome> {
    let job_dir = std::fs::canonicalize(job_dir).with_context(|| format!("no job folder at {}", job_dir.display()))?;
    let snapshot: Snapshot = serde_json::from_slice(
        &std::fs::read(job_dir.join("params.json"))
            .with_context(|| format!("reading {}/params.json", job_dir.display()))?,
    )
    .context("parsing params.json")?;
    let root = job_dir.parent().and_then(Path::parent).context("the job folder must be <storage>/jobs/<id>")?;
    let status = Arc::new(Mutex::new(Status {
        host: crate::runner::process::hostname(),
        pid: std::process::id(),
        started_ms: chrono::Utc::now().timestamp_millis(),
        progress: None,
        outcome: None,
        ended_ms: None,
    }));
    let cancel = CancelToken::new();
    let dirty = Arc::new(AtomicBool::new(false));
    let user_dir = root.join("users").join(&snapshot.owner);
    let ctx = context(&job_dir, attempt, &user_dir, runner, &cancel, (&status, &dirty));
    let ctx = job_settings.into_iter().fold(ctx, |ctx, (key, value)| ctx.with_setting(&key, value));
    // Level by level below the job folder, which is never created here: a job destroyed
    // meanwhile does not come back.
    ctx.create_dirs().context("creating the attempt's folders")?;
    write(&job_dir, attempt, &status.lock().unwrap_or_else(|e| e.into_inner()));

    let flusher = tokio::spawn(flush_progress(job_dir.clone(), attempt, status.clone(), dirty));

    let kind = Registry::builtin().get(&snapshot.kind);
    let parameters = snapshot.parameters;
    let span = tracing::Span::current();
    let mut work = tokio::task::spawn_blocking(move || {
        let Some(kind) = kind else {
            return Outcome::Failed { message: "this vocloud build does not know the job's kind".into() };
        };
        span.in_scope(|| kind.run(&parameters, &ctx)).into()
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let joined = tokio::select! {
        joined = &mut work => joined,
        _ = term.recv() => {
            cancel.cancel();
            work.await
        }
    };
    let outcome = joined.unwrap_or_else(|e| Outcome::Crashed { reason: panic_reason(e) });
    // Stopped (not only asked to stop) before the last write, so that the two never overlap.
    flusher.abort();
    let _ = flusher.await;
    let mut last = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
    last.outcome = Some(outcome.clone());
    last.ended_ms = Some(chrono::Utc::now().timestamp_millis());
    write(&job_dir, attempt, &last);
    Ok(outcome)
}

/// The job's context: a progress report is kept as the latest and marked for
/// [`flush_progress`] (the kind's thread never waits for a file write).
fn context(
    job_dir: &Path,
    attempt: i64,
    user_dir: &Path,
    runner: String,
    cancel: &CancelToken,
    (status, dirty): (&Arc<Mutex<Status>>, &Arc<AtomicBool>),
) -> JobContext {
    let (status, dirty) = (status.clone(), dirty.clone());
    JobContext::new(job_dir, attempt, user_dir, runner, cancel.clone()).with_progress(move |p| {
        status.lock().unwrap_or_else(|e| e.into_inner()).progress = Some(p);
        dirty.store(true, Ordering::Release);
    })
}

/// Writes the latest progress to status.json every [`PROGRESS_WRITE_INTERVAL`] when there is a
/// new one, until aborted.
async fn flush_progress(job_dir: std::path::PathBuf, attempt: i64, status: Arc<Mutex<Status>>, dirty: Arc<AtomicBool>) {
    let mut ticker = tokio::time::interval(PROGRESS_WRITE_INTERVAL);
    loop {
        ticker.tick().await;
        if dirty.swap(false, Ordering::AcqRel) {
            let snapshot = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
            write(&job_dir, attempt, &snapshot);
        }
    }
}

fn write(job_dir: &Path, attempt: i64, status: &Status) {
    if let Err(e) = status::write(job_dir, attempt, status) {
        tracing::warn!(error.message = %e, "writing status.json failed");
    }
}

/// "the job's code panicked: index out of bounds …" from a join error.
fn panic_reason(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            format!("the job's code panicked: {message}")
        }
        Err(e) => format!("the job's thread ended abnormally: {e}"),
    }
}
