//! The `experiments` table: a user's named groups of jobs.

use anyhow::Context;
use sqlx::AssertSqlSafe;
use sqlx::FromRow;

use super::Db;

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct ExperimentRow {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub job_count: i64,
    pub active_jobs: i64,
}

const SELECT: &str = "SELECT e.id, e.name, e.description, e.created_at, \
     (SELECT COUNT(*) FROM jobs j WHERE j.experiment_id = e.id) AS job_count, \
     (SELECT COUNT(*) FROM jobs j WHERE j.experiment_id = e.id \
        AND j.phase IN ('QUEUED', 'EXECUTING', 'HELD', 'SUSPENDED')) AS active_jobs \
     FROM experiments e";

/// The experiment's id, creating it on first use.
pub async fn ensure(db: &Db, owner_id: i64, name: &str, now: i64) -> anyhow::Result<i64> {
    sqlx::query("INSERT INTO experiments (owner_id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (owner_id, name) DO NOTHING")
        .bind(owner_id)
        .bind(name)
        .bind(now)
        .execute(&db.writer)
        .await
        .context("creating experiment")?;
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM experiments WHERE owner_id = $1 AND name = $2")
        .bind(owner_id)
        .bind(name)
        .fetch_one(&db.pool)
        .await
        .context("reading experiment id")?;
    Ok(id)
}

/// Creates an experiment; false if the name is taken.
pub async fn create(db: &Db, owner_id: i64, name: &str, description: &str, now: i64) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO experiments (owner_id, name, description, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (owner_id, name) DO NOTHING",
    )
    .bind(owner_id)
    .bind(name)
    .bind(description)
    .bind(now)
    .execute(&db.writer)
    .await
    .context("creating experiment")?;
    Ok(done.rows_affected() == 1)
}

pub async fn list(db: &Db, owner_id: i64) -> anyhow::Result<Vec<ExperimentRow>> {
    sqlx::query_as(AssertSqlSafe(format!("{SELECT} WHERE e.owner_id = $1 ORDER BY e.name")))
        .bind(owner_id)
        .fetch_all(&db.pool)
        .await
        .context("listing experiments")
}

pub async fn get(db: &Db, owner_id: i64, name: &str) -> anyhow::Result<Option<ExperimentRow>> {
    sqlx::query_as(AssertSqlSafe(format!("{SELECT} WHERE e.owner_id = $1 AND e.name = $2")))
        .bind(owner_id)
        .bind(name)
        .fetch_optional(&db.pool)
        .await
        .context("reading experiment")
}

pub async fn set_description(db: &Db, id: i64, description: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE experiments SET description = $2 WHERE id = $1")
        .bind(id)
        .bind(description)
        .execute(&db.writer)
        .await
        .context("updating experiment")?;
    Ok(())
}

/// Deletes the experiment row; its jobs stay, ungrouped (the caller destroys them first if asked).
pub async fn delete(db: &Db, id: i64) -> anyhow::Result<()> {
    sqlx::query("UPDATE jobs SET experiment_id = NULL WHERE experiment_id = $1")
        .bind(id)
        .execute(&db.writer)
        .await
        .context("detaching jobs from experiment")?;
    sqlx::query("DELETE FROM experiments WHERE id = $1")
        .bind(id)
        .execute(&db.writer)
        .await
        .context("deleting experiment")?;
    Ok(())
}
