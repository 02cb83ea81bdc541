//! Integration tests: each starts the real service on a random port (SQLite, or PostgreSQL when
//! `VOCLOUD_TEST_DATABASE_URL` is set) and talks HTTP to it.

mod clients;
mod experiments;
mod files;
mod helpers;
mod restart;
mod service;
mod som;
mod uws_errors;
mod uws_lifecycle;
mod uws_xml;
