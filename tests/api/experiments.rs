//! Experiments: named groups of a user's jobs, created on first use by the EXPERIMENT parameter.

use crate::helpers::{phase, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_join_experiments_and_the_api_lists_them() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let bob = app.add_user("bob").await;
    let url = app.create_job(&alice, "diag", &[("EXPERIMENT", "halpha survey")]).await;
    let id = url.rsplit('/').next().unwrap().to_string();
    app.create_job(&alice, "diag", &[]).await;

    let list: serde_json::Value = app.get(&alice, "/api/experiments").send().await.unwrap().json().await.unwrap();
    assert_eq!(list["experiments"][0]["name"], "halpha survey");
    assert_eq!(list["experiments"][0]["jobs"], 1);
    let bobs: serde_json::Value = app.get(&bob, "/api/experiments").send().await.unwrap().json().await.unwrap();
    assert!(bobs["experiments"].as_array().unwrap().is_empty());
    assert_eq!(app.get(&bob, "/api/experiments/halpha%20survey").send().await.unwrap().status(), 404);

    let one: serde_json::Value =
        app.get(&alice, "/api/experiments/halpha%20survey").send().await.unwrap().json().await.unwrap();
    assert_eq!(one["job_list"][0]["id"], id);
    assert_eq!(one["job_list"][0]["url"], url);

    let response = app
        .client
        .patch(app.url(&format!("/api/jobs/{id}")))
        .basic_auth("alice", Some("alice-password"))
        .json(&serde_json::json!({ "label": "first try", "notes": "6250-6770 A" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc = app.job(&alice, &url, None).await;
    assert!(doc.contains("<vocloud:experiment>halpha survey</vocloud:experiment>"), "{doc}");
    assert!(doc.contains("<vocloud:label>first try</vocloud:label>"), "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiments_are_created_described_and_deleted_without_losing_running_jobs() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let create = |name: &str| {
        app.client
            .post(app.url("/api/experiments"))
            .basic_auth("alice", Some("alice-password"))
            .json(&serde_json::json!({ "name": name, "description": "SOM of LAMOST spectra" }))
            .send()
    };
    assert_eq!(create("som-1").await.unwrap().status(), 201);
    assert_eq!(create("som-1").await.unwrap().status(), 409);
    assert_eq!(create("").await.unwrap().status(), 400);
    let response = app
        .client
        .patch(app.url("/api/experiments/som-1"))
        .basic_auth("alice", Some("alice-password"))
        .json(&serde_json::json!({ "description": "updated" }))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["description"], "updated");

    let running =
        app.create_job(&alice, "diag", &[("EXPERIMENT", "som-1"), ("duration", "60"), ("PHASE", "RUN")]).await;
    let response = app.delete(&alice, "/api/experiments/som-1?delete_jobs=true").send().await.unwrap();
    assert_eq!(response.status(), 409, "refuses to destroy running jobs");
    assert!(response.text().await.unwrap().contains("1 queued or running"));
    assert_eq!(app.delete(&alice, "/api/experiments/som-1").send().await.unwrap().status(), 204);
    assert_ne!(phase(&app.job(&alice, &running, None).await), "ABORTED", "the job kept running");
    app.post(&alice, &format!("{running}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
    assert_eq!(app.get(&alice, "/api/experiments/som-1").send().await.unwrap().status(), 404);

    let finished = app.create_job(&alice, "diag", &[("EXPERIMENT", "som-2")]).await;
    let response = app.delete(&alice, "/api/experiments/som-2?delete_jobs=true").send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(app.get(&alice, &finished).send().await.unwrap().status(), 404, "delete_jobs destroyed the idle job");
}
