//! The database: connection pool, migrations, and every SQL statement (one file per table).
//!
//! Only the services that own the tables call these statements: `jobs` (jobs, experiments,
//! workers) and `auth` (users, tokens, sessions). Everyone else asks those services.
//!
//! Both backends go through sqlx's `Any` driver with one SQL text: instants are Unix
//! milliseconds passed from Rust, flags are 0/1 integers, placeholders are `$n` (SQLite accepts
//! them too). Where the backends really differ (claiming a queued job) the statement is chosen by
//! [`Backend`].

pub mod accounts;
pub mod experiments;
pub mod fleet;
pub mod grouping;
pub mod jobs;
pub mod listing;
pub mod sessions;
pub mod tokens;
pub mod users;

use std::time::Duration;

use anyhow::Context;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// Which database we talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The pools plus what we know about them.
#[derive(Debug, Clone)]
pub struct Db {
    /// For reads.
    pub pool: AnyPool,
    /// For every statement that writes. On SQLite one connection: SQLite has one writer, and
    /// writers on several connections collide; the loser sleeps in SQLite's busy handler (1, 2,
    /// 5 … 100 ms) instead of waiting its turn, which gave fleet dispatch 200 ms stalls for one
    /// job in seven. Queued here they take turns at once. On PostgreSQL the same pool as reads.
    pub writer: AnyPool,
    pub backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Connects (creating a SQLite file if missing) and runs pending migrations.
    pub async fn connect(url: &str, max_connections: Option<u32>) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        let options = || AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let pool = match backend {
            Backend::Sqlite => sqlite_pool(options().max_connections(max_connections.unwrap_or(8)), url).await,
            Backend::Postgres => options().max_connections(max_connections.unwrap_or(16)).connect(url).await,
        }
        .with_context(|| format!("connecting to the {backend:?} database"))?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.context("running database migrations")?;
        let writer = match backend {
            Backend::Sqlite => {
                sqlite_pool(options().max_connections(1), url).await.context("opening the SQLite writer connection")?
            }
            Backend::Postgres => pool.clone(),
        };
        Ok(Db { pool, writer, backend })
    }
}

/// A SQLite pool. SQLite has one writer: WAL lets readers run beside it, and a busy timeout
/// makes a writer from another process (a second `vocloud` command) wait instead of failing.
/// NORMAL sync is durable across process crashes (only an OS crash can lose the last
/// transactions).
async fn sqlite_pool(options: AnyPoolOptions, url: &str) -> Result<AnyPool, sqlx::Error> {
    options
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::raw_sql(
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                     PRAGMA busy_timeout=30000; PRAGMA foreign_keys=ON;",
                )
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await
}

impl Db {
    /// One round trip: whether the database answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.context("pinging the database")?;
        Ok(())
    }
}

pub use crate::uws::time::now_ms;
