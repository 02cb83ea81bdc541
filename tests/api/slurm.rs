//! The Slurm executor against a real Slurm (`./x test` starts one with scripts/slurm-local.sh and
//! exports SLURM_CONF). Jobs run as `vocloud run-job` from the built binary.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{TestApp, User, element, phase, spawn_app_with, test_database};

const BIN: &str = env!("CARGO_BIN_EXE_vocloud");

fn require_slurm() {
    assert!(
        std::env::var("SLURM_CONF").is_ok(),
        "the Slurm tests need a running Slurm: run ./x test, which starts one (scripts/slurm-local.sh)"
    );
}

async fn slurm_app() -> TestApp {
    require_slurm();
    spawn_app_with(|s| {
        s.executors.local_workers = Some(0);
        s.slurm.enabled = true;
        s.slurm.binary = Some(BIN.into());
        s.slurm.poll_ms = 200;
    })
    .await
}

/// Slurm's state of the job named after a vocloud job id.
fn slurm_state(job_id: &str) -> String {
    let out = Command::new("squeue").args(["-h", "-t", "all", "-o", "%j|%T"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with(&format!("vocloud-{job_id}-")))
        .and_then(|l| l.split('|').nth(1))
        .unwrap_or("")
        .to_string()
}

fn id_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_in_slurm_and_failures_carry_the_exit_code() {
    let app = slurm_app().await;
    let alice = app.add_user("alice").await;
    let ok = app.create_job(&alice, "diag", &[("duration", "0.2"), ("PHASE", "RUN")]).await;
    let failing = app.create_job(&alice, "diag", &[("fail", "true"), ("PHASE", "RUN")]).await;

    let doc = app.wait_until_not(&alice, &ok, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    let text = app.get(&alice, &format!("{ok}/results/diag.txt")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("slurm job"), "{text}");
    assert_eq!(slurm_state(&id_of(&ok)), "COMPLETED");

    let doc = app.wait_until_not(&alice, &failing, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "ERROR", "{doc}");
    let message = element(&doc, "message").unwrap();
    assert!(message.contains("failed on request") && message.contains("exit code 1:0"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_cancels_the_slurm_job() {
    let app = slurm_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("duration", "120"), ("PHASE", "RUN")]).await;
    assert_eq!(phase(&app.wait_until_not(&alice, &url, &["QUEUED"]).await), "EXECUTING");
    app.post(&alice, &format!("{url}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
    assert_eq!(phase(&app.job(&alice, &url, None).await), "ABORTED");
    let what = || format!("Slurm job not cancelled: {}", slurm_state(&id_of(&url)));
    let cancelled = || async { slurm_state(&id_of(&url)) == "CANCELLED" };
    crate::helpers::eventually(Duration::from_secs(20), Duration::from_millis(200), what, cancelled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrunning_the_time_limit_ends_in_error() {
    let app = slurm_app().await;
    let alice = app.add_user("alice").await;
    // Slurm's limits are whole minutes: a 60 s execution duration becomes --time=1.
    let url =
        app.create_job(&alice, "diag", &[("duration", "600"), ("EXECUTIONDURATION", "60"), ("PHASE", "RUN")]).await;
    let deadline = Instant::now() + Duration::from_secs(200);
    let mut doc = app.job(&alice, &url, None).await;
    while ["QUEUED", "EXECUTING"].contains(&phase(&doc).as_str()) {
        assert!(Instant::now() < deadline, "still {} after 200 s", phase(&doc));
        doc = app
            .get(&alice, &format!("{url}?WAIT=30&PHASE={}", phase(&doc)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    }
    assert_eq!(phase(&doc), "ERROR", "{doc}");
    assert!(element(&doc, "message").unwrap().contains("time limit (TIMEOUT)"), "{doc}");
}

struct Master(Child);

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_master(dir: &std::path::Path, database: &str, port: u16) -> Master {
    let child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(["--database-url", database, "serve", "--local-workers", "0", "--bind", &format!("127.0.0.1:{port}")])
        .env("VOCLOUD_ADMIN_PASSWORD", "admin-password")
        .env("VOCLOUD_SLURM__ENABLED", "true")
        .env("VOCLOUD_SLURM__BINARY", BIN)
        .env("VOCLOUD_SLURM__POLL_MS", "200")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    crate::helpers::wait_for_health(&format!("http://127.0.0.1:{port}"), Duration::from_secs(30)).await;
    Master(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_restart_while_a_slurm_job_runs_picks_up_its_outcome() {
    require_slurm();
    let dir = tempfile::tempdir().unwrap();
    let database = test_database(dir.path()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let admin = User { name: "admin".into(), password: "admin-password".into() };
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |url: String| client.get(url).basic_auth("admin", Some("admin-password")).send();

    let mut master = start_master(dir.path(), &database, port).await;
    let response = client
        .post(format!("http://127.0.0.1:{port}/uws/diag"))
        .basic_auth(&admin.name, Some(&admin.password))
        .form(&[("duration", "3"), ("output", "survived"), ("PHASE", "RUN")])
        .send()
        .await
        .unwrap();
    let url = crate::helpers::location(&response);
    let started = || async { phase(&get(url.clone()).await.unwrap().text().await.unwrap()) == "EXECUTING" };
    let what = || "job did not start in Slurm".to_string();
    crate::helpers::eventually(Duration::from_secs(30), Duration::from_millis(100), what, started).await;
    master.0.kill().unwrap();
    master.0.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await; // the job finishes while no master runs

    let _master = start_master(dir.path(), &database, port).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut doc = get(url.clone()).await.unwrap().text().await.unwrap();
    while phase(&doc) != "COMPLETED" {
        assert!(Instant::now() < deadline, "outcome not picked up: {doc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        doc = get(url.clone()).await.unwrap().text().await.unwrap();
    }
    let text = get(format!("{url}/results/diag.txt")).await.unwrap().text().await.unwrap();
    assert_eq!(text, "survived");
}
