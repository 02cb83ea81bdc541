//! The `jobs` table: the truth for every job's UWS phase, plus the lease columns executors use.
//!
//! Every statement that changes a job's phase is in this file, and only `jobs` calls them. Each
//! is one conditional UPDATE (`WHERE phase IN (…)`), so two requests racing on one job (RUN
//! against ABORT, a finishing worker against an overrun) cannot both win: the one that changes
//! zero rows lost. After the claim every write is fenced by the attempt number *and* the lease
//! owner ([`Lease`]): a worker whose lease lapsed, or an attempt that was re-queued, changes
//! nothing. Executor names are values here, never part of the SQL.

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
    /// The validated parameters as a JSON object (typed values, defaults filled in).
    pub parameters: String,
    /// The parameters as the client posted them (a JSON object of strings); `None` for jobs
    /// created before this was kept.
    pub posted_parameters: Option<String>,
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
    pub crashes: i64,
    /// The accepted attempt's results with their MIME types (a JSON array), once finished.
    pub results: Option<String>,
}

const SELECT_JOB: &str = "SELECT j.id, j.kind, j.owner_id, u.name AS owner_name, e.name AS experiment, \
     j.run_id, j.label, j.notes, j.phase, j.parameters, j.posted_parameters, j.creation_time, j.start_time, \
     j.end_time, j.execution_duration, j.destruction_time, j.error_type, j.error_message, j.error_detail, \
     j.progress_fraction, j.progress_message, j.executor, j.lease_owner, j.attempt, j.crashes, j.results \
     FROM jobs j JOIN users u ON u.id = j.owner_id LEFT JOIN experiments e ON e.id = j.experiment_id";

/// What a new job row holds.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    pub kind: String,
    pub owner_id: i64,
    pub experiment_id: Option<i64>,
    pub run_id: Option<String>,
    pub phase: &'static str,
    pub parameters: String,
    pub posted_parameters: String,
    pub creation_time: i64,
    pub execution_duration: i64,
    pub destruction_time: i64,
}

const NEW_JOB_COLUMNS: usize = 12;

/// Inserts `jobs` in one transaction and one statement (group commit: the creations that arrive
/// together share one commit).
pub async fn insert_many(db: &Db, jobs: &[NewJob]) -> anyhow::Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut sql = String::from(
        "INSERT INTO jobs (id, kind, owner_id, experiment_id, run_id, phase, parameters, posted_parameters, \
         creation_time, execution_duration, destruction_time, queued_at) VALUES ",
    );
    for row in 0..jobs.len() {
        let first = row * NEW_JOB_COLUMNS;
        let placeholders: Vec<String> = (1..=NEW_JOB_COLUMNS).map(|c| format!("${}", first + c)).collect();
        sql.push_str(if row == 0 { "(" } else { ", (" });
        sql.push_str(&placeholders.join(", "));
        sql.push(')');
    }
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for job in jobs {
        let queued_at = (job.phase == "QUEUED").then_some(job.creation_time);
        query = query
            .bind(job.id.clone())
            .bind(job.kind.clone())
            .bind(job.owner_id)
            .bind(job.experiment_id)
            .bind(job.run_id.clone())
            .bind(job.phase)
            .bind(job.parameters.clone())
            .bind(job.posted_parameters.clone())
            .bind(job.creation_time)
            .bind(job.execution_duration)
            .bind(job.destruction_time)
            .bind(queued_at);
    }
    let mut tx = db.writer.begin().await.context("beginning the creation transaction")?;
    query.execute(&mut *tx).await.context("inserting jobs")?;
    tx.commit().await.context("committing new jobs")
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
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub kind: Option<String>,
    pub owner_id: Option<i64>,
    pub experiment_id: Option<i64>,
    /// Union of these phases; empty means every phase but ARCHIVED. Repeats are ignored.
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
    let placeholder = |binds: &mut Vec<Bind>, bind: Bind| {
        binds.push(bind);
        format!("${}", binds.len())
    };
    if let Some(kind) = &filter.kind {
        sql += &format!(" AND j.kind = {}", placeholder(&mut binds, Bind::Text(kind.clone())));
    }
    if let Some(owner) = filter.owner_id {
        sql += &format!(" AND j.owner_id = {}", placeholder(&mut binds, Bind::Int(owner)));
    }
    if let Some(experiment) = filter.experiment_id {
        sql += &format!(" AND j.experiment_id = {}", placeholder(&mut binds, Bind::Int(experiment)));
    }
    let mut phases = filter.phases.clone();
    phases.sort();
    phases.dedup();
    if phases.is_empty() {
        sql.push_str(" AND j.phase <> 'ARCHIVED'");
    } else {
        let list: Vec<String> = phases.into_iter().map(|p| placeholder(&mut binds, Bind::Text(p))).collect();
        sql += &format!(" AND j.phase IN ({})", list.join(", "));
    }
    if let Some(after) = filter.after {
        sql += &format!(" AND j.creation_time > {}", placeholder(&mut binds, Bind::Int(after)));
    }
    sql.push_str(" ORDER BY j.creation_time DESC, j.id DESC");
    if let Some(last) = filter.last {
        sql += &format!(" LIMIT {}", placeholder(&mut binds, Bind::Int(last)));
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
            .execute(&db.writer)
            .await
            .context("queueing job")?;
    Ok(done.rows_affected() == 1)
}

