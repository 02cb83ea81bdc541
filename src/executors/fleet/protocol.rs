//! The fleet API's messages (JSON), shared by the master's handlers and the worker client.
//!
//! Exchange: `register` once → `claim` in a long-poll loop per slot → while a job runs,
//! `heartbeat` every `heartbeat_ms` (renews its lease, carries progress, answers 409 when the job
//! must stop) → `finish` with the [`Outcome`]. Every job message names the `attempt` it is about;
//! the master fences all writes by it and by the worker's id, so a worker that lost its lease
//! cannot overwrite anything. Refusals are plain-text bodies; the status code says what to do:
//! 401 the worker must stop, 409 the job must stop, 429 wait, 400 a bug.

use serde::{Deserialize, Serialize};
use vocloud_workers::Progress;

use crate::runner::Outcome;

pub const PREFIX: &str = "/fleet/v1";

/// Limits of what a worker may register (a registration is stored and shown to admins).
pub const MAX_HOSTNAME: usize = 253;
pub const MAX_KINDS: usize = 64;
pub const MAX_SLOTS: u32 = 1024;
/// Worker ids are `w` and ten lower-case letters or digits; anything longer is not one.
pub const MAX_WORKER_ID: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub hostname: String,
    /// Kinds this worker runs (empty: every kind it knows).
    pub kinds: Vec<String>,
    pub slots: u32,
    /// The content of `.vocloud-storage` at the worker's storage root.
    pub storage_marker: String,
    pub version: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub worker_id: String,
    /// The kinds the worker will be given (its own, known to the master).
    pub kinds: Vec<String>,
    pub lease_seconds: u64,
    pub heartbeat_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ClaimRequest {
    pub worker_id: String,
    /// Longest the master may hold the request when no job is queued.
    pub wait_seconds: u64,
}

/// An attempt handed to a worker. The job's folder is `jobs/<id>` below the shared storage
/// root, wherever the worker mounts it; its `params.json` snapshot holds the rest.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClaimedJob {
    pub id: String,
    pub kind: String,
    pub attempt: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub worker_id: String,
    pub attempt: i64,
    pub progress: Option<Progress>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WorkerHeartbeat {
    pub worker_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FinishRequest {
    pub worker_id: String,
    pub attempt: i64,
    pub outcome: Outcome,
}
