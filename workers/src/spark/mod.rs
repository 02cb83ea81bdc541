//! The `spark` kind: runs a user's own PySpark (`.py`) or Spark (`.jar`) program with
//! `spark-submit` on the cluster the operator configured (`[spark]`), with inputs and results
//! on vocloud's shared storage and the UWS life cycle intact.
//!
//! - [`params`]: what a job may ask for, checked at creation (program, arguments as a JSON list,
//!   inputs, resources, allow-listed `--conf`).
//! - [`settings`]: the operator's `[spark]` section, which reaches the kind as a job setting.
//! - [`client`], [`cluster`]: an attempt in client mode (the driver is our child) and in cluster
//!   mode (the driver runs on a standalone cluster; the attempt follows it).
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

mod client;
mod cluster;
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

use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, Resources, ResultFile};
use command::{AttemptPaths, SubmitCommand};
use process::DriverProcess;
use settings::{DeployMode, Master};

/// The result holding the driver's log.
pub const DRIVER_LOG: &str = "spark-driver.log";
/// How often the attempt looks at its driver (and at its cancel token, which also wakes it).
const POLL: Duration = Duration::from_millis(250);
/// How often progress is read from the driver's REST API, or a cluster driver's state from the
/// master.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

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

    fn resources(params: &SparkParams, _user_dir: &Path) -> Resources {
        // In local mode (the default) the attempt's own machine runs the job: its threads, and
        // the driver's heap plus the JVM's overhead. Without the worker's settings at hand the
        // built-in defaults stand in for a job that does not say.
        let defaults = SparkSettings::default();
        let memory = params.memory_mb.unwrap_or(defaults.default_memory_mb);
        let cores = params.cores.unwrap_or(defaults.default_cores);
        let basis = format!("{cores} cores and a {memory} MB driver");
        Resources { cores, memory_mb: Some(u64::from(memory) + 512), basis }
    }

    fn run(params: SparkParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        let settings = SparkSettings::from_context(ctx)?;
        let paths = attempt_paths(&params, ctx)?;
        let log_path = ctx.work_dir.join(DRIVER_LOG);
        let mut log =
            File::create(&log_path).map_err(|e| Failure::Retryable(format!("creating the driver log: {e}")))?;
        let outcome = match (settings.deploy_mode, settings.master()) {
            (DeployMode::Cluster, Master::Standalone { host_port }) => {
                cluster::run(&params, &settings, ctx, &paths, &host_port, &mut log, &log_path)
            }
            _ => client::run(&params, &settings, ctx, &paths, &mut log, &log_path),
        };
        drop(log);
        if matches!(outcome, Err(Failure::Cancelled)) {
            return Err(Failure::Cancelled);
        }
        keep_regular_files(&ctx.results_dir)?;
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

fn start(
    command: &SubmitCommand,
    settings: &SparkSettings,
    ctx: &JobContext,
    log: &mut File,
) -> Result<DriverProcess, Failure> {
    note(log, command.display());
    note(log, &command.resources);
    ctx.progress(0.0, format!("starting Spark ({})", command.resources));
    DriverProcess::start(command, &ctx.work_dir, log)
        .map_err(|e| Failure::Fatal(format!("could not start '{}' (spark.submit): {e}", settings.submit)))
}

/// Waits for `spark-submit` to end; on cancel, stops it.
fn watch(
    driver: &mut DriverProcess,
    settings: &SparkSettings,
    ctx: &JobContext,
) -> Result<std::process::ExitStatus, Failure> {
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

/// Results are served by name from the results folder, so only regular files may stay there: a
/// symlink written by the program would otherwise let it publish any file the service can read.
/// A results folder the program replaced (by a symlink, say) is not published at all.
fn keep_regular_files(results: &Path) -> Result<(), Failure> {
    if !std::fs::symlink_metadata(results).is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_file(results);
        let _ = std::fs::create_dir(results);
        return Err(Failure::Fatal("the program replaced its results folder; its results are not published".into()));
    }
    let entries = std::fs::read_dir(results).map_err(|e| Failure::Retryable(format!("reading the results: {e}")))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_symlink() || !(t.is_file() || t.is_dir())) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
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
