//! `jobs/<id>/work/attempt-<n>/status.json`: what an attempt tells whoever started it. `run-job`
//! writes it when it starts, at most every 250 ms while the kind reports progress, and with the
//! outcome at the end; the local pool and `vocloud worker` read it while their child runs and
//! when it exits, the Slurm executor at each poll. Files, not pipes, because a batch system
//! offers nothing else, and one way for all keeps one code path.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vocloud_workers::{Progress, attempt_dir};

use super::Outcome;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// The host the attempt runs on.
    pub host: String,
    pub pid: u32,
    pub started_ms: i64,
    /// The latest progress report of the kind.
    pub progress: Option<Progress>,
    /// How the attempt ended; `None` while it runs (or if its process died).
    pub outcome: Option<Outcome>,
    pub ended_ms: Option<i64>,
}

pub fn path(job_dir: &Path, attempt: i64) -> PathBuf {
    attempt_dir(job_dir, attempt).join("status.json")
}

/// The attempt's status, if the file exists and parses (a torn read cannot happen: writes are
/// atomic renames).
pub fn read(job_dir: &Path, attempt: i64) -> Option<Status> {
    serde_json::from_slice(&std::fs::read(path(job_dir, attempt)).ok()?).ok()
}

pub fn write(job_dir: &Path, attempt: i64, status: &Status) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?;
    crate::storage::write_atomic(&path(job_dir, attempt), &bytes)
}
