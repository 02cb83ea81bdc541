//! Load benchmark for the UWS job service.
//!
//! Starts the real service in-process (SQLite in a temporary directory, `admin` with a known
//! password, local worker pool at its default size) and drives it over HTTP with one pooled
//! `reqwest` client, exactly as a client would. It measures:
//!
//! 1. job-creation throughput (PENDING `diag` jobs, `duration=0`) at concurrency 1, 8 and 64,
//!    with p50/p99 latency — target ≥ 2,000 jobs/s at concurrency 64;
//! 2. the database topped up to `VOCLOUD_BENCH_JOBS` jobs (default 100,000; created at
//!    concurrency 64, rate reported), then job-list latency: `GET /uws/diag?LAST=100`
//!    (target p50 < 10 ms) and the full `GET /uws/diag` (p50 and response size);
//! 3. single-job `GET /uws/diag/{id}` latency on random existing jobs;
//! 4. RUN→COMPLETED latency of a zero-duration diag job: from just before `POST …/phase
//!    PHASE=RUN` until a `GET …?WAIT=10` answers COMPLETED — target p50 < 20 ms.
//!
//! Run it with `cargo bench --bench load` (release profile; the full run takes minutes).
//!
//! Environment:
//! - `VOCLOUD_BENCH_JOBS`: total jobs in the database before the list figures (default
//!   100000). Use e.g. `VOCLOUD_BENCH_JOBS=5000` for a quick run; the creation step of part 1
//!   already makes 7,500 jobs, so smaller values top up nothing.
//! - `VOCLOUD_TEST_DATABASE_URL` is ignored: the benchmark measures SQLite only.
//! - `RUST_LOG` overrides the service's log filter (default `warn`).
//!
//! Client and service share the machine's cores, so every figure includes the client's cost.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use reqwest::{Client, StatusCode, redirect::Policy};

const USER: &str = "admin";
const PASSWORD: &str = "bench-password";
const DEFAULT_TOTAL_JOBS: usize = 100_000;
/// (jobs, concurrency) for the creation-throughput figures.
const CREATION_RUNS: [(usize, usize); 3] = [(500, 1), (2_000, 8), (5_000, 64)];
const TOPUP_CONCURRENCY: usize = 64;
const LIST_LAST_REQUESTS: usize = 200;
const FULL_LIST_REQUESTS: usize = 5;
const SINGLE_GET_REQUESTS: usize = 1_000;
const RUN_LATENCY_RUNS: usize = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total_jobs = env_usize("VOCLOUD_BENCH_JOBS", DEFAULT_TOTAL_JOBS)?;
    let dir = tempfile::tempdir()?;
    let (port, backend) = start_service(dir.path()).await?;
    let bench = Bench::new(port)?;
    print_environment(&backend, total_jobs);

    bench.warm_up().await?;
    let mut report = Report::default();
    let mut ids = Vec::new();

    for (jobs, concurrency) in CREATION_RUNS {
        let run = bench.create_many(jobs, concurrency).await?;
        report_creation(&mut report, &format!("create c={concurrency} ({jobs} jobs)"), &run, concurrency == 64);
        ids.extend(run.ids);
    }

    let missing = total_jobs.saturating_sub(ids.len());
    if missing > 0 {
        eprintln!("topping up: creating {missing} more jobs at concurrency {TOPUP_CONCURRENCY} …");
        let run = bench.create_many(missing, TOPUP_CONCURRENCY).await?;
        report_creation(&mut report, &format!("top-up c={TOPUP_CONCURRENCY} ({missing} jobs)"), &run, false);
        ids.extend(run.ids);
    }
    let in_db = ids.len();
    report.info("jobs in the database", format!("{in_db}"));

    bench.list_figures(&mut report, in_db).await?;
    bench.single_get_figures(&mut report, &ids).await?;
    bench.run_latency_figures(&mut report).await?;

    report.print();
    Ok(())
}

fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().with_context(|| format!("{name} must be a whole number, got '{v}'")),
        Err(_) => Ok(default),
    }
}

