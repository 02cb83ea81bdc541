//! Service health for operators (`/health`) and VOSI (`/vosi/availability`,
//! `/vosi/capabilities`) for VO registries and clients. None of these need authentication.

use actix_web::{HttpRequest, HttpResponse, web};
use quick_xml::escape::escape;
use serde_json::json;

use crate::jobs::JobService;
use crate::respond::{base_url, encode_segment};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/vosi/availability", web::get().to(availability))
        .route("/vosi/capabilities", web::get().to(capabilities));
}

/// Whether the database answers; the one dependency without which nothing works.
async fn database_ok(service: &JobService) -> Result<(), String> {
    service.database_ok().await.map_err(|e| format!("{e:#}"))
}

async fn health(service: web::Data<JobService>) -> HttpResponse {
    match database_ok(&service).await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })),
        Err(e) => {
            tracing::error!(error.message = %e, "health check: database unavailable");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "reason": "database unavailable" }))
        }
    }
}

async fn availability(service: web::Data<JobService>) -> HttpResponse {
    let (available, note) = match database_ok(&service).await {
        Ok(()) => (true, "vocloud is accepting jobs"),
        Err(_) => (false, "the job database is unavailable"),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vosi:availability xmlns:vosi=\"http://www.ivoa.net/xml/VOSIAvailability/v1.0\">\
         <vosi:available>{available}</vosi:available><vosi:note>{note}</vosi:note></vosi:availability>\n"
    );
    HttpResponse::Ok().content_type("application/xml; charset=utf-8").body(body)
}

async fn capabilities(service: web::Data<JobService>, req: HttpRequest) -> HttpResponse {
    let base = base_url(&req);
    let capability = |standard: &str, url: &str, usage: &str| {
        format!(
            "  <capability standardID=\"{standard}\">\n    <interface xsi:type=\"vs:ParamHTTP\" role=\"std\">\
             <accessURL use=\"{usage}\">{}</accessURL></interface>\n  </capability>\n",
            escape(url)
        )
    };
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vosi:capabilities xmlns:vosi=\"http://www.ivoa.net/xml/VOSICapabilities/v1.0\" \
         xmlns:vr=\"http://www.ivoa.net/xml/VOResource/v1.0\" xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
    );
    body += &capability("ivo://ivoa.net/std/VOSI#capabilities", &format!("{base}/vosi/capabilities"), "full");
    body += &capability("ivo://ivoa.net/std/VOSI#availability", &format!("{base}/vosi/availability"), "full");
    for kind in service.registry().names() {
        body += &capability("ivo://ivoa.net/std/UWS#rest-1.1", &format!("{base}/uws/{}", encode_segment(kind)), "base");
    }
    body += "</vosi:capabilities>\n";
    HttpResponse::Ok().content_type("application/xml; charset=utf-8").body(body)
}
