//! The files pages over HTTP: paged and sorted listings of a big folder, previews (FITS header,
//! CSV and VOTable pages, text), zip downloads that unzip to what was uploaded, and the
//! selection actions (move, rename, delete after confirmation).

use std::io::Read;

use crate::helpers::spawn_app;
use crate::web::{Browser, flash, location};

/// A FITS file whose image extension holds `n` spectra of `len` points (linear WCS).
fn write_spectra(path: &std::path::Path, n: usize, len: usize) {
    use fitsio::images::{ImageDescription, ImageType};
    let mut f = fitsio::FitsFile::create(path).open().unwrap();
    let hdu =
        f.create_image("SPECTRA", &ImageDescription { data_type: ImageType::Float, dimensions: &[n, len] }).unwrap();
    hdu.write_key(&mut f, "CRVAL1", 4000.0).unwrap();
    hdu.write_key(&mut f, "CDELT1", 2.0).unwrap();
    let flux: Vec<f32> = (0..n * len).map(|i| 1.0 + (i % len) as f32 / len as f32).collect();
    hdu.write_image(&mut f, &flux).unwrap();
}

/// Names of the entries a files page lists, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("name=\"path\" value=\"").skip(1).map(|s| s[..s.find('"').unwrap()].to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_thousands_of_files_is_paged_folders_first_and_sorts_by_size() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "big/zz-sub/x.txt", b"x".to_vec()).await;
    let dir = app.data_dir.path().join("storage/users/alice/big");
    for i in 0..2500 {
        std::fs::write(dir.join(format!("f{i:04}.dat")), vec![b'.'; i % 97]).unwrap();
    }
    let browser = Browser::log_in(&app, &alice).await;
    let (status, first) = browser.get("/files/big/").await;
    assert_eq!(status, 200);
    let names = listed(&first);
    assert_eq!(names.len(), 100);
    assert_eq!(names[0], "big/zz-sub", "folders first");
    assert_eq!(names[1], "big/f0000.dat");
    assert!(first.contains("1–100 of 2501"), "counts");
    let (_, third) = browser.get("/files/big/?sort=name&page=2").await;
    assert_eq!(listed(&third)[0], "big/f0199.dat");
    assert!(third.contains("201–300 of 2501"));
    let (_, by_size) = browser.get("/files/big/?sort=size&desc=1").await;
    let names = listed(&by_size);
    assert_eq!(names[0], "big/zz-sub", "folders stay first when sorted by size");
    let largest = std::fs::metadata(dir.join(names[1].trim_start_matches("big/"))).unwrap().len();
    assert_eq!(largest, 96);
    assert!(by_size.contains("aria-sort=\"descending\""));
    let (_, last) = browser.get("/files/big/?page=25").await;
    assert_eq!(listed(&last).len(), 1, "the last page holds the rest");
    let (status, _) = browser.get("/files/big/?page=9999").await;
    assert_eq!(status, 200, "past the end is an empty page, not an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_show_fits_headers_and_page_through_tables() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let mut csv = String::from("name,flux\n");
    for i in 0..120 {
        csv.push_str(&format!("star{i},{}\n", i as f64 / 10.0));
    }
    app.upload(&alice, "t/stars.csv", csv.into_bytes()).await;
    let mut table = vocloud_workers::votable::Table::new(
        "t",
        vec![vocloud_workers::votable::Field::new("n", vocloud_workers::votable::Datatype::Long).unit("count")],
    );
    for i in 0..75 {
        table.push(vec![vocloud_workers::votable::Value::Int(i)]);
    }
    app.upload(&alice, "t/n.vot", table.to_bytes()).await;
    let fits = tempfile::tempdir().unwrap();
    let path = fits.path().join("s.fits");
    write_spectra(&path, 3, 50);
    app.upload(&alice, "t/s.fits", std::fs::read(&path).unwrap()).await;
    let browser = Browser::log_in(&app, &alice).await;

    let (_, page) = browser.get("/files/t/stars.csv").await;
    assert!(page.contains("rows 1–50") && page.contains("star49") && !page.contains("star50<"), "first page");
    let (_, page) = browser.get("/files/t/stars.csv?row=100").await;
    assert!(page.contains("rows 101–120") && page.contains("star119"), "last page");
    let (_, page) = browser.get("/files/t/n.vot?row=50").await;
    assert!(page.contains("rows 51–75 of 75") && page.contains("n [count]"), "{page}");
    let (_, page) = browser.get("/files/t/s.fits").await;
    assert!(page.contains("Primary header") && page.contains("CRVAL1") && page.contains("Extension 1"), "{page}");
    assert!(page.contains("/files-plot.png?path=t%2Fs.fits"), "a quick plot");
    let png = app
        .client
        .get(app.url("/files-plot.png?path=t%2Fs.fits"))
        .header("Cookie", &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_and_selections_download_as_zips_that_unzip_to_the_originals() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    app.upload(&alice, "run/a.txt", b"alpha".to_vec()).await;
    app.upload(&alice, "run/deep/b.bin", big.clone()).await;
    app.upload(&alice, "other.txt", b"other".to_vec()).await;
    let browser = Browser::log_in(&app, &alice).await;
    let response = app.client.get(app.url("/zip/run")).header("Cookie", &browser.cookie).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("run.zip"));
    let bytes = response.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["run/", "run/a.txt", "run/deep/", "run/deep/b.bin"]);
    let mut content = Vec::new();
    zip.by_name("run/deep/b.bin").unwrap().read_to_end(&mut content).unwrap();
    assert_eq!(content, big);

    let selection =
        browser.post("/files/act", &[("action", "zip"), ("path", "run/a.txt"), ("path", "other.txt")]).await;
    assert_eq!(selection.status(), 200);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(selection.bytes().await.unwrap())).unwrap();
    let mut text = String::new();
    zip.by_name("other.txt").unwrap().read_to_string(&mut text).unwrap();
    assert_eq!(text, "other");
    assert_eq!(zip.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selected_files_move_rename_and_delete_after_confirmation() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    for name in ["a.fits", "b.fits", "c.fits"] {
        app.upload(&alice, &format!("in/{name}"), b"SIMPLE".to_vec()).await;
    }
    let browser = Browser::log_in(&app, &alice).await;
    let exists =
        async |path: &str| app.get(&alice, &format!("/api/files/{path}")).send().await.unwrap().status() == 200;

    let plot = browser
        .post("/files/act", &[("action", "plot"), ("dir", "in"), ("path", "in/a.fits"), ("path", "in/b.fits")])
        .await;
    assert_eq!(location(&plot), "/plots/new?path=in%2Fa.fits&path=in%2Fb.fits");
    let input = browser.post("/files/act", &[("action", "input"), ("dir", "in"), ("path", "in")]).await;
    assert_eq!(location(&input), "/jobs/new?input=in");

    let rename = browser
        .post("/files/move", &[("dir", "in"), ("path", "in/a.fits"), ("mode", "rename"), ("to", "in/renamed.fits")])
        .await;
    assert_eq!(flash(&rename), "ok.Moved 1 item.");
    assert!(exists("in/renamed.fits").await && !exists("in/a.fits").await);
    let into = browser
        .post(
            "/files/move",
            &[("dir", "in"), ("path", "in/b.fits"), ("path", "in/c.fits"), ("mode", "into"), ("to", "out")],
        )
        .await;
    assert_eq!(location(&into), "/files/out");
    assert!(exists("out/b.fits").await && exists("out/c.fits").await);
    let clash = browser
        .post("/files/move", &[("dir", "out"), ("path", "out/b.fits"), ("mode", "rename"), ("to", "out/c.fits")])
        .await;
    assert_eq!(flash(&clash), "error.'out/c.fits' exists already");
    let escape = browser
        .post("/files/move", &[("dir", "out"), ("path", "out/b.fits"), ("mode", "rename"), ("to", "../bob/x")])
        .await;
    assert_eq!(escape.status(), 400, "paths cannot leave the storage");

    let ask = browser
        .post("/files/act", &[("action", "delete"), ("dir", "out"), ("path", "out/b.fits"), ("path", "out")])
        .await;
    assert_eq!(ask.status(), 200);
    assert!(ask.text().await.unwrap().contains("Delete 2 items?"));
    assert!(exists("out/b.fits").await, "nothing deleted before confirming");
    let deleted = browser.post("/files/delete", &[("dir", ""), ("path", "out"), ("confirmed", "1")]).await;
    assert_eq!(flash(&deleted), "ok.Deleted 1 item.");
    assert!(!exists("out").await);

    let folder = browser.post("/files/mkdir", &[("dir", ""), ("name", "a/b")]).await;
    assert!(flash(&folder).starts_with("error."), "one name, no slashes");
    let hidden = browser.post("/files/mkdir", &[("dir", ""), ("name", ".secret")]).await;
    assert!(flash(&hidden).contains("reserved"), "{}", flash(&hidden));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_percent_plus_slash_and_hash_survive_uploads_links_and_pages() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    // As the upload script sends it: encodeURIComponent per segment.
    app.upload(&alice, "odd%20dir/a%2Bb%25c%20d%23.txt", b"odd".to_vec()).await;
    let listing: serde_json::Value =
        app.get(&alice, "/api/files/odd%20dir").send().await.unwrap().json().await.unwrap();
    assert_eq!(listing["entries"][0]["name"], "a+b%c d#.txt", "stored under its real name");
    let browser = Browser::log_in(&app, &alice).await;
    let (_, folder) = browser.get("/files/odd%20dir/").await;
    let href = folder.split("href=\"").find(|s| s.starts_with("/files/odd%20dir/a")).expect("a link to the file");
    let href = &href[..href.find('"').unwrap()];
    assert_eq!(href, "/files/odd%20dir/a%2Bb%25c%20d%23.txt");
    let (status, page) = browser.get(href).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("a+b%c d#.txt"));
    let made = browser.post("/experiments", &[("name", "a/b & c%+")]).await;
    assert_eq!(location(&made), "/experiments/a%2Fb%20%26%20c%25%2B");
    let (status, page) = browser.get(&location(&made)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("a/b &#38; c%+") || page.contains("a/b &amp; c%+"), "{page}");
}
