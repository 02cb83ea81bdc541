//! Ocean kinds against netCDF files written by Python's netCDF4/xarray, compared with an xarray
//! computation of the same definitions (tests/ocean/fixtures.py): cnt, min and max exactly,
//! means and std to 1e-9. Fixtures cover packed int16 with scale/offset/_FillValue/valid range,
//! land, a missing day, a leap day, a multi-step file, 0..360 longitudes, descending latitudes,
//! a box across the antimeridian, a box across the data's 0/360 seam, a 5-day climatology, a
//! monthly (seasonal) climatology and a curvilinear noleap RTOFS-like grid with a singleton depth.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::helpers::{TestApp, User, element, phase, spawn_app};

fn python() -> String {
    std::env::var("VOCLOUD_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ocean/fixtures.py");

pub(crate) fn run_python(args: &[&str]) -> String {
    let output = Command::new(python())
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("running python (set VOCLOUD_TEST_PYTHON, or run ./x test which installs xarray)");
    assert!(
        output.status.success(),
        "fixtures.py {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes the fixtures into a temp dir and uploads every netCDF file through the files API.
pub(crate) async fn upload_fixtures(app: &TestApp, user: &User) -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap().to_string();
    tokio::task::spawn_blocking(move || run_python(&["make", &out])).await.unwrap();
    for sub in ["sst", "clim", "clim_monthly", "rtofs", "bad"] {
        let mut names: Vec<PathBuf> =
            std::fs::read_dir(dir.path().join(sub)).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        for path in names {
            let rel = format!("{sub}/{}", path.file_name().unwrap().to_str().unwrap());
            let response = app
                .client
                .put(app.url(&format!("/api/files/ocean/{rel}")))
                .basic_auth(&user.name, Some(&user.password))
                .body(std::fs::read(&path).unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201, "uploading {rel}");
        }
    }
    let reference = serde_json::from_slice(&std::fs::read(dir.path().join("reference.json")).unwrap()).unwrap();
    (dir, reference)
}

async fn run_job(app: &TestApp, user: &User, kind: &str, form: &[(&str, &str)]) -> (String, String) {
    let url = app.create_job(user, kind, form).await;
    let doc = app.run_to_end(user, &url).await;
    (url, doc)
}

pub(crate) async fn completed(app: &TestApp, user: &User, kind: &str, form: &[(&str, &str)]) -> String {
    let (url, doc) = run_job(app, user, kind, form).await;
    assert_eq!(phase(&doc), "COMPLETED", "{kind} {form:?}: {doc}");
    url
}

pub(crate) async fn result(app: &TestApp, user: &User, url: &str, name: &str) -> reqwest::Response {
    let response = app.get(user, &format!("{url}/results/{name}")).send().await.unwrap();
    let response = match response.status().as_u16() {
        303 | 302 => app.get(user, &crate::helpers::location(&response)).send().await.unwrap(),
        _ => response,
    };
    assert_eq!(response.status(), 200, "result {name} of {url}");
    response
}

fn assert_close(what: &str, got: &Value, want: &Value, tol: f64) {
    let (g, w) = (got.as_f64().unwrap(), want.as_f64().unwrap());
    assert!((g - w).abs() <= tol, "{what}: got {g}, xarray {w}");
}

/// Compares vocloud's timeseries.json rows with the reference rows field by field.
fn assert_series(name: &str, json: &Value, reference: &[Value]) {
    let rows: Vec<&Value> = json["data"].as_array().unwrap().iter().map(|r| &r[0]).collect();
    assert_eq!(rows.len(), reference.len(), "{name}: number of time steps");
    for (row, want) in rows.iter().zip(reference) {
        let at = format!("{name} at {}", want["time"]);
        assert_eq!(row["time"], want["time"], "{at}: time");
        assert_eq!(row["cnt"], want["cnt"], "{at}: cnt");
        assert_eq!(row["min"].as_f64(), want["min"].as_f64(), "{at}: min");
        assert_eq!(row["max"].as_f64(), want["max"].as_f64(), "{at}: max");
        for field in ["mean", "mean_plain", "std"] {
            assert_close(&format!("{at}: {field}"), &row[field], &want[field], 1e-9);
        }
        for field in ["mean_coslat", "meanSeasonal", "minSeasonal", "maxSeasonal"] {
            if let Some(value) = want.get(field) {
                assert_close(&format!("{at}: {field}"), &row[field], value, 1e-9);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocean_kinds_match_xarray_on_third_party_netcdf() {
    let app = spawn_app().await;
    let user = app.add_user("oceanographer").await;
    let (dir, reference) = upload_fixtures(&app, &user).await;

    // Area time series across the antimeridian on 0..360 data, whole dataset, with SDAP's
    // seasonal variant against a monthly climatology.
    let url = completed(
        &app,
        &user,
        "ocean-timeseries",
        &[
            ("dataset", "ocean/sst"),
            ("variable", "analysed_sst"),
            ("bbox", "170,-5,-170,5"),
            ("seasonal_climatology", "ocean/clim_monthly"),
        ],
    )
    .await;
    let json: Value = result(&app, &user, &url, "timeseries.json").await.json().await.unwrap();
    assert_series("antimeridian", &json, reference["ts_antimeridian"].as_array().unwrap());
    assert_eq!(json["data"][2][0]["iso_time"], "2024-02-29T09:00:00+0000", "the leap day is a step");
    assert!(json["data"][0][0].get("meanLowPass").is_none(), "6 steps: SDAP's filter cannot run, fields absent");
    let csv = result(&app, &user, &url, "timeseries.csv").await.text().await.unwrap();
    assert!(
        csv.starts_with(
            "time,iso_time,cnt,min,max,mean,mean_plain,mean_coslat,std,meanSeasonal,minSeasonal,maxSeasonal\n"
        ),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 1 + reference["ts_antimeridian"].as_array().unwrap().len());
    let vot = result(&app, &user, &url, "timeseries.vot").await.text().await.unwrap();
    assert!(vot.contains("<FIELD name=\"mean_plain\"") && vot.contains("nrows=\"6\""), "{vot}");
    let png = result(&app, &user, &url, "timeseries.png").await.bytes().await.unwrap();
    assert_eq!(&png[1..4], b"PNG", "the plot of the series");
    // The CSV and VOTable series open in the interactive plotter.
    let id = url.rsplit('/').next().unwrap();
    for name in ["timeseries.csv", "timeseries.vot"] {
        let r = app.get(&user, &format!("/plots/new?job={id}&result={name}")).send().await.unwrap();
        assert_eq!(r.status(), 303, "{name} opens a plot: {}", r.text().await.unwrap());
    }

    // Across the data's own 0/360 seam, a glob, and a time window given in ISO and epoch seconds.
    let url = completed(
        &app,
        &user,
        "ocean-timeseries",
        &[
            ("dataset", "ocean/sst/sst_2024*.nc"),
            ("variable", "analysed_sst"),
            ("bbox", "-10,-6,10,6"),
            ("start", "2024-02-28T00:00:00Z"),
            ("end", "1709456400"),
        ],
    )
    .await;
    let json: Value = result(&app, &user, &url, "timeseries.json").await.json().await.unwrap();
    assert_series("0/360 seam", &json, reference["ts_seam"].as_array().unwrap());

    // Daily difference average against the 5-day climatology.
    let url = completed(
        &app,
        &user,
        "ocean-dda",
        &[
            ("dataset", "ocean/sst"),
            ("variable", "analysed_sst"),
            ("bbox", "-30,-10,30,10"),
            ("climatology", "ocean/clim"),
        ],
    )
    .await;
    let json: Value = result(&app, &user, &url, "timeseries.json").await.json().await.unwrap();
    assert_series("dda", &json, reference["dda"].as_array().unwrap());
    let png = result(&app, &user, &url, "timeseries.png").await.bytes().await.unwrap();
    assert_eq!(&png[1..4], b"PNG", "the DDA plot");

    // Time-average map: netCDF checked pixel by pixel by xarray, plus a PNG.
    let url = completed(
        &app,
        &user,
        "ocean-timeavg",
        &[("dataset", "ocean/sst"), ("variable", "analysed_sst"), ("bbox", "170,-5,-170,5")],
    )
    .await;
    let nc = result(&app, &user, &url, "timeavg.nc").await.bytes().await.unwrap();
    let nc_path = dir.path().join("timeavg_result.nc");
    std::fs::write(&nc_path, &nc).unwrap();
    let (nc_arg, dir_arg) = (nc_path.to_str().unwrap().to_string(), dir.path().to_str().unwrap().to_string());
    let out = tokio::task::spawn_blocking(move || run_python(&["check-timeavg", &nc_arg, &dir_arg])).await.unwrap();
    assert!(out.contains("timeavg ok"), "{out}");
    let png = result(&app, &user, &url, "timeavg.png").await.bytes().await.unwrap();
    assert_eq!(&png[1..4], b"PNG");

    // Subset of a curvilinear grid across the antimeridian, as CSV.
    let url = completed(
        &app,
        &user,
        "ocean-subset",
        &[("dataset", "ocean/rtofs"), ("variable", "sst"), ("bbox", "175,-6,-175,6"), ("format", "csv")],
    )
    .await;
    let csv = result(&app, &user, &url, "subset.csv").await.text().await.unwrap();
    let values: Vec<f64> = csv.lines().skip(1).map(|l| l.rsplit(',').next().unwrap().parse::<f64>().unwrap()).collect();
    let want = &reference["subset_rtofs"];
    assert!(csv.starts_with("longitude,latitude,time,sst\n"), "{csv}");
    assert_eq!(values.len() as u64, want["count"].as_u64().unwrap());
    assert_close("subset sum", &Value::from(values.iter().sum::<f64>()), &want["sum"], 1e-6);
    assert_eq!(values.iter().cloned().fold(f64::INFINITY, f64::min), want["min"].as_f64().unwrap());
    assert!(csv.contains(",2024-03-01T12:00:00Z,"), "noleap times decoded: {}", &csv[..300.min(csv.len())]);
    // The streamed VOTable and netCDF hold the same points, in the same order, as the CSV.
    for format in ["votable", "netcdf"] {
        let url = completed(
            &app,
            &user,
            "ocean-subset",
            &[("dataset", "ocean/rtofs"), ("variable", "sst"), ("bbox", "175,-6,-175,6"), ("format", format)],
        )
        .await;
        let name = if format == "votable" { "subset.vot" } else { "subset.nc" };
        let bytes = result(&app, &user, &url, name).await.bytes().await.unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let csv_path = dir.path().join("subset.csv");
        std::fs::write(&csv_path, &csv).unwrap();
        let (p, c) = (path.to_str().unwrap().to_string(), csv_path.to_str().unwrap().to_string());
        let out = tokio::task::spawn_blocking(move || run_python(&["check-subset", &p, &c])).await.unwrap();
        assert!(out.contains("subset ok"), "{name}: {out}");
    }

    // Maps of every step of the curvilinear dataset, named for animation.
    let url = completed(&app, &user, "ocean-maps", &[("dataset", "ocean/rtofs"), ("variable", "sst")]).await;
    let doc = app.job(&user, &url, None).await;
    let results = element(&doc, "results").unwrap_or_default();
    assert!(results.contains("map_0001_20240301T120000.png"), "{results}");
    assert!(results.contains("map_0002_20240302T120000.png"), "{results}");
    let png = result(&app, &user, &url, "map_0002_20240302T120000.png").await.bytes().await.unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ocean_inputs_are_refused_or_end_in_error_naming_the_file() {
    let app = spawn_app().await;
    let user = app.add_user("oceanographer").await;
    let (_dir, _) = upload_fixtures(&app, &user).await;

    let response = app
        .post(&user, "/uws/ocean-timeseries", &[("dataset", "ocean/sst"), ("variable", "x"), ("bbox", "1,2,3")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "a bbox of three numbers is refused at creation");
    let response = app
        .post(
            &user,
            "/uws/ocean-timeseries",
            &[("dataset", "ocean/sst"), ("variable", "analysed_sst"), ("start", "2024-03-01"), ("end", "2024-02-01")],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "end before start");

    // Datasets that match no netCDF file are refused at creation, naming the parameter.
    type Form<'a> = &'a [(&'a str, &'a str)];
    let refused: [(&str, Form, &str); 5] = [
        ("ocean-timeseries", &[("dataset", "ocean/nothing_here")], "does not exist in your storage"),
        ("ocean-timeavg", &[("dataset", "ocean/sst/*.nc4")], "no netCDF files found"),
        ("ocean-subset", &[("dataset", "../other/sst")], "inside your storage"),
        ("ocean-dda", &[("dataset", "ocean/sst"), ("climatology", "ocean/no_clim")], "climatology"),
        (
            "ocean-timeseries",
            &[("dataset", "ocean/sst"), ("seasonal_climatology", "ocean/empty")],
            "seasonal_climatology",
        ),
    ];
    app.upload(&user, "ocean/empty/readme.txt", b"no netCDF here".to_vec()).await;
    for (kind, form, message) in refused {
        let mut form = form.to_vec();
        form.push(("variable", "analysed_sst"));
        let response = app.post(&user, &format!("/uws/{kind}"), &form).send().await.unwrap();
        assert_eq!(response.status(), 400, "{kind} {form:?}");
        let text = response.text().await.unwrap();
        assert!(text.contains(message), "{kind} {form:?}: '{text}' lacks '{message}'");
    }

    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("dataset", "ocean/bad/garbage.nc"), ("variable", "analysed_sst")], "garbage.nc: not a readable netCDF"),
        (
            &[("dataset", "ocean/bad/no_time.nc"), ("variable", "analysed_sst")],
            "no_time.nc: variable 'analysed_sst' has dimensions",
        ),
        (&[("dataset", "ocean/sst"), ("variable", "chlorophyll")], "has no variable 'chlorophyll'"),
        (&[("dataset", "ocean/sst"), ("variable", "analysed_sst"), ("start", "2030-01-01")], "no time step"),
    ];
    for (form, message) in cases {
        let (url, doc) = run_job(&app, &user, "ocean-timeseries", form).await;
        assert_eq!(phase(&doc), "ERROR", "{form:?}");
        let error = app.get(&user, &format!("{url}/error")).send().await.unwrap().text().await.unwrap();
        assert!(error.contains(message), "{form:?}: error '{error}' lacks '{message}'");
    }
}