/// Who held an aborted job: the executor and its lease owner (both `None` if nobody ran it).
#[derive(Debug, Clone, FromRow)]
pub struct Released {
    pub executor: Option<String>,
    pub lease_owner: Option<String>,
}

/// Any active phase → ABORTED, with an optional reason as error summary. Returns who held the
/// job, or `None` if the job was not active. The lease owner stays as a record of who ran it
/// (the phase alone fences every later write of that attempt), the last progress as a record
/// of where it stopped.
pub async fn abort(db: &Db, id: &str, now: i64, reason: Option<&str>) -> anyhow::Result<Option<Released>> {
    sqlx::query_as(
        "UPDATE jobs SET phase = 'ABORTED', end_time = $2, error_type = CASE WHEN $3 IS NULL THEN NULL ELSE 'fatal' END, \
         error_message = $3, lease_expires_at = NULL \
         WHERE id = $1 AND phase IN ('PENDING', 'QUEUED', 'EXECUTING', 'HELD', 'SUSPENDED') \
         RETURNING executor, lease_owner",
    )
    .bind(id)
    .bind(now)
    .bind(reason)
    .fetch_optional(&db.writer)
    .await
    .context("aborting job")
}

/// The right to write to one attempt of a job: every write after the claim names it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Lease {
    /// The job's id (`id` in the table).
    pub id: String,
    pub attempt: i64,
    /// Who holds it: a local slot, a worker id, a batch system's job id.
    pub owner: String,
}

/// A job handed to an executor.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub id: String,
    pub kind: String,
    pub owner_id: i64,
    pub attempt: i64,
    pub parameters: String,
    pub execution_duration: i64,
}

/// How a claim takes a job.
pub struct Take<'a> {
    pub executor: &'a str,
    pub lease_owner: &'a str,
    pub kinds: &'a [&'a str],
    pub now: i64,
    pub lease_until: i64,
    /// `EXECUTING` for executors that run the job at once; `QUEUED` for a batch system, which
    /// starts it later ([`start`]) and enforces the execution duration itself.
    pub phase: &'static str,
}

