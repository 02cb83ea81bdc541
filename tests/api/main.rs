//! Integration tests: each starts the real service on a random port (SQLite, or PostgreSQL when
//! `VOCLOUD_TEST_DATABASE_URL` is set) and talks HTTP to it.

mod archive;
mod browser;
mod clients;
mod experiments;
mod files;
mod fleet;
mod helpers;
mod hostile_spectra;
mod import;
mod links;
mod ocean;
mod ocean_split;
mod plot_inputs;
mod plots;
mod quota;
mod restart;
mod samp;
mod service;
mod slurm;
mod som;
mod spark;
mod uws_attempts;
mod uws_errors;
mod uws_lifecycle;
mod uws_xml;
mod votable;
mod web;
mod web_browser;
mod web_files;
