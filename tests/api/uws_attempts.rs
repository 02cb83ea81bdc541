//! Attempts run in their own process: a job that aborts, segfaults or runs out of memory ends
//! in ERROR with the reason in plain words, while the service — and every other job — keeps
//! running; a crash is retried until `executors.max_crashes`. On the local pool and on a real
//! `vocloud worker`. The crashes come from `diag`'s `crash` operator check.

use crate::fleet::{Worker, fleet_app, storage, token};
use crate::helpers::{User, element, phase, spawn_app_with};

/// Runs a `crash=<how>` job to its end and returns its error message.
async fn crashed(app: &crate::helpers::TestApp, user: &User, how: &str) -> String {
    let url = app.create_job(user, "diag", &[("crash", how), ("PHASE", "RUN")]).await;
    let doc = app.wait_until_not(user, &url, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "ERROR", "{how}: {doc}");
    element(&doc, "message").unwrap().replace("&apos;", "'")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_process_crashes_or_runs_out_of_memory_ends_in_error_and_others_keep_running() {
    let app = spawn_app_with(|s| {
        s.executors.local_workers = Some(2);
        s.executors.attempt_memory_mb = Some(256);
        s.executors.max_crashes = 1;
    })
    .await;
    let alice = app.add_user("alice").await;
    let steady = app.create_job(&alice, "diag", &[("duration", "3"), ("output", "still here"), ("PHASE", "RUN")]).await;
    assert_eq!(phase(&app.wait_until_not(&alice, &steady, &["QUEUED"]).await), "EXECUTING");

    let message = crashed(&app, &alice, "oom").await;
    assert!(message.starts_with("the job ran out of memory (limit 256 MiB)"), "{message}");
    let message = crashed(&app, &alice, "segv").await;
    assert!(message.starts_with("the job's process crashed: signal 11 (SIGSEGV)"), "{message}");
    let message = crashed(&app, &alice, "abort").await;
    assert!(message.starts_with("the job's process crashed: signal 6 (SIGABRT)"), "{message}");

    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the master keeps serving");
    let doc = app.wait_until_not(&alice, &steady, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "COMPLETED", "the other job kept running: {doc}");
    let text = app.get(&alice, &format!("{steady}/results/diag.txt")).send().await.unwrap().text().await.unwrap();
    assert_eq!(text, "still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_job_is_retried_until_its_process_crashed_max_crashes_times() {
    let app = spawn_app_with(|s| {
        s.executors.max_attempts = 5;
        s.executors.max_crashes = 2;
    })
    .await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("crash", "segv"), ("PHASE", "RUN")]).await;
    let doc = app.wait_until_not(&alice, &url, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "ERROR", "{doc}");
    assert!(doc.contains("<vocloud:attempt>2</vocloud:attempt>"), "retried once, not blindly: {doc}");
    let message = element(&doc, "message").unwrap().replace("&apos;", "'");
    assert!(message.contains("signal 11") && message.contains("crashed 2 times; giving up"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_on_a_remote_worker_ends_in_error_and_the_worker_takes_new_work() {
    let app = fleet_app(3).await;
    let alice = app.add_user("alice").await;
    let token = token(&app, "host-a").await;
    let _worker = Worker::start_with(&app, &token, &storage(&app), &[("VOCLOUD_EXECUTORS__ATTEMPT_MEMORY_MB", "256")]);

    let message = crashed(&app, &alice, "oom").await;
    assert!(message.starts_with("the job ran out of memory (limit 256 MiB)"), "{message}");
    let next = app.create_job(&alice, "diag", &[("PHASE", "RUN")]).await;
    let doc = app.wait_until_not(&alice, &next, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "COMPLETED", "the worker survived its job: {doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_list_the_mime_types_the_kind_declared() {
    let app = spawn_app_with(|_| {}).await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("PHASE", "RUN")]).await;
    let doc = app.wait_until_not(&alice, &url, &["QUEUED", "EXECUTING"]).await;
    // diag declares its text as UTF-8; a guess from the file name would say text/plain only.
    assert!(doc.contains(r#"mime-type="text/plain; charset=utf-8""#), "{doc}");
}

/// Live processes named after the job (an attempt's process takes its job's id as its name).
fn attempt_processes(job_id: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // The state follows the parenthesised name; Z is a zombie, already dead.
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next()).unwrap_or_default();
        if comm.trim_end() == job_id && state != Some('Z') {
            found.push(format!("{} {comm}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_a_job_ends_its_process() {
    let app = spawn_app_with(|_| {}).await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("duration", "600"), ("PHASE", "RUN")]).await;
    let job_id = url.rsplit('/').next().unwrap().to_string();
    assert_eq!(phase(&app.wait_until_not(&alice, &url, &["QUEUED"]).await), "EXECUTING");
    // The phase changes at the claim, a moment before the process starts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while attempt_processes(&job_id).len() != 1 {
        assert!(std::time::Instant::now() < deadline, "no attempt process");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.post(&alice, &format!("{url}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
    while !attempt_processes(&job_id).is_empty() {
        assert!(std::time::Instant::now() < deadline, "{:?}", attempt_processes(&job_id));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A FITS header (one 2,880-byte block, no data) declaring a 1-D image of `naxis1` floats.
fn fits_header_declaring(naxis1: u64) -> Vec<u8> {
    let cards = [
        "SIMPLE  =                    T".to_string(),
        "BITPIX  =                  -32".to_string(),
        "NAXIS   =                    1".to_string(),
        format!("NAXIS1  = {naxis1:>20}"),
        "CRVAL1  =               6300.0".to_string(),
        "CDELT1  =                  1.5".to_string(),
        "END".to_string(),
    ];
    let mut block: Vec<u8> = cards.iter().flat_map(|c| format!("{c:<80}").into_bytes()).collect();
    block.resize(2880, b' ');
    block
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_som_job_on_a_file_declaring_a_terabyte_of_data_cannot_take_the_service_down() {
    let app = spawn_app_with(|s| s.executors.attempt_memory_mb = Some(512)).await;
    let alice = app.add_user("alice").await;
    for i in 0..2 {
        app.upload(&alice, &format!("huge/s{i}.fits"), fits_header_declaring(1 << 40)).await;
    }
    let url = app.create_job(&alice, "som", &[("input", "huge"), ("rows", "2"), ("cols", "2"), ("PHASE", "RUN")]).await;
    let doc = app.wait_until_not(&alice, &url, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "ERROR", "{doc}");
    assert_eq!(app.client.get(app.url("/health")).send().await.unwrap().status(), 200, "the master keeps serving");
    let next = app.create_job(&alice, "diag", &[("PHASE", "RUN")]).await;
    assert_eq!(phase(&app.wait_until_not(&alice, &next, &["QUEUED", "EXECUTING"]).await), "COMPLETED");
}

/// The parent process id of `pid`, from /proc.
fn parent_of(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (name) state ppid …": the name may hold spaces, the fields after it do not.
    stat.rsplit_once(") ")?.1.split(' ').nth(1).map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_forkserver_takes_its_attempts_with_it_and_the_next_attempt_gets_a_new_one() {
    let app = spawn_app_with(|s| s.executors.max_crashes = 1).await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("duration", "600"), ("PHASE", "RUN")]).await;
    let job_id = url.rsplit('/').next().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let attempt = loop {
        if let Some(line) = attempt_processes(&job_id).first() {
            break line.split(' ').next().unwrap().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no attempt process");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let forkserver = parent_of(&attempt).unwrap();
    let cmdline = std::fs::read_to_string(format!("/proc/{forkserver}/cmdline")).unwrap();
    assert!(cmdline.contains("attempt-server"), "the attempt's parent is the forkserver: {cmdline:?}");
    // SAFETY: signalling a process this test's service started.
    unsafe { libc::kill(forkserver.parse().unwrap(), libc::SIGKILL) };

    let doc = app.wait_until_not(&alice, &url, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "ERROR", "{doc}");
    let message = element(&doc, "message").unwrap();
    assert!(message.contains("forkserver"), "the reason names what happened: {message}");
    assert!(attempt_processes(&job_id).is_empty(), "the attempt died with its forkserver");
    let next = app.create_job(&alice, "diag", &[("PHASE", "RUN")]).await;
    let doc = app.wait_until_not(&alice, &next, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "COMPLETED", "a new forkserver runs the next job: {doc}");
}
