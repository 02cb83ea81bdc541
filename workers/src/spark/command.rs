//! The `spark-submit` command line and environment for one attempt, built from the job's
//! parameters and the operator's settings. Pure: nothing here starts a process.
//!
//! What the program gets: its arguments (`{results}` and `{inputs}` replaced), and the
//! environment variables `VOCLOUD_RESULTS` (the results folder) and `VOCLOUD_INPUTS` (a JSON
//! list of the input paths). Paths are as the cluster sees the storage
//! (`spark.cluster_storage_root`). Resource requests are clamped to the operator's limits, job
//! `--conf` values must be on the operator's allow-list, and the operator's own `conf` wins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::params::{INPUTS_ARG, RESULTS_ARG, SparkParams, is_jar};
use super::settings::{DeployMode, Master, SparkSettings};

/// Variables of vocloud's environment that `spark-submit` may inherit: what the JVM, Python and
/// Hadoop clients need to run. Everything else (database URLs, passwords, tokens) stays out of
/// reach of user programs.
const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "JAVA_HOME",
    "SPARK_HOME",
    "SPARK_CONF_DIR",
    "HADOOP_HOME",
    "HADOOP_CONF_DIR",
    "YARN_CONF_DIR",
    "KRB5CCNAME",
];

/// Where things are for one attempt, as absolute paths on this host.
pub struct AttemptPaths {
    /// The storage root (symlinks resolved), against which cluster paths are mapped.
    pub storage_root: PathBuf,
    pub program: PathBuf,
    pub inputs: Vec<PathBuf>,
    pub results: PathBuf,
}

/// One `spark-submit` invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitCommand {
    pub executable: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// What the job asked for once clamped, for the log ("2 executors x 1 cores, 1024 MiB").
    pub resources: String,
}

