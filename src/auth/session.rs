//! Browser login: `GET /login` (the form of `web::login`, also shown at `/`), `POST /login`
//! (checks the password, sets a cookie)
//! and `POST /logout` (ends the session, clears the cookie).
//!
//! The cookie holds a random 256-bit token; the database keeps only its SHA-256 with the user
//! and an expiry (table `browser_sessions`), so logins survive a restart and work on every
//! server process sharing the database, and a database leak reveals no usable cookie. The
//! cookie is `HttpOnly` (scripts cannot read it) and `SameSite=Lax` (other sites cannot make a
//! browser send it with a POST or a WebSocket). The `Caller` extractor accepts it when no
//! `Authorization` header is present; an unknown or expired cookie counts as no credentials
//! (401 on the API, the login form on pages).

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::Authenticator;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::jobs::Caller;

pub const COOKIE: &str = "vocloud_session";
/// How long a login lasts unless the settings say otherwise (`http.login_seconds`).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(12 * 3600);

impl Authenticator {
    /// Records a new session for `user_id` and returns the token for the cookie.
    pub async fn start_session(&self, user_id: i64) -> anyhow::Result<String> {
        // Sweeping at login keeps the table to live sessions without a background task.
        db::sessions::delete_expired(&self.db).await?;
        let token = super::new_secret("vs_");
        let expires = db::now_ms() + self.login_lifetime.as_millis() as i64;
        db::sessions::insert(&self.db, &super::token_hash(&token), user_id, expires).await?;
        Ok(token)
    }

    /// The caller of a live session token; `None` for unknown or expired tokens.
    pub async fn session(&self, token: &str) -> Result<Option<Caller>, ApiError> {
        Ok(db::sessions::user_by_hash(&self.db, &super::token_hash(token)).await?.map(super::caller))
    }

    pub async fn end_session(&self, token: &str) -> anyhow::Result<()> {
        db::sessions::delete(&self.db, &super::token_hash(token)).await
    }
}

/// Our cookie's value from the `Cookie` header(s) (actix's cookie feature is not compiled in).
pub fn cookie_value(req: &HttpRequest) -> Option<String> {
    req.headers().get_all(header::COOKIE).filter_map(|h| h.to_str().ok()).flat_map(|h| h.split(';')).find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE).then(|| value.to_string())
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout));
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// Only local paths: `/x`, never `//host`, `/\\host` or a full URL (no open redirect). Browsers
/// drop tabs and newlines and read `\\` as `/`, so `/\t/evil.example` is `//evil.example` to
/// them: any control character, backslash or whitespace, raw or percent-encoded, sends the user
/// to `/` instead (and can never reach a header value and fail there).
fn safe_next(next: Option<&str>) -> String {
    let Some(n) = next else { return "/".into() };
    let decoded = percent_encoding::percent_decode_str(n).decode_utf8_lossy();
    let suspicious = |s: &str| s.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    let local = n.starts_with('/') && !n.starts_with("//") && !decoded.starts_with("//");
    if local && !suspicious(n) && !suspicious(&decoded) && n.len() <= 2048 { n.to_string() } else { "/".into() }
}

/// The cookie's attributes: `Secure` when clients reach us over https (see `Site::is_https`).
fn cookie_attributes(req: &HttpRequest, max_age: u64) -> String {
    let secure = if crate::site::Site::of(req).is_https(req) { "; Secure" } else { "" };
    format!("Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

async fn form(q: web::Query<Next>) -> HttpResponse {
    crate::web::login::page(&safe_next(q.next.as_deref()), "", "")
}

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
    next: Option<String>,
}

async fn login(auth: web::Data<Authenticator>, f: web::Form<Login>, req: HttpRequest) -> ApiResult {
    let next = safe_next(f.next.as_deref());
    let client = crate::site::Site::of(&req).client_ip(&req);
    let Some(caller) = auth.check_password(&f.user, &f.password, client).await? else {
        return Ok(crate::web::login::page(&next, &f.user, "Wrong user name or password."));
    };
    let token = auth.start_session(caller.user_id).await?;
    let cookie = format!("{COOKIE}={token}; {}", cookie_attributes(&req, auth.login_lifetime.as_secs()));
    Ok(HttpResponse::SeeOther()
        .insert_header((header::SET_COOKIE, cookie))
        .insert_header((header::LOCATION, next))
        .finish())
}

/// Ends the cookie's session (if any) and tells the browser to drop the cookie. A POST, so
/// other sites cannot log a user out with a link (`SameSite=Lax` withholds the cookie there).
async fn logout(auth: web::Data<Authenticator>, req: HttpRequest) -> ApiResult {
    if let Some(token) = cookie_value(&req) {
        auth.end_session(&token).await?;
    }
    let cookie = format!("{COOKIE}=; {}", cookie_attributes(&req, 0));
    Ok(HttpResponse::SeeOther()
        .insert_header((header::SET_COOKIE, cookie))
        .insert_header((header::LOCATION, "/"))
        .finish())
}
