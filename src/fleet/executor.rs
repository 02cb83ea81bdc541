//! The master's executor for remote workers. Workers pull jobs themselves (see [`super::http`]),
//! so this executor only keeps leases honest: after a master restart it gives running remote
//! jobs one lease of grace (their workers may still be at it and will renew), and from then on
//! it re-queues — or ends in ERROR after the last attempt — every job whose lease lapsed.

use std::sync::Arc;
use std::time::Duration;

use super::Timing;
use crate::db::{fleet as store, now_ms};
use crate::jobs::JobService;
use crate::jobs::executor::Executor;

pub const NAME: &str = "fleet";

pub struct FleetExecutor {
    timing: Timing,
}

impl FleetExecutor {
    pub fn new(timing: Timing) -> Arc<FleetExecutor> {
        Arc::new(FleetExecutor { timing })
    }

    async fn watch_leases(self: Arc<Self>, service: JobService) {
        let grace = now_ms() + self.timing.lease.as_millis() as i64;
        match store::extend_leases(service.db(), NAME, grace).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "remote jobs running at start-up get one lease of grace"),
            Err(e) => tracing::error!(error.message = %e, "extending leases at start-up failed"),
        }
        let mut ticker = tokio::time::interval(self.timing.heartbeat.min(Duration::from_secs(1)));
        loop {
            ticker.tick().await;
            if let Err(e) = self.requeue_lapsed(&service).await {
                tracing::error!(error.message = %e, error.cause_chain = ?e, "checking leases failed");
            }
        }
    }

    async fn requeue_lapsed(&self, service: &JobService) -> anyhow::Result<()> {
        for (id, attempt, worker) in store::lapsed_leases(service.db(), NAME, now_ms()).await? {
            let reason = format!(
                "worker {worker} stopped renewing its lease (killed, hung or cut off) for {} s",
                self.timing.lease.as_secs()
            );
            service.requeue_or_fail(&id, attempt, &reason).await?;
        }
        Ok(())
    }
}

impl Executor for FleetExecutor {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Nothing to do here: the worker learns on its next heartbeat (409) and stops the job.
    fn cancel(&self, _job_id: &str) {}

    fn start(self: Arc<Self>, service: JobService) {
        tokio::spawn(self.watch_leases(service));
    }
}
