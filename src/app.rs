//! Builds the service from [`Settings`] — storage, database, admin account, executors, reaper,
//! HTTP server — and runs it. Binding happens in [`Application::build`], so `127.0.0.1:0` gives
//! tests a free port they can read back.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use secrecy::ExposeSecret;
use tracing_actix_web::TracingLogger;
use vocloud_workers::Registry;

use crate::auth::{self, Authenticator};
use crate::config::Settings;
use crate::db::{self, Db};
use crate::executors::fleet::executor::FleetExecutor;
use crate::executors::fleet::{Registrations, Timing};
use crate::executors::local::LocalPool;
use crate::executors::slurm::executor::SlurmExecutor;
use crate::jobs::service::RetryPolicy;
use crate::jobs::{JobService, reaper};
use crate::storage::Storage;

pub struct Application {
    port: u16,
    server: Server,
    service: JobService,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        std::fs::create_dir_all(&settings.storage.data_dir)
            .with_context(|| format!("creating data directory {}", settings.storage.data_dir.display()))?;
        let root = settings.storage_root();
        let storage = Storage::open(&root).with_context(|| format!("opening storage root {}", root.display()))?;
        let db = Db::connect(&settings.database_url(), settings.database.max_connections).await?;
        seed_admin(&db, &settings).await?;

        let retry =
            RetryPolicy { max_attempts: settings.executors.max_attempts, max_crashes: settings.executors.max_crashes };
        let service = JobService::new(db.clone(), storage, Registry::builtin(), settings.limits.clone(), retry);
        let slots = settings.local_workers();
        if slots > 0 {
            service.add_executor(LocalPool::new(slots, settings.launcher()?));
        }
        let timing = Timing {
            lease: Duration::from_secs(settings.fleet.lease_seconds),
            heartbeat: Duration::from_millis(settings.fleet.heartbeat_ms),
        };
        service.add_executor(FleetExecutor::new(timing));
        if settings.slurm.enabled {
            service.add_executor(SlurmExecutor::new(settings.slurm.clone())?);
        }
        reaper::start(service.clone(), Duration::from_millis(settings.limits.reaper_interval_ms));

        let listener =
            TcpListener::bind(&settings.http.bind).with_context(|| format!("binding {}", settings.http.bind))?;
        let port = listener.local_addr()?.port();
        let server = http_server(
            listener,
            service.clone(),
            Authenticator::new(db.clone())
                .with_login_lifetime(std::time::Duration::from_secs(settings.http.login_seconds))
                .with_password_settings(&settings.auth),
            timing,
            &settings,
        )?;
        tracing::info!(address = %settings.http.bind, port, local_workers = slots, backend = ?db.backend, "vocloud listening");
        Ok(Application { port, server, service })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn service(&self) -> &JobService {
        &self.service
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn http_server(
    listener: TcpListener,
    service: JobService,
    auth: Authenticator,
    timing: Timing,
    settings: &Settings,
) -> anyhow::Result<Server> {
    let site = crate::site::Site::new(settings.http.public_url.as_deref(), &settings.http.trusted_proxies)?;
    let site = web::Data::new(site);
    let guard = web::Data::new(crate::guard::GuardSettings {
        body_idle: Duration::from_secs(settings.http.body_timeout_seconds),
    });
    let service = web::Data::new(service);
    let timing = web::Data::new(timing);
    let registrations = web::Data::new(Registrations::default());
    let auth = web::Data::from(Arc::new(auth));
    let form_limit = settings.limits.max_form_bytes;
    let plots = crate::plots::Plots::start(settings.plots.clone());
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(crate::guard::guard))
            .wrap(TracingLogger::default())
            .app_data(site.clone())
            .app_data(guard.clone())
            .app_data(service.clone())
            .app_data(auth.clone())
            .app_data(timing.clone())
            .app_data(registrations.clone())
            .app_data(web::PayloadConfig::new(form_limit))
            .app_data(web::JsonConfig::default().limit(form_limit))
            .configure(crate::uws::http::configure)
            .configure(crate::api::configure)
            .configure(crate::executors::fleet::http::configure)
            .configure(|cfg| crate::plots::http::configure(cfg, plots.clone()))
            .configure(crate::auth::session::configure)
            .configure(crate::web::configure)
    })
    .client_request_timeout(Duration::from_secs(settings.http.header_timeout_seconds))
    .client_disconnect_timeout(Duration::from_secs(1))
    .keep_alive(Duration::from_secs(settings.http.keep_alive_seconds))
    .listen(listener)?
    .run();
    Ok(server)
}

/// Creates the `admin` account on first start: with `admin_password` if set, else with a random
/// password printed once on standard output.
async fn seed_admin(db: &Db, settings: &Settings) -> anyhow::Result<()> {
    if db::users::by_name(db, "admin").await?.is_some() {
        return Ok(());
    }
    let (password, generated) = match &settings.admin_password {
        Some(p) => (p.expose_secret().to_string(), false),
        None => (auth::new_secret(""), true),
    };
    auth::add_user(db, "admin", &password, true).await.context("creating the admin account")?;
    if generated {
        // A closed standard output must not stop the service (see main's SIGPIPE note).
        let _ = writeln!(
            std::io::stdout(),
            "vocloud: created user 'admin' with password {password}\n         (shown only once; set VOCLOUD_ADMIN_PASSWORD before the first start to choose it)"
        );
    } else {
        tracing::info!("created user 'admin' from admin_password");
    }
    Ok(())
}
