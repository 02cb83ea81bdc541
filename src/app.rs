//! Builds the service from [`Settings`] — storage, database, admin account, executors, reaper,
//! HTTP server — and runs it. Binding happens in [`Application::build`], so `127.0.0.1:0` gives
//! tests a free port they can read back.

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
use crate::fleet::Timing;
use crate::fleet::executor::FleetExecutor;
use crate::jobs::{JobService, local::LocalPool, reaper};
use crate::slurm::executor::SlurmExecutor;
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
        crate::respond::set_public_url(settings.http.public_url.clone());

        let service = JobService::new(
            db.clone(),
            storage,
            Registry::builtin(),
            settings.limits.clone(),
            settings.executors.max_attempts,
        );
        let slots = settings.local_workers();
        if slots > 0 {
            service.add_executor(LocalPool::new(slots, settings.job_settings()));
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
            Authenticator::new(db).with_login_lifetime(std::time::Duration::from_secs(settings.http.login_seconds)),
            timing,
            &settings,
        )?;
        tracing::info!(address = %settings.http.bind, port, local_workers = slots, backend = ?service.db().backend, "vocloud listening");
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
    let service = web::Data::new(service);
    let timing = web::Data::new(timing);
    let auth = web::Data::from(Arc::new(auth));
    let form_limit = settings.limits.max_form_bytes;
    let plots = crate::plots::Plots::start(settings.plots.clone());
    let server = HttpServer::new(move || {
        App::new()
            .wrap(TracingLogger::default())
            .app_data(service.clone())
            .app_data(auth.clone())
            .app_data(timing.clone())
            .app_data(web::PayloadConfig::new(form_limit))
            .app_data(web::JsonConfig::default().limit(form_limit))
            .configure(crate::uws::http::configure)
            .configure(crate::api::configure)
            .configure(crate::fleet::http::configure)
            .configure(|cfg| crate::plots::http::configure(cfg, plots.clone()))
            .configure(crate::auth::session::configure)
            .configure(crate::web::configure)
    })
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
        println!(
            "vocloud: created user 'admin' with password {password}\n         (shown only once; set VOCLOUD_ADMIN_PASSWORD before the first start to choose it)"
        );
    } else {
        tracing::info!("created user 'admin' from admin_password");
    }
    Ok(())
}