impl SubmitCommand {
    /// The command as one line for the driver log (quoted for reading, never run by a shell).
    pub fn display(&self) -> String {
        std::iter::once(self.executable.as_str())
            .chain(self.args.iter().map(String::as_str))
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn quote(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:=,+@%[]*".contains(c));
    if plain { arg.to_string() } else { format!("'{}'", arg.replace('\'', r"'\''")) }
}

/// The application name vocloud gives a job's Spark application.
pub fn app_name(job_id: &str) -> String {
    format!("vocloud-{job_id}")
}

/// The Spark property that tags an application with its job (checked before trusting a UI port).
pub const JOB_PROPERTY: &str = "spark.vocloud.job";

/// Builds the command. `ui_port` is the driver UI's port (client mode).
///
/// # Errors
/// A message for the error summary when the job sets a `--conf` key this operator does not allow,
/// or runs Python in cluster mode on a standalone master (which Spark does not support).
pub fn build(
    params: &SparkParams,
    settings: &SparkSettings,
    job_id: &str,
    paths: &AttemptPaths,
    ui_port: Option<u16>,
    parent_env: impl Fn(&str) -> Option<String>,
) -> Result<SubmitCommand, String> {
    let master = settings.master();
    let cluster = settings.deploy_mode == DeployMode::Cluster;
    if cluster && !is_jar(&params.program) {
        return Err("this worker submits in cluster mode to a standalone master, where Spark runs only .jar \
                    programs; Python programs need the client deploy mode"
            .into());
    }
    let executors = params.executors.unwrap_or(settings.default_executors).min(settings.max_executors);
    let cores = params.cores.unwrap_or(settings.default_cores).min(settings.max_cores);
    let memory = params.memory_mb.unwrap_or(settings.default_memory_mb).min(settings.max_memory_mb);
    let to_cluster = |path: &Path| cluster_path(settings, &paths.storage_root, path);

    let mut args = vec!["--master".to_string()];
    args.push(match &master {
        Master::LocalPerJob => format!("local[{cores}]"),
        Master::Local(m) | Master::Other(m) => m.clone(),
        Master::Standalone { host_port } => format!("spark://{host_port}"),
    });
    args.extend(["--deploy-mode".into(), if cluster { "cluster" } else { "client" }.into()]);
    args.extend(["--name".into(), app_name(job_id)]);
    if let Some(class) = &params.main_class {
        args.extend(["--class".into(), class.clone()]);
    }
    let resources = if master.is_local() {
        args.extend(["--driver-memory".into(), format!("{memory}m")]);
        format!("local mode, {cores} threads, {memory} MiB")
    } else {
        match master {
            Master::Standalone { .. } => {
                args.extend(["--total-executor-cores".into(), (executors * cores).to_string()])
            }
            _ => args.extend(["--num-executors".into(), executors.to_string()]),
        }
        args.extend(["--executor-cores".into(), cores.to_string(), "--executor-memory".into(), format!("{memory}m")]);
        format!("{executors} executors x {cores} cores, {memory} MiB each")
    };

    let mut conf = BTreeMap::new();
    for (key, value) in params.conf().map_err(|e| e.to_string())? {
        if !settings.allowed_conf.contains(&key) {
            return Err(format!(
                "parameter 'conf': '{key}' is not allowed on this cluster (allowed: {})",
                settings.allowed_conf.join(", ")
            ));
        }
        conf.insert(key, value);
    }
    conf.extend(settings.conf.clone());
    conf.insert(JOB_PROPERTY.into(), job_id.into());
    if let Some(port) = ui_port {
        conf.insert("spark.ui.port".into(), port.to_string());
    }
    if cluster {
        // The client side of the standalone REST submission protocol (Spark 4 needs it said).
        conf.insert("spark.master.rest.enabled".into(), "true".into());
    }
    for (key, value) in conf {
        args.extend(["--conf".into(), format!("{key}={value}")]);
    }

    args.push(if cluster { to_cluster(&paths.program) } else { paths.program.display().to_string() });
    let results = to_cluster(&paths.results);
    let inputs: Vec<String> = paths.inputs.iter().map(|p| to_cluster(p)).collect();
    for arg in params.args().map_err(|e| e.to_string())? {
        match arg.as_str() {
            RESULTS_ARG => args.push(results.clone()),
            INPUTS_ARG => args.extend(inputs.iter().cloned()),
            _ => args.push(arg),
        }
    }

    let mut env: BTreeMap<String, String> =
        INHERITED_ENV.iter().filter_map(|name| parent_env(name).map(|v| (name.to_string(), v))).collect();
    env.extend(settings.env.clone());
    if let Some(python) = &settings.python {
        env.insert("PYSPARK_PYTHON".into(), python.clone());
        env.insert("PYSPARK_DRIVER_PYTHON".into(), python.clone());
    }
    env.insert("VOCLOUD_RESULTS".into(), results);
    env.insert("VOCLOUD_INPUTS".into(), serde_json::to_string(&inputs).unwrap_or_default());
    Ok(SubmitCommand { executable: settings.submit.clone(), args, env, resources })
}

/// `path` as the cluster sees it: below `spark.cluster_storage_root` when that is set.
fn cluster_path(settings: &SparkSettings, storage_root: &Path, path: &Path) -> String {
    match (&settings.cluster_storage_root, path.strip_prefix(storage_root)) {
        (Some(root), Ok(relative)) => format!("{}/{}", root.trim_end_matches('/'), relative.display()),
        _ => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SparkParams {
        SparkParams {
            program: "prog/job.py".into(),
            main_class: None,
            args: None,
            inputs: Some(r#"["a.fits", "b"]"#.into()),
            executors: None,
            cores: None,
            memory_mb: None,
            conf: None,
        }
    }

    fn paths() -> AttemptPaths {
        AttemptPaths {
            storage_root: "/srv/st".into(),
            program: "/srv/st/users/al/prog/job.py".into(),
            inputs: vec!["/srv/st/users/al/a.fits".into(), "/srv/st/users/al/b".into()],
            results: "/srv/st/jobs/j1/work/attempt-1/results".into(),
        }
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "PATH" => Some("/usr/bin".into()),
            "DATABASE_URL" | "VOCLOUD_ADMIN_PASSWORD" => Some("secret".into()),
            _ => None,
        }
    }

    fn build_with(params: &SparkParams, settings: &SparkSettings) -> Result<SubmitCommand, String> {
        build(params, settings, "j1", &paths(), Some(4321), env)
    }

    fn after<'a>(command: &'a SubmitCommand, flag: &str) -> Vec<&'a str> {
        command.args.windows(2).filter(|w| w[0] == flag).map(|w| w[1].as_str()).collect()
    }

    #[test]
    fn default_is_local_per_job_with_results_then_inputs() {
        let command = build_with(&params(), &SparkSettings::default()).unwrap();
        assert_eq!(after(&command, "--master"), ["local[2]"]);
        assert_eq!(after(&command, "--deploy-mode"), ["client"]);
        assert!(after(&command, "--conf").contains(&"spark.ui.port=4321"));
        assert!(after(&command, "--conf").contains(&"spark.vocloud.job=j1"));
        let tail: Vec<&str> = command.args.iter().rev().take(4).rev().map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                "/srv/st/users/al/prog/job.py",
                "/srv/st/jobs/j1/work/attempt-1/results",
                "/srv/st/users/al/a.fits",
                "/srv/st/users/al/b"
            ]
        );
        assert_eq!(command.env["VOCLOUD_RESULTS"], "/srv/st/jobs/j1/work/attempt-1/results");
        assert_eq!(command.env["VOCLOUD_INPUTS"], r#"["/srv/st/users/al/a.fits","/srv/st/users/al/b"]"#);
    }

