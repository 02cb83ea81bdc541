//! Experiments: `GET /experiments` lists them with a form to create one; `GET
//! /experiments/{name}` describes one and shows its jobs side by side — their phases, the
//! parameters that differ between them first, result images and viewers — with a form that
//! moves selected jobs to another experiment. Changes post to `/experiments` (create) and
//! `/experiments/{name}/{describe,move,delete}`.

use actix_web::web;
use askama::Template;
use futures_util::future::join_all;

use super::form::Posted;
use super::job::{ResultView, panel_of};
use super::jobs::ConfirmPage;
use super::page::{Choice, Chrome, PageResult, Viewer, render, see_other_with};
use crate::jobs::JobService;
use crate::jobs::ListFilter;
use crate::respond::decode_param;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/experiments", web::get().to(list))
        .route("/experiments", web::post().to(create))
        .route("/experiments/{name}", web::get().to(show))
        .route("/experiments/{name}/describe", web::post().to(describe))
        .route("/experiments/{name}/move", web::post().to(move_jobs))
        .route("/experiments/{name}/delete", web::post().to(delete));
}

/// Jobs shown side by side at most (the job list shows all of them).
const SIDE_BY_SIDE: usize = 24;

fn link(name: &str) -> String {
    format!("/experiments/{}", super::files::query_value(name))
}

pub struct ExperimentLine {
    pub name: String,
    pub href: String,
    pub description: String,
    pub jobs: i64,
    pub active: i64,
    pub created: String,
}

#[derive(Template)]
#[template(path = "experiments.html")]
struct ListPage {
    chrome: Chrome,
    title: &'static str,
    experiments: Vec<ExperimentLine>,
}

async fn list(service: web::Data<JobService>, mut viewer: Viewer) -> PageResult {
    let experiments = service
        .experiments(&viewer.caller)
        .await?
        .into_iter()
        .map(|e| ExperimentLine {
            href: link(&e.name),
            description: e.description.lines().next().unwrap_or("").chars().take(200).collect(),
            jobs: e.job_count,
            active: e.active_jobs,
            created: super::display::instant(e.created_at),
            name: e.name,
        })
        .collect();
    let page = ListPage { title: "Experiments", experiments, chrome: viewer.chrome("experiments") };
    render(&page.chrome, &page)
}

