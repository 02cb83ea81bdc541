//! Plot inputs written by a third party (astropy, tests/plots/write_inputs.py): an SDSS
//! spec-lite binary table (one row per pixel, `loglam`), a LAMOST binary table (one row of
//! vector columns), VOTable BINARY (scalar columns) and BINARY2 (array cells, one spectrum per
//! row, a null element). Each is uploaded, opened and checked over the real WebSocket: series
//! names and count, and the home view of the first frame spans exactly the data astropy wrote.

use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::plots::{connect, frame, next_json, open, send};

fn python() -> String {
    std::env::var("VOCLOUD_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/plots/write_inputs.py");

fn near(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fits_tables_and_binary_votables_written_by_astropy_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap().to_string();
    let output = tokio::task::spawn_blocking(move || Command::new(python()).arg(SCRIPT).arg(&out).output())
        .await
        .unwrap()
        .expect("running python (set VOCLOUD_TEST_PYTHON, or run ./x test which installs astropy)");
    assert!(output.status.success(), "write_inputs.py failed: {}", String::from_utf8_lossy(&output.stderr));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();

    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    for (key, file) in
        [("sdss", "sdss.fits"), ("lamost", "lamost.fits"), ("binary", "binary.vot"), ("binary2", "binary2.vot")]
    {
        app.upload(&alice, &format!("in/{file}"), std::fs::read(dir.path().join(file)).unwrap()).await;
        let page = open(&app, &alice, &format!("path=in/{file}")).await;
        let mut ws = connect(&app, &alice, &page).await.unwrap();
        let info = next_json(&mut ws, "info").await;
        let names: Vec<&str> = info["series"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        match summary[key]["names"].as_array() {
            Some(expected) => assert_eq!(names, expected.iter().map(|n| n.as_str().unwrap()).collect::<Vec<_>>()),
            None => assert_eq!(names.len(), 1, "{file}: one spectrum, got {names:?}"),
        }
        send(&mut ws, json!({"type": "hello", "width": 600, "height": 400})).await;
        let (f, png) = frame(&mut ws).await;
        assert!(png.len() > 1000, "{file}: a real frame");
        let s = &summary[key];
        let v = &f["view"];
        let (x0, x1) = (v["x0"].as_f64().unwrap(), v["x1"].as_f64().unwrap());
        assert!(near(x0, s["x0"].as_f64().unwrap(), 1e-6), "{file}: x0 {x0} vs {}", s["x0"]);
        assert!(near(x1, s["x1"].as_f64().unwrap(), 1e-6), "{file}: x1 {x1} vs {}", s["x1"]);
        // Home pads the flux range by 5 % on each side.
        let (ymin, ymax) = (s["ymin"].as_f64().unwrap(), s["ymax"].as_f64().unwrap());
        let pad = 0.05 * (ymax - ymin);
        let (y0, y1) = (v["y0"].as_f64().unwrap(), v["y1"].as_f64().unwrap());
        assert!(near(y0, ymin - pad, 1e-5) && near(y1, ymax + pad, 1e-5), "{file}: y {y0}..{y1} vs {ymin}..{ymax}");
    }

    // Hostile XML (a DTD) is refused by the VOTable reader: a 400 naming the file.
    let text = "<?xml version=\"1.0\"?><!DOCTYPE VOTABLE [<!ENTITY a \"aaaa\">]><VOTABLE version=\"1.4\">\
                <RESOURCE><TABLE><FIELD name=\"wavelength\" datatype=\"double\"/><DATA><TABLEDATA>\
                <TR><TD>&a;</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>";
    app.upload(&alice, "in/bad.vot", text.as_bytes().to_vec()).await;
    let r = app.get(&alice, "/plots/new?path=in/bad.vot").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("bad.vot"), "{body}");
}
