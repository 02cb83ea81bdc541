//! The `jobs` table: the truth for every job's UWS phase, plus the lease columns executors use.
//!
//! Every phase change is one conditional UPDATE (`WHERE phase IN (…)`), so two requests racing on
//! one job (RUN against ABORT, a finishing worker against an overrun) cannot both win: the one
//! that changes zero rows lost. Writes by a running job are fenced by its `attempt`.

use anyhow::Context;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyArguments;
use sqlx::query::QueryAs;
use sqlx::{Any, FromRow};

use super::{Backend, Db};

/// A job as stored, joined with its owner's and experiment's names.
#[derive(Debug, Clone, FromRow)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub owner_id: i64,
    pub owner_name: String,
    pub experiment: Option<String>,
    pub run_id: Option<String>,
    pub label: String,
    pub notes: String,
    pub phase: String,
    /// The validated parameters as a JSON object.
    pub parameters: String,
    pub creation_time: i64,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub execution_duration: i64,
    pub destruction_time: Option<i64>,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub error_detail: Option<String>,
    pub progress_fraction: Option<f64>,
    pub progress_message: Option<String>,
    pub executor: Option<String>,
    pub lease_owner: Option<String>,
    pub attempt: i64,
}

const SELECT_JOB: &str = "SELECT j.id, j.kind, j.owner_id, u.name AS owner_name, e.name AS experiment, \
     j.run_id, j.label, j.notes, j.phase, j.parameters, j.creation_time, j.start_time, j.end_time, \
     j.execution_duration, j.destruction_time, j.error_type, j.error_message, j.error_detail, \
     j.progress_fraction, j.progress_message, j.executor, j.lease_owner, j.attempt \
     FROM jobs j JOIN users u ON u.id = j.owner_id LEFT JOIN experiments e ON e.id = j.experiment_id";

/// What a new job row holds.
pub struct NewJob<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub owner_id: i64,
    pub experiment_id: Option<i64>,
    pub run_id: Option<&'a str>,
    pub phase: &'a str,
    pub parameters: &'a str,
    pub creation_time: i64,
    pub execution_duration: i64,
    pub destruction_time: i64,
}

