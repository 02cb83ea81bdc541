//! Admin pages (admins only; anyone else gets 404, as for things that do not exist):
//! `GET /admin` — users (create, disable, reset password, make admin, set a quota) — and
//! `GET /admin/fleet` — remote workers (alive, kinds, slots, running jobs, last heartbeat) and
//! the jobs executors hold now, batch-system job ids included. All users' jobs are the job list
//! with "All users" ticked.

use actix_web::web;
use askama::Template;

use super::display;
use super::form::Posted;
use super::page::{Chrome, PageResult, Viewer, render, see_other_with};
use crate::auth::Authenticator;
use crate::error::ApiError;
use crate::jobs::{Caller, JobService};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(users))
        .route("/admin/fleet", web::get().to(fleet))
        .route("/admin/users", web::post().to(create_user))
        .route("/admin/users/{name}/{action}", web::post().to(change_user));
}

/// A worker seen within this long is shown as alive (heartbeats come every few seconds).
const ALIVE_WITHIN_MS: i64 = 60_000;

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin { Ok(()) } else { Err(ApiError::NotFound("no such page".into())) }
}

pub struct UserLine {
    pub name: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub quota: String,
    pub quota_input: String,
    pub jobs: i64,
    pub created: String,
    pub is_self: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    title: &'static str,
    users: Vec<UserLine>,
    default_quota: String,
}

async fn users(service: web::Data<JobService>, auth: web::Data<Authenticator>, mut viewer: Viewer) -> PageResult {
    require_admin(&viewer.caller)?;
    let users = auth
        .accounts()
        .await?
        .into_iter()
        .map(|u| UserLine {
            quota: match u.quota_bytes {
                None => "default".into(),
                Some(0) => "unlimited".into(),
                Some(q) => display::bytes(q.max(0) as u64),
            },
            quota_input: u.quota_bytes.map(|q| format!("{}", q as f64 / (1u64 << 30) as f64)).unwrap_or_default(),
            is_self: u.id == viewer.caller.user_id,
            is_admin: u.is_admin != 0,
            disabled: u.disabled != 0,
            jobs: u.jobs,
            created: display::instant(u.created_at),
            name: u.name,
        })
        .collect();
    let default = service.limits().user_quota_bytes;
    let page = UsersPage {
        title: "Admin: users",
        users,
        default_quota: if default == 0 { "unlimited".into() } else { display::bytes(default) },
        chrome: viewer.chrome("admin"),
    };
    render(&page.chrome, &page)
}

async fn create_user(auth: web::Data<Authenticator>, form: Posted) -> PageResult {
    require_admin(&form.viewer.caller)?;
    let name = form.text("name").trim();
    match auth.create_account(name, form.text("password"), form.checked("admin")).await {
        Ok(()) => Ok(see_other_with("/admin", false, format!("Created user '{name}'."))),
        Err(e @ (ApiError::BadRequest(_) | ApiError::Conflict(_))) => Ok(see_other_with("/admin", true, e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// A quota typed in GiB: empty is the service default, 0 unlimited.
fn parse_quota(text: &str) -> Result<Option<u64>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let gib: f64 =
        text.parse().ok().filter(|g: &f64| g.is_finite() && *g >= 0.0 && *g < 1e9).ok_or_else(|| {
            ApiError::BadRequest(format!("the quota is a number of GiB (0 = unlimited), not '{text}'"))
        })?;
    Ok(Some((gib * (1u64 << 30) as f64).round() as u64))
}

async fn change_user(
    auth: web::Data<Authenticator>,
    jobs: web::Data<JobService>,
    form: Posted,
    path: web::Path<(String, String)>,
) -> PageResult {
    let caller = &form.viewer.caller;
    require_admin(caller)?;
    let (name, action) = path.into_inner();
    let user = auth.account(&name).await?;
    let own = user.id == caller.user_id;
    let result = match action.as_str() {
        "disable" | "revoke-admin" if own => {
            Err(ApiError::BadRequest("you cannot lock yourself out; ask another admin".into()))
        }
        "disable" => {
            auth.set_disabled(user.id, true).await.map(|_| format!("Disabled '{name}': they can no longer sign in."))
        }
        "enable" => auth.set_disabled(user.id, false).await.map(|_| format!("Enabled '{name}'.")),
        "make-admin" => auth.set_admin(user.id, true).await.map(|_| format!("'{name}' is now an admin.")),
        "revoke-admin" => auth.set_admin(user.id, false).await.map(|_| format!("'{name}' is no longer an admin.")),
        "password" => {
            auth.reset_password(user.id, form.text("password")).await.map(|_| format!("New password set for '{name}'."))
        }
        "quota" => match parse_quota(form.text("quota_gib")) {
            Ok(q) => auth.set_quota(user.id, q).await.map(|_| {
                // The jobs service caches quotas with usage: the new one applies from now on.
                jobs.forget_usage(&name);
                format!("Quota of '{name}' set.")
            }),
            Err(e) => Err(e),
        },
        other => Err(ApiError::NotFound(format!("no action '{other}'"))),
    };
    match result {
        Ok(message) => Ok(see_other_with("/admin", false, message)),
        Err(e @ (ApiError::BadRequest(_) | ApiError::Conflict(_))) => Ok(see_other_with("/admin", true, e.to_string())),
        Err(e) => Err(e.into()),
    }
}

pub struct WorkerView {
    pub id: String,
    pub token: String,
    pub hostname: String,
    pub kinds: String,
    pub slots: i64,
    pub running: i64,
    pub alive: bool,
    pub last_seen: String,
    pub registered: String,
}

pub struct RunningView {
    pub id: String,
    pub kind: String,
    pub phase: String,
    pub owner: String,
    pub executor: String,
    pub holder: String,
    pub since: String,
}

#[derive(Template)]
#[template(path = "admin_fleet.html")]
struct FleetPage {
    chrome: Chrome,
    title: &'static str,
    workers: Vec<WorkerView>,
    running: Vec<RunningView>,
}

async fn fleet(service: web::Data<JobService>, mut viewer: Viewer) -> PageResult {
    require_admin(&viewer.caller)?;
    let now = crate::uws::time::now_ms();
    let workers = service
        .workers(&viewer.caller)
        .await?
        .into_iter()
        .map(|w| WorkerView {
            alive: now - w.last_seen < ALIVE_WITHIN_MS,
            last_seen: format!("{} ago", display::duration(now - w.last_seen)),
            registered: display::instant(w.registered_at),
            id: w.id,
            token: w.token_name,
            hostname: w.hostname,
            kinds: w.kinds,
            slots: w.slots,
            running: w.running,
        })
        .collect();
    let running = service
        .running_jobs(&viewer.caller)
        .await?
        .into_iter()
        .map(|j| RunningView {
            since: j.start_time.map(|s| format!("{} ago", display::duration(now - s))).unwrap_or_default(),
            id: j.id,
            kind: j.kind,
            phase: j.phase,
            owner: j.owner_name,
            executor: j.executor.unwrap_or_default(),
            holder: j.lease_owner.unwrap_or_default(),
        })
        .collect();
    let page = FleetPage { title: "Admin: fleet", workers, running, chrome: viewer.chrome("admin") };
    render(&page.chrome, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_typed_in_gib() {
        assert_eq!(parse_quota("").unwrap(), None);
        assert_eq!(parse_quota("0").unwrap(), Some(0));
        assert_eq!(parse_quota("1.5").unwrap(), Some(3 << 29));
        for bad in ["-1", "NaN", "inf", "lots", "1e12"] {
            assert!(parse_quota(bad).is_err(), "{bad}");
        }
    }
}
