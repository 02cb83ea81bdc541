//! The `spark` kind against a real Spark: `pyspark` from PyPI in target/pyenv (it carries
//! `spark-submit` and the standalone master and worker) on Java 17. Local mode; a standalone
//! master + worker started here and shared by the tests of this file (client mode, cluster mode
//! with a jar, restarts of the real binary); the grant; hostile parameters; and the example
//! programs of docs/examples/spark on FITS spectra and netCDF files.
//!
//! Spark tests run one at a time ([`SERIAL`]): every JVM wants a core, and a test machine may
//! have two. Spark starts slowly there, so jobs get [`JOB_DEADLINE`], while what must be prompt
//! (an abort, a killed server's driver) is held to seconds.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};
use vocloud::config::Settings;

use crate::helpers::{TestApp, User, element, location, phase, spawn_app_with, test_database};

const JOB_DEADLINE: Duration = Duration::from_secs(900);
/// How fast an ABORT (or a killed server) must take the application off the master.
const PROMPT: Duration = Duration::from_secs(5);
static SERIAL: Mutex<()> = Mutex::const_new(());
const BIN: &str = env!("CARGO_BIN_EXE_vocloud");

fn python() -> PathBuf {
    std::env::var("VOCLOUD_TEST_PYTHON").unwrap_or_else(|_| "python3".into()).into()
}

/// A script of the pyspark package (`spark-submit`, `spark-class`), beside the test Python.
fn spark_tool(name: &str) -> PathBuf {
    let beside = python().parent().map(|dir| dir.join(name));
    beside.filter(|p| p.exists()).unwrap_or_else(|| name.into())
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spark").join(name)
}

/// Points the app's `[spark]` settings at the test Spark, with Spark's scratch inside the app's
/// data folder (removed with it).
fn use_spark(settings: &mut Settings, master: &str) {
    let scratch = settings.storage.data_dir.join("spark-local");
    settings.spark.submit = spark_tool("spark-submit").display().to_string();
    settings.spark.python = Some(python().display().to_string());
    settings.spark.master = master.into();
    settings.spark.env.insert("SPARK_LOCAL_IP".into(), "127.0.0.1".into());
    settings.spark.env.insert("SPARK_LOCAL_DIRS".into(), scratch.display().to_string());
}

/// The app and alice, who holds the `spark` grant and has the probe program in `prog/`.
async fn spark_app(configure: impl FnOnce(&mut Settings)) -> (TestApp, User) {
    let app = spawn_app_with(configure).await;
    let alice = app.add_user("alice").await;
    assert!(vocloud::db::users::grant(&app.db, "alice", "spark").await.unwrap());
    app.upload(&alice, "prog/probe.py", std::fs::read(fixture("probe.py")).unwrap()).await;
    app.upload(&alice, "data/lines.txt", b"one\ntwo\nthree\n".to_vec()).await;
    (app, alice)
}

async fn create(app: &TestApp, user: &User, form: &[(&str, &str)]) -> String {
    let mut form = form.to_vec();
    form.push(("PHASE", "RUN"));
    app.create_job(user, "spark", &form).await
}

/// Waits (blocking WAITs) until the job's document satisfies `done`.
async fn wait_for(app: &TestApp, user: &User, url: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + JOB_DEADLINE;
    loop {
        let doc = app.job(user, url, None).await;
        if done(&doc) {
            return doc;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {doc}");
        let query = if doc.contains("<vocloud:progress") {
            "?WAIT=1".to_string()
        } else {
            format!("?WAIT=5&PHASE={}", phase(&doc))
        };
        let _ = app.get(user, &format!("{url}{query}")).send().await.unwrap().text().await;
    }
}

async fn wait_end(app: &TestApp, user: &User, url: &str) -> String {
    wait_for(app, user, url, "the end", |doc| !["PENDING", "QUEUED", "EXECUTING"].contains(&phase(doc).as_str())).await
}

/// The result ids of a job document.
fn result_names(doc: &str) -> Vec<String> {
    doc.split("<uws:result id=\"").skip(1).filter_map(|s| s.split('"').next()).map(str::to_string).collect()
}

async fn result(app: &TestApp, user: &User, url: &str, name: &str) -> String {
    let response = app.get(user, &format!("{url}/results/{name}")).send().await.unwrap();
    assert_eq!(response.status(), 200, "result {name}");
    response.text().await.unwrap()
}

fn job_id(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// Processes whose command line mentions `text` (a job id: the driver JVM's `--name`, the
/// Python driver's results path).
fn processes_mentioning(text: &str) -> Vec<u32> {
    let own = std::process::id();
    let entries = std::fs::read_dir("/proc").unwrap().flatten();
    entries
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(text))
        })
        .collect()
}

