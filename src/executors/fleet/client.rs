//! `vocloud worker`: registers with the master, then each slot claims jobs by long-poll, runs
//! each attempt as a child process (`vocloud run-job`, the same runner as everywhere), heartbeats
//! while it runs, and reports its outcome. Results go straight to shared storage; only small
//! JSON messages pass through the master.
//!
//! A job stops when the master answers a heartbeat with 409 (ABORT, DELETE, execution-duration
//! overrun, lease given to someone else) or when the worker could not renew its lease for a whole
//! lease period (the master has re-queued it by then). On SIGINT/SIGTERM the worker stops
//! claiming, stops its running attempts and reports them as retryable, so they run again
//! elsewhere. Calls to the master are blocking `ureq` requests on blocking threads; what to do
//! next is decided on the status code ([`CallError`]), never on message text.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use vocloud_workers::{Progress, Registry};

use super::protocol::*;
use crate::runner::process::{Attempt, hostname};
use crate::runner::{Launcher, Outcome};
use crate::storage::MARKER;

/// How long a slot asks the master to hold a claim open.
const CLAIM_WAIT: u64 = 20;

pub struct WorkerOptions {
    pub master: String,
    pub token: String,
    /// The shared storage root as this host mounts it.
    pub storage: PathBuf,
    /// Kinds to run (empty: all this build knows).
    pub kinds: Vec<String>,
    pub slots: usize,
    /// How attempts are started (binary, memory limit, job settings).
    pub launcher: Launcher,
}

/// Why a call to the master did not succeed, by what the worker must do about it.
#[derive(Debug, thiserror::Error)]
enum CallError {
    /// 401/403: the master refuses this worker (token revoked, foreign storage): stop.
    #[error("the master refused this worker: {0}")]
    Refused(String),
    /// 409: the attempt no longer holds its lease: stop the job, drop its outcome.
    #[error("the master stopped this attempt: {0}")]
    LeaseLost(String),
    /// Any other 4xx: this worker sent something the master cannot take (a version mismatch).
    #[error("the master rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// The network, a 5xx or a 429: worth another try later.
    #[error("the master is unavailable: {0}")]
    Unavailable(String),
}

/// The fleet API as the worker uses it.
#[derive(Clone)]
struct Api {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Api {
    fn new(master: &str, token: &str) -> Api {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Api { agent, base: master.trim_end_matches('/').to_string(), token: token.to_string() }
    }

