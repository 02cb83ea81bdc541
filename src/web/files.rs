//! The files pages: `GET /files/<folder>` lists a folder of the user's storage (folders first,
//! sortable by name, size and date, paged; breadcrumbs; new folder; uploads through the files
//! API by script), `GET /files/<file>` shows a file (facts, preview, actions), and
//! `GET /jobs/{id}/preview/{name}` shows a job's result file the same way.
//!
//! `GET /files-plot.png?path=…` (or `?job=&result=`) is the quick plot of a preview. What the
//! pages' buttons do is in `file_actions`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::display;
use super::file_ops::absolute;
use super::folder::{self, SortKey};
use super::home::UsageView;
use super::page::{Chrome, PageError, PageResult, Viewer, render, see_other};
use super::preview::{self, Preview};
use crate::error::ApiError;
use crate::jobs::JobService;
use crate::storage::RelPath;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // `file_actions` mounts its POST routes first: this catch-all page route would claim them.
    cfg.route("/files-plot.png", web::get().to(quick_plot))
        .route("/files", web::get().to(|| async { see_other("/files/") }))
        .route("/files/{path:.*}", web::get().to(browse))
        .route("/jobs/{id}/preview/{name}", web::get().to(result_preview));
}

/// Entries per page of a folder.
const PAGE: usize = 100;

/// Everything but unreserved characters and `/` is encoded in path links.
pub const PATH: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The page of a storage path: `/files/a%20b/c.fits`.
pub fn href(rel: &str) -> String {
    format!("/files/{}", utf8_percent_encode(rel, PATH))
}

/// Everything but unreserved characters is encoded in query values.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub fn query_value(value: &str) -> String {
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

pub fn parent_of(rel: &RelPath) -> String {
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
    /// A VOTable of the user's storage: it may list spectra to import.
    importable: bool,
}

#[derive(Deserialize)]
struct Browse {
    sort: Option<String>,
    desc: Option<String>,
    page: Option<usize>,
    row: Option<usize>,
}

async fn browse(service: web::Data<JobService>, viewer: Viewer, req: HttpRequest, q: web::Query<Browse>) -> PageResult {
    let rel = crate::respond::storage_path(&req)?;
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
    let importable = !s.input.is_empty() && preview::kind_of(&s.name) == preview::Kind::Votable;
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
        importable,
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
    let name = crate::respond::decode_param(&name);
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