async fn create(service: web::Data<JobService>, form: Posted) -> PageResult {
    match service.create_experiment(&form.viewer.caller, form.text("name"), form.text("description")).await {
        Ok(e) => Ok(see_other_with(&link(&e.name), false, format!("Created experiment '{}'.", e.name))),
        Err(e @ (crate::jobs::Error::BadRequest(_) | crate::jobs::Error::ExperimentExists(_))) => {
            Ok(see_other_with("/experiments", true, e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// One job of the experiment, as a card.
pub struct JobCard {
    pub id: String,
    pub kind: String,
    pub phase: String,
    pub label: String,
    /// Parameters whose values differ between the experiment's jobs, then the others.
    pub differing: Vec<(String, String)>,
    pub same: Vec<(String, String)>,
    pub images: Vec<ResultView>,
    pub viewer: String,
    pub results: usize,
    pub error: String,
}

#[derive(Template)]
#[template(path = "experiment.html")]
struct ShowPage {
    chrome: Chrome,
    title: String,
    name: String,
    href: String,
    description: String,
    created: String,
    jobs: Vec<JobCard>,
    total: usize,
    active: i64,
    others: Vec<Choice>,
    all_jobs: String,
}

async fn show(service: web::Data<JobService>, mut viewer: Viewer, name: web::Path<String>) -> PageResult {
    let name = decode_param(&name);
    let caller = viewer.caller.clone();
    let experiment = service.experiment(&caller, &name).await?;
    let filter = ListFilter { experiment_id: Some(experiment.id), ..ListFilter::default() };
    let refs = service.list(&caller, filter).await?;
    // The jobs and their result folders are read concurrently: one page, up to 24 jobs.
    let views: Vec<_> = join_all(refs.iter().take(SIDE_BY_SIDE).map(|r| service.get(&caller, None, &r.id)))
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    let panels = join_all(views.iter().map(|job| panel_of(&service, job, &viewer.csrf))).await;
    let params: Vec<serde_json::Map<String, serde_json::Value>> = views.iter().map(|v| v.parameters()).collect();
    let differs = |key: &str| params.iter().any(|p| p.get(key) != params[0].get(key));
    let mut jobs = Vec::new();
    for ((job, p), panel) in views.iter().zip(&params).zip(panels) {
        let panel = panel?;
        let shown = |k: &String, v: &serde_json::Value| (k.clone(), vocloud_workers::params::display_value(v));
        jobs.push(JobCard {
            id: job.row.id.clone(),
            kind: job.row.kind.clone(),
            phase: panel.phase.clone(),
            label: job.row.label.clone(),
            differing: p.iter().filter(|(k, _)| differs(k)).map(|(k, v)| shown(k, v)).collect(),
            same: p.iter().filter(|(k, _)| !differs(k)).map(|(k, v)| shown(k, v)).collect(),
            images: panel.images,
            viewer: panel.viewer,
            results: panel.results.len(),
            error: panel.error,
        });
    }
    let others = service.experiments(&caller).await?.into_iter().map(|e| e.name).filter(|n| *n != experiment.name);
    let mut others = Choice::list(std::iter::once(String::new()).chain(others), "");
    others[0].label = "(no experiment)".into();
    let page = ShowPage {
        title: format!("Experiment {}", experiment.name),
        href: link(&experiment.name),
        all_jobs: format!(
            "/jobs?experiment={}",
            percent_encoding::utf8_percent_encode(&experiment.name, percent_encoding::NON_ALPHANUMERIC)
        ),
        name: experiment.name,
        description: experiment.description,
        created: super::display::instant(experiment.created_at),
        total: refs.len(),
        active: experiment.active_jobs,
        jobs,
        others,
        chrome: viewer.chrome("experiments"),
    };
    render(&page.chrome, &page)
}

async fn describe(service: web::Data<JobService>, form: Posted, name: web::Path<String>) -> PageResult {
    let name = decode_param(&name);
    match service.describe_experiment(&form.viewer.caller, &name, form.text("description")).await {
        Ok(_) => Ok(see_other_with(&link(&name), false, "Description saved.")),
        Err(crate::jobs::Error::BadRequest(m)) => Ok(see_other_with(&link(&name), true, m)),
        Err(e) => Err(e.into()),
    }
}

/// Moves the selected jobs to another experiment (chosen, typed in, or none).
async fn move_jobs(service: web::Data<JobService>, form: Posted, name: web::Path<String>) -> PageResult {
    let name = decode_param(&name);
    let caller = &form.viewer.caller;
    service.experiment(caller, &name).await?;
    let ids = form.all("id");
    if ids.is_empty() {
        return Ok(see_other_with(&link(&name), true, "Select one or more jobs first."));
    }
    let typed = form.text("new_experiment").trim();
    let target = Some(if typed.is_empty() { form.text("target") } else { typed }).filter(|t| !t.is_empty());
    for id in &ids {
        if let Err(e) = service.move_to_experiment(caller, id, target).await {
            return match e {
                crate::jobs::Error::BadRequest(m) => Ok(see_other_with(&link(&name), true, m)),
                e => Err(e.into()),
            };
        }
    }
    let to = target.map(|t| format!("experiment '{t}'")).unwrap_or_else(|| "no experiment".into());
    Ok(see_other_with(
        &link(&name),
        false,
        format!("Moved {} job{} to {to}.", ids.len(), if ids.len() == 1 { "" } else { "s" }),
    ))
}

async fn delete(service: web::Data<JobService>, mut form: Posted, name: web::Path<String>) -> PageResult {
    let name = decode_param(&name);
    let experiment = service.experiment(&form.viewer.caller, &name).await?;
    let with_jobs = form.checked("with_jobs");
    if !form.checked("confirmed") {
        let what = if with_jobs {
            "and its jobs with their results are"
        } else {
            "is deleted; its jobs stay, in no experiment. It is"
        };
        let mut fields = Vec::new();
        if with_jobs {
            fields.push(("with_jobs".to_string(), "1".to_string()));
        }
        let page = ConfirmPage {
            title: format!("Delete experiment {}?", experiment.name),
            question: format!("The experiment {what} deleted; this cannot be undone."),
            items: vec![format!("{} ({} jobs)", experiment.name, experiment.job_count)],
            action: format!("{}/delete", link(&experiment.name)),
            fields,
            button: "Delete experiment".into(),
            back: link(&experiment.name),
            chrome: form.viewer.chrome("experiments"),
        };
        return render(&page.chrome, &page);
    }
    match service.delete_experiment(&form.viewer.caller, &name, with_jobs).await {
        Ok(()) => Ok(see_other_with("/experiments", false, format!("Deleted experiment '{}'.", experiment.name))),
        Err(e @ crate::jobs::Error::ExperimentBusy { .. }) => Ok(see_other_with(&link(&name), true, e.to_string())),
        Err(e) => Err(e.into()),
    }
}
