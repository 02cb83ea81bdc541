//! The `som` kind end to end: real FITS and CSV spectra uploaded through the files API, jobs
//! created and run over UWS, results fetched from the job's result URLs.

use crate::helpers::{TestApp, User, phase, spawn_app};

pub(crate) const BINS: usize = 120;

/// A seeded spectrum of class 0 (absorption) or 1 (emission) around H-alpha.
pub(crate) fn spectrum(i: usize) -> Vec<f32> {
    let class = i % 2;
    let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 1000) as f32 / 1000.0 - 0.5
    };
    let depth = 0.4 + 0.1 * (i % 5) as f32;
    (0..BINS)
        .map(|j| {
            let u = (j as f32 - 60.0) / 6.0;
            let line = depth * (-0.5 * u * u).exp();
            1.0 + if class == 0 { -line } else { line } + 0.02 * noise()
        })
        .collect()
}

/// A 1-D FITS image with a linear wavelength WCS and a CLASS keyword, as bytes.
fn fits_bytes(dir: &std::path::Path, i: usize, crval: f64) -> Vec<u8> {
    let path = dir.join(format!("s{i}.fits"));
    {
        let desc =
            fitsio::images::ImageDescription { data_type: fitsio::images::ImageType::Float, dimensions: &[BINS] };
        let mut f = fitsio::FitsFile::create(&path).with_custom_primary(&desc).open().unwrap();
        let hdu = f.primary_hdu().unwrap();
        hdu.write_image(&mut f, &spectrum(i)).unwrap();
        hdu.write_key(&mut f, "CRVAL1", crval).unwrap();
        hdu.write_key(&mut f, "CDELT1", 4.0).unwrap();
        hdu.write_key(&mut f, "CRPIX1", 1.0).unwrap();
        hdu.write_key(&mut f, "CLASS", if i.is_multiple_of(2) { "absorption" } else { "emission" }).unwrap();
    }
    std::fs::read(path).unwrap()
}

async fn result(app: &TestApp, user: &User, url: &str, name: &str) -> reqwest::Response {
    let response = app.get(user, &format!("{url}/results/{name}")).send().await.unwrap();
    assert_eq!(response.status(), 200, "result {name}");
    response
}

/// The rows of a job's `bmus.vot` (BINARY2) as cell texts.
async fn bmus(app: &TestApp, user: &User, url: &str) -> Vec<Vec<String>> {
    let bytes = result(app, user, url, "bmus.vot").await.bytes().await.unwrap();
    let doc = vocloud_workers::votable::read(&bytes).unwrap();
    doc.tables[0].rows.iter().map(|r| r.iter().map(|v| v.to_text()).collect()).collect()
}