/// Polls `check` every 100 ms for up to `limit`; returns how long it took.
async fn within(limit: Duration, what: &str, check: impl AsyncFn() -> bool) -> Duration {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

// ---------------------------------------------------------------- local mode

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_completes_fails_with_the_traceback_and_aborts_within_seconds() {
    let _serial = SERIAL.lock().await;
    let (app, alice) = spark_app(|s| use_spark(s, "local")).await;
    let marker = app.data_dir.path().join("pwned");
    let hostile = format!("$(touch {}); `touch {0}` | x > y", marker.display());
    let args = serde_json::to_string(&["ok", "{results}", "{inputs}", "a b", &hostile]).unwrap();
    let ok = create(&app, &alice, &[("program", "prog/probe.py"), ("args", &args), ("inputs", "[\"data/lines.txt\"]")])
        .await;
    let failing = create(&app, &alice, &[("program", "prog/probe.py"), ("args", r#"["fail", "{results}"]"#)]).await;

    let doc = wait_end(&app, &alice, &ok).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    assert_eq!(result_names(&doc), ["spark-driver.log", "summary.json"], "only files directly in the results folder");
    let summary: Value = serde_json::from_str(&result(&app, &alice, &ok, "summary.json").await).unwrap();
    assert_eq!(summary["sum"], 5050);
    assert_eq!(summary["lines"], 3, "the program read its input");
    assert_eq!(summary["master"], "local[2]");
    let results = summary["env_results"].as_str().unwrap();
    assert!(results.ends_with(&format!("jobs/{}/work/attempt-1/results", job_id(&ok))), "{results}");
    let input = app.data_dir.path().join("storage/users/alice/data/lines.txt").canonicalize().unwrap();
    assert_eq!(summary["env_inputs"], serde_json::json!([input]));
    assert_eq!(
        summary["argv"],
        serde_json::json!(["ok", results, input, "a b", hostile]),
        "arguments arrive exactly as listed"
    );
    assert!(!marker.exists(), "an argument was run by a shell");
    assert_eq!(
        summary["vocloud_env"],
        serde_json::json!(["VOCLOUD_INPUTS", "VOCLOUD_RESULTS"]),
        "vocloud's own environment leaked"
    );
    let log = result(&app, &alice, &ok, "spark-driver.log").await;
    assert!(log.starts_with("vocloud: ") && log.contains("--name vocloud-"), "{}", &log[..log.len().min(2000)]);
    let results_dir = app.data_dir.path().join("storage/jobs").join(job_id(&ok)).join("results");
    assert!(results_dir.join("sub/nested.txt").exists() && !results_dir.join("hostname.txt").exists());

    let doc = wait_end(&app, &alice, &failing).await;
    assert_eq!(phase(&doc), "ERROR", "{doc}");
    let message = element(&doc, "message").unwrap();
    assert!(message.contains("Traceback (most recent call last):"), "{message}");
    assert!(message.ends_with("ValueError: probe failed on request after summing to 5050"), "{message}");
    assert!(result_names(&doc).contains(&"spark-driver.log".to_string()), "a failed job keeps its driver log");

    let sleeping = create(&app, &alice, &[("program", "prog/probe.py"), ("args", r#"["sleep", "{results}"]"#)]).await;
    let overrun = create(
        &app,
        &alice,
        &[("program", "prog/probe.py"), ("args", r#"["sleep", "{results}"]"#), ("EXECUTIONDURATION", "45")],
    )
    .await;
    let doc = wait_for(&app, &alice, &sleeping, "task progress", |doc| doc.contains(" of 2 tasks done")).await;
    assert!(doc.contains("0 of 2 tasks done") || doc.contains("1 of 2 tasks done"), "{doc}");
    assert!(!processes_mentioning(job_id(&sleeping)).is_empty(), "the driver runs");
    let response = app.post(&alice, &format!("{sleeping}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let took =
        within(PROMPT, "the driver's processes end", async || processes_mentioning(job_id(&sleeping)).is_empty()).await;
    eprintln!("local mode: driver gone {took:?} after ABORT");
    assert_eq!(phase(&app.job(&alice, &sleeping, None).await), "ABORTED");

    let doc = wait_end(&app, &alice, &overrun).await;
    assert_eq!(phase(&doc), "ABORTED", "{doc}");
    assert!(element(&doc, "message").unwrap().contains("execution duration of 45 s exceeded"), "{doc}");
    within(PROMPT, "the overrun driver's processes end", async || processes_mentioning(job_id(&overrun)).is_empty())
        .await;
}

// ---------------------------------------------------------------- a standalone cluster

/// A standalone master (with its REST submission port) and one worker with four cores (cluster-mode
/// drivers take one each, so two concurrent jobs still leave cores for executors), started
/// once for this test binary. Its processes share a group led by a watchdog that reads a pipe
/// this process holds: when the test binary exits, however it exits, the watchdog deletes the
/// cluster's folder and kills the group.
struct Cluster {
    /// `spark://127.0.0.1:<port>`: where client-mode jobs go.
    master: String,
    /// `spark://127.0.0.1:<rest port>`: where cluster-mode jobs go.
    rest: String,
    /// `http://127.0.0.1:<port>`: the master's web UI and its `/json/`.
    web_ui: String,
    _lifeline: std::process::ChildStdin,
}

const CLUSTER_SCRIPT: &str = r#"dir=$1; class=$2
printf 'spark.master.rest.enabled true\nspark.master.rest.port %s\n' "$4" > "$dir/master.conf"
"$class" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$3" --webui-port "$5" \
    --properties-file "$dir/master.conf" > "$dir/master.log" 2>&1 &
"$class" org.apache.spark.deploy.worker.Worker "spark://127.0.0.1:$3" --host 127.0.0.1 --cores 4 --memory 6g \
    --webui-port "$6" --work-dir "$dir/work" > "$dir/worker.log" 2>&1 &
read _unused
rm -rf "$dir"
kill -KILL 0"#;

static CLUSTER: OnceCell<Cluster> = OnceCell::const_new();

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(start_cluster).await
}

// The cluster lives as long as the test binary: it stops when its stdin (the lifeline) closes
// at exit, and nobody is left to wait for it.
#[allow(clippy::zombie_processes)]
async fn start_cluster() -> Cluster {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::Builder::new().prefix("vocloud-spark-cluster-").tempdir().unwrap().keep();
    let ports: Vec<String> = (0..4).map(|_| free_port().to_string()).collect();
    let mut child = Command::new("/bin/sh")
        .args(["-c", CLUSTER_SCRIPT, "cluster"])
        .arg(&dir)
        .arg(spark_tool("spark-class"))
        .args(&ports)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env("SPARK_LOCAL_DIRS", dir.join("local"))
        .env("PYSPARK_DRIVER_PYTHON", python())
        .stdin(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("starting the standalone cluster");
    let cluster = Cluster {
        master: format!("spark://127.0.0.1:{}", ports[0]),
        rest: format!("spark://127.0.0.1:{}", ports[1]),
        web_ui: format!("http://127.0.0.1:{}", ports[2]),
        _lifeline: child.stdin.take().unwrap(),
    };
    let what = || {
        let logs = ["master.log", "worker.log"].map(|f| std::fs::read_to_string(dir.join(f)).unwrap_or_default());
        format!("the standalone cluster did not come up:\n{}\n{}", logs[0], logs[1])
    };
    let up = || async { cluster.state().await.is_some_and(|s| s["aliveworkers"] == 1) };
    crate::helpers::eventually(Duration::from_secs(300), Duration::from_millis(500), what, up).await;
    cluster
}

impl Cluster {
    /// The master's `/json/` (workers, applications, drivers).
    async fn state(&self) -> Option<Value> {
        let response = reqwest::get(format!("{}/json/", self.web_ui)).await.ok()?;
        response.json().await.ok()
    }

    /// Whether the master lists a running application named for the job.
    async fn runs_app_of(&self, job_id: &str) -> bool {
        let state = self.state().await.expect("the master answers");
        let name = format!("vocloud-{job_id}");
        state["activeapps"].as_array().unwrap().iter().any(|a| a["name"] == name.as_str())
    }

    /// A driver's state from the master's `/json/` (active or completed).
    async fn driver_state(&self, submission_id: &str) -> Option<String> {
        let state = self.state().await?;
        let drivers = ["activedrivers", "completeddrivers"]
            .into_iter()
            .flat_map(|k| state[k].as_array().cloned().unwrap_or_default());
        drivers.into_iter().find(|d| d["id"] == submission_id).map(|d| d["state"].as_str().unwrap_or("").to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_client_mode_runs_on_the_cluster_and_abort_takes_the_app_off_the_master() {
    let _serial = SERIAL.lock().await;
    let cluster = cluster().await;
    let (app, alice) = spark_app(|s| use_spark(s, &cluster.master)).await;
    let form = |mode| [("program", "prog/probe.py"), ("args", mode), ("inputs", "data/lines.txt"), ("cores", "1")];
    let ok = create(&app, &alice, &form(r#"["ok", "{results}", "{inputs}"]"#)).await;
    let failing = create(&app, &alice, &form(r#"["fail", "{results}"]"#)).await;

    let doc = wait_end(&app, &alice, &ok).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    let summary: Value = serde_json::from_str(&result(&app, &alice, &ok, "summary.json").await).unwrap();
    assert_eq!((summary["sum"].as_i64(), summary["lines"].as_i64()), (Some(5050), Some(3)), "{summary}");
    assert_eq!(summary["master"], cluster.master.as_str());
    let doc = wait_end(&app, &alice, &failing).await;
    assert_eq!(phase(&doc), "ERROR", "{doc}");
    assert!(element(&doc, "message").unwrap().contains("ValueError: probe failed on request"), "{doc}");

    let sleeping = create(&app, &alice, &form(r#"["sleep", "{results}"]"#)).await;
    let id = job_id(&sleeping).to_string();
    wait_for(&app, &alice, &sleeping, "task progress", |doc| doc.contains(" of 2 tasks done")).await;
    assert!(cluster.runs_app_of(&id).await, "the application runs on the master");
    let response = app.post(&alice, &format!("{sleeping}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let took = within(PROMPT, "the application leaves the master", async || !cluster.runs_app_of(&id).await).await;
    eprintln!("standalone client mode: application gone from the master {took:?} after ABORT");
    within(PROMPT, "the driver's processes end", async || processes_mentioning(&id).is_empty()).await;
}

/// Compiles tests/spark/Probe.java against Spark's jars into `probe.jar` in `dir`.
fn probe_jar(dir: &Path) -> Vec<u8> {
    let package = Command::new(python())
        .args(["-c", "import pyspark, os; print(os.path.dirname(pyspark.__file__))"])
        .output()
        .expect("running the test Python");
    let jars = PathBuf::from(String::from_utf8_lossy(&package.stdout).trim()).join("jars");
    assert!(jars.is_dir(), "no pyspark package in {}", python().display());
    let classes = dir.join("classes");
    let status = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg("-cp")
        .arg(jars.join("*"))
        .arg(fixture("Probe.java"))
        .status()
        .expect("running javac (./x setup --test installs openjdk-17-jdk-headless)");
    assert!(status.success());
    let jar = dir.join("probe.jar");
    let status = Command::new("jar").arg("cf").arg(&jar).arg("-C").arg(&classes).arg(".").status().unwrap();
    assert!(status.success());
    std::fs::read(jar).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_cluster_mode_runs_a_jar_and_abort_kills_the_driver() {
    let _serial = SERIAL.lock().await;
    let cluster = cluster().await;
    let (app, alice) = spark_app(|s| {
        use_spark(s, &cluster.rest);
        s.spark.deploy_mode = vocloud_workers::spark::settings::DeployMode::Cluster;
        s.spark.master_web_ui = Some(cluster.web_ui.clone());
    })
    .await;
    app.upload(&alice, "prog/probe.jar", probe_jar(app.data_dir.path())).await;
    let form = |args| [("program", "prog/probe.jar"), ("main_class", "Probe"), ("args", args), ("cores", "1")];
    let ok = create(&app, &alice, &form(r#"["{results}", "0"]"#)).await;
    let failing = create(&app, &alice, &form(r#"["{results}", "0", "boom"]"#)).await;

    let doc = wait_end(&app, &alice, &ok).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    assert_eq!(result(&app, &alice, &ok, "count.txt").await, "count 1000\n");
    let log = result(&app, &alice, &ok, "spark-driver.log").await;
    assert!(
        log.contains("vocloud: submitted as driver driver-") && log.contains("driver stderr (from worker-"),
        "{log}"
    );
    let doc = wait_end(&app, &alice, &failing).await;
    assert_eq!(phase(&doc), "ERROR", "{doc}");
    let message = element(&doc, "message").unwrap();
    assert!(message.contains("IllegalStateException: probe failed on request: boom"), "{message}");

    let sleeping = create(&app, &alice, &form(r#"["{results}", "600"]"#)).await;
    let record = app.data_dir.path().join("storage/jobs").join(job_id(&sleeping)).join("work/spark-submission.json");
    let doc = wait_for(&app, &alice, &sleeping, "the driver to run", |doc| doc.contains(" RUNNING on worker-")).await;
    let record: Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap_or_else(|e| panic!("{e}: {doc}"));
    let driver = record["submission_id"].as_str().unwrap().to_string();
    let response = app.post(&alice, &format!("{sleeping}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let took = within(PROMPT, "the master kills the driver", async || {
        cluster.driver_state(&driver).await.as_deref() == Some("KILLED")
    })
    .await;
    eprintln!("standalone cluster mode: driver KILLED {took:?} after ABORT");
}

// ---------------------------------------------------------------- restarts of the real binary

/// `vocloud serve` as a separate process, with `[spark]` from a TOML file.
struct Serve {
    child: std::process::Child,
    base: String,
}

impl Serve {
    async fn start(dir: &Path, database: &str, port: u16, config: &Path) -> Serve {
        let log = std::fs::File::options().create(true).append(true).open(dir.join("serve.log")).unwrap();
        let child = vocloud(dir, database)
            .arg("--config")
            .arg(config)
            .args(["serve", "--local-workers", "2", "--bind", &format!("127.0.0.1:{port}")])
            .env("VOCLOUD_ADMIN_PASSWORD", "admin-password")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let serve = Serve { child, base: format!("http://127.0.0.1:{port}") };
        crate::helpers::wait_for_health(&serve.base, Duration::from_secs(60)).await;
        serve
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn vocloud(dir: &Path, database: &str) -> Command {
    let mut command = Command::new(BIN);
    command.arg("--data-dir").arg(dir).arg("--database-url").arg(database).env("RUST_LOG", "warn");
    command
}

fn cli(dir: &Path, database: &str, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = vocloud(dir, database)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// A data folder whose database holds alice (granted `spark` with the CLI) and her files.
async fn served_alice(dir: &Path, database: &str) -> User {
    assert!(cli(dir, database, &["user", "add", "alice", "--password-stdin"], "alice-password\n").0);
    assert!(cli(dir, database, &["user", "grant", "alice", "spark"], "").0);
    let files = dir.join("storage/users/alice/prog");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::copy(fixture("probe.py"), files.join("probe.py")).unwrap();
    User { name: "alice".into(), password: "alice-password".into() }
}

fn spark_toml(path: &Path, master: &str, cluster: Option<&Cluster>) {
    let mode = match cluster {
        Some(c) => format!("deploy_mode = \"cluster\"\nmaster_web_ui = \"{}\"\n", c.web_ui),
        None => String::new(),
    };
    let text = format!(
        "[spark]\nsubmit = {:?}\npython = {:?}\nmaster = {master:?}\n{mode}\n[spark.env]\nSPARK_LOCAL_IP = \"127.0.0.1\"\n",
        spark_tool("spark-submit").display().to_string(),
        python().display().to_string(),
    );
    std::fs::write(path, text).unwrap();
}

async fn served_job(client: &reqwest::Client, serve: &Serve, user: &User, form: &[(&str, &str)]) -> String {
    let response = client
        .post(format!("{}/uws/spark", serve.base))
        .basic_auth(&user.name, Some(&user.password))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    location(&response)
}

async fn served_doc(client: &reqwest::Client, user: &User, url: &str, wait: &str) -> String {
    let response =
        client.get(format!("{url}{wait}")).basic_auth(&user.name, Some(&user.password)).send().await.unwrap();
    response.text().await.unwrap()
}

async fn served_end(client: &reqwest::Client, user: &User, url: &str) -> String {
    let deadline = Instant::now() + JOB_DEADLINE;
    loop {
        let doc = served_doc(client, user, url, "").await;
        if !["QUEUED", "EXECUTING"].contains(&phase(&doc).as_str()) {
            return doc;
        }
        assert!(Instant::now() < deadline, "stuck: {doc}");
        served_doc(client, user, url, &format!("?WAIT=5&PHASE={}", phase(&doc))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_follows_its_cluster_driver_and_reruns_a_client_driver() {
    let _serial = SERIAL.lock().await;
    let cluster = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let database = test_database(dir.path()).await;
    let alice = served_alice(dir.path(), &database).await;
    let jar_dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("storage/users/alice/prog/probe.jar"), probe_jar(jar_dir.path())).unwrap();
    let (port, client) =
        (free_port(), reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap());

    // Cluster mode: the driver runs on the cluster and outlives the server.
    let config = dir.path().join("cluster.toml");
    spark_toml(&config, &cluster.rest, Some(cluster));
    let serve = Serve::start(dir.path(), &database, port, &config).await;
    let form =
        [("program", "prog/probe.jar"), ("main_class", "Probe"), ("args", r#"["{results}", "30"]"#), ("PHASE", "RUN")];
    let url = served_job(&client, &serve, &alice, &form).await;
    let record_path = dir.path().join("storage/jobs").join(job_id(&url)).join("work/spark-submission.json");
    let deadline = Instant::now() + JOB_DEADLINE;
    while !record_path.exists() {
        assert!(Instant::now() < deadline, "no submission recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let record = || serde_json::from_slice::<Value>(&std::fs::read(&record_path).unwrap()).unwrap();
    let driver = record()["submission_id"].as_str().unwrap().to_string();
    serve.kill();
    let state = cluster.driver_state(&driver).await;
    assert!(matches!(state.as_deref(), Some("SUBMITTED" | "RUNNING")), "the driver outlived the server: {state:?}");
    let serve = Serve::start(dir.path(), &database, port, &config).await;
    let doc = served_end(&client, &alice, &url).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    assert!(doc.contains("<vocloud:attempt>2</vocloud:attempt>"), "{doc}");
    assert_eq!(record()["submission_id"], driver.as_str(), "followed, not submitted again");
    let count = client
        .get(format!("{url}/results/count.txt"))
        .basic_auth("alice", Some("alice-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(count.text().await.unwrap(), "count 1000\n", "the earlier attempt's results were adopted");
    serve.kill();

    // Client mode: the driver is the attempt's child; it goes with the server, and the job runs again.
    let config = dir.path().join("client.toml");
    spark_toml(&config, &cluster.master, None);
    let serve = Serve::start(dir.path(), &database, port, &config).await;
    let form = [("program", "prog/probe.py"), ("args", r#"["nap", "{results}"]"#), ("cores", "1"), ("PHASE", "RUN")];
    let url = served_job(&client, &serve, &alice, &form).await;
    let id = job_id(&url).to_string();
    within(JOB_DEADLINE, "the application to run", async || cluster.runs_app_of(&id).await).await;
    serve.kill();
    let took =
        within(PROMPT, "the killed server's application leaves the master", async || !cluster.runs_app_of(&id).await)
            .await;
    eprintln!("client mode: application gone from the master {took:?} after SIGKILL of the server");
    within(PROMPT, "the driver's processes end", async || processes_mentioning(&id).is_empty()).await;
    let _serve = Serve::start(dir.path(), &database, port, &config).await;
    let doc = served_end(&client, &alice, &url).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    assert!(doc.contains("<vocloud:attempt>2</vocloud:attempt>"), "{doc}");
}

// ---------------------------------------------------------------- who may, and what

#[tokio::test]
async fn programs_need_a_grant_and_hostile_parameters_are_refused() {
    let app = spawn_app_with(|s| use_spark(s, "local")).await;
    let (alice, bob) = (app.add_user("alice").await, app.add_user("bob").await);
    vocloud::db::users::grant(&app.db, "alice", "spark").await.unwrap();
    for user in [&alice, &bob] {
        app.upload(user, "prog/job.py", b"print('hi')\n".to_vec()).await;
    }
    app.upload(&alice, "data/x.txt", b"x".to_vec()).await;

    let response = app.post(&bob, "/uws/spark", &[("program", "prog/job.py")]).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("vocloud user grant bob spark"));
    let admin = crate::helpers::admin();
    app.upload(&admin, "prog/job.py", b"print('hi')\n".to_vec()).await;
    app.create_job(&admin, "spark", &[("program", "prog/job.py")]).await;
    app.create_job(&alice, "spark", &[("program", "prog/job.py"), ("args", r#"["a;b", "$(c)", "`d`"]"#)]).await;

    let hostile: &[(&[(&str, &str)], &str)] = &[
        (&[("program", "../bob/prog/job.py")], "not allowed"),
        (&[("program", "/etc/passwd.py")], "does not exist in"),
        (&[("program", "prog/job.py"), ("inputs", r#"["/etc/passwd"]"#)], "does not exist in"),
        (&[("program", "data/x.txt")], "expected a .py or .jar"),
        (&[("program", "prog/job.py"), ("args", "--in x; rm -rf ~")], "expected a JSON list"),
        (&[("program", "prog/job.py"), ("inputs", "../bob/prog")], "parameter 'inputs'"),
        (&[("program", "prog/job.py"), ("inputs", r#"["data/x.txt", "nothing/here"]"#)], "does not exist"),
        (&[("program", "prog/job.py"), ("conf", r#"{"spark.driver.extraJavaOptions": "-Dx=y"}"#)], "may not be set"),
        (&[("program", "prog/job.py"), ("conf", r#"{"spark.master": "local"}"#)], "may not be set"),
        (&[("program", "prog/job.py"), ("main_class", "Main")], "only .jar programs"),
        (&[("program", "prog/job.py"), ("cores", "0")], "parameter 'cores'"),
    ];
    for (form, expected) in hostile {
        let response = app.post(&alice, "/uws/spark", form).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 400, "{form:?}: {body}");
        assert!(body.contains(expected), "{form:?}: '{body}' lacks '{expected}'");
    }
}

#[tokio::test]
async fn the_grant_is_given_and_withdrawn_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let database = test_database(dir.path()).await;
    assert!(cli(dir.path(), &database, &["user", "add", "carol", "--password-stdin"], "carol-password\n").0);
    let (ok, text) = cli(dir.path(), &database, &["user", "grant", "carol", "diag"], "");
    assert!(!ok && text.contains("needs no grant"), "{text}");
    let (ok, text) = cli(dir.path(), &database, &["user", "grant", "nobody", "spark"], "");
    assert!(!ok && text.contains("no user 'nobody'"), "{text}");
    let (ok, text) = cli(dir.path(), &database, &["user", "grant", "carol", "spark"], "");
    assert!(ok && text.contains("granted 'spark' to 'carol'"), "{text}");
    let db = vocloud::db::Db::connect(&database, Some(1)).await.unwrap();
    let carol = vocloud::db::users::by_name(&db, "carol").await.unwrap().unwrap();
    assert!(vocloud::db::users::has_grant(&db, carol.id, "spark").await.unwrap());
    assert!(cli(dir.path(), &database, &["user", "revoke", "carol", "spark"], "").0);
    assert!(!vocloud::db::users::has_grant(&db, carol.id, "spark").await.unwrap());
    let (ok, text) = cli(dir.path(), &database, &["user", "revoke", "carol", "spark"], "");
    assert!(!ok && text.contains("has no grant"), "{text}");
}

// ---------------------------------------------------------------- the example programs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_programs_run_as_jobs_as_they_are() {
    let _serial = SERIAL.lock().await;
    let (app, alice) = spark_app(|s| use_spark(s, "local")).await;
    let fixtures = tempfile::tempdir().unwrap();
    let status = Command::new(python()).arg(fixture("make_fixtures.py")).arg(fixtures.path()).status().unwrap();
    assert!(status.success(), "writing the FITS and netCDF fixtures");
    for folder in ["spectra", "spectra/more", "sst"] {
        for entry in std::fs::read_dir(fixtures.path().join(folder)).unwrap().flatten().filter(|e| e.path().is_file()) {
            let name = format!("{folder}/{}", entry.file_name().to_string_lossy());
            app.upload(&alice, &name, std::fs::read(entry.path()).unwrap()).await;
        }
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/spark");
    for program in ["class_mean_spectra.py", "area_mean_timeseries.py"] {
        app.upload(&alice, &format!("examples/{program}"), std::fs::read(examples.join(program)).unwrap()).await;
    }
    let reference: Value =
        serde_json::from_slice(&std::fs::read(fixtures.path().join("reference.json")).unwrap()).unwrap();

    let means =
        create(&app, &alice, &[("program", "examples/class_mean_spectra.py"), ("inputs", "[\"spectra\"]")]).await;
    let box_args =
        serde_json::to_string(&["{results}", "{inputs}", "--var", "analysed_sst", "--box", "-5", "5", "350", "20"])
            .unwrap();
    let series = create(
        &app,
        &alice,
        &[("program", "examples/area_mean_timeseries.py"), ("inputs", "sst"), ("args", &box_args)],
    )
    .await;

    let doc = wait_end(&app, &alice, &means).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    check_class_means(&app, &alice, &means, &reference).await;
    let doc = wait_end(&app, &alice, &series).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    check_timeseries(&result(&app, &alice, &series, "timeseries.csv").await, &reference);

    // The same spectra through the example's own FITS reader, for clusters without astropy.
    let builtin = serde_json::to_string(&["{results}", "{inputs}", "--reader", "builtin"]).unwrap();
    let means = create(
        &app,
        &alice,
        &[("program", "examples/class_mean_spectra.py"), ("inputs", "spectra"), ("args", &builtin)],
    )
    .await;
    let doc = wait_end(&app, &alice, &means).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    check_class_means(&app, &alice, &means, &reference).await;
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

async fn check_class_means(app: &TestApp, alice: &User, url: &str, reference: &Value) {
    let classes = reference["classes"].as_object().unwrap();
    let counts = result(app, alice, url, "class_counts.csv").await;
    for (class, expected) in classes {
        assert!(counts.contains(&format!("{class},{}", expected["count"])), "{class}: {counts}");
    }
    let skipped = result(app, alice, url, "skipped.csv").await;
    // The reason is the reader's own words (astropy's or the example's): only that there is one.
    let broken = skipped.lines().find(|l| l.contains("broken.fits")).unwrap_or_default();
    assert!(broken.split_once(',').is_some_and(|(_, reason)| reason.len() > 3), "{skipped}");
    let csv = result(app, alice, url, "class_means.csv").await;
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let grid = reference["grid"].as_array().unwrap();
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), grid.len());
    for (i, (row, wavelength)) in rows.iter().zip(grid).enumerate() {
        assert!(close(row[0], wavelength.as_f64().unwrap()));
        for (column, class) in header.iter().enumerate().skip(1) {
            let expected = classes[*class]["mean"][i].as_f64().unwrap();
            assert!(close(row[column], expected), "{class} at {}: {} vs {expected}", row[0], row[column]);
        }
    }
}

fn check_timeseries(csv: &str, reference: &Value) {
    let expected = reference["timeseries"].as_array().unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), expected.len(), "{csv}");
    for (row, want) in rows.iter().zip(expected) {
        assert!(close(row[1].parse().unwrap(), want["mean"].as_f64().unwrap()), "{row:?} vs {want}");
        assert_eq!(row[2].parse::<u64>().unwrap(), want["count"].as_u64().unwrap(), "{row:?}");
    }
    assert!(rows[0][0].starts_with("2024-01-01T00:00:00") && rows[5][0].starts_with("2024-01-03T12:00:00"), "{csv}");
}
