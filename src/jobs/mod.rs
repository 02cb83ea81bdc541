//! Jobs: the model, the state machine and who runs them.
//!
//! - [`service`]: the only code that changes a job's phase; every UWS action lands here.
//! - [`executor`]: the interface an executor implements (local pool now; fleet and Slurm later).
//! - [`local`]: the in-process pool, running job kinds from `vocloud-workers` on blocking threads.
//! - [`reaper`]: enforces execution durations and destruction times.
//! - [`events`]: phase-change notifications, which make blocking WAIT cost no polling.

pub mod events;
pub mod executor;
pub mod experiments;
pub mod listing;
pub mod local;
pub mod model;
pub mod quota;
pub mod reaper;
pub mod service;

pub use model::{Caller, JobId};
pub use service::JobService;

/// What a job operation can fail with; mapped to HTTP by `crate::error`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such job, or it belongs to someone else (we never reveal which).
    #[error("no such job")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    /// The request is valid but not in the job's current phase (UWS: 403).
    #[error("{0}")]
    NotAllowed(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<vocloud_workers::ParamError> for Error {
    fn from(e: vocloud_workers::ParamError) -> Self {
        Error::BadRequest(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
