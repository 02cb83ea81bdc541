//! Content users upload (or jobs write) that would run as vocloud in a browser, and hostile
//! paths and names that used to turn into 500s or leave folders behind.

use std::collections::HashMap;

use crate::helpers::{TestApp, User, spawn_app};
use crate::still_serving;

/// The headers that decide how a browser treats an answer.
fn policy(response: &reqwest::Response) -> HashMap<&'static str, String> {
    ["content-security-policy", "x-content-type-options", "content-disposition", "content-type"]
        .into_iter()
        .map(|h| (h, response.headers().get(h).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()))
        .collect()
}

fn assert_inert(p: &HashMap<&str, String>, attachment: bool, what: &str) {
    assert!(p["content-security-policy"].starts_with("sandbox"), "{what}: {p:?}");
    assert!(p["content-security-policy"].contains("default-src 'none'"), "{what}: {p:?}");
    assert_eq!(p["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(p["content-disposition"].starts_with("attachment"), attachment, "{what}: {p:?}");
}

const PAGE: &str = "<html><script>fetch('/api/files/').then(r => r.text()).then(t => fetch('/uws/diag', {method: 'POST', body: t}))</script></html>";
const SVG: &str = "<svg xmlns='http://www.w3.org/2000/svg'><script>fetch('/api/files/secret.txt')</script></svg>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_pages_and_svgs_never_run_as_vocloud_through_files_or_shared_links() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let files = [
        ("evil.html", PAGE, true),
        ("evil.svg", SVG, true),
        ("evil.xml", "<?xml-stylesheet href='x.xsl'?><a/>", true),
        ("table.vot", "<VOTABLE/>", true),
        ("evil.js", "alert(1)", true),
        ("noext", PAGE, true),
        ("notes.txt", PAGE, false),
        ("plot.png", "\u{89}PNG", false),
    ];
    for (name, body, attachment) in files {
        app.upload(&alice, name, body.as_bytes().to_vec()).await;
        let direct = app.get(&alice, &format!("/api/files/{name}")).send().await.unwrap();
        assert_eq!(direct.status(), 200);
        assert_inert(&policy(&direct), attachment, name);
        let link = app.post(&alice, "/api/links", &[("path", name)]).send().await.unwrap();
        let url = link.json::<serde_json::Value>().await.unwrap()["url"].as_str().unwrap().to_string();
        let shared = app.client.get(&url).send().await.unwrap();
        assert_eq!(shared.status(), 200, "{url}");
        assert_inert(&policy(&shared), attachment, &format!("shared {name}"));
    }
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_results_are_inert_and_vocloud_pages_get_their_own_strict_policy() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let job = app.create_job(&alice, "diag", &[("output", PAGE)]).await;
    app.run_to_end(&alice, &job).await;
    let result = app.get(&alice, &format!("{job}/results/diag.txt")).send().await.unwrap();
    assert_inert(&policy(&result), false, "diag.txt");
    // A page planted among the results (by anything that can write the storage) stays inert;
    // only the exact bytes of vocloud's own viewer are served as a page, its script by hash.
    let results = app.data_dir.path().join("storage/jobs").join(job.rsplit('/').next().unwrap()).join("results");
    std::fs::write(results.join("index.html"), PAGE).unwrap();
    let planted = app.get(&alice, &format!("{job}/results/index.html")).send().await.unwrap();
    assert_inert(&policy(&planted), true, "planted index.html");
    std::fs::write(results.join("index.html"), vocloud_workers::som::output::VIEWER_HTML).unwrap();
    let viewer = app.get(&alice, &format!("{job}/results/index.html")).send().await.unwrap();
    let p = policy(&viewer);
    assert!(
        !p["content-security-policy"].contains("sandbox") && p["content-security-policy"].contains("'sha256-"),
        "{p:?}"
    );
    assert!(p["content-type"].starts_with("text/html") && p["content-disposition"].is_empty(), "{p:?}");
    // vocloud's own pages are not sandboxed, but run only their own scripts.
    let page = app.client.get(app.url("/login")).send().await.unwrap();
    let p = policy(&page);
    assert!(p["content-security-policy"].contains("script-src 'self'"), "{p:?}");
    assert_eq!(p["x-content-type-options"], "nosniff");
    still_serving(&app).await;
}

async fn status(app: &TestApp, user: &User, method: reqwest::Method, path: &str) -> u16 {
    let request = app.client.request(method, app.url(path)).basic_auth(&user.name, Some(&user.password));
    request.body("x").send().await.unwrap().status().as_u16()
}

