//! The ML job kinds: each module has its parameter struct, the [`crate::ParamSpec`]s `GET /uws`
//! shows, the checks made at job creation, its [`crate::Kind`] (registered in
//! [`crate::Registry::builtin`]: reads `input` into a [`super::collection::Collection`],
//! estimates memory through [`estimate`]), and `run_on`, which computes on a collection and
//! writes the results, reporting progress and stopping within a block of work when the job is
//! aborted.

pub mod classify;
#[cfg(test)]
mod end_to_end;
pub mod estimate;
pub mod kmeans;
pub mod outliers;
pub mod pca;
pub mod preprocess;

use std::path::{Component, Path};

use crate::{CancelToken, Failure, ParamError};

/// Refuses a path parameter that could leave the owner's storage (`..`, an absolute or empty
/// path). The master checks posted paths too; this keeps the kinds safe wherever they run from a
/// `params.json`.
pub fn inside_storage(name: &str, path: &str) -> Result<(), ParamError> {
    let safe = !path.is_empty() && Path::new(path).components().all(|c| matches!(c, Component::Normal(_)));
    if safe { Ok(()) } else { Err(ParamError::invalid(name, format!("'{path}' is not a path inside your storage"))) }
}

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

    #[test]
    fn paths_leaving_the_storage_are_refused() {
        assert!(super::inside_storage("input", "spectra/a.fits").is_ok());
        for bad in ["../x", "a/../../b", "/etc/passwd", "", "./a"] {
            let err = super::inside_storage("input", bad).unwrap_err().to_string();
            assert!(err.contains("not a path inside your storage"), "{bad}: {err}");
        }
    }

    pub fn names(outputs: &crate::Outputs) -> Vec<&str> {
        outputs.results.iter().map(|r| r.name.as_str()).collect()
    }
}
