//! Settings: one typed struct, loaded once in `main` and passed down.
//!
//! Sources, later wins: the defaults below → an optional TOML file (`--config`; unknown keys are
//! errors so typos surface) → `VOCLOUD_*` environment variables with `__` for nesting
//! (`VOCLOUD_HTTP__BIND`, `VOCLOUD_LIMITS__USER_QUOTA_BYTES`; plain `DATABASE_URL` works too)
//! → the command-line flags people type (`--bind`, `--data-dir`, `--database-url`, …).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub executors: ExecutorSettings,
    pub fleet: FleetSettings,
    pub slurm: SlurmSettings,
    pub limits: Limits,
    pub log: LogSettings,
    pub import: ImportSettings,
    /// Password checking: the argon2 pool and failed-password back-off.
    pub auth: crate::auth::AuthSettings,
    /// Limits of interactive plot sessions.
    pub plots: crate::plots::PlotSettings,
    /// The `spark` kind: `spark-submit`, the cluster, job limits (handed to jobs as a job setting).
    pub spark: vocloud_workers::spark::SparkSettings,
    /// Password of the `admin` account created on first start; a random one is printed if unset.
    pub admin_password: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address to listen on; port 0 picks a free port (tests).
    pub bind: String,
    /// The URL clients reach the service at, when behind a proxy (no trailing slash). By default
    /// URLs are built from the request's Host header.
    pub public_url: Option<String>,
    /// How long a browser login (the session cookie) lasts, in seconds.
    pub login_seconds: u64,
    /// Proxies (addresses or CIDR ranges) whose `Forwarded`/`X-Forwarded-*` headers are
    /// believed; from anyone else they are ignored (see `site`).
    pub trusted_proxies: Vec<String>,
    /// Longest time a client may take to send a request's headers, in seconds.
    pub header_timeout_seconds: u64,
    /// Longest wait for the next bytes of a request body, in seconds.
    pub body_timeout_seconds: u64,
    /// How long an idle keep-alive connection stays open, in seconds.
    pub keep_alive_seconds: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`; unset means SQLite at `<data_dir>/vocloud.db`.
    pub url: Option<SecretString>,
    /// Connections in the pool.
    pub max_connections: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Holds the SQLite database and, unless `root` says otherwise, the storage root.
    pub data_dir: PathBuf,
    /// The shared storage root (`users/`, `jobs/`); default `<data_dir>/storage`.
    pub root: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorSettings {
    /// Local worker slots (attempts the master runs at once, each in a child process); unset
    /// means one per core, 0 runs no job on the master.
    pub local_workers: Option<usize>,
    /// Attempts a job gets when its run is interrupted (restart, lost worker) before it ends in ERROR.
    pub max_attempts: i64,
    /// Crashes of a job's process (a signal, an abort) after which the job ends in ERROR
    /// instead of being retried.
    pub max_crashes: i64,
    /// Memory limit of each attempt's process in MiB (RLIMIT_DATA); unset means half the RAM,
    /// at most 8 GiB.
    pub attempt_memory_mb: Option<u64>,
    /// The `vocloud` binary that runs attempts (`vocloud run-job`); default: this executable.
    pub attempt_binary: Option<PathBuf>,
    /// Seconds a cancelled attempt gets to stop (after SIGTERM) before it is killed.
    pub cancel_grace_seconds: u64,
}

/// The remote worker fleet (`vocloud worker` processes).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetSettings {
    /// Seconds a claimed job stays a worker's without a heartbeat; then it is re-queued.
    pub lease_seconds: u64,
    /// How often workers renew leases and learn about aborts, in milliseconds.
    pub heartbeat_ms: u64,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings { lease_seconds: 30, heartbeat_ms: 2000 }
    }
}

/// The Slurm executor: each job becomes an `sbatch` of `vocloud run-job <job-dir>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlurmSettings {
    /// Submit jobs to Slurm.
    pub enabled: bool,
    /// Only these kinds go to Slurm (empty: all).
    pub kinds: Vec<String>,
    /// `--partition`, if set.
    pub partition: Option<String>,
    /// `--account`, if set.
    pub account: Option<String>,
    /// More `sbatch` arguments, e.g. `["--qos=normal"]`.
    pub extra_args: Vec<String>,
    /// The `vocloud` binary as the compute nodes see it (default: this executable).
    pub binary: Option<PathBuf>,
    /// How often Slurm is asked about our jobs, in milliseconds.
    pub poll_ms: u64,
    /// Jobs submitted and not yet finished, at most.
    pub max_jobs: usize,
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            enabled: false,
            kinds: Vec::new(),
            partition: None,
            account: None,
            extra_args: Vec::new(),
            binary: None,
            poll_ms: 1000,
            max_jobs: 100,
        }
    }
}

