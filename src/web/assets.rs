//! The pages' stylesheet and scripts, compiled into the binary (one file to deploy, no build
//! step): `GET /assets/<name>`. Scripts are ES modules loaded from files, never inline, so the
//! pages can run under `Content-Security-Policy: script-src 'self'`.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// (name, content type, content) of every asset.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../../static/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../static/app.js")),
    ("files.js", "text/javascript; charset=utf-8", include_str!("../../static/files.js")),
    ("upload.js", "text/javascript; charset=utf-8", include_str!("../../static/upload.js")),
    ("live.js", "text/javascript; charset=utf-8", include_str!("../../static/live.js")),
    ("picker.js", "text/javascript; charset=utf-8", include_str!("../../static/picker.js")),
    ("settings.js", "text/javascript; charset=utf-8", include_str!("../../static/settings.js")),
    ("icon.svg", "image/svg+xml", include_str!("../../static/icon.svg")),
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/{name}", web::get().to(asset))
        .route("/favicon.ico", web::get().to(|| async { serve("icon.svg") }));
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    serve(&name)
}

fn serve(name: &str) -> HttpResponse {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        // Short caching: a new release's assets reach browsers within minutes.
        Some((_, mime, body)) => HttpResponse::Ok()
            .content_type(*mime)
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(*body),
        None => HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("no such asset\n"),
    }
}
