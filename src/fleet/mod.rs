//! The remote worker fleet: `vocloud worker` processes on any host that mounts the shared
//! storage, pulling jobs from the master over HTTP with leases.
//!
//! - [`protocol`]: the JSON messages of the fleet API.
//! - [`http`]: the master's side (worker-token auth, register, long-poll claim, heartbeat, finish)
//!   and the admin's view of the fleet.
//! - [`executor`]: the master's `Executor` for remote jobs: lease grace after a restart, and
//!   re-queueing jobs whose lease lapsed.
//! - [`client`]: the worker's loop.

pub mod client;
pub mod executor;
pub mod http;
pub mod protocol;

use std::time::Duration;

/// The lease and heartbeat timing every worker is told at registration.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub lease: Duration,
    pub heartbeat: Duration,
}
