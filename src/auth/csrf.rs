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

use actix_web::HttpRequest;
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

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
