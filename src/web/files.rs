//! The files pages: `GET /files/<folder>` lists a folder of the user's storage (folders first,
//! sortable by name, size and date, paged; breadcrumbs; new folder; uploads through the files
//! API by script), `GET /files/<file>` shows a file (facts, preview, actions), and
//! `GET /jobs/{id}/preview/{name}` shows a job's result file the same way.
//!
//! Actions on a selection post to `/files/act`: plot (the plot page), zip (streamed), use as a
//! job's input, move, delete (after a confirmation page). `/files/mkdir`, `/files/move` and
//! `/files/delete` make the changes; `GET /zip/<folder>` downloads a folder;
//! `GET /files-plot.png?path=…` (or `?job=&result=`) is the quick plot of a preview.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::file_ops::{self, absolute};
use super::folder::{self, SortKey};
use super::form::Posted;
use super::home::UsageView;
use super::jobs::ConfirmPage;
use super::page::{Chrome, PageError, PageResult, Viewer, render, see_other, see_other_with};
use super::preview::{self, Preview};
use super::{display, zip};
use crate::error::ApiError;
use crate::jobs::{Caller, JobService};
use crate::storage::RelPath;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The POST routes come before the catch-all page route, which would otherwise claim them.
    cfg.route("/files/act", web::post().to(act))
        .route("/files/mkdir", web::post().to(mkdir))
        .route("/files/move", web::post().to(move_items))
        .route("/files/delete", web::post().to(delete))
        .route("/files-plot.png", web::get().to(quick_plot))
        .route("/zip/{path:.*}", web::get().to(zip_folder))
        .route("/files", web::get().to(|| async { see_other("/files/") }))
        .route("/files/{path:.*}", web::get().to(browse))
        .route("/jobs/{id}/preview/{name}", web::get().to(result_preview));
}

/// Entries per page of a folder.
const PAGE: usize = 100;

/// Everything but unreserved characters and `/` is encoded in path links.
const PATH: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The page of a storage path: `/files/a%20b/c.fits`.
pub fn href(rel: &str) -> String {
    format!("/files/{}", utf8_percent_encode(rel, PATH))
}

/// Everything but unreserved characters is encoded in query values.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY).to_string()
}

pub struct Crumb {
    pub name: String,
    pub href: String,
}

fn crumbs(rel: &RelPath) -> Vec<Crumb> {
    let mut out = vec![Crumb { name: "Files".into(), href: "/files/".into() }];
    let mut so_far = String::new();
    for part in rel.as_string().split('/').filter(|p| !p.is_empty()) {
        so_far = if so_far.is_empty() { part.to_string() } else { format!("{so_far}/{part}") };
        out.push(Crumb { name: part.to_string(), href: href(&so_far) });
    }
    out
}

fn parent_of(rel: &RelPath) -> String {
    rel.as_string().rsplit_once('/').map(|(p, _)| p.to_string()).unwrap_or_default()
}

pub struct EntryView {
    pub name: String,
    pub path: String,
    pub href: String,
    pub is_dir: bool,
    pub size: String,
    pub modified: String,
    pub modified_iso: String,
}

/// A sortable column header: its link and its `aria-sort` state.
pub struct SortLink {
    pub href: String,
    pub state: &'static str,
}

#[derive(Template)]
#[template(path = "files.html")]
struct FolderPage {
    chrome: Chrome,
    title: String,
    path: String,
    crumbs: Vec<Crumb>,
    entries: Vec<EntryView>,
    by_name: SortLink,
    by_size: SortLink,
    by_date: SortLink,
    showing: String,
    newer: String,
    older: String,
    usage: UsageView,
    zip: String,
    max_upload: u64,
}

#[derive(Template)]
#[template(path = "file.html")]
struct FilePage {
    chrome: Chrome,
    title: String,
    name: String,
    path: String,
    crumbs: Vec<Crumb>,
    facts: Vec<(String, String)>,
    download: String,
    plot: String,
    quick_plot: String,
    input: String,
    preview: Preview,
    rows_before: String,
    rows_after: String,
    rows_shown: String,
    in_storage: bool,
    dir: String,
}

