//! The job list (`GET /jobs`): filters by kind, phase, experiment, creation date and label,
//! counts per phase, keyset paging (`before=`/`after=` a job's creation time and id), and
//! actions on a selection (`POST /jobs/bulk`: abort or delete several, with confirmation).

use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::display;
use super::form::Posted;
use super::page::{Choice, Chrome, PageResult, Viewer, render, see_other_with};
use crate::jobs::listing::{Cursor, Direction, JobLine, JobQuery};
use crate::jobs::{Caller, JobService};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/jobs", web::get().to(list)).route("/jobs/bulk", web::post().to(bulk));
}

/// Jobs per page.
const PAGE: i64 = 50;

/// Phases a job can still leave.
pub const ACTIVE: [&str; 5] = ["PENDING", "QUEUED", "EXECUTING", "HELD", "SUSPENDED"];

/// A job as a line of a list (the jobs page, the home page, an experiment).
pub struct JobItem {
    pub id: String,
    pub kind: String,
    pub phase: String,
    pub label: String,
    pub owner: String,
    pub experiment: String,
    pub created: String,
    pub created_iso: String,
    /// How long it ran (or has been running); empty before it started.
    pub ran: String,
    /// Percent done while executing with progress reported.
    pub progress: Option<u32>,
    pub progress_message: String,
    pub is_active: bool,
}

impl JobItem {
    pub fn new(line: JobLine) -> JobItem {
        let now = crate::uws::time::now_ms();
        let ran = match (line.start_time, line.end_time) {
            (Some(start), Some(end)) => display::duration(end - start),
            (Some(start), None) => display::duration(now - start),
            _ => String::new(),
        };
        let executing = line.phase == "EXECUTING";
        JobItem {
            is_active: ACTIVE.contains(&line.phase.as_str()),
            progress: line.progress_fraction.filter(|_| executing).map(display::percent),
            progress_message: line.progress_message.filter(|_| executing).unwrap_or_default(),
            created: display::instant(line.creation_time),
            created_iso: display::iso(line.creation_time),
            id: line.id,
            kind: line.kind,
            phase: line.phase,
            label: line.label,
            owner: line.owner_name,
            experiment: line.experiment.unwrap_or_default(),
            ran,
        }
    }
}

#[derive(Deserialize, Default, Clone)]
struct Filters {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    experiment: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    all: String,
    before: Option<String>,
    after: Option<String>,
}

fn parse_cursor(text: &str) -> Option<Cursor> {
    let (time, id) = text.split_once('.')?;
    crate::jobs::JobId::parse(id)?;
    Some(Cursor { time: time.parse().ok()?, id: id.to_string() })
}

/// `2026-12-03` as Unix ms at 00:00 UTC.
fn day_start(text: &str) -> Option<i64> {
    let day = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

impl Filters {
    /// The database query these filters mean; unknown names simply match nothing.
    async fn query(&self, service: &JobService, caller: &Caller) -> JobQuery {
        let mut q = JobQuery {
            kind: Some(self.kind.clone()).filter(|k| !k.is_empty()),
            created_from: day_start(&self.from),
            created_to: day_start(&self.to).map(|t| t + 86_400_000),
            text: Some(self.q.trim().to_string()).filter(|t| !t.is_empty()),
            ..JobQuery::default()
        };
        q.phases = match self.phase.as_str() {
            "" => Vec::new(),
            "active" => ACTIVE.iter().map(|p| p.to_string()).collect(),
            phase => vec![phase.to_string()],
        };
        if !self.experiment.is_empty() {
            // An unknown experiment lists nothing rather than everything.
            q.experiment_id = Some(service.experiment(caller, &self.experiment).await.map(|e| e.id).unwrap_or(-1));
        }
        q
    }

    /// The query string of these filters (without paging), for links.
    fn link(&self) -> String {
        let pairs = [
            ("kind", &self.kind),
            ("phase", &self.phase),
            ("experiment", &self.experiment),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
            ("all", &self.all),
        ];
        let kept: Vec<(&str, &str)> =
            pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (*k, v.as_str())).collect();
        serde_urlencoded::to_string(kept).unwrap_or_default()
    }

    fn with(&self, extra: &str) -> String {
        let base = self.link();
        match (base.is_empty(), extra.is_empty()) {
            (true, _) => format!("/jobs?{extra}"),
            (false, true) => format!("/jobs?{base}"),
            (false, false) => format!("/jobs?{base}&{extra}"),
        }
    }
}

/// A phase chip: its name, how many jobs, the link that filters on it, whether it is on.
struct PhaseCount {
    phase: String,
    count: i64,
    link: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    chrome: Chrome,
    title: &'static str,
    jobs: Vec<JobItem>,
    counts: Vec<PhaseCount>,
    total: i64,
    kinds: Vec<Choice>,
    phases: Vec<Choice>,
    experiments: Vec<Choice>,
    active_selected: bool,
    from: String,
    to: String,
    q: String,
    everyone: bool,
    is_admin: bool,
    newer: String,
    older: String,
    first: String,
    ids: String,
}

