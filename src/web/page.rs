//! What every page handler shares: the [`Viewer`] extractor (who is looking, and their CSRF
//! token), the [`Chrome`] the layout template needs (user, navigation, flash message), rendering
//! a template into a response, redirects with a flash message, and [`PageError`], which turns
//! failures into HTML pages (a login form for anonymous visitors, a 404 page for things that do
//! not exist or belong to someone else).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload};
use askama::Template;
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::auth::csrf;
use crate::error::ApiError;
use crate::jobs::Caller;

/// What the pages may load: only vocloud's own scripts, styles, images and frames (so no inline
/// script can run, even if markup slipped through), plus the desktop SAMP hub the files page
/// talks to (SAMP Web Profile, port 21012).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self' http://localhost:21012 http://127.0.0.1:21012; frame-src 'self'; \
     frame-ancestors 'self'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// The headers every page carries.
fn page_headers(response: &mut actix_web::HttpResponseBuilder) {
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"));
}

/// The cookie that carries a message to the page after a redirect (post/redirect/get).
const FLASH_COOKIE: &str = "vocloud_flash";

/// The signed-in user looking at a page.
pub struct Viewer {
    pub caller: Caller,
    /// The CSRF token forms and scripts send back; empty when the request carried no login
    /// cookie (an API client using Basic or a token: such clients use the APIs, not forms).
    pub csrf: String,
    flash: Option<Flash>,
}

/// A one-time message shown at the top of the next page.
#[derive(Debug, Clone)]
pub struct Flash {
    pub is_error: bool,
    pub text: String,
}

impl Flash {
    fn parse(value: &str) -> Option<Flash> {
        let (kind, text) = value.split_once('.')?;
        let text = percent_decode_str(text).decode_utf8().ok()?.chars().take(500).collect();
        Some(Flash { is_error: kind == "error", text })
    }

    fn cookie(&self) -> String {
        let kind = if self.is_error { "error" } else { "ok" };
        let text = utf8_percent_encode(&self.text, NON_ALPHANUMERIC);
        format!("{FLASH_COOKIE}={kind}.{text}; Path=/; HttpOnly; SameSite=Lax; Max-Age=60")
    }
}

/// The parts of the layout every page fills: who is signed in, which section is open, the CSRF
/// token for the logout form and `<meta name="csrf-token">`, and the flash message.
pub struct Chrome {
    /// Empty on pages for anonymous visitors (login, errors): the navigation is then hidden.
    pub user: String,
    pub is_admin: bool,
    pub csrf: String,
    /// `home`, `files`, `jobs`, `experiments`, `settings`, `admin`, or empty.
    pub section: &'static str,
    pub flash: Option<Flash>,
}

impl Chrome {
    pub fn anonymous() -> Chrome {
        Chrome { user: String::new(), is_admin: false, csrf: String::new(), section: "", flash: None }
    }
}

impl Viewer {
    /// The layout's part for a page of `section`; takes the flash message (shown once).
    pub fn chrome(&mut self, section: &'static str) -> Chrome {
        Chrome {
            user: self.caller.name.clone(),
            is_admin: self.caller.is_admin,
            csrf: self.csrf.clone(),
            section,
            flash: self.flash.take(),
        }
    }
}

fn flash_from(req: &HttpRequest) -> Option<Flash> {
    req.headers().get_all(header::COOKIE).filter_map(|h| h.to_str().ok()).flat_map(|h| h.split(';')).find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == FLASH_COOKIE).then(|| Flash::parse(value)).flatten()
    })
}

impl FromRequest for Viewer {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Viewer, PageError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            match caller.await {
                Ok(caller) => {
                    Ok(Viewer { caller, csrf: csrf::request_token(&req).unwrap_or_default(), flash: flash_from(&req) })
                }
                Err(ApiError::Unauthorized(_)) if req.headers().get(header::AUTHORIZATION).is_none() => {
                    Err(PageError::Login { next: req.uri().to_string() })
                }
                Err(e) => Err(PageError::Api(e)),
            }
        })
    }
}

/// Renders a page. A flash message the page showed is cleared with it.
pub fn render(chrome: &Chrome, page: &impl Template) -> Result<HttpResponse, PageError> {
    let html = page.render().map_err(|e| PageError::Api(ApiError::Internal(anyhow::anyhow!("rendering page: {e}"))))?;
    let mut response = HttpResponse::Ok();
    page_headers(&mut response);
    if chrome.flash.is_some() {
        response
            .insert_header((header::SET_COOKIE, format!("{FLASH_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")));
    }
    Ok(response.body(html))
}

/// `303 See Other` to a local `location`.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location.to_string())).finish()
}

/// `303 See Other` with a message for the next page.
pub fn see_other_with(location: &str, is_error: bool, text: impl Into<String>) -> HttpResponse {
    let flash = Flash { is_error, text: text.into() };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_string()))
        .insert_header((header::SET_COOKIE, flash.cookie()))
        .finish()
}

/// Why a page could not be shown; every variant answers with an HTML page.
#[derive(Debug)]
pub enum PageError {
    /// Nobody is signed in: the login form, which brings them back to `next`.
    Login {
        next: String,
    },
    Api(ApiError),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::Login { .. } => f.write_str("sign in to see this page"),
            PageError::Api(e) => e.fmt(f),
        }
    }
}

macro_rules! page_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for PageError {
            fn from(e: $t) -> Self {
                PageError::Api(e.into())
            }
        }
    )*};
}
page_error_from!(
    ApiError,
    crate::jobs::Error,
    anyhow::Error,
    crate::storage::PathError,
    crate::uws::params::BadParameter
);

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    title: &'a str,
    message: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::Login { .. } => StatusCode::SEE_OTHER,
            PageError::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let api = match self {
            PageError::Login { next } => {
                let next = utf8_percent_encode(next, NON_ALPHANUMERIC);
                return see_other(&format!("/?next={next}"));
            }
            PageError::Api(e) => e,
        };
        if let ApiError::Internal(e) = api {
            tracing::error!(error.message = %e, error.cause_chain = ?e, "page failed");
        }
        let title = match api {
            ApiError::NotFound(_) => "Not found",
            ApiError::Internal(_) => "Something went wrong",
            ApiError::Forbidden(_) | ApiError::Unauthorized(_) => "Not allowed",
            _ => "That did not work",
        };
        let page = ErrorPage { chrome: Chrome::anonymous(), title, message: api.to_string() };
        let html = page.render().unwrap_or_else(|_| title.to_string());
        let mut response = HttpResponse::build(self.status_code());
        page_headers(&mut response);
        response.body(html)
    }
}

pub type PageResult = Result<HttpResponse, PageError>;

/// An `<option>` of a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    /// Options whose labels are their values, `current` selected.
    pub fn list<S: AsRef<str>>(values: impl IntoIterator<Item = S>, current: &str) -> Vec<Choice> {
        values
            .into_iter()
            .map(|v| Choice {
                value: v.as_ref().to_string(),
                label: v.as_ref().to_string(),
                selected: v.as_ref() == current,
            })
            .collect()
    }
}