/// Starts vocloud on a free port, as the integration tests do; returns the port and backend.
async fn start_service(data_dir: &std::path::Path) -> anyhow::Result<(u16, String)> {
    let mut settings = vocloud::config::Settings::default();
    settings.http.bind = "127.0.0.1:0".into();
    settings.storage.data_dir = data_dir.to_path_buf();
    settings.admin_password = Some(PASSWORD.to_string().into());
    settings.log.filter = "warn".into();
    // Every attempt runs as `vocloud run-job`; the benchmark binary is not vocloud.
    settings.executors.attempt_binary = Some(env!("CARGO_BIN_EXE_vocloud").into());
    vocloud::telemetry::init(&settings.log);
    let app = vocloud::app::Application::build(settings).await?;
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    Ok((port, "Sqlite".to_string()))
}

fn print_environment(backend: &str, total_jobs: usize) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("vocloud load benchmark");
    println!("  cores: {cores} (client and service share them)");
    println!("  database backend: {backend} (temporary directory)");
    println!("  target job count (VOCLOUD_BENCH_JOBS): {total_jobs}");
    if std::env::var_os("VOCLOUD_TEST_DATABASE_URL").is_some() {
        println!("  VOCLOUD_TEST_DATABASE_URL is set but ignored: this benchmark measures SQLite only");
    }
    println!();
}

// ---- measurements ----

/// The HTTP client and the service's base URL.
#[derive(Clone)]
struct Bench {
    client: Client,
    base: String,
}