#[derive(Deserialize)]
struct Browse {
    sort: Option<String>,
    desc: Option<String>,
    page: Option<usize>,
    row: Option<usize>,
}

async fn browse(service: web::Data<JobService>, viewer: Viewer, req: HttpRequest, q: web::Query<Browse>) -> PageResult {
    let rel = RelPath::parse(req.match_info().get("path").unwrap_or(""))?;
    let path = absolute(&service, &viewer.caller, &rel)?;
    let not_found = || ApiError::NotFound(format!("'{}' does not exist in your storage", rel.as_string()));
    let meta = tokio::fs::symlink_metadata(&path).await.map_err(|_| not_found())?;
    if meta.is_dir() {
        folder_page(&service, viewer, rel, path, &q).await
    } else if meta.is_file() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let facts = vec![
            ("Size".to_string(), display::bytes(meta.len())),
            ("Modified".to_string(), meta.modified().map(|t| display::instant(ms(t))).unwrap_or_default()),
        ];
        let source = Source {
            title: rel.as_string(),
            name,
            crumbs: crumbs(&rel),
            download: format!("/api/files/{}", utf8_percent_encode(&rel.as_string(), PATH)),
            plot: format!("/plots/new?path={}", query_value(&rel.as_string())),
            quick_plot: format!("/files-plot.png?path={}", query_value(&rel.as_string())),
            input: format!("/jobs/new?input={}", query_value(&rel.as_string())),
            here: href(&rel.as_string()),
            dir: parent_of(&rel),
            path_text: rel.as_string(),
            facts,
        };
        file_page(viewer, source, path, q.row.unwrap_or(0)).await
    } else {
        Err(not_found().into())
    }
}

fn ms(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

async fn folder_page(
    service: &JobService,
    mut viewer: Viewer,
    rel: RelPath,
    path: std::path::PathBuf,
    q: &Browse,
) -> PageResult {
    let key = SortKey::parse(q.sort.as_deref().unwrap_or("name"));
    let desc = q.desc.as_deref() == Some("1");
    let page = q.page.unwrap_or(0);
    let dir = path.clone();
    let listing = web::block(move || folder::page(&dir, key, desc, page.saturating_mul(PAGE), PAGE))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("listing task: {e}")))?
        .map_err(|e| ApiError::Internal(anyhow::Error::from(e).context("listing folder")))?;
    let base = href(&rel.as_string());
    let link = |k: SortKey, d: bool, p: usize| {
        let mut l = format!("{base}?sort={}", k.as_str());
        if d {
            l.push_str("&desc=1");
        }
        if p > 0 {
            l.push_str(&format!("&page={p}"));
        }
        l
    };
    let sort_link = |k: SortKey| SortLink {
        href: link(k, k == key && !desc, 0),
        state: if k != key {
            "none"
        } else if desc {
            "descending"
        } else {
            "ascending"
        },
    };
    let prefix = if rel.is_root() { String::new() } else { format!("{}/", rel.as_string()) };
    let shown_from = page * PAGE;
    let body = FolderPage {
        title: if rel.is_root() { "Files".into() } else { rel.as_string() },
        path: rel.as_string(),
        crumbs: crumbs(&rel),
        showing: if listing.total == 0 {
            String::new()
        } else {
            format!("{}–{} of {}", shown_from + 1, shown_from + listing.entries.len(), listing.total)
        },
        newer: if page > 0 { link(key, desc, page - 1) } else { String::new() },
        older: if shown_from + PAGE < listing.total { link(key, desc, page + 1) } else { String::new() },
        entries: listing
            .entries
            .into_iter()
            .map(|(e, m)| EntryView {
                path: format!("{prefix}{}", e.name),
                href: href(&format!("{prefix}{}", e.name)),
                size: if e.is_dir { String::new() } else { display::bytes(m.size) },
                modified: display::instant(m.modified),
                modified_iso: display::iso(m.modified),
                is_dir: e.is_dir,
                name: e.name,
            })
            .collect(),
        by_name: sort_link(SortKey::Name),
        by_size: sort_link(SortKey::Size),
        by_date: sort_link(SortKey::Modified),
        usage: UsageView::of(service, &viewer.caller).await?,
        zip: format!("/zip/{}", utf8_percent_encode(&rel.as_string(), PATH)),
        max_upload: service.limits().max_upload_bytes,
        chrome: viewer.chrome("files"),
    };
    render(&body.chrome, &body)
}

