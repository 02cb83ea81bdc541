//! The experiments API: a user's named groups of jobs (the user/experiment database).
//!
//! `GET /api/experiments`, `POST /api/experiments` `{name, description}`,
//! `GET|PATCH|DELETE /api/experiments/{name}`, and `PATCH /api/jobs/{id}` `{label, notes}`.
//! Deleting an experiment keeps its jobs (ungrouped) unless `?delete_jobs=true`, which destroys
//! them — and is refused with 409 while any of them is still queued or running.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::db::experiments::{self, ExperimentRow};
use crate::db::jobs::ListFilter;
use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};
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

async fn find(service: &JobService, caller: &Caller, name: &str) -> ApiResult<ExperimentRow> {
    experiments::get(service.db(), caller.user_id, name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no experiment '{name}'")))
}

async fn list(service: web::Data<JobService>, caller: Caller) -> ApiResult {
    let rows = experiments::list(service.db(), caller.user_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "experiments": rows.iter().map(view).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewExperiment {
    name: String,
    #[serde(default)]
    description: String,
}

const MAX_DESCRIPTION: usize = 64 * 1024;

async fn create(service: web::Data<JobService>, caller: Caller, body: web::Json<NewExperiment>) -> ApiResult {
    let name = params::experiment_name(&body.name)?;
    if body.description.len() > MAX_DESCRIPTION {
        return Err(ApiError::BadRequest(format!("description longer than {MAX_DESCRIPTION} bytes")));
    }
    if !experiments::create(service.db(), caller.user_id, &name, &body.description, now_ms()).await? {
        return Err(ApiError::Conflict(format!("experiment '{name}' already exists")));
    }
    Ok(HttpResponse::Created().json(view(&find(&service, &caller, &name).await?)))
}

async fn get(service: web::Data<JobService>, caller: Caller, name: web::Path<String>, req: HttpRequest) -> ApiResult {
    let experiment = find(&service, &caller, &name).await?;
    let filter = ListFilter { experiment_id: Some(experiment.id), ..ListFilter::default() };
    let base = base_url(&req);
    let jobs: Vec<_> = service
        .list(&caller, filter)
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
    let experiment = find(&service, &caller, &name).await?;
    if body.description.len() > MAX_DESCRIPTION {
        return Err(ApiError::BadRequest(format!("description longer than {MAX_DESCRIPTION} bytes")));
    }
    experiments::set_description(service.db(), experiment.id, &body.description).await?;
    Ok(HttpResponse::Ok().json(view(&find(&service, &caller, &name).await?)))
}

async fn delete(
    service: web::Data<JobService>,
    caller: Caller,
    name: web::Path<String>,
    req: HttpRequest,
) -> ApiResult {
    let experiment = find(&service, &caller, &name).await?;
    let query = params::decode(req.query_string())?;
    let delete_jobs = match params::single(&query, "delete_jobs")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!("delete_jobs must be true or false, got '{other}'")));
        }
    };
    if delete_jobs {
        if experiment.active_jobs > 0 {
            return Err(ApiError::Conflict(format!(
                "experiment '{}' has {} queued or running jobs; abort them first, or delete the experiment without delete_jobs to keep its jobs",
                experiment.name, experiment.active_jobs
            )));
        }
        let filter = ListFilter { experiment_id: Some(experiment.id), ..ListFilter::default() };
        for job in service.list(&caller, filter).await? {
            service.destroy_job(&job.id).await?;
        }
    }
    experiments::delete(service.db(), experiment.id).await?;
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
