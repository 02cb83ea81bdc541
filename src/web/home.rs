//! `GET /`: the login form for anonymous visitors; for a signed-in user, the start page —
//! recent jobs with live phases and progress, experiments, storage use, and the actions people
//! start with.

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use askama::Template;
use serde::Deserialize;

use super::jobs::{ACTIVE, JobItem};
use super::page::{Chrome, PageError, PageResult, Viewer, render};
use crate::jobs::JobService;
use crate::jobs::listing::{Direction, JobQuery};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home));
}

/// Storage use as the pages show it (a bar when there is a quota).
pub struct UsageView {
    pub used: String,
    pub quota: String,
    /// Percent of the quota used, 0–100; `None` without a quota.
    pub percent: Option<u32>,
    pub over: bool,
}

impl UsageView {
    pub async fn of(service: &JobService, caller: &crate::jobs::Caller) -> Result<UsageView, PageError> {
        let usage = service.usage(caller.user_id, &caller.name).await?;
        Ok(UsageView {
            used: super::display::bytes(usage.used),
            quota: usage.quota.map(super::display::bytes).unwrap_or_else(|| "no quota".into()),
            percent: usage.quota.map(|q| super::display::percent(usage.used as f64 / q.max(1) as f64)),
            over: usage.over_quota(),
        })
    }
}

pub struct ExperimentItem {
    pub name: String,
    pub jobs: i64,
    pub active: i64,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    title: &'static str,
    jobs: Vec<JobItem>,
    ids: String,
    experiments: Vec<ExperimentItem>,
    usage: UsageView,
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// Recent jobs on the start page.
const RECENT: i64 = 8;

async fn home(req: HttpRequest, service: web::Data<JobService>, q: web::Query<Next>) -> PageResult {
    let mut viewer = match Viewer::from_request(&req, &mut Payload::None).await {
        Ok(viewer) => viewer,
        Err(PageError::Login { .. }) => {
            let next = q.next.as_deref().filter(|n| n.starts_with('/') && !n.starts_with("//")).unwrap_or("/");
            return Ok(super::login::page(next, "", ""));
        }
        Err(e) => return Err(e),
    };
    let caller = viewer.caller.clone();
    let page = service.job_page(&caller, false, JobQuery::default(), &Direction::First, RECENT).await?;
    let jobs: Vec<JobItem> = page.jobs.into_iter().map(JobItem::new).collect();
    let ids = jobs.iter().filter(|j| ACTIVE.contains(&j.phase.as_str())).map(|j| j.id.as_str()).collect::<Vec<_>>();
    let experiments = service.experiments(&caller).await?;
    let body = HomePage {
        title: "Home",
        ids: ids.join(" "),
        jobs,
        experiments: experiments
            .into_iter()
            .take(10)
            .map(|e| ExperimentItem { name: e.name, jobs: e.job_count, active: e.active_jobs })
            .collect(),
        usage: UsageView::of(&service, &caller).await?,
        chrome: viewer.chrome("home"),
    };
    render(&body.chrome, &body)
}
