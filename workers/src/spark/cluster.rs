//! Cluster mode on a standalone master: the driver runs on the cluster, so the attempt submits
//! it (or picks up the driver an earlier attempt submitted, see [`super::standalone`]) and
//! follows it through the master's REST server.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::command::{self, AttemptPaths};
use super::standalone::{self, DriverStatus, Standalone, SubmissionRecord};
use super::{SparkParams, SparkSettings, log, note, program_failed, start, watch};
use crate::{Failure, JobContext};

/// A standalone master that does not answer for this long makes the attempt give up (retryable).
const MASTER_SILENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Cluster mode on a standalone master: submit (or pick up an earlier attempt's driver), then
/// follow the driver through the master's REST server.
pub fn run(
    params: &SparkParams,
    settings: &SparkSettings,
    ctx: &JobContext,
    paths: &AttemptPaths,
    host_port: &str,
    log: &mut File,
    log_path: &Path,
) -> Result<(), Failure> {
    let master = Standalone::new(host_port, settings.master_web_ui.as_deref());
    let record = match earlier_submission(&master, settings, ctx)? {
        Some(record) => {
            note(log, format_args!("following driver {} submitted by an earlier attempt", record.submission_id));
            record
        }
        None => submit(params, settings, ctx, paths, &master, log, log_path)?,
    };
    let status = follow(&master, &record.submission_id, ctx, log)?;
    if let Some(worker) = &status.worker_id {
        append_driver_log(&master, &record.submission_id, worker, log);
    }
    adopt_results(record, paths, ctx)?;
    if status.is_finished() {
        return Ok(());
    }
    let why = format!("driver {} ended {}", on_worker(&status), status.state);
    match status.message {
        Some(message) => Err(Failure::Fatal(format!("the program failed ({why}): {message}"))),
        None => Err(program_failed(&why, log_path)),
    }
}

fn on_worker(status: &DriverStatus) -> String {
    status.worker_id.as_deref().map(|w| format!("on {w}")).unwrap_or_default()
}

/// The driver an earlier attempt submitted to this master, if the master still knows it.
fn earlier_submission(
    master: &Standalone,
    settings: &SparkSettings,
    ctx: &JobContext,
) -> Result<Option<SubmissionRecord>, Failure> {
    let Some(record) = SubmissionRecord::read(&ctx.job_dir).filter(|r| r.master == settings.master) else {
        return Ok(None);
    };
    match master.status(&record.submission_id) {
        Ok(Some(_)) => Ok(Some(record)),
        // The master forgot it (restarted without recovery): submitting again is all we can do.
        Ok(None) => Ok(None),
        Err(e) => {
            Err(Failure::Retryable(format!("asking the Spark master about driver {}: {e}", record.submission_id)))
        }
    }
}

fn submit(
    params: &SparkParams,
    settings: &SparkSettings,
    ctx: &JobContext,
    paths: &AttemptPaths,
    master: &Standalone,
    log: &mut File,
    log_path: &Path,
) -> Result<SubmissionRecord, Failure> {
    let command = command::build(params, settings, &super::job_id(ctx), paths, None, |k| std::env::var(k).ok())
        .map_err(Failure::Fatal)?;
    let mut client = start(&command, settings, ctx, log)?;
    let status = watch(&mut client, settings, ctx);
    drop(client);
    let submission = standalone::submission_id(&log::tail(log_path));
    let status = match (status, &submission) {
        (Err(Failure::Cancelled), Some(id)) => {
            // Cancelled after the master took the driver: it must not run on unwatched.
            let _ = master.kill(id);
            return Err(Failure::Cancelled);
        }
        (status, _) => status?,
    };
    let Some(submission_id) = submission.filter(|_| status.success()) else {
        return Err(program_failed(&format!("submitting to {} failed", settings.master), log_path));
    };
    let record = SubmissionRecord { submission_id, master: settings.master.clone(), results: paths.results.clone() };
    if let Err(e) = record.write(&ctx.job_dir) {
        let _ = master.kill(&record.submission_id);
        return Err(Failure::Retryable(format!("recording the submission: {e}")));
    }
    note(log, format_args!("submitted as driver {}", record.submission_id));
    Ok(record)
}

/// Polls the driver's state until it ends; on cancel, asks the master to kill it.
fn follow(master: &Standalone, submission_id: &str, ctx: &JobContext, log: &mut File) -> Result<DriverStatus, Failure> {
    let mut last_answer = std::time::Instant::now();
    let mut last_state = String::new();
    loop {
        match master.status(submission_id) {
            Ok(Some(status)) if !status.is_active() => return Ok(status),
            Ok(Some(status)) => {
                last_answer = std::time::Instant::now();
                if status.state != last_state {
                    ctx.progress(0.0, format!("driver {submission_id} {} {}", status.state, on_worker(&status)));
                    last_state = status.state;
                }
            }
            Ok(None) => {
                return Err(Failure::Retryable(format!("the Spark master no longer knows driver {submission_id}")));
            }
            Err(e) if last_answer.elapsed() > MASTER_SILENCE => {
                return Err(Failure::Retryable(format!("the Spark master does not answer: {e}")));
            }
            Err(_) => {}
        }
        if ctx.cancel.sleep(super::PROGRESS_EVERY) {
            if let Err(e) = master.kill(submission_id) {
                // The job is aborted all the same; the operator finds the driver in the master's UI.
                note(log, format_args!("killing driver {submission_id} failed: {e}"));
            }
            return Err(Failure::Cancelled);
        }
    }
}

/// Appends the driver's own output, fetched from its worker, to the attempt's log.
fn append_driver_log(master: &Standalone, submission_id: &str, worker: &str, log: &mut File) {
    for stream in ["stdout", "stderr"] {
        let text =
            master.driver_log(submission_id, worker, stream).unwrap_or_else(|e| format!("(not available: {e})\n"));
        note(log, format_args!("==== driver {stream} (from {worker}) ===="));
        let _ = writeln!(log, "{text}");
    }
}

/// Moves what the driver wrote into an earlier attempt's results folder into this attempt's.
fn adopt_results(mut record: SubmissionRecord, paths: &AttemptPaths, ctx: &JobContext) -> Result<(), Failure> {
    let here = &paths.results;
    if record.results == *here {
        return Ok(());
    }
    let move_all = || -> std::io::Result<()> {
        for entry in std::fs::read_dir(&record.results)? {
            let entry = entry?;
            std::fs::rename(entry.path(), here.join(entry.file_name()))?;
        }
        Ok(())
    };
    move_all().map_err(|e| Failure::Retryable(format!("moving the results of the earlier attempt: {e}")))?;
    record.results = here.clone();
    record.write(&ctx.job_dir).map_err(|e| Failure::Retryable(format!("recording the submission: {e}")))
}
