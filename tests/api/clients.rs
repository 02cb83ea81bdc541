//! Real VO clients against the real server: pyvo's job object and UWS parsers.

use std::process::Command;

use crate::helpers::spawn_app;

fn python() -> String {
    std::env::var("VOCLOUD_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyvo_runs_waits_fetches_aborts_and_deletes_jobs() {
    let app = spawn_app().await;
    app.add_user("carol").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/pyvo_uws.py");
    let base = app.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .args([script, &base, "carol", "carol-password"])
            .output()
            .expect("running python (set VOCLOUD_TEST_PYTHON, or run ./x test which installs pyvo)")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "pyvo check failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("all checks passed"));
}
