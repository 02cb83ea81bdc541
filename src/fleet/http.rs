//! The master's side of the fleet API (`/fleet/v1/…`) and the admin's fleet view
//! (`GET /api/admin/fleet`).
//!
//! Workers authenticate with a worker token (`Authorization: Bearer`), which is a different thing
//! from a user's API token: a user token gets 401 here, and a worker token gets 401 on the user
//! API. Tokens are checked against the database on every request, so a revoked token stops a
//! worker at its next request.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde_json::json;
use vocloud_workers::Failure;

use super::Timing;
use super::protocol::*;
use crate::auth::token_hash;
use crate::db::{fleet as store, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::jobs::{Caller, JobService};

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
pub struct WorkerToken {
    pub id: i64,
    pub name: String,
}

impl FromRequest for WorkerToken {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<WorkerToken, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let service = req.app_data::<web::Data<JobService>>().cloned();
        let header = req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok());
        let token = header.and_then(|h| h.strip_prefix("Bearer ")).map(|t| t.trim().to_string());
        Box::pin(async move {
            let service = service.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("job service missing")))?;
            let token = token.ok_or_else(|| ApiError::Unauthorized("a worker token is required (Bearer)".into()))?;
            match store::token_by_hash(service.db(), &token_hash(&token)).await? {
                Some((id, name)) => Ok(WorkerToken { id, name }),
                None => Err(ApiError::Unauthorized("unknown or revoked worker token".into())),
            }
        })
    }
}

fn conflict(reason: impl Into<String>) -> HttpResponse {
    HttpResponse::Conflict().json(Refusal { reason: reason.into() })
}

/// The registered worker `worker_id`, which must belong to the token's holder.
async fn worker(service: &JobService, token: &WorkerToken, worker_id: &str) -> ApiResult<store::WorkerRow> {
    store::worker(service.db(), worker_id, token.id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized(format!("worker '{worker_id}' is not registered with this token")))
}

async fn register(
    service: web::Data<JobService>,
    timing: web::Data<Timing>,
    token: WorkerToken,
    body: web::Json<RegisterRequest>,
) -> ApiResult {
    let ours = service.storage().marker().map_err(|e| ApiError::Internal(e.into()))?;
    if body.storage_marker.trim() != ours.trim() {
        return Ok(conflict(
            "the worker's storage is not the master's: its .vocloud-storage marker differs. Mount the master's \
             storage root on the worker and pass its path with --storage",
        ));
    }
    let known = service.registry().names();
    let kinds: Vec<String> =
        if body.kinds.is_empty() { known.iter().map(|k| k.to_string()).collect() } else { body.kinds.clone() };
    if let Some(unknown) = kinds.iter().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "unknown job kind '{unknown}' (the master knows {})",
            known.join(", ")
        )));
    }
    let now = now_ms();
    let row = store::WorkerRow {
        id: format!("w{}", &crate::auth::new_secret("")[..10].to_ascii_lowercase().replace(['-', '_'], "x")),
        token_id: token.id,
        hostname: body.hostname.chars().take(200).collect(),
        kinds: kinds.join(","),
        slots: i64::from(body.slots.clamp(1, 1024)),
        registered_at: now,
        last_seen: now,
    };
    store::insert_worker(service.db(), &row).await?;
    tracing::info!(worker.id = %row.id, worker.token = %token.name, hostname = %row.hostname, kinds = %row.kinds, "worker registered");
    Ok(HttpResponse::Ok().json(RegisterResponse {
        worker_id: row.id,
        kinds,
        lease_seconds: timing.lease.as_secs(),
        heartbeat_ms: timing.heartbeat.as_millis() as u64,
    }))
}

/// Long-poll: hands out the oldest queued job of the worker's kinds, or answers 204 when none
/// was queued within the wait.
async fn claim(
    service: web::Data<JobService>,
    timing: web::Data<Timing>,
    token: WorkerToken,
    body: web::Json<ClaimRequest>,
) -> ApiResult {
    let worker = worker(&service, &token, &body.worker_id).await?;
    let kinds: Vec<&str> = worker.kinds.split(',').collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(body.wait_seconds).min(MAX_CLAIM_WAIT);
    loop {
        store::touch_worker(service.db(), &worker.id, now_ms()).await?;
        let notified = service.queued_notification();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(job) = service.claim("fleet", &worker.id, &kinds, timing.lease).await? {
            let owner = crate::db::users::by_id(service.db(), job.owner_id).await?.map(|u| u.name).unwrap_or_default();
            let parameters = serde_json::from_str(&job.parameters).unwrap_or_default();
            return Ok(HttpResponse::Ok().json(ClaimedJob {
                job_dir: format!("jobs/{}", job.id),
                user_dir: format!("users/{owner}"),
                id: job.id,
                kind: job.kind,
                attempt: job.attempt,
                owner,
                parameters,
            }));
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Ok(HttpResponse::NoContent().finish());
        }
    }
}

