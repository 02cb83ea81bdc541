//! Fleet dispatch benchmark: how fast the master hands jobs to remote workers.
//!
//! Starts the real master in-process (SQLite in a temp folder, no local workers) and four
//! `vocloud worker` processes (one slot each) from the built binary, then measures:
//! - dispatch throughput: zero-duration `diag` jobs created with PHASE=RUN, from the first POST
//!   until the last one is COMPLETED (jobs/s through claim → run → heartbeat-free finish);
//! - RUN→EXECUTING latency for an idle remote worker: POST PHASE=RUN on a PENDING job, then a
//!   blocking WAIT (PHASE=QUEUED) until the worker's claim moves it on (target < 50 ms).
//!
//! Run: `cargo bench --bench fleet` (`VOCLOUD_BENCH_FLEET_JOBS`, default 2000, scales the first).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use reqwest::{Client, redirect::Policy};

const BIN: &str = env!("CARGO_BIN_EXE_vocloud");
const PASSWORD: &str = "bench-password";
const WORKERS: usize = 4;
const LATENCY_RUNS: usize = 50;

struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs: usize = std::env::var("VOCLOUD_BENCH_FLEET_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir()?;
    let mut settings = vocloud::config::Settings::default();
    settings.http.bind = "127.0.0.1:0".into();
    settings.storage.data_dir = dir.path().to_path_buf();
    settings.admin_password = Some(PASSWORD.to_string().into());
    settings.executors.local_workers = Some(0);
    settings.log.filter = "warn".into();
    vocloud::telemetry::init(&settings.log);
    let database_url = settings.database_url();
    let app = vocloud::app::Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = vocloud::db::Db::connect(&database_url, Some(1)).await?;
    let token = vocloud::auth::create_worker_token(&db, "bench").await?;
    tokio::spawn(app.run_until_stopped());

    let storage = dir.path().join("storage");
    let _workers = Workers(
        (0..WORKERS)
            .map(|_| {
                Command::new(BIN)
                    .args(["worker", "--master", &base, "--token", &token, "--slots", "1", "--storage"])
                    .arg(&storage)
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .spawn()
                    .context("starting a worker")
            })
            .collect::<anyhow::Result<_>>()?,
    );
    let client = Client::builder().redirect(Policy::none()).pool_max_idle_per_host(64).build()?;
    tokio::time::sleep(Duration::from_secs(1)).await; // let the workers register

    println!(
        "vocloud fleet dispatch benchmark: {WORKERS} worker processes x 1 slot, {} cores shared with the master",
        num_cpus()
    );
    let (rate, elapsed) = dispatch(&client, &base, jobs).await?;
    println!("dispatch: {jobs} zero-duration jobs in {:.2} s = {rate:.0} jobs/s", elapsed.as_secs_f64());
    let mut latencies = run_to_executing(&client, &base).await?;
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "RUN→EXECUTING (idle worker, {LATENCY_RUNS} runs): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms (target < 50 ms: {})",
        ms(pick(0.5)),
        ms(pick(0.95)),
        ms(pick(1.0)),
        if pick(0.5) < Duration::from_millis(50) { "PASS" } else { "MISS" }
    );
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn create(client: &Client, base: &str, form: &[(&str, &str)]) -> anyhow::Result<String> {
    let response =
        client.post(format!("{base}/uws/diag")).basic_auth("admin", Some(PASSWORD)).form(form).send().await?;
    ensure!(response.status() == 303, "creation answered {}", response.status());
    Ok(response.headers()["location"].to_str()?.to_string())
}

fn phase(doc: &str) -> &str {
    doc.split("<uws:phase>").nth(1).and_then(|s| s.split('<').next()).unwrap_or("")
}

/// Creates `jobs` running jobs from 16 concurrent clients and waits until none is active.
async fn dispatch(client: &Client, base: &str, jobs: usize) -> anyhow::Result<(f64, Duration)> {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..16 {
        let (client, base) = (client.clone(), base.to_string());
        let share = jobs / 16 + usize::from(chunk < jobs % 16);
        tasks.spawn(async move {
            for _ in 0..share {
                create(&client, &base, &[("duration", "0"), ("PHASE", "RUN")]).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    loop {
        let url = format!("{base}/uws/diag?PHASE=QUEUED&PHASE=EXECUTING&LAST=1");
        let list = client.get(url).basic_auth("admin", Some(PASSWORD)).send().await?.text().await?;
        if !list.contains("<uws:jobref") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start.elapsed();
    let completed = client
        .get(format!("{base}/uws/diag?PHASE=COMPLETED"))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await?
        .text()
        .await?;
    ensure!(completed.matches("<uws:jobref").count() == jobs, "not every job completed");
    Ok((jobs as f64 / elapsed.as_secs_f64(), elapsed))
}

async fn run_to_executing(client: &Client, base: &str) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(LATENCY_RUNS);
    for _ in 0..LATENCY_RUNS {
        let url = create(client, base, &[("duration", "0.2")]).await?;
        let start = Instant::now();
        client
            .post(format!("{url}/phase"))
            .basic_auth("admin", Some(PASSWORD))
            .form(&[("PHASE", "RUN")])
            .send()
            .await?;
        loop {
            let doc = client
                .get(format!("{url}?WAIT=10&PHASE=QUEUED"))
                .basic_auth("admin", Some(PASSWORD))
                .send()
                .await?
                .text()
                .await?;
            if phase(&doc) != "QUEUED" {
                break;
            }
        }
        latencies.push(start.elapsed());
        // Let the job finish so the next run finds the worker idle.
        client.get(format!("{url}?WAIT=10&PHASE=EXECUTING")).basic_auth("admin", Some(PASSWORD)).send().await?;
    }
    Ok(latencies)
}
