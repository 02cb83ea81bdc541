//! The master's side of the fleet API (`/fleet/v1/…`) and the admin's fleet view
//! (`GET /api/admin/fleet`).
//!
//! Workers authenticate with a worker token (`Authorization: Bearer`), which is a different thing
//! from a user's API token: a user token gets 401 here, and a worker token gets 401 on the user
//! API. Tokens are checked on every request, so a revoked token stops a worker at its next
//! request. Handlers only ask the job service: claims, renewals and outcomes are fenced there,
//! and a lost lease comes back as `jobs::Error::LeaseLost` (409).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde_json::json;

use super::executor::NAME as NAME_OF_EXECUTOR;
use super::protocol::*;
use super::{Error, Registrations, Timing};
use crate::error::{ApiError, ApiResult};
use crate::jobs::workers::{WorkerRow, WorkerToken};
use crate::jobs::{Caller, JobService, Lease};

/// Longest a claim is held open (workers ask for less; this bounds idle connections).
const MAX_CLAIM_WAIT: Duration = Duration::from_secs(30);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(&format!("{PREFIX}/register"), web::post().to(register))
        .route(&format!("{PREFIX}/claim"), web::post().to(claim))
        .route(&format!("{PREFIX}/heartbeat"), web::post().to(worker_heartbeat))
        .route(&format!("{PREFIX}/jobs/{{id}}/heartbeat"), web::post().to(job_heartbeat))
        .route(&format!("{PREFIX}/jobs/{{id}}/finish"), web::post().to(finish))
        .route("/api/admin/fleet", web::get().to(fleet_status));
}

/// The worker token a request carries.
pub struct Token(WorkerToken);

impl FromRequest for Token {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Token, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let jobs = req.app_data::<web::Data<JobService>>().cloned();
        let header = req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok());
        let secret = header.and_then(|h| h.strip_prefix("Bearer ")).map(|t| t.trim().to_string());
        Box::pin(async move {
            let jobs = jobs.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("job service missing")))?;
            let secret = secret.ok_or(Error::NoToken)?;
            Ok(Token(jobs.worker_token(&secret).await.map_err(Error::from)?.ok_or(Error::BadToken)?))
        })
    }
}

/// The registered worker `worker_id`, which must belong to the token's holder.
async fn worker(jobs: &JobService, token: &Token, worker_id: &str) -> Result<WorkerRow, Error> {
    let well_formed = worker_id.len() <= MAX_WORKER_ID
        && worker_id.starts_with('w')
        && worker_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !well_formed {
        return Err(Error::MalformedWorkerId);
    }
    jobs.worker(worker_id, &token.0).await?.ok_or(Error::UnknownWorker)
}

/// The kinds a registration asks for, checked: at most [`MAX_KINDS`], each known here.
fn registered_kinds(asked: &[String], known: &[&str]) -> Result<Vec<String>, Error> {
    if asked.len() > MAX_KINDS {
        return Err(Error::BadRegistration(format!("at most {MAX_KINDS} kinds, got {}", asked.len())));
    }
    if asked.is_empty() {
        return Ok(known.iter().map(|k| k.to_string()).collect());
    }
    match asked.iter().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(Error::BadRegistration(format!(
            "unknown job kind '{}' (the master knows {})",
            unknown.chars().take(64).collect::<String>(),
            known.join(", ")
        ))),
        None => Ok(asked.to_vec()),
    }
}

fn check_registration(body: &RegisterRequest) -> Result<(), Error> {
    if body.hostname.len() > MAX_HOSTNAME || body.hostname.chars().any(char::is_control) {
        return Err(Error::BadRegistration(format!("hostname must be at most {MAX_HOSTNAME} bytes of text")));
    }
    if !(1..=MAX_SLOTS).contains(&body.slots) {
        return Err(Error::BadRegistration(format!("slots must be 1 to {MAX_SLOTS}, got {}", body.slots)));
    }
    if body.version.len() > 64 || body.storage_marker.len() > 256 {
        return Err(Error::BadRegistration("version or storage marker too long".into()));
    }
    Ok(())
}

