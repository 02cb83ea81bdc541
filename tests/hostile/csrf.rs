//! Browser attacks with the login cookie: another site (or another port of this host, which
//! `SameSite=Lax` counts as the same site) posting with it, login CSRF, open redirects after
//! login, and cookies without `Secure` behind https.

use crate::helpers::{TestApp, User, location, spawn_app, spawn_app_with};
use crate::still_serving;

/// Logs in the way our own login page does; returns the `name=value` cookie pair.
async fn log_in(app: &TestApp, user: &User) -> String {
    let response = app
        .client
        .post(app.url("/login"))
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("user", user.name.as_str()), ("password", user.password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
}

async fn jobs_of(app: &TestApp, user: &User) -> usize {
    app.get(user, "/uws/diag").send().await.unwrap().text().await.unwrap().matches("<uws:jobref").count()
}

async fn create_with(app: &TestApp, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = app.client.post(app.url("/uws/diag")).form(&[("duration", "0")]);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_port_creating_a_job_with_the_cookie_is_refused() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let cookie = log_in(&app, &alice).await;
    let foreign = [("Cookie", cookie.as_str()), ("Origin", "http://127.0.0.1:9999"), ("Sec-Fetch-Site", "same-site")];
    let (status, text) = create_with(&app, &foreign).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("cross-site request refused"), "{text}");
    assert_eq!(create_with(&app, &[("Cookie", cookie.as_str())]).await.0, 403, "no origin at all");
    let wrong_token = [("Cookie", cookie.as_str()), ("X-CSRF-Token", "0000")];
    assert_eq!(create_with(&app, &wrong_token).await.0, 403);
    assert_eq!(jobs_of(&app, &alice).await, 0, "nothing was created");
    for verb in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let r = app
            .client
            .request(verb.clone(), app.url("/api/files/x.txt"))
            .header("Cookie", &cookie)
            .header("Origin", "http://evil.example")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{verb} from another site");
    }

    // Our own pages: same origin by Sec-Fetch-Site, by Origin, or with the token.
    let value = cookie.split_once('=').unwrap().1;
    let token = vocloud::auth::csrf::token(value);
    let own: [Vec<(&str, &str)>; 3] = [
        vec![("Cookie", &cookie), ("Sec-Fetch-Site", "same-origin"), ("Origin", &app.base)],
        vec![("Cookie", &cookie), ("Origin", &app.base)],
        vec![("Cookie", &cookie), ("X-CSRF-Token", &token)],
    ];
    for headers in own {
        assert_eq!(create_with(&app, &headers).await.0, 303, "{headers:?}");
    }
    // API clients authenticate with a header and are not affected, whatever Origin says.
    let r = app.post(&alice, "/uws/diag", &[("duration", "0")]).header("Origin", "http://evil.example").send().await;
    assert_eq!(r.unwrap().status(), 303, "Basic");
    let api_token = vocloud::auth::create_token(&app.db, "alice").await.unwrap();
    let r = app
        .client
        .post(app.url("/uws/diag"))
        .bearer_auth(&api_token)
        .header("Origin", "http://evil.example")
        .form(&[("duration", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "Bearer");
    assert_eq!(jobs_of(&app, &alice).await, 5);
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_a_victim_into_the_attackers_account_from_another_site_is_refused() {
    let app = spawn_app().await;
    let mallory = app.add_user("mallory").await;
    let response = app
        .client
        .post(app.url("/login"))
        .header("Origin", "http://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("user", mallory.name.as_str()), ("password", mallory.password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none());
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_redirects_never_leave_the_site() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let hostile = [
        "/\t/evil.example",
        "/\n/evil.example",
        "/ok\r\nSet-Cookie: x=y",
        "/\\evil.example",
        "/\\/evil.example",
        "/%09/evil.example",
        "/%5C%5Cevil.example",
        "/%2F/evil.example",
        "//evil.example",
        "https://evil.example/",
        "/\u{0}x",
        " /x",
    ];
    for next in hostile {
        let response = app
            .client
            .post(app.url("/login"))
            .header("Sec-Fetch-Site", "same-origin")
            .form(&[("user", "alice"), ("password", alice.password.as_str()), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{next:?}");
        assert_eq!(location(&response), "/", "{next:?}");
        let form = app.client.get(app.url("/login")).query(&[("next", next)]).send().await.unwrap();
        assert_eq!(form.status(), 200, "{next:?}");
        assert!(!form.text().await.unwrap().contains("evil.example"), "{next:?} kept in the form");
    }
    let response = app
        .client
        .post(app.url("/login"))
        .form(&[("user", "alice"), ("password", alice.password.as_str()), ("next", "/uws/diag?LAST=3")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/uws/diag?LAST=3", "local paths still work");
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_cookies_are_secure_whenever_clients_use_https() {
    async fn cookie(app: &TestApp, user: &User, headers: &[(&str, &str)]) -> String {
        let mut request = app.client.post(app.url("/login"));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response =
            request.form(&[("user", user.name.as_str()), ("password", user.password.as_str())]).send().await.unwrap();
        assert_eq!(response.status(), 303);
        response.headers()["set-cookie"].to_str().unwrap().to_string()
    }
    let plain = spawn_app().await;
    let alice = plain.add_user("alice").await;
    assert!(!cookie(&plain, &alice, &[]).await.contains("Secure"));
    let spoofed = cookie(&plain, &alice, &[("X-Forwarded-Proto", "https")]).await;
    assert!(!spoofed.contains("Secure"), "a stranger's X-Forwarded-Proto changes nothing: {spoofed}");

    let public = spawn_app_with(|s| s.http.public_url = Some("https://vo.example".into())).await;
    let alice = public.add_user("alice").await;
    assert!(cookie(&public, &alice, &[("Origin", "https://vo.example")]).await.contains("; Secure"));

    let proxied = spawn_app_with(|s| s.http.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let alice = proxied.add_user("alice").await;
    assert!(cookie(&proxied, &alice, &[("X-Forwarded-Proto", "https")]).await.contains("; Secure"));
    still_serving(&proxied).await;
}
