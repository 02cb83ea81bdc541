//! The `worker_tokens` and `workers` tables: who may run a remote worker, and the workers that
//! registered. Only token hashes are stored, as for user tokens. The leases workers hold are
//! columns of `jobs` (see [`super::jobs`]).

use anyhow::Context;
use sqlx::FromRow;

use super::{Db, now_ms};

pub async fn insert_token(db: &Db, name: &str, token_hash: &str) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO worker_tokens (name, token_hash, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(token_hash)
    .bind(now_ms())
    .execute(&db.writer)
    .await
    .context("inserting worker token")?;
    Ok(done.rows_affected() == 1)
}

/// Revokes a worker token; false if there is no live token of that name.
pub async fn revoke_token(db: &Db, name: &str) -> anyhow::Result<bool> {
    let done = sqlx::query("UPDATE worker_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL")
        .bind(name)
        .bind(now_ms())
        .execute(&db.writer)
        .await
        .context("revoking worker token")?;
    Ok(done.rows_affected() == 1)
}

/// The id and name of the live token with this hash.
pub async fn token_by_hash(db: &Db, token_hash: &str) -> anyhow::Result<Option<(i64, String)>> {
    sqlx::query_as("SELECT id, name FROM worker_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
        .bind(token_hash)
        .fetch_optional(&db.pool)
        .await
        .context("looking up worker token")
}

#[derive(Debug, Clone, FromRow)]
pub struct WorkerRow {
    pub id: String,
    pub token_id: i64,
    pub hostname: String,
    pub kinds: String,
    pub slots: i64,
    pub registered_at: i64,
    pub last_seen: i64,
}

pub async fn insert_worker(db: &Db, w: &WorkerRow) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO workers (id, token_id, hostname, kinds, slots, registered_at, last_seen) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&w.id)
    .bind(w.token_id)
    .bind(&w.hostname)
    .bind(&w.kinds)
    .bind(w.slots)
    .bind(w.registered_at)
    .bind(w.last_seen)
    .execute(&db.writer)
    .await
    .context("registering worker")?;
    Ok(())
}

/// The worker, if it exists and belongs to the (live) token.
pub async fn worker(db: &Db, id: &str, token_id: i64) -> anyhow::Result<Option<WorkerRow>> {
    sqlx::query_as(
        "SELECT id, token_id, hostname, kinds, slots, registered_at, last_seen FROM workers WHERE id = $1 AND token_id = $2",
    )
    .bind(id)
    .bind(token_id)
    .fetch_optional(&db.pool)
    .await
    .context("reading worker")
}

pub async fn touch_worker(db: &Db, id: &str, now: i64) -> anyhow::Result<()> {
    sqlx::query("UPDATE workers SET last_seen = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(&db.writer)
        .await
        .context("recording worker heartbeat")?;
    Ok(())
}

/// Workers seen since `since`, newest first.
pub async fn workers_seen_since(db: &Db, since: i64) -> anyhow::Result<Vec<WorkerRow>> {
    sqlx::query_as(
        "SELECT id, token_id, hostname, kinds, slots, registered_at, last_seen FROM workers \
         WHERE last_seen >= $1 ORDER BY last_seen DESC",
    )
    .bind(since)
    .fetch_all(&db.pool)
    .await
    .context("listing workers")
}
