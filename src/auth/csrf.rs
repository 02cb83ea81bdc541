//! CSRF tokens for browser (cookie-authenticated) requests.
//!
//! The token is derived from the login cookie: `hex(SHA-256("vocloud-csrf\0" || cookie))`. Another
//! site cannot read the cookie (`HttpOnly`, other origin), so it cannot compute the token, and the
//! token reveals nothing about the cookie (one-way), so it may sit in page HTML. Deriving it
//! means no server-side state and no key to keep across restarts: a form rendered before a
//! restart still posts after it.
//!
//! Pages put it in every form as the field [`FIELD`] and in `<meta name="csrf-token">` for
//! scripts, which send it in the [`HEADER`] header. Requests authenticated by an `Authorization`
//! header (API clients) need no token: browsers never attach those on their own.
//!
//! The guard ([`check`], run by `guard` on every request): a state-changing request
//! (POST/PUT/PATCH/DELETE) that carries our login cookie and no `Authorization` header, and
//! every `POST /login` (login CSRF), must come from our own origin: `Sec-Fetch-Site:
//! same-origin` (or `none`: the user typed it), else an `Origin` equal to the service's origin
//! (`Site::origin`: the public URL, or the Host, forwarding headers only from trusted proxies),
//! else a valid [`HEADER`]. `SameSite=Lax` alone is not enough: it counts another port of the
//! same host as the same site, and so would send the cookie along with a form posted from it.
//! A login carrying neither `Sec-Fetch-Site` nor `Origin` is let through: every current browser
//! sends `Origin` with a POST, so such a request is a script logging in on its own behalf, not a
//! browser tricked into it (a cookie-authenticated change without them is still refused).
use actix_web::HttpRequest;
use actix_web::http::{Method, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::session;

/// The form field that carries the token.
pub const FIELD: &str = "csrf";
/// The header scripts send the token in.
pub const HEADER: &str = "x-csrf-token";

/// The token for a login cookie's value.
pub fn token(cookie: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"vocloud-csrf\0");
    hasher.update(cookie.as_bytes());
    hex::encode(hasher.finalize())
}

/// The token for the login cookie this request carries, if any.
pub fn request_token(req: &HttpRequest) -> Option<String> {
    session::cookie_value(req).map(|cookie| token(&cookie))
}

/// Whether `presented` is the token of the request's login cookie (constant time, so the
/// comparison leaks nothing about how much of a guess was right).
pub fn verify(req: &HttpRequest, presented: &str) -> bool {
    request_token(req).is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(presented.as_bytes())))
}

/// Whether the request's [`HEADER`] holds the right token.
pub fn verify_header(req: &HttpRequest) -> bool {
    req.headers().get(HEADER).and_then(|h| h.to_str().ok()).is_some_and(|t| verify(req, t))
}

/// Whether the request must prove it comes from our own pages.
fn needs_check(req: &HttpRequest) -> bool {
    let changes_state = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    let by_cookie = req.headers().get(header::AUTHORIZATION).is_none() && session::cookie_value(req).is_some();
    changes_state && (by_cookie || (req.method() == Method::POST && req.path() == "/login"))
}

/// The guard: `Err` with the reason when a cookie-authenticated state change (or a login) does
/// not come from `our_origin` (`scheme://host[:port]`, as `Site::origin` gives it).
pub fn check(req: &HttpRequest, our_origin: &str) -> Result<(), String> {
    if !needs_check(req) {
        return Ok(());
    }
    let text = |name| req.headers().get(name).and_then(|h| h.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && (site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none"))
    {
        return Ok(());
    }
    let origin = text("origin");
    let is_login = req.path() == "/login";
    if is_login && origin.is_none() && text("sec-fetch-site").is_none() {
        return Ok(());
    }
    if origin.is_some_and(|o| crate::site::normalise_origin(o) == our_origin) || verify_header(req) {
        return Ok(());
    }
    Err(format!(
        "cross-site request refused: a browser request that changes something must come from vocloud's own pages \
         (origin {our_origin}; this one came from {}); scripts should send an Authorization header instead",
        origin.unwrap_or("an unknown origin")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn post(path: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut req = TestRequest::post().uri(path);
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        req.to_http_request()
    }

    #[test]
    fn cookie_state_changes_must_come_from_our_origin() {
        let ours = "http://127.0.0.1:8080";
        let cookie = ("cookie", "vocloud_session=abc");
        let csrf = token("abc");
        let refused = [
            vec![cookie, ("origin", "http://127.0.0.1:9999"), ("sec-fetch-site", "same-site")],
            vec![cookie, ("origin", "null")],
            vec![cookie],
            vec![cookie, (HEADER, "wrong")],
            vec![("origin", "http://evil.example")],
            vec![("sec-fetch-site", "cross-site")],
        ];
        for (i, headers) in refused.iter().enumerate() {
            let path = if i >= 4 { "/login" } else { "/uws/diag" };
            assert!(check(&post(path, headers), ours).is_err(), "{headers:?}");
        }
        let allowed = [
            vec![cookie, ("sec-fetch-site", "same-origin")],
            vec![cookie, ("origin", "HTTP://127.0.0.1:8080")],
            vec![cookie, (HEADER, csrf.as_str())],
            vec![cookie, ("authorization", "Bearer x"), ("origin", "http://evil.example")],
            vec![("origin", "http://evil.example")],
        ];
        for headers in allowed {
            assert!(check(&post("/uws/diag", &headers), ours).is_ok(), "{headers:?}");
        }
        assert!(check(&post("/login", &[]), ours).is_ok(), "a script logging in");
        let get = TestRequest::get().insert_header(cookie).insert_header(("origin", "http://x")).to_http_request();
        assert!(check(&get, ours).is_ok());
    }

    #[test]
    fn only_the_token_of_the_requests_own_cookie_verifies() {
        let req =
            TestRequest::default().insert_header(("cookie", format!("{}=abc", session::COOKIE))).to_http_request();
        assert!(verify(&req, &token("abc")));
        assert!(!verify(&req, &token("abd")));
        assert!(!verify(&req, ""));
        let anonymous = TestRequest::default().to_http_request();
        assert!(!verify(&anonymous, &token("abc")));
        assert_ne!(token("abc"), token("abd"));
        assert_eq!(token("abc").len(), 64);
    }
}
