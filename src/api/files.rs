//! The files API (DESIGN.md): `GET /api/files/<path>` (a file, or a folder's JSON listing;
//! `?format=votable` gives the listing as a VOTable),
//! `PUT` (upload the body, streamed), `DELETE`, and `POST` with `op=mkdir|move` (+`to=`).
//! Paths are relative to the caller's storage folder and checked by [`RelPath::parse`].
//! `GET /api/quota` gives the caller's storage use and quota (see `jobs::quota`); uploads that
//! would pass the quota are refused with 413 and those numbers, before their bytes are written
//! (each upload reserves its space first).

use std::path::{Path, PathBuf};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::error::{ApiError, ApiResult};
use crate::jobs::{Caller, JobService};
use crate::storage::{Folders, RelPath};
use crate::uws::params;

pub fn configure(cfg: &mut web::ServiceConfig) {
    for path in ["/api/files", "/api/files/", "/api/files/{path:.*}"] {
        cfg.service(
            web::resource(path)
                .route(web::get().to(get))
                .route(web::put().to(put))
                .route(web::delete().to(delete))
                .route(web::post().to(post)),
        );
    }
    cfg.service(web::resource("/api/quota").route(web::get().to(quota)));
}

/// `{"used": bytes, "quota": bytes or null, "available": bytes or null, "over_quota": bool}`.
async fn quota(service: web::Data<JobService>, caller: Caller) -> ApiResult {
    let usage = service.usage(caller.user_id, &caller.name).await?;
    Ok(HttpResponse::Ok().json(json!({
        "used": usage.used,
        "reserved": usage.reserved,
        "quota": usage.quota,
        "available": usage.quota.map(|_| usage.available()),
        "over_quota": usage.over_quota(),
    })))
}

fn rel_path(req: &HttpRequest) -> ApiResult<RelPath> {
    Ok(crate::respond::storage_path(req)?)
}

fn absolute(service: &JobService, caller: &Caller, rel: &RelPath) -> ApiResult<PathBuf> {
    Ok(service.storage().user_path(&caller.name, rel).context("opening user storage")?)
}

fn not_found(rel: &RelPath) -> ApiError {
    ApiError::NotFound(format!("'{}' does not exist in your storage", rel.as_string()))
}

async fn get(service: web::Data<JobService>, caller: Caller, req: HttpRequest) -> ApiResult {
    let rel = rel_path(&req)?;
    let path = absolute(&service, &caller, &rel)?;
    let meta = tokio::fs::metadata(&path).await.map_err(|_| not_found(&rel))?;
    if meta.is_file() {
        return crate::respond::serve_file(&req, &path).await;
    }
    let entries = web::block(move || list_folder(&path)).await.context("listing folder")?.context("listing folder")?;
    if req.query_string().split('&').any(|kv| kv == "format=votable") {
        // For VO tools (TOPCAT can open this URL): the same listing as a VOTable.
        let table = listing_votable(&rel.as_string(), &entries);
        return Ok(HttpResponse::Ok().content_type("application/x-votable+xml").body(table.to_bytes()));
    }
    Ok(HttpResponse::Ok().json(json!({ "path": rel.as_string(), "type": "folder", "entries": entries })))
}

fn list_folder(path: &Path) -> std::io::Result<Vec<serde_json::Value>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let meta = entry.metadata()?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64);
        entries.push(json!({
            "name": name,
            "type": if meta.is_dir() { "folder" } else { "file" },
            "size": meta.is_file().then_some(meta.len()),
            "modified": modified.map(crate::uws::time::format_ms),
        }));
    }
    entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(entries)
}

