//! Password attacks: a flood of wrong passwords (bounded pool, back-off), and telling known from
//! unknown users by how long a wrong password takes.

use std::time::{Duration, Instant};

use crate::helpers::{TestApp, spawn_app_with};
use crate::still_serving;

async fn status_of(app: &TestApp, user: &str, password: &str) -> reqwest::Response {
    app.client.get(app.url("/api/quota")).basic_auth(user, Some(password)).send().await.unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telling_known_from_unknown_users_by_timing_fails() {
    let app = spawn_app_with(|s| {
        s.auth.account_free_failures = 1000;
        s.auth.address_free_failures = 1000;
    })
    .await;
    app.add_user("alice").await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..13 {
        // Interleaved, so machine load hits both alike; the first pair warms up.
        let started = Instant::now();
        assert_eq!(status_of(&app, "alice", &format!("wrong-{i}")).await.status(), 401);
        let k = started.elapsed();
        let started = Instant::now();
        assert_eq!(status_of(&app, &format!("nobody-{i}"), "wrong").await.status(), 401);
        let u = started.elapsed();
        if i > 0 {
            known.push(k);
            unknown.push(u);
        }
    }
    let (k, u) = (median(known), median(unknown));
    let ratio = k.as_secs_f64().max(u.as_secs_f64()) / k.as_secs_f64().min(u.as_secs_f64());
    assert!(ratio < 2.0, "known user {k:?} vs unknown user {u:?}: the difference tells them apart");
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_one_accounts_password_is_slowed_with_429_and_retry_after() {
    let app = spawn_app_with(|_| {}).await;
    let alice = app.add_user("alice").await;
    let bob = app.add_user("bob").await;
    // Alice's script has logged in before the attack: its cached credentials keep working.
    assert_eq!(status_of(&app, &alice.name, &alice.password).await.status(), 200);
    for i in 0..5 {
        assert_eq!(status_of(&app, "alice", &format!("guess-{i}")).await.status(), 401, "free failure {i}");
    }
    assert_eq!(status_of(&app, "alice", "guess-5").await.status(), 401, "the failure that starts the back-off");
    let throttled = status_of(&app, "alice", "guess-6").await;
    assert_eq!(throttled.status(), 429);
    let retry: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "first wait is about a second: {retry}");
    assert!(throttled.text().await.unwrap().contains("too many failed passwords"));
    assert_eq!(status_of(&app, &alice.name, &alice.password).await.status(), 200, "cached credentials unaffected");
    assert_eq!(status_of(&app, &bob.name, &bob.password).await.status(), 200, "other accounts unaffected");
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_trying_many_accounts_is_slowed_too() {
    let app = spawn_app_with(|s| {
        s.auth.account_free_failures = 1000;
        s.auth.address_free_failures = 3;
    })
    .await;
    for i in 0..4 {
        assert_eq!(status_of(&app, &format!("user{i}"), "x").await.status(), 401);
    }
    assert_eq!(status_of(&app, "user9", "x").await.status(), 429);
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_passwords_meets_a_bounded_pool_while_tokens_keep_working() {
    let app = spawn_app_with(|s| {
        s.auth.password_workers = Some(1);
        s.auth.password_queue = 2;
        s.auth.account_free_failures = 1000;
        s.auth.address_free_failures = 1000;
    })
    .await;
    app.add_user("alice").await;
    let token = vocloud::auth::create_token(&app.db, "alice").await.unwrap();
    let flood: Vec<_> = (0..48)
        .map(|i| {
            let (client, url) = (app.client.clone(), app.url("/api/quota"));
            tokio::spawn(async move {
                let r = client.get(url).basic_auth(format!("flood{i}"), Some("wrong")).send().await.unwrap();
                (r.status().as_u16(), r.headers().get("retry-after").is_some())
            })
        })
        .collect();
    let honest = app.client.get(app.url("/api/quota")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(honest.status(), 200, "a token user during the flood");
    let mut answers = Vec::new();
    for f in flood {
        answers.push(f.await.unwrap());
    }
    let busy = answers.iter().filter(|(s, _)| *s == 503).count();
    assert!(answers.iter().all(|(s, _)| *s == 401 || *s == 503), "{answers:?}");
    assert!(busy > 0, "48 checks at once against 1 worker + 2 queued: the bound must refuse some");
    assert!(answers.iter().filter(|(s, _)| *s == 503).all(|(_, retry)| *retry), "503s say when to retry");
    still_serving(&app).await;
}
