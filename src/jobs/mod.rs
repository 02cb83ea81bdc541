//! Jobs: the model, the state machine, and the one owner of a job's life.
//!
//! Only this module changes a job's phase, attempt or lease (through `db::jobs`, where every
//! such statement lives):
//! - [`service`]: [`JobService`] and what handlers ask of it — create, get, list, run, abort,
//!   destroy, parameters, WAIT, results.
//! - [`attempts`]: what executors ask of it — claim, hand over, start, renew, progress, finish,
//!   requeue, release — every write after the claim fenced by the attempt *and* the lease owner.
//! - [`parameters`]: parameters as posted, validated against the owner's storage, the memory
//!   estimate, and the `params.json` snapshot an attempt runs from.
//! - [`commit`]: group commit of concurrent creations.
//! - [`executor`]: the interface executors implement (they live in `crate::executors`).
//! - [`reaper`]: enforces execution durations and destruction times.
//! - [`events`]: phase-change notifications, which make blocking WAIT cost no polling.
//! - [`experiments`], [`workers`]: a user's groups of jobs; the fleet's registered workers.
//! - [`quota`]: per-user storage usage.

pub mod attempts;
mod commit;
pub mod error;
pub mod events;
pub mod executor;
pub mod experiments;
pub mod listing;
pub mod model;
pub mod parameters;
pub mod quota;
pub mod reaper;
pub mod service;
pub mod workers;

pub use attempts::Claimed;
pub use error::{Error, Result};
pub use model::{Caller, JobId, JobRef, JobView, Lease, ListFilter, ShownParameter};
pub use service::JobService;