/// Bounds on what clients may ask for. Durations are seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Execution duration a new job gets (0 = unlimited).
    pub default_execution_duration: i64,
    /// Largest execution duration a client may set (0 = no cap); requests above are clamped.
    pub max_execution_duration: i64,
    /// A new job is destroyed this long after creation.
    pub default_destruction: i64,
    /// Latest destruction a client may set, counted from creation; later requests are clamped.
    pub max_destruction: i64,
    /// Longest a blocking `WAIT` holds a request (UWS allows the server to cap it).
    pub max_wait: u64,
    /// Largest form body (UWS POSTs), in bytes.
    pub max_form_bytes: usize,
    /// Largest file upload through the files API, in bytes.
    pub max_upload_bytes: u64,
    /// Bytes each user may occupy on the storage (their files plus their jobs' folders);
    /// 0 = unlimited. Enforced on uploads and imports (see `jobs::quota`).
    pub user_quota_bytes: u64,
    /// How often the reaper looks for expired destruction times and overrun jobs, in milliseconds.
    pub reaper_interval_ms: u64,
    /// Largest memory a job may need, by its kind's estimate, in MiB; bigger jobs are refused at
    /// creation. Unset means half the RAM, at most 8 GiB (the default attempt limit).
    pub max_job_memory_mb: Option<u64>,
}

impl Limits {
    /// [`Limits::max_job_memory_mb`] with its default applied.
    pub fn job_memory_mb(&self) -> u64 {
        self.max_job_memory_mb.unwrap_or_else(crate::runner::process::default_memory_mb)
    }
}

/// The `import` job kind (downloads of spectra collections).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportSettings {
    /// Let imports fetch from loopback, private and link-local addresses. Off by default: users
    /// name the URLs, and the server must not become a proxy into its own network (SSRF). Turn
    /// on for intranet archives and tests.
    pub allow_private_addresses: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter (`info`, `vocloud=debug,sqlx=warn`); `RUST_LOG` wins when set.
    pub filter: String,
    /// One JSON object a line, for log collectors.
    pub json: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            bind: "127.0.0.1:8080".into(),
            public_url: None,
            login_seconds: 12 * 3600,
            trusted_proxies: Vec::new(),
            header_timeout_seconds: 10,
            body_timeout_seconds: 60,
            keep_alive_seconds: 30,
        }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings { data_dir: PathBuf::from("./vocloud-data"), root: None }
    }
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        ExecutorSettings {
            local_workers: None,
            max_attempts: 3,
            max_crashes: 2,
            attempt_memory_mb: None,
            attempt_binary: None,
            cancel_grace_seconds: 10,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        const DAY: i64 = 86_400;
        Limits {
            default_execution_duration: DAY,
            max_execution_duration: 7 * DAY,
            default_destruction: 30 * DAY,
            max_destruction: 365 * DAY,
            max_wait: 60,
            max_form_bytes: 1 << 20,
            max_upload_bytes: 64 << 30,
            user_quota_bytes: 10 << 30,
            reaper_interval_ms: 1000,
            max_job_memory_mb: None,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings { filter: "info".into(), json: false }
    }
}

/// Values from the command line, applied last.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub storage: Option<PathBuf>,
    pub local_workers: Option<usize>,
}