/// Takes the next QUEUED job of one of `kinds` — the oldest job of the user who holds the
/// fewest jobs right now, so one user's long jobs cannot starve everyone else's — with a new
/// attempt number and a lease. SQLite has one writer, so the single UPDATE is the lock;
/// PostgreSQL needs `FOR UPDATE … SKIP LOCKED` so that concurrent claimers skip each other's row
/// instead of waiting.
pub async fn claim(db: &Db, take: &Take<'_>) -> anyhow::Result<Option<Claimed>> {
    let kinds: Vec<String> = (0..take.kinds.len()).map(|i| format!("${}", i + 7)).collect();
    let lock = match db.backend {
        Backend::Sqlite => "",
        Backend::Postgres => "FOR UPDATE OF q SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE jobs SET phase = $1, start_time = $2, executor = $3, lease_owner = $4, lease_expires_at = $5, \
         self_timed = $6, attempt = attempt + 1 \
         WHERE id = (SELECT q.id FROM jobs q \
                     LEFT JOIN (SELECT owner_id, COUNT(*) AS held FROM jobs \
                                WHERE phase IN ('QUEUED', 'EXECUTING') AND executor IS NOT NULL GROUP BY owner_id) h \
                       ON h.owner_id = q.owner_id \
                     WHERE q.phase = 'QUEUED' AND q.executor IS NULL AND q.kind IN ({kinds}) \
                     ORDER BY COALESCE(h.held, 0), q.queued_at, q.id LIMIT 1 {lock}) \
           AND phase = 'QUEUED' AND executor IS NULL \
         RETURNING id, kind, owner_id, attempt, parameters, execution_duration",
        kinds = kinds.join(", ")
    );
    let executing = take.phase == "EXECUTING";
    let mut query = sqlx::query_as(AssertSqlSafe(sql))
        .bind(take.phase)
        .bind(executing.then_some(take.now))
        .bind(take.executor)
        .bind(take.lease_owner)
        .bind(take.lease_until)
        .bind(i64::from(!executing));
    for kind in take.kinds {
        query = query.bind(*kind);
    }
    query.fetch_optional(&db.writer).await.context("claiming a queued job")
}

/// QUEUED → EXECUTING for a job a batch system holds, once it runs it.
pub async fn start(db: &Db, lease: &Lease, now: i64) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET phase = 'EXECUTING', start_time = $4 \
         WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND phase = 'QUEUED'",
    )
    .bind(&lease.id)
    .bind(lease.attempt)
    .bind(&lease.owner)
    .bind(now)
    .execute(&db.writer)
    .await
    .context("marking a job started")?;
    Ok(done.rows_affected() == 1)
}

/// Gives a held attempt a new lease owner (a batch system's job id once it is known).
pub async fn rebind(db: &Db, lease: &Lease, owner: &str) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET lease_owner = $4 WHERE id = $1 AND attempt = $2 AND lease_owner = $3 \
         AND phase IN ('QUEUED', 'EXECUTING')",
    )
    .bind(&lease.id)
    .bind(lease.attempt)
    .bind(&lease.owner)
    .bind(owner)
    .execute(&db.writer)
    .await
    .context("recording the lease owner")?;
    Ok(done.rows_affected() == 1)
}

/// Pushes a running attempt's lease to `until`; false when the lease is no longer its own.
pub async fn renew(db: &Db, lease: &Lease, until: i64) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET lease_expires_at = $4 \
         WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND phase = 'EXECUTING'",
    )
    .bind(&lease.id)
    .bind(lease.attempt)
    .bind(&lease.owner)
    .bind(until)
    .execute(&db.writer)
    .await
    .context("renewing lease")?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_progress(db: &Db, lease: &Lease, fraction: f64, message: &str) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET progress_fraction = $4, progress_message = $5 \
         WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND phase = 'EXECUTING'",
    )
    .bind(&lease.id)
    .bind(lease.attempt)
    .bind(&lease.owner)
    .bind(fraction)
    .bind(message)
    .execute(&db.writer)
    .await
    .context("recording progress")?;
    Ok(done.rows_affected() == 1)
}

/// How an attempt ended, as recorded on the job.
pub struct Outcome<'a> {
    pub phase: &'static str,
    pub error_type: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub error_detail: Option<&'a str>,
    /// The results with their MIME types (JSON), for a completed attempt.
    pub results: Option<&'a str>,
    /// Whether the attempt's process crashed (counted in `crashes`).
    pub crashed: bool,
}

