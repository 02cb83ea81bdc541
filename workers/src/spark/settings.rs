//! The operator's `[spark]` settings: where `spark-submit` is, which cluster it talks to, the
//! defaults and limits of what a job may ask for, and how the cluster sees vocloud's storage.
//!
//! The service's configuration holds this struct as its `[spark]` section (environment
//! `VOCLOUD_SPARK__<KEY>`), and every process that runs jobs hands it to the kind as the job
//! setting `spark` (JSON), so a remote worker or a Slurm node submits with its own configuration.
//! Clients never see or set any of it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::params::BUILTIN_CONF;
use crate::{Failure, JobContext};

/// The job setting that carries [`SparkSettings`] as JSON.
pub const JOB_SETTING: &str = "spark";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SparkSettings {
    /// The `spark-submit` executable: a path, or a name looked up on `PATH`.
    pub submit: String,
    /// `local` (the default: `local[N]` with N the job's cores), `local[N]`, `spark://host:port`,
    /// `yarn` or `k8s://…`.
    pub master: String,
    /// `client` (the driver runs in the attempt's process tree, next to vocloud) or `cluster`
    /// (the driver runs on the cluster; standalone masters only, through their REST port).
    pub deploy_mode: DeployMode,
    /// The Python that runs PySpark programs (`PYSPARK_PYTHON`); default: Spark's (`python3`).
    pub python: Option<String>,
    /// Executors a job gets when it does not say, and at most.
    pub default_executors: u32,
    pub max_executors: u32,
    /// Cores per executor (in local mode: the driver's threads) by default, and at most.
    pub default_cores: u32,
    pub max_cores: u32,
    /// Memory per executor in MiB (in local mode: the driver's heap) by default, and at most.
    pub default_memory_mb: u32,
    pub max_memory_mb: u32,
    /// Extra environment for `spark-submit` (`JAVA_HOME`, `HADOOP_CONF_DIR`, …). The programs
    /// otherwise get a small fixed environment, never vocloud's own (database URL, passwords).
    pub env: BTreeMap<String, String>,
    /// `--conf` values every job gets; they win over the job's own.
    pub conf: BTreeMap<String, String>,
    /// The `--conf` keys jobs may set. Defaults to the built-in list, and can only narrow it:
    /// job creation checks against the built-in list.
    pub allowed_conf: Vec<String>,
    /// The storage root as the cluster's driver and executors see it (a path or a URL such as
    /// `hdfs://nn/vocloud`); default: the same path as on this host.
    pub cluster_storage_root: Option<String>,
    /// The standalone master's web UI (`http://master:8080`), used in cluster mode to fetch the
    /// driver's log from its worker. Without it the job keeps only the submission's output.
    pub master_web_ui: Option<String>,
    /// Milliseconds between SIGTERM and SIGKILL when a client-mode driver is stopped.
    pub stop_grace_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployMode {
    Client,
    Cluster,
}

impl Default for SparkSettings {
    fn default() -> Self {
        SparkSettings {
            submit: "spark-submit".into(),
            master: "local".into(),
            deploy_mode: DeployMode::Client,
            python: None,
            default_executors: 1,
            max_executors: 8,
            default_cores: 2,
            max_cores: 8,
            default_memory_mb: 1024,
            max_memory_mb: 8192,
            env: BTreeMap::new(),
            conf: BTreeMap::new(),
            allowed_conf: BUILTIN_CONF.iter().map(|k| k.to_string()).collect(),
            cluster_storage_root: None,
            master_web_ui: None,
            stop_grace_ms: 3000,
        }
    }
}

impl SparkSettings {
    /// The settings the executor passed; the defaults when it passed none.
    pub fn from_context(ctx: &JobContext) -> Result<SparkSettings, Failure> {
        let Some(json) = ctx.setting(JOB_SETTING) else {
            return Ok(SparkSettings::default());
        };
        let settings: SparkSettings =
            serde_json::from_str(&json).map_err(|e| Failure::fatal("the [spark] settings of this worker", e))?;
        settings.validate().map_err(|e| Failure::Fatal(format!("the [spark] settings of this worker: {e}")))?;
        Ok(settings)
    }

    /// Rejects settings that could only fail later, naming the key (`spark.<key>`).
    pub fn validate(&self) -> Result<(), String> {
        if self.submit.trim().is_empty() {
            return Err("spark.submit must name the spark-submit executable".into());
        }
        for (key, default, max) in [
            ("executors", self.default_executors, self.max_executors),
            ("cores", self.default_cores, self.max_cores),
            ("memory_mb", self.default_memory_mb, self.max_memory_mb),
        ] {
            if default == 0 || default > max {
                return Err(format!("spark.default_{key} must be at least 1 and at most spark.max_{key}"));
            }
        }
        if let Some(key) = self.allowed_conf.iter().find(|k| !BUILTIN_CONF.contains(&k.as_str())) {
            return Err(format!(
                "spark.allowed_conf: '{key}' is not on the built-in list ({}); the setting can only narrow it",
                BUILTIN_CONF.join(", ")
            ));
        }
        if let Some(name) = self.env.keys().find(|k| k.is_empty() || k.contains('=') || k.contains('\0')) {
            return Err(format!("spark.env: '{name}' is not an environment variable name"));
        }
        match (self.deploy_mode, self.master()) {
            (DeployMode::Cluster, Master::Standalone { .. }) | (DeployMode::Client, _) => Ok(()),
            (DeployMode::Cluster, _) => Err(format!(
                "spark.deploy_mode = \"cluster\" needs a standalone master (spark://host:port, its REST port); \
                 got '{}'",
                self.master
            )),
        }
    }

    pub fn master(&self) -> Master {
        Master::parse(&self.master)
    }
}

/// The kinds of master vocloud treats differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Master {
    /// `local`: `local[N]` with N the job's cores.
    LocalPerJob,
    /// `local[N]`, `local[*]`, … as given.
    Local(String),
    /// `spark://host:port`.
    Standalone { host_port: String },
    /// YARN, Kubernetes, anything else `spark-submit` understands.
    Other(String),
}

