//! The experiments API: a user's named groups of jobs (the user/experiment database).
//!
//! `GET /api/experiments`, `POST /api/experiments` `{name, description}`,
//! `GET|PATCH|DELETE /api/experiments/{name}`, and `PATCH /api/jobs/{id}` `{label, notes}`.
//! Deleting an experiment keeps its jobs (ungrouped) unless `?delete_jobs=true`, which destroys
//! them — and is refused with 409 while any of them is still queued or running.

use crate::jobs::experiments::MAX_DESCRIPTION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::jobs::experiments::ExperimentRow;
use crate::jobs::{Caller, JobService};
use crate::respond::base_url;
use crate::uws::{params, time::format_ms};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/experiments").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            web::resource("/api/experiments/{name}")
                .route(web::get().to(get))
                .route(web::patch().to(update))
                .route(web::delete().to(delete)),
        )
        .route("/api/jobs/{id}", web::patch().to(annotate_job));
}

fn view(e: &ExperimentRow) -> serde_json::Value {
    json!({
        "name": e.name,
        "description": e.description,
        "created": format_ms(e.created_at),
        "jobs": e.job_count,
        "active_jobs": e.active_jobs,
    })
}

async fn list(service: web::Data<JobService>, caller: Caller) -> ApiResult {
    let rows = service.experiments(&caller).await?;
    Ok(HttpResponse::Ok().json(json!({ "experiments": rows.iter().map(view).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewExperiment {
    name: String,
    #[serde(default)]
    description: String,
}

async fn create(service: web::Data<JobService>, caller: Caller, body: web::Json<NewExperiment>) -> ApiResult {
    let experiment = service.create_experiment(&caller, &body.name, &body.description).await?;
    Ok(HttpResponse::Created().json(view(&experiment)))
}

async fn get(service: web::Data<JobService>, caller: Caller, name: web::Path<String>, req: HttpRequest) -> ApiResult {
    let experiment = service.experiment(&caller, &name).await?;
    let base = base_url(&req);
    let jobs: Vec<_> = service
        .experiment_jobs(&caller, &name)
        .await?
        .into_iter()
        .map(|j| {
            json!({
                "id": j.id,
                "kind": j.kind,
                "phase": j.phase,
                "run_id": j.run_id,
                "created": format_ms(j.creation_time),
                "url": format!("{base}/uws/{}/{}", j.kind, j.id),
            })
        })
        .collect();
    let mut body = view(&experiment);
    body["job_list"] = json!(jobs);
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExperimentUpdate {
    description: String,
}

async fn update(
    service: web::Data<JobService>,
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<ExperimentUpdate>,
) -> ApiResult {
    let experiment = service.describe_experiment(&caller, &name, &body.description).await?;
    Ok(HttpResponse::Ok().json(view(&experiment)))
}

async fn delete(
    service: web::Data<JobService>,
    caller: Caller,
    name: web::Path<String>,
    req: HttpRequest,
) -> ApiResult {
    let query = params::decode(req.query_string())?;
    let delete_jobs = match params::single(&query, "delete_jobs")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!("delete_jobs must be true or false, got '{other}'")));
        }
    };
    service.delete_experiment(&caller, &name, delete_jobs).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobAnnotations {
    label: Option<String>,
    notes: Option<String>,
}

async fn annotate_job(
    service: web::Data<JobService>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<JobAnnotations>,
) -> ApiResult {
    let job = service.get(&caller, None, &id).await?;
    let label = body.label.clone().unwrap_or(job.row.label);
    let notes = body.notes.clone().unwrap_or(job.row.notes);
    if label.len() > 200 || notes.len() > MAX_DESCRIPTION {
        return Err(ApiError::BadRequest(format!("label is limited to 200 bytes and notes to {MAX_DESCRIPTION}")));
    }
    service.set_annotations(&caller, &id, &label, &notes).await?;
    Ok(HttpResponse::Ok().json(json!({ "id": job.row.id, "label": label, "notes": notes })))
}
