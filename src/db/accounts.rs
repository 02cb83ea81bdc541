//! Account management behind the settings and admin pages: the user list, the flags an admin
//! sets (disabled, admin, own quota), password changes, and a user's named API tokens.

use anyhow::Context;
use sqlx::FromRow;

use super::{Db, now_ms};

/// A user as the admin page lists them.
#[derive(Debug, Clone, FromRow)]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    pub is_admin: i64,
    pub disabled: i64,
    pub quota_bytes: Option<i64>,
    pub created_at: i64,
    pub jobs: i64,
}

pub async fn list(db: &Db) -> anyhow::Result<Vec<AccountRow>> {
    sqlx::query_as(
        "SELECT u.id, u.name, u.is_admin, u.disabled, u.quota_bytes, u.created_at, \
         (SELECT COUNT(*) FROM jobs j WHERE j.owner_id = u.id) AS jobs FROM users u ORDER BY u.name LIMIT 10000",
    )
    .fetch_all(&db.pool)
    .await
    .context("listing users")
}

pub async fn by_name(db: &Db, name: &str) -> anyhow::Result<Option<AccountRow>> {
    sqlx::query_as(
        "SELECT u.id, u.name, u.is_admin, u.disabled, u.quota_bytes, u.created_at, \
         (SELECT COUNT(*) FROM jobs j WHERE j.owner_id = u.id) AS jobs FROM users u WHERE u.name = $1",
    )
    .bind(name)
    .fetch_optional(&db.pool)
    .await
    .context("reading user")
}

/// Whether the user exists and may sign in.
pub async fn is_enabled(db: &Db, user_id: i64) -> anyhow::Result<bool> {
    let disabled: Option<i64> = sqlx::query_scalar("SELECT disabled FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await
        .context("reading user flags")?;
    Ok(disabled == Some(0))
}

/// The user's own quota: `None` follows the service default, `Some(0)` is unlimited.
pub async fn quota_bytes(db: &Db, user_id: i64) -> anyhow::Result<Option<i64>> {
    let quota: Option<Option<i64>> = sqlx::query_scalar("SELECT quota_bytes FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await
        .context("reading user quota")?;
    Ok(quota.flatten())
}

pub async fn set_disabled(db: &Db, user_id: i64, disabled: bool) -> anyhow::Result<()> {
    sqlx::query("UPDATE users SET disabled = $2 WHERE id = $1")
        .bind(user_id)
        .bind(i64::from(disabled))
        .execute(&db.writer)
        .await
        .context("setting disabled")?;
    Ok(())
}

pub async fn set_admin(db: &Db, user_id: i64, admin: bool) -> anyhow::Result<()> {
    sqlx::query("UPDATE users SET is_admin = $2 WHERE id = $1")
        .bind(user_id)
        .bind(i64::from(admin))
        .execute(&db.writer)
        .await
        .context("setting admin")?;
    Ok(())
}

pub async fn set_quota(db: &Db, user_id: i64, quota: Option<i64>) -> anyhow::Result<()> {
    sqlx::query("UPDATE users SET quota_bytes = $2 WHERE id = $1")
        .bind(user_id)
        .bind(quota)
        .execute(&db.writer)
        .await
        .context("setting quota")?;
    Ok(())
}

pub async fn set_password_hash(db: &Db, user_id: i64, hash: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(user_id)
        .bind(hash)
        .execute(&db.writer)
        .await
        .context("setting password")?;
    Ok(())
}

/// Ends every browser login of the user (after a password reset or when disabled).
pub async fn end_sessions(db: &Db, user_id: i64) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM browser_sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&db.writer)
        .await
        .context("ending sessions")?;
    Ok(())
}

/// An API token as its owner sees it (never the token itself: only its hash is stored).
#[derive(Debug, Clone, FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

pub async fn tokens(db: &Db, user_id: i64) -> anyhow::Result<Vec<TokenRow>> {
    sqlx::query_as(
        "SELECT id, label, created_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1000",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await
    .context("listing tokens")
}

pub async fn insert_token(db: &Db, user_id: i64, token_hash: &str, label: &str) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO api_tokens (user_id, token_hash, created_at, label) VALUES ($1, $2, $3, $4)")
        .bind(user_id)
        .bind(token_hash)
        .bind(now_ms())
        .bind(label)
        .execute(&db.writer)
        .await
        .context("inserting token")?;
    Ok(())
}

/// Revokes one of the user's live tokens; false if there is no such live token of theirs.
pub async fn revoke_token(db: &Db, user_id: i64, token_id: i64) -> anyhow::Result<bool> {
    let done =
        sqlx::query("UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL")
            .bind(token_id)
            .bind(user_id)
            .bind(now_ms())
            .execute(&db.writer)
            .await
            .context("revoking token")?;
    Ok(done.rows_affected() == 1)
}
