//! Pieces of HTTP answers shared by the UWS, files and JSON handlers: the service's absolute
//! base URL (redirects must be absolute and start with what the client typed) and file
//! downloads with ranges and content types.

use std::path::Path;
use std::sync::OnceLock;

use actix_web::HttpRequest;

use crate::error::{ApiError, ApiResult};

static PUBLIC_URL: OnceLock<Option<String>> = OnceLock::new();

/// Sets the configured public URL (once, at start-up); without it URLs follow the request.
pub fn set_public_url(url: Option<String>) {
    let _ = PUBLIC_URL.set(url.map(|u| u.trim_end_matches('/').to_string()));
}

/// `scheme://host[:port]` as the client addressed us (or the configured public URL).
pub fn base_url(req: &HttpRequest) -> String {
    if let Some(Some(url)) = PUBLIC_URL.get() {
        return url.clone();
    }
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// Percent-encodes one URL path segment.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends a file (with Range support and a content type from its name), or 404.
pub async fn serve_file(req: &HttpRequest, path: &Path) -> ApiResult {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match actix_files::NamedFile::open_async(path).await {
        Ok(file) if path.is_file() => {
            let mime: mime::Mime = crate::storage::mime_type(&name).parse().unwrap_or(mime::APPLICATION_OCTET_STREAM);
            Ok(file.set_content_type(mime).use_last_modified(true).into_response(req))
        }
        _ => Err(ApiError::NotFound(format!("no file '{name}'"))),
    }
}
