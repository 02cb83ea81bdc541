//! How fast the web pages answer with a big account: 100,000 jobs and a folder of 100,000 files.
//!
//! Starts the real service in-process (SQLite in a temporary directory, two local workers),
//! creates `alice` through the admin page, her jobs through UWS, and the folder's files on the
//! storage, logs in through the login form and then times each page over HTTP with the login
//! cookie, one request after another: p50, p95 and max per page, target p95 < 50 ms. Folder
//! pages are timed warm (the listing cache is what makes a 100,000-file folder fast); the first,
//! cold read of the folder is reported on its own line.
//!
//! Then the live stream a job's page subscribes to (`/live/jobs`): the time from the `PHASE=RUN`
//! request until the stream delivers the next phase, and from the instant the server recorded the job's
//! end (UWS `endTime`, millisecond precision, same clock) until the stream delivers COMPLETED —
//! target < 200 ms.
//!
//!   cargo build --release --bench web && flock /work/bench.lock cargo bench --bench web
//!
//! Environment: `VOCLOUD_BENCH_JOBS` (default 100000), `VOCLOUD_BENCH_FILES` (default 100000),
//! `VOCLOUD_BENCH_REQUESTS` per page (default 200). Client and service share the machine's cores:
//! every figure includes the client's cost and whatever else runs.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use reqwest::{Client, StatusCode, redirect::Policy};

const ADMIN_PASSWORD: &str = "bench-password";
const ALICE_PASSWORD: &str = "alice-password";
const TARGET_P95: Duration = Duration::from_millis(50);
const TARGET_LIVE: Duration = Duration::from_millis(200);

fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().with_context(|| format!("{name} must be a whole number, got '{v}'")),
        Err(_) => Ok(default),
    }
}

struct Bench {
    client: Client,
    base: String,
    cookie: String,
}

impl Bench {
    /// Logs in through the form; returns a client carrying that login's cookie.
    async fn log_in(base: &str, user: &str, password: &str) -> anyhow::Result<Bench> {
        let client = Client::builder().redirect(Policy::none()).build()?;
        let response =
            client.post(format!("{base}/login")).form(&[("user", user), ("password", password)]).send().await?;
        ensure!(response.status() == StatusCode::SEE_OTHER, "login of {user} answered {}", response.status());
        let cookie = response.headers()["set-cookie"].to_str()?.split(';').next().unwrap_or("").to_string();
        Ok(Bench { client, base: base.to_string(), cookie })
    }

    async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, String)> {
        let response = self.client.get(format!("{}{path}", self.base)).header("Cookie", &self.cookie).send().await?;
        Ok((response.status(), response.text().await?))
    }

    /// The CSRF token of this login (from any page's `<meta>`).
    async fn csrf(&self) -> anyhow::Result<String> {
        let (_, html) = self.get("/settings").await?;
        let start = html.find("name=\"csrf-token\" content=\"").context("no csrf meta")? + 27;
        Ok(html[start..start + 64].to_string())
    }

    /// Times `requests` GETs of `path`, each answered 200.
    async fn time(&self, path: &str, requests: usize) -> anyhow::Result<Vec<Duration>> {
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t0 = Instant::now();
            let (status, body) = self.get(path).await?;
            times.push(t0.elapsed());
            ensure!(status == StatusCode::OK, "GET {path} answered {status}: {}", &body[..body.len().min(300)]);
        }
        Ok(times)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Prints one line of figures; returns whether the p95 met `target`.
fn report(name: &str, mut times: Vec<Duration>, target: Duration) -> bool {
    times.sort();
    let p95 = percentile(&times, 0.95);
    let met = p95 < target;
    println!(
        "{name:<46} p50 {:>7} ms  p95 {:>7} ms  max {:>7} ms  {}",
        ms(percentile(&times, 0.5)),
        ms(p95),
        ms(*times.last().unwrap()),
        if met { "ok" } else { "OVER TARGET" }
    );
    met
}

async fn start_service(dir: &std::path::Path) -> anyhow::Result<String> {
    let mut settings = vocloud::config::Settings::default();
    settings.http.bind = "127.0.0.1:0".into();
    settings.storage.data_dir = dir.to_path_buf();
    settings.admin_password = Some(ADMIN_PASSWORD.to_string().into());
    settings.executors.local_workers = Some(2);
    // Attempts run as `vocloud run-job`: the service binary, not this benchmark's.
    settings.executors.attempt_binary = Some(env!("CARGO_BIN_EXE_vocloud").into());
    settings.log.filter = "warn".into();
    vocloud::telemetry::init(&settings.log);
    let app = vocloud::app::Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Ok(base)
}

