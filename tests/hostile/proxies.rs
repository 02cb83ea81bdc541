//! Forged forwarding headers: a client choosing the host of the URLs we hand out.

use crate::helpers::{TestApp, User, location, spawn_app, spawn_app_with};
use crate::still_serving;

const FORGED: [(&str, &str); 3] = [
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Proto", "https"),
    ("Forwarded", "host=evil.example;proto=https"),
];

async fn urls(app: &TestApp, user: &User) -> (String, String) {
    let mut create = app.post(user, "/uws/diag", &[("duration", "0")]);
    let mut link = app.post(user, "/api/links", &[("path", "a.txt")]);
    for (k, v) in FORGED {
        create = create.header(k, v);
        link = link.header(k, v);
    }
    let job = location(&create.send().await.unwrap());
    let link: serde_json::Value = link.send().await.unwrap().json().await.unwrap();
    (job, link["url"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_from_a_client_do_not_choose_our_urls() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "a.txt", b"a".to_vec()).await;
    let (job, link) = urls(&app, &alice).await;
    assert!(job.starts_with(&format!("{}/uws/diag/", app.base)), "{job}");
    assert!(link.starts_with(&format!("{}/shared/", app.base)), "{link}");
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_from_a_trusted_proxy_are_believed() {
    let app = spawn_app_with(|s| s.http.trusted_proxies = vec!["127.0.0.0/8".into()]).await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "a.txt", b"a".to_vec()).await;
    let (job, link) = urls(&app, &alice).await;
    assert!(job.starts_with("https://evil.example/uws/diag/"), "{job}");
    assert!(link.starts_with("https://evil.example/shared/"), "{link}");
    still_serving(&app).await;
}
