//! Checking VOTables the server hands out with the reference validator, STILTS `votlint`
//! (Debian package `stilts`, installed by `./x setup --test`).

use std::path::Path;
use std::process::Command;

/// Everything votlint printed about `path` (empty means valid).
pub fn votlint(path: &Path) -> String {
    let out = Command::new("stilts")
        .args(["votlint", &format!("votable={}", path.display()), "validate=true"])
        .output()
        .expect("running stilts (Debian package `stilts`; ./x setup --test installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    text.trim().to_string()
}

/// astropy's reading of a VOTable, as JSON (workers/tests/votable_dump.py).
pub fn astropy(path: &Path) -> serde_json::Value {
    let python = std::env::var("VOCLOUD_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/workers/tests/votable_dump.py");
    let out = Command::new(python).arg(script).arg(path).output().expect("running python with astropy");
    assert!(out.status.success(), "astropy: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON from votable_dump.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_listings_as_votable_pass_votlint_and_astropy() {
    let app = crate::helpers::spawn_app().await;
    let alice = app.add_user("alice").await;
    for (path, body) in [("spectra/a b.fits", "12345"), ("spectra/x<&>.vot", "1"), ("spectra/sub/c.fits", "")] {
        let url = app.url(&format!("/api/files/{path}"));
        let r = app.client.put(url).basic_auth("alice", Some(&alice.password)).body(body).send().await.unwrap();
        assert!(r.status().is_success());
    }
    let response = app.get(&alice, "/api/files/spectra?format=votable").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-votable+xml");
    let bytes = response.bytes().await.unwrap();
    let path = app.data_dir.path().join("listing.vot");
    std::fs::write(&path, &bytes).unwrap();
    let lint = votlint(&path);
    assert!(lint.is_empty(), "votlint: {lint}");
    let dump = astropy(&path);
    let rows = dump["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(names, ["a b.fits", "sub", "x<&>.vot"]);
    assert_eq!(rows[0][2], 5);
    assert_eq!(rows[1][1], "folder");
    assert!(rows[1][2].is_null(), "a folder has no size");
    assert_eq!(dump["fields"][2]["unit"], "byte");
}
