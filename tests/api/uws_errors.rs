//! Bad input gets a precise 4xx and changes nothing; other users' jobs do not exist for you.

use crate::helpers::{admin, phase, spawn_app, spawn_app_with};

/// A request path, its form, and what the 400 message must say.
type Case = (String, Vec<(&'static str, &'static str)>, &'static str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_with_a_message_naming_the_problem() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[]).await;
    let cases: Vec<Case> = vec![
        ("/uws/diag".into(), vec![("bogus", "1")], "unknown parameter 'bogus'"),
        ("/uws/diag".into(), vec![("duration", "-1")], "parameter 'duration': must be at least 0"),
        ("/uws/diag".into(), vec![("duration", "soon")], "parameter 'duration': expected a number"),
        ("/uws/diag".into(), vec![("fail", "maybe")], "parameter 'fail': expected true or false"),
        ("/uws/diag".into(), vec![("PHASE", "ABORT")], "PHASE at job creation must be RUN"),
        ("/uws/diag".into(), vec![("EXECUTIONDURATION", "-5")], "EXECUTIONDURATION must be a non-negative integer"),
        ("/uws/diag".into(), vec![("EXECUTIONDURATION", "1.5x")], "EXECUTIONDURATION must be"),
        ("/uws/diag".into(), vec![("DESTRUCTION", "next tuesday")], "DESTRUCTION must be an ISO 8601 instant"),
        ("/uws/diag".into(), vec![("EXPERIMENT", "")], "EXPERIMENT must be 1 to 100 characters"),
        (format!("{url}/phase"), vec![("PHASE", "BOGUS")], "PHASE must be RUN or ABORT"),
        (format!("{url}/phase"), vec![("PHASE", "run")], "PHASE must be RUN or ABORT"),
        (format!("{url}/phase"), vec![], "PHASE=RUN or PHASE=ABORT is required"),
        (format!("{url}/executionduration"), vec![("EXECUTIONDURATION", "ten")], "EXECUTIONDURATION must be"),
        (format!("{url}/destruction"), vec![("DESTRUCTION", "2020-13-45")], "DESTRUCTION must be"),
        (url.clone(), vec![("ACTION", "EXPLODE")], "ACTION must be DELETE"),
        (url.clone(), vec![("duration", "-3")], "parameter 'duration'"),
    ];
    for (path, form, expected) in cases {
        let response = app.post(&alice, &path, &form).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path} {form:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains(expected), "{path} {form:?}: '{body}' lacks '{expected}'");
    }
    for query in ["?WAIT=abc", "?WAIT=-7", "?WAIT=5&PHASE=RUNNING"] {
        let response = app.get(&alice, &format!("{url}{query}")).send().await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
    }
    for query in ["?LAST=0", "?LAST=x", "?PHASE=DONE", "?AFTER=yesterday"] {
        let response = app.get(&alice, &format!("/uws/diag{query}")).send().await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
    }
    // Nothing above created a job or changed the one we have.
    let list = app.get(&alice, "/uws/diag").send().await.unwrap().text().await.unwrap();
    assert_eq!(list.matches("<uws:jobref").count(), 1);
    assert_eq!(phase(&app.job(&alice, &url, None).await), "PENDING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_things_are_404_and_oversized_or_multipart_bodies_are_refused() {
    let app = spawn_app_with(|s| s.limits.max_form_bytes = 1024).await;
    let alice = app.add_user("alice").await;
    let response = app.get(&alice, "/uws/nosuchkind").send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("known: diag"));
    assert_eq!(app.get(&alice, "/uws/diag/0000000000zz").send().await.unwrap().status(), 404);
    assert_eq!(app.get(&alice, "/uws/diag/not-an-id").send().await.unwrap().status(), 404);

    let big = "x".repeat(4096);
    let response = app.post(&alice, "/uws/diag", &[("output", big.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 413);

    let response = app
        .client
        .post(app.url("/uws/diag"))
        .basic_auth("alice", Some("alice-password"))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"duration\"\r\n\r\n1\r\n--XYZ--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_and_wrong_credentials_get_401_with_a_basic_challenge() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let anonymous = app.client.get(app.url("/uws/diag")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    let wrong = app.client.get(app.url("/uws/diag")).basic_auth("alice", Some("nope")).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let garbage = app.client.get(app.url("/uws/diag")).header("authorization", "Basic %%%").send().await.unwrap();
    assert_eq!(garbage.status(), 401);
    let bad_token = app.client.get(app.url("/uws/diag")).bearer_auth("voc_nope").send().await.unwrap();
    assert_eq!(bad_token.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_work_on_uws_and_api() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let token = vocloud::auth::create_token(&app.db, "alice").await.unwrap();
    let response =
        app.client.post(app.url("/uws/diag")).bearer_auth(&token).form(&[("duration", "0")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let url = crate::helpers::location(&response);
    let doc = app.client.get(&url).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
    assert!(doc.contains("<uws:ownerId>alice</uws:ownerId>"));
    assert_eq!(app.client.get(app.url("/api/files/")).bearer_auth(&token).send().await.unwrap().status(), 200);
    assert_eq!(phase(&app.job(&alice, &url, None).await), "PENDING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_job_is_404_everywhere_and_admins_see_all() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let bob = app.add_user("bob").await;
    let url = app.create_job(&alice, "diag", &[("duration", "60")]).await;
    let id = url.rsplit('/').next().unwrap();

    for sub in [
        "",
        "/phase",
        "/parameters",
        "/results",
        "/owner",
        "/error",
        "/quote",
        "/destruction",
        "/executionduration",
        "/results/diag.txt",
    ] {
        let response = app.get(&bob, &format!("{url}{sub}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "GET {sub}");
    }
    for (sub, form) in [
        ("/phase", ("PHASE", "RUN")),
        ("", ("ACTION", "DELETE")),
        ("/destruction", ("DESTRUCTION", "2030-01-01T00:00:00Z")),
        ("/parameters", ("output", "x")),
    ] {
        let response = app.post(&bob, &format!("{url}{sub}"), &[form]).send().await.unwrap();
        assert_eq!(response.status(), 404, "POST {sub}");
    }
    assert_eq!(app.delete(&bob, &url).send().await.unwrap().status(), 404);
    assert!(!app.get(&bob, "/uws/diag").send().await.unwrap().text().await.unwrap().contains(id));

    assert_eq!(phase(&app.job(&alice, &url, None).await), "PENDING", "bob changed nothing");
    assert!(app.get(&admin(), "/uws/diag").send().await.unwrap().text().await.unwrap().contains(id));
    assert_eq!(app.get(&admin(), &url).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_phase_filters_are_a_400_not_a_500() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let flood = format!("/uws/diag?{}", vec!["PHASE=QUEUED"; 5000].join("&"));
    let response = app.get(&alice, &flood).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("PHASE is given 5000 times"));
    let repeated = format!("/uws/diag?{}", vec!["PHASE=PENDING"; 30].join("&"));
    assert_eq!(app.get(&alice, &repeated).send().await.unwrap().status(), 200, "repeats are merged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destruction_request_after_the_latest_allowed_time_is_clamped_not_a_crash() {
    let app = spawn_app_with(|s| {
        s.limits.default_destruction = 1;
        s.limits.max_destruction = 1;
        s.limits.reaper_interval_ms = 3_600_000;
    })
    .await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[]).await;
    // Creation + max_destruction (1 s) now lies in the past.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let response = app.post(&alice, &format!("{url}/destruction"), &[("DESTRUCTION", "2999-01-01T00:00:00Z")]);
    assert_eq!(response.send().await.unwrap().status(), 303);
    let doc = app.job(&alice, &url, None).await;
    let (created, destruction) =
        (crate::helpers::element(&doc, "creationTime").unwrap(), crate::helpers::element(&doc, "destruction").unwrap());
    let ms = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp_millis();
    assert_eq!(ms(&destruction) - ms(&created), 1000, "{created} {destruction}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_memory_estimate_exceeds_the_limit_is_refused_with_the_figures() {
    let app = spawn_app_with(|s| s.limits.max_job_memory_mb = Some(8192)).await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "tables/spectra.csv", b"name,6500,6501,6502\na,1,2,3\nb,2,3,4\n".to_vec()).await;
    let form = [("input", "tables/spectra.csv"), ("rows", "500"), ("cols", "500"), ("bins", "1000000")];
    let response = app.post(&alice, "/uws/som", &form).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(body.starts_with("som with rows=500 cols=500 bins=1000000"), "{body}");
    assert!(body.contains("needs about 3.6 TiB; the limit is 8 GiB"), "{body}");
    let small = [("input", "tables/spectra.csv"), ("rows", "4"), ("cols", "4")];
    assert_eq!(app.post(&alice, "/uws/som", &small).send().await.unwrap().status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_editing_a_users_job_is_checked_against_the_owners_storage() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "tables/a.csv", b"name,6500,6501,6502\na,1,2,3\nb,2,3,4\n".to_vec()).await;
    app.upload(&alice, "tables/b.csv", b"name,6500,6501,6502\na,1,2,3\nb,2,3,4\n".to_vec()).await;
    let url = app.create_job(&alice, "som", &[("input", "tables/a.csv"), ("rows", "2"), ("cols", "2")]).await;
    let response = app.post(&admin(), &format!("{url}/parameters"), &[("input", "tables/b.csv")]).send().await.unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let value = app.get(&alice, &format!("{url}/parameters/input")).send().await.unwrap().text().await.unwrap();
    assert_eq!(value, "tables/b.csv");
    let response = app.post(&admin(), &format!("{url}/parameters"), &[("input", "tables/c.csv")]).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("'tables/c.csv' does not exist in alice's storage"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_new_jobs_while_the_owner_is_over_quota() {
    let app = spawn_app_with(|s| s.limits.user_quota_bytes = 2000).await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "data.bin", vec![7u8; 1500]).await;
    let filler = "x".repeat(1000);
    let url = app.create_job(&alice, "diag", &[("output", filler.as_str()), ("PHASE", "RUN")]).await;
    assert_eq!(phase(&app.wait_until_not(&alice, &url, &["QUEUED", "EXECUTING"]).await), "COMPLETED");
    let response = app.post(&alice, "/uws/diag", &[]).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("byte storage quota"));
    app.delete(&alice, &url).send().await.unwrap();
    assert_eq!(app.post(&alice, "/uws/diag", &[]).send().await.unwrap().status(), 303, "space freed");
}
