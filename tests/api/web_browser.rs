//! The web UI in a real headless Chromium (`tests/browser/web.cjs`: the user's story, axe-core on
//! every page, keyboard reachability, a second user locked out). Screenshots land in
//! `target/browser-shots/`.
//!
//! The service runs with one local slot, held by an admin's long `diag` job until the script
//! says `need-worker`: the script's som job is then certainly QUEUED when its page opens, and
//! the page must show it reach COMPLETED by itself.

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{admin, browser_script, phase, require_browser, spawn_app_with};

/// A folder of `n` 1-D FITS spectra (linear WCS) with an absorption line whose depth and width
/// vary, one of them named like markup.
fn write_spectra(dir: &Path, n: usize) {
    use fitsio::images::{ImageDescription, ImageType};
    std::fs::create_dir_all(dir).unwrap();
    for k in 0..n {
        let path = dir.join(format!("spec_{k:02}.fits"));
        let mut f = fitsio::FitsFile::create(&path).open().unwrap();
        let hdu = f.primary_hdu().unwrap();
        let len = 1500;
        let image =
            f.create_image("FLUX", &ImageDescription { data_type: ImageType::Float, dimensions: &[len] }).unwrap();
        image.write_key(&mut f, "CRVAL1", 4000.0).unwrap();
        image.write_key(&mut f, "CDELT1", 3.0).unwrap();
        hdu.write_key(&mut f, "OBJECT", format!("star <b>{k}</b>")).unwrap();
        let flux: Vec<f32> = (0..len)
            .map(|i| {
                let w = 4000.0 + 3.0 * i as f64;
                (1.0 - (0.3 + 0.04 * k as f64) * (-((w - 6563.0) / (10.0 + k as f64)).powi(2)).exp()) as f32
            })
            .collect();
        image.write_image(&mut f, &flux).unwrap();
        drop(f);
        // cfitsio reads brackets in a file name as a filter, so the name comes afterwards.
        if k == 3 {
            std::fs::rename(&path, dir.join("<img src=x onerror=alert(1)>.fits")).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_uploads_plots_runs_and_compares_soms_in_headless_chromium() {
    require_browser(&["playwright-core", "axe-core"]);
    let app = spawn_app_with(|s| s.executors.local_workers = Some(1)).await;
    let alice = app.add_user("alice").await;
    let bob = app.add_user("bob").await;
    let spectra = tempfile::tempdir().unwrap();
    let folder = spectra.path().join("spectra");
    write_spectra(&folder, 16);
    // Long enough for the script to reach its job page on a loaded machine; aborted below in
    // every case, as a running job would keep the test's runtime from shutting down.
    let blocker = app.create_job(&admin(), "diag", &[("duration", "600"), ("PHASE", "RUN")]).await;
    app.wait_until_not(&admin(), &blocker, &["PENDING", "QUEUED"]).await;
    let abort = async || {
        let response = app.post(&admin(), &format!("{blocker}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
        assert_eq!(response.status(), 303);
    };

    let mut node = browser_script("web.cjs")
        .env("WEB_URL", &app.base)
        .env("WEB_USER", &alice.name)
        .env("WEB_PASSWORD", &alice.password)
        .env("OTHER_USER", &bob.name)
        .env("OTHER_PASSWORD", &bob.password)
        .env("SPECTRA_DIR", &folder)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running node");
    let mut stdin = node.stdin.take().unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut last = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        println!("{line}");
        if line == "need-worker" {
            // Free the only slot: the queued som job runs now, with its page open.
            abort().await;
            stdin.write_all(b"go\n").await.unwrap();
        }
        last = line;
    }
    let status = node.wait().await.unwrap();
    abort().await;
    assert!(status.success(), "tests/browser/web.cjs failed (its output is above)");
    let results: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(results["alerts"], 0);
    assert!(results["pages"].as_array().unwrap().len() >= 12, "{results}");
    assert_eq!(phase(&app.job(&admin(), &blocker, None).await), "ABORTED");
}