async fn upload_fits_folder(app: &TestApp, user: &User, folder: &str, count: usize) {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..count {
        app.upload(user, &format!("{folder}/spec-{i:03}.fits"), fits_bytes(dir.path(), i, 6320.0)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_fits_spectra_trains_a_map_with_every_result() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    upload_fits_folder(&app, &alice, "halpha", 60).await;
    let form = [
        ("input", "halpha"),
        ("rows", "5"),
        ("cols", "6"),
        ("epochs", "6"),
        ("grid", "hexagonal"),
        ("seed", "3"),
        ("radiusN", "0.5"),
    ];
    let url = app.create_job(&alice, "som", &form).await;
    let doc = app.run_to_end(&alice, &url).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    for name in ["index.html", "codebook.fits", "codebook.vot", "bmus.vot", "umatrix.png", "hits.png", "viewer.json"] {
        assert!(doc.contains(&format!("id=\"{name}\"")), "{name} missing from {doc}");
    }

    let quality: serde_json::Value = result(&app, &alice, &url, "quality.json").await.json().await.unwrap();
    let (qe, te) = (quality["qe"].as_f64().unwrap(), quality["te"].as_f64().unwrap());
    assert!(qe > 0.0 && (0.0..=1.0).contains(&te), "{quality}");
    assert_eq!(quality["history"].as_array().unwrap().len(), 6);
    assert!(quality["purity"].as_f64().unwrap() > 0.95, "two well-separated classes: {quality}");
    assert_eq!(quality["params"]["radiusn"], 0.5, "the parameters used are recorded");

    let bmus = bmus(&app, &alice, &url).await;
    let row = bmus.iter().find(|r| r[0] == "spec-007.fits").expect("spec-007.fits in bmus.vot");
    assert_eq!((row[1].as_str(), row[7].as_str(), row[8].as_str()), ("emission", "spec-007.fits", ""), "{row:?}");
    let fits = result(&app, &alice, &url, "codebook.fits").await.bytes().await.unwrap();
    assert!(fits.starts_with(b"SIMPLE  =") && fits.windows(7).any(|w| w == b"SOMROWS"));

    let page = result(&app, &alice, &url, "index.html").await;
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("fetch(\"viewer.json\")"), "the viewer reads relative URLs");
    let viewer: serde_json::Value = result(&app, &alice, &url, "viewer.json").await.json().await.unwrap();
    assert_eq!(viewer["hits"].as_array().unwrap().iter().map(|h| h.as_u64().unwrap()).sum::<u64>(), 60);
    // The viewer fetches one node's spectra with a Range request.
    let ranged =
        app.get(&alice, &format!("{url}/results/viewer.bin")).header("Range", "bytes=0-479").send().await.unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.unwrap().len(), 480);

    // Same seed, same map: the codebook table is byte-identical.
    let again = app.create_job(&alice, "som", &form).await;
    assert_eq!(phase(&app.run_to_end(&alice, &again).await), "COMPLETED");
    let first = result(&app, &alice, &url, "codebook.vot").await.text().await.unwrap();
    let second = result(&app, &alice, &again, "codebook.vot").await.text().await.unwrap();
    assert_eq!(first, second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_matrix_trains_online_on_a_toroid_and_continues_from_a_codebook() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let header: Vec<String> = (0..BINS).map(|j| format!("{}", 6400 + j)).collect();
    let mut csv = format!("name,label,{}\n", header.join(","));
    for i in 0..40 {
        let values: Vec<String> = spectrum(i).iter().map(|v| v.to_string()).collect();
        csv.push_str(&format!("star{i},{},{}\n", i % 2, values.join(",")));
    }
    app.upload(&alice, "tables/spectra.csv", csv.into_bytes()).await;
    let form =
        [("input", "tables/spectra.csv"), ("rows", "4"), ("cols", "4"), ("map", "toroid"), ("training", "online")];
    let url = app.create_job(&alice, "som", &form).await;
    assert_eq!(phase(&app.run_to_end(&alice, &url).await), "COMPLETED");
    let bmus = bmus(&app, &alice, &url).await;
    assert!(bmus.iter().any(|r| r[0] == "star39" && r[1] == "1" && r[8] == "39"), "{bmus:?}");

    // Continue training from the saved codebook (moved into the user's storage).
    let codebook = result(&app, &alice, &url, "codebook.fits").await.bytes().await.unwrap().to_vec();
    app.upload(&alice, "maps/start.fits", codebook).await;
    let form =
        [("input", "tables/spectra.csv"), ("rows", "4"), ("cols", "4"), ("init", "maps/start.fits"), ("epochs", "2")];
    let next = app.create_job(&alice, "som", &form).await;
    assert_eq!(phase(&app.run_to_end(&alice, &next).await), "COMPLETED");
    // A codebook of the wrong shape is refused with a clear message.
    let form = [("input", "tables/spectra.csv"), ("rows", "3"), ("cols", "4"), ("init", "maps/start.fits")];
    let wrong = app.create_job(&alice, "som", &form).await;
    let doc = app.run_to_end(&alice, &wrong).await;
    assert_eq!(phase(&doc), "ERROR");
    let detail = app.get(&alice, &format!("{wrong}/error")).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("does not match this map"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_end_in_error_with_a_summary_naming_the_problem() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let dir = tempfile::tempdir().unwrap();
    upload_fits_folder(&app, &alice, "corrupt", 3).await;
    app.upload(&alice, "corrupt/broken.fits", b"SIMPLE  = garbage".to_vec()).await;
    app.upload(&alice, "shifted/a.fits", fits_bytes(dir.path(), 0, 6000.0)).await;
    app.upload(&alice, "shifted/b.fits", fits_bytes(dir.path(), 1, 7000.0)).await;
    app.upload(&alice, "bad.csv", b"name,6500,6501\na,1.0,oops\n".to_vec()).await;
    app.upload(&alice, "empty.csv", b"name,6500,6501\n".to_vec()).await;
    app.upload(&alice, "nothing/readme.md", b"no spectra here".to_vec()).await;
    let cases = [
        ("corrupt", "corrupt/broken.fits: not a FITS file"),
        ("shifted", "share no wavelength range"),
        ("bad.csv", "'oops' is not a number"),
        ("empty.csv", "the table has no rows"),
        ("nothing", "folder holds no spectra"),
    ];
    for (input, expected) in cases {
        let url = app.create_job(&alice, "som", &[("input", input), ("rows", "3"), ("cols", "3")]).await;
        let doc = app.run_to_end(&alice, &url).await;
        assert_eq!(phase(&doc), "ERROR", "{input}: {doc}");
        let detail = app.get(&alice, &format!("{url}/error")).send().await.unwrap().text().await.unwrap();
        assert!(detail.contains(expected), "{input}: '{detail}' lacks '{expected}'");
    }
    // Parameter mistakes are refused at creation.
    for form in [
        vec![("input", "bad.csv"), ("rows", "0")],
        vec![("input", "bad.csv"), ("grid", "triangular")],
        vec![("input", "bad.csv"), ("init", "../other/codebook.fits")],
        vec![("input", "bad.csv"), ("wave_min", "6600"), ("wave_max", "6500")],
        vec![("input", "missing-folder")],
    ] {
        let response = app.post(&alice, "/uws/som", &form).send().await.unwrap();
        assert_eq!(response.status(), 400, "{form:?}");
    }
}

/// The viewer's "open in plotter" and "send through SAMP" targets: one codebook row and rows of
/// the input matrix, through `/plots/new?…&row=` and signed links with `row=`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_targets_open_codebook_rows_and_member_rows_in_the_plotter_and_over_signed_links() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let header: Vec<String> = (0..BINS).map(|j| format!("{}", 6400 + j)).collect();
    let mut csv = format!("name,label,{}\n", header.join(","));
    for i in 0..30 {
        let values: Vec<String> = spectrum(i).iter().map(|v| v.to_string()).collect();
        csv.push_str(&format!("star{i},{},{}\n", i % 2, values.join(",")));
    }
    app.upload(&alice, "tables/spectra.csv", csv.into_bytes()).await;
    let url = app.create_job(&alice, "som", &[("input", "tables/spectra.csv"), ("rows", "3"), ("cols", "3")]).await;
    assert_eq!(phase(&app.run_to_end(&alice, &url).await), "COMPLETED");
    let job = url.rsplit('/').next().unwrap().to_string();

    // The viewer learns where each member came from: the input file and its row.
    let viewer: serde_json::Value = result(&app, &alice, &url, "viewer.json").await.json().await.unwrap();
    assert_eq!(
        (viewer["input"].as_str(), viewer["input_is_folder"].as_bool()),
        (Some("tables/spectra.csv"), Some(false))
    );
    let members: serde_json::Value = result(&app, &alice, &url, "members.json").await.json().await.unwrap();
    let m = members["names"].as_array().unwrap().iter().position(|n| n == "star7").unwrap();
    assert_eq!((members["file"][m].as_str(), members["row"][m].as_u64()), (Some(""), Some(7)));

    // The plotter opens one codebook row, and chosen rows of the input matrix.
    for query in [format!("job={job}&result=codebook.fits&row=4"), "path=tables/spectra.csv&row=7&row=12".into()] {
        let r = app.get(&alice, &format!("/plots/new?{query}")).send().await.unwrap();
        assert_eq!(r.status(), 303, "{query}: {}", r.text().await.unwrap());
        assert!(crate::helpers::location(&r).contains("/plots/"));
    }
    for bad in ["path=tables/spectra.csv&row=30", "path=tables/spectra.csv&row=x"] {
        let r = app.get(&alice, &format!("/plots/new?{bad}")).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }

    // A signed link to one row serves that spectrum as a VOTable without credentials.
    let sign = |form: Vec<(&'static str, String)>| {
        let app = &app;
        let alice = &alice;
        async move {
            let r = app.client.post(app.url("/api/links")).basic_auth(&alice.name, Some(&alice.password));
            let r = r.form(&form).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()["url"].as_str().unwrap().to_string()
        }
    };
    let link = sign(vec![("path", "tables/spectra.csv".into()), ("row", "7".into())]).await;
    assert!(link.ends_with("?row=7"), "{link}");
    let r = app.client.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().contains("votable"));
    let doc = vocloud_workers::votable::read(&r.bytes().await.unwrap()).unwrap();
    let flux: Vec<f64> = doc.tables[0].rows.iter().map(|row| row[1].to_text().parse().unwrap()).collect();
    let expected: Vec<f64> = spectrum(7).iter().map(|&v| v as f64).collect();
    assert_eq!(flux.len(), BINS);
    assert!(flux.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-5), "row 7 is star7's spectrum");
    // The row is covered by the signature: another row is refused.
    let r = app.client.get(link.replace("?row=7", "?row=8")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let link = sign(vec![("job", job.clone()), ("result", "codebook.fits".into()), ("row", "4".into())]).await;
    assert_eq!(app.client.get(&link).send().await.unwrap().status(), 200);
}

