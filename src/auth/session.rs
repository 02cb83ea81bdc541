//! Browser login: `GET /login` (a form) and `POST /login` (checks the password, sets a cookie).
//!
//! The cookie holds a random 256-bit token; the server keeps only its SHA-256 with the user
//! and an expiry, in memory (a restart logs browsers out, which is acceptable for a login
//! cookie). It is `HttpOnly` (scripts cannot read it) and `SameSite=Lax` (other sites cannot
//! make a browser send it with a POST or a WebSocket). The `Caller` extractor accepts it when no
//! `Authorization` header is present.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use serde::Deserialize;

use crate::db;
use crate::error::ApiResult;
use crate::jobs::Caller;

pub const COOKIE: &str = "vocloud_session";
const LIFETIME: Duration = Duration::from_secs(12 * 3600);
const MAX_SESSIONS: usize = 100_000;

/// Logged-in browsers: token hash → (caller, expiry). Process-wide: tokens are random, so
/// sessions of different servers in one process (tests) never collide.
fn store() -> &'static Mutex<HashMap<String, (Caller, Instant)>> {
    static STORE: OnceLock<Mutex<HashMap<String, (Caller, Instant)>>> = OnceLock::new();
    STORE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The caller a cookie header value belongs to, if it carries a live session.
pub fn caller_from_cookie(req: &HttpRequest) -> Option<Caller> {
    let token = cookie_value(req)?;
    let mut map = store().lock().unwrap_or_else(|e| e.into_inner());
    let key = super::token_hash(&token);
    match map.get(&key) {
        Some((c, exp)) if *exp > Instant::now() => Some(c.clone()),
        Some(_) => {
            map.remove(&key);
            None
        }
        None => None,
    }
}

/// Our cookie's value from the `Cookie` header(s) (actix's cookie feature is not compiled in).
fn cookie_value(req: &HttpRequest) -> Option<String> {
    req.headers().get_all(header::COOKIE).filter_map(|h| h.to_str().ok()).flat_map(|h| h.split(';')).find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE).then(|| value.to_string())
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(form)).route("/login", web::post().to(login));
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// Only local paths: `/x`, never `//host` or a full URL (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".into(),
    }
}

fn page(next: &str, message: &str) -> HttpResponse {
    let esc = vocloud_workers::votable::escape;
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>vocloud login</title>\
         <link rel=\"stylesheet\" href=\"/plots/assets/plot.css\"></head><body class=\"login\">\
         <form method=\"post\" action=\"/login\"><h1>vocloud</h1><p class=\"error\">{}</p>\
         <label>User <input name=\"user\" autocomplete=\"username\" required autofocus></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <input type=\"hidden\" name=\"next\" value=\"{}\"><button type=\"submit\">Log in</button></form></body></html>",
        esc(message),
        esc(next)
    );
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html)
}

async fn form(q: web::Query<Next>) -> HttpResponse {
    page(&safe_next(q.next.as_deref()), "")
}

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
    next: Option<String>,
}

async fn login(service: web::Data<crate::jobs::JobService>, f: web::Form<Login>) -> ApiResult {
    let next = safe_next(f.next.as_deref());
    let row = db::users::by_name(service.db(), &f.user).await?;
    let Some(row) = row else {
        return Ok(page(&next, "Wrong user name or password."));
    };
    let (password, hash) = (f.password.clone(), row.password_hash.clone());
    let ok = web::block(move || super::verify_password(&password, &hash)).await.context("verifying password")?;
    if !ok {
        return Ok(page(&next, "Wrong user name or password."));
    }
    let token = super::new_secret("vs_");
    let caller = Caller { user_id: row.id, name: row.name, is_admin: row.is_admin != 0 };
    {
        let mut map = store().lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SESSIONS {
            let now = Instant::now();
            map.retain(|_, (_, exp)| *exp > now);
        }
        map.insert(super::token_hash(&token), (caller, Instant::now() + LIFETIME));
    }
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}", LIFETIME.as_secs());
    Ok(HttpResponse::SeeOther()
        .insert_header((header::SET_COOKIE, cookie))
        .insert_header((header::LOCATION, next))
        .finish())
}
