//! The `spark` kind: runs a user's own PySpark (`.py`) or Spark (`.jar`) program with
//! `spark-submit` on the cluster the operator configured (`[spark]`), with inputs and results
//! on vocloud's shared storage and the UWS life cycle intact.
//!
//! - [`params`]: what a job may ask for, checked at creation (program, arguments as a JSON list,
//!   inputs, resources, allow-listed `--conf`).
//! - [`settings`]: the operator's `[spark]` section, which reaches the kind as a job setting.
//! - [`command`]: the `spark-submit` command line and environment (pure).
//! - [`process`]: the client-mode driver in a process group that dies with the attempt.
//! - [`progress`]: task counts from the driver's status REST API.
//! - [`standalone`]: cluster mode on a standalone master: submit, follow, kill, and pick up a
//!   driver an earlier attempt submitted.
//! - [`log`]: the driver log's end, and the error summary drawn from it.
//!
//! An attempt's driver log (`spark-driver.log`: the command, then everything `spark-submit` and
//! the driver printed) becomes a result whether the program succeeds or fails; a failure's error
//! summary is the tail of its traceback. Results are the regular files the program leaves
//! directly in its results folder; anything it writes elsewhere is not listed.
//!
//! Programs run code, so job creation refuses users without the grant ([`Kind::RUNS_USER_CODE`]).

mod command;
mod log;
mod params;
mod process;
mod progress;
mod rest;
pub mod settings;
mod standalone;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

pub use params::{BUILTIN_CONF, SparkParams};
pub use settings::SparkSettings;

use crate::{CancelToken, Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, Resources, ResultFile};
use command::{AttemptPaths, SubmitCommand};
use process::DriverProcess;
use progress::ProgressProbe;
use settings::{DeployMode, Master};
use standalone::{DriverStatus, Standalone, SubmissionRecord};

/// The result holding the driver's log.
pub const DRIVER_LOG: &str = "spark-driver.log";
/// How often the attempt looks at its driver (and at its cancel token, which also wakes it).
const POLL: Duration = Duration::from_millis(250);
/// How often progress is read from the driver's REST API, or a cluster driver's state from the
/// master.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// A standalone master that does not answer for this long makes the attempt give up (retryable).
const MASTER_SILENCE: Duration = Duration::from_secs(120);

pub struct Spark;

impl Kind for Spark {
    type Params = SparkParams;
    const NAME: &'static str = "spark";
    const DESCRIPTION: &'static str = "Runs your own PySpark (.py) or Spark (.jar) program with spark-submit on the \
        configured Spark cluster; the files it writes into its results folder are the results (needs a grant from an \
        admin).";
    const RUNS_USER_CODE: bool = true;

    fn parameters() -> Vec<ParamSpec> {
        params::specs()
    }

    fn check(params: &SparkParams) -> Result<(), ParamError> {
        params.check()
    }

    fn check_inputs(params: &SparkParams, user_dir: &Path) -> Result<(), ParamError> {
        let program = params::resolve_in(user_dir, &params.program).map_err(|e| ParamError::invalid("program", e))?;
        if !program.is_file() {
            return Err(ParamError::invalid("program", format!("'{}' is not a file", params.program)));
        }
        for input in params.input_paths()? {
            params::resolve_in(user_dir, &input).map_err(|e| ParamError::invalid("inputs", e))?;
        }
        Ok(())
    }

    fn resources(params: &SparkParams) -> Resources {
        // In local mode (the default) the attempt's own machine runs the job: its threads, and
        // the driver's heap plus the JVM's overhead. Without the worker's settings at hand the
        // built-in defaults stand in for a job that does not say.
        let defaults = SparkSettings::default();
        let memory = params.memory_mb.unwrap_or(defaults.default_memory_mb);
        Resources { cores: params.cores.unwrap_or(defaults.default_cores), memory_mb: Some(u64::from(memory) + 512) }
    }

    fn run(params: SparkParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        let settings = SparkSettings::from_context(ctx)?;
        let paths = attempt_paths(&params, ctx)?;
        let log_path = ctx.work_dir.join(DRIVER_LOG);
        let mut log = File::create(&log_path).map_err(|e| Failure::Retryable(format!("creating the driver log: {e}")))?;
        let outcome = match (settings.deploy_mode, settings.master()) {
            (DeployMode::Cluster, Master::Standalone { host_port }) => {
                run_cluster(&params, &settings, ctx, &paths, &host_port, &mut log, &log_path)
            }
            _ => run_client(&params, &settings, ctx, &paths, &mut log, &log_path),
        };
        drop(log);
        if matches!(outcome, Err(Failure::Cancelled)) {
            return Err(Failure::Cancelled);
        }
        keep_regular_files(&ctx.results_dir);
        // The log is a result in ERROR too: a failed job's results are published all the same.
        if let Err(e) = std::fs::rename(&log_path, ctx.results_dir.join(DRIVER_LOG)) {
            return Err(Failure::Retryable(format!("publishing the driver log: {e}")));
        }
        outcome.map(|()| outputs(&ctx.results_dir))
    }
}

