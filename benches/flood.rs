//! Wrong-password flood benchmark: honest users keep working while many clients send wrong
//! HTTP Basic passwords (issue 11: 64 such clients took the service from 28 MB to 7.5 GB, its
//! `/uws` p50 from 2 ms to 494 ms; 128 aborted it).
//!
//! Starts the real service in-process (SQLite in a temporary directory, default settings) and,
//! for each flood size (64 and 128 clients), runs for `VOCLOUD_BENCH_SECONDS` (default 20):
//!
//! - the flood: each client loops on `GET /api/quota` with a wrong password, for the honest
//!   user's own name and for made-up names, as fast as the answers come;
//! - honest users at the same time: 4 with an API token and 4 with (cached) Basic credentials,
//!   each looping over `GET /uws/diag?LAST=20`, `GET /api/files/`, `PUT /api/files/<own file>`,
//!   `GET` of that file;
//!
//! and reports the honest users' p50/p99 latency and errors, the flood's answers (401, 429,
//! 503), and the process's RSS before the flood and at its peak (sampled every 100 ms; client and
//! service share the process, and earlier runs' idle services stay in it, so the peak is an upper
//! bound for one service).
//!
//! Two rounds: with the default back-off (the flood's address is soon answered 429 at no cost),
//! and with back-off disabled (`auth.*_free_failures` huge), so that only the bounded argon2 pool
//! stands between the flood and the machine.
//!
//! Run: `cargo bench --bench flood` (release profile); `VOCLOUD_BENCH_ONLY=on:64` (or `off:128`,
//! …) runs one row, so that the RSS figures are one service's alone. Targets: RSS < 300 MB, honest p99
//! < 100 ms, 0 honest errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use reqwest::{Client, redirect::Policy};

const PASSWORD: &str = "honest-password-1";
const HONEST_TOKEN_USERS: usize = 4;
const HONEST_BASIC_USERS: usize = 4;
const FLOODS: [usize; 2] = [64, 128];
const FLOOD_PATH: &str = "/api/quota";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("VOCLOUD_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "vocloud wrong-password flood benchmark ({cores} cores shared by client and service, {seconds} s per run)"
    );
    println!("peak RSS before start: {:.0} MB", rss_mb());
    println!();
    println!(
        "| back-off | flood clients | honest requests | honest p50 | honest p99 | honest errors | flood 401 / 429 / 503 | RSS before → peak |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    // `VOCLOUD_BENCH_ONLY=on:128` runs one row (in a fresh process, so its RSS is its own).
    let only = std::env::var("VOCLOUD_BENCH_ONLY").ok();
    for backoff in [true, false] {
        for flood in FLOODS {
            let name = format!("{}:{flood}", if backoff { "on" } else { "off" });
            if only.as_ref().is_some_and(|o| *o != name) {
                continue;
            }
            let dir = tempfile::tempdir()?;
            let (base, token) = start_service(dir.path(), backoff).await?;
            let row = run(&base, &token, flood, Duration::from_secs(seconds)).await?;
            println!(
                "| {} | {flood} | {} | {:.1} ms | {:.1} ms | {} | {} / {} / {} | {:.0} → {:.0} MB |",
                if backoff { "on (default)" } else { "off" },
                row.honest.len(),
                percentile(&row.honest, 0.50),
                percentile(&row.honest, 0.99),
                row.honest_errors,
                row.flood[0],
                row.flood[1],
                row.flood[2],
                row.rss_before_mb,
                row.peak_rss_mb
            );
        }
    }
    Ok(())
}

/// Starts vocloud on a free port with `alice`; returns its base URL and an API token of alice's
/// (the one `vocloud token create alice` would print).
async fn start_service(data_dir: &std::path::Path, backoff: bool) -> anyhow::Result<(String, String)> {
    let mut settings = vocloud::config::Settings::default();
    settings.http.bind = "127.0.0.1:0".into();
    settings.storage.data_dir = data_dir.to_path_buf();
    settings.admin_password = Some("admin-password-1".to_string().into());
    settings.log.filter = "warn".into();
    if !backoff {
        settings.auth.account_free_failures = u32::MAX;
        settings.auth.address_free_failures = u32::MAX;
    }
    vocloud::telemetry::init(&settings.log);
    let url = settings.database_url();
    let app = vocloud::app::Application::build(settings).await?;
    // A connection of the bench's own, as `vocloud user add` and `vocloud token create` make.
    let db = vocloud::db::Db::connect(&url, Some(1)).await?;
    vocloud::auth::add_user(&db, "alice", PASSWORD, false).await?;
    let token = vocloud::auth::create_token(&db, "alice").await.context("creating a token")?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Ok((base, token))
}

