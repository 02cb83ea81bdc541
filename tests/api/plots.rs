//! Plot sessions over HTTP and a real WebSocket: frames with the expected axis ranges after
//! pan/zoom/home/back, one frame in flight with input coalescing, bad messages closing the
//! socket, ownership (404 for others), per-user limits, exports, FITS input, the login cookie.

use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::helpers::{TestApp, User, location, spawn_app, spawn_app_with};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `n` spectra of `len` points on 4000..4000+len Å, one per row of a wide CSV.
fn wide_csv(n: usize, len: usize) -> String {
    let mut out = String::from("name");
    for i in 0..len {
        out.push_str(&format!(",{}", 4000 + i));
    }
    out.push('\n');
    for k in 0..n {
        out.push_str(&format!("star{k}"));
        for i in 0..len {
            out.push_str(&format!(",{}", k as f64 + ((i as f64) / 10.0).sin()));
        }
        out.push('\n');
    }
    out
}

/// Opens a plot of `query` and returns its page URL.
pub(crate) async fn open(app: &TestApp, user: &User, query: &str) -> String {
    let response = app.get(user, &format!("/plots/new?{query}")).send().await.unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    location(&response)
}

pub(crate) async fn connect(app: &TestApp, user: &User, page: &str) -> Result<Socket, tungstenite::Error> {
    let url = format!("{}/ws", page.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user.name, user.password));
    request.headers_mut().insert("Authorization", format!("Basic {auth}").parse().unwrap());
    let _ = app;
    tokio_tungstenite::connect_async(request).await.map(|(s, _)| s)
}

pub(crate) async fn send(ws: &mut Socket, msg: Value) {
    ws.send(Message::text(msg.to_string())).await.unwrap();
}

pub(crate) async fn next(ws: &mut Socket) -> Message {
    tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("a message in time").unwrap().unwrap()
}

