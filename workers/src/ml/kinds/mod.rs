//! The ML job kinds' parameters and compute on a [`super::collection::Collection`]: each module
//! has its parameter struct, the [`crate::ParamSpec`]s `GET /uws` shows, the checks made at job
//! creation, and `run_on`, which computes and writes the results, reporting progress and
//! stopping within a block of work when the job is aborted.

pub mod classify;
pub mod kmeans;
pub mod outliers;
pub mod pca;
pub mod preprocess;

use crate::{CancelToken, Failure};

/// A checkpoint the algorithms call from any thread: `Err(Cancelled)` once the job is aborted.
pub fn checkpoint(cancel: &CancelToken) -> impl Fn() -> Result<(), Failure> + Sync + use<> {
    let cancel = cancel.clone();
    move || if cancel.is_cancelled() { Err(Failure::Cancelled) } else { Ok(()) }
}

/// Names of the spectra's labels for tables: the label, or an empty string.
pub fn label_text(label: &Option<String>) -> crate::votable::Value {
    crate::votable::Value::Text(label.clone().unwrap_or_default())
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::{CancelToken, JobContext};

    /// A job context on a fresh temporary folder (kept alive by the returned guard).
    pub fn context() -> (tempfile::TempDir, JobContext) {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job");
        std::fs::create_dir_all(&job).unwrap();
        let ctx = JobContext::new(&job, 1, dir.path(), "test".into(), CancelToken::new());
        ctx.create_dirs().unwrap();
        (dir, ctx)
    }

    pub fn names(outputs: &crate::Outputs) -> Vec<&str> {
        outputs.results.iter().map(|r| r.name.as_str()).collect()
    }
}
