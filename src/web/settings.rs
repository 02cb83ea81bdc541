//! `GET /settings`: the user's storage use, password change, and API tokens. A new token is
//! shown once, on the page that answers its creation (never in a redirect or a cookie), with a
//! copy button and curl and pyvo snippets that use it.

use actix_web::web;
use askama::Template;

use super::form::Posted;
use super::home::UsageView;
use super::page::{Chrome, PageResult, Viewer, render, see_other_with};
use crate::auth::Authenticator;
use crate::error::ApiError;
use crate::jobs::JobService;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings", web::get().to(page))
        .route("/settings/password", web::post().to(password))
        .route("/settings/tokens", web::post().to(create_token))
        .route("/settings/tokens/{id}/revoke", web::post().to(revoke));
}

pub struct TokenLine {
    pub id: i64,
    pub label: String,
    pub created: String,
    pub revoked: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    title: &'static str,
    usage: UsageView,
    tokens: Vec<TokenLine>,
    /// A token just created, shown this once.
    new_token: String,
    base: String,
    user: String,
}

async fn settings_page(
    service: &JobService,
    auth: &Authenticator,
    viewer: &mut Viewer,
    new_token: String,
    base: String,
) -> PageResult {
    let tokens = auth
        .tokens(viewer.caller.user_id)
        .await?
        .into_iter()
        .map(|t| TokenLine {
            id: t.id,
            label: if t.label.is_empty() { "(unnamed)".into() } else { t.label },
            created: super::display::instant(t.created_at),
            revoked: t.revoked_at.map(super::display::instant).unwrap_or_default(),
        })
        .collect();
    let page = SettingsPage {
        title: "Settings",
        usage: UsageView::of(service, &viewer.caller).await?,
        tokens,
        new_token,
        base,
        user: viewer.caller.name.clone(),
        chrome: viewer.chrome("settings"),
    };
    render(&page.chrome, &page)
}

async fn page(
    service: web::Data<JobService>,
    auth: web::Data<Authenticator>,
    mut viewer: Viewer,
    req: actix_web::HttpRequest,
) -> PageResult {
    settings_page(&service, &auth, &mut viewer, String::new(), crate::respond::base_url(&req)).await
}

async fn password(auth: web::Data<Authenticator>, form: Posted) -> PageResult {
    let (new, again) = (form.text("new_password"), form.text("repeat_password"));
    if new != again {
        return Ok(see_other_with("/settings", true, "The two new passwords differ; nothing was changed."));
    }
    match auth.change_password(&form.viewer.caller, form.text("current_password"), new).await {
        Ok(()) => Ok(see_other_with("/settings", false, "Password changed.")),
        Err(ApiError::BadRequest(m)) => Ok(see_other_with("/settings", true, m)),
        Err(e) => Err(e.into()),
    }
}

async fn create_token(
    service: web::Data<JobService>,
    auth: web::Data<Authenticator>,
    mut form: Posted,
    req: actix_web::HttpRequest,
) -> PageResult {
    let token = match auth.create_labelled_token(form.viewer.caller.user_id, form.text("label")).await {
        Ok(t) => t,
        Err(ApiError::BadRequest(m)) => return Ok(see_other_with("/settings", true, m)),
        Err(e) => return Err(e.into()),
    };
    settings_page(&service, &auth, &mut form.viewer, token, crate::respond::base_url(&req)).await
}

async fn revoke(auth: web::Data<Authenticator>, form: Posted, id: web::Path<i64>) -> PageResult {
    auth.revoke_token(form.viewer.caller.user_id, *id).await?;
    Ok(see_other_with("/settings", false, "Token revoked: it no longer works."))
}
