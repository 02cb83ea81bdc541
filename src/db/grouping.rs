//! Which experiment a job belongs to: the one write the web pages make on `jobs`. It touches no
//! phase, attempt or lease, so it cannot race the state machine.

use anyhow::Context;

use super::Db;

pub async fn set_experiment(db: &Db, job_id: &str, experiment_id: Option<i64>) -> anyhow::Result<()> {
    sqlx::query("UPDATE jobs SET experiment_id = $2 WHERE id = $1")
        .bind(job_id)
        .bind(experiment_id)
        .execute(&db.writer)
        .await
        .context("moving job to experiment")?;
    Ok(())
}
