//! Plot routes (a contract for scripts and other pages):
//!
//! - `GET /plots/new?path=<p>&path=<p>…` (files or folders of the caller's storage) or
//!   `?job=<id>&result=<name>` opens a session → `303` to `/plots/<id>`. Optional `row=<i>`
//!   (repeatable) keeps only the spectra at those 0-based positions of the selection (e.g. one
//!   codebook row of a SOM, or some rows of a matrix file).
//! - `GET /plots/<id>`: the page with the canvas; `GET /plots/<id>/ws`: its WebSocket.
//! - `GET /plots/<id>/export.png|export.svg`: the current view, rendered fresh
//!   (`?width=&height=&scale=` override the last frame's size).
//! - `GET /plots/<id>/export.csv|export.vot`: the visible samples of the visible series.
//! - `POST /plots/<id>/samp`: signed links (no cookie needed, one hour) for "Send through SAMP":
//!   `{"table": {name, url, format}, "spectra": [{name, url, format}], "more", "expires"}` — the
//!   visible data as a VOTable (saved as `plots/<id8>-visible.vot` in the caller's storage, so the
//!   link names a real file) and each plotted file (at most [`SAMP_MAX_SPECTRA`]); `format` is the
//!   file's MIME type from its first bytes, which picks the SAMP MType and `Access.Format`.
//! - `DELETE /plots/<id>`: closes the session.
//!
//! HTTP Basic, Bearer tokens and the browser's session cookie all work (the `Caller`
//! extractor). A browser without credentials asking for a page is sent to `/login`.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use serde::Deserialize;

use super::live::{Origin, Plots, Session};
use super::render::{self, FrameSpec};
use super::spectra::{self, LoadError, Source};
use crate::api::links;
use crate::error::{ApiError, ApiResult};
use crate::jobs::{Caller, JobService};
use crate::samp::content::{self, Kind};
use crate::storage::RelPath;

/// Most samples an export of visible data may hold.
const EXPORT_MAX: usize = 2_000_000;

/// Most plotted files one "Send through SAMP" hands out (a desktop tool opens each one).
pub const SAMP_MAX_SPECTRA: usize = 50;

/// Seconds the SAMP links stay valid: long enough for a slow desktop tool to fetch them.
const SAMP_LINK_TTL: i64 = 3600;

pub fn configure(cfg: &mut web::ServiceConfig, plots: Arc<Plots>) {
    cfg.app_data(web::Data::from(plots))
        .route("/plots/assets/plot.js", web::get().to(script))
        .route("/plots/assets/plot.css", web::get().to(style))
        .route("/static/samp-web.js", web::get().to(samp_web))
        .route("/plots/new", web::get().to(new))
        .route("/plots/{id}", web::get().to(page))
        .route("/plots/{id}", web::delete().to(close))
        .route("/plots/{id}/ws", web::get().to(socket))
        .route("/plots/{id}/samp", web::post().to(samp_links))
        .route("/plots/{id}/export.{format}", web::get().to(export));
}

async fn script() -> HttpResponse {
    HttpResponse::Ok().content_type("text/javascript; charset=utf-8").body(include_str!("../../static/plots/plot.js"))
}

/// The SAMP Web Profile client module the plot page imports for "Send through SAMP".
async fn samp_web() -> HttpResponse {
    HttpResponse::Ok().content_type("text/javascript; charset=utf-8").body(include_str!("../../static/samp-web.js"))
}

async fn style() -> HttpResponse {
    HttpResponse::Ok().content_type("text/css; charset=utf-8").body(include_str!("../../static/plots/plot.css"))
}

/// For pages: a browser without any credentials goes to the login form instead of a 401.
fn login_or(req: &HttpRequest, caller: Result<Caller, ApiError>) -> Result<Caller, Box<HttpResponse>> {
    match caller {
        Ok(c) => Ok(c),
        Err(ApiError::Unauthorized(_)) if req.headers().get(header::AUTHORIZATION).is_none() => {
            let next = crate::respond::encode_segment(&req.uri().to_string());
            Err(Box::new(
                HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/login?next={next}"))).finish(),
            ))
        }
        Err(e) => Err(Box::new(actix_web::ResponseError::error_response(&e))),
    }
}

