//! A long ocean request split by time range into parts that run on real `vocloud worker`
//! processes (`partial=<folder>`), merged by `ocean-merge`: the merged results equal those of
//! one job over the whole range (cnt, min, max identical; means and std to 1e-12; the
//! time-average netCDF compared by xarray). Inconsistent or overlapping parts end the merge in
//! ERROR naming the files; an empty parts folder is refused at creation.

use serde_json::Value;

use crate::fleet::{Worker, fleet_app, storage, token};
use crate::helpers::{TestApp, User, phase};
use crate::ocean::{completed, result, run_python, upload_fixtures};

/// The fixture's days (2024-02-27 .. 03-04, one file with two steps) cut into three slices.
const SLICES: [(&str, &str); 3] = [
    ("2024-02-27T00:00:00Z", "2024-02-28T23:59:59Z"),
    ("2024-02-29T00:00:00Z", "2024-03-02T23:59:59Z"),
    ("2024-03-03T00:00:00Z", "2024-03-04T23:59:59Z"),
];
const WHOLE: (&str, &str) = ("2024-02-27T00:00:00Z", "2024-03-04T23:59:59Z");

/// Submits one job per slice with `partial=folder`, runs them all at once (the workers share
/// them out), and waits until every one completed.
async fn run_parts(app: &TestApp, user: &User, kind: &str, form: &[(&str, &str)], folder: &str) {
    let mut urls = Vec::new();
    for (start, end) in SLICES {
        let mut form = form.to_vec();
        form.extend([("start", start), ("end", end), ("partial", folder)]);
        urls.push(app.create_job(user, kind, &form).await);
    }
    for url in &urls {
        let response = app.post(user, &format!("{url}/phase"), &[("PHASE", "RUN")]).send().await.unwrap();
        assert_eq!(response.status(), 303);
    }
    for url in &urls {
        let doc = app.wait_until_not(user, url, &["PENDING", "QUEUED", "EXECUTING"]).await;
        assert_eq!(phase(&doc), "COMPLETED", "{kind} part {url}: {doc}");
        let part: Value = result(app, user, url, "part.json").await.json().await.unwrap();
        assert!(part["part"].as_str().unwrap().starts_with(&format!("{folder}/part-")), "{part}");
    }
}

async fn whole(app: &TestApp, user: &User, kind: &str, form: &[(&str, &str)]) -> String {
    let mut form = form.to_vec();
    form.extend([("start", WHOLE.0), ("end", WHOLE.1)]);
    completed(app, user, kind, &form).await
}

async fn merge(app: &TestApp, user: &User, folder: &str) -> (String, String) {
    let url = app.create_job(user, "ocean-merge", &[("parts", folder)]).await;
    let doc = app.run_to_end(user, &url).await;
    (url, doc)
}

