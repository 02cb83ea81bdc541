//! The per-user storage quota over HTTP: `GET /api/quota`, uploads refused past it (declared and
//! streamed), job results counted, and an import that stops at the quota and says so.

use std::io::{Read, Write};

use base64::Engine as _;
use serde_json::Value as Json;
use vocloud_workers::votable::{Datatype, Field, Table, Value};

use crate::archive::Archive;
use crate::helpers::{TestApp, User, element, phase, spawn_app_with};

const QUOTA: u64 = 10_000;

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.limits.user_quota_bytes = QUOTA;
        s.import.allow_private_addresses = true;
    })
    .await
}

async fn usage(app: &TestApp, user: &User) -> Json {
    let response = app.get(user, "/api/quota").send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn put(app: &TestApp, user: &User, path: &str, size: usize) -> (u16, String) {
    let response = app
        .client
        .put(app.url(&format!("/api/files/{path}")))
        .basic_auth(&user.name, Some(&user.password))
        .body(vec![b'y'; size])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// An upload without Content-Length (chunked), so the server only learns the size while reading.
fn put_chunked(base: &str, user: &User, path: &str, size: usize) -> String {
    let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user.name, user.password));
    write!(
        stream,
        "PUT /api/files/{path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    for _ in 0..size / 1000 {
        // The server may answer and close before the whole body is sent.
        if write!(stream, "3e8\r\n{}\r\n", "z".repeat(1000)).is_err() {
            break;
        }
    }
    let _ = write!(stream, "0\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// The bytes of the files below `dir`.
fn bytes_below(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let meta = e.metadata().unwrap();
            if meta.is_dir() { bytes_below(&e.path()) } else { meta.len() }
        })
        .sum()
}