/// Where a previewed file comes from and the links its page offers.
struct Source {
    title: String,
    name: String,
    path_text: String,
    crumbs: Vec<Crumb>,
    facts: Vec<(String, String)>,
    download: String,
    plot: String,
    quick_plot: String,
    /// "Use as a job's input" (files of the user's storage only).
    input: String,
    /// This page, for the table pager.
    here: String,
    /// The folder to return to after a move or delete.
    dir: String,
}

async fn file_page(mut viewer: Viewer, s: Source, path: std::path::PathBuf, row: usize) -> PageResult {
    let name = s.name.clone();
    let preview = web::block(move || preview::build(&path, &name, row))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("preview task: {e}")))?;
    let (mut before, mut after, mut shown) = (String::new(), String::new(), String::new());
    if let Some(t) = &preview.table {
        if t.offset > 0 {
            before = format!("{}?row={}", s.here, t.offset.saturating_sub(preview::ROWS));
        }
        if t.has_more {
            after = format!("{}?row={}", s.here, t.offset + preview::ROWS);
        }
        let total = t.total.map(|n| format!(" of {n}")).unwrap_or_default();
        shown = if t.rows.is_empty() {
            "no rows".into()
        } else {
            format!("rows {}–{}{total}", t.offset + 1, t.offset + t.rows.len())
        };
    }
    let page = FilePage {
        title: s.title,
        name: s.name,
        path: s.path_text,
        crumbs: s.crumbs,
        facts: s.facts,
        download: s.download,
        plot: if preview.plottable { s.plot } else { String::new() },
        quick_plot: if preview.plottable && !preview.fits.is_empty() { s.quick_plot } else { String::new() },
        in_storage: !s.input.is_empty(),
        input: s.input,
        preview,
        rows_before: before,
        rows_after: after,
        rows_shown: shown,
        dir: s.dir,
        chrome: viewer.chrome("files"),
    };
    render(&page.chrome, &page)
}

async fn result_preview(
    service: web::Data<JobService>,
    viewer: Viewer,
    path: web::Path<(String, String)>,
    q: web::Query<Browse>,
) -> PageResult {
    let (id, name) = path.into_inner();
    let job = service.get(&viewer.caller, None, &id).await?;
    let file = service
        .storage()
        .result_path(&id, &name)
        .filter(|p| p.is_file())
        .ok_or_else(|| ApiError::NotFound(format!("job {id} has no result '{name}'")))?;
    let size = tokio::fs::metadata(&file).await.map(|m| m.len()).unwrap_or(0);
    let encoded = query_value(&name);
    let source = Source {
        title: format!("{name} (job {id})"),
        path_text: format!("result of job {id}"),
        crumbs: vec![
            Crumb { name: "Jobs".into(), href: "/jobs".into() },
            Crumb { name: format!("{} {id}", job.row.kind), href: format!("/jobs/{id}") },
            Crumb { name: name.clone(), href: format!("/jobs/{id}/preview/{encoded}") },
        ],
        facts: vec![("Size".into(), display::bytes(size))],
        download: format!("/uws/{}/{id}/results/{encoded}", job.row.kind),
        plot: format!("/plots/new?job={id}&result={encoded}"),
        quick_plot: format!("/files-plot.png?job={id}&result={encoded}"),
        input: String::new(),
        here: format!("/jobs/{id}/preview/{encoded}"),
        dir: String::new(),
        name,
    };
    file_page(viewer, source, file, q.row.unwrap_or(0)).await
}

#[derive(Deserialize)]
struct PlotQuery {
    path: Option<String>,
    job: Option<String>,
    result: Option<String>,
}