/// A folder listing as a VOTable: name, type, size and modification time per entry.
fn listing_votable(folder: &str, entries: &[serde_json::Value]) -> vocloud_workers::votable::Table {
    use vocloud_workers::votable::{Datatype, Field, Table, Value};
    let mut table = Table::new(
        "files",
        vec![
            Field::new("name", Datatype::Char).ucd("meta.id;meta.file"),
            Field::new("type", Datatype::Char).ucd("meta.code").describe("file or folder"),
            Field::new("size", Datatype::Long).unit("byte").ucd("phys.size;meta.file"),
            Field::new("modified", Datatype::Char).ucd("time.epoch;meta.file").xtype("timestamp"),
        ],
    );
    table.description = Some(format!("vocloud storage folder /{folder}"));
    let text = |v: &serde_json::Value| v.as_str().map_or(Value::Null, |s| Value::Text(s.to_string()));
    for e in entries {
        let size = e["size"].as_u64().map_or(Value::Null, |n| Value::Int(n as i64));
        table.push(vec![text(&e["name"]), text(&e["type"]), size, text(&e["modified"])]);
    }
    table
}

/// Streams the body into a temp file next to the target and renames it into place, so a failed
/// or oversized upload never leaves a partial file under the real name (nor the folders it made).
/// Quota is reserved before writing: the declared length at once, a chunked body as it streams.
async fn put(service: web::Data<JobService>, caller: Caller, req: HttpRequest, body: web::Payload) -> ApiResult {
    let rel = rel_path(&req)?;
    if rel.is_root() {
        return Err(ApiError::BadRequest("give a file path to upload to".into()));
    }
    let limit = service.limits().max_upload_bytes;
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let path = absolute(&service, &caller, &rel)?;
    if path.is_dir() {
        return Err(ApiError::Conflict(format!("'{}' is a folder", rel.as_string())));
    }
    // An upload that replaces a file frees that file's bytes.
    let replaced = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
    let needed = |size: u64| size.saturating_sub(replaced);
    let mut reservation = service
        .reserve(caller.user_id, &caller.name, needed(declared.unwrap_or(0)))
        .await?
        .map_err(|usage| over_quota(declared.unwrap_or(0), &usage))?;
    let parent = path.parent().context("upload path has no parent")?;
    let folders = create_parents(parent, &rel).await?;
    let tmp = parent.join(format!(".upload-{}.partial", crate::auth::new_secret("")));
    let written = write_body(&tmp, body, limit, |size| {
        reservation.grow_to(needed(size)).map_err(|usage| over_quota(size, &usage))
    })
    .await;
    let existed = path.exists();
    let placed = match written {
        Ok(size) => tokio::fs::rename(&tmp, &path)
            .await
            .map(|()| size)
            .map_err(|e| ApiError::from(anyhow::Error::from(e).context("moving upload into place"))),
        Err(e) => Err(e),
    };
    let size = match placed {
        Ok(size) => size,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            let _ = web::block(move || folders.remove()).await;
            return Err(e);
        }
    };
    reservation.commit(size as i64 - replaced as i64);
    let status = if existed { HttpResponse::Ok() } else { HttpResponse::Created() };
    Ok(with_status(status, json!({ "path": rel.as_string(), "size": size })))
}

/// Copies the request body into `tmp`; `admit(size)` is asked before each chunk is written.
async fn write_body(
    tmp: &Path,
    mut body: web::Payload,
    limit: u64,
    mut admit: impl FnMut(u64) -> ApiResult<()>,
) -> ApiResult<u64> {
    let mut file = tokio::fs::File::create(tmp).await.map_err(|e| path_error(e, "creating upload file"))?;
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("upload interrupted: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        admit(size)?;
        file.write_all(&chunk).await.context("writing upload")?;
    }
    file.sync_all().await.context("syncing upload")?;
    Ok(size)
}

fn with_status(mut builder: actix_web::HttpResponseBuilder, body: serde_json::Value) -> HttpResponse {
    builder.json(body)
}

fn over_quota(size: u64, usage: &crate::jobs::quota::Usage) -> ApiError {
    ApiError::TooLarge(format!(
        "storage quota exceeded: this upload needs {size} bytes or more, and {}; delete files or job results to free space",
        usage.describe()
    ))
}

