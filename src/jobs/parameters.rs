//! A job's parameters, in one place: the database holds them — as the client posted them (which
//! UWS echoes) and as typed values with defaults (what the job runs with). Validation checks the
//! values against the kind, input paths against the *owner's* storage, and the kind's memory
//! estimate against `limits.max_job_memory_mb`. `jobs/<id>/params.json` is a snapshot written
//! once, when the first attempt is handed out, for `vocloud run-job` to read: creating a job
//! costs no folder and no file, and a PENDING job's parameters can change in one conditional
//! database update.

use anyhow::Context;
use serde_json::{Map, Value, json};
use vocloud_workers::{DynKind, ParamType};

use super::{Error, JobService, Result};
use crate::storage::RelPath;

/// Parameters that passed validation.
pub struct Validated {
    /// Typed values, defaults filled in.
    pub typed: Map<String, Value>,
    /// The values exactly as posted (name → text).
    pub posted: Map<String, Value>,
}

impl JobService {
    /// Checks posted kind parameters of a job owned by `owner`: each value against the kind,
    /// input paths against the owner's storage (read only: no folder is created), and the
    /// kind's memory estimate against the operator's limit.
    pub(super) fn validate(&self, kind: &dyn DynKind, owner: &str, posted: Vec<(String, String)>) -> Result<Validated> {
        let typed = kind.validate(&posted)?;
        let user_root = self.storage().user_root(owner);
        for spec in kind.parameters().iter().filter(|s| s.kind == ParamType::Path) {
            let Some(Value::String(path)) = typed.get(spec.name) else {
                continue;
            };
            let rel =
                RelPath::parse(path).map_err(|e| vocloud_workers::ParamError::invalid(spec.name, e.to_string()))?;
            let mut full = user_root.clone();
            full.extend(rel.as_string().split('/').filter(|p| !p.is_empty()));
            if !full.exists() {
                return Err(Error::MissingInput {
                    parameter: spec.name.to_string(),
                    path: path.clone(),
                    owner: owner.to_string(),
                });
            }
        }
        kind.check_inputs(&typed, &user_root)?;
        self.check_memory(kind, &typed, &user_root)?;
        let posted = posted.into_iter().map(|(name, value)| (name, Value::String(value))).collect();
        Ok(Validated { typed, posted })
    }

    fn check_memory(&self, kind: &dyn DynKind, typed: &Map<String, Value>, user_root: &std::path::Path) -> Result<()> {
        let limit_mb = self.limits().job_memory_mb();
        let resources = kind.resources(typed, user_root);
        match resources.memory_mb {
            Some(needed_mb) if needed_mb > limit_mb => {
                Err(Error::TooMuchMemory { kind: kind.name().to_string(), basis: resources.basis, needed_mb, limit_mb })
            }
            _ => Ok(()),
        }
    }

    /// Writes `jobs/<id>/params.json` (and the folder) if this is the job's first attempt; the
    /// snapshot never changes afterwards, as parameters only change while PENDING. Returns
    /// whether it created the folder.
    pub(super) async fn write_snapshot(&self, id: &str, kind: &str, owner: &str, typed: &str) -> anyhow::Result<bool> {
        let parameters: Map<String, Value> = serde_json::from_str(typed).context("stored parameters")?;
        let doc = json!({ "kind": kind, "owner": owner, "parameters": parameters });
        let bytes = serde_json::to_vec_pretty(&doc)?;
        let storage = self.storage().clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || {
            if storage.job_dir(&id).join("params.json").exists() {
                return Ok(false);
            }
            storage.create_job_dir(&id, &bytes).map(|()| true)
        })
        .await
        .context("joining the snapshot write")?
        .context("writing the job's params.json")
    }
}
