//! What a job operation can fail with. Variants carry data, not preformatted text, so that
//! `crate::error` maps each to its HTTP status in one place and executors decide on variants.

use vocloud_workers::ParamError;

use super::quota::Usage;
use crate::uws::ExecutionPhase;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such job, or it belongs to someone else (we never reveal which).
    #[error("no such job")]
    NotFound,
    /// A kind parameter is missing, unknown or malformed.
    #[error(transparent)]
    Parameter(#[from] ParamError),
    /// A value other than a kind parameter is malformed (an experiment's name or description).
    #[error("{0}")]
    BadRequest(String),
    /// An input path names nothing in the owner's storage.
    #[error("parameter '{parameter}': '{path}' does not exist in {owner}'s storage")]
    MissingInput { parameter: String, path: String, owner: String },
    /// The request is valid but not in the job's current phase (UWS: 403).
    #[error("job is {phase}; {rule}")]
    NotAllowed { phase: ExecutionPhase, rule: &'static str },
    /// The kind runs the user's own code, which needs an admin's grant.
    #[error(
        "jobs of kind '{kind}' run your own programs, which needs a grant: ask an admin to run `vocloud user grant {user} {kind}`"
    )]
    NeedsGrant { kind: String, user: String },
    /// The kind's estimate of the job's memory exceeds `limits.max_job_memory_mb`.
    #[error("{kind} with {basis} needs about {}; the limit is {}", mib(*needed_mb), mib(*limit_mb))]
    TooMuchMemory { kind: String, basis: String, needed_mb: u64, limit_mb: u64 },
    /// The owner is over their storage quota: no new jobs until space is freed.
    #[error("{}: delete files or destroy jobs before creating new ones", usage.describe())]
    OverQuota { usage: Usage },
    /// An executor wrote to an attempt whose lease it no longer holds (aborted, destroyed,
    /// re-queued after a lapse, or held by someone else).
    #[error("attempt {attempt} of job {job} no longer holds its lease (aborted, destroyed or re-queued): stop it")]
    LeaseLost { job: String, attempt: i64 },
    #[error("no experiment '{0}'")]
    NoExperiment(String),
    #[error("experiment '{0}' already exists")]
    ExperimentExists(String),
    /// Deleting an experiment with its jobs while some of them run.
    #[error(
        "experiment '{name}' has {active} queued or running jobs; abort them first, or delete the experiment without delete_jobs to keep its jobs"
    )]
    ExperimentBusy { name: String, active: i64 },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// A size in MiB as people read it: "512 MiB", "8 GiB", "about 1 TB" style rounding.
pub fn mib(mb: u64) -> String {
    const UNITS: [&str; 5] = ["MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = mb as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 10.0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_figures_read_like_people_write_them() {
        assert_eq!(mib(512), "512 MiB");
        assert_eq!(mib(8192), "8 GiB");
        assert_eq!(mib(1536), "1.5 GiB");
        assert_eq!(mib(953_675), "931 GiB");
        assert_eq!(mib(2 * 1024 * 1024), "2 TiB");
    }
}
