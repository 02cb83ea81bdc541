//! Every UWS document the service writes validates against the UWS 1.1 schema (xmllint).

use std::path::Path;
use std::process::Command;

use crate::helpers::{spawn_app, spawn_app_with};

fn schema() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/uws/UWS-v1.1-local.xsd")
}

/// Validates `doc` with xmllint against the UWS 1.1 XSD; panics with xmllint's complaint.
fn assert_valid(name: &str, doc: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.xml"));
    std::fs::write(&file, doc).unwrap();
    let output = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(schema())
        .arg(&file)
        .output()
        .expect("xmllint (Debian package libxml2-utils) must be installed: run ./x setup --test");
    assert!(output.status.success(), "{name} does not validate:\n{}\n{doc}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_uws_document_validates_against_the_uws_1_1_schema() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let pending =
        app.create_job(&alice, "diag", &[("output", "<&\"'>"), ("RUNID", "a&b"), ("EXPERIMENT", "x<y")]).await;
    let completed = app.create_job(&alice, "diag", &[]).await;
    app.run_to_end(&alice, &completed).await;
    let failed = app.create_job(&alice, "diag", &[("fail", "true")]).await;
    app.run_to_end(&alice, &failed).await;
    let overrun = app.create_job(&alice, "diag", &[("duration", "30"), ("EXECUTIONDURATION", "1")]).await;
    app.run_to_end(&alice, &overrun).await;

    let mut documents = vec![
        ("job-list".to_string(), "/uws/diag".to_string()),
        ("job-list-filtered".into(), "/uws/diag?PHASE=ERROR&LAST=2".into()),
        ("empty-list".into(), "/uws/diag?PHASE=HELD".into()),
    ];
    for (name, url) in [("pending", &pending), ("completed", &completed), ("error", &failed), ("aborted", &overrun)] {
        documents.push((format!("job-{name}"), url.clone()));
        documents.push((format!("results-{name}"), format!("{url}/results")));
        documents.push((format!("parameters-{name}"), format!("{url}/parameters")));
    }
    for (name, url) in documents {
        let response = app.get(&alice, &url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/xml"));
        assert_valid(&name, &response.text().await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_validator_really_rejects_a_broken_document() {
    // Guards the test above: an element out of schema order must fail validation.
    let app = spawn_app_with(|_| {}).await;
    let alice = app.add_user("alice").await;
    let url = app.create_job(&alice, "diag", &[]).await;
    let doc = app.get(&alice, &url).send().await.unwrap().text().await.unwrap();
    let broken = doc
        .replace("<uws:phase>PENDING</uws:phase>", "")
        .replace("</uws:jobId>", "</uws:jobId><uws:phase>PENDING</uws:phase><uws:phase>PENDING</uws:phase>");
    let result = std::panic::catch_unwind(|| assert_valid("broken", &broken));
    assert!(result.is_err(), "a job with two phases validated");
}
