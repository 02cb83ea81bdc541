//! The `api_tokens` table. Only a SHA-256 of each token is stored: tokens are long random
//! strings, so a fast hash is enough and a database leak reveals no usable token.

use anyhow::Context;

use super::users::UserRow;
use super::{Db, now_ms};

pub async fn insert(db: &Db, user_id: i64, token_hash: &str) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(token_hash)
        .bind(now_ms())
        .execute(&db.writer)
        .await
        .context("inserting token")?;
    Ok(())
}

/// The user a live (not revoked) token belongs to.
pub async fn user_by_hash(db: &Db, token_hash: &str) -> anyhow::Result<Option<UserRow>> {
    sqlx::query_as(
        "SELECT u.id, u.name, u.password_hash, u.is_admin, u.disabled FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled = 0",
    )
    .bind(token_hash)
    .fetch_optional(&db.pool)
    .await
    .context("looking up token")
}
