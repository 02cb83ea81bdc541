//! The files API: stage inputs, list, download, move, delete — inside one's own storage only.

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_list_download_move_and_delete() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let put = |path: &str, body: &'static str| {
        app.client
            .put(app.url(&format!("/api/files/{path}")))
            .basic_auth("alice", Some("alice-password"))
            .body(body)
            .send()
    };
    let response = put("spectra/a.csv", "1,2\n").await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(put("spectra/a.csv", "3,4\n").await.unwrap().status(), 200, "replacing answers 200");
    assert_eq!(app.get(&alice, "/api/files/spectra/a.csv").send().await.unwrap().text().await.unwrap(), "3,4\n");

    let listing: serde_json::Value = app.get(&alice, "/api/files/spectra").send().await.unwrap().json().await.unwrap();
    assert_eq!(listing["entries"][0]["name"], "a.csv");
    assert_eq!(listing["entries"][0]["size"], 4);
    assert_eq!(listing["entries"].as_array().unwrap().len(), 1, "no temp files visible");

    let response = app.post(&alice, "/api/files/archive/2026", &[("op", "mkdir")]).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let response = app
        .post(&alice, "/api/files/spectra/a.csv", &[("op", "move"), ("to", "archive/2026/a.csv")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.get(&alice, "/api/files/spectra/a.csv").send().await.unwrap().status(), 404);
    assert_eq!(app.get(&alice, "/api/files/archive/2026/a.csv").send().await.unwrap().status(), 200);

    assert_eq!(app.delete(&alice, "/api/files/archive").send().await.unwrap().status(), 204);
    assert_eq!(app.get(&alice, "/api/files/archive/2026/a.csv").send().await.unwrap().status(), 404);
    assert_eq!(app.delete(&alice, "/api/files/archive").send().await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_cannot_leave_the_users_storage_and_users_do_not_see_each_other() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let bob = app.add_user("bob").await;
    app.client
        .put(app.url("/api/files/secret.txt"))
        .basic_auth("alice", Some("alice-password"))
        .body("alice's")
        .send()
        .await
        .unwrap();
    assert_eq!(app.get(&bob, "/api/files/secret.txt").send().await.unwrap().status(), 404);
    for path in [
        "/api/files/%2e%2e/alice/secret.txt",
        "/api/files/..%2falice%2fsecret.txt",
        "/api/files/.hidden",
        "/api/files/a/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let response = app.get(&bob, path).send().await.unwrap();
        assert!(response.status() == 400 || response.status() == 404, "{path}: {}", response.status());
        assert!(!response.text().await.unwrap().contains("alice's"), "{path}");
    }
    let response = app.post(&bob, "/api/files/x", &[("op", "move"), ("to", "../alice/x")]).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(app.delete(&bob, "/api/files/").send().await.unwrap().status(), 400);
    assert_eq!(app.get(&alice, "/api/files/secret.txt").send().await.unwrap().text().await.unwrap(), "alice's");
    let _ = alice;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_uploads_are_refused_and_leave_nothing_behind() {
    let app = spawn_app_with(|s| s.limits.max_upload_bytes = 1000).await;
    let alice = app.add_user("alice").await;
    let response = app
        .client
        .put(app.url("/api/files/big.bin"))
        .basic_auth("alice", Some("alice-password"))
        .body(vec![0u8; 5000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let listing: serde_json::Value = app.get(&alice, "/api/files/").send().await.unwrap().json().await.unwrap();
    assert_eq!(listing["entries"].as_array().unwrap().len(), 0);
    let user_dir = app.data_dir.path().join("storage/users/alice");
    assert_eq!(std::fs::read_dir(user_dir).unwrap().count(), 0, "no partial upload left");
    let response = app.post(&alice, "/api/files/x", &[("op", "shred")]).send().await.unwrap();
    assert_eq!(response.status(), 400);
}
