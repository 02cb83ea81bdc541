//! The remote workers registered with this master, and the worker tokens they present. Worker
//! tokens are created and revoked by `auth` (`vocloud worker-token`); the fleet API asks here
//! who a token and a worker are.

pub use crate::db::fleet::WorkerRow;

use super::{JobService, Result};
use crate::db::{fleet as store, now_ms};

/// A live worker token, as a request presented it.
#[derive(Debug, Clone)]
pub struct WorkerToken {
    pub id: i64,
    pub name: String,
}

impl JobService {
    /// The live token whose secret is `secret` (only its hash is stored).
    pub async fn worker_token(&self, secret: &str) -> Result<Option<WorkerToken>> {
        let found = store::token_by_hash(self.db(), &crate::auth::token_hash(secret)).await?;
        Ok(found.map(|(id, name)| WorkerToken { id, name }))
    }

    pub async fn register_worker(&self, worker: &WorkerRow) -> Result<()> {
        Ok(store::insert_worker(self.db(), worker).await?)
    }

    /// The worker `id`, if it registered with `token`.
    pub async fn worker(&self, id: &str, token: &WorkerToken) -> Result<Option<WorkerRow>> {
        Ok(store::worker(self.db(), id, token.id).await?)
    }

    /// Notes that the worker was heard from now.
    pub async fn touch_worker(&self, id: &str) -> Result<()> {
        Ok(store::touch_worker(self.db(), id, now_ms()).await?)
    }

    /// Workers heard from since `since` (Unix ms), newest first.
    pub async fn workers_seen_since(&self, since: i64) -> Result<Vec<WorkerRow>> {
        Ok(store::workers_seen_since(self.db(), since).await?)
    }
}
