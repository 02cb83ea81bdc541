//! Read-only queries behind the web pages: job lists filtered by kind, phase, experiment,
//! creation date and label, paged by keyset (creation time, id) so page 1,000 of 100,000 jobs
//! costs what page 1 costs; counts per phase; the worker fleet and batch-system jobs.
//!
//! Nothing here changes a job. Filters are bound parameters, never spliced text.

use anyhow::Context;
use sqlx::any::AnyArguments;
use sqlx::query::QueryAs;
use sqlx::{Any, AssertSqlSafe, FromRow};

use super::Db;

/// One line of a job list page.
#[derive(Debug, Clone, FromRow)]
pub struct JobLine {
    pub id: String,
    pub kind: String,
    pub phase: String,
    pub owner_name: String,
    pub experiment: Option<String>,
    pub label: String,
    pub creation_time: i64,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub progress_fraction: Option<f64>,
    pub progress_message: Option<String>,
}

/// A position in the newest-first order: the (creation time, id) of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub time: i64,
    pub id: String,
}

/// Which way a page goes from its cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Direction {
    /// Jobs older than the cursor (the next page).
    Older(Cursor),
    /// Jobs newer than the cursor (the previous page).
    Newer(Cursor),
    /// The newest jobs.
    First,
}

/// Filters of a job list page, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    /// `None` lists every owner (admins only; the service decides).
    pub owner_id: Option<i64>,
    pub kind: Option<String>,
    /// Any of these phases; empty means every phase but ARCHIVED.
    pub phases: Vec<String>,
    pub experiment_id: Option<i64>,
    /// Created at or after (Unix ms).
    pub created_from: Option<i64>,
    /// Created before (Unix ms).
    pub created_to: Option<i64>,
    /// A case-insensitive substring of the label, or a job id.
    pub text: Option<String>,
}

enum Bind {
    Int(i64),
    Text(String),
}

/// `WHERE …` for a query, with its binds numbered from `$1`.
struct Where {
    sql: String,
    binds: Vec<Bind>,
}

impl Where {
    fn new() -> Where {
        Where { sql: " WHERE 1 = 1".into(), binds: Vec::new() }
    }

    /// Appends `clause`, each `?` becoming the next `$n` bound to the next of `binds`.
    fn and(&mut self, clause: &str, binds: Vec<Bind>) {
        let mut parts = clause.split('?');
        self.sql.push_str(" AND ");
        self.sql.push_str(parts.next().unwrap_or_default());
        for (part, bind) in parts.zip(binds) {
            self.binds.push(bind);
            self.sql.push_str(&format!("${}{part}", self.binds.len()));
        }
    }

    fn filter(q: &JobQuery) -> Where {
        let mut w = Where::new();
        if let Some(owner) = q.owner_id {
            w.and("j.owner_id = ?", vec![Bind::Int(owner)]);
        }
        if let Some(kind) = &q.kind {
            w.and("j.kind = ?", vec![Bind::Text(kind.clone())]);
        }
        if q.phases.is_empty() {
            w.and("j.phase <> 'ARCHIVED'", vec![]);
        } else {
            let marks = vec!["?"; q.phases.len()].join(", ");
            w.and(&format!("j.phase IN ({marks})"), q.phases.iter().cloned().map(Bind::Text).collect());
        }
        if let Some(experiment) = q.experiment_id {
            w.and("j.experiment_id = ?", vec![Bind::Int(experiment)]);
        }
        if let Some(from) = q.created_from {
            w.and("j.creation_time >= ?", vec![Bind::Int(from)]);
        }
        if let Some(to) = q.created_to {
            w.and("j.creation_time < ?", vec![Bind::Int(to)]);
        }
        if let Some(text) = &q.text {
            let pattern = format!("%{}%", like_escape(&text.to_lowercase()));
            w.and(
                "(LOWER(j.label) LIKE ? ESCAPE '\\' OR j.id = ?)",
                vec![Bind::Text(pattern), Bind::Text(text.clone())],
            );
        }
        w
    }

    fn bind<'q, T: for<'r> FromRow<'r, sqlx::any::AnyRow>>(self, sql: String) -> QueryAs<'q, Any, T, AnyArguments> {
        let mut query: QueryAs<'q, Any, T, AnyArguments> = sqlx::query_as(AssertSqlSafe(sql));
        for bind in self.binds {
            query = match bind {
                Bind::Int(n) => query.bind(n),
                Bind::Text(s) => query.bind(s),
            };
        }
        query
    }
}

/// `%`, `_` and `\` match themselves in a LIKE pattern with `ESCAPE '\'`.
fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

const LINE: &str = "SELECT j.id, j.kind, j.phase, u.name AS owner_name, e.name AS experiment, j.label, \
     j.creation_time, j.start_time, j.end_time, j.progress_fraction, j.progress_message \
     FROM jobs j JOIN users u ON u.id = j.owner_id LEFT JOIN experiments e ON e.id = j.experiment_id";

