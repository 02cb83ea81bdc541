//! The `import` kind through the real server over UWS, against a local archive ([`Archive`]):
//! SSAP query, uploaded VOTable, remote VOTable, directory walk, DataLink, retries, broken, slow
//! and huge links, Basic auth from a credentials file, resuming, and the SSRF guard.

use serde_json::Value as Json;

use crate::archive::{Archive, spectrum};
use crate::helpers::{TestApp, User, element, phase, spawn_app, spawn_app_with};

/// The server with imports allowed to reach 127.0.0.1 (the archive runs there).
async fn app() -> TestApp {
    spawn_app_with(|s| s.import.allow_private_addresses = true).await
}

async fn file(app: &TestApp, user: &User, path: &str) -> Option<Vec<u8>> {
    let response = app.get(user, &format!("/api/files/{path}")).send().await.unwrap();
    if response.status() == 404 { None } else { Some(response.bytes().await.unwrap().to_vec()) }
}

async fn report(app: &TestApp, user: &User, job: &str) -> Json {
    let response = app.get(user, &format!("{job}/results/report.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn by_name<'a>(report: &'a Json, name: &str) -> &'a Json {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssap_import_downloads_what_it_can_and_reports_the_rest() {
    let vault = Archive::start();
    let archive = Archive::start_with_vault(Some(&vault.base));
    let app = app().await;
    let alice = app.add_user("alice").await;
    let vault_authority = vault.base.trim_start_matches("http://");
    let secrets = format!("# host[:port] login password\n{vault_authority} alice s3cret\n");
    app.upload(&alice, "secrets/archives.txt", secrets.into_bytes()).await;

    let ssap = format!("{}/ssap", archive.base);
    let form = [
        ("ssap", ssap.as_str()),
        ("pos", "10.5,-3.25"),
        ("size", "0.1"),
        ("format", "fits"),
        ("folder", "imports/run1"),
        ("concurrency", "3"),
        ("retries", "2"),
        ("timeout", "2"),
        ("max_file_mb", "1"),
        ("credentials", "secrets/archives.txt"),
    ];
    let job = app.create_job(&alice, "import", &form).await;
    let doc = app.run_to_end(&alice, &job).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    assert!(archive.requests.lock().unwrap().iter().any(|r| r.path.contains("REQUEST=queryData")
        && r.path.contains("POS=10.5%2C-3.25")
        && r.path.contains("FORMAT=fits")));

    for name in ["a.fits", "b.fits"] {
        assert_eq!(
            file(&app, &alice, &format!("imports/run1/{name}")).await.unwrap(),
            spectrum(&format!("/spectra/{name}"))
        );
    }
    let r = report(&app, &alice, &job).await;
    assert_eq!(r["downloaded"], 5, "{r:#}");
    assert_eq!(r["failed"], 3, "{r:#}");
    assert_eq!(by_name(&r, "f.fits")["status"], "downloaded", "retried past two HTTP 500s");
    assert_eq!(by_name(&r, "f.fits")["attempts"], 3);
    assert_eq!(file(&app, &alice, "imports/run1/p.fits").await.unwrap(), spectrum("/protected/p.fits"), "Basic auth");
    // DataLink: the row's access reference is a links document; its #this link was fetched.
    let dl = r["files"].as_array().unwrap().iter().find(|f| f["url"].as_str().unwrap().contains("datalink")).unwrap();
    assert_eq!(dl["status"], "downloaded");
    assert_eq!(
        file(&app, &alice, &format!("imports/run1/{}", dl["name"].as_str().unwrap())).await.unwrap(),
        spectrum("/spectra/c.fits")
    );
    assert_eq!(archive.count("/preview.png"), 0);

    assert!(by_name(&r, "missing.fits")["error"].as_str().unwrap().contains("404"), "{r:#}");
    assert!(by_name(&r, "s.fits")["error"].as_str().unwrap().contains("timed out"), "{r:#}");
    assert!(by_name(&r, "h.fits")["error"].as_str().unwrap().contains("limit"), "{r:#}");
    for failed in ["missing.fits", "s.fits", "h.fits"] {
        assert!(file(&app, &alice, &format!("imports/run1/{failed}")).await.is_none(), "{failed} left behind");
    }
    let listing: Json = app.get(&alice, "/api/files/imports/run1").send().await.unwrap().json().await.unwrap();
    assert!(!listing.to_string().contains(".partial"), "no partial files: {listing}");

    // The password went only to its host:port; parameters show the file name, not the secret.
    assert!(archive.requests.lock().unwrap().iter().all(|r| r.authorization.is_none()));
    let vault_log = vault.requests.lock().unwrap().clone();
    assert!(!vault_log.is_empty() && vault_log.iter().all(|r| r.authorization.is_some()), "{vault_log:?}");
    let params = app.get(&alice, &format!("{job}/parameters")).send().await.unwrap().text().await.unwrap();
    assert!(params.contains("secrets/archives.txt") && !params.contains("s3cret"), "{params}");

    // The VOTable report passes votlint and lists the same outcomes.
    let vot = app.get(&alice, &format!("{job}/results/report.vot")).send().await.unwrap().bytes().await.unwrap();
    let path = app.data_dir.path().join("report.vot");
    std::fs::write(&path, &vot).unwrap();
    let lint = crate::votable::votlint(&path);
    assert!(lint.is_empty(), "votlint: {lint}");
    let table = &vocloud_workers::votable::read(&vot).unwrap().tables[0];
    assert_eq!(table.rows.len(), 8);

    // Resuming: a second run keeps what is there and fetches only what failed.
    let before = archive.count("/spectra/a.fits");
    let again = app.create_job(&alice, "import", &form).await;
    assert_eq!(phase(&app.run_to_end(&alice, &again).await), "COMPLETED");
    let r2 = report(&app, &alice, &again).await;
    assert_eq!(r2["kept"], 5, "{r2:#}");
    assert_eq!(archive.count("/spectra/a.fits"), before, "a kept file is not fetched again");
    assert!(archive.count("/spectra/missing.fits") > 1, "failures are tried again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_and_remote_votables_and_directories() {
    let archive = Archive::start();
    let app = app().await;
    let bob = app.add_user("bob").await;

    // A TOPCAT-style list: the URL column has no UCD, so the user names it.
    let mut list = vocloud_workers::votable::Table::new(
        "list",
        vec![
            vocloud_workers::votable::Field::new("object", vocloud_workers::votable::Datatype::Char),
            vocloud_workers::votable::Field::new("link", vocloud_workers::votable::Datatype::Char),
        ],
    );
    for (object, path) in [("star A", "/spectra/a.fits"), ("star B", "/spectra/b.fits")] {
        list.push(vec![
            vocloud_workers::votable::Value::Text(object.into()),
            vocloud_workers::votable::Value::Text(format!("{}{path}", archive.base)),
        ]);
    }
    let mut binary = Vec::new();
    list.write_as(&mut binary, vocloud_workers::votable::Version::V1_3, vocloud_workers::votable::Encoding::Binary2)
        .unwrap();
    app.upload(&bob, "lists/topcat.vot", binary).await;
    let job = app
        .create_job(
            &bob,
            "import",
            &[("votable", "lists/topcat.vot"), ("column", "link"), ("name_column", "object"), ("folder", "by-name")],
        )
        .await;
    assert_eq!(phase(&app.run_to_end(&bob, &job).await), "COMPLETED");
    assert_eq!(file(&app, &bob, "by-name/star_A").await.unwrap(), spectrum("/spectra/a.fits"));
    assert_eq!(file(&app, &bob, "by-name/star_B").await.unwrap(), spectrum("/spectra/b.fits"));

    // Without `column` and no recognisable column: an ERROR that lists the columns.
    let job = app.create_job(&bob, "import", &[("votable", "lists/topcat.vot"), ("folder", "x")]).await;
    let doc = app.run_to_end(&bob, &job).await;
    assert_eq!(phase(&doc), "ERROR");
    let message = element(&doc, "message").unwrap();
    assert!(
        message.contains("lists/topcat.vot") && message.contains("column") && message.contains("link"),
        "{message}"
    );

    // A remote VOTable (the SSAP result fetched directly).
    let url = format!("{}/ssap?REQUEST=queryData&amp;POS=1,2", archive.base).replace("&amp;", "&");
    let job = app
        .create_job(
            &bob,
            "import",
            &[("url", &url), ("folder", "remote"), ("timeout", "2"), ("max_file_mb", "1"), ("retries", "0")],
        )
        .await;
    assert_eq!(phase(&app.run_to_end(&bob, &job).await), "COMPLETED");
    assert!(file(&app, &bob, "remote/a.fits").await.is_some());

    // A directory tree: sub-folders followed, parent and outside links and sort links not.
    let dir = format!("{}/dir/", archive.base);
    let job = app.create_job(&bob, "import", &[("directory", &dir), ("folder", "mirror"), ("accept", ".fits")]).await;
    assert_eq!(phase(&app.run_to_end(&bob, &job).await), "COMPLETED");
    assert_eq!(file(&app, &bob, "mirror/a.fits").await.unwrap(), spectrum("/dir/a.fits"));
    assert_eq!(file(&app, &bob, "mirror/sub/e.fits").await.unwrap(), spectrum("/dir/sub/e.fits"));
    assert!(file(&app, &bob, "mirror/notes.txt").await.is_none(), "accept filters");
    assert_eq!(archive.count("/elsewhere/x.fits"), 0);
    assert_eq!(archive.count("/"), 0, "never climbs to the parent");
    let r = report(&app, &bob, &job).await;
    assert_eq!((r["downloaded"].as_u64(), r["failed"].as_u64()), (Some(2), Some(1)), "{r:#}");
    assert!(by_name(&r, "broken.fits")["error"].as_str().unwrap().contains("404"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_by_default_and_bad_parameters_are_400() {
    let archive = Archive::start();
    let app = spawn_app().await;
    let eve = app.add_user("eve").await;
    let url = format!("{}/spectra/a.fits", archive.base);
    let job = app.create_job(&eve, "import", &[("url", &url), ("folder", "x")]).await;
    let doc = app.run_to_end(&eve, &job).await;
    assert_eq!(phase(&doc), "ERROR");
    let message = element(&doc, "message").unwrap();
    assert!(message.contains("refused") && message.contains("127.0.0.1"), "{message}");
    assert!(archive.requests.lock().unwrap().is_empty(), "nothing reached the archive");

    for form in [
        vec![("url", "file:///etc/passwd"), ("folder", "x")],
        vec![("url", "http://h/a.vot"), ("directory", "http://h/"), ("folder", "x")],
        vec![("folder", "x")],
        vec![("url", "http://h/a.vot"), ("folder", "../../etc")],
        vec![("url", "http://h/a.vot"), ("folder", "/etc")],
        vec![("ssap", "http://h/ssap"), ("folder", "x")],
        vec![("ssap", "http://h/ssap"), ("pos", "north"), ("folder", "x")],
        vec![("votable", "no/such.vot"), ("folder", "x")],
        vec![("url", "http://h/a.vot")],
    ] {
        let response = app.post(&eve, "/uws/import", &form).send().await.unwrap();
        assert_eq!(response.status(), 400, "{form:?}: {}", response.text().await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_import_stops_fetching() {
    use vocloud_workers::votable::{Datatype, Field, Table, Value};
    let archive = Archive::start();
    let app = app().await;
    let carol = app.add_user("carol").await;
    // A stuck link first, then files that must never be fetched once the job is aborted.
    let mut list = Table::new("list", vec![Field::new("url", Datatype::Char)]);
    list.push(vec![Value::Text(format!("{}/slow/s.fits?hold=3", archive.base))]);
    for name in ["a.fits", "b.fits", "c.fits"] {
        list.push(vec![Value::Text(format!("{}/spectra/{name}", archive.base))]);
    }
    app.upload(&carol, "lists/slow.vot", list.to_bytes()).await;
    let job = app
        .create_job(
            &carol,
            "import",
            &[("votable", "lists/slow.vot"), ("folder", "x"), ("concurrency", "1"), ("timeout", "60")],
        )
        .await;
    let response = app.post(&carol, &format!("{job}/phase"), &[("PHASE", "RUN")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while archive.count("/slow/s.fits?hold=3") == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the slow link was never requested");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let response = app.post(&carol, &format!("{job}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let doc = app.wait_until_not(&carol, &job, &["QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "ABORTED");
    // The stuck read ends at once (the read watches the cancel token); nothing after it is fetched.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    for name in ["a.fits", "b.fits", "c.fits"] {
        assert_eq!(archive.count(&format!("/spectra/{name}")), 0, "{name} fetched after ABORT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_ends_an_import_stalled_in_a_read_at_once() {
    use std::time::{Duration, Instant};
    use vocloud_workers::votable::{Datatype, Field, Table, Value};
    let archive = Archive::start();
    // One job slot: the next job can only run once the stalled import has really ended.
    let app = spawn_app_with(|s| {
        s.import.allow_private_addresses = true;
        s.executors.local_workers = Some(1);
    })
    .await;
    let dave = app.add_user("dave").await;
    // Headers, 7 bytes, then silence for 30 s; the import would wait up to its 60 s timeout.
    let mut list = Table::new("list", vec![Field::new("url", Datatype::Char)]);
    list.push(vec![Value::Text(format!("{}/slow/s.fits?hold=30", archive.base))]);
    app.upload(&dave, "lists/stall.vot", list.to_bytes()).await;
    let form = [("votable", "lists/stall.vot"), ("folder", "x"), ("timeout", "60"), ("retries", "0")];
    let job = app.create_job(&dave, "import", &form).await;
    let response = app.post(&dave, &format!("{job}/phase"), &[("PHASE", "RUN")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let requested = || async { archive.count("/slow/s.fits?hold=30") > 0 };
    let what = || "the stalled link was never requested".to_string();
    crate::helpers::eventually(Duration::from_secs(20), Duration::from_millis(50), what, requested).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // well inside the stalled read
    let aborted = Instant::now();
    let response = app.post(&dave, &format!("{job}/phase"), &[("PHASE", "ABORT")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(phase(&app.wait_until_not(&dave, &job, &["QUEUED", "EXECUTING"]).await), "ABORTED");
    // The slot is free again only when the import's thread has returned.
    let next = app.create_job(&dave, "diag", &[("PHASE", "RUN")]).await;
    let doc = app.wait_until_not(&dave, &next, &["PENDING", "QUEUED", "EXECUTING"]).await;
    assert_eq!(phase(&doc), "COMPLETED");
    let took = aborted.elapsed();
    assert!(took < Duration::from_secs(3), "the stalled import held its slot for {took:?} after ABORT");
    assert!(file(&app, &dave, "x/s.fits").await.is_none(), "no partial file under the real name");
}
