//! Short-lived signed links: a URL a desktop tool (TOPCAT, SPLAT-VO, sent over SAMP from the
//! browser) can fetch without the user's cookie or password.
//!
//! `POST /api/links` with `path=<storage path>` or `job=<id>&result=<name>` and optional
//! `ttl=<seconds>` (default 3600, at most 86400) answers `{"url", "expires", "type"}` (`type`: the
//! MIME type of what the link serves, from the file's first bytes). The URL is
//! `/shared/<expiry>/<signature>/u/<user>/<path>` or `/shared/<expiry>/<signature>/j/<job>/<name>`:
//! the signature is HMAC-SHA256 (the `hmac` crate) over the target and the expiry with a key kept in the storage
//! root (`.link-key`, mode 0600, made on first use), so every master sharing the storage
//! accepts it. `GET /shared/…` needs no authentication: a bad signature or an expired link is
//! 403 (with the reason), a missing file 404. The link names one file and cannot be widened.
//!
//! With `row=<i>` the link serves spectrum `i` (0-based) of a multi-spectrum file (a FITS image
//! with one spectrum per row, such as a SOM codebook, or a CSV/VOTable with one per row) as a
//! VOTable with `wavelength` and `flux` columns: what SAMP spectrum viewers (SPLAT-VO) load. The
//! URL then ends in `?row=<i>` and the signature covers it.

use std::io::Write;
use std::path::Path;

use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use crate::error::{ApiError, ApiResult};
use crate::jobs::{Caller, JobService};
use crate::respond::{base_url, encode_segment};
use crate::samp::content::{self, Kind};
use crate::storage::RelPath;

const DEFAULT_TTL: i64 = 3600;
const MAX_TTL: i64 = 86_400;
/// Largest file a `row=` link parses to cut one spectrum out of it.
const ROW_READ_BUDGET: usize = 512 << 20;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/links", web::post().to(create)).route("/shared/{tail:.*}", web::get().to(fetch));
}

/// The signing key: `<storage root>/.link-key`, created once (exclusively, mode 0600).
fn key(root: &Path) -> anyhow::Result<Vec<u8>> {
    let path = root.join(".link-key");
    if let Ok(key) = std::fs::read(&path)
        && key.len() >= 32
    {
        return Ok(key);
    }
    let fresh: [u8; 32] = rand::random();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(&fresh).context("writing the link key")?;
            Ok(fresh.to_vec())
        }
        // Another request (or master) made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(&path).context("reading the link key"),
        Err(e) => Err(e).context("creating the link key"),
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], target: &str, expires: i64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{target}\n{expires}").as_bytes());
    mac
}

fn signature(key: &[u8], target: &str, expires: i64) -> String {
    hex::encode(mac(key, target, expires).finalize().into_bytes())
}

/// Whether `presented` (hex) is the signature of `target` and `expires`, compared in constant
/// time (`verify_slice`), so a signature cannot be guessed byte by byte.
fn is_signed(key: &[u8], target: &str, expires: i64, presented: &str) -> bool {
    hex::decode(presented).is_ok_and(|bytes| mac(key, target, expires).verify_slice(&bytes).is_ok())
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[derive(Deserialize)]
struct LinkRequest {
    path: Option<String>,
    job: Option<String>,
    result: Option<String>,
    row: Option<usize>,
    ttl: Option<i64>,
}

async fn create(
    service: web::Data<JobService>,
    caller: Caller,
    form: web::Form<LinkRequest>,
    req: HttpRequest,
) -> ApiResult {
    let form = form.into_inner();
    let ttl = form.ttl.unwrap_or(DEFAULT_TTL);
    if !(1..=MAX_TTL).contains(&ttl) {
        return Err(ApiError::BadRequest(format!("ttl must be 1 to {MAX_TTL} seconds")));
    }
    // The target, percent-encoded segment by segment: exactly what the URL will carry.
    let (target, file) = match (&form.path, &form.job, &form.result) {
        (Some(path), None, None) => {
            let rel = RelPath::parse(path)?;
            let full = service.storage().user_path(&caller.name, &rel).context("opening user storage")?;
            if !full.is_file() {
                return Err(ApiError::NotFound(format!("'{}' is not a file in your storage", rel.as_string())));
            }
            (user_target(&caller.name, &rel), full)
        }
        (None, Some(job), Some(result)) => {
            service.get(&caller, None, job).await?;
            let full = service
                .storage()
                .result_path(job, result)
                .ok_or_else(|| ApiError::NotFound(format!("no result '{result}'")))?;
            (result_target(job, result), full)
        }
        _ => return Err(ApiError::BadRequest("give either path, or job and result".into())),
    };
    let target = match form.row {
        Some(row) => format!("{target}?row={row}"),
        None => target,
    };
    // What the link serves, from its first bytes (a row is always a VOTable): pages pick the
    // SAMP MType and a spectrum's Access.Format by it.
    let kind = match form.row {
        Some(_) => Kind::VoTable,
        None => web::block(move || content::of_file(&file)).await.context("reading the file")?.unwrap_or(Kind::Other),
    };
    let (url, expires) = sign(service.storage().root(), &req, &target, ttl)?;
    Ok(HttpResponse::Ok().json(json!({
        "url": url,
        "expires": crate::uws::time::format_ms(expires * 1000),
        "type": kind.mime(),
    })))
}

/// The link target of a file in `user`'s storage (segments percent-encoded, as the URL carries them).
pub fn user_target(user: &str, rel: &RelPath) -> String {
    let encoded: Vec<String> = rel.as_string().split('/').map(encode_segment).collect();
    format!("u/{}/{}", encode_segment(user), encoded.join("/"))
}

/// The link target of a job result.
pub fn result_target(job: &str, result: &str) -> String {
    format!("j/{}/{}", encode_segment(job), encode_segment(result))
}

/// A signed URL for `target` valid for `ttl` seconds, and its expiry (Unix seconds). The caller
/// has checked that the target is the caller's to share.
pub fn sign(root: &Path, req: &HttpRequest, target: &str, ttl: i64) -> anyhow::Result<(String, i64)> {
    let expires = now() + ttl;
    let key = key(root)?;
    Ok((format!("{}/shared/{expires}/{}/{target}", base_url(req), signature(&key, target, expires)), expires))
}

fn decode(segment: &str) -> ApiResult<String> {
    Ok(percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| ApiError::BadRequest("path is not UTF-8".into()))?
        .into_owned())
}

