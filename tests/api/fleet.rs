//! The remote fleet with real processes: the master (in-process, no local workers) and
//! `vocloud worker` processes started from the built binary, killed with SIGKILL where the test
//! says so.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{TestApp, admin, element, phase, spawn_app_with};

const BIN: &str = env!("CARGO_BIN_EXE_vocloud");

pub(crate) struct Worker {
    child: Child,
    id: String,
}

impl Worker {
    /// Starts `vocloud worker` and waits until it has registered.
    pub(crate) fn start(app: &TestApp, token: &str, storage: &Path) -> Worker {
        Worker::start_with(app, token, storage, &[])
    }

    /// Starts `vocloud worker` with extra environment variables (its settings).
    pub(crate) fn start_with(app: &TestApp, token: &str, storage: &Path, env: &[(&str, &str)]) -> Worker {
        let mut child = worker_command(app, token, storage)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting vocloud worker");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let id =
            line.split_whitespace().nth(2).unwrap_or_else(|| panic!("worker did not register: '{line}'")).to_string();
        Worker { child, id }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn worker_command(app: &TestApp, token: &str, storage: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["worker", "--master", &app.base, "--token", token, "--slots", "1", "--storage"])
        .arg(storage)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null());
    command
}

pub(crate) async fn fleet_app(max_attempts: i64) -> TestApp {
    spawn_app_with(|s| {
        s.executors.local_workers = Some(0);
        s.executors.max_attempts = max_attempts;
        s.fleet.lease_seconds = 2;
        s.fleet.heartbeat_ms = 200;
    })
    .await
}

pub(crate) fn storage(app: &TestApp) -> std::path::PathBuf {
    app.data_dir.path().join("storage")
}

pub(crate) async fn token(app: &TestApp, name: &str) -> String {
    vocloud::auth::create_worker_token(&app.db, name).await.unwrap()
}

