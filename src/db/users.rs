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
    .fetch_optional(&db.pool)
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