async fn fetch(service: web::Data<JobService>, req: HttpRequest) -> ApiResult {
    // The raw (still encoded) path: the signature covers it byte for byte.
    let raw = req.uri().path().strip_prefix("/shared/").unwrap_or("");
    let mut parts = raw.splitn(3, '/');
    let (Some(expires), Some(sig), Some(target)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ApiError::NotFound("not a shared link".into()));
    };
    let expires: i64 = expires.parse().map_err(|_| ApiError::NotFound("not a shared link".into()))?;
    let key = key(service.storage().root())?;
    let query = req.uri().query().unwrap_or("");
    let signed = if query.is_empty() { target.to_string() } else { format!("{target}?{query}") };
    if !is_signed(&key, &signed, expires, sig) {
        return Err(ApiError::Forbidden("this link's signature is not valid".into()));
    }
    if now() > expires {
        return Err(ApiError::Forbidden("this link has expired; ask for a new one".into()));
    }
    let segments: Vec<String> = target.split('/').map(decode).collect::<ApiResult<_>>()?;
    let path = match segments.as_slice() {
        [kind, user, rest @ ..] if kind == "u" && !rest.is_empty() => {
            let rel = RelPath::parse(&rest.join("/"))?;
            service.storage().user_path(user, &rel).context("opening user storage")?
        }
        [kind, job, name] if kind == "j" => {
            service.storage().result_path(job, name).ok_or_else(|| ApiError::NotFound(format!("no result '{name}'")))?
        }
        _ => return Err(ApiError::NotFound("not a shared link".into())),
    };
    if !path.is_file() {
        return Err(ApiError::NotFound("the linked file no longer exists".into()));
    }
    match query.strip_prefix("row=").and_then(|r| r.parse::<usize>().ok()) {
        Some(row) => one_spectrum(segments.last().cloned().unwrap_or_default(), path, row).await,
        None => crate::respond::serve_file(&req, &path).await,
    }
}

/// Spectrum `row` of a file as a two-column VOTable (wavelength, flux).
async fn one_spectrum(shown: String, path: std::path::PathBuf, row: usize) -> ApiResult {
    use vocloud_workers::votable::{Datatype, Field, Table, Value};
    let read = web::block(move || crate::plots::spectra::read_row(&shown, &path, row, ROW_READ_BUDGET))
        .await
        .context("reading a spectrum")?;
    let (name, x, y) = read.map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut table = Table::new(
        &name,
        vec![
            Field::new("wavelength", Datatype::Double).ucd("em.wl"),
            Field::new("flux", Datatype::Double).ucd("phot.flux.density"),
        ],
    );
    for (x, y) in x.into_iter().zip(y) {
        table.push(vec![Value::Float(x), Value::Float(y as f64)]);
    }
    let mut response = HttpResponse::Ok()
        .content_type("application/x-votable+xml")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"row-{row}.vot\""),
        ))
        .body(table.to_bytes());
    crate::respond::inert(&mut response);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_target_and_expiry() {
        let key = b"0123456789abcdef0123456789abcdef";
        let sig = signature(key, "u/alice/a.fits", 100);
        assert_eq!(sig.len(), 64);
        assert!(is_signed(key, "u/alice/a.fits", 100, &sig));
        assert!(!is_signed(key, "u/alice/b.fits", 100, &sig));
        assert!(!is_signed(key, "u/alice/a.fits", 101, &sig));
        assert!(!is_signed(key, "u/alice/a.fits", 100, &sig[..62]));
        assert!(!is_signed(key, "u/alice/a.fits", 100, "not hex"));
    }
}