/// The held attempt → `outcome.phase`. Returns false when the lease is gone (aborted,
/// destroyed, re-queued, held by someone else): that attempt's outcome no longer counts. A
/// completed job drops its progress (it would only be stale); a failed one keeps it, to show
/// where it stopped.
pub async fn finish(db: &Db, lease: &Lease, now: i64, outcome: &Outcome<'_>) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET phase = $4, start_time = COALESCE(start_time, $5), end_time = $5, error_type = $6, \
         error_message = $7, error_detail = $8, results = $9, crashes = crashes + $10, lease_owner = NULL, \
         lease_expires_at = NULL, \
         progress_fraction = CASE WHEN $4 = 'COMPLETED' THEN NULL ELSE progress_fraction END, \
         progress_message = CASE WHEN $4 = 'COMPLETED' THEN NULL ELSE progress_message END \
         WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND phase IN ('QUEUED', 'EXECUTING')",
    )
    .bind(&lease.id)
    .bind(lease.attempt)
    .bind(&lease.owner)
    .bind(outcome.phase)
    .bind(now)
    .bind(outcome.error_type)
    .bind(outcome.error_message)
    .bind(outcome.error_detail)
    .bind(outcome.results)
    .bind(i64::from(outcome.crashed))
    .execute(&db.writer)
    .await
    .context("recording job outcome")?;
    Ok(done.rows_affected() == 1)
}

/// The held attempt → QUEUED, for another attempt; `crashed` counts a crash of its process.
pub async fn requeue(db: &Db, lease: &Lease, now: i64, crashed: bool) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET phase = 'QUEUED', queued_at = $4, start_time = NULL, executor = NULL, lease_owner = NULL, \
         lease_expires_at = NULL, self_timed = 0, progress_fraction = NULL, progress_message = NULL, \
         crashes = crashes + $5 \
         WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND phase IN ('QUEUED', 'EXECUTING')",
    )
    .bind(&lease.id)
    .bind(lease.attempt)
    .bind(&lease.owner)
    .bind(now)
    .bind(i64::from(crashed))
    .execute(&db.writer)
    .await
    .context("re-queueing job")?;
    Ok(done.rows_affected() == 1)
}

/// Gives a handed-over job back to the queue as if it had never been taken (the submission to
/// the batch system failed, or never happened): the attempt is not counted.
pub async fn release(db: &Db, lease: &Lease) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET executor = NULL, lease_owner = NULL, lease_expires_at = NULL, self_timed = 0, \
         attempt = attempt - 1 \
         WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND phase = 'QUEUED'",
    )
    .bind(&lease.id)
    .bind(lease.attempt)
    .bind(&lease.owner)
    .execute(&db.writer)
    .await
    .context("releasing a job")?;
    Ok(done.rows_affected() == 1)
}

/// Whether `lease` still holds its job (the job is active and the lease is this one).
pub async fn holds(db: &Db, lease: &Lease) -> anyhow::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT attempt FROM jobs WHERE id = $1 AND attempt = $2 AND lease_owner = $3 \
         AND phase IN ('QUEUED', 'EXECUTING')",
    )
    .bind(&lease.id)
    .bind(lease.attempt)
    .bind(&lease.owner)
    .fetch_optional(&db.pool)
    .await
    .context("checking a lease")?;
    Ok(found.is_some())
}

/// A job an executor holds, with its phase.
#[derive(Debug, Clone, FromRow)]
pub struct Held {
    pub id: String,
    pub attempt: i64,
    pub phase: String,
    pub lease_owner: Option<String>,
    pub crashes: i64,
}

/// The active jobs `executor` holds (for recovery after a restart and for batch polling).
pub async fn held_by(db: &Db, executor: &str) -> anyhow::Result<Vec<Held>> {
    sqlx::query_as(
        "SELECT id, attempt, phase, lease_owner, crashes FROM jobs \
         WHERE executor = $1 AND phase IN ('QUEUED', 'EXECUTING')",
    )
    .bind(executor)
    .fetch_all(&db.pool)
    .await
    .context("listing held jobs")
}

/// The ids of the running jobs of `executor` whose lease `owner` holds.
pub async fn held_by_owner(db: &Db, executor: &str, owner: &str) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM jobs WHERE executor = $1 AND lease_owner = $2 AND phase = 'EXECUTING'")
        .bind(executor)
        .bind(owner)
        .fetch_all(&db.pool)
        .await
        .context("listing a lease owner's jobs")
}