/// The worker holding `job_id`, from the admin's fleet view.
async fn holder(app: &TestApp, job_id: &str) -> Option<String> {
    let fleet: serde_json::Value = app.get(&admin(), "/api/admin/fleet").send().await.unwrap().json().await.unwrap();
    fleet["workers"]
        .as_array()?
        .iter()
        .find(|w| w["jobs"].as_array().unwrap().iter().any(|j| j == job_id))
        .map(|w| w["id"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_on_a_remote_worker_and_the_fleet_view_shows_it() {
    let app = fleet_app(3).await;
    let alice = app.add_user("alice").await;
    let token = token(&app, "host-a").await;
    let worker = Worker::start(&app, &token, &storage(&app));

    let url = app.create_job(&alice, "diag", &[("duration", "0.5"), ("PHASE", "RUN")]).await;
    let doc = app.run_to_end(&alice, &url).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    let text = app.get(&alice, &format!("{url}/results/diag.txt")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(&format!("worker {}", worker.id)), "{text}");

    let fleet: serde_json::Value = app.get(&admin(), "/api/admin/fleet").send().await.unwrap().json().await.unwrap();
    let listed = &fleet["workers"][0];
    assert_eq!(listed["id"], worker.id);
    assert_eq!(listed["alive"], true);
    assert_eq!(listed["slots"], 1);
    assert!(listed["kinds"].as_array().unwrap().iter().any(|k| k == "diag"));
    assert_eq!(app.get(&alice, "/api/admin/fleet").send().await.unwrap().status(), 404, "admins only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_is_killed_completes_on_another_without_duplicates() {
    let app = fleet_app(3).await;
    let alice = app.add_user("alice").await;
    let token = token(&app, "hosts").await;
    let mut workers = [Worker::start(&app, &token, &storage(&app)), Worker::start(&app, &token, &storage(&app))];

    let url = app.create_job(&alice, "diag", &[("duration", "2"), ("PHASE", "RUN")]).await;
    let id = url.rsplit('/').next().unwrap().to_string();
    assert_eq!(phase(&app.wait_until_not(&alice, &url, &["QUEUED"]).await), "EXECUTING");
    let first = holder(&app, &id).await.expect("a worker holds the job");
    let victim = workers.iter().position(|w| w.id == first).unwrap();
    workers[victim].kill();

    let doc = app.wait_until_not(&alice, &url, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    assert!(doc.contains("<vocloud:attempt>2</vocloud:attempt>"), "{doc}");
    let survivor = &workers[1 - victim].id;
    let text = app.get(&alice, &format!("{url}/results/diag.txt")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(&format!("worker {survivor}")), "result from the surviving worker: {text}");
    let results = app.get(&alice, &format!("{url}/results")).send().await.unwrap().text().await.unwrap();
    assert_eq!(results.matches("<uws:result ").count(), 1, "{results}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_reaches_the_remote_worker_which_stops_and_takes_new_work() {
    let app = fleet_app(3).await;
    let alice = app.add_user("alice").await;
    let token = token(&app, "host-a").await;
    let _worker = Worker::start(&app, &token, &storage(&app));

    let url = app.create_job(&alice, "diag", &[("duration", "60"), ("PHASE", "RUN")]).await;
    assert_eq!(phase(&app.wait_until_not(&alice, &url, &["QUEUED"]).await), "EXECUTING");
    let response = app.post(&alice, &format!("{url}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(phase(&app.job(&alice, &url, None).await), "ABORTED");

    // The worker's only slot frees up within a heartbeat or two.
    let start = Instant::now();
    let next = app.create_job(&alice, "diag", &[("PHASE", "RUN")]).await;
    assert_eq!(phase(&app.wait_until_not(&alice, &next, &["QUEUED", "EXECUTING"]).await), "COMPLETED");
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_lease_on_the_last_attempt_ends_in_error_with_the_reason() {
    let app = fleet_app(1).await;
    let alice = app.add_user("alice").await;
    let token = token(&app, "host-a").await;
    let mut worker = Worker::start(&app, &token, &storage(&app));
    let url = app.create_job(&alice, "diag", &[("duration", "60"), ("PHASE", "RUN")]).await;
    assert_eq!(phase(&app.wait_until_not(&alice, &url, &["QUEUED"]).await), "EXECUTING");
    worker.kill();
    let doc = app.wait_until_not(&alice, &url, &["EXECUTING"]).await;
    assert_eq!(phase(&doc), "ERROR");
    let message = element(&doc, "message").unwrap();
    assert!(message.contains(&format!("worker {} stopped renewing its lease", worker.id)), "{message}");
}

/// Runs a worker that is expected to refuse to start; returns its stderr.
fn refused_worker(app: &TestApp, token: &str, storage: &Path) -> String {
    let output = worker_command(app, token, storage).stderr(Stdio::piped()).output().unwrap();
    assert!(!output.status.success(), "the worker started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_user_tokens_and_foreign_storage_are_refused() {
    let app = fleet_app(3).await;
    let token = token(&app, "host-a").await;
    assert!(vocloud::auth::revoke_worker_token(&app.db, "host-a").await.is_ok());
    let stderr = tokio::task::spawn_blocking({
        let (app_base, token, storage) = (app.base.clone(), token.clone(), storage(&app));
        move || {
            let output = Command::new(BIN)
                .args(["worker", "--master", &app_base, "--token", &token, "--storage"])
                .arg(storage)
                .output()
                .unwrap();
            assert!(!output.status.success());
            String::from_utf8_lossy(&output.stderr).into_owned()
        }
    })
    .await
    .unwrap();
    assert!(stderr.contains("unknown or revoked worker token"), "{stderr}");

    let alice_token = {
        app.add_user("alice").await;
        vocloud::auth::create_token(&app.db, "alice").await.unwrap()
    };
    let response = app
        .client
        .post(app.url("/fleet/v1/register"))
        .bearer_auth(&alice_token)
        .json(&serde_json::json!({"hostname": "x", "kinds": [], "slots": 1, "storage_marker": "", "version": "0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "a user token is useless on the fleet API");
    let good = self::token(&app, "host-b").await;
    let response = app.client.get(app.url("/uws/diag")).bearer_auth(&good).send().await.unwrap();
    assert_eq!(response.status(), 401, "a worker token is useless on the user API");

    let elsewhere = tempfile::tempdir().unwrap();
    let stderr = refused_worker(&app, &good, elsewhere.path());
    assert!(stderr.contains("no vocloud storage"), "{stderr}");
    std::fs::write(elsewhere.path().join(".vocloud-storage"), "0123456789abcdef\n").unwrap();
    let stderr = refused_worker(&app, &good, elsewhere.path());
    assert!(stderr.contains("storage is not the master's"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_comes_back_after_its_lease_lapsed_cannot_overwrite_the_new_attempt() {
    let app = fleet_app(3).await;
    let alice = app.add_user("alice").await;
    let token = token(&app, "hosts").await;
    let workers = [Worker::start(&app, &token, &storage(&app)), Worker::start(&app, &token, &storage(&app))];

    let url = app.create_job(&alice, "diag", &[("duration", "1.5"), ("PHASE", "RUN")]).await;
    let id = url.rsplit('/').next().unwrap().to_string();
    assert_eq!(phase(&app.wait_until_not(&alice, &url, &["QUEUED"]).await), "EXECUTING");
    let first = holder(&app, &id).await.expect("a worker holds the job");
    let stale = workers.iter().find(|w| w.id == first).unwrap();
    // Freeze the first worker (a hung host); its lease lapses and the other worker takes over.
    signal(stale, "STOP");
    let doc = app.wait_until_not(&alice, &url, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    let winner = workers.iter().find(|w| w.id != first).unwrap();
    let expected = format!("worker {}", winner.id);

    // The stale worker wakes up, finishes its sleep and tries to report: it must change nothing.
    signal(stale, "CONT");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let doc = app.job(&alice, &url, None).await;
    assert_eq!(phase(&doc), "COMPLETED");
    assert!(doc.contains("<vocloud:attempt>2</vocloud:attempt>"), "{doc}");
    let text = app.get(&alice, &format!("{url}/results/diag.txt")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(&expected), "{text}");
}

fn signal(worker: &Worker, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(worker.child.id().to_string()).status().unwrap();
    assert!(status.success());
}

/// POSTs a fleet API message with a worker token.
async fn fleet_post(app: &TestApp, token: &str, path: &str, body: serde_json::Value) -> reqwest::Response {
    app.client.post(app.url(&format!("/fleet/v1{path}"))).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn register(app: &TestApp, token: &str, hostname: &str) -> reqwest::Response {
    let marker = std::fs::read_to_string(storage(app).join(".vocloud-storage")).unwrap();
    let body = serde_json::json!({"hostname": hostname, "kinds": ["diag"], "slots": 1, "storage_marker": marker, "version": "0"});
    fleet_post(app, token, "/register", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_bounded_in_size_and_rate() {
    let app = fleet_app(3).await;
    let token = token(&app, "host-a").await;
    let huge = "w".repeat(900 * 1024);
    let response = fleet_post(&app, &token, "/claim", serde_json::json!({"worker_id": huge, "wait_seconds": 0})).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().len() < 200, "the id is not echoed back");
    let response = register(&app, &token, &"h".repeat(900 * 1024)).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("hostname must be at most 253 bytes"));

    let mut statuses = Vec::new();
    for _ in 0..31 {
        statuses.push(register(&app, &token, "host-a").await);
    }
    assert!(statuses[..30].iter().all(|r| r.status() == 200));
    let refused = statuses.pop().unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let other = self::token(&app, "host-b").await;
    assert_eq!(register(&app, &other, "host-b").await.status(), 200, "another token is not affected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_worker_holding_the_lease_may_renew_or_finish_the_attempt() {
    let app = fleet_app(3).await;
    let alice = app.add_user("alice").await;
    let token = token(&app, "hosts").await;
    let id = |r: serde_json::Value| r["worker_id"].as_str().unwrap().to_string();
    let holder = id(register(&app, &token, "a").await.json().await.unwrap());
    let intruder = id(register(&app, &token, "b").await.json().await.unwrap());
    let url = app.create_job(&alice, "diag", &[("duration", "60"), ("PHASE", "RUN")]).await;

    let claim = fleet_post(&app, &token, "/claim", serde_json::json!({"worker_id": holder, "wait_seconds": 5})).await;
    let job: serde_json::Value = claim.json().await.unwrap();
    let (job_id, attempt) = (job["id"].as_str().unwrap().to_string(), job["attempt"].as_i64().unwrap());
    let completed = serde_json::json!({"state": "completed", "results": []});
    let finish = |worker: &str| serde_json::json!({"worker_id": worker, "attempt": attempt, "outcome": completed});
    let beat = |worker: &str| serde_json::json!({"worker_id": worker, "attempt": attempt, "progress": null});

    let path = format!("/jobs/{job_id}");
    assert_eq!(fleet_post(&app, &token, &format!("{path}/heartbeat"), beat(&intruder)).await.status(), 409);
    assert_eq!(fleet_post(&app, &token, &format!("{path}/finish"), finish(&intruder)).await.status(), 409);
    assert_eq!(phase(&app.job(&alice, &url, None).await), "EXECUTING", "nothing changed");
    assert_eq!(fleet_post(&app, &token, &format!("{path}/heartbeat"), beat(&holder)).await.status(), 200);
    assert_eq!(fleet_post(&app, &token, &format!("{path}/finish"), finish(&holder)).await.status(), 200);
    assert_eq!(phase(&app.job(&alice, &url, None).await), "COMPLETED");
    assert_eq!(fleet_post(&app, &token, &format!("{path}/finish"), finish(&holder)).await.status(), 409, "once");
}
