//! New jobs: `GET /jobs/new` lists the kinds; `GET /jobs/new/{kind}` is a form generated from
//! the kind's parameter description (the one `GET /uws` publishes) — number fields with their
//! ranges, checkboxes, selects, a storage picker for paths, help under each field — plus label,
//! notes, experiment and time limit. `?from=<job>` fills it from an earlier job ("run again"),
//! `?input=<path>` puts a path of the user's storage in the first path parameter, and any
//! `?<parameter>=<value>` fills that parameter (the files page links `import?folder=…`).
//! `GET /jobs/{id}/edit` is the same form for a PENDING job's parameters
//! (`JobService::update_parameters`).
//!
//! `POST /jobs/new/{kind}` creates the job through `JobService::create` (the authoritative
//! check) and runs it when "Create and run" was pressed. A refused form comes back with the
//! user's values and the server's message next to the field it names.

use actix_web::web;
use askama::Template;
use serde::Deserialize;
use serde_json::Value;
use vocloud_workers::{ParamSpec, ParamType};

use super::form::Posted;
use super::page::{Choice, Chrome, PageError, PageResult, Viewer, render, see_other_with};
use crate::error::ApiError;
use crate::jobs::{Caller, JobService};
use crate::uws::params::Control;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/jobs/new", web::get().to(kinds))
        .route("/jobs/new/{kind}", web::get().to(form))
        .route("/jobs/new/{kind}", web::post().to(create))
        .route("/jobs/{id}/edit", web::get().to(edit_form))
        .route("/jobs/{id}/edit", web::post().to(edit));
}

/// Marks a checkbox field, so that an unticked box means `false` rather than "the default".
const BOOL_MARK: &str = "_bool";

struct KindCard {
    name: &'static str,
    description: &'static str,
    takes_input: bool,
}

#[derive(Template)]
#[template(path = "job_kinds.html")]
struct KindsPage {
    chrome: Chrome,
    title: &'static str,
    kinds: Vec<KindCard>,
    input: String,
}

#[derive(Deserialize)]
struct Input {
    input: Option<String>,
}

async fn kinds(service: web::Data<JobService>, mut viewer: Viewer, q: web::Query<Input>) -> PageResult {
    let input = q.input.clone().unwrap_or_default();
    let kinds = service
        .registry()
        .all()
        .map(|k| KindCard {
            name: k.name(),
            description: k.description(),
            takes_input: k.parameters().iter().any(|p| p.kind == ParamType::Path),
        })
        .filter(|k| input.is_empty() || k.takes_input)
        .collect();
    let page = KindsPage { title: "New job", kinds, input, chrome: viewer.chrome("jobs") };
    render(&page.chrome, &page)
}

/// One generated form field.
pub struct Field {
    pub name: String,
    /// `bool`, `integer`, `float`, `text`, `choice` or `path`.
    pub widget: &'static str,
    pub value: String,
    pub checked: bool,
    pub min: String,
    pub max: String,
    pub step: &'static str,
    pub max_len: String,
    pub required: bool,
    pub help: String,
    pub placeholder: String,
    pub choices: Vec<Choice>,
    pub error: String,
}

fn bound<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map(T::to_string).unwrap_or_default()
}

impl Field {
    fn new(spec: &ParamSpec, value: Option<String>) -> Field {
        let default = spec.default.as_ref().map(vocloud_workers::params::display_value);
        let value = value.or_else(|| default.clone()).unwrap_or_default();
        let mut field = Field {
            name: spec.name.to_string(),
            widget: "text",
            checked: value == "true",
            min: String::new(),
            max: String::new(),
            step: "",
            max_len: String::new(),
            required: spec.required,
            help: spec.description.to_string(),
            placeholder: if spec.default.is_none() && !spec.required { "automatic".into() } else { String::new() },
            choices: Vec::new(),
            error: String::new(),
            value,
        };
        match &spec.kind {
            ParamType::Bool => field.widget = "bool",
            ParamType::Integer { min, max } => {
                (field.widget, field.min, field.max, field.step) = ("integer", bound(min), bound(max), "1")
            }
            ParamType::Float { min, max } => {
                (field.widget, field.min, field.max, field.step) = ("float", bound(min), bound(max), "any")
            }
            ParamType::Text { max_len } => field.max_len = max_len.to_string(),
            ParamType::Choice { values } => {
                field.widget = "choice";
                field.choices = Choice::list(values.iter(), &field.value);
            }
            ParamType::Path => field.widget = "path",
        }
        if let Some(d) = default.filter(|_| matches!(spec.kind, ParamType::Integer { .. } | ParamType::Float { .. })) {
            field.help = format!("{} (default {d})", field.help);
        }
        field
    }
}

#[derive(Template)]
#[template(path = "job_form.html")]
struct FormPage {
    chrome: Chrome,
    title: String,
    kind: &'static str,
    description: &'static str,
    inputs: Vec<Field>,
    settings: Vec<Field>,
    label: String,
    notes: String,
    experiments: Vec<Choice>,
    new_experiment: String,
    time_limit: String,
    from: String,
    error: String,
    /// Where the form posts: a new job of the kind, or a PENDING job's parameters.
    action: String,
    editing: bool,
    /// Where Cancel goes when editing: the job's page.
    back: String,
}

