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

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ocean/fixtures.py");
const CALENDARS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ocean/calendars.py");
const HOSTILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ocean/hostile.py");

/// Runs one of the Python scripts of tests/ocean/ and returns its standard output.
fn run_script(script: &str, args: &[&str]) -> String {
    let output = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("running python (set VOCLOUD_TEST_PYTHON, or run ./x test which installs xarray)");
    assert!(
        output.status.success(),
        "{script} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn run_python(args: &[&str]) -> String {
    run_script(FIXTURES, args)
}

/// Writes the fixtures into a temp dir and uploads every netCDF file through the files API.
pub(crate) async fn upload_fixtures(app: &TestApp, user: &User) -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap().to_string();
    tokio::task::spawn_blocking(move || run_python(&["make", &out])).await.unwrap();
    for sub in ["sst", "clim", "clim_monthly", "rtofs", "bad", "cal1500", "layouts"] {
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
        if let Some(iso) = want.get("iso_time") {
            assert_eq!(&row["iso_time"], iso, "{at}: iso_time");
        }
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

/// Every CF calendar, unit and reference-date form decoded as cftime (which xarray and netCDF4
/// use) decodes it, on tens of thousands of cases from tests/ocean/calendars.py: dates around the
/// 1582 switch, leap days, negative offsets, time zones, year zero, overflowing values; the
/// same refusals (unknown calendars and units, dates a calendar lacks).
#[test]
fn calendars_decode_like_cftime() {
    use vocloud_workers::ocean::time::TimeUnits;
    let cases: Vec<Value> = serde_json::from_str(&run_script(CALENDARS, &["cases"])).unwrap();
    let (mut decoded, mut refused) = (0, 0);
    for case in &cases {
        let (units, calendar, value) =
            (case["units"].as_str().unwrap(), case["calendar"].as_str().unwrap(), case["value"].as_f64().unwrap());
        let got = TimeUnits::parse(units, Some(calendar)).and_then(|u| u.decode(value));
        match (&got, case.get("iso")) {
            (Ok(stamp), Some(iso)) => {
                assert_eq!(stamp.iso, format!("{}+0000", iso.as_str().unwrap()), "{case}");
                assert_eq!(Value::from(stamp.doy), case["doy"], "day of year: {case}");
                decoded += 1;
            }
            (Err(_), None) => refused += 1,
            _ => panic!("{case}: vocloud gives {got:?}"),
        }
    }
    assert!(decoded > 15_000 && refused > 10_000, "{decoded} decoded, {refused} refused");
}

/// `days since 1500-01-01` on the standard calendar: dates of 1500 are Julian (1500-02-29
/// exists), dates of 2024 are 9 days later than a proleptic reading. The steps, their stamps and
/// a time window match xarray's decoding (cftime) and its date comparisons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_units_before_1582_select_and_stamp_like_xarray() {
    let app = spawn_app().await;
    let user = app.add_user("historian").await;
    let (_dir, reference) = upload_fixtures(&app, &user).await;
    let form = [("dataset", "ocean/cal1500"), ("variable", "analysed_sst"), ("bbox", "-30,-10,30,10")];
    let url = completed(&app, &user, "ocean-timeseries", &form).await;
    let json: Value = result(&app, &user, &url, "timeseries.json").await.json().await.unwrap();
    assert_series("cal1500", &json, reference["ts_cal1500"].as_array().unwrap());

    let mut window = form.to_vec();
    window.extend([("start", "1500-02-29"), ("end", "2024-02-28T12:00:00Z")]);
    let url = completed(&app, &user, "ocean-timeseries", &window).await;
    let json: Value = result(&app, &user, &url, "timeseries.json").await.json().await.unwrap();
    assert_series("cal1500 window", &json, reference["ts_cal1500_window"].as_array().unwrap());
    let csv = result(&app, &user, &url, "timeseries.csv").await.text().await.unwrap();
    assert!(csv.contains(",1500-02-29T09:00:00+0000,"), "the Julian leap day: {csv}");
}

/// Variables the direct chunk reader does not handle (fletcher32 checksums, contiguous layout)
/// are read through libnetcdf with the same numbers, and the job says so in `read-notes.txt`
/// (and in its progress while running); a dataset read directly has no such note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_layouts_fall_back_to_libnetcdf_and_say_so() {
    let app = spawn_app().await;
    let user = app.add_user("oceanographer").await;
    let (_dir, reference) = upload_fixtures(&app, &user).await;
    let form = [("dataset", "ocean/layouts"), ("variable", "analysed_sst"), ("bbox", "-30,-10,30,10")];
    let url = completed(&app, &user, "ocean-timeseries", &form).await;
    let json: Value = result(&app, &user, &url, "timeseries.json").await.json().await.unwrap();
    assert_series("layouts", &json, reference["ts_layouts"].as_array().unwrap());
    let notes = result(&app, &user, &url, "read-notes.txt").await.text().await.unwrap();
    for words in ["'analysed_sst' in ocean/layouts/fletcher32.nc", "fletcher32 checksums", "contiguous layout"] {
        assert!(notes.contains(words), "'{notes}' lacks '{words}'");
    }
    let form = [("dataset", "ocean/sst"), ("variable", "analysed_sst"), ("bbox", "-30,-10,30,10")];
    let url = completed(&app, &user, "ocean-timeavg", &form).await;
    let results = element(&app.job(&user, &url, None).await, "results").unwrap_or_default();
    assert!(results.contains("timeavg.nc") && !results.contains("read-notes.txt"), "{results}");
}