/// The next JSON text message of type `kind`, skipping others.
pub(crate) async fn next_json(ws: &mut Socket, kind: &str) -> Value {
    loop {
        if let Message::Text(t) = next(ws).await {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

/// The next frame: its metadata and PNG; acks it.
pub(crate) async fn frame(ws: &mut Socket) -> (Value, Vec<u8>) {
    let meta = next_json(ws, "frame").await;
    let Message::Binary(png) = next(ws).await else { panic!("frame metadata must be followed by the PNG") };
    assert!(png.starts_with(b"\x89PNG"), "frames are PNG");
    send(ws, json!({"type": "ack"})).await;
    (meta, png.to_vec())
}

/// The close frame the server sent.
async fn closed(ws: &mut Socket) -> (CloseCode, String) {
    loop {
        match next(ws).await {
            Message::Close(Some(f)) => return (f.code, f.reason.to_string()),
            Message::Close(None) => panic!("closed without a reason"),
            _ => continue,
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pan_zoom_home_back_give_frames_with_expected_ranges() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "spectra/set.csv", wide_csv(10, 200).into_bytes()).await;
    let page = open(&app, &alice, "path=spectra").await;
    assert!(page.starts_with(&format!("{}/plots/", app.base)), "{page}");
    let html = app.get(&alice, &page).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("<canvas") && html.contains("/plots/assets/plot.js"));

    let mut ws = connect(&app, &alice, &page).await.unwrap();
    let info = next_json(&mut ws, "info").await;
    assert_eq!(info["count"], 10);
    assert_eq!(info["points"], 2000);
    assert_eq!(info["series"][3]["name"], "star3");
    send(&mut ws, json!({"type": "hello", "width": 500, "height": 300, "dpr": 1})).await;
    let (home, _) = frame(&mut ws).await;
    assert_eq!(home["events"], 1);
    assert_eq!((home["width"].as_u64(), home["height"].as_u64()), (Some(500), Some(300)));
    let v = &home["view"];
    assert_eq!((v["x0"].as_f64().unwrap(), v["x1"].as_f64().unwrap()), (4000.0, 4199.0), "home shows all wavelengths");
    let (y0, y1) = (v["y0"].as_f64().unwrap(), v["y1"].as_f64().unwrap());
    assert!(y0 < -0.9 && y1 > 9.9, "home shows all fluxes: {y0}..{y1}");
    let plot_w = home["plot"]["width"].as_f64().unwrap();

    // Drag right by 40 px: the view moves left by 40 px worth of wavelength.
    send(&mut ws, json!({"type": "pan", "dx": 40, "dy": 0, "push": true})).await;
    let (panned, _) = frame(&mut ws).await;
    assert_eq!(panned["events"], 2);
    let shift = 199.0 * 40.0 / plot_w;
    assert!(close(panned["view"]["x0"].as_f64().unwrap(), 4000.0 - shift), "{}", panned["view"]);
    assert!(close(panned["view"]["x1"].as_f64().unwrap(), 4199.0 - shift));
    assert_eq!(panned["back"], true);

    // Zoom 2x around the middle of the plot area: the span halves around that point.
    let p = &panned["plot"];
    let cx = p["left"].as_f64().unwrap() + p["width"].as_f64().unwrap() / 2.0;
    let cy = p["top"].as_f64().unwrap() + p["height"].as_f64().unwrap() / 2.0;
    send(&mut ws, json!({"type": "zoom", "x": cx, "y": cy, "factor": 2.0, "push": true})).await;
    let (zoomed, _) = frame(&mut ws).await;
    let (a, b) = (zoomed["view"]["x0"].as_f64().unwrap(), zoomed["view"]["x1"].as_f64().unwrap());
    assert!(close(b - a, 199.0 / 2.0), "span {}", b - a);
    assert!(close((a + b) / 2.0, 4099.5 - shift), "centre kept");

    // Box zoom to the left half of the plot area.
    let (l, t) = (p["left"].as_f64().unwrap(), p["top"].as_f64().unwrap());
    send(&mut ws, json!({"type": "box", "x0": l, "y0": t, "x1": cx, "y1": cy})).await;
    let (boxed, _) = frame(&mut ws).await;
    assert!(close(boxed["view"]["x0"].as_f64().unwrap(), a));
    assert!(close(boxed["view"]["x1"].as_f64().unwrap(), (a + b) / 2.0));

    send(&mut ws, json!({"type": "home"})).await;
    let (back_home, _) = frame(&mut ws).await;
    assert_eq!(back_home["view"], home["view"]);
    send(&mut ws, json!({"type": "back"})).await;
    let (back, _) = frame(&mut ws).await;
    assert_eq!(back["view"], boxed["view"], "back returns to the view before home");
    send(&mut ws, json!({"type": "forward"})).await;
    assert_eq!(frame(&mut ws).await.0["view"], home["view"]);

    // Typed ranges, log axes, density mode.
    send(&mut ws, json!({"type": "range", "x0": 4010.0, "x1": 4050.5, "y0": null, "y1": null})).await;
    let (typed, _) = frame(&mut ws).await;
    assert_eq!((typed["view"]["x0"].as_f64(), typed["view"]["x1"].as_f64()), (Some(4010.0), Some(4050.5)));
    send(&mut ws, json!({"type": "scale", "ylog": true})).await;
    let (log, _) = frame(&mut ws).await;
    assert_eq!(log["view"]["ylog"], true);
    assert!(log["view"]["y0"].as_f64().unwrap() > 0.0, "log axis starts above zero");
    send(&mut ws, json!({"type": "mode", "mode": "density"})).await;
    let (dense, _) = frame(&mut ws).await;
    assert_eq!(dense["density"], true);
    assert!(dense["max_count"].as_u64().unwrap() >= 1);

    // Hover names the nearest spectrum and never renders.
    send(&mut ws, json!({"type": "scale", "ylog": false})).await;
    send(&mut ws, json!({"type": "range", "x0": 4000.0, "x1": 4199.0, "y0": -1.0, "y1": 11.0})).await;
    let settled = loop {
        let (f, _) = frame(&mut ws).await;
        if f["events"] == 12 {
            break f;
        }
    };
    let p = &settled["plot"];
    let (pl, pt, ph) = (p["left"].as_f64().unwrap(), p["top"].as_f64().unwrap(), p["height"].as_f64().unwrap());
    // Flux 5 ± 1 (star5 is sin(...) + 5) at the left edge: y pixel of flux 5.
    let y = pt + ph * (11.0 - 5.0) / 12.0;
    send(&mut ws, json!({"type": "hover", "x": pl + 1.0, "y": y})).await;
    let hover = next_json(&mut ws, "hover").await;
    assert_eq!(hover["name"], "star5", "{hover}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_frame_in_flight_and_inputs_are_coalesced() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "s.csv", wide_csv(3, 100).into_bytes()).await;
    let page = open(&app, &alice, "path=s.csv").await;
    let mut ws = connect(&app, &alice, &page).await.unwrap();
    send(&mut ws, json!({"type": "hello", "width": 400, "height": 300})).await;
    // Receive the first frame but do not ack it yet.
    let first = next_json(&mut ws, "frame").await;
    assert!(matches!(next(&mut ws).await, Message::Binary(_)));
    for _ in 0..20 {
        send(&mut ws, json!({"type": "pan", "dx": 1, "dy": 0})).await;
    }
    let nothing = tokio::time::timeout(Duration::from_millis(400), ws.next()).await;
    assert!(nothing.is_err(), "no new frame before the ack: {nothing:?}");
    send(&mut ws, json!({"type": "ack"})).await;
    let (second, _) = frame(&mut ws).await;
    assert_eq!(second["events"], 21, "all 20 pans folded into one frame");
    let w = second["plot"]["width"].as_f64().unwrap();
    let span = first["view"]["x1"].as_f64().unwrap() - first["view"]["x0"].as_f64().unwrap();
    let moved = first["view"]["x0"].as_f64().unwrap() - second["view"]["x0"].as_f64().unwrap();
    assert!(close(moved, span * 20.0 / w), "moved {moved}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_close_that_socket_with_a_reason() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "s.csv", wide_csv(2, 50).into_bytes()).await;
    let page = open(&app, &alice, "path=s.csv").await;
    let cases: Vec<(Message, CloseCode, &str)> = vec![
        (Message::text("{not json"), CloseCode::Policy, "bad message"),
        (Message::text(r#"{"type":"launch"}"#), CloseCode::Policy, "unknown variant"),
        (Message::text(r#"{"type":"hello","width":100000,"height":10}"#), CloseCode::Policy, "frame size"),
        (Message::text(r#"{"type":"visible","series":99,"on":true}"#), CloseCode::Policy, "no such series"),
        (Message::text("x".repeat(5000)), CloseCode::Size, "longer than"),
        (Message::binary(vec![1, 2, 3]), CloseCode::Unsupported, "JSON text"),
    ];
    for (msg, code, reason) in cases {
        let mut ws = connect(&app, &alice, &page).await.unwrap();
        next_json(&mut ws, "info").await;
        ws.send(msg).await.unwrap();
        let (got, why) = closed(&mut ws).await;
        assert_eq!(got, code, "{why}");
        assert!(why.contains(reason), "reason '{why}' should mention '{reason}'");
    }
    // The session survives: a new socket works.
    let mut ws = connect(&app, &alice, &page).await.unwrap();
    send(&mut ws, json!({"type": "hello", "width": 300, "height": 200})).await;
    assert_eq!(frame(&mut ws).await.0["events"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_users_get_404_and_bad_selections_get_4xx() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let bob = app.add_user("bob").await;
    app.upload(&alice, "s.csv", wide_csv(2, 50).into_bytes()).await;
    app.upload(&alice, "broken.fits", b"SIMPLE  = not really a FITS file".to_vec()).await;
    let page = open(&app, &alice, "path=s.csv").await;
    for suffix in ["", "/export.png", "/export.csv"] {
        let r = app.get(&bob, &format!("{page}{suffix}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "bob GET {suffix}");
    }
    match connect(&app, &bob, &page).await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404),
        other => panic!("bob's socket must be refused: {other:?}"),
    }
    assert_eq!(app.delete(&bob, &page).send().await.unwrap().status(), 404);
    // Bob cannot open Alice's files either: paths are relative to his own storage.
    assert_eq!(app.get(&bob, "/plots/new?path=s.csv").send().await.unwrap().status(), 400);
    for (query, status, text) in [
        ("path=../alice/s.csv", 400, "not allowed"),
        ("path=nothing.csv", 400, "does not exist"),
        ("path=broken.fits", 400, "broken.fits"),
        ("", 400, "path="),
        ("job=nojob&result=x.csv", 404, "no such job"),
    ] {
        let r = app.get(&alice, &format!("/plots/new?{query}")).send().await.unwrap();
        assert_eq!(r.status(), status, "{query}");
        let body = r.text().await.unwrap();
        assert!(body.contains(text), "{query}: {body}");
    }
    // Without credentials a browser is sent to the login page; a script with bad ones gets 401.
    let r = app.client.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login?next="));
    let r = app.client.get(&page).basic_auth("alice", Some("wrong")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_bounded_per_user() {
    let app = spawn_app_with(|s| {
        s.plots.max_sessions_per_user = 2;
        s.plots.max_bytes_per_user = 200_000;
    })
    .await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "s.csv", wide_csv(2, 50).into_bytes()).await;
    app.upload(&alice, "big.csv", wide_csv(100, 1000).into_bytes()).await;
    let r = app.get(&alice, "/plots/new?path=big.csv").send().await.unwrap();
    assert_eq!(r.status(), 413, "more data than the user's budget");
    let body = r.text().await.unwrap();
    assert!(body.contains("big.csv") && body.contains("memory budget"), "{body}");

    let first = open(&app, &alice, "path=s.csv").await;
    let second = open(&app, &alice, "path=s.csv").await;
    let third = open(&app, &alice, "path=s.csv").await;
    assert_eq!(app.get(&alice, &first).send().await.unwrap().status(), 404, "least recently used closed");
    assert_eq!(app.get(&alice, &second).send().await.unwrap().status(), 200);
    // With sockets on both open sessions nothing may be closed: refused.
    let _a = connect(&app, &alice, &second).await.unwrap();
    let _b = connect(&app, &alice, &third).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = app.get(&alice, "/plots/new?path=s.csv").send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("close one"));
    assert_eq!(app.delete(&alice, &second).send().await.unwrap().status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_closed() {
    let app = spawn_app_with(|s| s.plots.idle_timeout = 1).await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "s.csv", wide_csv(2, 50).into_bytes()).await;
    let page = open(&app, &alice, "path=s.csv").await;
    // Any request touches the session, so wait without asking: the sweeper runs every second.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(app.get(&alice, &page).send().await.unwrap().status(), 404, "idle session closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_show_the_current_view() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "s.csv", wide_csv(3, 100).into_bytes()).await;
    let page = open(&app, &alice, "path=s.csv").await;
    let mut ws = connect(&app, &alice, &page).await.unwrap();
    send(&mut ws, json!({"type": "hello", "width": 600, "height": 400})).await;
    frame(&mut ws).await;
    send(&mut ws, json!({"type": "range", "x0": 4010.0, "x1": 4019.0})).await;
    frame(&mut ws).await;

    let png = app.get(&alice, &format!("{page}/export.png")).send().await.unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let bytes = png.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\x89PNG"));
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 600, "last frame's width");
    let svg = app.get(&alice, &format!("{page}/export.svg")).send().await.unwrap().text().await.unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("wavelength") && svg.contains("<text") && svg.contains("4010"),
        "svg axes: {}",
        &svg[..200]
    );
    let csv = app.get(&alice, &format!("{page}/export.csv")).send().await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "name,wavelength,flux");
    assert_eq!(lines.len(), 1 + 3 * 10, "10 visible samples of 3 spectra");
    assert!(lines[1].starts_with("star0,4010,"));
    let vot = app.get(&alice, &format!("{page}/export.vot")).send().await.unwrap().text().await.unwrap();
    assert!(vot.contains("<TABLEDATA>") && vot.matches("<TR>").count() == 30);
    assert_eq!(app.get(&alice, &format!("{page}/export.gif")).send().await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fits_spectra_with_linear_wcs_and_job_results_open() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.fits");
    {
        use fitsio::images::{ImageDescription, ImageType};
        let mut f = fitsio::FitsFile::create(&path).open().unwrap();
        let desc = ImageDescription { data_type: ImageType::Float, dimensions: &[500] };
        let hdu = f.create_image("SPEC", &desc).unwrap();
        hdu.write_key(&mut f, "CRVAL1", 6000.0).unwrap();
        hdu.write_key(&mut f, "CDELT1", 0.5).unwrap();
        hdu.write_key(&mut f, "CRPIX1", 1.0).unwrap();
        hdu.write_key(&mut f, "OBJECT", "HD 12345").unwrap();
        let flux: Vec<f32> = (0..500).map(|i| 1.0 + (i as f32 / 50.0).cos()).collect();
        hdu.write_image(&mut f, &flux).unwrap();
    }
    app.upload(&alice, "fits/one.fits", std::fs::read(&path).unwrap()).await;
    let page = open(&app, &alice, "path=fits/one.fits").await;
    let mut ws = connect(&app, &alice, &page).await.unwrap();
    let info = next_json(&mut ws, "info").await;
    assert_eq!(info["series"][0]["name"], "HD 12345");
    send(&mut ws, json!({"type": "hello", "width": 400, "height": 300})).await;
    let (f, _) = frame(&mut ws).await;
    assert_eq!((f["view"]["x0"].as_f64(), f["view"]["x1"].as_f64()), (Some(6000.0), Some(6249.5)));

    // A job result: the diag job writes text, which is not a spectrum → a clear 400.
    let job = app.create_job(&alice, "diag", &[("output", "4000,1\n4001,2\n4002,3\n")]).await;
    app.run_to_end(&alice, &job).await;
    let id = job.rsplit('/').next().unwrap();
    let r = app.get(&alice, &format!("/plots/new?job={id}&result=diag.txt")).send().await.unwrap();
    assert_eq!(r.status(), 303, "a CSV-shaped result opens: {}", r.text().await.unwrap());
    let bob = app.add_user("bob").await;
    let r = app.get(&bob, &format!("/plots/new?job={id}&result=diag.txt")).send().await.unwrap();
    assert_eq!(r.status(), 404, "someone else's job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_cookie_authenticates_plot_routes() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "s.csv", wide_csv(2, 50).into_bytes()).await;
    let page = open(&app, &alice, "path=s.csv").await;
    let form = app.client.get(app.url("/login?next=/plots/x")).send().await.unwrap().text().await.unwrap();
    assert!(form.contains("name=\"password\"") && form.contains("value=\"/plots/x\""));
    let bad = app.client.post(app.url("/login")).form(&[("user", "alice"), ("password", "nope")]).send().await.unwrap();
    assert_eq!(bad.status(), 200);
    assert!(bad.headers().get("set-cookie").is_none());
    let path = page.trim_start_matches(&app.base).to_string();
    let ok = app
        .client
        .post(app.url("/login"))
        .form(&[("user", "alice"), ("password", alice.password.as_str()), ("next", path.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(location(&ok), path);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    let r = app.client.get(&page).header("Cookie", &pair).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url("/api/files/")).header("Cookie", &pair).send().await.unwrap();
    assert_eq!(r.status(), 200, "the cookie works on the API too");
    let evil = app
        .client
        .post(app.url("/login"))
        .form(&[("user", "alice"), ("password", alice.password.as_str()), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&evil), "/", "no open redirect");
}
