//! The UWS job life cycle over HTTP: create, run, results, error, abort, WAIT, limits, delete.

use std::time::{Duration, Instant};

use crate::helpers::{element, eventually, location, phase, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_job_then_run_reaches_completed_with_its_result() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url =
        app.create_job(&alice, "diag", &[("duration", "0.1"), ("output", "hello <world>"), ("RUNID", "r-1")]).await;

    let doc = app.job(&alice, &url, None).await;
    assert_eq!(phase(&doc), "PENDING");
    assert_eq!(element(&doc, "runId").as_deref(), Some("r-1"));
    assert_eq!(element(&doc, "ownerId").as_deref(), Some("alice"));
    assert!(doc.contains(r#"<uws:startTime xsi:nil="true"/>"#));

    let doc = app.run_to_end(&alice, &url).await;
    assert_eq!(phase(&doc), "COMPLETED");
    assert!(element(&doc, "endTime").is_some());
    let href = format!("{url}/results/diag.txt");
    assert!(doc.contains(&format!(r#"xlink:href="{href}""#)), "{doc}");
    assert_eq!(app.get(&alice, &href).send().await.unwrap().text().await.unwrap(), "hello <world>");

    for (resource, expected) in
        [("phase", "COMPLETED"), ("owner", "alice"), ("quote", ""), ("parameters/output", "hello <world>")]
    {
        let response = app.get(&alice, &format!("{url}/{resource}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{resource}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        assert_eq!(response.text().await.unwrap(), expected, "{resource}");
    }
    let results = app.get(&alice, &format!("{url}/results")).send().await.unwrap().text().await.unwrap();
    assert!(results.contains(r#"id="diag.txt""#) && results.contains(r#"size="13""#), "{results}");
    let parameters = app.get(&alice, &format!("{url}/parameters")).send().await.unwrap().text().await.unwrap();
    assert!(parameters.contains(r#"<uws:parameter id="output">hello &lt;world&gt;</uws:parameter>"#), "{parameters}");
    assert_eq!(app.get(&alice, &format!("{url}/error")).send().await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phase_run_at_creation_queues_the_job_before_the_redirect() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("duration", "5"), ("PHASE", "RUN")]).await;
    let doc = app.job(&alice, &url, None).await;
    assert!(["QUEUED", "EXECUTING"].contains(&phase(&doc).as_str()), "{doc}");
    app.post(&alice, &format!("{url}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_answers_303_with_the_job_already_out_of_pending() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("duration", "5")]).await;
    let response = app.post(&alice, &format!("{url}/phase"), &[("PHASE", "RUN")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), url);
    let now = app.get(&alice, &format!("{url}/phase")).send().await.unwrap().text().await.unwrap();
    assert!(now == "QUEUED" || now == "EXECUTING", "{now}");
    app.post(&alice, &format!("{url}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_job_ends_in_error_with_a_summary_and_detail() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("fail", "true")]).await;
    let doc = app.run_to_end(&alice, &url).await;
    assert_eq!(phase(&doc), "ERROR");
    assert!(doc.contains(r#"<uws:errorSummary type="fatal" hasDetail="true">"#), "{doc}");
    let detail = app.get(&alice, &format!("{url}/error")).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("failed on request"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_stops_a_running_job_and_frees_its_slot() {
    let app = spawn_app_with(|s| s.executors.local_workers = Some(1)).await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("duration", "60"), ("PHASE", "RUN")]).await;
    let doc = app.wait_until_not(&alice, &url, &["QUEUED"]).await;
    assert_eq!(phase(&doc), "EXECUTING");

    let response = app.post(&alice, &format!("{url}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let doc = app.job(&alice, &url, None).await;
    assert_eq!(phase(&doc), "ABORTED");
    assert!(!doc.contains("diag.txt"));

    // The only slot must be free again: a new job runs to completion.
    let next = app.create_job(&alice, "diag", &[]).await;
    assert_eq!(phase(&app.run_to_end(&alice, &next).await), "COMPLETED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phase_abort_posted_to_the_job_url_aborts_like_uws_client_expects() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("duration", "60")]).await;
    let response = app.post(&alice, &url, &[("PHASE", "ABORT")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(phase(&app.job(&alice, &url, None).await), "ABORTED");
    // Terminal phases never change again.
    let response = app.post(&alice, &format!("{url}/phase"), &[("PHASE", "RUN")]).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(phase(&app.job(&alice, &url, None).await), "ABORTED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_blocks_until_the_phase_changes_and_no_longer() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("duration", "1")]).await;

    // PENDING blocks for the whole WAIT when nothing happens.
    let start = Instant::now();
    assert_eq!(phase(&app.job(&alice, &url, Some(1)).await), "PENDING");
    assert!(start.elapsed() >= Duration::from_millis(900), "{:?}", start.elapsed());

    // With PHASE naming another phase the answer is immediate.
    let start = Instant::now();
    let doc = app.get(&alice, &format!("{url}?WAIT=30&PHASE=EXECUTING")).send().await.unwrap().text().await.unwrap();
    assert_eq!(phase(&doc), "PENDING");
    assert!(start.elapsed() < Duration::from_secs(5));

    // A 1 s job: waiting on EXECUTING returns when it completes, long before the 30 s.
    app.post(&alice, &format!("{url}/phase"), &[("PHASE", "RUN")]).send().await.unwrap();
    let doc = app.wait_until_not(&alice, &url, &["QUEUED"]).await;
    let start = Instant::now();
    let doc = if phase(&doc) == "EXECUTING" { app.job(&alice, &url, Some(30)).await } else { doc };
    assert_eq!(phase(&doc), "COMPLETED");
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());

    // Finished jobs answer at once.
    let start = Instant::now();
    app.job(&alice, &url, Some(30)).await;
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_past_the_execution_duration_aborts_the_job_with_the_reason() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("duration", "60"), ("EXECUTIONDURATION", "1")]).await;
    let start = Instant::now();
    let doc = app.run_to_end(&alice, &url).await;
    assert_eq!(phase(&doc), "ABORTED");
    assert!(doc.contains("execution duration of 1 s exceeded"), "{doc}");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_duration_and_destruction_can_be_set_and_are_clamped() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[]).await;

    let response =
        app.post(&alice, &format!("{url}/executionduration"), &[("EXECUTIONDURATION", "120")]).send().await.unwrap();
    assert_eq!((response.status().as_u16(), location(&response)), (303, url.clone()));
    assert_eq!(app.get(&alice, &format!("{url}/executionduration")).send().await.unwrap().text().await.unwrap(), "120");
    // 0 (unlimited) is above the service's cap of 7 days, so the cap applies.
    app.post(&alice, &format!("{url}/executionduration"), &[("EXECUTIONDURATION", "0")]).send().await.unwrap();
    assert_eq!(
        app.get(&alice, &format!("{url}/executionduration")).send().await.unwrap().text().await.unwrap(),
        "604800"
    );

    // A naive instant (as uws-client sends) is taken as UTC.
    let in_100_days = (chrono::Utc::now() + chrono::Duration::days(100)).format("%Y-%m-%dT%H:%M:%S").to_string();
    let response =
        app.post(&alice, &format!("{url}/destruction"), &[("DESTRUCTION", in_100_days.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let destruction = app.get(&alice, &format!("{url}/destruction")).send().await.unwrap().text().await.unwrap();
    assert_eq!(destruction, format!("{in_100_days}.000Z"));
    // Beyond the one-year maximum: clamped to creation + 365 days.
    app.post(&alice, &format!("{url}/destruction"), &[("destruction", "2999-01-01T00:00:00Z")]).send().await.unwrap();
    let destruction = app.get(&alice, &format!("{url}/destruction")).send().await.unwrap().text().await.unwrap();
    assert!(destruction.as_str() < "2999", "{destruction}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destruction_time_destroys_the_job_and_its_files() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[]).await;
    assert_eq!(phase(&app.run_to_end(&alice, &url).await), "COMPLETED");
    let id = url.rsplit('/').next().unwrap().to_string();
    let job_dir = app.data_dir.path().join("storage/jobs").join(&id);
    assert!(job_dir.join("results/diag.txt").exists());

    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(500);
    let response =
        app.post(&alice, &format!("{url}/destruction"), &[("DESTRUCTION", &soon.to_rfc3339())]).send().await.unwrap();
    assert_eq!(response.status(), 303);

    let destroyed = || async { app.get(&alice, &url).send().await.unwrap().status() == 404 };
    eventually(Duration::from_secs(10), Duration::from_millis(100), || "job not destroyed".into(), destroyed).await;
    assert!(!job_dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_action_delete_destroy_the_job_and_redirect_to_the_list() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let list = format!("{}/uws/diag", app.base);
    for how in ["DELETE", "ACTION"] {
        let url = app.create_job(&alice, "diag", &[("duration", "60"), ("PHASE", "RUN")]).await;
        let response = match how {
            "DELETE" => app.delete(&alice, &url).send().await.unwrap(),
            _ => app.post(&alice, &url, &[("ACTION", "DELETE")]).send().await.unwrap(),
        };
        assert_eq!(response.status(), 303, "{how}");
        assert_eq!(location(&response), list);
        assert_eq!(app.get(&alice, &url).send().await.unwrap().status(), 404);
        let id = url.rsplit('/').next().unwrap();
        // A claim racing the DELETE may have written the job's snapshot just after the folder
        // was removed; it sees its lease gone and removes that folder too: nothing may stay.
        let dir = app.data_dir.path().join("storage/jobs").join(id);
        let what = || format!("{how}: {:?} left", walk(&dir));
        eventually(Duration::from_secs(5), Duration::from_millis(20), what, || async { walk(&dir).is_empty() }).await;
        assert!(!app.get(&alice, "/uws/diag").send().await.unwrap().text().await.unwrap().contains(id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_list_filters_by_phase_after_and_last() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let pending = app.create_job(&alice, "diag", &[]).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let completed = app.create_job(&alice, "diag", &[]).await;
    app.run_to_end(&alice, &completed).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let failed = app.create_job(&alice, "diag", &[("fail", "1")]).await;
    app.run_to_end(&alice, &failed).await;
    let id = |url: &str| url.rsplit('/').next().unwrap().to_string();
    let ids = |doc: &str| doc.split("<uws:jobref id=\"").skip(1).map(|s| s[..12].to_string()).collect::<Vec<_>>();

    let list = |query: &'static str| {
        let app = &app;
        let alice = alice.clone();
        async move { app.get(&alice, &format!("/uws/diag{query}")).send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(ids(&list("").await), vec![id(&failed), id(&completed), id(&pending)]);
    assert_eq!(ids(&list("/").await).len(), 3, "trailing slash serves the same list");
    assert_eq!(ids(&list("?PHASE=PENDING").await), vec![id(&pending)]);
    assert_eq!(ids(&list("?PHASE=PENDING&PHASE=ERROR").await), vec![id(&failed), id(&pending)]);
    assert_eq!(ids(&list("?LAST=1").await), vec![id(&failed)]);
    assert_eq!(ids(&list("?PHASE=COMPLETED&LAST=5").await), vec![id(&completed)]);
    let created = element(&app.job(&alice, &pending, None).await, "creationTime").unwrap();
    let after = app.get(&alice, "/uws/diag").query(&[("AFTER", &created)]).send().await.unwrap().text().await.unwrap();
    assert_eq!(ids(&after), vec![id(&failed), id(&completed)]);
    assert!(ids(&list("?PHASE=ARCHIVED").await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_change_while_pending_and_not_after() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("output", "first")]).await;
    let response = app.post(&alice, &format!("{url}/parameters"), &[("OUTPUT", "second")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    // Posting a parameter to the job URL also updates it (UWS 2.1.11 good practice).
    app.post(&alice, &url, &[("duration", "0.2")]).send().await.unwrap();
    let doc = app.run_to_end(&alice, &url).await;
    assert!(doc.contains(r#"<uws:parameter id="duration">0.2</uws:parameter>"#), "{doc}");
    assert_eq!(
        app.get(&alice, &format!("{url}/results/diag.txt")).send().await.unwrap().text().await.unwrap(),
        "second"
    );
    let response = app.post(&alice, &format!("{url}/parameters"), &[("output", "third")]).send().await.unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_queue_does_not_starve_another_users_job() {
    let app = spawn_app_with(|s| s.executors.local_workers = Some(2)).await;
    let alice = app.add_user("alice").await;
    let bob = app.add_user("bob").await;
    // Alice fills both slots and queues two more; then Bob queues one short job. The jobs are
    // created first and only then queued, so that a slow creation (a loaded machine) cannot let
    // Alice's first jobs finish before Bob's is in the queue.
    let mut alices = Vec::new();
    for _ in 0..4 {
        alices.push(app.create_job(&alice, "diag", &[("duration", "2")]).await);
    }
    let bobs = app.create_job(&bob, "diag", &[]).await;
    for url in &alices {
        app.run(&alice, url).await;
    }
    app.run(&bob, &bobs).await;
    for url in alices.iter().chain([&bobs]) {
        let user = if url == &bobs { &bob } else { &alice };
        assert_eq!(phase(&app.wait_until_not(user, url, &["QUEUED", "EXECUTING"]).await), "COMPLETED");
    }
    // In queue order Bob's job would start after Alice's fourth; by fair share it takes the
    // first slot that frees, as Alice already holds the other.
    let started = |doc: String| element(&doc, "startTime").unwrap();
    let bob_start = started(app.job(&bob, &bobs, None).await);
    let alice_last = started(app.job(&alice, &alices[3], None).await);
    assert!(bob_start <= alice_last, "bob started {bob_start}, alice's fourth {alice_last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_job_shows_no_stale_progress() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("duration", "1.5"), ("PHASE", "RUN")]).await;
    assert_eq!(phase(&app.wait_until_not(&alice, &url, &["QUEUED"]).await), "EXECUTING");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut doc = app.job(&alice, &url, None).await;
    while phase(&doc) == "EXECUTING" && !doc.contains("<vocloud:progress") {
        assert!(Instant::now() < deadline, "no progress while running: {doc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        doc = app.job(&alice, &url, None).await;
    }
    assert!(phase(&doc) != "EXECUTING" || doc.contains(">sleeping</vocloud:progress>"), "{doc}");
    let doc = app.wait_until_not(&alice, &url, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "COMPLETED");
    assert!(!doc.contains("<vocloud:progress"), "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_echoed_as_posted_and_defaults_are_marked() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("duration", "4"), ("output", " spaced ")]).await;
    let doc = app.get(&alice, &format!("{url}/parameters")).send().await.unwrap().text().await.unwrap();
    assert!(doc.contains(r#"<uws:parameter id="duration">4</uws:parameter>"#), "{doc}");
    assert!(doc.contains(r#"<uws:parameter id="output"> spaced </uws:parameter>"#), "{doc}");
    assert!(doc.contains(r#"<uws:parameter id="fail" isPost="false">false</uws:parameter>"#), "{doc}");
    let one = app.get(&alice, &format!("{url}/parameters/duration")).send().await.unwrap().text().await.unwrap();
    assert_eq!(one, "4");
    // An update keeps what was posted before and echoes the new value as posted too.
    app.post(&alice, &format!("{url}/parameters"), &[("fail", "yes")]).send().await.unwrap();
    let doc = app.get(&alice, &format!("{url}/parameters")).send().await.unwrap().text().await.unwrap();
    assert!(doc.contains(r#"<uws:parameter id="fail">yes</uws:parameter>"#), "{doc}");
    assert!(doc.contains(r#"<uws:parameter id="duration">4</uws:parameter>"#), "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_job_makes_no_folder_until_it_runs() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[("output", "x")]).await;
    let id = url.rsplit('/').next().unwrap().to_string();
    let job_dir = app.data_dir.path().join("storage/jobs").join(&id);
    assert!(!job_dir.exists(), "a PENDING job has no folder");
    assert_eq!(phase(&app.run_to_end(&alice, &url).await), "COMPLETED");
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(job_dir.join("params.json")).unwrap()).unwrap();
    assert_eq!(snapshot["parameters"]["output"], "x");
    assert_eq!(snapshot["owner"], "alice");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return if dir.exists() { vec![dir.into()] } else { vec![] } };
    let mut out = vec![dir.to_path_buf()];
    for e in entries.flatten() {
        out.extend(walk(&e.path()));
    }
    out
}