struct Row {
    honest: Vec<Duration>,
    honest_errors: u64,
    /// 401, 429, 503 answers to the flood.
    flood: [u64; 3],
    /// RSS when the flood starts (earlier runs' services are still in the process) and its peak.
    rss_before_mb: f64,
    peak_rss_mb: f64,
}

async fn run(base: &str, token: &str, flood_clients: usize, length: Duration) -> anyhow::Result<Row> {
    let client = Client::builder().redirect(Policy::none()).pool_max_idle_per_host(512).build()?;
    // Alice's Basic credentials are verified once here, then cached like a polling script's.
    let warm = client.get(format!("{base}/api/quota")).basic_auth("alice", Some(PASSWORD)).send().await?;
    ensure!(warm.status() == 200, "warm-up answered {}", warm.status());

    let rss_before_mb = rss_mb();
    let stop = Arc::new(AtomicBool::new(false));
    let counts: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn(sample_rss(stop.clone(), peak.clone()));
    let mut flood = Vec::new();
    for i in 0..flood_clients {
        let (client, base, stop, counts) = (client.clone(), base.to_string(), stop.clone(), counts.clone());
        flood.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let name = if i % 2 == 0 { "alice".to_string() } else { format!("guess{i}-{n}") };
                let Ok(r) = client.get(format!("{base}{FLOOD_PATH}")).basic_auth(&name, Some("wrong")).send().await
                else {
                    continue;
                };
                match r.status().as_u16() {
                    401 => counts[0].fetch_add(1, Ordering::Relaxed),
                    429 => counts[1].fetch_add(1, Ordering::Relaxed),
                    503 => counts[2].fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
            }
        }));
    }
    let mut honest = Vec::new();
    for i in 0..HONEST_TOKEN_USERS + HONEST_BASIC_USERS {
        let auth = if i < HONEST_TOKEN_USERS { Auth::Token(token.to_string()) } else { Auth::Basic };
        honest.push(tokio::spawn(honest_user(client.clone(), base.to_string(), auth, i, stop.clone())));
    }
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for h in honest {
        let (l, e) = h.await?;
        latencies.extend(l);
        errors += e;
    }
    for f in flood {
        f.await?;
    }
    sampler.await?;
    latencies.sort();
    Ok(Row {
        honest: latencies,
        honest_errors: errors,
        flood: [0, 1, 2].map(|i| counts[i].load(Ordering::Relaxed)),
        rss_before_mb,
        peak_rss_mb: peak.load(Ordering::Relaxed) as f64 / 1024.0,
    })
}

#[derive(Clone)]
enum Auth {
    Token(String),
    Basic,
}

/// One honest user's loop; returns its latencies and errors.
async fn honest_user(
    client: Client,
    base: String,
    auth: Auth,
    i: usize,
    stop: Arc<AtomicBool>,
) -> (Vec<Duration>, u64) {
    let (mut latencies, mut errors) = (Vec::new(), 0);
    let file = format!("{base}/api/files/honest-{i}.txt");
    while !stop.load(Ordering::Relaxed) {
        let requests = [
            client.get(format!("{base}/uws/diag?LAST=20")),
            client.get(format!("{base}/api/files/")),
            client.put(&file).body(format!("honest user {i}")),
            client.get(&file),
        ];
        for request in requests {
            let request = match &auth {
                Auth::Token(t) => request.bearer_auth(t),
                Auth::Basic => request.basic_auth("alice", Some(PASSWORD)),
            };
            let started = Instant::now();
            match request.send().await {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes().await;
                    latencies.push(started.elapsed());
                }
                _ => errors += 1,
            }
        }
    }
    (latencies, errors)
}

/// Samples the process's resident set every 100 ms into `peak` (KiB).
async fn sample_rss(stop: Arc<AtomicBool>, peak: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        peak.fetch_max((rss_mb() * 1024.0) as u64, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The process's resident set (`VmRSS` of /proc/self/status) in MB.
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}