/// What one creation run produced.
struct CreationRun {
    ids: Vec<String>,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Bench {
    fn new(port: u16) -> anyhow::Result<Bench> {
        let client = Client::builder().redirect(Policy::none()).pool_max_idle_per_host(256).build()?;
        Ok(Bench { client, base: format!("http://127.0.0.1:{port}/uws/diag") })
    }

    /// One authenticated request first, so the argon2 verification (then cached) is not timed.
    async fn warm_up(&self) -> anyhow::Result<()> {
        let response =
            self.client.get(&self.base).query(&[("LAST", "1")]).basic_auth(USER, Some(PASSWORD)).send().await?;
        ensure!(response.status() == StatusCode::OK, "warm-up GET answered {}", response.status());
        Ok(())
    }

    /// Creates one job from `form`; returns its id (the last segment of the 303 Location).
    async fn create(&self, form: &[(&str, &str)]) -> anyhow::Result<String> {
        let response = self.client.post(&self.base).form(form).basic_auth(USER, Some(PASSWORD)).send().await?;
        ensure!(
            response.status() == StatusCode::SEE_OTHER,
            "creation answered {}: {}",
            response.status(),
            response.text().await?
        );
        let location = response.headers().get("location").context("creation answer without Location")?.to_str()?;
        let id = location.rsplit('/').next().context("empty Location")?;
        Ok(id.to_string())
    }

    /// Creates `total` PENDING zero-duration jobs from `concurrency` tasks sharing the work.
    async fn create_many(&self, total: usize, concurrency: usize) -> anyhow::Result<CreationRun> {
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(concurrency);
        for task in 0..concurrency {
            let share = total / concurrency + usize::from(task < total % concurrency);
            let bench = self.clone();
            tasks.push(tokio::spawn(async move { bench.create_sequence(share).await }));
        }
        let mut run = CreationRun {
            ids: Vec::with_capacity(total),
            latencies: Vec::with_capacity(total),
            elapsed: Duration::ZERO,
        };
        for task in tasks {
            let (ids, latencies) = task.await??;
            run.ids.extend(ids);
            run.latencies.extend(latencies);
        }
        run.elapsed = start.elapsed();
        Ok(run)
    }

    async fn create_sequence(&self, count: usize) -> anyhow::Result<(Vec<String>, Vec<Duration>)> {
        let mut ids = Vec::with_capacity(count);
        let mut latencies = Vec::with_capacity(count);
        for _ in 0..count {
            let t0 = Instant::now();
            ids.push(self.create(&[("duration", "0")]).await?);
            latencies.push(t0.elapsed());
        }
        Ok((ids, latencies))
    }

    /// GETs `url` (with `query`) and returns the body, checking for 200.
    async fn get_body(&self, url: &str, query: &[(&str, &str)]) -> anyhow::Result<String> {
        let response = self.client.get(url).query(query).basic_auth(USER, Some(PASSWORD)).send().await?;
        let status = response.status();
        let body = response.text().await?;
        ensure!(status == StatusCode::OK, "GET {url} answered {status}: {body}");
        Ok(body)
    }

    /// `GET ?LAST=100` and the full list of `expected` jobs.
    async fn list_figures(&self, report: &mut Report, expected: usize) -> anyhow::Result<()> {
        eprintln!("measuring job lists …");
        let mut latencies = Vec::with_capacity(LIST_LAST_REQUESTS);
        for _ in 0..LIST_LAST_REQUESTS {
            let t0 = Instant::now();
            let body = self.get_body(&self.base, &[("LAST", "100")]).await?;
            latencies.push(t0.elapsed());
            ensure!(count_jobrefs(&body) == 100.min(expected), "LAST=100 listed {} jobs", count_jobrefs(&body));
        }
        let s = Summary::of(latencies);
        report.check("list LAST=100 p50", ms(s.p50), "< 10 ms", s.p50 < Duration::from_millis(10));
        report.info("list LAST=100 p95", ms(s.p95));

        let mut latencies = Vec::with_capacity(FULL_LIST_REQUESTS);
        let mut size = 0;
        for _ in 0..FULL_LIST_REQUESTS {
            let t0 = Instant::now();
            let body = self.get_body(&self.base, &[]).await?;
            latencies.push(t0.elapsed());
            ensure!(
                count_jobrefs(&body) == expected,
                "full list has {} jobs, expected {expected}",
                count_jobrefs(&body)
            );
            size = body.len();
        }
        let s = Summary::of(latencies);
        report.info(&format!("full list ({expected} jobs) p50"), ms(s.p50));
        report.info(&format!("full list ({expected} jobs) max"), ms(s.max));
        report.info("full list response size", format!("{:.1} MB", size as f64 / 1e6));
        Ok(())
    }

    /// Sequential GETs of randomly chosen existing jobs.
    async fn single_get_figures(&self, report: &mut Report, ids: &[String]) -> anyhow::Result<()> {
        eprintln!("measuring single-job GETs …");
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut latencies = Vec::with_capacity(SINGLE_GET_REQUESTS);
        for _ in 0..SINGLE_GET_REQUESTS {
            let id = &ids[rng.below(ids.len())];
            let url = format!("{}/{id}", self.base);
            let t0 = Instant::now();
            let body = self.get_body(&url, &[]).await?;
            latencies.push(t0.elapsed());
            ensure!(phase_of(&body) == Some("PENDING"), "job {id} is not PENDING");
        }
        let s = Summary::of(latencies);
        report.info("single-job GET p50", ms(s.p50));
        report.info("single-job GET p95", ms(s.p95));
        Ok(())
    }

    /// RUN→COMPLETED of zero-duration jobs, one after another.
    async fn run_latency_figures(&self, report: &mut Report) -> anyhow::Result<()> {
        eprintln!("measuring RUN→COMPLETED …");
        let mut total = Vec::with_capacity(RUN_LATENCY_RUNS);
        let mut posts = Vec::with_capacity(RUN_LATENCY_RUNS);
        let mut waits = 0;
        for _ in 0..RUN_LATENCY_RUNS {
            let id = self.create(&[("duration", "0")]).await?;
            let run = self.run_to_completion(&id).await?;
            total.push(run.total);
            posts.push(run.post);
            waits += run.waits;
        }
        let s = Summary::of(total);
        report.check("RUN→COMPLETED p50", ms(s.p50), "< 20 ms", s.p50 < Duration::from_millis(20));
        report.info("RUN→COMPLETED p95", ms(s.p95));
        report.info("RUN→COMPLETED max", ms(s.max));
        report.info("  of which POST /phase p50", ms(Summary::of(posts).p50));
        report.info("  WAIT requests per run (mean)", format!("{:.2}", waits as f64 / RUN_LATENCY_RUNS as f64));
        Ok(())
    }

    async fn run_to_completion(&self, id: &str) -> anyhow::Result<RunTiming> {
        let job_url = format!("{}/{id}", self.base);
        let t0 = Instant::now();
        let response = self
            .client
            .post(format!("{job_url}/phase"))
            .form(&[("PHASE", "RUN")])
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await?;
        ensure!(response.status() == StatusCode::SEE_OTHER, "PHASE=RUN answered {}", response.status());
        let post = t0.elapsed();
        let mut waits = 0;
        loop {
            let body = self.get_body(&job_url, &[("WAIT", "10")]).await?;
            waits += 1;
            match phase_of(&body) {
                Some("COMPLETED") => {
                    return Ok(RunTiming { total: t0.elapsed(), post, waits });
                }
                Some("QUEUED" | "EXECUTING") if t0.elapsed() < Duration::from_secs(60) => continue,
                other => bail!("job {id} ended in {other:?} (after {:?})", t0.elapsed()),
            }
        }
    }
}

struct RunTiming {
    total: Duration,
    post: Duration,
    waits: usize,
}

fn report_creation(report: &mut Report, label: &str, run: &CreationRun, with_target: bool) {
    let rate = run.ids.len() as f64 / run.elapsed.as_secs_f64();
    let value = format!("{rate:.0} jobs/s");
    if with_target {
        report.check(&format!("{label} throughput"), value, ">= 2000 jobs/s", rate >= 2000.0);
    } else {
        report.info(&format!("{label} throughput"), value);
    }
    let s = Summary::of(run.latencies.clone());
    report.info(&format!("{label} p50 latency"), ms(s.p50));
    report.info(&format!("{label} p99 latency"), ms(s.p99));
}

// ---- small helpers ----

/// The text of the first `<uws:phase>` element.
fn phase_of(xml: &str) -> Option<&str> {
    let start = xml.find("<uws:phase>")? + "<uws:phase>".len();
    let len = xml[start..].find("</uws:phase>")?;
    Some(&xml[start..start + len])
}

fn count_jobrefs(xml: &str) -> usize {
    xml.matches("<uws:jobref ").count()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Percentiles of a set of latencies (nearest rank).
struct Summary {
    p50: Duration,
    p95: Duration,
    p99: Duration,
    max: Duration,
}

impl Summary {
    fn of(mut samples: Vec<Duration>) -> Summary {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        let at = |p: f64| samples[((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
        Summary { p50: at(0.50), p95: at(0.95), p99: at(0.99), max: samples[samples.len() - 1] }
    }
}

/// A tiny deterministic PRNG for picking jobs (xorshift64).
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The figures, printed as one table at the end.
#[derive(Default)]
struct Report {
    rows: Vec<(String, String, String, &'static str)>,
}

impl Report {
    fn info(&mut self, figure: &str, value: String) {
        eprintln!("  {figure}: {value}");
        self.rows.push((figure.to_string(), value, String::new(), ""));
    }

    fn check(&mut self, figure: &str, value: String, target: &str, pass: bool) {
        eprintln!("  {figure}: {value}");
        self.rows.push((figure.to_string(), value, target.to_string(), if pass { "PASS" } else { "MISS" }));
    }

    fn print(&self) {
        let width = self.rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        println!("{:<width$}  {:>14}  {:<15}  result", "figure", "value", "target");
        println!("{}", "-".repeat(width + 14 + 15 + 12));
        for (figure, value, target, result) in &self.rows {
            println!("{figure:<width$}  {value:>14}  {target:<15}  {result}");
        }
    }
}
