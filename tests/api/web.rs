//! The web pages over HTTP, as a browser without script sees them: the login at `/`, every page
//! rendering for its owner and 404 for anyone else, escaping of user-controlled strings, the
//! CSRF token on every form, forms that come back with the server's message at the field, live
//! phase changes over Server-Sent Events, settings and admin. The browser itself (script,
//! uploads, accessibility) is `tests/browser/web.cjs`, run from `browser::`.

use reqwest::Response;

use crate::helpers::{TestApp, User, admin, spawn_app};

/// A browser session: the login cookie and the CSRF token of the pages.
pub struct Browser<'a> {
    app: &'a TestApp,
    pub cookie: String,
    pub csrf: String,
}

/// The `content` of `<meta name="csrf-token">`.
pub fn meta_csrf(html: &str) -> String {
    let start = html.find("name=\"csrf-token\" content=\"").expect("a csrf meta tag") + 27;
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

impl<'a> Browser<'a> {
    /// Logs in through the form, as the login page does.
    pub async fn log_in(app: &'a TestApp, user: &User) -> Browser<'a> {
        let form = [("user", user.name.as_str()), ("password", user.password.as_str()), ("next", "/")];
        let response = app.client.post(app.url("/login")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 303, "logging in {}", user.name);
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let mut browser = Browser { app, cookie, csrf: String::new() };
        let (status, home) = browser.get("/").await;
        assert_eq!(status, 200);
        browser.csrf = meta_csrf(&home);
        assert_eq!(browser.csrf.len(), 64);
        browser
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self.app.client.get(self.app.url(path)).header("Cookie", &self.cookie).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Posts a form with the page's CSRF token, and the `Origin` a browser sends with it (the
    /// guard in front of every cookie request checks that; the token is checked behind it).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf", &self.csrf));
        let request = self.app.client.post(self.app.url(path)).header("Cookie", &self.cookie);
        request.header("Origin", &self.app.base).form(&fields).send().await.unwrap()
    }
}

pub fn location(response: &Response) -> String {
    crate::helpers::location(response)
}

/// The flash message a redirect carries (the cookie the next page shows and clears).
pub fn flash(response: &Response) -> String {
    let cookie = response.headers().get_all("set-cookie").iter().find_map(|c| {
        let c = c.to_str().ok()?;
        c.strip_prefix("vocloud_flash=").map(|v| v.split(';').next().unwrap_or("").to_string())
    });
    percent_encoding::percent_decode_str(&cookie.unwrap_or_default()).decode_utf8_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_visitors_get_the_login_form_at_root_and_pages_send_them_there() {
    let app = spawn_app().await;
    let home = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(html.contains("name=\"password\"") && html.contains("action=\"/login\""), "{html}");
    for page in ["/files/", "/jobs", "/jobs/new/som", "/experiments", "/settings", "/admin", "/jobs/0abcdefghijk"] {
        let response = app.client.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{page}");
        assert!(location(&response).starts_with("/?next="), "{page}: {}", location(&response));
    }
    // The APIs keep answering scripts with 401 and a Basic challenge.
    let api = app.client.get(app.url("/api/files/")).send().await.unwrap();
    assert_eq!(api.status(), 401);
    assert!(api.headers().contains_key("www-authenticate"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_for_a_signed_in_user_and_admin_pages_only_for_admins() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let browser = Browser::log_in(&app, &alice).await;
    for page in ["/", "/files/", "/jobs", "/jobs/new", "/jobs/new/som", "/jobs/new/diag", "/experiments", "/settings"] {
        let (status, html) = browser.get(page).await;
        assert_eq!(status, 200, "{page}: {html}");
        assert!(html.contains("<main id=\"main\""), "{page} uses the layout");
        assert!(html.contains(&format!("content=\"{}\"", browser.csrf)), "{page} carries the CSRF token");
        assert!(!html.contains("<script>"), "{page} has no inline script");
    }
    assert_eq!(browser.get("/admin").await.0, 404, "not an admin");
    assert_eq!(browser.get("/admin/fleet").await.0, 404);
    let admin = Browser::log_in(&app, &admin()).await;
    for page in ["/admin", "/admin/fleet", "/jobs?all=1"] {
        assert_eq!(admin.get(page).await.0, 200, "{page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_a_browser_login_and_its_csrf_token() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let browser = Browser::log_in(&app, &alice).await;
    let post = |fields: Vec<(&'static str, String)>, cookie: Option<&str>| {
        // From our own origin, so that the token is what is tested.
        let mut request = app.client.post(app.url("/files/mkdir")).header("Origin", &app.base).form(&fields);
        if let Some(c) = cookie {
            request = request.header("Cookie", c.to_string());
        }
        request.send()
    };
    let name = || ("name", "made".to_string());
    let missing = post(vec![name()], Some(&browser.cookie)).await.unwrap();
    assert_eq!(missing.status(), 403, "no token");
    let wrong = post(vec![name(), ("csrf", "0".repeat(64))], Some(&browser.cookie)).await.unwrap();
    assert_eq!(wrong.status(), 403, "someone else's token");
    let basic = app
        .client
        .post(app.url("/files/mkdir"))
        .basic_auth(&alice.name, Some(&alice.password))
        .form(&[("name", "made")]);
    assert_eq!(basic.send().await.unwrap().status(), 403, "forms are for browser logins");
    assert_eq!(app.get(&alice, "/api/files/made").send().await.unwrap().status(), 404, "nothing was made");
    let ok = browser.post("/files/mkdir", &[("dir", ""), ("name", "made")]).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(app.get(&alice, "/api/files/made").send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_controlled_strings_are_escaped_on_every_page() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let evil = "<img src=x onerror=alert(1)>";
    app.upload(
        &alice,
        &format!("{}/{}.txt", "dir%3Cb%3E", "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"),
        b"<script>alert(2)</script>".to_vec(),
    )
    .await;
    let browser = Browser::log_in(&app, &alice).await;
    let form = [("duration", "0"), ("label", evil), ("notes", evil), ("new_experiment", evil), ("run", "1")];
    let created = browser.post("/jobs/new/diag", &form).await;
    assert_eq!(created.status(), 303, "{}", created.text().await.unwrap());
    let job = location(&created);
    for page in [
        "/files/",
        "/files/dir%3Cb%3E/",
        &format!("/files/dir%3Cb%3E/{}.txt", "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"),
        &job,
        "/jobs",
        "/",
        "/experiments",
    ] {
        let (status, html) = browser.get(page).await;
        assert_eq!(status, 200, "{page}");
        assert!(!html.contains(evil), "{page} shows raw markup: {html}");
        assert!(!html.contains("<script>alert"), "{page} shows raw file content");
        assert!(!html.contains("<b>"), "{page}");
    }
    let (_, file) = browser.get(&format!("/files/dir%3Cb%3E/{}.txt", "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")).await;
    assert!(file.contains("&#60;script&#62;alert(2)&#60;/script&#62;"), "shown as text: {file}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_gets_404_on_every_page_of_the_first() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let bob = app.add_user("bob").await;
    app.upload(&alice, "mine/notes.txt", b"alice's notes".to_vec()).await;
    let url = app.create_job(&alice, "diag", &[("duration", "0"), ("EXPERIMENT", "secret")]).await;
    app.run_to_end(&alice, &url).await;
    let id = url.rsplit('/').next().unwrap().to_string();
    let job = format!("/jobs/{id}");
    let a = Browser::log_in(&app, &alice).await;
    let b = Browser::log_in(&app, &bob).await;
    let pages = [
        job.clone(),
        format!("{job}/panel"),
        format!("{job}/preview/diag.txt"),
        format!("/jobs/new/diag?from={id}"),
        "/files/mine/".into(),
        "/files/mine/notes.txt".into(),
        "/zip/mine".into(),
        "/files-plot.png?path=mine/notes.txt".into(),
        format!("/files-plot.png?job={id}&result=diag.txt"),
        "/experiments/secret".into(),
    ];
    for page in &pages {
        assert_eq!(a.get(page).await.0 / 100, if page.contains("plot.png") { 4 } else { 2 }, "alice: {page}");
        assert_eq!(b.get(page).await.0, 404, "bob: {page}");
    }
    for (action, form) in
        [("run", vec![]), ("abort", vec![]), ("delete", vec![("confirmed", "1")]), ("annotate", vec![("label", "x")])]
    {
        assert_eq!(b.post(&format!("{job}/{action}"), &form).await.status(), 404, "bob posts {action}");
    }
    assert_eq!(b.post("/experiments/secret/delete", &[("confirmed", "1")]).await.status(), 404);
    let (_, list) = b.get("/jobs").await;
    assert!(!list.contains(&id), "bob's job list");
    let stream =
        app.client.get(app.url(&format!("/live/jobs?ids={id}"))).header("Cookie", &b.cookie).send().await.unwrap();
    let events = stream.text().await.unwrap();
    assert!(!events.contains(&id), "bob's live stream says nothing about alice's job: {events}");
    assert_eq!(a.get(&job).await.0, 200, "alice's job is still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_job_form_comes_back_with_the_message_at_its_field_and_the_input_kept() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    app.upload(&alice, "spectra/a.csv", b"wavelength,flux\n1,2\n".to_vec()).await;
    let browser = Browser::log_in(&app, &alice).await;
    let response =
        browser.post("/jobs/new/som", &[("input", "no/such/folder"), ("rows", "7"), ("label", "kept label")]).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    let error = html.find("id=\"e-input\"").expect("an error at the input field");
    assert!(html[error..].contains("does not exist in alice&#39;s storage"), "{html}");
    assert!(html.contains("aria-describedby=\"h-input e-input\" aria-invalid=\"true\""), "{html}");
    assert!(html.contains("value=\"7\"") && html.contains("value=\"kept label\""), "input kept");
    let (_, jobs) = browser.get("/jobs").await;
    assert!(jobs.contains("No jobs match"), "nothing was created");
}

/// Reads an SSE stream until `until` appears in it (or the stream ends).
pub async fn read_events(mut response: Response, until: &str) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !text.contains(until) {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_run_from_its_page_pushes_its_phase_changes_over_the_live_stream() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let browser = Browser::log_in(&app, &alice).await;
    let created = browser.post("/jobs/new/diag", &[("duration", "1"), ("label", "live")]).await;
    let job = location(&created);
    let id = job.trim_start_matches("/jobs/");
    let (_, page) = browser.get(&job).await;
    assert!(page.contains("data-job-phase=\"PENDING\"") && page.contains(">Run</button>"), "{page}");
    let stream = app
        .client
        .get(app.url(&format!("/live/jobs?ids={id}")))
        .header("Cookie", &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    assert_eq!(browser.post(&format!("{job}/run"), &[]).await.status(), 303);
    let events = read_events(stream, "event: end").await;
    let phases: Vec<&str> = ["PENDING", "QUEUED", "EXECUTING", "COMPLETED"]
        .into_iter()
        .filter(|p| events.contains(&format!("\"phase\":\"{p}\"")))
        .collect();
    assert!(phases.starts_with(&["PENDING"]) && phases.ends_with(&["COMPLETED"]), "{events}");
    assert!(events.contains("event: end"), "the stream ends once the job has finished");
    let (_, panel) = browser.get(&format!("{job}/panel")).await;
    assert!(panel.contains("phase-COMPLETED") && panel.contains("diag.txt"), "{panel}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_again_fills_the_form_from_the_job_and_bulk_delete_asks_first() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let browser = Browser::log_in(&app, &alice).await;
    let first = location(
        &browser.post("/jobs/new/diag", &[("duration", "3"), ("output", "hello <b>"), ("label", "one")]).await,
    );
    let id = first.trim_start_matches("/jobs/");
    let (status, form) = browser.get(&format!("/jobs/new/diag?from={id}")).await;
    assert_eq!(status, 200);
    assert!(form.contains("name=\"duration\" value=\"3.0\""), "{form}");
    assert!(form.contains("value=\"hello &#60;b&#62;\"") && form.contains("value=\"one\""), "{form}");
    let second = location(&browser.post("/jobs/new/diag", &[("duration", "4")]).await);
    let second = second.trim_start_matches("/jobs/");
    let ask = browser.post("/jobs/bulk", &[("action", "delete"), ("id", id), ("id", second)]).await;
    assert_eq!(ask.status(), 200, "a confirmation page first");
    let page = ask.text().await.unwrap();
    assert!(page.contains(id) && page.contains(second) && page.contains("name=\"confirmed\""), "{page}");
    assert_eq!(browser.get(&first).await.0, 200, "not deleted yet");
    let done =
        browser.post("/jobs/bulk", &[("action", "delete"), ("id", id), ("id", second), ("confirmed", "1")]).await;
    assert_eq!(done.status(), 303);
    assert_eq!(flash(&done), "ok.Deleted 2 jobs.");
    assert_eq!(browser.get(&first).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_page_through_filters_and_keyset_pages() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    for i in 0..60 {
        let label = if i % 10 == 0 { format!("special {i}") } else { format!("plain {i}") };
        let url = app.create_job(&alice, "diag", &[("duration", "0")]).await;
        let id = url.rsplit('/').next().unwrap().to_string();
        let patch = app.client.patch(app.url(&format!("/api/jobs/{id}"))).basic_auth("alice", Some("alice-password"));
        assert_eq!(patch.json(&serde_json::json!({ "label": label })).send().await.unwrap().status(), 200);
    }
    let browser = Browser::log_in(&app, &alice).await;
    let (_, first) = browser.get("/jobs").await;
    assert_eq!(first.matches("<tr data-job=").count(), 50);
    assert!(first.contains("60 jobs") && first.contains("PENDING <strong>60</strong>"), "counts");
    let older = first.split("href=\"").find(|s| s.starts_with("/jobs?before=")).expect("an Older link");
    let older = &older[..older.find('"').unwrap()].replace("&amp;", "&");
    let (_, second) = browser.get(older).await;
    assert_eq!(second.matches("<tr data-job=").count(), 10);
    let (_, special) = browser.get("/jobs?q=SPECIAL").await;
    assert_eq!(special.matches("<tr data-job=").count(), 6, "label search ignores case");
    let (_, none) = browser.get("/jobs?kind=som").await;
    assert!(none.contains("No jobs match"));
    let (_, percent) = browser.get("/jobs?q=%25").await;
    assert!(percent.contains("No jobs match"), "% is not a wildcard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiments_group_jobs_and_jobs_move_between_them() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let browser = Browser::log_in(&app, &alice).await;
    let created = browser.post("/experiments", &[("name", "maps"), ("description", "map sizes")]).await;
    assert_eq!(location(&created), "/experiments/maps");
    let a =
        location(&browser.post("/jobs/new/diag", &[("duration", "0"), ("output", "x"), ("experiment", "maps")]).await);
    let b =
        location(&browser.post("/jobs/new/diag", &[("duration", "0"), ("output", "y"), ("experiment", "maps")]).await);
    let (_, page) = browser.get("/experiments/maps").await;
    assert!(page.contains(a.trim_start_matches("/jobs/")) && page.contains(b.trim_start_matches("/jobs/")));
    assert!(page.contains("<h3>Differs</h3>"), "the parameter that differs is shown first: {page}");
    let moved = browser
        .post("/experiments/maps/move", &[("id", b.trim_start_matches("/jobs/")), ("new_experiment", "other")])
        .await;
    assert_eq!(flash(&moved), "ok.Moved 1 job to experiment 'other'.");
    let (_, other) = browser.get("/experiments/other").await;
    assert!(other.contains(b.trim_start_matches("/jobs/")));
    let (_, maps) = browser.get("/experiments/maps").await;
    assert!(!maps.contains(b.trim_start_matches("/jobs/")));
    let gone = browser.post("/experiments/maps/delete", &[("confirmed", "1")]).await;
    assert_eq!(location(&gone), "/experiments");
    assert_eq!(browser.get(&a).await.0, 200, "deleting an experiment keeps its jobs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_shown_once_and_stop_working_when_revoked() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let browser = Browser::log_in(&app, &alice).await;
    let page = browser.post("/settings/tokens", &[("label", "laptop")]).await.text().await.unwrap();
    let start = page.find("id=\"new-token\">").unwrap() + 15;
    let token = &page[start..start + page[start..].find('<').unwrap()];
    assert!(token.starts_with("voc_"), "{token}");
    assert!(page.contains(&format!("Bearer {token}")), "the snippets use it");
    let bearer = |t: &str| app.client.get(app.url("/api/files/")).bearer_auth(t).send();
    assert_eq!(bearer(token).await.unwrap().status(), 200);
    let (_, settings) = browser.get("/settings").await;
    assert!(!settings.contains(token), "shown only once");
    let id_at = settings.find("/settings/tokens/").unwrap() + 17;
    let id = &settings[id_at..id_at + settings[id_at..].find('/').unwrap()];
    assert_eq!(browser.post(&format!("/settings/tokens/{id}/revoke"), &[]).await.status(), 303);
    assert_eq!(bearer(token).await.unwrap().status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_change_only_with_the_current_one() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let browser = Browser::log_in(&app, &alice).await;
    let change = async |current: &str, new: &str, again: &str| {
        let form = [("current_password", current), ("new_password", new), ("repeat_password", again)];
        browser.post("/settings/password", &form).await
    };
    assert!(flash(&change("wrong", "new-password-1", "new-password-1").await).contains("current password is wrong"));
    assert!(flash(&change("alice-password", "new-password-1", "typo").await).contains("differ"));
    assert!(flash(&change("alice-password", "short", "short").await).contains("8"));
    assert_eq!(flash(&change("alice-password", "new-password-1", "new-password-1").await), "ok.Password changed.");
    let basic =
        app.client.get(app.url("/api/files/")).basic_auth("alice", Some("new-password-1")).send().await.unwrap();
    assert_eq!(basic.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_create_disable_and_limit_users() {
    let app = spawn_app().await;
    let root = Browser::log_in(&app, &admin()).await;
    let made = root.post("/admin/users", &[("name", "carol"), ("password", "carol-password")]).await;
    assert_eq!(flash(&made), "ok.Created user 'carol'.");
    let carol = User { name: "carol".into(), password: "carol-password".into() };
    let session = Browser::log_in(&app, &carol).await;
    // Under the default quota, an upload passes (and the service now holds carol's usage and quota).
    let small = app.client.put(app.url("/api/files/small.bin")).basic_auth("carol", Some("carol-password"));
    assert_eq!(small.body(vec![0u8; 16]).send().await.unwrap().status(), 201);
    // A quota of about 1 KiB applies at once: a 4 KiB upload is refused with the numbers.
    assert_eq!(root.post("/admin/users/carol/quota", &[("quota_gib", "0.000001")]).await.status(), 303);
    let upload =
        app.client.put(app.url("/api/files/big.bin")).basic_auth("carol", Some("carol-password")).body(vec![0u8; 4096]);
    let refused = upload.send().await.unwrap();
    assert_eq!(refused.status(), 413);
    assert!(refused.text().await.unwrap().contains("1074 byte storage quota"));
    // Disabled: the session ends, the password and Basic stop working.
    assert_eq!(
        flash(&root.post("/admin/users/carol/disable", &[]).await),
        "ok.Disabled 'carol': they can no longer sign in."
    );
    assert_eq!(session.get("/files/").await.0, 303, "the browser login ended");
    let login = app
        .client
        .post(app.url("/login"))
        .form(&[("user", "carol"), ("password", "carol-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the form again");
    let basic =
        app.client.get(app.url("/api/files/")).basic_auth("carol", Some("carol-password")).send().await.unwrap();
    assert_eq!(basic.status(), 401);
    assert!(flash(&root.post("/admin/users/admin/disable", &[]).await).contains("cannot lock yourself out"));
    assert_eq!(root.post("/admin/users/carol/enable", &[]).await.status(), 303);
    Browser::log_in(&app, &carol).await;
}