    /// POSTs `body` as JSON; `None` for 204 No Content.
    async fn post<B: Serialize, T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<Option<T>, CallError> {
        let body = serde_json::to_vec(body).map_err(|e| CallError::Rejected { status: 0, message: e.to_string() })?;
        let (agent, url, auth) =
            (self.agent.clone(), format!("{}{PREFIX}{path}", self.base), format!("Bearer {}", self.token));
        let call = move || {
            let mut response = agent
                .post(&url)
                .config()
                .timeout_global(Some(timeout))
                .build()
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(&body[..])
                .map_err(|e| CallError::Unavailable(format!("reaching {url}: {e}")))?;
            let status = response.status().as_u16();
            if status == 204 {
                return Ok(None);
            }
            if (200..300).contains(&status) {
                let answer = response.body_mut().read_json::<T>();
                return answer.map(Some).map_err(|e| CallError::Unavailable(format!("reading the answer: {e}")));
            }
            let message = response.body_mut().read_to_string().unwrap_or_default().trim().to_string();
            Err(match status {
                401 | 403 => CallError::Refused(message),
                409 => CallError::LeaseLost(message),
                429 | 500..=599 => CallError::Unavailable(format!("{status}: {message}")),
                _ => CallError::Rejected { status, message },
            })
        };
        tokio::task::spawn_blocking(call).await.unwrap_or_else(|e| Err(CallError::Unavailable(e.to_string())))
    }
}

/// Runs the worker until SIGINT/SIGTERM, or until the master refuses its token.
pub async fn run(options: WorkerOptions) -> anyhow::Result<()> {
    let marker_path = options.storage.join(MARKER);
    let marker = std::fs::read_to_string(&marker_path).with_context(|| {
        format!(
            "no vocloud storage at {} (missing {MARKER}): mount the master's storage root there, or pass its path with --storage",
            options.storage.display()
        )
    })?;
    let registry = Registry::builtin();
    if let Some(unknown) = options.kinds.iter().find(|k| registry.get(k).is_none()) {
        bail!("unknown job kind '{unknown}' (this worker knows {})", registry.names().join(", "));
    }
    let api = Api::new(&options.master, &options.token);
    let host = hostname();
    let request = RegisterRequest {
        hostname: host.clone(),
        kinds: options.kinds.clone(),
        slots: options.slots as u32,
        storage_marker: marker,
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let registration: RegisterResponse = match api.post("/register", &request, Duration::from_secs(30)).await {
        Ok(Some(r)) => r,
        Ok(None) => bail!("registration: the master answered with no content"),
        Err(e) => bail!("registration failed: {e}"),
    };
    tracing::info!(worker.id = %registration.worker_id, kinds = ?registration.kinds, slots = options.slots, "registered with the master");
    // Tests and scripts read this line; a closed standard output must not stop the worker.
    let _ = writeln!(
        std::io::stdout(),
        "vocloud worker {} registered with {} ({} slots)",
        registration.worker_id,
        api.base,
        options.slots
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let slot = Arc::new(Slot {
        api,
        storage: options.storage,
        worker_id: registration.worker_id.clone(),
        lease: Duration::from_secs(registration.lease_seconds),
        heartbeat: Duration::from_millis(registration.heartbeat_ms),
        runner: format!("worker {} on {host}", registration.worker_id),
        launcher: options.launcher,
    });
    let mut slots = tokio::task::JoinSet::new();
    for _ in 0..options.slots.max(1) {
        slots.spawn(slot.clone().claim_loop(stop_rx.clone()));
    }
    tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("shutting down: running jobs are handed back to the master");
            let _ = stop_tx.send(true);
            while slots.join_next().await.is_some() {}
            Ok(())
        }
        Some(ended) = slots.join_next() => {
            let _ = stop_tx.send(true);
            while slots.join_next().await.is_some() {}
            ended.context("a worker slot crashed")?
        }
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

struct Slot {
    api: Api,
    storage: PathBuf,
    worker_id: String,
    lease: Duration,
    heartbeat: Duration,
    runner: String,
    launcher: Launcher,
}

impl Slot {
    async fn claim_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let request = ClaimRequest { worker_id: self.worker_id.clone(), wait_seconds: CLAIM_WAIT };
        while !*stop.borrow() {
            let claim = self.api.post::<_, ClaimedJob>("/claim", &request, Duration::from_secs(CLAIM_WAIT + 15));
            let answer = tokio::select! {
                answer = claim => answer,
                _ = stop.changed() => return Ok(()),
            };
            match answer {
                Ok(Some(job)) => self.run_job(job, stop.clone()).await?,
                Ok(None) => {}
                Err(e @ (CallError::Refused(_) | CallError::Rejected { .. })) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(error.message = %e, "claiming failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(job.id = %job.id, job.kind = %job.kind, attempt = job.attempt))]
    async fn run_job(&self, job: ClaimedJob, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        tracing::info!("job claimed");
        if !job.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            bail!("the master sent a malformed job id");
        }
        let job_dir = self.storage.join("jobs").join(&job.id);
        let (cancel, cancelled) = watch::channel(false);
        let latest: Arc<Mutex<Option<Progress>>> = Arc::default();
        let sink = latest.clone();
        let attempt = Attempt { job_id: &job.id, job_dir: &job_dir, attempt: job.attempt, runner: &self.runner };
        let run = self.launcher.run(attempt, cancelled, move |p| {
            *sink.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
        });
        tokio::pin!(run);
        let mut renewed = Instant::now();
        let mut stopping = false;
        let outcome = loop {
            tokio::select! {
                outcome = &mut run => break outcome,
                _ = stop.changed(), if !stopping => {
                    stopping = true;
                    let _ = cancel.send(true);
                }
                _ = tokio::time::sleep(self.heartbeat) => {
                    let progress = latest.lock().unwrap_or_else(|e| e.into_inner()).take();
                    let beat = HeartbeatRequest { worker_id: self.worker_id.clone(), attempt: job.attempt, progress };
                    let path = format!("/jobs/{}/heartbeat", job.id);
                    match self.api.post::<_, serde_json::Value>(&path, &beat, self.heartbeat * 2).await {
                        Ok(_) => renewed = Instant::now(),
                        Err(CallError::LeaseLost(reason)) => {
                            tracing::info!(reason, "the master stopped this job");
                            let _ = cancel.send(true);
                        }
                        Err(e) if renewed.elapsed() > self.lease => {
                            tracing::warn!(error.message = %e, "lease lost: the master is unreachable; stopping the job");
                            let _ = cancel.send(true);
                        }
                        Err(e) => tracing::warn!(error.message = %e, "heartbeat failed"),
                    }
                }
            }
        };
        let outcome = match outcome {
            Outcome::Cancelled if stopping => {
                Outcome::Retryable { message: format!("worker {} was shut down", self.worker_id) }
            }
            other => other,
        };
        self.report(&job, outcome).await
    }

    /// Sends the outcome, retrying while the lease would still be valid.
    async fn report(&self, job: &ClaimedJob, outcome: Outcome) -> anyhow::Result<()> {
        let request = FinishRequest { worker_id: self.worker_id.clone(), attempt: job.attempt, outcome };
        let give_up = Instant::now() + self.lease;
        let path = format!("/jobs/{}/finish", job.id);
        loop {
            match self.api.post::<_, serde_json::Value>(&path, &request, Duration::from_secs(30)).await {
                Ok(_) => {
                    tracing::info!(outcome = ?request.outcome, "job finished");
                    return Ok(());
                }
                Err(CallError::LeaseLost(reason)) => {
                    tracing::info!(reason, "outcome not recorded");
                    return Ok(());
                }
                Err(e @ (CallError::Refused(_) | CallError::Rejected { .. })) => return Err(e.into()),
                Err(e) if Instant::now() > give_up => {
                    tracing::warn!(error.message = %e, "could not report the outcome; the master will re-queue the job");
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error.message = %e, "reporting the outcome failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}
