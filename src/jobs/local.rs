//! The in-process executor: `slots` tasks that each claim a QUEUED job, run its kind on a
//! blocking thread, forward progress, and record the outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use vocloud_workers::{CancelToken, Failure, JobContext, Progress};

use super::JobService;
use super::executor::Executor;
use crate::db::jobs::Claimed;

/// How often a progress report is written to the database at most.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// Local jobs hold a lease too, so the columns mean the same for every executor; nothing else
/// can take a local job while this process lives, and recovery at start-up handles its death.
const LOCAL_LEASE: Duration = Duration::from_secs(365 * 86_400);
/// A slot re-checks the queue this often even without a notification (belt and braces).
const IDLE_RECHECK: Duration = Duration::from_secs(5);

pub struct LocalPool {
    slots: usize,
    /// Cancellation tokens of the jobs running here, by job id.
    running: Mutex<HashMap<String, CancelToken>>,
    runner: String,
    /// Deployment settings every job gets (`JobContext::setting`).
    job_settings: Vec<(String, String)>,
}

impl LocalPool {
    pub fn new(slots: usize, job_settings: Vec<(String, String)>) -> Arc<LocalPool> {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        let runner = format!("the local pool on {host}");
        Arc::new(LocalPool { slots, running: Mutex::new(HashMap::new()), runner, job_settings })
    }

    async fn slot_loop(self: Arc<Self>, service: JobService, slot: usize) {
        let kinds = service.registry().names();
        let lease_owner = format!("local-{slot}");
        loop {
            let notified = service.queued_notification();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match service.claim(self.name(), &lease_owner, &kinds, LOCAL_LEASE).await {
                Ok(Some(job)) => self.run(&service, job).await,
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

    #[tracing::instrument(skip_all, fields(job.id = %job.id, job.kind = %job.kind, attempt = job.attempt))]
    async fn run(&self, service: &JobService, job: Claimed) {
        let cancel = CancelToken::new();
        self.running.lock().unwrap_or_else(|e| e.into_inner()).insert(job.id.clone(), cancel.clone());
        // An ABORT between the claim and the line above found no token to cancel; it changed the
        // phase before looking for one, so the phase read now shows it.
        match crate::db::jobs::get(service.db(), &job.id).await {
            Ok(Some(row)) if row.phase == crate::uws::ExecutionPhase::Executing.as_str() => {}
            Ok(_) => cancel.cancel(),
            Err(e) => tracing::warn!(error.message = %e, "re-reading the claimed job failed"),
        }
        let outcome = self.execute(service, &job, cancel).await;
        self.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&job.id);
        if let Err(e) = service.record(&job.id, job.attempt, outcome).await {
            tracing::error!(error.message = %e, error.cause_chain = ?e, "recording the outcome failed");
        }
    }

    async fn execute(
        &self,
        service: &JobService,
        job: &Claimed,
        cancel: CancelToken,
    ) -> Result<vocloud_workers::Outputs, Failure> {
        let kind = service
            .registry()
            .get(&job.kind)
            .ok_or_else(|| Failure::Fatal(format!("unknown job kind '{}'", job.kind)))?;
        let parameters = serde_json::from_str(&job.parameters).map_err(|e| Failure::fatal("stored parameters", e))?;
        let owner = crate::db::users::by_id(service.db(), job.owner_id)
            .await
            .map_err(|e| Failure::Retryable(format!("reading the job's owner: {e}")))?
            .ok_or_else(|| Failure::Fatal("the job's owner no longer exists".into()))?;
        let user_dir = service
            .storage()
            .user_dir(&owner.name)
            .map_err(|e| Failure::Retryable(format!("opening user storage: {e}")))?;
        let (progress_tx, progress_rx) = watch::channel(None);
        let forwarder = tokio::spawn(forward_progress(service.clone(), job.id.clone(), job.attempt, progress_rx));
        let mut ctx =
            JobContext::new(&service.storage().job_dir(&job.id), job.attempt, &user_dir, self.runner.clone(), cancel)
                .with_progress(move |p| {
                    progress_tx.send_replace(Some(p));
                });
        for (key, value) in &self.job_settings {
            ctx = ctx.with_setting(key, value.clone());
        }
        ctx.checkpoint()?; // aborted or destroyed while being handed out
        ctx.create_dirs().map_err(|e| Failure::Retryable(format!("creating the attempt's folders: {e}")))?;
        let span = tracing::Span::current();
        let outcome = tokio::task::spawn_blocking(move || span.in_scope(|| kind.run(&parameters, &ctx))).await;
        // Progress of a finished run no longer matters, and waiting out the forwarder's rate
        // limit would delay the outcome by up to its interval.
        forwarder.abort();
        outcome.unwrap_or_else(|e| Err(Failure::Fatal(format!("the job crashed: {}", panic_message(e)))))
    }
}

/// Writes the latest progress report to the database, at most every [`PROGRESS_INTERVAL`]; ends
/// when the job drops its context.
async fn forward_progress(service: JobService, id: String, attempt: i64, mut rx: watch::Receiver<Option<Progress>>) {
    while rx.changed().await.is_ok() {
        let latest = rx.borrow_and_update().clone();
        if let Some(p) = latest
            && let Err(e) = service.progress(&id, attempt, p.fraction, &p.message).await
        {
            tracing::warn!(error.message = %e, "recording progress failed");
        }
        tokio::time::sleep(PROGRESS_INTERVAL).await;
    }
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into()),
        Err(e) => e.to_string(),
    }
}

impl Executor for LocalPool {
    fn name(&self) -> &'static str {
        "local"
    }

    fn cancel(&self, job_id: &str) {
        if let Some(token) = self.running.lock().unwrap_or_else(|e| e.into_inner()).get(job_id) {
            token.cancel();
        }
    }

    fn start(self: Arc<Self>, service: JobService) {
        tokio::spawn(async move {
            // The threads that ran these jobs died with the previous process.
            let reason = "the service stopped while this job was running";
            if let Err(e) = service.recover_interrupted(self.name(), reason).await {
                tracing::error!(error.message = %e, error.cause_chain = ?e, "recovering interrupted jobs failed");
            }
            for slot in 0..self.slots {
                tokio::spawn(self.clone().slot_loop(service.clone(), slot));
            }
        });
    }
}
