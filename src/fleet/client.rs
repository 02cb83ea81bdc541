//! `vocloud worker`: registers with the master, then each slot claims jobs by long-poll, runs
//! them with the same job-kind code as the master's local pool, heartbeats while they run, and
//! reports how they ended. Results go straight to shared storage; only small JSON messages pass
//! through the master.
//!
//! A job stops when the master answers a heartbeat with 409 (ABORT, DELETE, execution-duration
//! overrun, lease given to someone else) or when the worker could not renew its lease for a whole
//! lease period (the master has re-queued it by then). On SIGINT/SIGTERM the worker stops
//! claiming, cancels its running jobs and reports them as retryable, so they run again elsewhere.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use vocloud_workers::{CancelToken, Failure, JobContext, Progress, Registry};

use super::protocol::*;
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
    /// Deployment settings handed to every job (see `JobContext::setting`).
    pub job_settings: Vec<(String, String)>,
}

/// The fleet API as the worker uses it.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

/// What a request to the master came back with, when it was not a plain success.
enum Answer<T> {
    Ok(T),
    NoContent,
    /// 409: the master refuses this for a reason the worker must act on.
    Refused(String),
}

impl Api {
    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> anyhow::Result<Answer<T>> {
        let response = self
            .client
            .post(format!("{}{PREFIX}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(timeout)
            .json(body)
            .send()
            .await
            .with_context(|| format!("reaching the master at {}", self.base))?;
        let status = response.status();
        let reason = |text: String| serde_json::from_str::<Refusal>(&text).map(|r| r.reason).unwrap_or(text);
        match status {
            StatusCode::NO_CONTENT => Ok(Answer::NoContent),
            StatusCode::CONFLICT => Ok(Answer::Refused(reason(response.text().await.unwrap_or_default()))),
            StatusCode::UNAUTHORIZED => {
                bail!("the master refused this worker: {}", reason(response.text().await.unwrap_or_default()).trim())
            }
            s if s.is_success() => Ok(Answer::Ok(response.json().await.context("reading the master's answer")?)),
            s => bail!("the master answered {s}: {}", response.text().await.unwrap_or_default().trim()),
        }
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
    let api = Api {
        client: reqwest::Client::builder().build()?,
        base: options.master.trim_end_matches('/').to_string(),
        token: options.token.clone(),
    };
    let hostname = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let request = RegisterRequest {
        hostname: hostname.clone(),
        kinds: options.kinds.clone(),
        slots: options.slots as u32,
        storage_marker: marker,
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let registration: RegisterResponse = match api.post("/register", &request, Duration::from_secs(30)).await? {
        Answer::Ok(r) => r,
        Answer::Refused(reason) => bail!("registration refused: {reason}"),
        Answer::NoContent => bail!("registration: the master answered with no content"),
    };
    tracing::info!(worker.id = %registration.worker_id, kinds = ?registration.kinds, slots = options.slots, "registered with the master");
    println!("vocloud worker {} registered with {} ({} slots)", registration.worker_id, api.base, options.slots);

    let (stop_tx, stop_rx) = watch::channel(false);
    let slot = Arc::new(Slot {
        api,
        registry,
        storage: options.storage,
        worker_id: registration.worker_id.clone(),
        lease: Duration::from_secs(registration.lease_seconds),
        heartbeat: Duration::from_millis(registration.heartbeat_ms),
        runner: format!("worker {} on {hostname}", registration.worker_id),
        job_settings: options.job_settings,
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
    registry: Registry,
    storage: PathBuf,
    worker_id: String,
    lease: Duration,
    heartbeat: Duration,
    runner: String,
    job_settings: Vec<(String, String)>,
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
                Ok(Answer::Ok(job)) => self.run_job(job, stop.clone()).await?,
                Ok(Answer::NoContent) => {}
                Ok(Answer::Refused(reason)) => bail!("claim refused: {reason}"),
                Err(e) if e.to_string().contains("refused this worker") => return Err(e),
                Err(e) => {
                    tracing::warn!(error.message = %format!("{e:#}"), "claiming failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(job.id = %job.id, job.kind = %job.kind, attempt = job.attempt))]
    async fn run_job(&self, job: ClaimedJob, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        tracing::info!("job claimed");
        let cancel = CancelToken::new();
        let latest: Arc<Mutex<Option<Progress>>> = Arc::default();
        let sink = latest.clone();
        let mut ctx = JobContext::new(
            &self.storage.join(&job.job_dir),
            job.attempt,
            &self.storage.join(&job.user_dir),
            self.runner.clone(),
            cancel.clone(),
        )
        .with_progress(move |p| *sink.lock().unwrap_or_else(|e| e.into_inner()) = Some(p));
        for (key, value) in &self.job_settings {
            ctx = ctx.with_setting(key, value.clone());
        }
        let kind = self.registry.get(&job.kind);
        let parameters = job.parameters.clone();
        let span = tracing::Span::current();
        let mut run = tokio::task::spawn_blocking(move || {
            let kind = kind.ok_or_else(|| Failure::Fatal("this worker does not know the job's kind".into()))?;
            ctx.create_dirs().map_err(|e| Failure::Retryable(format!("creating the attempt's folders: {e}")))?;
            span.in_scope(|| kind.run(&parameters, &ctx))
        });
        let mut renewed = Instant::now();
        let mut stopping = false;
        let outcome = loop {
            tokio::select! {
                result = &mut run => break result,
                _ = stop.changed(), if !stopping => {
                    stopping = true;
                    cancel.cancel();
                }
                _ = tokio::time::sleep(self.heartbeat) => {
                    let progress = latest.lock().unwrap_or_else(|e| e.into_inner()).take();
                    let beat = HeartbeatRequest {
                        worker_id: self.worker_id.clone(),
                        attempt: job.attempt,
                        progress: progress.map(|p| ProgressReport { fraction: p.fraction, message: p.message }),
                    };
                    match self.api.post::<_, serde_json::Value>(&format!("/jobs/{}/heartbeat", job.id), &beat, self.heartbeat * 2).await {
                        Ok(Answer::Refused(reason)) => {
                            tracing::info!(reason, "the master stopped this job");
                            cancel.cancel();
                        }
                        Ok(_) => renewed = Instant::now(),
                        Err(e) if renewed.elapsed() > self.lease => {
                            tracing::warn!(error.message = %format!("{e:#}"), "lease lost: the master is unreachable; stopping the job");
                            cancel.cancel();
                        }
                        Err(e) => tracing::warn!(error.message = %format!("{e:#}"), "heartbeat failed"),
                    }
                }
            }
        };
        let outcome = outcome.unwrap_or_else(|e| Err(Failure::Fatal(format!("the job crashed: {e}"))));
        let (kind, message) = match outcome {
            Ok(_) => (OutcomeKind::Completed, None),
            Err(Failure::Cancelled) if stopping => {
                (OutcomeKind::Retryable, Some("the worker was shut down".to_string()))
            }
            Err(Failure::Cancelled) => (OutcomeKind::Cancelled, None),
            Err(Failure::Fatal(m)) => (OutcomeKind::Failed, Some(m)),
            Err(Failure::Retryable(m)) => (OutcomeKind::Retryable, Some(m)),
        };
        self.report(&job, kind, message).await
    }

    /// Sends the outcome, retrying while the lease would still be valid.
    async fn report(&self, job: &ClaimedJob, outcome: OutcomeKind, message: Option<String>) -> anyhow::Result<()> {
        let request = FinishRequest { worker_id: self.worker_id.clone(), attempt: job.attempt, outcome, message };
        let give_up = Instant::now() + self.lease;
        loop {
            match self
                .api
                .post::<_, serde_json::Value>(&format!("/jobs/{}/finish", job.id), &request, Duration::from_secs(30))
                .await
            {
                Ok(Answer::Refused(reason)) => {
                    tracing::info!(reason, "outcome not recorded");
                    return Ok(());
                }
                Ok(_) => {
                    tracing::info!(outcome = ?outcome, "job finished");
                    return Ok(());
                }
                Err(e) if e.to_string().contains("refused this worker") => return Err(e),
                Err(e) if Instant::now() > give_up => {
                    tracing::warn!(error.message = %format!("{e:#}"), "could not report the outcome; the master will re-queue the job");
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error.message = %format!("{e:#}"), "reporting the outcome failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}