/// A quick plot of a file's spectra (all of them, at their full extent) as a small PNG.
async fn quick_plot(
    service: web::Data<JobService>,
    viewer: Viewer,
    q: web::Query<PlotQuery>,
) -> Result<HttpResponse, PageError> {
    use crate::plots::render::{self, FrameSpec, Mode};
    use crate::plots::spectra::{self, Source};
    let (shown, path) = match (&q.path, &q.job, &q.result) {
        (Some(p), _, _) => {
            let rel = RelPath::parse(p)?;
            (rel.as_string(), absolute(&service, &viewer.caller, &rel)?)
        }
        (None, Some(job), Some(result)) => {
            service.get(&viewer.caller, None, job).await?;
            let path = service
                .storage()
                .result_path(job, result)
                .ok_or_else(|| ApiError::NotFound("no such result".into()))?;
            (result.clone(), path)
        }
        _ => return Err(ApiError::BadRequest("give path= or job= and result=".into()).into()),
    };
    if !path.is_file() {
        return Err(ApiError::NotFound(format!("no file '{shown}'")).into());
    }
    let png = web::block(move || {
        let data = spectra::load(shown.clone(), &[Source { shown, path }], None, 64 << 20, 1)?;
        let view = render::home_view(&data, false, false);
        let spec = FrameSpec { width: 720, height: 340, scale: 1.0, mode: Mode::Auto, visible: None };
        Ok::<_, spectra::LoadError>(render::encode_png(&render::render(&data, &view, &spec)))
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("plot task: {e}")))?
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header((header::CACHE_CONTROL, "private, max-age=60"))
        .body(png))
}

/// A zip of the items, streamed as an attachment named `name`.
fn zip_response(items: Vec<zip::Item>, name: &str) -> HttpResponse {
    let file = name.replace(['"', '\\', '\r', '\n'], "_");
    HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(zip::stream(items))
}

/// Expands storage paths into zip items (on a blocking thread: folders are walked).
async fn zip_items(service: &JobService, caller: &Caller, rels: Vec<RelPath>) -> Result<Vec<zip::Item>, PageError> {
    let mut roots = Vec::new();
    for rel in rels {
        if tokio::fs::symlink_metadata(absolute(service, caller, &rel)?).await.is_err() {
            return Err(ApiError::NotFound(format!("'{}' does not exist in your storage", rel.as_string())).into());
        }
        let name = rel.as_string().rsplit('/').next().unwrap_or("files").to_string();
        roots.push((if name.is_empty() { "files".to_string() } else { name }, absolute(service, caller, &rel)?));
    }
    web::block(move || {
        let mut items = Vec::new();
        for (name, path) in roots {
            zip::expand(&name, &path, &mut items)?;
        }
        Ok::<_, String>(items)
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("zip walk: {e}")))?
    .map_err(|e| ApiError::BadRequest(e).into())
}

async fn zip_folder(service: web::Data<JobService>, viewer: Viewer, req: HttpRequest) -> PageResult {
    let rel = RelPath::parse(req.match_info().get("path").unwrap_or(""))?;
    let name = if rel.is_root() { format!("{}-files", viewer.caller.name) } else { rel.as_string().replace('/', "-") };
    let items = zip_items(&service, &viewer.caller, vec![rel]).await?;
    Ok(zip_response(items, &format!("{name}.zip")))
}

fn selection(form: &Posted) -> Result<Vec<RelPath>, PageError> {
    form.all("path").into_iter().map(|p| RelPath::parse(p).map_err(PageError::from)).collect()
}

#[derive(Template)]
#[template(path = "files_move.html")]
struct MovePage {
    chrome: Chrome,
    title: String,
    items: Vec<String>,
    dir: String,
    to: String,
    single: bool,
}

