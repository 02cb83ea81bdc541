//! The master's executor for remote workers. Workers pull jobs themselves (see [`super::http`]),
//! so this executor only keeps leases honest: after a master restart it gives running remote
//! jobs one lease of grace (their workers may still be at it and will renew), and from then on
//! it has the job service re-queue — or end in ERROR after the last attempt — every job whose
//! lease lapsed.

use std::sync::Arc;
use std::time::Duration;

use super::Timing;
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

    async fn watch_leases(self: Arc<Self>, jobs: JobService) {
        match jobs.extend_leases(NAME, self.timing.lease).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "remote jobs running at start-up get one lease of grace"),
            Err(e) => tracing::error!(error.message = %e, "extending leases at start-up failed"),
        }
        let mut ticker = tokio::time::interval(self.timing.heartbeat.min(Duration::from_secs(1)));
        let lease_seconds = self.timing.lease.as_secs();
        loop {
            ticker.tick().await;
            let reason = |lease: &crate::jobs::Lease| {
                format!(
                    "worker {} stopped renewing its lease (killed, hung or cut off) for {lease_seconds} s",
                    lease.owner
                )
            };
            if let Err(e) = jobs.requeue_lapsed(NAME, reason).await {
                tracing::error!(error.message = %e, error.cause_chain = ?e, "checking leases failed");
            }
        }
    }
}

impl Executor for FleetExecutor {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Nothing to do here: the worker learns on its next heartbeat (409) and stops the job.
    fn cancel(&self, _job_id: &str, _lease_owner: Option<&str>) {}

    fn start(self: Arc<Self>, jobs: JobService) {
        tokio::spawn(self.watch_leases(jobs));
    }
}
