//! The reaper: a loop that aborts jobs running past their execution duration (UWS 2.1.4: same
//! effect as a manual abort, with the reason as error summary) and destroys jobs whose
//! destruction time has come (UWS 2.1.5). It works from the database alone, so it covers every
//! executor and survives restarts.

use std::time::Duration;

use super::JobService;
use crate::db::{jobs as store, now_ms};

/// Jobs destroyed per pass at most, so one pass stays short under a backlog.
const DESTROY_BATCH: i64 = 500;

pub fn start(service: JobService, interval: Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(e) = pass(&service).await {
                tracing::error!(error.message = %e, error.cause_chain = ?e, "reaper pass failed");
            }
        }
    });
}

async fn pass(service: &JobService) -> anyhow::Result<()> {
    let now = now_ms();
    for (id, seconds) in store::overrun(service.db(), now).await? {
        let reason = format!("execution duration of {seconds} s exceeded; job aborted");
        service.abort_job(&id, Some(&reason)).await.map_err(anyhow::Error::from)?;
    }
    for id in store::expired(service.db(), now, DESTROY_BATCH).await? {
        service.destroy_job(&id).await.map_err(anyhow::Error::from)?;
    }
    Ok(())
}
