//! The master's local pool: `slots` tasks that each claim a QUEUED job and run its attempt as a
//! child process (`vocloud run-job`, through [`Launcher`]), forward its progress and hand its
//! outcome to the job service. A kind that crashes or runs out of memory takes only its child
//! down; the children die with the master, whose restart re-queues their jobs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::jobs::executor::Executor;
use crate::jobs::{Claimed, Error, JobService};
use crate::runner::Launcher;
use crate::runner::process::{Attempt, hostname};

pub const NAME: &str = "local";
/// Local jobs hold a lease too, so the columns mean the same for every executor; nothing else
/// can take a local job while this process lives, and recovery at start-up handles its death.
const LOCAL_LEASE: Duration = Duration::from_secs(365 * 86_400);
/// A slot re-checks the queue this often even without a notification (belt and braces).
const IDLE_RECHECK: Duration = Duration::from_secs(5);

pub struct LocalPool {
    slots: usize,
    launcher: Launcher,
    /// Cancel switches of the attempts running here, by job id.
    running: Mutex<HashMap<String, watch::Sender<bool>>>,
    /// Where jobs run, as they report it ("the local pool on host-a").
    runner: String,
}

impl LocalPool {
    pub fn new(slots: usize, launcher: Launcher) -> Arc<LocalPool> {
        let runner = format!("the local pool on {}", hostname());
        Arc::new(LocalPool { slots, launcher, running: Mutex::new(HashMap::new()), runner })
    }

    async fn slot_loop(self: Arc<Self>, jobs: JobService, slot: usize) {
        let kinds = jobs.registry().names();
        let lease_owner = format!("{NAME}-{slot}");
        loop {
            let notified = jobs.queued_notification();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match jobs.claim(NAME, &lease_owner, &kinds, LOCAL_LEASE).await {
                Ok(Some(job)) => self.run(&jobs, job).await,
                Ok(None) => {
                    let _ = tokio::time::timeout(IDLE_RECHECK, notified).await;
                }
                Err(e) => {
                    tracing::error!(error.message = %e, error.cause_chain = ?e, "claiming a job failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(job.id = %job.lease.id, job.kind = %job.kind, attempt = job.lease.attempt))]
    async fn run(&self, jobs: &JobService, job: Claimed) {
        let (cancel, cancelled) = watch::channel(false);
        self.running.lock().unwrap_or_else(|e| e.into_inner()).insert(job.lease.id.clone(), cancel);
        // An ABORT between the claim and the line above found no switch to flip; it changed
        // the phase first, so the lease shows it now.
        if !jobs.holds(&job.lease).await.unwrap_or(true) {
            self.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&job.lease.id);
            return;
        }
        let attempt =
            Attempt { job_id: &job.lease.id, job_dir: &job.job_dir, attempt: job.lease.attempt, runner: &self.runner };
        let forward = {
            let (jobs, lease) = (jobs.clone(), job.lease.clone());
            move |progress| {
                let (jobs, lease) = (jobs.clone(), lease.clone());
                tokio::spawn(async move { jobs.progress(&lease, &progress).await });
            }
        };
        let outcome = self.launcher.run(attempt, cancelled, forward).await;
        self.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&job.lease.id);
        match jobs.finish(&job.lease, outcome).await {
            Ok(()) => {}
            Err(Error::LeaseLost { .. }) => tracing::debug!("the attempt no longer counts; outcome dropped"),
            Err(e) => tracing::error!(error.message = %e, error.cause_chain = ?e, "recording the outcome failed"),
        }
    }
}

impl Executor for LocalPool {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cancel(&self, job_id: &str, _lease_owner: Option<&str>) {
        if let Some(switch) = self.running.lock().unwrap_or_else(|e| e.into_inner()).get(job_id) {
            let _ = switch.send(true);
        }
    }

    fn start(self: Arc<Self>, jobs: JobService) {
        tokio::spawn(async move {
            // The children that ran these jobs died with the previous process.
            let reason = "the service stopped while this job was running";
            if let Err(e) = jobs.recover_interrupted(NAME, reason).await {
                tracing::error!(error.message = %e, error.cause_chain = ?e, "recovering interrupted jobs failed");
            }
            for slot in 0..self.slots {
                tokio::spawn(self.clone().slot_loop(jobs.clone(), slot));
            }
        });
    }
}