// ---------------------------------------------------------------- hostile netCDF files
//
// Each test uploads one file of tests/ocean/hostile.py and runs a job on it: the job must end in
// ERROR with a message naming the lie (or be refused at creation with the same message, once
// memory estimates are checked there), and the server must keep answering. Before these
// checks, the header attacks aborted the process (`memory allocation of 8000000000000 bytes
// failed`), the huge time value panicked, and the missing one was silently read as the epoch.

/// Runs `kind` on the file of `attack` and returns the job's error summary, or None when the
/// job was refused at creation (a 400 that must speak of memory: the per-job limit compared
/// with the kind's estimate).
async fn attack(attack: &str, kind: &str, extra: &[(&str, &str)]) -> Option<String> {
    let app = spawn_app().await;
    let user = app.add_user("mallory").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{attack}.nc"));
    let (name, file) = (attack.to_string(), path.to_str().unwrap().to_string());
    tokio::task::spawn_blocking(move || run_script(HOSTILE, &[&name, &file])).await.unwrap();
    app.upload(&user, &format!("hostile/{attack}.nc"), std::fs::read(&path).unwrap()).await;
    let dataset = format!("hostile/{attack}.nc");
    let mut form = vec![("dataset", dataset.as_str()), ("variable", "sst")];
    form.extend_from_slice(extra);
    let response = app.post(&user, &format!("/uws/{kind}"), &form).send().await.unwrap();
    let summary = match response.status().as_u16() {
        400 => {
            let text = response.text().await.unwrap();
            assert!(text.to_lowercase().contains("memory"), "{attack}: refused at creation for another reason: {text}");
            None
        }
        303 => {
            let url = crate::helpers::location(&response);
            let doc = app.run_to_end(&user, &url).await;
            assert_eq!(phase(&doc), "ERROR", "{attack}: {doc}");
            Some(app.get(&user, &format!("{url}/error")).send().await.unwrap().text().await.unwrap())
        }
        status => panic!("{attack}: creating the job answered {status}"),
    };
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "{attack}: the server still answers");
    summary
}