impl Settings {
    /// Loads defaults, then `file`, then the environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Settings> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        let env = config::Environment::with_prefix("VOCLOUD")
            .prefix_separator("_")
            .separator("__")
            .source(Some(settings_env()));
        let mut settings: Settings = builder
            .add_source(env)
            .build()
            .and_then(|c| c.try_deserialize())
            .context("reading settings (config file and VOCLOUD_* environment)")?;
        if settings.database.url.is_none() {
            settings.database.url = std::env::var("DATABASE_URL").ok().map(SecretString::from);
        }
        settings.apply(overrides);
        settings.validate()?;
        Ok(settings)
    }

    pub fn apply(&mut self, o: Overrides) {
        if let Some(bind) = o.bind {
            self.http.bind = bind;
        }
        if let Some(dir) = o.data_dir {
            self.storage.data_dir = dir;
        }
        if let Some(url) = o.database_url {
            self.database.url = Some(SecretString::from(url));
        }
        if let Some(root) = o.storage {
            self.storage.root = Some(root);
        }
        if let Some(n) = o.local_workers {
            self.executors.local_workers = Some(n);
        }
    }

    /// Deployment settings handed to every job (`JobContext::setting`).
    pub fn job_settings(&self) -> Vec<(String, String)> {
        vec![
            ("import_allow_private_addresses".into(), self.import.allow_private_addresses.to_string()),
            (
                vocloud_workers::spark::settings::JOB_SETTING.into(),
                serde_json::to_string(&self.spark).unwrap_or_default(),
            ),
        ]
    }

    /// Rejects settings that would only fail later, naming the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        let l = &self.limits;
        if l.default_execution_duration < 0 || l.max_execution_duration < 0 {
            bail!("limits.*_execution_duration must be >= 0 seconds");
        }
        if l.default_destruction <= 0 || l.max_destruction < l.default_destruction {
            bail!("limits.default_destruction must be > 0 and <= limits.max_destruction");
        }
        if self.fleet.lease_seconds == 0
            || self.fleet.heartbeat_ms == 0
            || self.fleet.heartbeat_ms >= self.fleet.lease_seconds * 1000
        {
            bail!("fleet.heartbeat_ms must be > 0 and shorter than fleet.lease_seconds");
        }
        self.spark.validate().map_err(anyhow::Error::msg)?;
        if self.executors.max_attempts < 1 {
            bail!("executors.max_attempts must be at least 1");
        }
        if self.executors.max_crashes < 1 {
            bail!("executors.max_crashes must be at least 1");
        }
        if self.executors.attempt_memory_mb.is_some_and(|mb| mb < 64) {
            bail!("executors.attempt_memory_mb must be at least 64 (MiB)");
        }
        if let Some(url) = &self.database.url {
            let url = url.expose_secret();
            if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                bail!("database.url must start with sqlite: or postgres:// (got a URL with another scheme)");
            }
        }
        Ok(())
    }

    pub fn storage_root(&self) -> PathBuf {
        self.storage.root.clone().unwrap_or_else(|| self.storage.data_dir.join("storage"))
    }

    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_string(),
            None => format!("sqlite://{}?mode=rwc", self.storage.data_dir.join("vocloud.db").display()),
        }
    }

    /// How attempts are started as child processes (local pool, `vocloud worker`).
    pub fn launcher(&self) -> anyhow::Result<crate::runner::Launcher> {
        let binary = match &self.executors.attempt_binary {
            Some(path) => path.clone(),
            None => std::env::current_exe().context("finding the vocloud binary to run attempts with")?,
        };
        Ok(crate::runner::Launcher::new(
            binary,
            self.executors.attempt_memory_mb.unwrap_or_else(crate::runner::process::default_memory_mb),
            self.job_settings(),
            &self.log.filter,
            std::time::Duration::from_secs(self.executors.cancel_grace_seconds),
        ))
    }

    pub fn local_workers(&self) -> usize {
        self.executors.local_workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// `VOCLOUD_*` variables that are not settings: options of one command (clap reads them), data
/// for jobs, and the tooling's own. They must never reach the strict settings source, where
/// every command would die on them as unknown keys. A name ending in `_` is a prefix.
pub const NOT_SETTINGS: &[&str] = &[
    // `vocloud worker --token`
    "VOCLOUD_WORKER_TOKEN",
    // `vocloud samp listen --token`
    "VOCLOUD_TOKEN",
    // deployment settings of jobs (`JobContext::setting`)
    "VOCLOUD_JOB_",
    // the test suite and the benchmarks
    "VOCLOUD_TEST_",
    "VOCLOUD_BENCH_",
];

/// Whether the environment variable `name` is one of [`NOT_SETTINGS`].
pub fn is_not_a_setting(name: &str) -> bool {
    NOT_SETTINGS.iter().any(|n| if n.ends_with('_') { name.starts_with(n) } else { name == *n })
}

/// The `VOCLOUD_*` settings of the process environment (without [`NOT_SETTINGS`]).
fn settings_env() -> config::Map<String, String> {
    std::env::vars().filter(|(k, _)| k.starts_with("VOCLOUD_") && !is_not_a_setting(k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_options_and_job_data_are_not_settings() {
        for name in ["VOCLOUD_WORKER_TOKEN", "VOCLOUD_TOKEN", "VOCLOUD_JOB_SOM_MEMORY_BUDGET_MB", "VOCLOUD_TEST_X"] {
            assert!(is_not_a_setting(name), "{name}");
        }
        for name in ["VOCLOUD_HTTP__BIND", "VOCLOUD_ADMIN_PASSWORD", "VOCLOUD_WORKER_TOKENS", "VOCLOUD_JOB"] {
            assert!(!is_not_a_setting(name), "{name}");
        }
    }
}