fn too_large(limit: u64) -> ApiError {
    ApiError::TooLarge(format!("upload larger than the limit of {limit} bytes"))
}

/// A file system refusal caused by the name (too long, invalid) is the client's 400.
fn path_error(e: std::io::Error, what: &str) -> ApiError {
    if e.kind() == std::io::ErrorKind::InvalidFilename {
        ApiError::BadRequest(format!("{what}: the path is too long or not a valid file name"))
    } else {
        anyhow::Error::from(e).context(what.to_string()).into()
    }
}

async fn create_parents(parent: &Path, rel: &RelPath) -> ApiResult<Folders> {
    let dir = parent.to_path_buf();
    match web::block(move || Folders::create(&dir)).await.context("creating folders")? {
        Ok(made) => Ok(made),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists || e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(ApiError::Conflict(format!("a parent of '{}' is a file", rel.as_string())))
        }
        Err(e) => Err(path_error(e, "creating folders")),
    }
}

async fn delete(service: web::Data<JobService>, caller: Caller, req: HttpRequest) -> ApiResult {
    let rel = rel_path(&req)?;
    if rel.is_root() {
        return Err(ApiError::BadRequest(
            "refusing to delete your whole storage; delete its entries one by one".into(),
        ));
    }
    let path = absolute(&service, &caller, &rel)?;
    let meta = tokio::fs::symlink_metadata(&path).await.map_err(|_| not_found(&rel))?;
    let removed =
        if meta.is_dir() { tokio::fs::remove_dir_all(&path).await } else { tokio::fs::remove_file(&path).await };
    removed.context("deleting")?;
    service.forget_usage(&caller.name);
    Ok(HttpResponse::NoContent().finish())
}

/// `op=mkdir` creates the folder (and its parents); `op=move&to=<path>` renames a file or folder.
async fn post(service: web::Data<JobService>, caller: Caller, req: HttpRequest, body: web::Bytes) -> ApiResult {
    let rel = rel_path(&req)?;
    let mut pairs = params::decode(req.query_string())?;
    pairs.extend(params::decode(
        std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest("form body is not UTF-8".into()))?,
    )?);
    let path = absolute(&service, &caller, &rel)?;
    match params::single(&pairs, "op")? {
        Some("mkdir") => {
            if path.is_file() {
                return Err(ApiError::Conflict(format!("'{}' is a file", rel.as_string())));
            }
            create_parents(&path, &rel).await?;
            Ok(with_status(HttpResponse::Created(), json!({ "path": rel.as_string(), "type": "folder" })))
        }
        Some("move") => {
            let to = RelPath::parse(
                params::single(&pairs, "to")?.ok_or_else(|| ApiError::BadRequest("op=move needs to=<path>".into()))?,
            )?;
            if rel.is_root() || to.is_root() {
                return Err(ApiError::BadRequest("cannot move your storage root".into()));
            }
            if !path.exists() {
                return Err(not_found(&rel));
            }
            let target = absolute(&service, &caller, &to)?;
            if target.exists() {
                return Err(ApiError::Conflict(format!("'{}' already exists", to.as_string())));
            }
            if target.starts_with(&path) {
                return Err(ApiError::BadRequest("cannot move a folder into itself".into()));
            }
            let folders = create_parents(target.parent().context("move target has no parent")?, &to).await?;
            if let Err(e) = tokio::fs::rename(&path, &target).await {
                let _ = web::block(move || folders.remove()).await;
                return Err(path_error(e, "moving"));
            }
            Ok(HttpResponse::Ok().json(json!({ "path": to.as_string() })))
        }
        Some(other) => Err(ApiError::BadRequest(format!("op must be mkdir or move, got '{other}'"))),
        None => Err(ApiError::BadRequest("op=mkdir or op=move is required".into())),
    }
}
