//! What the files pages' buttons do: actions on a selection (`POST /files/act`: plot, zip, use
//! as a job's input, move, delete after a confirmation page), `POST /files/mkdir`,
//! `/files/move` and `/files/delete`, and `GET /zip/<folder>`, a folder as a streamed zip.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::file_ops::{self, absolute};
use super::files::{href, parent_of, query_value};
use super::form::Posted;
use super::jobs::ConfirmPage;
use super::page::{Chrome, PageError, PageResult, Viewer, render, see_other, see_other_with};
use super::zip;
use crate::error::ApiError;
use crate::jobs::{Caller, JobService};
use crate::storage::RelPath;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/files/act", web::post().to(act))
        .route("/files/mkdir", web::post().to(mkdir))
        .route("/files/move", web::post().to(move_items))
        .route("/files/delete", web::post().to(delete))
        .route("/zip/{path:.*}", web::get().to(zip_folder));
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
    let rel = crate::respond::storage_path(&req)?;
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