impl Master {
    pub fn parse(text: &str) -> Master {
        let text = text.trim();
        if text == "local" {
            Master::LocalPerJob
        } else if text.starts_with("local[") || text.starts_with("local-cluster[") {
            Master::Local(text.to_string())
        } else if let Some(rest) = text.strip_prefix("spark://") {
            Master::Standalone { host_port: rest.trim_end_matches('/').to_string() }
        } else {
            Master::Other(text.to_string())
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Master::LocalPerJob | Master::Local(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_run_locally_per_job() {
        let settings = SparkSettings::default();
        assert_eq!(settings.validate(), Ok(()));
        assert_eq!(settings.master(), Master::LocalPerJob);
    }

    #[test]
    fn bad_settings_name_their_key() {
        type Case = (Box<dyn Fn(&mut SparkSettings)>, &'static str);
        let cases: Vec<Case> = vec![
            (Box::new(|s| s.max_cores = 1), "spark.default_cores"),
            (Box::new(|s| s.default_memory_mb = 0), "spark.default_memory_mb"),
            (Box::new(|s| s.allowed_conf.push("spark.driver.extraJavaOptions".into())), "spark.allowed_conf"),
            (Box::new(|s| s.deploy_mode = DeployMode::Cluster), "needs a standalone master"),
            (Box::new(|s| drop(s.env.insert("A=B".into(), "x".into()))), "spark.env"),
        ];
        for (change, expected) in cases {
            let mut settings = SparkSettings::default();
            change(&mut settings);
            let error = settings.validate().unwrap_err();
            assert!(error.contains(expected), "'{error}' lacks '{expected}'");
        }
    }

    #[test]
    fn masters_are_told_apart() {
        assert_eq!(Master::parse("local[4]"), Master::Local("local[4]".into()));
        assert_eq!(Master::parse("spark://m:6066/"), Master::Standalone { host_port: "m:6066".into() });
        assert_eq!(Master::parse("yarn"), Master::Other("yarn".into()));
        assert!(!Master::parse("k8s://https://api:6443").is_local());
    }

    #[test]
    fn settings_round_trip_as_the_job_setting() {
        let mut settings = SparkSettings::default();
        settings.env.insert("JAVA_HOME".into(), "/usr/lib/jvm/java-17".into());
        let json = serde_json::to_string(&settings).unwrap();
        assert_eq!(serde_json::from_str::<SparkSettings>(&json).unwrap(), settings);
    }
}