/// The rows of two timeseries.json: same steps, counts and extremes, statistics to 1e-12.
fn assert_same_series(what: &str, merged: &Value, single: &Value) {
    let rows = |json: &Value| json["data"].as_array().unwrap().iter().map(|r| r[0].clone()).collect::<Vec<_>>();
    let (got, want) = (rows(merged), rows(single));
    assert_eq!(got.len(), want.len(), "{what}: number of steps");
    assert!(got.len() >= 5, "{what}: the fixture has 6 steps");
    for (g, w) in got.iter().zip(&want) {
        for field in ["time", "iso_time", "cnt", "min", "max"] {
            assert_eq!(g[field], w[field], "{what} at {}: {field}", w["iso_time"]);
        }
        let fields = w
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !["time", "iso_time", "cnt", "min", "max", "ds"].contains(&k.as_str()));
        for field in fields {
            let (a, b) = (g[field].as_f64().unwrap(), w[field].as_f64().unwrap());
            assert!((a - b).abs() <= 1e-12, "{what} at {}: {field} {a} vs {b}", w["iso_time"]);
        }
    }
    assert_eq!(merged["meta"], single["meta"], "{what}: meta");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_split_across_fleet_workers_merges_to_the_single_job_results() {
    let app = fleet_app(3).await;
    let user = app.add_user("oceanographer").await;
    let (_w1, _w2) = (
        Worker::start(&app, &token(&app, "host-a").await, &storage(&app)),
        Worker::start(&app, &token(&app, "host-b").await, &storage(&app)),
    );
    let (dir, _) = upload_fixtures(&app, &user).await;

    // Area time series across the antimeridian with the seasonal variant (per-step fields).
    let form = [
        ("dataset", "ocean/sst"),
        ("variable", "analysed_sst"),
        ("bbox", "170,-5,-170,5"),
        ("seasonal_climatology", "ocean/clim_monthly"),
    ];
    run_parts(&app, &user, "ocean-timeseries", &form, "split/ts").await;
    let (merged, doc) = merge(&app, &user, "split/ts").await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    let single = whole(&app, &user, "ocean-timeseries", &form).await;
    let json = |url: String| {
        let (app, user) = (&app, &user);
        async move { result(app, user, &url, "timeseries.json").await.json::<Value>().await.unwrap() }
    };
    assert_same_series("timeseries", &json(merged.clone()).await, &json(single.clone()).await);
    let text = |url: String, name: &'static str| {
        let (app, user) = (&app, &user);
        async move { result(app, user, &url, name).await.text().await.unwrap() }
    };
    assert_eq!(text(merged.clone(), "timeseries.csv").await, text(single.clone(), "timeseries.csv").await);
    assert_eq!(text(merged.clone(), "timeseries.vot").await, text(single.clone(), "timeseries.vot").await);
    let png = result(&app, &user, &merged, "timeseries.png").await.bytes().await.unwrap();
    assert_eq!(&png[1..4], b"PNG");

    // Daily difference average against the 5-day climatology.
    let form = [
        ("dataset", "ocean/sst"),
        ("variable", "analysed_sst"),
        ("bbox", "-30,-10,30,10"),
        ("climatology", "ocean/clim"),
    ];
    run_parts(&app, &user, "ocean-dda", &form, "split/dda").await;
    let (merged, doc) = merge(&app, &user, "split/dda").await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    let single = whole(&app, &user, "ocean-dda", &form).await;
    assert_same_series("dda", &json(merged).await, &json(single).await);

    // Time-average map: sums and counts added; netCDF compared by xarray.
    let form = [("dataset", "ocean/sst"), ("variable", "analysed_sst"), ("bbox", "170,-5,-170,5")];
    run_parts(&app, &user, "ocean-timeavg", &form, "split/avg").await;
    let (merged, doc) = merge(&app, &user, "split/avg").await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    let single = whole(&app, &user, "ocean-timeavg", &form).await;
    let (a, b) = (dir.path().join("merged.nc"), dir.path().join("single.nc"));
    std::fs::write(&a, result(&app, &user, &merged, "timeavg.nc").await.bytes().await.unwrap()).unwrap();
    std::fs::write(&b, result(&app, &user, &single, "timeavg.nc").await.bytes().await.unwrap()).unwrap();
    let (a, b) = (a.to_str().unwrap().to_string(), b.to_str().unwrap().to_string());
    let out = tokio::task::spawn_blocking(move || run_python(&["compare-timeavg", &a, &b])).await.unwrap();
    assert!(out.contains("merged timeavg ok"), "{out}");
    println!("{out}");
    let png = result(&app, &user, &merged, "timeavg.png").await.bytes().await.unwrap();
    assert_eq!(&png[1..4], b"PNG");

    // Refusals. A part overlapping another (02-28 is in the first slice too): ERROR naming both.
    let mut form = vec![("dataset", "ocean/sst"), ("variable", "analysed_sst"), ("bbox", "170,-5,-170,5")];
    form.extend([("seasonal_climatology", "ocean/clim_monthly"), ("partial", "split/ts")]);
    form.extend([("start", "2024-02-28T00:00:00Z"), ("end", "2024-02-28T12:00:00Z")]);
    completed(&app, &user, "ocean-timeseries", &form).await;
    let (url, doc) = merge(&app, &user, "split/ts").await;
    assert_eq!(phase(&doc), "ERROR", "{doc}");
    let error = app.get(&user, &format!("{url}/error")).send().await.unwrap().text().await.unwrap();
    assert!(
        error.contains("split/ts/part-20240227T000000-20240228T235959.ocpart and split/ts/part-20240228T000000-20240228T120000.ocpart overlap"),
        "{error}"
    );
    // A part of another request (a different box) in the folder: ERROR naming it and the field.
    let form = [
        ("dataset", "ocean/sst"),
        ("variable", "analysed_sst"),
        ("bbox", "-30,-10,30,10"),
        ("climatology", "ocean/clim"),
        ("start", "2024-03-04T00:00:00Z"),
        ("partial", "split/dda"),
    ];
    let mut form = form.to_vec();
    form[2] = ("bbox", "-30,-10,20,10");
    std::fs::remove_file(
        storage(&app).join("users/oceanographer/split/dda/part-20240303T000000-20240304T235959.ocpart"),
    )
    .unwrap();
    completed(&app, &user, "ocean-dda", &form).await;
    let (url, doc) = merge(&app, &user, "split/dda").await;
    assert_eq!(phase(&doc), "ERROR", "{doc}");
    let error = app.get(&user, &format!("{url}/error")).send().await.unwrap().text().await.unwrap();
    assert!(error.contains("split/dda/part-20240304T000000-end.ocpart does not belong with"), "{error}");
    assert!(error.contains("bbox \"-30,-10,30,10\" vs \"-30,-10,20,10\""), "{error}");

    // Nothing to merge, or a folder outside the storage: 400 at creation.
    for (parts, message) in [("split/none", "No such file"), ("ocean/sst", "no part-"), ("../x", "'..'")] {
        let response = app.post(&user, "/uws/ocean-merge", &[("parts", parts)]).send().await.unwrap();
        assert_eq!(response.status(), 400, "{parts}");
        let text = response.text().await.unwrap();
        assert!(text.contains(message), "{parts}: {text}");
    }
    let response = app
        .post(
            &user,
            "/uws/ocean-timeavg",
            &[("dataset", "ocean/sst"), ("variable", "analysed_sst"), ("partial", "/tmp")],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "partial outside the storage");
}
