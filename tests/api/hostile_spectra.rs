//! Hostile spectra files (issue 11): each attack is generated here, uploaded, and opened the
//! ways a user can — the plot page, a signed `/shared/…?row=` link with no login, a `som` job,
//! an `import` — and must be refused with a precise 400/413 or end a job in ERROR naming the
//! file, while the server keeps answering. Before the one spectra reader, the FITS headers
//! aborted the process (an 8 TiB allocation after the size product wrapped to 0) and the VOTable
//! took 1.1 GB.

use crate::helpers::{TestApp, User, phase, spawn_app};

/// A FITS header of `cards`, END, padded to 2,880-byte blocks.
fn header(cards: &[&str]) -> Vec<u8> {
    let mut out: Vec<u8> =
        cards.iter().chain(std::iter::once(&"END")).flat_map(|c| format!("{c:<80}").into_bytes()).collect();
    out.resize(out.len().div_ceil(2880) * 2880, b' ');
    out
}

/// A binary table extension after an empty primary HDU, with `data` bytes of rows.
fn table(naxis1: u64, naxis2: u64, tforms: &[(&str, &str)], data: usize) -> Vec<u8> {
    let mut bytes = header(&["SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 0", "EXTEND  = T"]);
    let mut cards = vec![
        "XTENSION= 'BINTABLE'".to_string(),
        "BITPIX  = 8".into(),
        "NAXIS   = 2".into(),
        format!("NAXIS1  = {naxis1}"),
        format!("NAXIS2  = {naxis2}"),
        "PCOUNT  = 0".into(),
        "GCOUNT  = 1".into(),
        format!("TFIELDS = {}", tforms.len()),
    ];
    for (i, (name, form)) in tforms.iter().enumerate() {
        cards.push(format!("TTYPE{}  = '{name}'", i + 1));
        cards.push(format!("TFORM{}  = '{form}'", i + 1));
    }
    bytes.extend(header(&cards.iter().map(String::as_str).collect::<Vec<_>>()));
    bytes.extend(vec![0u8; data]);
    bytes
}

