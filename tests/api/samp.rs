//! `vocloud samp send` and `vocloud samp listen` against the real hubs (JSAMP, the one inside
//! TOPCAT, strict; astropy, lenient) and the real TOPCAT, with real third-party clients on the
//! other side of every exchange (JSAMP snooper and messagesender, astropy clients, a Web Profile
//! client), and a real `vocloud serve` to upload into; the browser module static/samp-web.js, the
//! plot page and the SOM viewer in headless Chromium against the hubs' Web Profile.
//!
//! The exchanges are scripted in tests/samp/*.sh, which run inside a private network namespace
//! (`unshare --net`, needs root as in CI): JSAMP listens on all interfaces, and the namespace keeps
//! that, and the fixed ports (the Web Profile's 21012), private to the test.

use std::process::Command;

use crate::helpers::spawn_app;

/// Runs a script of tests/samp in its own network namespace and checks its PASS lines.
fn script(name: &str, args: &[&str], passes: usize) {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("unshare")
        .args(["--net", "bash", &format!("{root}/tests/samp/{name}")])
        .args(args)
        .output()
        .expect("running unshare (util-linux; the SAMP tests need root for a private network namespace)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name} {args:?} failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("PASS")).count(), passes, "{stdout}");
}

fn python() -> String {
    std::env::var("VOCLOUD_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

const VOCLOUD: &str = env!("CARGO_BIN_EXE_vocloud");

fn exchange(hub: &str) {
    script("exchange.sh", &[hub, VOCLOUD, &python()], 16);
}

fn survive(hub: &str) {
    script("survive.sh", &[hub, VOCLOUD, &python()], 6);
}

/// static/samp-web.js in headless Chromium (Debian `chromium`) against the hub's Web Profile,
/// and what a web page may make the listener read.
fn web(hub: &str) {
    script("web.sh", &[hub, VOCLOUD, &python()], 4);
}

#[test]
fn samp_web_profile_with_the_jsamp_hub() {
    web("jsamp");
}

#[test]
fn samp_web_profile_with_the_astropy_hub() {
    web("astropy");
}

#[test]
fn samp_with_the_jsamp_hub() {
    exchange("jsamp");
}

#[test]
fn samp_with_the_astropy_hub() {
    exchange("astropy");
}

#[test]
fn samp_listener_survives_jsamp_hubs_and_send_says_what_happened() {
    survive("jsamp");
}

#[test]
fn samp_listener_survives_astropy_hubs_and_send_says_what_happened() {
    survive("astropy");
}

/// Debian's `topcat` on a virtual display (Xvfb), with the hub TOPCAT runs itself.
#[test]
fn samp_with_the_real_topcat() {
    script("topcat.sh", &[VOCLOUD, &python()], 7);
}

/// The plot page's and the SOM viewer's delivery reports, with only a table client and then a
/// spectrum client on a JSAMP hub.
#[test]
fn samp_delivery_reports_in_the_plot_page_and_the_som_viewer() {
    let modules = format!("{}/target/node/node_modules", env!("CARGO_MANIFEST_DIR"));
    script("pages.sh", &[VOCLOUD, &python(), &modules], 2);
}

/// What signed links and the plot page's SAMP links serve is told from the files' content, not
/// their names: a VOTable named `.fits`, a FITS file named `.vot`, one row of a FITS file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_formats_come_from_the_content() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let votable = b"<?xml version=\"1.0\"?>\n<VOTABLE version=\"1.4\"><RESOURCE><TABLE><FIELD name=\"wavelength\" datatype=\"double\"/>\
<FIELD name=\"flux\" datatype=\"double\"/><DATA><TABLEDATA><TR><TD>6500</TD><TD>1</TD></TR><TR><TD>6501</TD><TD>2</TD></TR>\
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>\n";
    app.upload(&alice, "s/really-a-votable.fits", votable.to_vec()).await;
    let dir = tempfile::tempdir().unwrap();
    let fits = dir.path().join("spectra.fits");
    {
        use fitsio::images::{ImageDescription, ImageType};
        let mut f = fitsio::FitsFile::create(&fits).open().unwrap();
        let desc = ImageDescription { data_type: ImageType::Float, dimensions: &[3, 16] };
        let hdu = f.create_image("SPECTRA", &desc).unwrap();
        hdu.write_key(&mut f, "CRVAL1", 6400.0).unwrap();
        hdu.write_key(&mut f, "CDELT1", 1.0).unwrap();
        hdu.write_image(&mut f, &[1.0f32; 48]).unwrap();
    }
    app.upload(&alice, "s/really-fits.vot", std::fs::read(&fits).unwrap()).await;

    let link = |form: Vec<(&'static str, &'static str)>| {
        let (app, alice) = (&app, &alice);
        async move {
            let r = app.post(alice, "/api/links", &form).send().await.unwrap();
            assert_eq!(r.status(), 200, "{form:?}");
            r.json::<serde_json::Value>().await.unwrap()["type"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(link(vec![("path", "s/really-a-votable.fits")]).await, "application/x-votable+xml");
    assert_eq!(link(vec![("path", "s/really-fits.vot")]).await, "application/fits");
    assert_eq!(link(vec![("path", "s/really-fits.vot"), ("row", "1")]).await, "application/x-votable+xml");

    // The plotter reads by extension, so its files are named right; the CSV is named .txt.
    app.upload(&alice, "s/spectra.fits", std::fs::read(&fits).unwrap()).await;
    app.upload(&alice, "s/table.txt", b"wavelength,flux\n6500,1.0\n6501,2.0\n".to_vec()).await;
    let r = app.get(&alice, "/plots/new?path=s/spectra.fits&path=s/table.txt").send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let page = crate::helpers::location(&r);
    let r =
        app.client.post(format!("{page}/samp")).basic_auth(&alice.name, Some(&alice.password)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let links: serde_json::Value = r.json().await.unwrap();
    assert_eq!(links["table"]["format"], "application/x-votable+xml");
    let formats: Vec<(&str, &str)> = links["spectra"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["format"].as_str().unwrap()))
        .collect();
    assert_eq!(formats, [("spectra.fits", "application/fits"), ("table.txt", "text/csv")]);
}
