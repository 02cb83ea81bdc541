//! Account management for the settings and admin pages: a user changes their password and
//! manages named API tokens; an admin creates users, disables them, resets passwords, grants
//! admin rights and sets per-user quotas.
//!
//! Every change that takes rights away (disable, reset, revoke) also drops the cache of verified
//! credentials, so it takes effect on the next request rather than after the cache's minute,
//! and a disabled or reset account's browser logins end at once.

use actix_web::web;
use anyhow::Context;

use super::{Authenticator, hash_password, new_secret, token_hash, verify_password};
use crate::db::accounts::{self, AccountRow, TokenRow};
use crate::error::{ApiError, ApiResult};
use crate::jobs::Caller;

/// Shortest password accepted (as for `vocloud user add`).
pub const MIN_PASSWORD: usize = 8;
/// Longest password accepted: argon2 hashes anything, but a megabyte "password" is an attack.
pub const MAX_PASSWORD: usize = 1024;

fn check_new_password(password: &str) -> ApiResult<()> {
    if password.len() < MIN_PASSWORD || password.len() > MAX_PASSWORD {
        return Err(ApiError::BadRequest(format!(
            "the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters"
        )));
    }
    Ok(())
}

impl Authenticator {
    /// Forgets every cached verification (after rights were taken away).
    fn forget_cached(&self) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    async fn hash(password: &str) -> ApiResult<String> {
        let password = password.to_string();
        Ok(web::block(move || hash_password(&password)).await.context("hashing password")??)
    }

    /// Every account, for the admin page.
    pub async fn accounts(&self) -> ApiResult<Vec<AccountRow>> {
        Ok(accounts::list(&self.db).await?)
    }

    pub async fn account(&self, name: &str) -> ApiResult<AccountRow> {
        accounts::by_name(&self.db, name).await?.ok_or_else(|| ApiError::NotFound(format!("no user '{name}'")))
    }

    /// Creates an account (name rules and password length as for `vocloud user add`).
    pub async fn create_account(&self, name: &str, password: &str, is_admin: bool) -> ApiResult<()> {
        check_new_password(password)?;
        if !super::valid_user_name(name) {
            return Err(ApiError::BadRequest(format!(
                "invalid user name '{name}': use 1-64 letters, digits, '_', '-', '.'"
            )));
        }
        let hash = Self::hash(password).await?;
        match crate::db::users::insert(&self.db, name, &hash, is_admin).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::Conflict(format!("user '{name}' already exists"))),
        }
    }

    /// Disables or re-enables an account; disabling ends its browser logins.
    pub async fn set_disabled(&self, user_id: i64, disabled: bool) -> ApiResult<()> {
        accounts::set_disabled(&self.db, user_id, disabled).await?;
        if disabled {
            accounts::end_sessions(&self.db, user_id).await?;
            self.forget_cached();
        }
        Ok(())
    }

    pub async fn set_admin(&self, user_id: i64, is_admin: bool) -> ApiResult<()> {
        accounts::set_admin(&self.db, user_id, is_admin).await?;
        self.forget_cached();
        Ok(())
    }

    /// `None`: the service default; `Some(0)`: unlimited.
    pub async fn set_quota(&self, user_id: i64, quota: Option<u64>) -> ApiResult<()> {
        let quota = quota.map(|q| i64::try_from(q).unwrap_or(i64::MAX));
        Ok(accounts::set_quota(&self.db, user_id, quota).await?)
    }

    /// Sets a new password chosen by an admin; the user's browser logins end.
    pub async fn reset_password(&self, user_id: i64, password: &str) -> ApiResult<()> {
        check_new_password(password)?;
        accounts::set_password_hash(&self.db, user_id, &Self::hash(password).await?).await?;
        accounts::end_sessions(&self.db, user_id).await?;
        self.forget_cached();
        Ok(())
    }

    /// The caller changes their own password, proving they know the current one.
    pub async fn change_password(&self, caller: &Caller, current: &str, new: &str) -> ApiResult<()> {
        let row = crate::db::users::by_id(&self.db, caller.user_id)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("no such user".into()))?;
        let (current, hash) = (current.to_string(), row.password_hash.clone());
        if !web::block(move || verify_password(&current, &hash)).await.context("verifying password")? {
            return Err(ApiError::BadRequest("the current password is wrong".into()));
        }
        check_new_password(new)?;
        accounts::set_password_hash(&self.db, caller.user_id, &Self::hash(new).await?).await?;
        self.forget_cached();
        Ok(())
    }

    pub async fn tokens(&self, user_id: i64) -> ApiResult<Vec<TokenRow>> {
        Ok(accounts::tokens(&self.db, user_id).await?)
    }

    /// A new API token for the user; the only time it is ever shown.
    pub async fn create_labelled_token(&self, user_id: i64, label: &str) -> ApiResult<String> {
        if label.chars().count() > 100 {
            return Err(ApiError::BadRequest("a token's name has at most 100 characters".into()));
        }
        let token = new_secret("voc_");
        accounts::insert_token(&self.db, user_id, &token_hash(&token), label.trim()).await?;
        Ok(token)
    }

    pub async fn revoke_token(&self, user_id: i64, token_id: i64) -> ApiResult<()> {
        if !accounts::revoke_token(&self.db, user_id, token_id).await? {
            return Err(ApiError::NotFound("no such live token".into()));
        }
        self.forget_cached();
        Ok(())
    }
}