/// EXECUTING jobs of `executor` whose lease ran out before `now`.
pub async fn lapsed(db: &Db, executor: &str, now: i64) -> anyhow::Result<Vec<Lease>> {
    sqlx::query_as(
        "SELECT id, attempt, COALESCE(lease_owner, '') AS owner FROM jobs \
         WHERE executor = $1 AND phase = 'EXECUTING' AND lease_expires_at < $2",
    )
    .bind(executor)
    .bind(now)
    .fetch_all(&db.pool)
    .await
    .context("finding lapsed leases")
}

/// Gives every running job of `executor` a lease until `until` (after a master restart, so that
/// workers that kept running get the chance to renew before anything is re-queued).
pub async fn extend_leases(db: &Db, executor: &str, until: i64) -> anyhow::Result<u64> {
    let done = sqlx::query("UPDATE jobs SET lease_expires_at = $2 WHERE executor = $1 AND phase = 'EXECUTING'")
        .bind(executor)
        .bind(until)
        .execute(&db.writer)
        .await
        .context("extending leases")?;
    Ok(done.rows_affected())
}

/// Sets the execution duration while the job has not finished.
pub async fn set_execution_duration(db: &Db, id: &str, seconds: i64) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET execution_duration = $2 WHERE id = $1 AND phase IN ('PENDING', 'QUEUED', 'HELD', 'EXECUTING', 'SUSPENDED')",
    )
    .bind(id)
    .bind(seconds)
    .execute(&db.writer)
    .await
    .context("setting execution duration")?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_destruction(db: &Db, id: &str, at: i64) -> anyhow::Result<()> {
    sqlx::query("UPDATE jobs SET destruction_time = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(&db.writer)
        .await
        .context("setting destruction time")?;
    Ok(())
}

/// Replaces the parameters of a PENDING job (typed and as posted); false if it left PENDING.
pub async fn set_parameters(db: &Db, id: &str, parameters: &str, posted: &str) -> anyhow::Result<bool> {
    let done =
        sqlx::query("UPDATE jobs SET parameters = $2, posted_parameters = $3 WHERE id = $1 AND phase = 'PENDING'")
            .bind(id)
            .bind(parameters)
            .bind(posted)
            .execute(&db.writer)
            .await
            .context("updating parameters")?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_annotations(db: &Db, id: &str, label: &str, notes: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE jobs SET label = $2, notes = $3 WHERE id = $1")
        .bind(id)
        .bind(label)
        .bind(notes)
        .execute(&db.writer)
        .await
        .context("updating label and notes")?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM jobs WHERE id = $1").bind(id).execute(&db.writer).await.context("deleting job")?;
    Ok(())
}

/// Jobs whose destruction time has come.
pub async fn expired(db: &Db, now: i64, limit: i64) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM jobs WHERE destruction_time <= $1 LIMIT $2")
        .bind(now)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("finding expired jobs")
}

/// EXECUTING jobs that have run longer than their execution duration, with that duration.
/// Jobs whose executor enforces the limit itself (`self_timed`) are left to it.
pub async fn overrun(db: &Db, now: i64) -> anyhow::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT id, execution_duration FROM jobs WHERE phase = 'EXECUTING' AND execution_duration > 0 \
         AND self_timed = 0 AND start_time + execution_duration * 1000 <= $1",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await
    .context("finding overrun jobs")
}

/// Ids of every job of `owner_id` (all phases): their folders count against the owner's quota.
pub async fn ids_of_owner(db: &Db, owner_id: i64) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM jobs WHERE owner_id = $1")
        .bind(owner_id)
        .fetch_all(&db.pool)
        .await
        .context("listing a user's jobs")
}

/// The name of the owner of job `id`, if the job exists.
pub async fn owner_of(db: &Db, id: &str) -> anyhow::Result<Option<String>> {
    sqlx::query_scalar("SELECT u.name FROM jobs j JOIN users u ON u.id = j.owner_id WHERE j.id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .context("looking up a job's owner")
}