/// The error summary names the lie (nothing to check when the job was refused at creation).
fn assert_mentions(attack: &str, summary: &Option<String>, words: &[&str]) {
    let Some(summary) = summary else { return };
    for word in words {
        assert!(summary.contains(word), "{attack}: '{summary}' lacks '{word}'");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_grid_declared_a_million_by_a_million() {
    let summary = attack("grid_declared_1e6_by_1e6", "ocean-timeseries", &[]).await;
    assert_mentions("grid 10^6 x 10^6", &summary, &["1000000 × 1000000", "needs about", "budget"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_curvilinear_coordinates_declared_ten_billion_points() {
    let summary = attack("curvilinear_declared_1e5_by_1e5", "ocean-timeavg", &[]).await;
    assert_mentions("curvilinear 10^5 x 10^5", &summary, &["100000 × 100000", "needs about", "budget"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_time_axis_declared_two_billion_steps() {
    let summary = attack("time_axis_declared_2e9_steps", "ocean-timeseries", &[]).await;
    assert_mentions("2e9 steps", &summary, &["2000000000 time steps", "needs about", "budget"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_time_value_beyond_any_calendar() {
    let summary = attack("time_values_beyond_any_calendar", "ocean-timeseries", &[]).await;
    assert_mentions("time 1e300", &summary, &["time_values_beyond_any_calendar.nc", "index 1", "out of range"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_time_value_missing() {
    let summary = attack("time_value_missing", "ocean-timeseries", &[]).await;
    assert_mentions("time NaN", &summary, &["time_value_missing.nc", "index 1", "missing"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_chunk_size_beyond_the_file_end() {
    let summary = attack("chunk_size_beyond_file_end", "ocean-timeavg", &[]).await;
    assert_mentions(
        "chunk size 4 GB",
        &summary,
        &["chunk_size_beyond_file_end.nc", "4294967040 bytes", "past the end"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_chunk_address_beyond_the_file_end() {
    let summary = attack("chunk_address_beyond_file_end", "ocean-timeavg", &[]).await;
    assert_mentions(
        "chunk at 2^62",
        &summary,
        &["chunk_address_beyond_file_end.nc", "4611686018427387904", "past the end"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_chunk_inflating_beyond_its_shape() {
    let summary = attack("chunk_inflating_beyond_its_shape", "ocean-timeseries", &[]).await;
    assert_mentions("zip bomb", &summary, &["chunk_inflating_beyond_its_shape.nc", "inflates to more than 3780 bytes"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_chunk_shape_declared_huge_or_zero() {
    for name in ["chunk_shape_declared_huge", "chunk_shape_declared_zero"] {
        let summary = attack(name, "ocean-timeseries", &[]).await;
        assert_mentions(name, &summary, &[name, "not a readable netCDF file"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_file_truncated_in_its_chunks() {
    let summary = attack("truncated", "ocean-subset", &[]).await;
    assert_mentions("truncated", &summary, &["truncated.nc", "not a readable netCDF file"]);
}

/// A narrow box on the 10^6-row grid selects a million rows of one column: the maps are drawn
/// at a bounded size instead of a 480-pixel-wide, 480-million-pixel-tall image (880 GB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_tall_narrow_selection_draws_a_bounded_map() {
    let app = spawn_app().await;
    let user = app.add_user("mallory").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.nc");
    let file = path.to_str().unwrap().to_string();
    tokio::task::spawn_blocking(move || run_script(HOSTILE, &["grid_declared_1e6_by_1e6", &file])).await.unwrap();
    app.upload(&user, "hostile/grid.nc", std::fs::read(&path).unwrap()).await;
    let form = [("dataset", "hostile/grid.nc"), ("variable", "sst"), ("bbox", "0,-90,0.0002,90")];
    let url = completed(&app, &user, "ocean-maps", &form).await;
    let png = result(&app, &user, &url, "map_0001_20240101T000000.png").await.bytes().await.unwrap();
    let image = image::load_from_memory(&png).unwrap();
    assert!(image.width() <= 4096 && image.height() <= 4096, "{}x{}", image.width(), image.height());
}

/// Request bounds whose year overflows the day arithmetic are a 400, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocean_request_bounds_with_enormous_years() {
    let app = spawn_app().await;
    let user = app.add_user("mallory").await;
    for (name, value) in [("start", "99999999999999-01-01"), ("end", "-99999999999999-01-01T00:00:00Z")] {
        let form = [("dataset", "ocean/sst"), ("variable", "analysed_sst"), (name, value)];
        let response = app.post(&user, "/uws/ocean-timeseries", &form).send().await.unwrap();
        assert_eq!(response.status(), 400, "{name}={value}");
        assert!(response.text().await.unwrap().contains(name));
    }
}
