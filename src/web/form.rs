//! [`Posted`]: the one extractor every form handler takes. It requires a browser login (the
//! session cookie) and the CSRF token of that login in the form's `csrf` field, then hands the
//! handler the fields as ordered pairs (forms repeat names: `path=a&path=b`).
//!
//! Forms are for browsers only; scripts and VO clients use the UWS and JSON APIs with their own
//! credentials. Requiring the cookie here means a browser that cached Basic credentials cannot
//! be made to post a form by another site.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::page::{PageError, Viewer};
use crate::auth::csrf;
use crate::error::ApiError;

/// Largest form body the pages accept (job notes and experiment descriptions are the big ones).
const MAX_FORM: usize = 256 * 1024;

pub struct Posted {
    pub viewer: Viewer,
    pairs: Vec<(String, String)>,
}

impl Posted {
    /// The first value of `name`, if given.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or empty.
    pub fn text(&self, name: &str) -> &str {
        self.one(name).unwrap_or("")
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether a checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.one(name).is_some()
    }

    /// Every field but the token, in order.
    pub fn pairs(&self) -> impl Iterator<Item = &(String, String)> {
        self.pairs.iter().filter(|(n, _)| n != csrf::FIELD)
    }
}

fn refused(message: &str) -> PageError {
    PageError::Api(ApiError::Forbidden(message.into()))
}

impl FromRequest for Posted {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Posted, PageError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let viewer = Viewer::from_request(req, payload);
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let viewer = viewer.await?;
            let body =
                body.await.map_err(|e| PageError::Api(ApiError::BadRequest(format!("reading the form: {e}"))))?;
            if body.len() > MAX_FORM {
                return Err(PageError::Api(ApiError::TooLarge(format!("forms are limited to {MAX_FORM} bytes"))));
            }
            let text = std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest("the form is not UTF-8".into()))?;
            let pairs: Vec<(String, String)> = crate::uws::params::decode(text)?;
            let token = pairs.iter().find(|(n, _)| n == csrf::FIELD).map(|(_, v)| v.as_str()).unwrap_or("");
            if viewer.csrf.is_empty() {
                return Err(refused("forms need a browser login; API clients use the UWS and JSON APIs"));
            }
            if !csrf::verify(&req, token) {
                return Err(refused("the form's security token is missing or stale; reload the page and try again"));
            }
            Ok(Posted { viewer, pairs })
        })
    }
}
