//! Starting the real service for a test, and talking to it over HTTP as a client would.
//!
//! Each test gets its own data folder and database: SQLite in the folder, or — when
//! `VOCLOUD_TEST_DATABASE_URL` points at PostgreSQL — a fresh database named after the test run.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::{Client, RequestBuilder, Response};
use sqlx::Connection;
use tempfile::TempDir;
use vocloud::app::Application;
use vocloud::config::Settings;
use vocloud::db::Db;

pub const ADMIN_PASSWORD: &str = "admin-password";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub data_dir: TempDir,
    /// A connection of the test's own to the service's database, for accounts and tokens
    /// (what `vocloud user add` and `vocloud token create` do).
    pub db: Db,
}

/// The vocloud binary, which runs every attempt (`vocloud run-job`): the test binary is not it.
pub const BIN: &str = env!("CARGO_BIN_EXE_vocloud");

/// A user of the test app: name and password.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub password: String,
}

pub fn admin() -> User {
    User { name: "admin".into(), password: ADMIN_PASSWORD.into() }
}

/// A database URL for one test: a new PostgreSQL database, or SQLite inside `dir`.
pub async fn test_database(dir: &std::path::Path) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    match std::env::var("VOCLOUD_TEST_DATABASE_URL") {
        Ok(base) if base.starts_with("postgres") => {
            sqlx::any::install_default_drivers();
            let name = format!(
                "vocloud_test_{}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                rand_suffix()
            );
            let mut conn = sqlx::AnyConnection::connect(&base).await.expect("connecting to the test PostgreSQL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("creating test database");
            let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
            format!("{prefix}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("vocloud.db").display()),
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the service with test settings, changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = test_database(data_dir.path()).await;
    let mut settings = Settings::default();
    settings.http.bind = "127.0.0.1:0".into();
    settings.storage.data_dir = data_dir.path().to_path_buf();
    settings.database.url = Some(database_url.clone().into());
    settings.admin_password = Some(ADMIN_PASSWORD.to_string().into());
    settings.executors.local_workers = Some(2);
    settings.executors.attempt_binary = Some(BIN.into());
    settings.limits.reaper_interval_ms = 100;
    settings.log.filter = if std::env::var("TEST_LOG").is_ok() { "info".into() } else { "off".into() };
    configure(&mut settings);
    vocloud::telemetry::init(&settings.log);
    let app = Application::build(settings).await.expect("building the app");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let db = Db::connect(&database_url, Some(2)).await.expect("connecting to the test database");
    TestApp { base, client, data_dir, db }
}

impl TestApp {
    /// Creates a user with a random password.
    pub async fn add_user(&self, name: &str) -> User {
        let password = format!("{name}-password");
        vocloud::auth::add_user(&self.db, name, &password, false).await.expect("adding user");
        User { name: name.into(), password }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.base) }
    }

    pub fn get(&self, user: &User, path: &str) -> RequestBuilder {
        self.client.get(self.url(path)).basic_auth(&user.name, Some(&user.password))
    }

    pub fn post(&self, user: &User, path: &str, form: &[(&str, &str)]) -> RequestBuilder {
        self.client.post(self.url(path)).basic_auth(&user.name, Some(&user.password)).form(form)
    }

    pub fn delete(&self, user: &User, path: &str) -> RequestBuilder {
        self.client.delete(self.url(path)).basic_auth(&user.name, Some(&user.password))
    }

    /// Uploads `body` to `path` in the user's storage through the files API (a test input).
    pub async fn upload(&self, user: &User, path: &str, body: Vec<u8>) {
        let response = self
            .client
            .put(self.url(&format!("/api/files/{path}")))
            .basic_auth(&user.name, Some(&user.password))
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "uploading {path}: {}", response.status());
    }

    /// Creates a job and returns its URL (the 303 Location), checking the UWS rules on it.
    pub async fn create_job(&self, user: &User, kind: &str, form: &[(&str, &str)]) -> String {
        let response = self.post(user, &format!("/uws/{kind}"), form).send().await.unwrap();
        assert_eq!(response.status(), 303, "creating a job: {}", response.text().await.unwrap());
        let location = location(&response);
        assert!(location.starts_with(&format!("{}/uws/{kind}/", self.base)), "{location}");
        location
    }

    /// The job document, blocking up to `wait` seconds for a phase change.
    pub async fn job(&self, user: &User, url: &str, wait: Option<u64>) -> String {
        let url = match wait {
            Some(seconds) => format!("{url}?WAIT={seconds}"),
            None => url.to_string(),
        };
        let response = self.get(user, &url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        response.text().await.unwrap()
    }

    /// Waits (with blocking WAIT, not polling) until the job reaches a phase outside `passing`.
    /// `PHASE=<current>` makes the server answer at once if the job has already moved on.
    pub async fn wait_until_not(&self, user: &User, url: &str, passing: &[&str]) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut doc = self.job(user, url, None).await;
        while passing.contains(&phase(&doc).as_str()) {
            assert!(tokio::time::Instant::now() < deadline, "job stuck in {}", phase(&doc));
            let response = self.get(user, &format!("{url}?WAIT=10&PHASE={}", phase(&doc))).send().await.unwrap();
            doc = response.text().await.unwrap();
        }
        doc
    }

    /// Queues a pending job (`PHASE=RUN`).
    pub async fn run(&self, user: &User, url: &str) {
        let response = self.post(user, &format!("{url}/phase"), &[("PHASE", "RUN")]).send().await.unwrap();
        assert_eq!(response.status(), 303);
    }

    /// Runs a job to the end and returns its document.
    pub async fn run_to_end(&self, user: &User, url: &str) -> String {
        self.run(user, url).await;
        self.wait_until_not(user, url, &["PENDING", "QUEUED", "EXECUTING"]).await
    }
}

