//! Short-lived signed links (`POST /api/links`, `GET /shared/…`): fetchable without credentials,
//! for exactly one file, until they expire; tampering is refused.

use serde_json::Value as Json;

use crate::helpers::{User, spawn_app};

async fn link(app: &crate::helpers::TestApp, user: &User, form: &[(&str, &str)]) -> reqwest::Response {
    app.post(user, "/api/links", form).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_links_serve_one_file_without_credentials_until_they_expire() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let bob = app.add_user("bob").await;
    for (path, body) in [("results/my table.vot", "<VOTABLE/>"), ("results/other.vot", "secret")] {
        let r = app
            .client
            .put(app.url(&format!("/api/files/{path}")))
            .basic_auth("alice", Some("alice-password"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let response = link(&app, &alice, &[("path", "results/my table.vot")]).await;
    assert_eq!(response.status(), 200);
    let answer: Json = response.json().await.unwrap();
    let url = answer["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("{}/shared/", app.base)) && url.ends_with("/u/alice/results/my%20table.vot"),
        "{url}"
    );
    assert!(answer["expires"].as_str().is_some());

    // No credentials needed, and a desktop tool gets the bytes.
    let plain = reqwest::Client::new();
    let got = plain.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.text().await.unwrap(), "<VOTABLE/>");

    // The link cannot be pointed at another file, user or expiry.
    for forged in [
        url.replace("my%20table.vot", "other.vot"),
        url.replace("/u/alice/", "/u/bob/"),
        url.replace("/shared/", "/shared/9").to_string(),
    ] {
        assert_eq!(plain.get(&forged).send().await.unwrap().status(), 403, "{forged}");
    }
    assert_eq!(plain.get(format!("{}/shared/garbage", app.base)).send().await.unwrap().status(), 404);

    // Expiry.
    let short: Json = link(&app, &alice, &[("path", "results/other.vot"), ("ttl", "1")]).await.json().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = plain.get(short["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(expired.status(), 403);
    assert!(expired.text().await.unwrap().contains("expired"));

    // Job results: only the owner may link them.
    let job = app.create_job(&alice, "diag", &[("output", "result text")]).await;
    assert!(app.run_to_end(&alice, &job).await.contains("COMPLETED"));
    let id = job.rsplit('/').next().unwrap();
    let r: Json = link(&app, &alice, &[("job", id), ("result", "diag.txt")]).await.json().await.unwrap();
    assert_eq!(plain.get(r["url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap(), "result text");
    assert_eq!(link(&app, &bob, &[("job", id), ("result", "diag.txt")]).await.status(), 404);

    // Bad requests.
    assert_eq!(link(&app, &alice, &[("path", "../bob/x")]).await.status(), 400);
    assert_eq!(link(&app, &alice, &[("path", "results/none.vot")]).await.status(), 404);
    assert_eq!(link(&app, &alice, &[("path", "results")]).await.status(), 404, "folders are not linked");
    assert_eq!(link(&app, &alice, &[("path", "results/other.vot"), ("ttl", "0")]).await.status(), 400);
    assert_eq!(link(&app, &alice, &[]).await.status(), 400);
    assert_eq!(
        plain.post(app.url("/api/links")).form(&[("path", "results/other.vot")]).send().await.unwrap().status(),
        401
    );
}