/// Up to `limit` jobs matching `q` in the direction asked, always returned newest first. One more
/// row than `limit` is read to tell whether the page has a neighbour beyond it: the flag says so.
pub async fn page(db: &Db, q: &JobQuery, direction: &Direction, limit: i64) -> anyhow::Result<(Vec<JobLine>, bool)> {
    let mut w = Where::filter(q);
    let order = match direction {
        Direction::Older(c) => {
            let (t, id) = (c.time, c.id.clone());
            w.and(
                "(j.creation_time < ? OR (j.creation_time = ? AND j.id < ?))",
                vec![Bind::Int(t), Bind::Int(t), Bind::Text(id)],
            );
            "DESC"
        }
        Direction::Newer(c) => {
            let (t, id) = (c.time, c.id.clone());
            w.and(
                "(j.creation_time > ? OR (j.creation_time = ? AND j.id > ?))",
                vec![Bind::Int(t), Bind::Int(t), Bind::Text(id)],
            );
            "ASC"
        }
        Direction::First => "DESC",
    };
    let sql = format!("{LINE}{} ORDER BY j.creation_time {order}, j.id {order} LIMIT {}", w.sql, limit + 1);
    let mut rows: Vec<JobLine> = w.bind(sql).fetch_all(&db.pool).await.context("listing a page of jobs")?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    if matches!(direction, Direction::Newer(_)) {
        rows.reverse();
    }
    Ok((rows, more))
}

/// How many jobs match `q` (its phase filter ignored), per phase.
pub async fn phase_counts(db: &Db, q: &JobQuery) -> anyhow::Result<Vec<(String, i64)>> {
    let q = JobQuery { phases: Vec::new(), ..q.clone() };
    let w = Where::filter(&q);
    let sql = format!("SELECT j.phase, COUNT(*) FROM jobs j{} GROUP BY j.phase ORDER BY j.phase", w.sql);
    w.bind(sql).fetch_all(&db.pool).await.context("counting jobs by phase")
}

/// The lines of the jobs `ids` among those `owner_id` may see (`None`: all).
pub async fn lines(db: &Db, owner_id: Option<i64>, ids: &[String]) -> anyhow::Result<Vec<JobLine>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut w = Where::new();
    if let Some(owner) = owner_id {
        w.and("j.owner_id = ?", vec![Bind::Int(owner)]);
    }
    let marks = vec!["?"; ids.len()].join(", ");
    w.and(&format!("j.id IN ({marks})"), ids.iter().cloned().map(Bind::Text).collect());
    let sql = format!("{LINE}{}", w.sql);
    w.bind(sql).fetch_all(&db.pool).await.context("reading job lines")
}

/// A registered remote worker with the jobs it is running now.
#[derive(Debug, Clone, FromRow)]
pub struct WorkerLine {
    pub id: String,
    pub token_name: String,
    pub hostname: String,
    pub kinds: String,
    pub slots: i64,
    pub registered_at: i64,
    pub last_seen: i64,
    pub running: i64,
}

/// Every registered worker, most recently seen first, with its running-job count.
pub async fn workers(db: &Db) -> anyhow::Result<Vec<WorkerLine>> {
    sqlx::query_as(
        "SELECT w.id, t.name AS token_name, w.hostname, w.kinds, w.slots, w.registered_at, w.last_seen, \
         (SELECT COUNT(*) FROM jobs j WHERE j.phase = 'EXECUTING' AND j.lease_owner = w.id) AS running \
         FROM workers w JOIN worker_tokens t ON t.id = w.token_id ORDER BY w.last_seen DESC LIMIT 500",
    )
    .fetch_all(&db.pool)
    .await
    .context("listing workers")
}

/// An active job and who runs it (executor and lease owner: a local slot, a worker id, a
/// batch-system job id).
#[derive(Debug, Clone, FromRow)]
pub struct RunningLine {
    pub id: String,
    pub kind: String,
    pub phase: String,
    pub owner_name: String,
    pub executor: Option<String>,
    pub lease_owner: Option<String>,
    pub start_time: Option<i64>,
}

/// Queued and executing jobs handed to an executor, oldest first.
pub async fn running(db: &Db) -> anyhow::Result<Vec<RunningLine>> {
    sqlx::query_as(
        "SELECT j.id, j.kind, j.phase, u.name AS owner_name, j.executor, j.lease_owner, j.start_time \
         FROM jobs j JOIN users u ON u.id = j.owner_id \
         WHERE j.phase IN ('QUEUED', 'EXECUTING') AND j.executor IS NOT NULL \
         ORDER BY j.start_time, j.id LIMIT 1000",
    )
    .fetch_all(&db.pool)
    .await
    .context("listing running jobs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        let q = JobQuery {
            owner_id: Some(1),
            kind: Some("som".into()),
            phases: vec!["QUEUED".into(), "EXECUTING".into()],
            text: Some("x".into()),
            ..JobQuery::default()
        };
        let w = Where::filter(&q);
        assert!(w.sql.contains("j.owner_id = $1"), "{}", w.sql);
        assert!(w.sql.contains("j.kind = $2"), "{}", w.sql);
        assert!(w.sql.contains("j.phase IN ($3, $4)"), "{}", w.sql);
        assert!(w.sql.contains("LIKE $5 ESCAPE '\\' OR j.id = $6"), "{}", w.sql);
        assert_eq!(w.binds.len(), 6);
    }
}
