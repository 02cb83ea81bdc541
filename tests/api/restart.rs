//! Crash safety with the real binary: `vocloud serve` is killed with SIGKILL while jobs run and
//! queue, then started again on the same data; nothing is lost. Also the CLI's account commands
//! and settings errors.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{User, element, phase, test_database};

const BIN: &str = env!("CARGO_BIN_EXE_vocloud");

struct Server {
    child: Child,
    base: String,
    client: reqwest::Client,
    log: std::path::PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn vocloud(dir: &std::path::Path, database: &str) -> Command {
    let mut command = Command::new(BIN);
    command.arg("--data-dir").arg(dir).arg("--database-url").arg(database).env("RUST_LOG", "warn");
    command
}

impl Server {
    /// Starts `vocloud serve` on `port` (the same port across restarts, so job URLs stay valid).
    async fn start(dir: &std::path::Path, database: &str, port: u16, env: &[(&str, &str)]) -> Server {
        let mut command = vocloud(dir, database);
        command.args(["serve", "--local-workers", "1", "--bind", &format!("127.0.0.1:{port}")]);
        command.env("VOCLOUD_ADMIN_PASSWORD", "admin-password").envs(env.iter().copied()).stdout(Stdio::null());
        let log = dir.join(format!("serve-{port}.log"));
        command.stderr(std::fs::File::create(&log).unwrap());
        let child = command.spawn().expect("starting vocloud serve");
        let server = Server { child, base: format!("http://127.0.0.1:{port}"), client: reqwest::Client::new(), log };
        crate::helpers::wait_for_health(&server.base, Duration::from_secs(30)).await;
        server
    }

    async fn create(&self, user: &User, form: &[(&str, &str)]) -> String {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let response = client
            .post(format!("{}/uws/diag", self.base))
            .basic_auth(&user.name, Some(&user.password))
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        crate::helpers::location(&response)
    }

