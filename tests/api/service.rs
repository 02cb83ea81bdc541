//! Service-level endpoints: the kind catalogue, VOSI, health.

use crate::helpers::{admin, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uws_root_lists_kinds_with_their_parameters() {
    let app = spawn_app().await;
    let body: serde_json::Value = app.get(&admin(), "/uws").send().await.unwrap().json().await.unwrap();
    let diag = body["kinds"].as_array().unwrap().iter().find(|k| k["name"] == "diag").expect("diag listed");
    assert_eq!(diag["url"], format!("{}/uws/diag", app.base));
    let names: Vec<_> = diag["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["duration", "fail", "output", "crash"]);
    assert_eq!(diag["parameters"][0]["type"], "float");
    assert!(diag["parameters"][0]["description"].as_str().unwrap().contains("seconds"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vosi_and_health_answer_without_credentials() {
    let app = spawn_app().await;
    let availability = app.client.get(app.url("/vosi/availability")).send().await.unwrap();
    assert_eq!(availability.status(), 200);
    assert!(availability.text().await.unwrap().contains("<vosi:available>true</vosi:available>"));
    let capabilities = app.client.get(app.url("/vosi/capabilities")).send().await.unwrap().text().await.unwrap();
    assert!(capabilities.contains(r#"standardID="ivo://ivoa.net/std/UWS#rest-1.1""#));
    assert!(capabilities.contains(&format!("{}/uws/diag</accessURL>", app.base)));
    let health: serde_json::Value = app.client.get(app.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
}