    #[test]
    fn vocloud_secrets_never_reach_the_program() {
        let command = build_with(&params(), &SparkSettings::default()).unwrap();
        assert_eq!(command.env.get("PATH").map(String::as_str), Some("/usr/bin"));
        assert!(!command.env.contains_key("DATABASE_URL") && !command.env.contains_key("VOCLOUD_ADMIN_PASSWORD"));
    }

    #[test]
    fn requests_are_clamped_and_spelled_for_the_master() {
        let mut p = params();
        (p.executors, p.cores, p.memory_mb) = (Some(100), Some(64), Some(1 << 20));
        let mut settings = SparkSettings { master: "spark://m:7077".into(), ..SparkSettings::default() };
        let command = build_with(&p, &settings).unwrap();
        assert_eq!(after(&command, "--total-executor-cores"), ["64"]);
        assert_eq!(after(&command, "--executor-cores"), ["8"]);
        assert_eq!(after(&command, "--executor-memory"), ["8192m"]);
        settings.master = "yarn".into();
        let command = build_with(&p, &settings).unwrap();
        assert_eq!(after(&command, "--num-executors"), ["8"]);
        settings.master = "local[3]".into();
        let command = build_with(&p, &settings).unwrap();
        assert_eq!(
            (after(&command, "--master"), after(&command, "--driver-memory")),
            (vec!["local[3]"], vec!["8192m"])
        );
    }

    #[test]
    fn operator_conf_wins_and_narrowed_keys_fail() {
        let mut p = params();
        p.conf = Some(r#"{"spark.sql.shuffle.partitions": "500", "spark.speculation": "true"}"#.into());
        let mut settings = SparkSettings::default();
        settings.conf.insert("spark.sql.shuffle.partitions".into(), "16".into());
        let command = build_with(&p, &settings).unwrap();
        let confs = after(&command, "--conf");
        assert!(confs.contains(&"spark.sql.shuffle.partitions=16") && !confs.iter().any(|c| c.ends_with("=500")));
        settings.allowed_conf.retain(|k| k != "spark.speculation");
        assert!(build_with(&p, &settings).unwrap_err().contains("'spark.speculation' is not allowed on this cluster"));
    }

    #[test]
    fn placeholders_are_whole_arguments_and_paths_map_to_the_cluster_view() {
        let mut p = params();
        p.args = Some(r#"["--out", "{results}", "--in", "{inputs}", "{results}/x", "a;b"]"#.into());
        let settings = SparkSettings { cluster_storage_root: Some("hdfs://nn/voc/".into()), ..Default::default() };
        let command = build_with(&p, &settings).unwrap();
        let n = command.args.len();
        assert_eq!(
            command.args[n - 8..],
            [
                "/srv/st/users/al/prog/job.py",
                "--out",
                "hdfs://nn/voc/jobs/j1/work/attempt-1/results",
                "--in",
                "hdfs://nn/voc/users/al/a.fits",
                "hdfs://nn/voc/users/al/b",
                "{results}/x",
                "a;b"
            ]
        );
    }

    #[test]
    fn cluster_mode_runs_jars_only_and_maps_the_program() {
        let settings = SparkSettings {
            master: "spark://m:6066".into(),
            deploy_mode: DeployMode::Cluster,
            cluster_storage_root: Some("/mnt/voc".into()),
            ..Default::default()
        };
        assert!(build_with(&params(), &settings).unwrap_err().contains("only .jar"));
        let mut p = params();
        (p.program, p.main_class) = ("app.jar".into(), Some("org.x.Main".into()));
        let mut paths = paths();
        paths.program = "/srv/st/users/al/app.jar".into();
        let command = build(&p, &settings, "j1", &paths, None, env).unwrap();
        assert!(command.args.contains(&"/mnt/voc/users/al/app.jar".to_string()));
        assert!(after(&command, "--conf").contains(&"spark.master.rest.enabled=true"));
        assert_eq!(after(&command, "--class"), ["org.x.Main"]);
    }

    #[test]
    fn the_logged_command_line_quotes_what_needs_it() {
        let command = SubmitCommand {
            executable: "spark-submit".into(),
            args: vec!["a b".into(), "it's".into(), "local[2]".into()],
            env: BTreeMap::new(),
            resources: String::new(),
        };
        assert_eq!(command.display(), r"spark-submit 'a b' 'it'\''s' local[2]");
    }
}
