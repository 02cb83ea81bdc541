//! The `browser_sessions` table: login cookies, stored as a SHA-256 of the token (like
//! `api_tokens`) with the user and an expiry in milliseconds since the epoch.

use anyhow::Context;

use super::users::UserRow;
use super::{Db, now_ms};

pub async fn insert(db: &Db, token_hash: &str, user_id: i64, expires_at: i64) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO browser_sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(user_id)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&db.writer)
        .await
        .context("inserting browser session")?;
    Ok(())
}

/// The user of a session that has not expired.
pub async fn user_by_hash(db: &Db, token_hash: &str) -> anyhow::Result<Option<UserRow>> {
    sqlx::query_as(
        "SELECT u.id, u.name, u.password_hash, u.is_admin, u.disabled FROM browser_sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
    .context("looking up browser session")
}

pub async fn delete(db: &Db, token_hash: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM browser_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&db.writer)
        .await
        .context("deleting browser session")?;
    Ok(())
}

/// Removes expired sessions (the index on expires_at keeps this cheap).
pub async fn delete_expired(db: &Db) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM browser_sessions WHERE expires_at <= $1")
        .bind(now_ms())
        .execute(&db.writer)
        .await
        .context("deleting expired browser sessions")?;
    Ok(())
}
