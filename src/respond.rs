//! Pieces of HTTP answers shared by the UWS, files and JSON handlers: the service's absolute
//! base URL (redirects must be absolute and start with what the client typed) and file
//! downloads with ranges, content types and the policy that keeps user content inert.
//!
//! Everything served from user storage or job results is someone's upload or a job's output,
//! so a browser must never run it as vocloud: it is served with `Content-Security-Policy:
//! sandbox` (an opaque origin, no scripts, no forms, no plugins) and a `default-src 'none'`,
//! `X-Content-Type-Options: nosniff`, and — unless its type is in a short list of inert ones
//! ([`inline_type`]) — as an attachment, so navigating to it downloads it. The one exception is
//! a job result whose bytes are exactly a page vocloud itself ships (the SOM viewer): it is
//! served as vocloud's page, with a CSP that allows only its own inline script (by hash) and
//! our static files. docs/security.md explains the choice.

use std::path::Path;
use std::sync::LazyLock;

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::site::Site;

/// The CSP of user content: a sandbox (opaque origin, no scripts) that may show its own images
/// and styles and load nothing else.
pub const USER_CONTENT_CSP: &str = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'";

/// The CSP of vocloud's own pages (added by `guard` to every answer that has none): scripts from
/// our own files only (no inline scripts or handlers, STYLE.md §9), styles from our files and
/// inline (low risk with escaping templates), connections to us and to the desktop SAMP hub.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob:; connect-src 'self' http://localhost:21012 http://127.0.0.1:21012; \
    object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

/// `scheme://host[:port]` as the client addressed us (or the configured public URL); forwarding
/// headers count only from trusted proxies (see [`Site`]).
pub fn base_url(req: &HttpRequest) -> String {
    Site::of(req).base_url(req)
}

/// Unreserved characters (RFC 3986) stay, everything else is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes one URL path segment.
pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// A path parameter as the user wrote it: actix decodes a URL path except `%`, `/` and `+`
/// (so that `%2F` cannot split a segment), which are decoded here, once, before any checks; a
/// name with them (encoded by browsers' `encodeURIComponent`) would otherwise be taken as its
/// encoding.
pub fn decode_param(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// The storage path in a route's `{path}` parameter (the files API and the files pages).
pub fn storage_path(req: &HttpRequest) -> Result<crate::storage::RelPath, crate::storage::PathError> {
    crate::storage::RelPath::parse(&decode_param(req.match_info().get("path").unwrap_or("")))
}

/// Types a browser shows without running anything: images, plain text, JSON. Everything else
/// from user storage or results (HTML, SVG, XML and VOTable, JavaScript, PDF, FITS, unknown) is
/// served as an attachment.
pub fn inline_type(mime: &str) -> bool {
    matches!(
        mime,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "text/plain" | "text/csv" | "application/json"
    )
}

/// Sends a file of user storage (files API, shared links) inert, with Range support, or 404.
pub async fn serve_file(req: &HttpRequest, path: &Path) -> ApiResult {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mime = crate::storage::mime_type(&name);
    let file = match actix_files::NamedFile::open_async(path).await {
        Ok(file) if path.is_file() => file,
        _ => return Err(ApiError::NotFound(format!("no file '{name}'"))),
    };
    let parsed: mime::Mime = mime.parse().unwrap_or(mime::APPLICATION_OCTET_STREAM);
    let disposition = ContentDisposition {
        disposition: if inline_type(mime) { DispositionType::Inline } else { DispositionType::Attachment },
        parameters: vec![DispositionParam::Filename(name)],
    };
    let mut response =
        file.set_content_type(parsed).set_content_disposition(disposition).use_last_modified(true).into_response(req);
    inert(&mut response);
    Ok(response)
}

/// Marks an answer as user content: sandboxed, never sniffed.
pub fn inert(response: &mut HttpResponse) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(USER_CONTENT_CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

/// Sends a job result: vocloud's own pages as pages, everything else as [`serve_file`] does.
pub async fn serve_result(req: &HttpRequest, path: &Path) -> ApiResult {
    let Some(page) = own_page(path).await else { return serve_file(req, path).await };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, page.csp.as_str()))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(page.html))
}

/// A page vocloud ships inside job results, and the CSP it is served with.
struct OwnPage {
    html: &'static str,
    csp: String,
}

/// The pages our job kinds write as results; a result is served as one only if its bytes are
/// exactly these (so nothing a user or a job could change runs as vocloud).
static OWN_PAGES: LazyLock<Vec<OwnPage>> = LazyLock::new(|| {
    vec![OwnPage {
        html: vocloud_workers::som::output::VIEWER_HTML,
        csp: page_csp(vocloud_workers::som::output::VIEWER_HTML),
    }]
});

async fn own_page(path: &Path) -> Option<&'static OwnPage> {
    let len = tokio::fs::metadata(path).await.ok()?.len();
    let page = OWN_PAGES.iter().find(|p| p.html.len() as u64 == len)?;
    let bytes = tokio::fs::read(path).await.ok()?;
    (bytes == page.html.as_bytes()).then_some(page)
}

/// The page's CSP: its inline scripts by hash (nothing injected could match), our static
/// scripts, its inline styles, connections to us and the SAMP hub, no sandbox (it needs our
/// cookie to fetch the job's data).
fn page_csp(html: &str) -> String {
    let hashes: Vec<String> = inline_scripts(html)
        .map(|s| format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))))
        .collect();
    format!(
        "default-src 'none'; script-src 'self' {}; style-src 'unsafe-inline'; img-src 'self' data: blob:; \
         connect-src 'self' http://localhost:21012 http://127.0.0.1:21012; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'self'",
        hashes.join(" ")
    )
}

/// The bodies of `<script>` elements without `src`.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (attributes, body) = rest.split_once('>')?;
        let body = body.split("</script>").next()?;
        (!attributes.contains("src=")).then_some(body)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inert_types_are_shown_inline() {
        for active in ["text/html", "image/svg+xml", "application/xml", "application/x-votable+xml", "text/javascript"]
        {
            assert!(!inline_type(active), "{active}");
        }
        assert!(inline_type("image/png") && inline_type("text/plain"));
        assert_eq!(encode_segment("a b/é~"), "a%20b%2F%C3%A9~");
    }

    #[test]
    fn the_viewer_csp_allows_its_inline_script_by_hash_only() {
        let csp = page_csp("<p><script>let a = 1;</script><script src=\"/x.js\"></script>");
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"let a = 1;"));
        assert!(csp.contains(&format!("'sha256-{expected}'")), "{csp}");
        assert!(!csp.contains("unsafe-inline'; img") || !csp.contains("script-src 'unsafe-inline'"));
        assert_eq!(page_csp(vocloud_workers::som::output::VIEWER_HTML).matches("'sha256-").count(), 1);
    }
}