/// What the form shows around the kind's fields.
#[derive(Default)]
struct Extras {
    label: String,
    notes: String,
    experiment: String,
    new_experiment: String,
    time_limit: String,
    from: String,
    error: String,
    /// The PENDING job whose parameters the form edits.
    editing: Option<String>,
}

async fn form_page(
    service: &JobService,
    viewer: &mut Viewer,
    kind: &str,
    values: &dyn Fn(&str) -> Option<String>,
    errors: &[(String, String)],
    extras: Extras,
) -> PageResult {
    let k = service.registry().get(kind).ok_or_else(|| ApiError::NotFound(format!("no job kind '{kind}'")))?;
    let (mut inputs, mut settings) = (Vec::new(), Vec::new());
    for spec in k.parameters() {
        let mut field = Field::new(&spec, values(spec.name));
        field.error = errors.iter().find(|(n, _)| n == spec.name).map(|(_, m)| m.clone()).unwrap_or_default();
        if spec.required || spec.kind == ParamType::Path { inputs.push(field) } else { settings.push(field) }
    }
    let general = errors.iter().filter(|(n, _)| !k.parameters().iter().any(|s| s.name == n)).map(|(_, m)| m.clone());
    let error = [extras.error.clone()].into_iter().chain(general).filter(|m| !m.is_empty()).collect::<Vec<_>>();
    let mut names: Vec<String> = service.experiments(&viewer.caller).await?.into_iter().map(|e| e.name).collect();
    names.insert(0, String::new());
    let mut experiments = Choice::list(names, &extras.experiment);
    experiments[0].label = "(none)".into();
    let page = FormPage {
        title: match &extras.editing {
            Some(id) => format!("Parameters of job {id}"),
            None => format!("New {} job", k.name()),
        },
        action: match &extras.editing {
            Some(id) => format!("/jobs/{id}/edit"),
            None => format!("/jobs/new/{}", k.name()),
        },
        back: extras.editing.as_ref().map(|id| format!("/jobs/{id}")).unwrap_or_default(),
        editing: extras.editing.is_some(),
        kind: k.name(),
        description: k.description(),
        inputs,
        settings,
        label: extras.label,
        notes: extras.notes,
        experiments,
        new_experiment: extras.new_experiment,
        time_limit: extras.time_limit,
        from: extras.from,
        error: error.join(" "),
        chrome: viewer.chrome("jobs"),
    };
    render(&page.chrome, &page)
}

async fn form(
    service: web::Data<JobService>,
    mut viewer: Viewer,
    kind: web::Path<String>,
    q: web::Query<Vec<(String, String)>>,
) -> PageResult {
    let asked = |key: &str| q.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let mut extras = Extras::default();
    let mut previous = serde_json::Map::new();
    if let Some(from) = asked("from") {
        let job = service.get(&viewer.caller, Some(&kind), &from).await?;
        previous = job.parameters();
        extras.label = job.row.label.clone();
        extras.experiment = job.row.experiment.clone().unwrap_or_default();
        extras.from = job.row.id.clone();
    }
    let first_path = first_path_parameter(&service, &kind);
    let input = asked("input");
    let values = |name: &str| {
        if let (Some(input), Some(p)) = (&input, &first_path)
            && p == name
        {
            return Some(input.clone());
        }
        asked(name).or_else(|| shown(previous.get(name)))
    };
    form_page(&service, &mut viewer, &kind, &values, &[], extras).await
}

/// A stored parameter value as a form field shows it.
fn shown(value: Option<&Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(v) => Some(vocloud_workers::params::display_value(v)),
    }
}

async fn edit_form(service: web::Data<JobService>, mut viewer: Viewer, id: web::Path<String>) -> PageResult {
    let job = service.get(&viewer.caller, None, &id).await?;
    if job.phase != crate::uws::ExecutionPhase::Pending {
        let message = format!("The job is {}; only PENDING jobs can change their parameters.", job.phase);
        return Ok(see_other_with(&format!("/jobs/{id}"), true, message));
    }
    let previous = job.parameters();
    let extras = Extras { editing: Some(job.row.id.clone()), ..Extras::default() };
    form_page(&service, &mut viewer, &job.row.kind, &|name| shown(previous.get(name)), &[], extras).await
}