fn entries(app: &TestApp, user: &User) -> Vec<String> {
    let dir = app.data_dir.path().join("storage/users").join(&user.name);
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4000_byte_upload_path_is_refused_and_leaves_no_folders() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let deep = format!("{}/f.txt", vec!["d".repeat(200); 20].join("/"));
    assert_eq!(status(&app, &alice, reqwest::Method::PUT, &format!("/api/files/{deep}")).await, 400);
    assert!(entries(&app, &alice).is_empty(), "{:?}", entries(&app, &alice));
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_encodings_get_a_4xx_never_a_500() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "real.txt", b"x".to_vec()).await;
    let long = "n".repeat(256);
    let deep = vec!["d".repeat(250); 4].join("/");
    let names = [
        long.as_str(),
        deep.as_str(),
        "%00",
        "a%00b",
        "%ff%fe",
        "%2e%2e/%2e%2e/etc/passwd",
        "..%2f..%2fetc",
        "a/../../b",
        ".hidden",
        "a\\b",
        "%0a",
        "real.txt/child",
        "%E2%80%AE.txt",
        "a%",
        "%%",
    ];
    let methods = [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE, reqwest::Method::POST];
    for name in names {
        for method in &methods {
            let code = status(&app, &alice, method.clone(), &format!("/api/files/{name}")).await;
            assert!((200..500).contains(&code), "{method} {name:?}: {code}");
        }
        for op in ["op=mkdir".to_string(), format!("op=move&to={name}")] {
            let url = format!("/api/files/real.txt?{op}");
            let r = app.client.post(app.url(&url)).basic_auth(&alice.name, Some(&alice.password)).send().await.unwrap();
            assert!(r.status().as_u16() < 500, "POST {url}: {}", r.status());
        }
        let r = app.post(&alice, "/api/links", &[("path", name)]).send().await.unwrap();
        assert!(r.status().as_u16() < 500, "link to {name:?}: {}", r.status());
    }
    let forged =
        ["/shared/1/00/u/alice/real.txt", "/shared/x/y/z", "/shared/99999999999/%ff/u/a/b", "/shared/1/zz/j/%00/a"];
    for path in forged {
        let code = app.client.get(app.url(path)).send().await.unwrap().status().as_u16();
        assert!((400..500).contains(&code), "{path}: {code}");
    }
    still_serving(&app).await;
}

/// Alice uploads a page, an SVG and a text file whose script reads the viewer's files and
/// creates a job in their name; bob opens her shared links in headless Chromium
/// (`tests/browser/attack.cjs`). Nothing may run with bob's rights.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_opening_alices_shared_page_in_chromium_runs_nothing_as_bob() {
    crate::helpers::require_browser(&["playwright-core"]);
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let bob = app.add_user("bob").await;
    let steal = "<script>fetch('/api/files/').then(r=>r.text()).then(t=>fetch('/uws/diag',{method:'POST',\
                 headers:{'Content-Type':'application/x-www-form-urlencoded'},body:'output='+encodeURIComponent(t)}))</script>";
    let files = [
        ("page.html", format!("<html><body>hello{steal}</body></html>")),
        (
            "image.svg",
            format!(
                "<svg xmlns='http://www.w3.org/2000/svg'>{}</svg>",
                steal.replace("<script>", "<script>//<![CDATA[\n").replace("</script>", "\n//]]></script>")
            ),
        ),
        ("notes.txt", format!("<html>{steal}</html>")),
    ];
    let mut links = Vec::new();
    for (name, body) in files {
        app.upload(&alice, name, body.into_bytes()).await;
        let link = app.post(&alice, "/api/links", &[("path", name)]).send().await.unwrap();
        links.push(link.json::<serde_json::Value>().await.unwrap()["url"].as_str().unwrap().to_string());
    }
    let env = [("BASE", app.base.as_str()), ("BOB_USER", &bob.name), ("BOB_PASSWORD", &bob.password)];
    let links = links.join(",");
    crate::helpers::run_browser_script("attack.cjs", &[&env[..], &[("LINKS", links.as_str())]].concat()).await;
    let jobs = app.get(&bob, "/uws/diag").send().await.unwrap().text().await.unwrap();
    assert_eq!(jobs.matches("<uws:jobref").count(), 0, "a job was created as bob");
    still_serving(&app).await;
}
