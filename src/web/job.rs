//! One job's page (`GET /jobs/{id}`): parameters, label and notes, experiment, and the live
//! panel — phase, times, duration, attempt, where it runs, progress, the error in plain words,
//! result files with sizes and previews, the kind's own result view embedded (the SOM viewer,
//! images such as ocean time series and maps) — with run, abort, delete and "run again".
//!
//! `GET /jobs/{id}/panel` renders the panel alone: the page's script swaps it in when the
//! phase changes. Actions post to `/jobs/{id}/{run,abort,delete,annotate,experiment}`.

use actix_web::web;
use askama::Template;

use super::display;
use super::form::Posted;
use super::jobs::ConfirmPage;
use super::page::{Choice, Chrome, PageResult, Viewer, render, see_other, see_other_with};
use crate::jobs::JobService;
use crate::jobs::JobView;
use crate::jobs::service::ResultView as ResultEntry;
use crate::uws::ExecutionPhase;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/jobs/{id}", web::get().to(page))
        .route("/jobs/{id}/panel", web::get().to(panel))
        .route("/jobs/{id}/run", web::post().to(run))
        .route("/jobs/{id}/abort", web::post().to(abort))
        .route("/jobs/{id}/delete", web::post().to(delete))
        .route("/jobs/{id}/annotate", web::post().to(annotate))
        .route("/jobs/{id}/experiment", web::post().to(move_to));
}

/// A parameter as the page lists it; paths link to the file.
pub struct ParamView {
    pub name: String,
    pub value: String,
    pub is_path: bool,
}

/// A result file with what the page can do with it.
#[derive(Clone)]
pub struct ResultView {
    pub name: String,
    pub size: String,
    pub url: String,
    pub is_image: bool,
    /// A page that shows the file (tables, text, FITS headers).
    pub preview: String,
    /// The plot page for spectra files.
    pub plot: String,
}

/// The part of the job page that changes with the phase.
pub struct Panel {
    pub id: String,
    pub kind: String,
    pub phase: String,
    pub csrf: String,
    pub is_active: bool,
    pub can_run: bool,
    pub created: String,
    pub started: String,
    pub ended: String,
    pub ran: String,
    pub destruction: String,
    pub attempt: i64,
    pub ran_on: String,
    pub progress: Option<u32>,
    pub progress_message: String,
    pub error: String,
    pub error_kind: String,
    pub results: Vec<ResultView>,
    /// The kind's interactive result page, embedded (the SOM map viewer).
    pub viewer: String,
    pub images: Vec<ResultView>,
}

fn result_view(kind: &str, id: &str, r: ResultEntry) -> ResultView {
    let encoded = super::files::query_value(&r.name);
    let lower = r.name.to_ascii_lowercase();
    let spectra = [".fits", ".fit", ".fts", ".csv", ".vot", ".votable"].iter().any(|e| lower.ends_with(e));
    let previewable = spectra || [".txt", ".log", ".json", ".xml"].iter().any(|e| lower.ends_with(e));
    ResultView {
        url: format!("/uws/{kind}/{id}/results/{encoded}"),
        is_image: r.mime_type.starts_with("image/") && r.mime_type != "image/svg+xml",
        preview: if previewable { format!("/jobs/{id}/preview/{encoded}") } else { String::new() },
        plot: if spectra { format!("/plots/new?job={id}&result={encoded}") } else { String::new() },
        size: display::bytes(r.size),
        name: r.name,
    }
}

/// Where the job runs or ran: the executor, and the slot, worker or batch job while it runs.
fn ran_on(job: &JobView) -> String {
    match (&job.row.executor, &job.row.lease_owner) {
        (Some(e), Some(owner)) => format!("{e} ({owner})"),
        (Some(e), None) => e.clone(),
        (None, _) => "not handed to an executor yet".into(),
    }
}

pub async fn panel_of(service: &JobService, job: &JobView, csrf: &str) -> Result<Panel, crate::jobs::Error> {
    let row = &job.row;
    let results: Vec<ResultView> =
        service.results(job).await?.into_iter().map(|r| result_view(&row.kind, &row.id, r)).collect();
    let viewer = results.iter().find(|r| r.name == "index.html").map(|r| r.url.clone()).unwrap_or_default();
    let images = results.iter().filter(|r| r.is_image).cloned().collect();
    let executing = job.phase == ExecutionPhase::Executing;
    let now = crate::uws::time::now_ms();
    Ok(Panel {
        id: row.id.clone(),
        kind: row.kind.clone(),
        phase: job.phase.as_str().to_string(),
        csrf: csrf.to_string(),
        is_active: job.phase.is_active(),
        can_run: matches!(job.phase, ExecutionPhase::Pending | ExecutionPhase::Held),
        created: display::instant(row.creation_time),
        started: row.start_time.map(display::instant).unwrap_or_default(),
        ended: row.end_time.map(display::instant).unwrap_or_default(),
        ran: row.start_time.map(|s| display::duration(row.end_time.unwrap_or(now) - s)).unwrap_or_default(),
        destruction: row.destruction_time.map(display::instant).unwrap_or_default(),
        attempt: row.attempt,
        ran_on: ran_on(job),
        progress: row.progress_fraction.filter(|_| executing).map(display::percent),
        progress_message: row.progress_message.clone().filter(|_| executing).unwrap_or_default(),
        error: row.error_message.clone().unwrap_or_default(),
        error_kind: match row.error_type.as_deref() {
            Some("transient") => "It was interrupted and retried until it ran out of attempts.".into(),
            _ => String::new(),
        },
        results,
        viewer,
        images,
    })
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    chrome: Chrome,
    title: String,
    id: String,
    kind: String,
    phase: String,
    label: String,
    notes: String,
    owner: String,
    experiment: String,
    experiments: Vec<Choice>,
    parameters: Vec<ParamView>,
    panel: Panel,
}