fn hidden_files(app: &TestApp, user: &User) -> Vec<String> {
    let dir = app.data_dir.path().join("storage/users").join(&user.name);
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_past_the_quota_are_refused_and_usage_counts_files_and_job_results() {
    let app = app().await;
    let alice = app.add_user("alice").await;
    let u = usage(&app, &alice).await;
    assert_eq!(
        (u["used"].as_u64(), u["quota"].as_u64(), u["over_quota"].as_bool()),
        (Some(0), Some(QUOTA), Some(false))
    );

    assert_eq!(put(&app, &alice, "a.bin", 6000).await.0, 201);
    let u = usage(&app, &alice).await;
    assert_eq!((u["used"].as_u64(), u["available"].as_u64()), (Some(6000), Some(4000)), "{u}");

    // Declared too large: refused before reading, with the numbers.
    let (status, text) = put(&app, &alice, "b.bin", 5000).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("quota") && text.contains("6000") && text.contains("10000"), "{text}");
    // Streamed too large: refused while reading, the partial file removed.
    let answer = tokio::task::spawn_blocking({
        let (app_base, alice) = (app.base.clone(), alice.clone());
        move || put_chunked(&app_base, &alice, "c.bin", 8000)
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("storage quota exceeded"), "{answer}");
    for name in ["b.bin", "c.bin"] {
        assert_eq!(app.get(&alice, &format!("/api/files/{name}")).send().await.unwrap().status(), 404);
    }
    assert!(hidden_files(&app, &alice).is_empty(), "partial uploads left: {:?}", hidden_files(&app, &alice));
    assert_eq!(usage(&app, &alice).await["used"], 6000);

    // Replacing a file frees its bytes: 9000 in place of 6000 fits in 10000.
    assert_eq!(put(&app, &alice, "a.bin", 9000).await.0, 200);
    assert_eq!(usage(&app, &alice).await["used"], 9000);
    let response = app.delete(&alice, "/api/files/a.bin").send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(usage(&app, &alice).await["used"], 0);

    // Job folders count: parameters and results (diag writes `output` to diag.txt).
    let output = "r".repeat(4000);
    let job = app.create_job(&alice, "diag", &[("output", &output)]).await;
    assert_eq!(phase(&app.run_to_end(&alice, &job).await), "COMPLETED");
    let used = usage(&app, &alice).await["used"].as_u64().unwrap();
    assert!((8000..9000).contains(&used), "params.json and diag.txt both hold the output: {used}");
    // Exactly what is on disk: the cached total (looked at before the job ran) took the finished
    // job's folder in without walking the rest again.
    let storage = app.data_dir.path().join("storage");
    let id = job.rsplit('/').next().unwrap();
    let on_disk = bytes_below(&storage.join("users/alice")) + bytes_below(&storage.join("jobs").join(id));
    assert_eq!(used, on_disk);
    let (status, text) = put(&app, &alice, "d.bin", 3000).await;
    assert_eq!(status, 413, "job results count against the quota: {text}");
    // Destroying the job gives the space back.
    assert_eq!(app.delete(&alice, &job).send().await.unwrap().status(), 303);
    assert_eq!(usage(&app, &alice).await["used"], 0);
    assert_eq!(put(&app, &alice, "d.bin", 3000).await.0, 201);

    // Other users have their own quota.
    let bob = app.add_user("bob").await;
    assert_eq!(usage(&app, &bob).await["used"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_stops_at_the_quota_keeps_what_it_fetched_and_reports_the_rest() {
    let archive = Archive::start();
    let app = app().await;
    let carol = app.add_user("carol").await;
    // 3000 bytes each: two fit beside the list and the job's parameters, the third does not.
    // The third has no Content-Length, so it is cut off while streaming.
    let urls = [
        format!("{}/blob/1.fits?size=3000", archive.base),
        format!("{}/blob/2.fits?size=3000", archive.base),
        format!("{}/blob/3.fits?size=3000&nolength", archive.base),
        format!("{}/blob/4.fits?size=3000", archive.base),
        format!("{}/blob/5.fits?size=10", archive.base),
    ];
    let mut list = Table::new("list", vec![Field::new("url", Datatype::Char), Field::new("name", Datatype::Char)]);
    for (i, url) in urls.iter().enumerate() {
        list.push(vec![Value::Text(url.clone()), Value::Text(format!("{}.fits", i + 1))]);
    }
    app.upload(&carol, "list.vot", list.to_bytes()).await;
    let form =
        [("votable", "list.vot"), ("column", "url"), ("name_column", "name"), ("folder", "in"), ("concurrency", "1")];
    let job = app.create_job(&carol, "import", &form).await;
    let doc = app.run_to_end(&carol, &job).await;
    assert_eq!(phase(&doc), "ERROR", "{doc}");
    let message = element(&doc, "message").unwrap();
    assert!(
        message.contains("storage quota reached")
            && message.contains("2 downloaded")
            && message.contains("3 skipped")
            && message.contains("10000 byte storage quota"),
        "{message}"
    );

    let report: Json =
        app.get(&carol, &format!("{job}/results/report.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!((report["downloaded"].as_u64(), report["skipped_quota"].as_u64()), (Some(2), Some(3)), "{report:#}");
    let status: Vec<&str> = report["files"].as_array().unwrap().iter().map(|f| f["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["downloaded", "downloaded", "skipped_quota", "skipped_quota", "skipped_quota"]);
    assert!(report["files"][2]["error"].as_str().unwrap().contains("quota"), "{report:#}");
    // The import stopped: nothing after the file that did not fit was requested.
    assert_eq!(archive.count("/blob/4.fits?size=3000") + archive.count("/blob/5.fits?size=10"), 0);
    for (name, present) in [("1.fits", true), ("2.fits", true), ("3.fits", false), ("4.fits", false)] {
        let status = app.get(&carol, &format!("/api/files/in/{name}")).send().await.unwrap().status();
        assert_eq!(status == 200, present, "{name}: {status}");
    }
    let listing = std::fs::read_dir(app.data_dir.path().join("storage/users/carol/in")).unwrap().count();
    assert_eq!(listing, 2, "no partial file left");
    // Downloads stayed within the quota; the job's own small reports, written at the end, may
    // pass it (a job is not stopped for its results; see jobs::quota).
    let mut reports = 0;
    for name in ["report.json", "report.vot"] {
        reports += app.get(&carol, &format!("{job}/results/{name}")).send().await.unwrap().bytes().await.unwrap().len();
    }
    let used = usage(&app, &carol).await["used"].as_u64().unwrap();
    assert!(used > 6000 && used - reports as u64 <= QUOTA, "used {used}, reports {reports}");

    // Now over the quota (by the reports): no new job, and no upload, until space is freed.
    assert!(used >= QUOTA, "the reports were expected to pass the quota: {used}");
    {
        let refused = app.post(&carol, "/uws/import", &form).send().await.unwrap();
        assert_eq!(refused.status(), 403);
        assert!(refused.text().await.unwrap().contains("storage quota"));
        assert_eq!(archive.count("/blob/4.fits?size=3000"), 0);
        assert_eq!(put(&app, &carol, "more.bin", 1).await.0, 413);
    }
}