pub async fn insert(db: &Db, job: &NewJob<'_>) -> anyhow::Result<()> {
    let queued_at = (job.phase == "QUEUED").then_some(job.creation_time);
    sqlx::query(
        "INSERT INTO jobs (id, kind, owner_id, experiment_id, run_id, phase, parameters, creation_time, \
         execution_duration, destruction_time, queued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(job.id)
    .bind(job.kind)
    .bind(job.owner_id)
    .bind(job.experiment_id)
    .bind(job.run_id)
    .bind(job.phase)
    .bind(job.parameters)
    .bind(job.creation_time)
    .bind(job.execution_duration)
    .bind(job.destruction_time)
    .bind(queued_at)
    .execute(&db.pool)
    .await
    .context("inserting job")?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> anyhow::Result<Option<JobRow>> {
    sqlx::query_as(AssertSqlSafe(format!("{SELECT_JOB} WHERE j.id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .context("reading job")
}

/// One line of a job list.
#[derive(Debug, Clone, FromRow)]
pub struct JobRef {
    pub id: String,
    pub kind: String,
    pub phase: String,
    pub run_id: Option<String>,
    pub owner_name: String,
    pub creation_time: i64,
}

/// Filters of a job list (UWS 2.2.2.1), combined with AND.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub kind: Option<String>,
    pub owner_id: Option<i64>,
    pub experiment_id: Option<i64>,
    /// Union of these phases; empty means every phase but ARCHIVED.
    pub phases: Vec<String>,
    pub after: Option<i64>,
    pub last: Option<i64>,
}

enum Bind {
    Int(i64),
    Text(String),
}

/// Jobs matching `filter`, newest first.
pub async fn list(db: &Db, filter: &ListFilter) -> anyhow::Result<Vec<JobRef>> {
    let mut sql = String::from(
        "SELECT j.id, j.kind, j.phase, j.run_id, u.name AS owner_name, j.creation_time \
         FROM jobs j JOIN users u ON u.id = j.owner_id WHERE 1 = 1",
    );
    let mut binds = Vec::new();
    let mut push = |sql: &mut String, clause: &str, bind: Bind| {
        binds.push(bind);
        sql.push_str(&clause.replace("?", &format!("${}", binds.len())));
    };
    if let Some(kind) = &filter.kind {
        push(&mut sql, " AND j.kind = ?", Bind::Text(kind.clone()));
    }
    if let Some(owner) = filter.owner_id {
        push(&mut sql, " AND j.owner_id = ?", Bind::Int(owner));
    }
    if let Some(experiment) = filter.experiment_id {
        push(&mut sql, " AND j.experiment_id = ?", Bind::Int(experiment));
    }
    if filter.phases.is_empty() {
        sql.push_str(" AND j.phase <> 'ARCHIVED'");
    } else {
        sql.push_str(" AND (1 = 0");
        for phase in &filter.phases {
            push(&mut sql, " OR j.phase = ?", Bind::Text(phase.clone()));
        }
        sql.push(')');
    }
    if let Some(after) = filter.after {
        push(&mut sql, " AND j.creation_time > ?", Bind::Int(after));
    }
    sql.push_str(" ORDER BY j.creation_time DESC, j.id DESC");
    if let Some(last) = filter.last {
        push(&mut sql, " LIMIT ?", Bind::Int(last));
    }
    let mut query: QueryAs<'_, Any, JobRef, AnyArguments> = sqlx::query_as(AssertSqlSafe(sql));
    for bind in binds {
        query = match bind {
            Bind::Int(n) => query.bind(n),
            Bind::Text(s) => query.bind(s),
        };
    }
    query.fetch_all(&db.pool).await.context("listing jobs")
}

/// PENDING or HELD → QUEUED. Returns false if the job was in another phase.
pub async fn queue(db: &Db, id: &str, now: i64) -> anyhow::Result<bool> {
    let done =
        sqlx::query("UPDATE jobs SET phase = 'QUEUED', queued_at = $2 WHERE id = $1 AND phase IN ('PENDING', 'HELD')")
            .bind(id)
            .bind(now)
            .execute(&db.pool)
            .await
            .context("queueing job")?;
    Ok(done.rows_affected() == 1)
}

/// Any active phase → ABORTED, with an optional reason as error summary. Returns the executor that
/// was running it (`Some(None)` if it was not running), or `None` if the job was not active.
pub async fn abort(db: &Db, id: &str, now: i64, reason: Option<&str>) -> anyhow::Result<Option<Option<String>>> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "UPDATE jobs SET phase = 'ABORTED', end_time = $2, error_type = CASE WHEN $3 IS NULL THEN NULL ELSE 'fatal' END, \
         error_message = $3, lease_owner = NULL, lease_expires_at = NULL \
         WHERE id = $1 AND phase IN ('PENDING', 'QUEUED', 'EXECUTING', 'HELD', 'SUSPENDED') RETURNING executor",
    )
    .bind(id)
    .bind(now)
    .bind(reason)
    .fetch_optional(&db.pool)
    .await
    .context("aborting job")?;
    Ok(row.map(|r| r.0))
}

/// A job handed to an executor.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub id: String,
    pub kind: String,
    pub owner_id: i64,
    pub attempt: i64,
    pub parameters: String,
}

/// Takes the oldest QUEUED job of one of `kinds` for `executor`: it becomes EXECUTING with a new
/// attempt number. SQLite has one writer, so the single UPDATE is the lock; PostgreSQL needs
/// `FOR UPDATE SKIP LOCKED` so that concurrent claimers skip each other's row instead of waiting.
pub async fn claim(
    db: &Db,
    executor: &str,
    lease_owner: &str,
    kinds: &[&str],
    now: i64,
    lease_until: i64,
) -> anyhow::Result<Option<Claimed>> {
    let kinds_in = kinds.iter().map(|k| format!("'{}'", k.replace('\'', ""))).collect::<Vec<_>>().join(", ");
    let lock = match db.backend {
        Backend::Sqlite => "",
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE jobs SET phase = 'EXECUTING', start_time = $1, executor = $2, lease_owner = $3, \
         lease_expires_at = $4, attempt = attempt + 1 \
         WHERE id = (SELECT id FROM jobs WHERE phase = 'QUEUED' AND executor IS NULL AND kind IN ({kinds_in}) \
                     ORDER BY queued_at, id LIMIT 1 {lock}) AND phase = 'QUEUED' AND executor IS NULL \
         RETURNING id, kind, owner_id, attempt, parameters"
    );
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(now)
        .bind(executor)
        .bind(lease_owner)
        .bind(lease_until)
        .fetch_optional(&db.pool)
        .await
        .context("claiming a queued job")
}

/// How a run ended, as recorded on the job.
pub struct Outcome<'a> {
    pub phase: &'a str,
    pub error_type: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub error_detail: Option<&'a str>,
}

