//! vocloud: an IVOA UWS 1.1 job service for astronomy and ocean spectra.
//!
//! Layout:
//! - [`app`]: builds the service (database, storage, executors, HTTP server) and runs it.
//! - [`config`]: the typed settings and where they come from.
//! - [`uws`]: UWS 1.1 — phases, control parameters, XML documents, the REST binding.
//! - [`jobs`]: the job service, the one owner of a job's phase, attempts and leases; the reaper.
//! - [`executors`]: where attempts run — the local pool, remote `vocloud worker`s (the fleet
//!   API and the worker's loop), Slurm.
//! - [`runner`]: the one way an attempt runs: `vocloud run-job` in a process of its own.
//! - [`db`]: the pool, migrations and every SQL statement (used by `jobs` and `auth` only).
//! - [`storage`]: the storage root and the only code that builds paths.
//! - [`auth`]: accounts, tokens, and the `Caller` extractor.
//! - [`api`]: JSON endpoints (files, experiments, health, VOSI).
//! - [`web`]: the HTML pages (files, jobs, experiments, settings, admin) and their assets.
//! - [`plots`]: interactive plots — sessions, rendering, the WebSocket protocol, exports.
//! - [`samp`]: the `vocloud samp` desktop client (SAMP Standard Profile).
//! - [`respond`], [`error`], [`telemetry`]: shared HTTP answers, the API error, logging.
//! - [`site`], [`guard`]: the origin clients see (trusted proxies), and the middleware every
//!   request passes (CSRF, body timeouts, security headers).
//!
//! Job kinds themselves live in the `vocloud-workers` crate, which never sees the database.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod executors;
pub mod guard;
pub mod jobs;
pub mod plots;
pub mod respond;
pub mod runner;
pub mod samp;
pub mod site;
pub mod storage;
pub mod telemetry;
pub mod uws;
pub mod web;
