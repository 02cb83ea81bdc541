//! Changes the files page makes in a user's storage — new folder, move or rename, delete —
//! with the same rules as the files API (`api::files`): paths go through `RelPath::parse`, the
//! root cannot be moved or deleted, nothing is overwritten, a folder cannot move into itself.
//! Each change forgets the cached listings it affects and, for deletions, the cached usage.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::folder;
use crate::error::{ApiError, ApiResult};
use crate::jobs::{Caller, JobService};
use crate::storage::RelPath;

pub fn absolute(service: &JobService, caller: &Caller, rel: &RelPath) -> ApiResult<PathBuf> {
    Ok(service.storage().user_path(&caller.name, rel).context("opening user storage")?)
}

/// `parent/name` for one name typed by the user (no `/`, nothing `RelPath` refuses).
pub fn child(parent: &RelPath, name: &str) -> ApiResult<RelPath> {
    let name = name.trim();
    if name.is_empty() || name.contains('/') {
        return Err(ApiError::BadRequest("give a name without '/'".into()));
    }
    let joined = if parent.is_root() { name.to_string() } else { format!("{}/{name}", parent.as_string()) };
    Ok(RelPath::parse(&joined)?)
}

fn forget_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        folder::forget(parent);
    }
}

pub async fn make_folder(service: &JobService, caller: &Caller, rel: &RelPath) -> ApiResult<()> {
    let path = absolute(service, caller, rel)?;
    if tokio::fs::symlink_metadata(&path).await.is_ok() {
        return Err(ApiError::Conflict(format!("'{}' exists already", rel.as_string())));
    }
    match tokio::fs::create_dir_all(&path).await {
        Ok(()) => {}
        Err(e) if matches!(e.kind(), std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory) => {
            return Err(ApiError::Conflict(format!("a parent of '{}' is a file", rel.as_string())));
        }
        Err(e) => return Err(anyhow::Error::from(e).context("creating folder").into()),
    }
    forget_parent(&path);
    Ok(())
}

pub async fn remove(service: &JobService, caller: &Caller, rel: &RelPath) -> ApiResult<()> {
    if rel.is_root() {
        return Err(ApiError::BadRequest("your storage itself cannot be deleted".into()));
    }
    let path = absolute(service, caller, rel)?;
    let meta = tokio::fs::symlink_metadata(&path)
        .await
        .map_err(|_| ApiError::NotFound(format!("'{}' does not exist", rel.as_string())))?;
    let removed =
        if meta.is_dir() { tokio::fs::remove_dir_all(&path).await } else { tokio::fs::remove_file(&path).await };
    removed.context("deleting")?;
    forget_parent(&path);
    folder::forget(&path);
    service.forget_usage(&caller.name);
    Ok(())
}

pub async fn move_to(service: &JobService, caller: &Caller, from: &RelPath, to: &RelPath) -> ApiResult<()> {
    if from.is_root() || to.is_root() {
        return Err(ApiError::BadRequest("your storage root cannot be moved".into()));
    }
    let (source, target) = (absolute(service, caller, from)?, absolute(service, caller, to)?);
    if tokio::fs::symlink_metadata(&source).await.is_err() {
        return Err(ApiError::NotFound(format!("'{}' does not exist", from.as_string())));
    }
    if tokio::fs::symlink_metadata(&target).await.is_ok() {
        return Err(ApiError::Conflict(format!("'{}' exists already", to.as_string())));
    }
    if target.starts_with(&source) {
        return Err(ApiError::BadRequest(format!("'{}' cannot move into itself", from.as_string())));
    }
    let parent = target.parent().context("move target has no parent")?;
    if let Err(e) = tokio::fs::create_dir_all(parent).await {
        return Err(match e.kind() {
            std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory => {
                ApiError::Conflict(format!("a parent of '{}' is a file", to.as_string()))
            }
            _ => anyhow::Error::from(e).context("creating folders").into(),
        });
    }
    tokio::fs::rename(&source, &target).await.context("moving")?;
    forget_parent(&source);
    forget_parent(&target);
    folder::forget(&source);
    Ok(())
}