/// `count` PENDING diag jobs of alice through UWS, from 64 concurrent clients; every 100th in
/// experiment `bench`. Returns their ids.
async fn create_jobs(base: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let client = Client::builder().redirect(Policy::none()).pool_max_idle_per_host(128).build()?;
    let mut tasks = Vec::new();
    for task in 0..64 {
        let (client, url) = (client.clone(), format!("{base}/uws/diag"));
        let share = count / 64 + usize::from(task < count % 64);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(share);
            for i in 0..share {
                let mut form = vec![("duration", "0")];
                if i % 100 == 0 {
                    form.push(("EXPERIMENT", "bench"));
                }
                let response = client.post(&url).basic_auth("alice", Some(ALICE_PASSWORD)).form(&form).send().await?;
                ensure!(response.status() == StatusCode::SEE_OTHER, "creation answered {}", response.status());
                let location = response.headers()["location"].to_str()?;
                ids.push(location.rsplit('/').next().unwrap_or_default().to_string());
            }
            Ok::<_, anyhow::Error>(ids)
        }));
    }
    let mut ids = Vec::with_capacity(count);
    for task in tasks {
        ids.extend(task.await??);
    }
    Ok(ids)
}

/// Reads the stream until a `job` event with one of `phases`; returns when it arrived.
async fn until_phase(response: &mut reqwest::Response, seen: &mut String, phases: &[&str]) -> anyhow::Result<Instant> {
    let hit = |seen: &str| phases.iter().any(|p| seen.contains(&format!("\"phase\":\"{p}\"")));
    while !hit(seen) {
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk())
            .await
            .context("no event within 30 s")??
            .context("the stream ended")?;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    Ok(Instant::now())
}