fn session(plots: &Plots, caller: &Caller, id: &str) -> ApiResult<Arc<Session>> {
    plots.get(caller, id).ok_or_else(|| ApiError::NotFound("no such plot (it may have been closed when idle)".into()))
}

async fn new(
    req: HttpRequest,
    caller: Result<Caller, ApiError>,
    service: web::Data<JobService>,
    plots: web::Data<Plots>,
) -> ApiResult {
    let caller = match login_or(&req, caller) {
        Ok(c) => c,
        Err(r) => return Ok(*r),
    };
    let query: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("bad query string: {e}")))?;
    let (sources, mut title, job) = sources(&service, &caller, &query).await?;
    let rows = query
        .iter()
        .filter(|(k, _)| k == "row")
        .map(|(_, v)| v.parse::<usize>().map_err(|_| ApiError::BadRequest(format!("row '{v}' is not a row number"))))
        .collect::<ApiResult<Vec<usize>>>()?;
    if !rows.is_empty() {
        let shown: Vec<String> = rows.iter().take(5).map(|r| r.to_string()).collect();
        title = format!(
            "{title}, row{} {}{}",
            if rows.len() > 1 { "s" } else { "" },
            shown.join(", "),
            if rows.len() > 5 { ", …" } else { "" }
        );
    }
    let (budget, max_files) = (plots.settings.max_bytes_per_user, plots.settings.max_files);
    let user = caller.name.clone();
    let loaded = web::block(move || {
        let data = spectra::load(title, &sources, (!rows.is_empty()).then_some(rows.as_slice()), budget, max_files)?;
        let origins = match job {
            Some((job, result)) => vec![Origin { target: links::result_target(&job, &result), name: result }],
            None => origins(&user, &sources, max_files)?,
        };
        Ok::<_, LoadError>((data, origins))
    })
    .await
    .context("loading spectra")?;
    let (data, origins) = loaded.map_err(|e| match e {
        LoadError::Bad(m) => ApiError::BadRequest(m),
        LoadError::TooLarge(m) => ApiError::TooLarge(m),
    })?;
    let s = plots.open(&caller, data, origins).map_err(|e| ApiError::Conflict(e.0))?;
    tracing::info!(plot.id = %s.id, series = s.data.series.len(), points = s.data.points, "opened plot");
    let location = format!("{}/plots/{}", crate::respond::base_url(&req), s.id);
    Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish())
}

/// The plotted files of the caller's storage as link targets (folders listed as `load` did).
fn origins(user: &str, sources: &[Source], max_files: usize) -> Result<Vec<Origin>, LoadError> {
    let mut out = Vec::new();
    for (shown, _) in spectra::expand(sources, max_files)? {
        if let Ok(rel) = RelPath::parse(shown.trim_start_matches('/')) {
            let name = shown.rsplit('/').next().unwrap_or(&shown).to_string();
            out.push(Origin { name, target: links::user_target(user, &rel) });
        }
    }
    Ok(out)
}

/// The files to read — `path=` entries of the caller's storage, or one job result (then also
/// returned as (job, result)) — and the plot's title.
async fn sources(
    service: &JobService,
    caller: &Caller,
    query: &[(String, String)],
) -> ApiResult<(Vec<Source>, String, Option<(String, String)>)> {
    let all = |k: &'static str| query.iter().filter(move |(n, _)| n == k).map(|(_, v)| v.as_str());
    let paths: Vec<&str> = all("path").collect();
    if let (Some(job), Some(result)) = (all("job").next(), all("result").next()) {
        service.get(caller, None, job).await?;
        let path = service
            .storage()
            .result_path(job, result)
            .filter(|p| p.is_file())
            .ok_or_else(|| ApiError::NotFound(format!("job {job} has no result '{result}'")))?;
        let title = format!("{result} (job {job})");
        return Ok((
            vec![Source { shown: result.to_string(), path }],
            title,
            Some((job.to_string(), result.to_string())),
        ));
    }
    if paths.is_empty() {
        return Err(ApiError::BadRequest("give path=<file or folder> (repeatable) or job=<id>&result=<name>".into()));
    }
    let mut out = Vec::new();
    for p in &paths {
        let rel = RelPath::parse(p)?;
        let path = service.storage().user_path(&caller.name, &rel).context("opening user storage")?;
        out.push(Source { shown: if rel.is_root() { "/".into() } else { rel.as_string() }, path });
    }
    let title =
        if paths.len() == 1 { paths[0].to_string() } else { format!("{} and {} more", paths[0], paths.len() - 1) };
    Ok((out, title, None))
}

