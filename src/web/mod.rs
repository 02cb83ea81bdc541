//! The browser half of vocloud: server-rendered pages (askama templates in `templates/`, checked
//! at build time, HTML-escaped by default) with small ES modules from `static/` that add what
//! needs script — live job updates over Server-Sent Events, uploads with progress, the path
//! picker, SAMP. Every page works without script; none has an inline script or handler.
//!
//! Handlers are thin: extract the [`page::Viewer`] (or [`form::Posted`] for forms, which checks
//! the CSRF token), ask `JobService`/`Authenticator` for what the page shows, fill a view model,
//! render. Everything a page reads goes through those services, never the database.
//!
//! - [`page`]: the viewer extractor, the layout's data, rendering, redirects, HTML error pages.
//! - [`form`]: the form extractor (CSRF).
//! - [`home`], [`login`]: `/` (the start page, or the login form).
//! - [`jobs`]: the job list and actions on several jobs.
//! - [`job`]: one job's page and its actions; [`job_form`]: new jobs from generated forms.
//! - [`live`]: Server-Sent Events with phase changes and progress.
//! - [`files`]: the files pages; [`folder`] (cached, paged listings), [`preview`] and
//!   [`fits_header`] (what a file shows), [`zip`] (streamed downloads), [`file_actions`] (its buttons) and [`file_ops`] (changes).
//! - [`experiments`], [`settings`], [`admin`]: the rest of the navigation.
//! - [`display`]: how sizes, instants and durations read.
//! - [`assets`]: `/assets/*`, the stylesheet and scripts compiled in.

pub mod admin;
pub mod assets;
pub mod display;
pub mod experiments;
pub mod file_actions;
pub mod file_ops;
pub mod files;
pub mod fits_header;
pub mod folder;
pub mod form;
pub mod home;
pub mod job;
pub mod job_form;
pub mod jobs;
pub mod live;
pub mod login;
pub mod page;
pub mod preview;
pub mod settings;
pub mod zip;

/// Mounts every page (app.rs calls this once).
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    assets::configure(cfg);
    home::configure(cfg);
    file_actions::configure(cfg);
    files::configure(cfg);
    job_form::configure(cfg);
    jobs::configure(cfg);
    job::configure(cfg);
    live::configure(cfg);
    experiments::configure(cfg);
    settings::configure(cfg);
    admin::configure(cfg);
}