async fn worker_heartbeat(
    service: web::Data<JobService>,
    token: WorkerToken,
    body: web::Json<WorkerHeartbeat>,
) -> ApiResult {
    let worker = worker(&service, &token, &body.worker_id).await?;
    store::touch_worker(service.db(), &worker.id, now_ms()).await?;
    Ok(HttpResponse::Ok().json(json!({ "ok": true })))
}

/// Renews a running job's lease and records its progress; 409 tells the worker to stop it.
async fn job_heartbeat(
    service: web::Data<JobService>,
    timing: web::Data<Timing>,
    token: WorkerToken,
    id: web::Path<String>,
    body: web::Json<HeartbeatRequest>,
) -> ApiResult {
    let worker = worker(&service, &token, &body.worker_id).await?;
    let now = now_ms();
    store::touch_worker(service.db(), &worker.id, now).await?;
    let until = now + timing.lease.as_millis() as i64;
    if !store::renew_lease(service.db(), &id, body.attempt, &worker.id, until).await? {
        return Ok(conflict("this attempt is over (aborted, destroyed, or its lease lapsed): stop it"));
    }
    if let Some(p) = &body.progress {
        service.progress(&id, body.attempt, p.fraction.clamp(0.0, 1.0), &p.message).await?;
    }
    Ok(HttpResponse::Ok().json(json!({ "lease_seconds": timing.lease.as_secs() })))
}

async fn finish(
    service: web::Data<JobService>,
    token: WorkerToken,
    id: web::Path<String>,
    body: web::Json<FinishRequest>,
) -> ApiResult {
    let worker = worker(&service, &token, &body.worker_id).await?;
    let job = crate::db::jobs::get(service.db(), &id).await?;
    if job.as_ref().and_then(|j| j.lease_owner.as_deref()) != Some(worker.id.as_str()) {
        return Ok(conflict("this worker does not hold the job's lease any more; outcome dropped"));
    }
    let message = body.message.clone().unwrap_or_else(|| "no message from the worker".into());
    let outcome = match body.outcome {
        OutcomeKind::Completed => Ok(vocloud_workers::Outputs::default()),
        OutcomeKind::Failed => Err(Failure::Fatal(message)),
        OutcomeKind::Retryable => Err(Failure::Retryable(format!("{message} (on worker {})", worker.id))),
        OutcomeKind::Cancelled => Err(Failure::Cancelled),
    };
    service.record(&id, body.attempt, outcome).await?;
    Ok(HttpResponse::Ok().json(json!({ "recorded": true })))
}

/// The fleet as the master sees it: workers heard from in the last ten minutes, whether they are
/// alive (heard from within three heartbeats or a claim's wait), and the jobs they hold.
async fn fleet_status(service: web::Data<JobService>, timing: web::Data<Timing>, caller: Caller) -> ApiResult {
    if !caller.is_admin {
        return Err(ApiError::NotFound("no such resource".into()));
    }
    let now = now_ms();
    let alive_within = (timing.heartbeat * 3).max(MAX_CLAIM_WAIT + Duration::from_secs(5)).as_millis() as i64;
    let mut workers = Vec::new();
    for w in store::workers_seen_since(service.db(), now - 600_000).await? {
        let jobs = store::jobs_of_worker(service.db(), &w.id).await?;
        workers.push(json!({
            "id": w.id,
            "hostname": w.hostname,
            "kinds": w.kinds.split(',').collect::<Vec<_>>(),
            "slots": w.slots,
            "load": jobs.len(),
            "jobs": jobs,
            "alive": now - w.last_seen <= alive_within,
            "last_heartbeat": crate::uws::time::format_ms(w.last_seen),
            "registered": crate::uws::time::format_ms(w.registered_at),
        }));
    }
    Ok(HttpResponse::Ok().json(json!({ "workers": workers })))
}