fn job_id(ctx: &JobContext) -> String {
    ctx.job_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The program, inputs and results folder as absolute paths, checked again now (they may have
/// changed since the job was created).
fn attempt_paths(params: &SparkParams, ctx: &JobContext) -> Result<AttemptPaths, Failure> {
    let resolve = |name: &str, rel: &str| {
        params::resolve_in(&ctx.user_dir, rel).map_err(|e| Failure::Fatal(format!("parameter '{name}': {e}")))
    };
    let program = resolve("program", &params.program)?;
    let inputs = params.input_paths().map_err(|e| Failure::Fatal(e.to_string()))?;
    let inputs = inputs.iter().map(|rel| resolve("inputs", rel)).collect::<Result<Vec<_>, _>>()?;
    let real = |path: &Path| path.canonicalize().map_err(|e| Failure::Retryable(format!("{}: {e}", path.display())));
    let storage_root = ctx.job_dir.parent().and_then(Path::parent).unwrap_or(&ctx.job_dir);
    Ok(AttemptPaths { storage_root: real(storage_root)?, program, inputs, results: real(&ctx.results_dir)? })
}

/// Client mode: `spark-submit` runs the driver here, as a child of the attempt.
fn run_client(
    params: &SparkParams,
    settings: &SparkSettings,
    ctx: &JobContext,
    paths: &AttemptPaths,
    log: &mut File,
    log_path: &Path,
) -> Result<(), Failure> {
    let port = free_port().map_err(|e| Failure::Retryable(format!("finding a free port for the Spark UI: {e}")))?;
    let job_id = job_id(ctx);
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

fn start(command: &SubmitCommand, settings: &SparkSettings, ctx: &JobContext, log: &mut File) -> Result<DriverProcess, Failure> {
    note(log, command.display());
    note(log, &command.resources);
    ctx.progress(0.0, format!("starting Spark ({})", command.resources));
    DriverProcess::start(command, &ctx.work_dir, log)
        .map_err(|e| Failure::Fatal(format!("could not start '{}' (spark.submit): {e}", settings.submit)))
}

/// Waits for `spark-submit` to end; on cancel, stops it.
fn watch(driver: &mut DriverProcess, settings: &SparkSettings, ctx: &JobContext) -> Result<std::process::ExitStatus, Failure> {
    loop {
        if ctx.cancel.sleep(POLL) {
            driver.stop(Duration::from_millis(settings.stop_grace_ms));
            return Err(Failure::Cancelled);
        }
        match driver.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(e) => return Err(Failure::Retryable(format!("waiting for spark-submit: {e}"))),
        }
    }
}

fn report_progress(mut probe: ProgressProbe, stop: &CancelToken, ctx: &JobContext) {
    while !stop.sleep(PROGRESS_EVERY) {
        if let Some(tasks) = probe.poll() {
            // Never 1 before the end: more Spark jobs may follow.
            let message = format!("{} of {} tasks done ({} Spark jobs so far)", tasks.done, tasks.total, tasks.jobs);
            ctx.progress(0.99 * tasks.fraction(), message);
        }
    }
}

/// Cluster mode on a standalone master: submit (or pick up an earlier attempt's driver), then
/// follow the driver through the master's REST server.
fn run_cluster(
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
        None => submit_cluster(params, settings, ctx, paths, &master, log, log_path)?,
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
        Err(e) => Err(Failure::Retryable(format!("asking the Spark master about driver {}: {e}", record.submission_id))),
    }
}

fn submit_cluster(
    params: &SparkParams,
    settings: &SparkSettings,
    ctx: &JobContext,
    paths: &AttemptPaths,
    master: &Standalone,
    log: &mut File,
    log_path: &Path,
) -> Result<SubmissionRecord, Failure> {
    let command = command::build(params, settings, &job_id(ctx), paths, None, |k| std::env::var(k).ok())
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
    let record =
        SubmissionRecord { submission_id, master: settings.master.clone(), results: paths.results.clone() };
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
        if ctx.cancel.sleep(PROGRESS_EVERY) {
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
        let text = master.driver_log(submission_id, worker, stream).unwrap_or_else(|e| format!("(not available: {e})\n"));
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

/// Writes one of vocloud's own lines into the driver log (best effort: the log is for reading).
fn note(log: &mut File, text: impl std::fmt::Display) {
    let _ = writeln!(log, "{}{text}", log::NOTE);
}

/// A failed program's error summary: why it ended, and the tail of its traceback.
fn program_failed(why: &str, log_path: &Path) -> Failure {
    Failure::Fatal(format!("the program failed ({why}):\n{}", log::error_summary(&log::tail(log_path))))
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("spark-submit exit code {code}"),
        (None, Some(signal)) => format!("spark-submit killed by signal {signal}"),
        _ => "spark-submit ended".into(),
    }
}

/// A port nothing listens on now, for the driver's UI (see [`progress`] for the race).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Results are served by name from the results folder, so only regular files may stay there: a
/// symlink written by the program would otherwise let it publish any file the service can read.
fn keep_regular_files(results: &Path) {
    let Ok(entries) = std::fs::read_dir(results) else { return };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_symlink() || !(t.is_file() || t.is_dir())) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The regular files directly in the results folder.
fn outputs(results: &Path) -> Outputs {
    let mut files: Vec<ResultFile> = std::fs::read_dir(results)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .map(|name| ResultFile { mime_type: mime_type(&name).into(), name })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Outputs { results: files }
}

fn mime_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("txt" | "log") => "text/plain",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        Some("fits" | "fit") => "application/fits",
        Some("vot" | "xml") => "application/x-votable+xml",
        Some("png") => "image/png",
        Some("nc") => "application/x-netcdf",
        _ => "application/octet-stream",
    }
}