/// What to do with the selected entries.
async fn act(service: web::Data<JobService>, mut form: Posted) -> PageResult {
    let dir = form.text("dir").to_string();
    let back = href(&dir);
    let paths = selection(&form)?;
    if paths.is_empty() {
        return Ok(see_other_with(&back, true, "Select one or more files or folders first."));
    }
    let strings: Vec<String> = paths.iter().map(RelPath::as_string).collect();
    let query = |name: &str| strings.iter().map(|p| format!("{name}={}", query_value(p))).collect::<Vec<_>>().join("&");
    match form.text("action") {
        "plot" => Ok(see_other(&format!("/plots/new?{}", query("path")))),
        "input" => Ok(see_other(&format!("/jobs/new?input={}", query_value(&strings[0])))),
        "zip" => {
            let name = if paths.len() == 1 { strings[0].replace('/', "-") } else { "selection".into() };
            let items = zip_items(&service, &form.viewer.caller, paths).await?;
            Ok(zip_response(items, &format!("{name}.zip")))
        }
        "delete" => {
            let mut fields = vec![("dir".to_string(), dir.clone())];
            fields.extend(strings.iter().map(|p| ("path".to_string(), p.clone())));
            let n = strings.len();
            let page = ConfirmPage {
                title: format!("Delete {n} item{}?", if n == 1 { "" } else { "s" }),
                question: "Folders are deleted with everything in them. This cannot be undone.".into(),
                items: strings,
                action: "/files/delete".into(),
                fields,
                button: "Delete".into(),
                back,
                chrome: form.viewer.chrome("files"),
            };
            render(&page.chrome, &page)
        }
        "move" => {
            let single = strings.len() == 1;
            let page = MovePage {
                title: if single {
                    format!("Move or rename {}", strings[0])
                } else {
                    format!("Move {} items", strings.len())
                },
                to: if single { strings[0].clone() } else { dir.clone() },
                items: strings,
                dir,
                single,
                chrome: form.viewer.chrome("files"),
            };
            render(&page.chrome, &page)
        }
        other => Ok(see_other_with(&back, true, format!("Unknown action '{other}'."))),
    }
}

async fn mkdir(service: web::Data<JobService>, form: Posted) -> PageResult {
    let dir = RelPath::parse(form.text("dir"))?;
    let back = href(&dir.as_string());
    let result = match file_ops::child(&dir, form.text("name")) {
        Ok(rel) => file_ops::make_folder(&service, &form.viewer.caller, &rel).await.map(|_| rel),
        Err(e) => Err(e),
    };
    Ok(match result {
        Ok(rel) => see_other_with(&href(&rel.as_string()), false, format!("Created folder {}.", rel.as_string())),
        Err(e @ (ApiError::BadRequest(_) | ApiError::Conflict(_))) => see_other_with(&back, true, e.to_string()),
        Err(e) => return Err(e.into()),
    })
}

async fn delete(service: web::Data<JobService>, form: Posted) -> PageResult {
    let back = href(form.text("dir"));
    if !form.checked("confirmed") {
        return Ok(see_other_with(&back, true, "Nothing was deleted: confirm first."));
    }
    let mut done = 0;
    for rel in selection(&form)? {
        match file_ops::remove(&service, &form.viewer.caller, &rel).await {
            Ok(()) => done += 1,
            Err(e @ (ApiError::NotFound(_) | ApiError::BadRequest(_))) => {
                return Ok(see_other_with(&back, true, e.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(see_other_with(&back, false, format!("Deleted {done} item{}.", if done == 1 { "" } else { "s" })))
}

async fn move_items(service: web::Data<JobService>, form: Posted) -> PageResult {
    let back = href(form.text("dir"));
    let paths = selection(&form)?;
    let to = RelPath::parse(form.text("to").trim().trim_matches('/'))?;
    let moves: Vec<(RelPath, RelPath)> = if form.text("mode") == "rename" && paths.len() == 1 {
        vec![(paths[0].clone(), to.clone())]
    } else {
        let mut out = Vec::new();
        for p in &paths {
            let name = p.as_string().rsplit('/').next().unwrap_or_default().to_string();
            out.push((p.clone(), file_ops::child(&to, &name)?));
        }
        out
    };
    for (from, target) in &moves {
        if let Err(e) = file_ops::move_to(&service, &form.viewer.caller, from, target).await {
            return match e {
                ApiError::Internal(_) => Err(e.into()),
                e => Ok(see_other_with(&back, true, e.to_string())),
            };
        }
    }
    let target = if moves.len() == 1 { parent_of(&moves[0].1) } else { to.as_string() };
    Ok(see_other_with(
        &href(&target),
        false,
        format!("Moved {} item{}.", moves.len(), if moves.len() == 1 { "" } else { "s" }),
    ))
}