#[derive(Template)]
#[template(path = "job_panel.html")]
struct PanelFragment {
    panel: Panel,
}

fn parameters(service: &JobService, job: &JobView) -> Vec<ParamView> {
    let values = job.parameters();
    let specs = service.registry().get(&job.row.kind).map(|k| k.parameters()).unwrap_or_default();
    let mut out: Vec<ParamView> = specs
        .iter()
        .filter_map(|s| {
            let value = values.get(s.name)?;
            Some(ParamView {
                name: s.name.to_string(),
                value: vocloud_workers::params::display_value(value),
                is_path: s.kind == vocloud_workers::ParamType::Path,
            })
        })
        .collect();
    // Parameters the kind no longer declares still show.
    for (name, value) in &values {
        if !specs.iter().any(|s| s.name == name) {
            out.push(ParamView {
                name: name.clone(),
                value: vocloud_workers::params::display_value(value),
                is_path: false,
            });
        }
    }
    out
}

async fn page(service: web::Data<JobService>, mut viewer: Viewer, id: web::Path<String>) -> PageResult {
    let job = service.get(&viewer.caller, None, &id).await?;
    let panel = panel_of(&service, &job, &viewer.csrf).await?;
    let experiment = job.row.experiment.clone().unwrap_or_default();
    let mut names: Vec<String> = service.experiments(&viewer.caller).await?.into_iter().map(|e| e.name).collect();
    names.insert(0, String::new());
    let mut experiments = Choice::list(names, &experiment);
    experiments[0].label = "(none)".into();
    let body = JobPage {
        title: format!("{} job {}", job.row.kind, job.row.id),
        id: job.row.id.clone(),
        kind: job.row.kind.clone(),
        phase: job.phase.as_str().to_string(),
        label: job.row.label.clone(),
        notes: job.row.notes.clone(),
        owner: job.row.owner_name.clone(),
        experiment,
        experiments,
        parameters: parameters(&service, &job),
        panel,
        chrome: viewer.chrome("jobs"),
    };
    render(&body.chrome, &body)
}

async fn panel(service: web::Data<JobService>, viewer: Viewer, id: web::Path<String>) -> PageResult {
    let job = service.get(&viewer.caller, None, &id).await?;
    let fragment = PanelFragment { panel: panel_of(&service, &job, &viewer.csrf).await? };
    render(&Chrome::anonymous(), &fragment)
}

async fn run(service: web::Data<JobService>, form: Posted, id: web::Path<String>) -> PageResult {
    let job = service.get(&form.viewer.caller, None, &id).await?;
    service.run(&form.viewer.caller, &job.row.kind, &id).await?;
    Ok(see_other(&format!("/jobs/{id}")))
}

async fn abort(service: web::Data<JobService>, form: Posted, id: web::Path<String>) -> PageResult {
    let job = service.get(&form.viewer.caller, None, &id).await?;
    service.abort(&form.viewer.caller, &job.row.kind, &id).await?;
    Ok(see_other_with(&format!("/jobs/{id}"), false, "Job aborted."))
}

async fn delete(service: web::Data<JobService>, mut form: Posted, id: web::Path<String>) -> PageResult {
    let job = service.get(&form.viewer.caller, None, &id).await?;
    if !form.checked("confirmed") {
        let page = ConfirmPage {
            title: format!("Delete job {id}?"),
            question: "The job and its result files will be deleted. This cannot be undone.".into(),
            items: vec![format!("{} job {}{}", job.row.kind, job.row.id, label_suffix(&job.row.label))],
            action: format!("/jobs/{id}/delete"),
            fields: Vec::new(),
            button: "Delete job".into(),
            back: format!("/jobs/{id}"),
            chrome: form.viewer.chrome("jobs"),
        };
        return render(&page.chrome, &page);
    }
    service.destroy(&form.viewer.caller, &job.row.kind, &id).await?;
    Ok(see_other_with("/jobs", false, format!("Deleted job {id}.")))
}

fn label_suffix(label: &str) -> String {
    if label.is_empty() { String::new() } else { format!(" ({label})") }
}

/// Longest label, in bytes (as the JSON API allows).
const MAX_LABEL: usize = 200;

async fn annotate(service: web::Data<JobService>, form: Posted, id: web::Path<String>) -> PageResult {
    let (label, notes) = (form.text("label").trim(), form.text("notes"));
    if label.len() > MAX_LABEL || notes.len() > crate::jobs::experiments::MAX_DESCRIPTION {
        let message = format!("Labels are limited to {MAX_LABEL} bytes and notes to 64 KiB.");
        return Ok(see_other_with(&format!("/jobs/{id}"), true, message));
    }
    service.set_annotations(&form.viewer.caller, &id, label, notes).await?;
    Ok(see_other_with(&format!("/jobs/{id}"), false, "Label and notes saved."))
}

/// Moves the job into the chosen experiment, a new one typed in, or none.
async fn move_to(service: web::Data<JobService>, form: Posted, id: web::Path<String>) -> PageResult {
    let typed = form.text("new_experiment").trim();
    let name = if typed.is_empty() { form.text("experiment") } else { typed };
    let target = Some(name).filter(|n| !n.is_empty());
    match service.move_to_experiment(&form.viewer.caller, &id, target).await {
        Ok(()) => {
            let text = match target {
                Some(n) => format!("The job is now in experiment '{n}'."),
                None => "The job is in no experiment now.".into(),
            };
            Ok(see_other_with(&format!("/jobs/{id}"), false, text))
        }
        Err(crate::jobs::Error::BadRequest(m)) => Ok(see_other_with(&format!("/jobs/{id}"), true, m)),
        Err(e) => Err(e.into()),
    }
}