async fn page(req: HttpRequest, caller: Result<Caller, ApiError>, plots: web::Data<Plots>) -> ApiResult {
    let caller = match login_or(&req, caller) {
        Ok(c) => c,
        Err(r) => return Ok(*r),
    };
    let s = session(&plots, &caller, req.match_info().get("id").unwrap_or(""))?;
    let html = include_str!("../../templates/plot.html")
        .replace("{{id}}", &s.id)
        .replace("{{title}}", &vocloud_workers::votable::escape(&s.data.title));
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
}

async fn close(req: HttpRequest, caller: Caller, plots: web::Data<Plots>) -> ApiResult {
    if plots.close(&caller, req.match_info().get("id").unwrap_or("")) {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("no such plot".into()))
    }
}

async fn socket(req: HttpRequest, body: web::Payload, caller: Caller, plots: web::Data<Plots>) -> ApiResult {
    let s = session(&plots, &caller, req.match_info().get("id").unwrap_or(""))?;
    check_origin(&req)?;
    let (response, out, stream) =
        actix_ws::handle(&req, body).map_err(|e| ApiError::BadRequest(format!("not a WebSocket handshake: {e}")))?;
    actix_web::rt::spawn(super::ws::serve(s, out, stream, plots.settings.max_frame_side));
    Ok(response)
}

/// A cookie-authenticated socket must come from our own pages (browsers send `Origin`).
fn check_origin(req: &HttpRequest) -> ApiResult<()> {
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return Ok(());
    };
    let host = req.connection_info().host().to_string();
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    if origin_host == host || crate::respond::base_url(req).ends_with(&format!("://{origin_host}")) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("WebSocket from foreign origin {origin} refused")))
    }
}

#[derive(Deserialize)]
struct ExportQuery {
    width: Option<u32>,
    height: Option<u32>,
    scale: Option<f64>,
}

async fn export(req: HttpRequest, caller: Caller, plots: web::Data<Plots>, q: web::Query<ExportQuery>) -> ApiResult {
    let s = session(&plots, &caller, req.match_info().get("id").unwrap_or(""))?;
    let format = req.match_info().get("format").unwrap_or("").to_string();
    let (view, visible, mode, (w, h, dpr)) = {
        let st = s.state();
        (st.view, st.visible.clone(), st.mode, st.size)
    };
    let side = plots.settings.max_frame_side;
    let (w, h) = (q.width.unwrap_or(w), q.height.unwrap_or(h));
    let scale = q.scale.unwrap_or(dpr);
    if !(64..=side).contains(&w) || !(64..=side).contains(&h) || !(0.25..=8.0).contains(&scale) {
        return Err(ApiError::BadRequest(format!("width and height must be 64..{side}, scale 0.25..8")));
    }
    let name = format!("plot-{}", &s.id[..8]);
    let (body, mime) = web::block(move || {
        let spec = FrameSpec { width: w, height: h, scale, mode, visible: Some(&visible) };
        match format.as_str() {
            "png" => Ok((render::encode_png(&render::render(&s.data, &view, &spec)), "image/png")),
            "svg" => Ok((render::render_svg(&s.data, &view, &spec).into_bytes(), "image/svg+xml")),
            "csv" | "vot" => visible_data(&s, &view, &visible, &format),
            other => Err(ApiError::NotFound(format!("no export format '{other}'; use png, svg, csv or vot"))),
        }
    })
    .await
    .context("rendering export")??;
    let ext = req.match_info().get("format").unwrap_or("");
    Ok(HttpResponse::Ok()
        .content_type(mime)
        .insert_header((header::CONTENT_DISPOSITION, format!("inline; filename=\"{name}.{ext}\"")))
        .body(body))
}

