//! Client mode: `spark-submit` runs the driver here, as a child of the attempt (in the process
//! group of [`super::process`]), and progress comes from the driver's REST API.

use std::fs::File;
use std::path::Path;

use super::command::{self, AttemptPaths};
use super::progress::ProgressProbe;
use super::{SparkParams, SparkSettings, describe_exit, note, program_failed, start, watch};
use crate::{CancelToken, Failure, JobContext};

/// Client mode: `spark-submit` runs the driver here, as a child of the attempt.
pub fn run(
    params: &SparkParams,
    settings: &SparkSettings,
    ctx: &JobContext,
    paths: &AttemptPaths,
    log: &mut File,
    log_path: &Path,
) -> Result<(), Failure> {
    let port = free_port().map_err(|e| Failure::Retryable(format!("finding a free port for the Spark UI: {e}")))?;
    let job_id = super::job_id(ctx);
    let command = command::build(params, settings, &job_id, paths, Some(port), |k| std::env::var(k).ok())
        .map_err(Failure::Fatal)?;
    let mut driver = start(&command, settings, ctx, log)?;
    let started = std::time::Instant::now();
    let stop_probe = CancelToken::new();
    let status = std::thread::scope(|scope| {
        scope.spawn(|| report_progress(ProgressProbe::new(port, &job_id), &stop_probe, ctx));
        let status = watch(&mut driver, settings, ctx);
        stop_probe.cancel();
        status
    })?;
    drop(driver);
    // For the user and for benches/spark: how long spark-submit itself took.
    note(log, format_args!("{} after {:.2} s", describe_exit(status), started.elapsed().as_secs_f64()));
    if status.success() { Ok(()) } else { Err(program_failed(&describe_exit(status), log_path)) }
}

fn report_progress(mut probe: ProgressProbe, stop: &CancelToken, ctx: &JobContext) {
    while !stop.sleep(super::PROGRESS_EVERY) {
        if let Some(tasks) = probe.poll() {
            // Never 1 before the end: more Spark jobs may follow.
            let message = format!("{} of {} tasks done ({} Spark jobs so far)", tasks.done, tasks.total, tasks.jobs);
            ctx.progress(0.99 * tasks.fraction(), message);
        }
    }
}

/// A port nothing listens on now, for the driver's UI (see [`progress`] for the race).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
