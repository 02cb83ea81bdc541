//! Jobs handed to a batch system (Slurm). Such a job is taken out of the queue while it is still
//! QUEUED — it waits in the batch system's queue instead — so these statements move it by
//! `executor` and `attempt` rather than by phase alone. `lease_owner` holds the batch system's id
//! for the job (`slurm:1234`).

use anyhow::Context;
use sqlx::FromRow;

use super::Db;
use super::jobs::Claimed;

/// Takes the oldest QUEUED job of `kinds` for `executor`, leaving it QUEUED.
pub async fn hand_over(db: &Db, executor: &str, kinds: &[&str]) -> anyhow::Result<Option<Claimed>> {
    let kinds_in = kinds.iter().map(|k| format!("'{}'", k.replace('\'', ""))).collect::<Vec<_>>().join(", ");
    let lock = match db.backend {
        super::Backend::Sqlite => "",
        super::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE jobs SET executor = $1, lease_owner = NULL, attempt = attempt + 1 \
         WHERE id = (SELECT id FROM jobs WHERE phase = 'QUEUED' AND executor IS NULL AND kind IN ({kinds_in}) \
                     ORDER BY queued_at, id LIMIT 1 {lock}) AND phase = 'QUEUED' AND executor IS NULL \
         RETURNING id, kind, owner_id, attempt, parameters"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(executor).fetch_optional(&db.pool).await.context("handing a job over")
}

pub async fn set_lease_owner(db: &Db, id: &str, attempt: i64, owner: &str) -> anyhow::Result<bool> {
    let done = sqlx::query("UPDATE jobs SET lease_owner = $3 WHERE id = $1 AND attempt = $2")
        .bind(id)
        .bind(attempt)
        .bind(owner)
        .execute(&db.pool)
        .await
        .context("recording the batch job id")?;
    Ok(done.rows_affected() == 1)
}

/// Gives a handed-over job back to the queue (submission failed, or never happened).
pub async fn release(db: &Db, id: &str, attempt: i64) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET executor = NULL, lease_owner = NULL WHERE id = $1 AND attempt = $2 AND phase = 'QUEUED'",
    )
    .bind(id)
    .bind(attempt)
    .execute(&db.pool)
    .await
    .context("releasing a job")?;
    Ok(done.rows_affected() == 1)
}

/// QUEUED → EXECUTING once the batch system runs the job.
pub async fn mark_started(db: &Db, id: &str, attempt: i64, now: i64) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET phase = 'EXECUTING', start_time = $3 WHERE id = $1 AND attempt = $2 AND phase = 'QUEUED'",
    )
    .bind(id)
    .bind(attempt)
    .bind(now)
    .execute(&db.pool)
    .await
    .context("marking a job started")?;
    Ok(done.rows_affected() == 1)
}

/// A job of the batch system that has not finished.
#[derive(Debug, Clone, FromRow)]
pub struct BatchJob {
    pub id: String,
    pub attempt: i64,
    pub phase: String,
    pub lease_owner: Option<String>,
}

pub async fn active_on(db: &Db, executor: &str) -> anyhow::Result<Vec<BatchJob>> {
    sqlx::query_as(
        "SELECT id, attempt, phase, lease_owner FROM jobs WHERE executor = $1 AND phase IN ('QUEUED', 'EXECUTING')",
    )
    .bind(executor)
    .fetch_all(&db.pool)
    .await
    .context("listing batch jobs")
}
