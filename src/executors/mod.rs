//! The executors: where attempts run. Each takes jobs through the job service and runs every
//! attempt as `vocloud run-job` (`crate::runner`); none changes a job's phase itself.
//!
//! - [`local`]: the master's own pool, each attempt a child process of `vocloud serve`.
//! - [`fleet`]: remote `vocloud worker` processes pulling jobs over HTTP with leases: the
//!   master's API and lease watcher, and the worker's loop.
//! - [`slurm`]: each attempt an `sbatch` of `vocloud run-job`, followed with Slurm's tools.

pub mod fleet;
pub mod local;
pub mod slurm;
