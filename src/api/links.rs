//! Short-lived signed links: a URL a desktop tool (TOPCAT, SPLAT-VO, sent over SAMP from the
//! browser) can fetch without the user's cookie or password.
//!
//! `POST /api/links` with `path=<storage path>` or `job=<id>&result=<name>` and optional
//! `ttl=<seconds>` (default 3600, at most 86400) answers `{"url", "expires", "type"}` (`type`: the
//! MIME type of what the link serves, from the file's first bytes). The URL is
//! `/shared/<expiry>/<signature>/u/<user>/<path>` or `/shared/<expiry>/<signature>/j/<job>/<name>`:
//! the signature is HMAC-SHA256 over the target and the expiry with a key kept in the storage
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
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

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

/// HMAC-SHA256 (RFC 2104) over sha2, which we already depend on.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
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

fn signature(key: &[u8], target: &str, expires: i64) -> String {
    hex::encode(hmac_sha256(key, format!("{target}\n{expires}").as_bytes()))
}

/// Constant-time comparison, so the signature cannot be guessed byte by byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if bytes[i] == b'%' {
            match (bytes.get(i + 1).and_then(|&c| hex(c)), bytes.get(i + 2).and_then(|&c| hex(c))) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(ApiError::BadRequest("bad percent-encoding".into())),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::BadRequest("path is not UTF-8".into()))
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
    if !same(sig, &signature(&key, &signed, expires)) {
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
    Ok(HttpResponse::Ok()
        .content_type("application/x-votable+xml")
        .insert_header((actix_web::http::header::CONTENT_DISPOSITION, format!("inline; filename=\"row-{row}.vot\"")))
        .body(table.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let long_key = [0xaau8; 131];
        let mac = hmac_sha256(&long_key, b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
