//! The `users` table.

use anyhow::Context;
use sqlx::AssertSqlSafe;

use super::{Db, now_ms};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub password_hash: String,
    pub is_admin: i64,
    /// 1 when an admin disabled the account: it can neither log in nor use its tokens.
    pub disabled: i64,
}

const COLUMNS: &str = "id, name, password_hash, is_admin, disabled";

/// Inserts a user; `Ok(None)` if the name is taken.
pub async fn insert(db: &Db, name: &str, password_hash: &str, is_admin: bool) -> anyhow::Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO users (name, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(name)
    .bind(password_hash)
    .bind(i64::from(is_admin))
    .bind(now_ms())
    .fetch_optional(&db.writer)
    .await
    .context("inserting user")?;
    Ok(row.map(|r| r.0))
}

pub async fn by_name(db: &Db, name: &str) -> anyhow::Result<Option<UserRow>> {
    sqlx::query_as(AssertSqlSafe(format!("SELECT {COLUMNS} FROM users WHERE name = $1")))
        .bind(name)
        .fetch_optional(&db.pool)
        .await
        .context("looking up user by name")
}

pub async fn by_id(db: &Db, id: i64) -> anyhow::Result<Option<UserRow>> {
    sqlx::query_as(AssertSqlSafe(format!("SELECT {COLUMNS} FROM users WHERE id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .context("looking up user by id")
}

/// Grants `kind` to the user (kinds that run the user's own code need it); `Ok(false)` if no
/// such user. Granting twice is harmless.
pub async fn grant(db: &Db, name: &str, kind: &str) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO user_grants (user_id, kind, granted_at) SELECT id, $2, $3 FROM users WHERE name = $1 \
         ON CONFLICT (user_id, kind) DO NOTHING",
    )
    .bind(name)
    .bind(kind)
    .bind(now_ms())
    .execute(&db.writer)
    .await
    .context("granting a kind")?;
    Ok(done.rows_affected() > 0 || by_name(db, name).await?.is_some())
}

/// Withdraws a grant; `Ok(false)` if the user did not have it. Jobs created before keep running.
pub async fn revoke(db: &Db, name: &str, kind: &str) -> anyhow::Result<bool> {
    let done =
        sqlx::query("DELETE FROM user_grants WHERE kind = $2 AND user_id IN (SELECT id FROM users WHERE name = $1)")
            .bind(name)
            .bind(kind)
            .execute(&db.writer)
            .await
            .context("revoking a kind")?;
    Ok(done.rows_affected() > 0)
}

/// Whether the user was granted `kind`.
pub async fn has_grant(db: &Db, user_id: i64, kind: &str) -> anyhow::Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT user_id FROM user_grants WHERE user_id = $1 AND kind = $2")
        .bind(user_id)
        .bind(kind)
        .fetch_optional(&db.pool)
        .await
        .context("looking up a grant")?;
    Ok(row.is_some())
}
