//! vocloud: an IVOA UWS 1.1 job service for astronomy and ocean spectra.
//!
//! Layout:
//! - [`app`]: builds the service (database, storage, executors, HTTP server) and runs it.
//! - [`config`]: the typed settings and where they come from.
//! - [`uws`]: UWS 1.1 — phases, control parameters, XML documents, the REST binding.
//! - [`jobs`]: the job service (the only code that changes phases), executors, the reaper.
//! - [`slurm`]: the Slurm executor and `vocloud run-job`.
//! - [`fleet`]: remote `vocloud worker`s: the fleet API, its executor, and the worker's loop.
//! - [`db`]: the pool, migrations and every SQL statement.
//! - [`storage`]: the storage root and the only code that builds paths.
//! - [`auth`]: accounts, tokens, and the `Caller` extractor.
//! - [`api`]: JSON endpoints (files, experiments, health, VOSI).
//! - [`web`]: the HTML pages (files, jobs, experiments, settings, admin) and their assets.
//! - [`plots`]: interactive plots — sessions, rendering, the WebSocket protocol, exports.
//! - [`samp`]: the `vocloud samp` desktop client (SAMP Standard Profile).
//! - [`respond`], [`error`], [`telemetry`]: shared HTTP answers, the API error, logging.
//!
//! Job kinds themselves live in the `vocloud-workers` crate, which never sees the database.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod fleet;
pub mod jobs;
pub mod plots;
pub mod respond;
pub mod samp;
pub mod slurm;
pub mod storage;
pub mod telemetry;
pub mod uws;
pub mod web;
