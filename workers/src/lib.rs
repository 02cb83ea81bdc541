//! vocloud-workers: the job kinds, as pure compute plus file I/O.
//!
//! A job kind is a type implementing [`Kind`]: a typed parameter struct, the list of parameters
//! it takes (names, types, descriptions, defaults — what `GET /uws` shows and what validation
//! checks at job creation), and `run(ctx)`, which reads inputs, reports progress, watches for
//! cancellation and writes result files into the job's `results/` folder.
//!
//! This crate never sees the database or HTTP: the same code runs in the master's in-process
//! pool, in a remote `vocloud worker`, and under Slurm through `vocloud run-job`.
//!
//! Layout:
//! - [`params`]: parameter specifications and the validation of raw (form) values.
//! - [`context`]: what a running job gets: folders, progress, cancellation.
//! - [`registry`]: the object-safe view of a kind and the list of all kinds.
//! - [`diag`]: the `diag` kind, for operators and tests.
//! - [`import`]: the `import` kind (downloads of spectra collections).
//! - [`ml`]: k-means, PCA, classification and outlier kinds on spectra matrices.
//! - [`ocean`]: ocean analytics on CF netCDF (SDAP time series, time average, DDA, subset, maps).
//! - [`som`]: the `som` kind, self-organising maps of spectra with an interactive viewer.
//! - [`spectra`]: the one spectra reader (FITS, VOTable, CSV; each on its grid, or a matrix).
//! - [`spark`]: the `spark` kind, users' own PySpark and Spark programs run with `spark-submit`.
//! - [`votable`]: reading and writing VOTables.

pub mod context;
pub mod diag;
pub mod import;
pub mod ml;
pub mod ocean;
pub mod params;
pub mod registry;
pub mod som;
pub mod spark;
pub mod spectra;
pub mod votable;

pub use context::{CancelToken, JobContext, Progress, Quota, attempt_dir};
pub use params::{ParamError, ParamSpec, ParamType, RawParams};
pub use registry::{DynKind, Registry};

use serde::{Serialize, de::DeserializeOwned};

/// Why a job failed. A failure is job data (phase ERROR with an error summary), never an HTTP error.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Worth another attempt (a flaky mount, a node problem): the executor may re-queue the job.
    #[error("{0}")]
    Retryable(String),
    /// Will fail again whatever we do (bad input data, impossible parameters).
    #[error("{0}")]
    Fatal(String),
    /// The job saw its cancellation token and stopped; the master already knows why.
    #[error("cancelled")]
    Cancelled,
}

impl Failure {
    /// A fatal failure that names what went wrong; `context` says where (a file, a step).
    pub fn fatal(context: impl std::fmt::Display, error: impl std::fmt::Display) -> Self {
        Failure::Fatal(format!("{context}: {error}"))
    }
}

/// A file the job wrote into its `results/` folder, listed as a UWS result.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ResultFile {
    /// The result id, also the file name inside `results/`.
    pub name: String,
    /// The MIME type clients should expect.
    pub mime_type: String,
}

/// What a successful run leaves behind.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize)]
pub struct Outputs {
    pub results: Vec<ResultFile>,
}

/// What one run of a job needs: its cores, and the memory the kind estimates from its
/// parameters and inputs. The master refuses a job whose estimate exceeds
/// `limits.max_job_memory_mb` at creation, and tells batch systems (Slurm's `--cpus-per-task`,
/// `--mem`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Resources {
    pub cores: u32,
    /// Peak memory in MiB; `None` when the kind gives no estimate (no check, no `--mem`).
    pub memory_mb: Option<u64>,
    /// What the estimate follows from, for the message that refuses a job
    /// ("rows=500 cols=500 bins=1000000").
    pub basis: String,
}

impl Default for Resources {
    fn default() -> Self {
        Resources { cores: 1, memory_mb: None, basis: String::new() }
    }
}

/// Bytes to whole MiB, rounded up (estimates must not shrink).
pub fn bytes_to_mb(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// A job kind: typed parameters, their description, and the computation.
pub trait Kind: Send + Sync + 'static {
    /// The typed parameters, deserialised from the validated JSON object built by [`params`].
    type Params: DeserializeOwned + Serialize + Send;

    /// The kind's name, as used in `/uws/{kind}`.
    const NAME: &'static str;
    /// One sentence for `GET /uws` and the web forms.
    const DESCRIPTION: &'static str;

    /// The parameters this kind takes, in the order forms show them.
    fn parameters() -> Vec<ParamSpec>;

    /// Checks that involve several parameters at once (ranges, exclusive options). Called at job
    /// creation, after each value was checked against its [`ParamSpec`].
    fn check(_params: &Self::Params) -> Result<(), ParamError> {
        Ok(())
    }

    /// Whether runs read their owner's storage quota ([`JobContext::quota`]). The master then
    /// measures the owner's usage when it hands the job out, which costs a walk of their storage,
    /// so only kinds that write into it (imports) ask for it.
    const USES_QUOTA: bool = false;

    /// Whether jobs of this kind run code the client supplies (a program in their storage).
    /// Creating one then needs an admin, or a user an admin granted the kind to
    /// (`vocloud user grant NAME KIND`); others get 403.
    const RUNS_USER_CODE: bool = false;

    /// Checks against the owner's storage (`user_dir`, read only): inputs that are not
    /// [`ParamType::Path`] values, such as a folder or glob that must match files. Called at job
    /// creation after [`Kind::check`]; an error is a 400 to the client.
    fn check_inputs(_params: &Self::Params, _user_dir: &std::path::Path) -> Result<(), ParamError> {
        Ok(())
    }

    /// What a run with these parameters needs (cores, memory), estimated at job creation from
    /// the parameters and the owner's storage (`user_dir`, read only: input sizes). Keep it
    /// cheap — it runs on every creation — and err on the high side.
    fn resources(_params: &Self::Params, _user_dir: &std::path::Path) -> Resources {
        Resources::default()
    }

    /// Runs the job. Long loops call `ctx.checkpoint()?` so that an abort stops them promptly.
    fn run(params: Self::Params, ctx: &JobContext) -> Result<Outputs, Failure>;
}