/// `GET /plots/new?path=…`: the status and the body.
async fn plot(app: &TestApp, user: &User, path: &str) -> (u16, String) {
    let r = app.get(user, &format!("/plots/new?path={path}")).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A job run to its end: its phase and error summary.
async fn job(app: &TestApp, user: &User, kind: &str, form: &[(&str, &str)]) -> (String, String) {
    let url = app.create_job(user, kind, form).await;
    let doc = app.run_to_end(user, &url).await;
    let detail = app.get(user, &format!("{url}/error")).send().await.unwrap().text().await.unwrap();
    (phase(&doc), detail)
}

/// The server still answers after an attack.
async fn alive(app: &TestApp, user: &User) {
    assert_eq!(app.get(user, "/uws/som").send().await.unwrap().status(), 200, "the server keeps serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fits_header_declaring_2_to_the_64_bytes_is_refused_by_the_plot_page_and_signed_links() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let lie = header(&["SIMPLE  = T", "BITPIX  = -32", "NAXIS   = 2", "NAXIS1  = 1099511627776", "NAXIS2  = 16777216"]);
    assert_eq!(lie.len(), 2880);
    app.upload(&alice, "o.fits", lie).await;
    let (status, body) = plot(&app, &alice, "o.fits").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("o.fits") && body.contains("holds more data than any file can"), "{body}");

    // The same file through a signed link with row=0, which needs no login.
    let r = app.client.post(app.url("/api/links")).basic_auth(&alice.name, Some(&alice.password));
    let r = r.form(&[("path", "o.fits"), ("row", "0")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let link = r.json::<serde_json::Value>().await.unwrap()["url"].as_str().unwrap().to_string();
    let r = app.client.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("more data than any file"));
    alive(&app, &alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_som_job_on_a_fits_declaring_a_4_tib_spectrum_ends_in_error() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let lie = header(&[
        "SIMPLE  = T",
        "BITPIX  = -32",
        "NAXIS   = 1",
        "NAXIS1  = 1099511627776",
        "CRVAL1  = 6000.0",
        "CDELT1  = 1.0",
    ]);
    app.upload(&alice, "big/huge.fits", lie).await;
    let (phase, detail) = job(&app, &alice, "som", &[("input", "big"), ("rows", "3"), ("cols", "3")]).await;
    assert_eq!(phase, "ERROR");
    assert!(detail.contains("big/huge.fits: truncated: HDU 0 declares 4.0 TiB of data"), "{detail}");
    alive(&app, &alice).await;
}

/// 20,000 FIELDs and 200,000 empty rows: 138 KB that became 1.1 GB of null cells (1.7 GB on
/// import), and the 1.7 MB variant that aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_votable_of_empty_rows_under_20000_fields_is_refused_by_the_plot_page_and_import() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let fields: String = (0..20_000).map(|i| format!("<FIELD name=\"f{i}\" datatype=\"double\"/>")).collect();
    for (name, rows) in [("small.vot", 200_000), ("large.vot", 1_000_000)] {
        let text = format!(
            "<VOTABLE version=\"1.4\"><RESOURCE><TABLE>{fields}<DATA><TABLEDATA>{}</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
            "<TR/>".repeat(rows)
        );
        app.upload(&alice, &format!("vot/{name}"), text.into_bytes()).await;
        let (status, body) = plot(&app, &alice, &format!("vot/{name}")).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert!(body.contains("row 1 has 0 cells for 20000 fields"), "{name}: {body}");
        let source = format!("vot/{name}");
        let (phase, detail) = job(&app, &alice, "import", &[("votable", &source), ("folder", "imported")]).await;
        assert_eq!(phase, "ERROR", "{name}");
        assert!(detail.contains("row 1 has 0 cells"), "{name}: {detail}");
    }
    alive(&app, &alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_votables_with_lying_array_counts_are_refused() {
    use base64::Engine as _;
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let doc = |serialisation: &str, stream: &[u8]| {
        format!(
            "<VOTABLE version=\"1.4\"><RESOURCE><TABLE><FIELD name=\"wavelength\" datatype=\"double\" arraysize=\"*\"/>\
             <FIELD name=\"flux\" datatype=\"double\" arraysize=\"*\"/><DATA><{serialisation}><STREAM encoding=\"base64\">{}\
             </STREAM></{serialisation}></DATA></TABLE></RESOURCE></VOTABLE>",
            base64::engine::general_purpose::STANDARD.encode(stream)
        )
    };
    // An array count of 2^31 − 1 items in a 12-byte stream (BINARY2: a null mask first).
    let cases = [
        ("b1.vot", doc("BINARY", &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0])),
        ("b2.vot", doc("BINARY2", &[0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0])),
    ];
    for (name, text) in cases {
        app.upload(&alice, &format!("vot/{name}"), text.into_bytes()).await;
        let (status, body) = plot(&app, &alice, &format!("vot/{name}")).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert!(body.contains(name) && body.contains("item count 2147483647 exceeds the stream"), "{body}");
    }
    alive(&app, &alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_line_of_a_million_columns_is_refused_within_the_budget() {
    let app = crate::helpers::spawn_app_with(|s| s.plots.max_bytes_per_user = 4 << 20).await;
    let alice = app.add_user("alice").await;
    let header: String = (0..1_000_000).map(|i| format!(",{i}")).collect();
    app.upload(&alice, "wide.csv", format!("name{header}\n").into_bytes()).await;
    let (status, body) = plot(&app, &alice, "wide.csv").await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("wide.csv: the grid needs 7.6 MiB but the read's memory budget of 4.0 MiB"), "{body}");
    alive(&app, &alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fits_tables_with_lying_row_counts_or_repeat_counts_are_refused() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let cols = [("WAVELENGTH", "1000D"), ("FLUX", "1000E")];
    let cases = [
        ("rows.fits", table(12_000, 1 << 40, &cols, 12_000), "truncated: HDU 1 declares"),
        (
            "repeat.fits",
            table(12, 1, &[("WAVELENGTH", "2000000000D"), ("FLUX", "E")], 12),
            "but NAXIS1 declares rows of 12",
        ),
        ("vla.fits", table(16, 1, &[("WAVELENGTH", "1PD(10)"), ("FLUX", "1PE(10)")], 16), "no 1-D or 2-D image"),
    ];
    for (name, bytes, expected) in cases {
        app.upload(&alice, &format!("t/{name}"), bytes).await;
        let (status, body) = plot(&app, &alice, &format!("t/{name}")).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert!(body.contains(name) && body.contains(expected), "{name}: {body}");
    }
    alive(&app, &alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_truncated_and_all_nan_spectra_are_refused_by_plots_and_jobs() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let mut truncated =
        header(&["SIMPLE  = T", "BITPIX  = -32", "NAXIS   = 1", "NAXIS1  = 1000", "CRVAL1  = 6000.0", "CDELT1  = 1.0"]);
    truncated.extend(vec![0u8; 400]);
    let mut nan =
        header(&["SIMPLE  = T", "BITPIX  = -32", "NAXIS   = 1", "NAXIS1  = 4", "CRVAL1  = 6000.0", "CDELT1  = 1.0"]);
    nan.extend(f32::NAN.to_be_bytes().repeat(4));
    nan.resize(5760, 0);
    let cases: [(&str, Vec<u8>, &str, &str); 5] = [
        ("empty.fits", Vec::new(), "the file is empty", "the file is empty"),
        ("empty.vot", Vec::new(), "not a VOTable", "not a VOTable"),
        ("truncated.fits", truncated, "truncated: HDU 0 declares 3.9 KiB", "truncated: HDU 0"),
        ("nan.fits", nan, "no finite values to plot", "has no finite flux value (all NaN)"),
        (
            "nan.csv",
            b"wave,flux\n1,nan\n2,NaN\n".to_vec(),
            "no finite values to plot",
            "has no finite flux value (all NaN)",
        ),
    ];
    for (name, bytes, for_plot, for_job) in cases {
        app.upload(&alice, &format!("bad/{name}"), bytes).await;
        let (status, body) = plot(&app, &alice, &format!("bad/{name}")).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert!(body.contains(for_plot), "{name}: {body}");
        let input = format!("bad/{name}");
        let (phase, detail) = job(&app, &alice, "som", &[("input", &input), ("rows", "2"), ("cols", "2")]).await;
        assert_eq!(phase, "ERROR", "{name}");
        assert!(detail.contains(&input) && detail.contains(for_job), "{name}: {detail}");
    }
    alive(&app, &alice).await;
}