/// ABORT is noticed between GEMM blocks inside an epoch, not only between epochs: with one worker
/// slot, a job queued behind a SOM aborted at the start of an epoch starts long before that epoch
/// would end. Progress reaches the job document up to 250 ms late, so epochs here last about a
/// second; the epoch length is read off the job's own progress (epoch 1 done → epoch 2 done).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_stops_a_som_job_in_the_middle_of_an_epoch() {
    let app = crate::helpers::spawn_app_with(|s| s.executors.local_workers = Some(1)).await;
    let alice = app.add_user("alice").await;
    let (n, d) = (60_000usize, 256usize);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.fits");
    {
        let desc =
            fitsio::images::ImageDescription { data_type: fitsio::images::ImageType::Float, dimensions: &[n, d] };
        let mut f = fitsio::FitsFile::create(&path).with_custom_primary(&desc).open().unwrap();
        let hdu = f.primary_hdu().unwrap();
        let flux: Vec<f32> =
            (0..n * d).map(|v| 1.0 + 0.3 * (((v / d) % 7) as f32 / 7.0) * ((v % d) as f32 / 9.0).sin()).collect();
        hdu.write_image(&mut f, &flux).unwrap();
        hdu.write_key(&mut f, "CRVAL1", 6300.0).unwrap();
        hdu.write_key(&mut f, "CDELT1", 1.5).unwrap();
    }
    app.upload(&alice, "big.fits", std::fs::read(&path).unwrap()).await;
    let form = [("input", "big.fits"), ("rows", "70"), ("cols", "70"), ("epochs", "6"), ("PHASE", "RUN")];
    let url = app.create_job(&alice, "som", &form).await;
    let started = std::time::Instant::now();
    let seen = |needle: &'static str| {
        let (app, alice, url) = (&app, &alice, &url);
        async move {
            loop {
                let doc = app.job(alice, url, None).await;
                if doc.contains(needle) {
                    return std::time::Instant::now();
                }
                assert!(started.elapsed().as_secs() < 300, "never saw '{needle}': {doc}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    };
    let first = seen("epoch 1/6:").await;
    let second = seen("epoch 2/6:").await;
    let epoch = (second - first).as_secs_f64();
    // Epoch 3 began at most one progress interval (250 ms) plus a poll ago.
    let aborted = std::time::Instant::now();
    app.post(&alice, &format!("{url}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
    // The single slot frees only when the SOM worker returns: time a tiny job queued behind it.
    let next = app.create_job(&alice, "diag", &[("duration", "0"), ("PHASE", "RUN")]).await;
    assert_eq!(phase(&app.run_to_end(&alice, &next).await), "COMPLETED");
    let stopped = aborted.elapsed().as_secs_f64();
    let doc = app.job(&alice, &url, None).await;
    assert_eq!(phase(&doc), "ABORTED");
    assert!(doc.contains("epoch 2/6:"), "epoch 3 had not finished when it stopped: {doc}");
    println!("one epoch {epoch:.2} s; slot free {stopped:.2} s after ABORT");
    // A stop only at the epoch's end would take at least epoch − 0.3 s here, more than the bound
    // below whenever epochs exceed 0.5 s (0.6–2 s measured on this machine).
    assert!(stopped < 0.4 * epoch, "stopped {stopped:.2} s after ABORT; an epoch takes {epoch:.2} s");
}