const PHASES: [&str; 8] = ["PENDING", "QUEUED", "EXECUTING", "COMPLETED", "ERROR", "ABORTED", "HELD", "SUSPENDED"];

async fn list(service: web::Data<JobService>, mut viewer: Viewer, f: web::Query<Filters>) -> PageResult {
    let caller = viewer.caller.clone();
    let everyone = f.all == "1" && caller.is_admin;
    let query = f.query(&service, &caller).await;
    let direction = match (f.before.as_deref().and_then(parse_cursor), f.after.as_deref().and_then(parse_cursor)) {
        (Some(c), _) => Direction::Older(c),
        (None, Some(c)) => Direction::Newer(c),
        _ => Direction::First,
    };
    let page = service.job_page(&caller, everyone, query.clone(), &direction, PAGE).await?;
    let counts = service.phase_counts(&caller, everyone, query).await?;
    let cursor = |j: &JobLine| format!("{}.{}", j.creation_time, j.id);
    let newer = page.jobs.first().filter(|_| page.has_newer).map(|j| f.with(&format!("after={}", cursor(j))));
    let older = page.jobs.last().filter(|_| page.has_older).map(|j| f.with(&format!("before={}", cursor(j))));
    let ids =
        page.jobs.iter().filter(|j| ACTIVE.contains(&j.phase.as_str())).map(|j| j.id.as_str()).collect::<Vec<_>>();
    let body = JobsPage {
        title: "Jobs",
        ids: ids.join(" "),
        total: counts.iter().map(|(_, n)| n).sum(),
        counts: counts
            .into_iter()
            .map(|(phase, count)| PhaseCount {
                link: Filters { phase: phase.clone(), before: None, after: None, ..f.0.clone() }.with(""),
                selected: f.phase == phase,
                phase,
                count,
            })
            .collect(),
        jobs: page.jobs.into_iter().map(JobItem::new).collect(),
        kinds: Choice::list(service.registry().names(), &f.kind),
        phases: Choice::list(PHASES, &f.phase),
        experiments: Choice::list(service.experiments(&caller).await?.into_iter().map(|e| e.name), &f.experiment),
        active_selected: f.phase == "active",
        from: f.from.clone(),
        to: f.to.clone(),
        q: f.q.clone(),
        everyone,
        is_admin: caller.is_admin,
        newer: newer.unwrap_or_default(),
        older: older.unwrap_or_default(),
        first: if page.has_newer { f.with("") } else { String::new() },
        chrome: viewer.chrome("jobs"),
    };
    render(&body.chrome, &body)
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub title: String,
    pub question: String,
    /// What the action applies to, one line each.
    pub items: Vec<String>,
    pub action: String,
    /// The fields to post again, with `confirmed=1` added.
    pub fields: Vec<(String, String)>,
    pub button: String,
    pub back: String,
}

/// Abort or delete the selected jobs. Deleting asks first (a page listing them) unless the
/// form says `confirmed=1` (the script asks in a dialog instead).
async fn bulk(service: web::Data<JobService>, mut form: Posted) -> PageResult {
    let caller = form.viewer.caller.clone();
    let ids: Vec<String> = form.all("id").into_iter().map(str::to_string).collect();
    let back = form.one("back").filter(|b| b.starts_with("/jobs")).unwrap_or("/jobs").to_string();
    if ids.is_empty() {
        return Ok(see_other_with(&back, true, "Select one or more jobs first."));
    }
    let action = form.text("action").to_string();
    if action == "delete" && !form.checked("confirmed") {
        let fields = form.pairs().cloned().collect();
        let page = ConfirmPage {
            title: format!("Delete {} job{}?", ids.len(), if ids.len() == 1 { "" } else { "s" }),
            question: "These jobs and their result files will be deleted. This cannot be undone.".into(),
            items: ids.clone(),
            action: "/jobs/bulk".into(),
            fields,
            button: "Delete".into(),
            back,
            chrome: form.viewer.chrome("jobs"),
        };
        return render(&page.chrome, &page);
    }
    let mut done = 0;
    for id in &ids {
        let job = match service.get(&caller, None, id).await {
            Ok(job) => job,
            Err(crate::jobs::Error::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        match action.as_str() {
            "abort" if job.phase.is_active() => service.abort(&caller, &job.row.kind, id).await?,
            "abort" => continue,
            "delete" => service.destroy(&caller, &job.row.kind, id).await?,
            other => return Ok(see_other_with(&back, true, format!("Unknown action '{other}'."))),
        }
        done += 1;
    }
    let verb = if action == "delete" { "Deleted" } else { "Aborted" };
    Ok(see_other_with(&back, false, format!("{verb} {done} job{}.", if done == 1 { "" } else { "s" })))
}