/// EXECUTING → `outcome.phase`, only for the attempt that is still current. Returns false when
/// the job moved on (aborted, destroyed, re-queued): that attempt's outcome no longer counts.
pub async fn finish(db: &Db, id: &str, attempt: i64, now: i64, outcome: &Outcome<'_>) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET phase = $3, end_time = $4, error_type = $5, error_message = $6, error_detail = $7, \
         lease_owner = NULL, lease_expires_at = NULL \
         WHERE id = $1 AND attempt = $2 AND phase = 'EXECUTING'",
    )
    .bind(id)
    .bind(attempt)
    .bind(outcome.phase)
    .bind(now)
    .bind(outcome.error_type)
    .bind(outcome.error_message)
    .bind(outcome.error_detail)
    .execute(&db.pool)
    .await
    .context("recording job outcome")?;
    Ok(done.rows_affected() == 1)
}

/// EXECUTING (attempt `attempt`) → QUEUED, for another attempt.
pub async fn requeue(db: &Db, id: &str, attempt: i64, now: i64) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET phase = 'QUEUED', queued_at = $3, start_time = NULL, executor = NULL, lease_owner = NULL, \
         lease_expires_at = NULL, progress_fraction = NULL, progress_message = NULL \
         WHERE id = $1 AND attempt = $2 AND phase = 'EXECUTING'",
    )
    .bind(id)
    .bind(attempt)
    .bind(now)
    .execute(&db.pool)
    .await
    .context("re-queueing job")?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_progress(db: &Db, id: &str, attempt: i64, fraction: f64, message: &str) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET progress_fraction = $3, progress_message = $4 WHERE id = $1 AND attempt = $2 AND phase = 'EXECUTING'",
    )
    .bind(id)
    .bind(attempt)
    .bind(fraction)
    .bind(message)
    .execute(&db.pool)
    .await
    .context("recording progress")?;
    Ok(done.rows_affected() == 1)
}

/// Sets the execution duration while the job has not finished.
pub async fn set_execution_duration(db: &Db, id: &str, seconds: i64) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET execution_duration = $2 WHERE id = $1 AND phase IN ('PENDING', 'QUEUED', 'HELD', 'EXECUTING', 'SUSPENDED')",
    )
    .bind(id)
    .bind(seconds)
    .execute(&db.pool)
    .await
    .context("setting execution duration")?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_destruction(db: &Db, id: &str, at: i64) -> anyhow::Result<()> {
    sqlx::query("UPDATE jobs SET destruction_time = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(&db.pool)
        .await
        .context("setting destruction time")?;
    Ok(())
}

/// Replaces the parameters of a PENDING job.
pub async fn set_parameters(db: &Db, id: &str, parameters: &str) -> anyhow::Result<bool> {
    let done = sqlx::query("UPDATE jobs SET parameters = $2 WHERE id = $1 AND phase = 'PENDING'")
        .bind(id)
        .bind(parameters)
        .execute(&db.pool)
        .await
        .context("updating parameters")?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_annotations(db: &Db, id: &str, label: &str, notes: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE jobs SET label = $2, notes = $3 WHERE id = $1")
        .bind(id)
        .bind(label)
        .bind(notes)
        .execute(&db.pool)
        .await
        .context("updating label and notes")?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM jobs WHERE id = $1").bind(id).execute(&db.pool).await.context("deleting job")?;
    Ok(())
}

/// Jobs whose destruction time has come.
pub async fn expired(db: &Db, now: i64, limit: i64) -> anyhow::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM jobs WHERE destruction_time <= $1 LIMIT $2")
        .bind(now)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("finding expired jobs")?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// EXECUTING jobs that have run longer than their execution duration, with that duration.
pub async fn overrun(db: &Db, now: i64) -> anyhow::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        // Slurm enforces the time limit itself (its TIMEOUT ends the job in ERROR).
        "SELECT id, execution_duration FROM jobs WHERE phase = 'EXECUTING' AND execution_duration > 0 \
         AND executor <> 'slurm' AND start_time + execution_duration * 1000 <= $1",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await
    .context("finding overrun jobs")
}

/// EXECUTING jobs of one executor, with their attempt numbers (for recovery after a restart).
pub async fn executing_on(db: &Db, executor: &str) -> anyhow::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT id, attempt FROM jobs WHERE phase = 'EXECUTING' AND executor = $1")
        .bind(executor)
        .fetch_all(&db.pool)
        .await
        .context("finding executing jobs")
}

/// Ids of every job of `owner_id` (all phases): their folders count against the owner's quota.
pub async fn ids_of_owner(db: &Db, owner_id: i64) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM jobs WHERE owner_id = $1")
        .bind(owner_id)
        .fetch_all(&db.pool)
        .await
        .context("listing a user's jobs")
}

/// The owner of job `id`, if the job exists.
pub async fn owner_of(db: &Db, id: &str) -> anyhow::Result<Option<i64>> {
    sqlx::query_scalar("SELECT owner_id FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .context("looking up a job's owner")
}
