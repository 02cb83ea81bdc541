//! The attempt runner: the one way an attempt of a job runs. `vocloud run-job <job-dir>
//! --attempt N` runs it in a process of its own, whoever asked — the master's local pool and
//! `vocloud worker` start it as a child process, Slurm runs it on a compute node — so a kind that
//! crashes or runs out of memory takes only its own process down.
//!
//! - [`outcome`]: how an attempt ended — the one type on every wire (`status.json`, the fleet's
//!   finish request, the local pool).
//! - [`status`]: `work/attempt-N/status.json`, which the attempt keeps up to date (progress, then
//!   its outcome) and its parent reads: the one way progress and outcomes leave the attempt.
//! - [`run_job`]: the attempt's side: reads the `params.json` snapshot, runs the kind, writes
//!   `status.json`, turns SIGTERM into cancellation.
//! - [`process`]: the parent's side: starts the attempt's process under a memory limit, dying
//!   with its parent; relays progress; stops it on cancel (SIGTERM, then SIGKILL); turns a crash
//!   into an outcome in plain words.
//! - [`forkserver`]: how the local pool and `vocloud worker` get that process cheaply: forked
//!   from `vocloud attempt-server`, which then runs what `run-job` runs.

pub mod forkserver;
pub mod outcome;
pub mod process;
pub mod run_job;
pub mod status;

pub use outcome::Outcome;
pub use process::Launcher;