/// Saves a PENDING job's parameters (and runs it when "Save and run" was pressed).
async fn edit(service: web::Data<JobService>, mut form: Posted, id: web::Path<String>) -> PageResult {
    let caller = form.viewer.caller.clone();
    let job = service.get(&caller, None, &id).await?;
    let specs = service.registry().get(&job.row.kind).map(|k| k.parameters()).unwrap_or_default();
    let raw = raw_parameters(&form, &specs);
    let saved = match service.update_parameters(&caller, &job.row.kind, &id, raw).await {
        Ok(()) if form.checked("run") => service.run(&caller, &job.row.kind, &id).await,
        other => other,
    };
    match saved {
        Ok(()) => Ok(see_other_with(&format!("/jobs/{id}"), false, "Parameters saved.")),
        Err(crate::jobs::Error::BadRequest(message)) => {
            let kept = kept_values(&form, &specs);
            let values = |name: &str| kept.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
            let field = field_of(&message).unwrap_or_default();
            let extras = Extras { editing: Some(id.to_string()), ..Extras::default() };
            form_page(&service, &mut form.viewer, &job.row.kind, &values, &[(field, message)], extras).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The user's input, kept for a refused form: ticked boxes as they were, fields as typed.
fn kept_values(form: &Posted, specs: &[ParamSpec]) -> Vec<(String, String)> {
    specs
        .iter()
        .filter_map(|s| match s.kind {
            ParamType::Bool => Some((s.name.to_string(), form.checked(s.name).to_string())),
            _ => form.one(s.name).map(|v| (s.name.to_string(), v.to_string())),
        })
        .collect()
}

fn first_path_parameter(service: &JobService, kind: &str) -> Option<String> {
    let k = service.registry().get(kind)?;
    k.parameters().into_iter().find(|p| p.kind == ParamType::Path).map(|p| p.name.to_string())
}

/// The kind's parameters from the form: empty fields are left out (the kind's default
/// applies), unticked checkboxes become `false`.
fn raw_parameters(form: &Posted, specs: &[ParamSpec]) -> Vec<(String, String)> {
    let mut raw: Vec<(String, String)> = form
        .pairs()
        .filter(|(n, v)| !v.trim().is_empty() && specs.iter().any(|s| s.name == n))
        .map(|(n, v)| (n.clone(), v.trim().to_string()))
        .collect();
    for name in form.all(BOOL_MARK) {
        if specs.iter().any(|s| s.name == name && s.kind == ParamType::Bool) && !raw.iter().any(|(n, _)| n == name) {
            raw.push((name.to_string(), "false".into()));
        }
    }
    raw
}

/// The parameter a server message is about (`parameter 'rows': …`), if it names one.
fn field_of(message: &str) -> Option<String> {
    let rest = message.split_once("parameter '")?.1;
    Some(rest.split_once('\'')?.0.to_string())
}

async fn create(service: web::Data<JobService>, mut form: Posted, kind: web::Path<String>) -> PageResult {
    let k = service.registry().get(&kind).ok_or_else(|| ApiError::NotFound(format!("no job kind '{kind}'")))?;
    let specs = k.parameters();
    let raw = raw_parameters(&form, &specs);
    let extras = Extras {
        label: form.text("label").trim().to_string(),
        notes: form.text("notes").to_string(),
        experiment: form.text("experiment").to_string(),
        new_experiment: form.text("new_experiment").trim().to_string(),
        time_limit: form.text("time_limit").trim().to_string(),
        from: form.text("from").to_string(),
        error: String::new(),
        editing: None,
    };
    let caller = form.viewer.caller.clone();
    match submit(&service, &caller, &kind, raw, &extras, form.checked("run")).await {
        Ok(id) => Ok(see_other_with(&format!("/jobs/{id}"), false, format!("Created {kind} job {id}."))),
        Err(PageError::Api(ApiError::BadRequest(message))) => {
            let field = field_of(&message).unwrap_or_default();
            let kept = kept_values(&form, &specs);
            let values = |name: &str| kept.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
            form_page(&service, &mut form.viewer, &kind, &values, &[(field, message)], extras).await
        }
        Err(e) => Err(e),
    }
}

/// Longest label, as for the job page.
const MAX_LABEL: usize = 200;

async fn submit(
    service: &JobService,
    caller: &Caller,
    kind: &str,
    raw: Vec<(String, String)>,
    extras: &Extras,
    run: bool,
) -> Result<String, PageError> {
    let bad = |m: String| PageError::Api(ApiError::BadRequest(m));
    if extras.label.len() > MAX_LABEL || extras.notes.len() > crate::jobs::experiments::MAX_DESCRIPTION {
        return Err(bad(format!("Labels are limited to {MAX_LABEL} bytes and notes to 64 KiB.")));
    }
    let execution_duration = match extras.time_limit.as_str() {
        "" => None,
        t => Some(crate::uws::params::execution_duration(t).map_err(|e| bad(e.0))?),
    };
    let experiment = Some(if extras.new_experiment.is_empty() { &extras.experiment } else { &extras.new_experiment })
        .filter(|e| !e.is_empty())
        .map(|e| crate::uws::params::experiment_name(e).map_err(|e| bad(e.0)))
        .transpose()?;
    let control = Control { run, experiment, execution_duration, ..Control::default() };
    let id = service.create(caller, kind, control, raw).await?;
    if !extras.label.is_empty() || !extras.notes.is_empty() {
        service.set_annotations(caller, id.as_str(), &extras.label, &extras.notes).await?;
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_are_placed_at_the_field_they_name() {
        assert_eq!(field_of("parameter 'rows': must be at most 500, got 900").as_deref(), Some("rows"));
        assert_eq!(field_of("parameter 'input' is required").as_deref(), Some("input"));
        assert_eq!(field_of("the storage quota is exceeded"), None);
    }
}
