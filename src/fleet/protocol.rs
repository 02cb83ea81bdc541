//! The fleet API's messages (JSON), shared by the master's handlers and the worker client.
//!
//! Exchange: `register` once → `claim` in a long-poll loop per slot → while a job runs,
//! `heartbeat` every `heartbeat_ms` (renews its lease, carries progress, answers 409 when the job
//! must stop) → `finish` with the outcome. Every job message names the `attempt` it is about;
//! the master fences all writes by it, so a worker that lost its lease cannot overwrite anything.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const PREFIX: &str = "/fleet/v1";

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

/// A job handed to a worker. Paths are relative to the shared storage root, so master and
/// workers may mount it at different places.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClaimedJob {
    pub id: String,
    pub kind: String,
    pub attempt: i64,
    pub owner: String,
    pub parameters: Map<String, Value>,
    pub job_dir: String,
    pub user_dir: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ProgressReport {
    pub fraction: f64,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub worker_id: String,
    pub attempt: i64,
    pub progress: Option<ProgressReport>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WorkerHeartbeat {
    pub worker_id: String,
}

/// How an attempt ended, as the worker saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Completed,
    Failed,
    Retryable,
    Cancelled,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FinishRequest {
    pub worker_id: String,
    pub attempt: i64,
    pub outcome: OutcomeKind,
    pub message: Option<String>,
}

/// Why the master refused a request (409, 401, 400…).
#[derive(Debug, Serialize, Deserialize)]
pub struct Refusal {
    pub reason: String,
}