    async fn job(&self, user: &User, url: &str, wait: Option<(u64, String)>) -> String {
        let query = wait.map(|(seconds, phase)| format!("?WAIT={seconds}&PHASE={phase}")).unwrap_or_default();
        let response =
            match self.client.get(format!("{url}{query}")).basic_auth(&user.name, Some(&user.password)).send().await {
                Ok(r) => r,
                Err(e) => panic!("{e}; server log:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default()),
            };
        response.text().await.unwrap()
    }

    async fn wait_until_not(&self, user: &User, url: &str, passing: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut doc = self.job(user, url, None).await;
        while passing.contains(&phase(&doc).as_str()) {
            assert!(Instant::now() < deadline, "stuck in {}", phase(&doc));
            doc = self.job(user, url, Some((5, phase(&doc)))).await;
        }
        doc
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A data folder and database holding the user alice, and a free port for the server.
struct Fixture {
    dir: tempfile::TempDir,
    database: String,
    port: u16,
    alice: User,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let database = test_database(dir.path()).await;
    add_user(dir.path(), &database, "alice", "alice-password");
    let alice = User { name: "alice".into(), password: "alice-password".into() };
    Fixture { dir, database, port: free_port(), alice }
}

fn add_user(dir: &std::path::Path, database: &str, name: &str, password: &str) {
    let mut child = vocloud(dir, database)
        .args(["user", "add", name, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains(&format!("created user '{name}'")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_job_running_queued_or_pending() {
    let Fixture { dir, database, port, alice } = fixture().await;

    let server = Server::start(dir.path(), &database, port, &[]).await;
    let running = server.create(&alice, &[("duration", "2"), ("PHASE", "RUN")]).await;
    let queued = server.create(&alice, &[("duration", "0"), ("PHASE", "RUN"), ("output", "queued")]).await;
    let pending = server.create(&alice, &[]).await;
    assert_eq!(phase(&server.wait_until_not(&alice, &running, &["QUEUED"]).await), "EXECUTING");
    assert_eq!(phase(&server.job(&alice, &queued, None).await), "QUEUED", "one local worker: the second job waits");
    server.kill();

    let server = Server::start(dir.path(), &database, port, &[]).await;
    let doc = server.wait_until_not(&alice, &running, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    assert!(doc.contains("<vocloud:attempt>2</vocloud:attempt>"), "the interrupted run was retried: {doc}");
    assert_eq!(phase(&server.wait_until_not(&alice, &queued, &["QUEUED", "EXECUTING"]).await), "COMPLETED");
    let result = server
        .client
        .get(format!("{queued}/results/diag.txt"))
        .basic_auth("alice", Some("alice-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(result.text().await.unwrap(), "queued");
    assert_eq!(phase(&server.job(&alice, &pending, None).await), "PENDING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_interrupted_on_its_last_attempt_ends_in_error_with_the_reason() {
    let Fixture { dir, database, port, alice } = fixture().await;
    let one_attempt = [("VOCLOUD_EXECUTORS__MAX_ATTEMPTS", "1")];

    let server = Server::start(dir.path(), &database, port, &one_attempt).await;
    let running = server.create(&alice, &[("duration", "30"), ("PHASE", "RUN")]).await;
    assert_eq!(phase(&server.wait_until_not(&alice, &running, &["QUEUED"]).await), "EXECUTING");
    server.kill();

    let server = Server::start(dir.path(), &database, port, &one_attempt).await;
    let doc = server.job(&alice, &running, None).await;
    assert_eq!(phase(&doc), "ERROR");
    let message = element(&doc, "message").unwrap();
    assert!(message.contains("the service stopped while this job was running"), "{message}");
}

#[test]
fn settings_mistakes_stop_the_server_with_a_message_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("VOCLOUD_HTTP__BINDD", "127.0.0.1:1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bindd"), "{stderr}");

    let output = Command::new(BIN)
        .args(["serve", "--database-url", "mysql://x"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("database.url must start with"));
}

/// POSTs the login form; returns the `name=value` cookie pair.
async fn log_in(server: &Server, user: &User) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = [("user", user.name.as_str()), ("password", user.password.as_str()), ("next", "/")];
    let response = client.post(format!("{}/login", server.base)).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

async fn files_with_cookie(server: &Server, cookie: &str) -> u16 {
    let r = server.client.get(format!("{}/api/files/", server.base)).header("Cookie", cookie).send().await.unwrap();
    r.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_logins_survive_a_restart_and_end_at_logout_or_expiry() {
    let Fixture { dir, database, port, alice } = fixture().await;

    let server = Server::start(dir.path(), &database, port, &[]).await;
    let cookie = log_in(&server, &alice).await;
    let other = log_in(&server, &alice).await;
    assert_eq!(files_with_cookie(&server, &cookie).await, 200);
    server.kill();

    let server = Server::start(dir.path(), &database, port, &[]).await;
    assert_eq!(files_with_cookie(&server, &cookie).await, 200, "the login survived the restart");
    assert_eq!(files_with_cookie(&server, "vocloud_session=vs_unknown").await, 401, "an unknown cookie");
    // A page sends a browser with a dead cookie to the login form.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = client
        .get(format!("{}/plots/0123456789abcdef", server.base))
        .header("Cookie", "vocloud_session=vs_unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    assert!(crate::helpers::location(&page).starts_with("/login"), "{:?}", page.headers());
    // Logout ends that session only, and clears the cookie.
    let out = client
        .post(format!("{}/logout", server.base))
        .header("Cookie", &cookie)
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(files_with_cookie(&server, &cookie).await, 401, "logged out");
    assert_eq!(files_with_cookie(&server, &other).await, 200, "the other browser stays logged in");
    server.kill();

    // Sessions expire: one-second logins, checked after two seconds.
    let server = Server::start(dir.path(), &database, port, &[("VOCLOUD_HTTP__LOGIN_SECONDS", "1")]).await;
    let short = log_in(&server, &alice).await;
    assert_eq!(files_with_cookie(&server, &short).await, 200);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(files_with_cookie(&server, &short).await, 401, "expired");
}

/// A concrete variable for each entry of the list (prefixes get a name of their own).
fn not_settings() -> Vec<String> {
    vocloud::config::NOT_SETTINGS
        .iter()
        .map(|n| if n.ends_with('_') { format!("{n}SOME_KEY") } else { n.to_string() })
        .collect()
}

/// Every subcommand, each failing for a reason of its own once its settings are read.
fn subcommands(dir: &std::path::Path) -> Vec<(Vec<String>, &'static str)> {
    let d = dir.display().to_string();
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        (args(&["--data-dir", &d, "serve", "--bind", "256.0.0.1:1"]), "binding"),
        (args(&["--data-dir", &d, "user", "add", "bob", "--password-stdin"]), "no password"),
        (args(&["--data-dir", &d, "token", "create", "nobody"]), "no user 'nobody'"),
        (args(&["--data-dir", &d, "worker-token", "revoke", "nobody"]), "no live worker token"),
        (
            args(&["--data-dir", &d, "worker", "--master", "http://127.0.0.1:9", "--storage", "/nonexistent"]),
            "no vocloud storage",
        ),
        (args(&["--data-dir", &d, "run-job", "/nonexistent/jobs/x"]), "no job folder"),
        (args(&["samp", "send", "/nonexistent.vot"]), ""),
    ]
}

#[test]
fn variables_that_are_not_settings_never_stop_a_command() {
    let dir = tempfile::tempdir().unwrap();
    for name in not_settings() {
        for (args, expected) in subcommands(dir.path()) {
            let mut command = Command::new(BIN);
            // `worker` reads its token from VOCLOUD_WORKER_TOKEN when --token is not given.
            command.args(&args).env(&name, "1").env("VOCLOUD_WORKER_TOKEN", "t").stdin(Stdio::null());
            let output = command.output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                !stderr.contains("unknown field") && !stderr.contains("reading settings"),
                "{name} {args:?}: {stderr}"
            );
            assert!(stderr.contains(expected), "{name} {args:?}: '{stderr}' lacks '{expected}'");
        }
    }
}

#[test]
fn commands_exit_quietly_when_their_output_is_a_closed_pipe() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("vocloud.db").display());
    add_user(dir.path(), &database, "alice", "alice-password");
    for args in [
        vec!["token", "create", "alice"],
        vec!["worker-token", "create", "host-a"],
        vec!["user", "add", "carol"],
        vec!["--help"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = vocloud(dir.path(), &database).args(&args).stdout(writer).stderr(Stdio::piped()).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
        assert!(
            output.status.success() || output.status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {:?}",
            output.status
        );
    }
}