async fn samp_links(
    req: HttpRequest,
    caller: Caller,
    service: web::Data<JobService>,
    plots: web::Data<Plots>,
) -> ApiResult {
    let s = session(&plots, &caller, req.match_info().get("id").unwrap_or(""))?;
    let (view, visible) = {
        let st = s.state();
        (st.view, st.visible.clone())
    };
    let rel = RelPath::parse(&format!("plots/{}-visible.vot", &s.id[..8]))?;
    let path = service.storage().user_path(&caller.name, &rel).context("opening user storage")?;
    let session = s.clone();
    web::block(move || -> ApiResult<()> {
        let (votable, _) = visible_data(&session, &view, &visible, "vot")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        crate::storage::write_atomic(&path, &votable).context("saving the visible data")?;
        Ok(())
    })
    .await
    .context("exporting visible data")??;
    let root = service.storage().root();
    let (url, expires) = links::sign(root, &req, &links::user_target(&caller.name, &rel), SAMP_LINK_TTL)?;
    let table = serde_json::json!({
        "name": format!("{} (visible data)", s.data.title),
        "url": url,
        "format": Kind::VoTable.mime(),
    });
    let sent: Vec<Origin> = s.origins.iter().take(SAMP_MAX_SPECTRA).cloned().collect();
    let storage = service.storage().clone();
    let user = caller.name.clone();
    let formats = web::block(move || {
        sent.iter()
            .map(|o| origin_path(&storage, &user, &o.target).and_then(|p| content::of_file(&p).ok()))
            .collect::<Vec<_>>()
    })
    .await
    .context("reading the plotted files")?;
    let mut spectra = Vec::new();
    for (o, kind) in s.origins.iter().zip(formats) {
        let (url, _) = links::sign(root, &req, &o.target, SAMP_LINK_TTL)?;
        let format = kind.unwrap_or(Kind::Other).mime();
        spectra.push(serde_json::json!({ "name": o.name, "url": url, "format": format }));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "table": table,
        "spectra": spectra,
        "more": s.origins.len().saturating_sub(SAMP_MAX_SPECTRA),
        "expires": crate::uws::time::format_ms(expires * 1000),
    })))
}

/// The file in `user`'s storage a link target names (`u/<user>/<percent-encoded path>`, as
/// `links::user_target` builds them).
fn origin_path(storage: &crate::storage::Storage, user: &str, target: &str) -> Option<std::path::PathBuf> {
    let (_, encoded) = target.strip_prefix("u/")?.split_once('/')?;
    let decoded = percent_encoding::percent_decode_str(encoded).decode_utf8().ok()?;
    storage.user_path(user, &RelPath::parse(&decoded).ok()?).ok()
}

/// The visible samples as CSV (`name,wavelength,flux`) or a VOTable with the same columns.
fn visible_data(
    s: &Session,
    view: &render::View,
    visible: &[bool],
    format: &str,
) -> ApiResult<(Vec<u8>, &'static str)> {
    let (rows, complete) = render::visible_samples(&s.data, view, Some(visible), EXPORT_MAX);
    if !complete {
        return Err(ApiError::TooLarge(format!("more than {EXPORT_MAX} samples are visible; zoom in or hide series")));
    }
    let names = |i: usize| s.data.series[i].name.as_str();
    if format == "csv" {
        let mut out = String::from("name,wavelength,flux\n");
        for (i, x, y) in rows {
            let name = names(i);
            let name = if name.contains([',', '"', '\n']) {
                format!("\"{}\"", name.replace('"', "\"\""))
            } else {
                name.to_string()
            };
            out.push_str(&format!("{name},{x},{y}\n"));
        }
        return Ok((out.into_bytes(), "text/csv"));
    }
    use vocloud_workers::votable::{Datatype, Field, Table, Value};
    let mut table = Table::new(
        "visible",
        vec![
            Field::new("name", Datatype::Char),
            Field::new("wavelength", Datatype::Double).ucd("em.wl"),
            Field::new("flux", Datatype::Double).ucd("phot.flux"),
        ],
    );
    for (i, x, y) in rows {
        table.push(vec![Value::Text(names(i).to_string()), Value::Float(x), Value::Float(y as f64)]);
    }
    Ok((table.to_bytes(), "application/x-votable+xml"))
}