async fn register(
    jobs: web::Data<JobService>,
    timing: web::Data<Timing>,
    limiter: web::Data<Registrations>,
    token: Token,
    body: web::Json<RegisterRequest>,
) -> ApiResult {
    check_registration(&body)?;
    let kinds = registered_kinds(&body.kinds, &jobs.registry().names())?;
    let ours = jobs.storage().marker().map_err(|e| ApiError::Internal(e.into()))?;
    if body.storage_marker.trim() != ours.trim() {
        return Err(Error::ForeignStorage.into());
    }
    limiter
        .admit(token.0.id)
        .map_err(|retry_after| Error::TooManyRegistrations { token: token.0.name.clone(), retry_after })?;
    let now = crate::uws::time::now_ms();
    let row = WorkerRow {
        id: format!("w{}", &crate::auth::new_secret("")[..10].to_ascii_lowercase().replace(['-', '_'], "x")),
        token_id: token.0.id,
        hostname: body.hostname.clone(),
        kinds: kinds.join(","),
        slots: i64::from(body.slots),
        registered_at: now,
        last_seen: now,
    };
    jobs.register_worker(&row).await?;
    tracing::info!(worker.id = %row.id, worker.token = %token.0.name, hostname = %row.hostname, kinds = %row.kinds, "worker registered");
    Ok(HttpResponse::Ok().json(RegisterResponse {
        worker_id: row.id,
        kinds,
        lease_seconds: timing.lease.as_secs(),
        heartbeat_ms: timing.heartbeat.as_millis() as u64,
    }))
}

/// Long-poll: hands out the next queued job of the worker's kinds, or answers 204 when none
/// was queued within the wait.
async fn claim(
    jobs: web::Data<JobService>,
    timing: web::Data<Timing>,
    token: Token,
    body: web::Json<ClaimRequest>,
) -> ApiResult {
    let worker = worker(&jobs, &token, &body.worker_id).await?;
    let kinds: Vec<&str> = worker.kinds.split(',').collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(body.wait_seconds).min(MAX_CLAIM_WAIT);
    loop {
        jobs.touch_worker(&worker.id).await?;
        let notified = jobs.queued_notification();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(job) = jobs.claim(NAME_OF_EXECUTOR, &worker.id, &kinds, timing.lease).await? {
            return Ok(HttpResponse::Ok().json(ClaimedJob {
                id: job.lease.id,
                kind: job.kind,
                attempt: job.lease.attempt,
            }));
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Ok(HttpResponse::NoContent().finish());
        }
    }
}

async fn worker_heartbeat(jobs: web::Data<JobService>, token: Token, body: web::Json<WorkerHeartbeat>) -> ApiResult {
    let worker = worker(&jobs, &token, &body.worker_id).await?;
    jobs.touch_worker(&worker.id).await?;
    Ok(HttpResponse::Ok().json(json!({ "ok": true })))
}

/// Renews a running job's lease and records its progress; 409 tells the worker to stop it.
async fn job_heartbeat(
    jobs: web::Data<JobService>,
    timing: web::Data<Timing>,
    token: Token,
    id: web::Path<String>,
    body: web::Json<HeartbeatRequest>,
) -> ApiResult {
    let worker = worker(&jobs, &token, &body.worker_id).await?;
    jobs.touch_worker(&worker.id).await?;
    let lease = Lease { id: id.into_inner(), attempt: body.attempt, owner: worker.id };
    jobs.renew(&lease, timing.lease, body.progress.as_ref()).await?;
    Ok(HttpResponse::Ok().json(json!({ "lease_seconds": timing.lease.as_secs() })))
}

/// Records an attempt's outcome; 409 when the worker no longer holds its lease.
async fn finish(
    jobs: web::Data<JobService>,
    token: Token,
    id: web::Path<String>,
    body: web::Json<FinishRequest>,
) -> ApiResult {
    let body = body.into_inner();
    let worker = worker(&jobs, &token, &body.worker_id).await?;
    let lease = Lease { id: id.into_inner(), attempt: body.attempt, owner: worker.id };
    jobs.finish(&lease, body.outcome).await?;
    Ok(HttpResponse::Ok().json(json!({ "recorded": true })))
}

/// The fleet as the master sees it: workers heard from in the last ten minutes, whether they are
/// alive (heard from within three heartbeats or a claim's wait), and the jobs they hold.
async fn fleet_status(jobs: web::Data<JobService>, timing: web::Data<Timing>, caller: Caller) -> ApiResult {
    if !caller.is_admin {
        return Err(ApiError::NotFound("no such resource".into()));
    }
    let now = crate::uws::time::now_ms();
    let alive_within = (timing.heartbeat * 3).max(MAX_CLAIM_WAIT + Duration::from_secs(5)).as_millis() as i64;
    let mut workers = Vec::new();
    for w in jobs.workers_seen_since(now - 600_000).await? {
        let held = jobs.held_by_owner(NAME_OF_EXECUTOR, &w.id).await?;
        workers.push(json!({
            "id": w.id,
            "hostname": w.hostname,
            "kinds": w.kinds.split(',').collect::<Vec<_>>(),
            "slots": w.slots,
            "load": held.len(),
            "jobs": held,
            "alive": now - w.last_seen <= alive_within,
            "last_heartbeat": crate::uws::time::format_ms(w.last_seen),
            "registered": crate::uws::time::format_ms(w.registered_at),
        }));
    }
    Ok(HttpResponse::Ok().json(json!({ "workers": workers })))
}
