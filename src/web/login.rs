//! The login form, shown at `/` to anonymous visitors and at `/login` (the handler that checks
//! the password is `auth::session`).

use actix_web::HttpResponse;
use askama::Template;

use super::page::{Chrome, render};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    chrome: Chrome,
    title: &'a str,
    /// Where to go after logging in (a local path, already made safe).
    next: &'a str,
    /// The name typed last time, kept when the password was wrong.
    user: &'a str,
    message: &'a str,
}

/// The login form; `message` says why the last attempt failed (empty on the first visit).
pub fn page(next: &str, user: &str, message: &str) -> HttpResponse {
    let page = LoginPage { chrome: Chrome::anonymous(), title: "Log in", next, user, message };
    render(&page.chrome, &page).unwrap_or_else(|e| actix_web::ResponseError::error_response(&e))
}
