//! The UWS 1.1 REST binding (UWS 2.2) at `/uws/{kind}`. Handlers extract, call one
//! [`JobService`] method, and answer: XML for containers, `text/plain` for atomic values, and
//! `303 See Other` to an absolute URL after every change (never 302: uws-client re-POSTs on it).

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::params::{self, PhaseAction};
use super::time::format_ms;
use super::xml;
use crate::error::{ApiError, ApiResult};
use crate::jobs::{Caller, JobService, ListFilter};
use crate::respond::{base_url, encode_segment};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/uws", web::get().to(kinds))
        .service(
            web::resource(["/uws/{kind}", "/uws/{kind}/"]).route(web::get().to(list)).route(web::post().to(create)),
        )
        .service(
            web::resource("/uws/{kind}/{id}")
                .route(web::get().to(job))
                .route(web::post().to(post_job))
                .route(web::delete().to(delete_job)),
        )
        .service(web::resource("/uws/{kind}/{id}/phase").route(web::get().to(phase)).route(web::post().to(post_phase)))
        .service(
            web::resource("/uws/{kind}/{id}/executionduration")
                .route(web::get().to(execution_duration))
                .route(web::post().to(post_execution_duration)),
        )
        .service(
            web::resource("/uws/{kind}/{id}/destruction")
                .route(web::get().to(destruction))
                .route(web::post().to(post_destruction)),
        )
        .route("/uws/{kind}/{id}/error", web::get().to(error))
        .route("/uws/{kind}/{id}/quote", web::get().to(quote))
        .route("/uws/{kind}/{id}/owner", web::get().to(owner))
        .service(
            web::resource("/uws/{kind}/{id}/parameters")
                .route(web::get().to(parameters))
                .route(web::post().to(post_parameters)),
        )
        .route("/uws/{kind}/{id}/parameters/{name}", web::get().to(parameter))
        .route("/uws/{kind}/{id}/results", web::get().to(results))
        .route("/uws/{kind}/{id}/results/{name}", web::get().to(result));
}

type JobPath = web::Path<(String, String)>;

fn list_url(req: &HttpRequest, kind: &str) -> String {
    format!("{}/uws/{}", base_url(req), encode_segment(kind))
}

fn job_url(req: &HttpRequest, kind: &str, id: &str) -> String {
    format!("{}/{}", list_url(req, kind), id)
}

fn see_other(location: String) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

fn xml_response(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("application/xml; charset=utf-8").body(body)
}

fn text(body: impl Into<String>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body.into())
}

/// The (name, value) pairs of the query string and, for form posts, the body.
fn request_params(req: &HttpRequest, body: &[u8]) -> ApiResult<Vec<(String, String)>> {
    let mut pairs = params::decode(req.query_string())?;
    if !body.is_empty() {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if content_type.starts_with("multipart/") {
            return Err(ApiError::UnsupportedMediaType(
                "multipart uploads are not supported: stage files with PUT /api/files/<path> and pass their paths"
                    .into(),
            ));
        }
        let body = std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("form body is not UTF-8".into()))?;
        pairs.extend(params::decode(body)?);
    }
    Ok(pairs)
}