/// The text of `<uws:{element}>` in a job document.
fn element<'a>(doc: &'a str, element: &str) -> Option<&'a str> {
    let open = format!("<uws:{element}>");
    let start = doc.find(&open)? + open.len();
    Some(&doc[start..start + doc[start..].find('<')?])
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// For `runs` zero-duration jobs followed on the live stream: the time from the `PHASE=RUN`
/// request to the next phase on the stream, and from the instant the server recorded the job's end
/// (its UWS `endTime`, same machine, same clock) to COMPLETED on the stream.
async fn live_figures(alice: &Bench, runs: usize) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let (mut queued, mut completed) = (Vec::new(), Vec::new());
    let uws = format!("{}/uws/diag", alice.base);
    let basic = |r: reqwest::RequestBuilder| r.basic_auth("alice", Some(ALICE_PASSWORD));
    for _ in 0..runs {
        let response = basic(alice.client.post(&uws)).form(&[("duration", "0")]).send().await?;
        let job = response.headers()["location"].to_str()?.to_string();
        let id = job.rsplit('/').next().unwrap_or_default().to_string();
        let live = format!("{}/live/jobs?ids={id}", alice.base);
        let mut stream = alice.client.get(live).header("Cookie", &alice.cookie).send().await?;
        let mut seen = String::new();
        until_phase(&mut stream, &mut seen, &["PENDING"]).await?;
        let t0 = Instant::now();
        let run = basic(alice.client.post(format!("{job}/phase"))).form(&[("PHASE", "RUN")]).send().await?;
        ensure!(run.status() == StatusCode::SEE_OTHER, "PHASE=RUN refused");
        // The stream sends what the job is when it looks: a fast job may skip QUEUED.
        queued.push(until_phase(&mut stream, &mut seen, &["QUEUED", "EXECUTING", "COMPLETED"]).await? - t0);
        until_phase(&mut stream, &mut seen, &["COMPLETED"]).await?;
        let arrived = wall_ms();
        let doc = basic(alice.client.get(&job)).send().await?.text().await?;
        let ended = element(&doc, "endTime").and_then(vocloud::uws::time::parse_ms).context("no endTime")?;
        completed.push(Duration::from_millis(arrived.saturating_sub(ended).max(0) as u64));
    }
    Ok((queued, completed))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs = env_usize("VOCLOUD_BENCH_JOBS", 100_000)?;
    let files = env_usize("VOCLOUD_BENCH_FILES", 100_000)?;
    let requests = env_usize("VOCLOUD_BENCH_REQUESTS", 200)?;
    let dir = tempfile::tempdir()?;
    let base = start_service(dir.path()).await?;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("vocloud web benchmark: {jobs} jobs, a folder of {files} files, {requests} requests per page");
    println!(
        "cores: {}, load average at start: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.trim()
    );

    let admin = Bench::log_in(&base, "admin", ADMIN_PASSWORD).await?;
    let csrf = admin.csrf().await?;
    let made = admin
        .client
        .post(format!("{base}/admin/users"))
        .header("Cookie", &admin.cookie)
        // As a browser sends it with every form post (the CSRF guard checks it).
        .header("Origin", &base)
        .form(&[("name", "alice"), ("password", ALICE_PASSWORD), ("csrf", &csrf)])
        .send()
        .await?;
    ensure!(made.status() == StatusCode::SEE_OTHER, "creating alice answered {}", made.status());

    let t0 = Instant::now();
    let ids = create_jobs(&base, jobs).await?;
    println!("created {} jobs in {:.1} s", ids.len(), t0.elapsed().as_secs_f64());
    let folder = dir.path().join("storage/users/alice/big");
    std::fs::create_dir_all(folder.join("sub"))?;
    let t0 = Instant::now();
    for i in 0..files {
        std::fs::write(folder.join(format!("f{i:06}.dat")), vec![b'.'; i % 1000])?;
    }
    println!("wrote {files} files in {:.1} s", t0.elapsed().as_secs_f64());

    let alice = Bench::log_in(&base, "alice", ALICE_PASSWORD).await?;
    let t0 = Instant::now();
    let (status, _) = alice.get("/files/big/").await?;
    ensure!(status == StatusCode::OK, "folder page answered {status}");
    println!("first (cold) read of the {files}-file folder: {} ms", ms(t0.elapsed()));

    let deep = &ids[ids.len() / 10];
    let (_, page) = alice.get(&format!("/jobs/{deep}")).await?;
    ensure!(page.contains(deep.as_str()), "job page");
    let some = |i: usize| ids[(i * 7919) % ids.len()].clone();
    let mut all_met = true;
    let mut pages: Vec<(String, String)> = vec![
        ("home".into(), "/".into()),
        ("job list, first page".into(), "/jobs".into()),
        ("job list, label search (no match: full scan)".into(), "/jobs?q=nothing-matches".into()),
        ("job list, phase filter".into(), "/jobs?phase=PENDING".into()),
        ("job list, kind and dates".into(), "/jobs?kind=diag&from=2000-01-01&to=2100-01-01".into()),
        ("job list, experiment".into(), "/jobs?experiment=bench".into()),
        ("new job form (som)".into(), "/jobs/new/som".into()),
        ("experiments".into(), "/experiments".into()),
        ("experiment page (24 jobs side by side)".into(), "/experiments/bench".into()),
        ("settings".into(), "/settings".into()),
        ("folder, first page by name".into(), "/files/big/".into()),
        ("folder, page 500 by name".into(), "/files/big/?page=500".into()),
        ("folder, by size, descending".into(), "/files/big/?sort=size&desc=1".into()),
        ("folder, by date, page 300".into(), "/files/big/?sort=date&page=300".into()),
        ("file preview (text)".into(), "/files/big/f000999.dat".into()),
    ];
    // Older pages go through the keyset cursor of a job deep in the list.
    let (_, first) = alice.get("/jobs").await?;
    let older = first.split("href=\"").find(|s| s.starts_with("/jobs?before=")).context("no Older link")?;
    pages.insert(
        2,
        ("job list, next page (keyset)".into(), older[..older.find('"').unwrap_or(0)].replace("&amp;", "&")),
    );
    for (name, path) in &pages {
        all_met &= report(name, alice.time(path, requests).await?, TARGET_P95);
    }
    let mut job_times = Vec::new();
    for i in 0..requests {
        let t0 = Instant::now();
        let (status, _) = alice.get(&format!("/jobs/{}", some(i))).await?;
        job_times.push(t0.elapsed());
        ensure!(status == StatusCode::OK, "job page answered {status}");
    }
    all_met &= report("job page (random jobs)", job_times, TARGET_P95);
    for (name, path) in
        [("admin: users", "/admin"), ("admin: fleet", "/admin/fleet"), ("admin: all jobs", "/jobs?all=1")]
    {
        all_met &= report(name, admin.time(path, requests).await?, TARGET_P95);
    }

    let (queued, completed) = live_figures(&alice, 50).await?;
    all_met &= report("live: RUN request → next phase on the stream", queued, TARGET_LIVE);
    all_met &= report("live: job end (endTime) → COMPLETED on the stream", completed, TARGET_LIVE);
    println!("{}", if all_met { "all targets met" } else { "SOME TARGETS MISSED" });
    Ok(())
}