/// Polls `ready` every `every` until it holds; fails the test with `what()` after `within`.
pub async fn eventually<Fut: std::future::Future<Output = bool>>(
    within: Duration,
    every: Duration,
    what: impl Fn() -> String,
    mut ready: impl FnMut() -> Fut,
) {
    let deadline = tokio::time::Instant::now() + within;
    while !ready().await {
        assert!(tokio::time::Instant::now() < deadline, "{}", what());
        tokio::time::sleep(every).await;
    }
}

/// Waits up to `within` for a `vocloud serve` started by the test to answer `/health`.
pub async fn wait_for_health(base: &str, within: Duration) {
    let url = format!("{base}/health");
    let what = || format!("vocloud serve at {base} did not come up");
    eventually(within, Duration::from_millis(50), what, || async { reqwest::get(&url).await.is_ok() }).await;
}

/// The repository (the browser scripts, `target/node`).
pub fn repo_root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Fails the test unless Chromium and the node `packages` are installed (`./x setup --test`).
pub fn require_browser(packages: &[&str]) {
    let node = repo_root().join("target/node/node_modules");
    assert!(
        packages.iter().all(|p| node.join(p).is_dir()) && std::path::Path::new("/usr/bin/chromium").exists(),
        "this test needs Chromium and {packages:?} in target/node: run ./x setup --test"
    );
}

/// `node tests/browser/<script>` with the packages of `target/node` on its path and `OUT_DIR`
/// for its screenshots (`target/browser-shots/`); killed with the test.
pub fn browser_script(script: &str) -> tokio::process::Command {
    let shots = repo_root().join("target/browser-shots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut command = tokio::process::Command::new("node");
    command
        .arg(repo_root().join("tests/browser").join(script))
        .env("NODE_PATH", repo_root().join("target/node/node_modules"))
        .env("OUT_DIR", &shots)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs a browser script to its end with `env` and returns the JSON it prints on its last line.
pub async fn run_browser_script(script: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let output = browser_script(script).envs(env.iter().copied()).output().await.expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("the script's results as JSON")
}

pub fn location(response: &Response) -> String {
    response.headers().get("location").expect("a Location header").to_str().unwrap().to_string()
}

/// The text of the first `<uws:{element}>` in a document.
pub fn element(doc: &str, element: &str) -> Option<String> {
    let open = format!("<uws:{element}>");
    let start = doc.find(&open)? + open.len();
    let end = doc[start..].find(&format!("</uws:{element}>"))?;
    Some(doc[start..start + end].to_string())
}

pub fn phase(doc: &str) -> String {
    element(doc, "phase").expect("a phase")
}