/// `GET /uws`: the job kinds and their parameters, as JSON.
async fn kinds(service: web::Data<JobService>, req: HttpRequest) -> HttpResponse {
    let kinds: Vec<_> = service
        .registry()
        .all()
        .map(|k| {
            json!({
                "name": k.name(),
                "description": k.description(),
                "url": list_url(&req, k.name()),
                "parameters": k.parameters(),
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({ "kinds": kinds }))
}

fn known_kind(service: &JobService, kind: &str) -> ApiResult<()> {
    match service.registry().get(kind) {
        Some(_) => Ok(()),
        None => {
            Err(ApiError::NotFound(format!("no job kind '{kind}' (known: {})", service.registry().names().join(", "))))
        }
    }
}

async fn list(service: web::Data<JobService>, caller: Caller, kind: web::Path<String>, req: HttpRequest) -> ApiResult {
    known_kind(&service, &kind)?;
    let query = params::list_query(&params::decode(req.query_string())?)?;
    let filter = ListFilter {
        kind: Some(kind.to_string()),
        phases: query.phases.iter().map(|p| p.as_str().to_string()).collect(),
        after: query.after,
        last: query.last,
        ..ListFilter::default()
    };
    let jobs = service.list(&caller, filter).await?;
    Ok(xml_response(xml::job_list(&list_url(&req, &kind), &jobs)))
}

async fn create(
    service: web::Data<JobService>,
    caller: Caller,
    kind: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    known_kind(&service, &kind)?;
    let (control, raw) = params::split_creation(request_params(&req, &body)?)?;
    let id = service.create(&caller, &kind, control, raw).await?;
    Ok(see_other(job_url(&req, &kind, id.as_str())))
}

async fn job(service: web::Data<JobService>, caller: Caller, path: JobPath, req: HttpRequest) -> ApiResult {
    let (kind, id) = path.into_inner();
    let query = params::decode(req.query_string())?;
    let view = match params::wait(&query, service.limits().max_wait)? {
        Some(wait) => service.wait(&caller, &kind, &id, Duration::from_secs(wait.seconds), wait.phase).await?,
        None => service.get(&caller, Some(&kind), &id).await?,
    };
    let results = service.results(&view).await?;
    Ok(xml_response(xml::job(&job_url(&req, &kind, &id), &view, &results)))
}

/// POST to the job itself: ACTION=DELETE (for browsers), PHASE=RUN/ABORT (uws-client posts
/// them here), EXECUTIONDURATION / DESTRUCTION, or new parameter values while PENDING.
async fn post_job(
    service: web::Data<JobService>,
    caller: Caller,
    path: JobPath,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    let (kind, id) = path.into_inner();
    let pairs = request_params(&req, &body)?;
    if let Some(action) = params::single(&pairs, "ACTION")? {
        if action != "DELETE" {
            return Err(ApiError::BadRequest(format!("ACTION must be DELETE, got '{action}'")));
        }
        service.destroy(&caller, &kind, &id).await?;
        return Ok(see_other(list_url(&req, &kind)));
    }
    if let Some(seconds) = params::single(&pairs, "EXECUTIONDURATION")? {
        service.set_execution_duration(&caller, &kind, &id, params::execution_duration(seconds)?).await?;
    }
    if let Some(at) = params::single(&pairs, "DESTRUCTION")? {
        service.set_destruction(&caller, &kind, &id, params::destruction(at)?).await?;
    }
    let updates: Vec<_> = pairs
        .iter()
        .filter(|(n, _)| !params::is_control(n))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    if !updates.is_empty() {
        service.update_parameters(&caller, &kind, &id, updates).await?;
    }
    match params::single(&pairs, "PHASE")?.map(params::phase_action).transpose()? {
        Some(PhaseAction::Run) => service.run(&caller, &kind, &id).await?,
        Some(PhaseAction::Abort) => service.abort(&caller, &kind, &id).await?,
        None => service.get(&caller, Some(&kind), &id).await.map(drop)?,
    }
    Ok(see_other(job_url(&req, &kind, &id)))
}

async fn delete_job(service: web::Data<JobService>, caller: Caller, path: JobPath, req: HttpRequest) -> ApiResult {
    let (kind, id) = path.into_inner();
    service.destroy(&caller, &kind, &id).await?;
    Ok(see_other(list_url(&req, &kind)))
}

async fn phase(service: web::Data<JobService>, caller: Caller, path: JobPath) -> ApiResult {
    let (kind, id) = path.into_inner();
    Ok(text(service.get(&caller, Some(&kind), &id).await?.phase.as_str()))
}

async fn post_phase(
    service: web::Data<JobService>,
    caller: Caller,
    path: JobPath,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    let (kind, id) = path.into_inner();
    let pairs = request_params(&req, &body)?;
    let value = params::single(&pairs, "PHASE")?
        .ok_or_else(|| ApiError::BadRequest("PHASE=RUN or PHASE=ABORT is required".into()))?;
    match params::phase_action(value)? {
        PhaseAction::Run => service.run(&caller, &kind, &id).await?,
        PhaseAction::Abort => service.abort(&caller, &kind, &id).await?,
    }
    Ok(see_other(job_url(&req, &kind, &id)))
}

async fn execution_duration(service: web::Data<JobService>, caller: Caller, path: JobPath) -> ApiResult {
    let (kind, id) = path.into_inner();
    Ok(text(service.get(&caller, Some(&kind), &id).await?.row.execution_duration.to_string()))
}

async fn post_execution_duration(
    service: web::Data<JobService>,
    caller: Caller,
    path: JobPath,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    let (kind, id) = path.into_inner();
    let pairs = request_params(&req, &body)?;
    let value = params::single(&pairs, "EXECUTIONDURATION")?
        .ok_or_else(|| ApiError::BadRequest("EXECUTIONDURATION is required".into()))?;
    service.set_execution_duration(&caller, &kind, &id, params::execution_duration(value)?).await?;
    Ok(see_other(job_url(&req, &kind, &id)))
}

async fn destruction(service: web::Data<JobService>, caller: Caller, path: JobPath) -> ApiResult {
    let (kind, id) = path.into_inner();
    let job = service.get(&caller, Some(&kind), &id).await?;
    Ok(text(job.row.destruction_time.map(format_ms).unwrap_or_default()))
}

async fn post_destruction(
    service: web::Data<JobService>,
    caller: Caller,
    path: JobPath,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    let (kind, id) = path.into_inner();
    let pairs = request_params(&req, &body)?;
    let value =
        params::single(&pairs, "DESTRUCTION")?.ok_or_else(|| ApiError::BadRequest("DESTRUCTION is required".into()))?;
    service.set_destruction(&caller, &kind, &id, params::destruction(value)?).await?;
    Ok(see_other(job_url(&req, &kind, &id)))
}

/// `/error`: the error detail of a job in ERROR (or the reason an aborted job was stopped).
async fn error(service: web::Data<JobService>, caller: Caller, path: JobPath) -> ApiResult {
    let (kind, id) = path.into_inner();
    let row = service.get(&caller, Some(&kind), &id).await?.row;
    match row.error_detail.or(row.error_message) {
        Some(detail) => Ok(text(detail)),
        None => Err(ApiError::NotFound(format!("job is {} and has no error", row.phase))),
    }
}

/// `/quote`: vocloud does not predict completion times, which UWS spells as an empty value.
async fn quote(service: web::Data<JobService>, caller: Caller, path: JobPath) -> ApiResult {
    let (kind, id) = path.into_inner();
    service.get(&caller, Some(&kind), &id).await?;
    Ok(text(""))
}

async fn owner(service: web::Data<JobService>, caller: Caller, path: JobPath) -> ApiResult {
    let (kind, id) = path.into_inner();
    Ok(text(service.get(&caller, Some(&kind), &id).await?.row.owner_name))
}

async fn parameters(service: web::Data<JobService>, caller: Caller, path: JobPath) -> ApiResult {
    let (kind, id) = path.into_inner();
    Ok(xml_response(xml::parameters(&service.get(&caller, Some(&kind), &id).await?)))
}

async fn post_parameters(
    service: web::Data<JobService>,
    caller: Caller,
    path: JobPath,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult {
    let (kind, id) = path.into_inner();
    let pairs: Vec<_> = request_params(&req, &body)?.into_iter().map(|(n, v)| (n.to_ascii_lowercase(), v)).collect();
    if pairs.is_empty() {
        return Err(ApiError::BadRequest("no parameters given".into()));
    }
    service.update_parameters(&caller, &kind, &id, pairs).await?;
    Ok(see_other(job_url(&req, &kind, &id)))
}

async fn parameter(
    service: web::Data<JobService>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> ApiResult {
    let (kind, id, name) = path.into_inner();
    let view = service.get(&caller, Some(&kind), &id).await?;
    let wanted = name.to_ascii_lowercase();
    let shown = view.shown_parameters().into_iter().find(|p| p.name == wanted);
    Ok(text(shown.ok_or_else(|| ApiError::NotFound(format!("no parameter '{name}'")))?.value))
}

async fn results(service: web::Data<JobService>, caller: Caller, path: JobPath, req: HttpRequest) -> ApiResult {
    let (kind, id) = path.into_inner();
    let view = service.get(&caller, Some(&kind), &id).await?;
    Ok(xml_response(xml::results(&job_url(&req, &kind, &id), &service.results(&view).await?)))
}

async fn result(
    service: web::Data<JobService>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> ApiResult {
    let (kind, id, name) = path.into_inner();
    service.get(&caller, Some(&kind), &id).await?;
    let path =
        service.storage().result_path(&id, &name).ok_or_else(|| ApiError::NotFound(format!("no result '{name}'")))?;
    crate::respond::serve_result(&req, &path).await
}
