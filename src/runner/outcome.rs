//! How an attempt ended. The same value travels every way an outcome can: written by `run-job`
//! into `status.json`, sent by `vocloud worker` in its finish request, handed by the local pool
//! to the job service. The job service alone decides what it means for the job's phase.

use serde::{Deserialize, Serialize};
use vocloud_workers::{Failure, Outputs, ResultFile};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Outcome {
    /// The kind finished; `results` are the files it wrote, with the MIME types it knows.
    Completed { results: Vec<ResultFile> },
    /// The kind failed for good (bad input, impossible parameters): the job ends in ERROR.
    Failed { message: String },
    /// The kind failed in a way another attempt may not (a flaky mount): the job is re-queued.
    Retryable { message: String },
    /// The attempt stopped because it was asked to (abort, overrun, lost lease).
    Cancelled,
    /// The attempt's process died without an outcome (a signal, an abort, a panic). Retried
    /// until the job's process has crashed `executors.max_crashes` times.
    Crashed { reason: String },
    /// The attempt's process ran out of memory under its limit (MiB, when known). Another
    /// attempt under the same limit would too: the job ends in ERROR.
    OutOfMemory { limit_mb: Option<u64> },
}

impl Outcome {
    pub fn is_completed(&self) -> bool {
        matches!(self, Outcome::Completed { .. })
    }
}

impl From<Result<Outputs, Failure>> for Outcome {
    fn from(result: Result<Outputs, Failure>) -> Self {
        match result {
            Ok(outputs) => Outcome::Completed { results: outputs.results },
            Err(Failure::Fatal(message)) => Outcome::Failed { message },
            Err(Failure::Retryable(message)) => Outcome::Retryable { message },
            Err(Failure::Cancelled) => Outcome::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_json_with_a_state_tag() {
        let all = [
            Outcome::Completed { results: vec![ResultFile { name: "a.txt".into(), mime_type: "text/plain".into() }] },
            Outcome::Failed { message: "bad".into() },
            Outcome::Retryable { message: "again".into() },
            Outcome::Cancelled,
            Outcome::Crashed { reason: "signal 11".into() },
            Outcome::OutOfMemory { limit_mb: Some(512) },
        ];
        for outcome in all {
            let text = serde_json::to_string(&outcome).unwrap();
            assert!(text.starts_with("{\"state\":"), "{text}");
            assert_eq!(serde_json::from_str::<Outcome>(&text).unwrap(), outcome);
        }
    }
}
