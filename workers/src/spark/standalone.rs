//! Cluster mode on a standalone master: the driver runs on a cluster worker, so the attempt
//! follows it through the master's REST submission server (`spark://host:6066`) instead of
//! owning a process, and can be replaced by another attempt that follows the same driver.
//!
//! The submission id is recorded in the job's work folder (`work/spark-submission.json`, not an
//! attempt's), so when a worker or the master restarts, the next attempt finds the driver still
//! running (or finished) and follows it instead of submitting the program a second time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rest::Rest;

/// The job's record of its submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionRecord {
    pub submission_id: String,
    /// The master it was submitted to; a record for another master is not followed.
    pub master: String,
    /// The results folder (on this host) the driver writes into: the submitting attempt's.
    pub results: PathBuf,
}

pub fn record_path(job_dir: &Path) -> PathBuf {
    job_dir.join("work").join("spark-submission.json")
}

impl SubmissionRecord {
    pub fn read(job_dir: &Path) -> Option<SubmissionRecord> {
        serde_json::from_slice(&std::fs::read(record_path(job_dir)).ok()?).ok()
    }

    /// Written to a temp name and renamed, so a reader never sees half a record.
    pub fn write(&self, job_dir: &Path) -> std::io::Result<()> {
        let path = record_path(job_dir);
        let tmp = path.with_extension("json.partial");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())?;
        std::fs::rename(tmp, path)
    }
}

/// A driver's state as the master reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverStatus {
    pub state: String,
    pub worker_id: Option<String>,
    /// The master's message (an exception for state ERROR).
    pub message: Option<String>,
}

impl DriverStatus {
    /// Still going (or about to): SUBMITTED, RUNNING, RELAUNCHING, UNKNOWN (worker lost, the
    /// master waits to hear).
    pub fn is_active(&self) -> bool {
        matches!(self.state.as_str(), "SUBMITTED" | "RUNNING" | "RELAUNCHING" | "UNKNOWN")
    }

    pub fn is_finished(&self) -> bool {
        self.state == "FINISHED"
    }
}

pub struct Standalone {
    rest: Rest,
    /// `http://host:port/v1/submissions`
    base: String,
    master_web_ui: Option<String>,
}

impl Standalone {
    /// For the master `spark://host_port` (its REST port) and, optionally, its web UI.
    pub fn new(host_port: &str, master_web_ui: Option<&str>) -> Standalone {
        Standalone {
            rest: Rest::new(Duration::from_secs(10)),
            base: format!("http://{host_port}/v1/submissions"),
            master_web_ui: master_web_ui.map(|u| u.trim_end_matches('/').to_string()),
        }
    }

    /// The driver's status; `Ok(None)` when the master does not know the submission (it
    /// restarted without recovery, or the id is another master's).
    pub fn status(&self, submission_id: &str) -> Result<Option<DriverStatus>, String> {
        let answer = self.rest.get_json(&format!("{}/status/{submission_id}", self.base))?;
        Ok(parse_status(&answer))
    }

    /// Asks the master to kill the driver (and with it the application).
    pub fn kill(&self, submission_id: &str) -> Result<(), String> {
        let answer = self.rest.post_json(&format!("{}/kill/{submission_id}", self.base))?;
        match answer.get("success").and_then(Value::as_bool) {
            Some(true) => Ok(()),
            _ => Err(text(&answer, "message").unwrap_or_else(|| "the master refused the kill".into())),
        }
    }

    /// The end of the driver's `stream` (`stdout`/`stderr`) from the worker that ran it, through
    /// the master's web UI (which knows the workers' UIs).
    pub fn driver_log(&self, submission_id: &str, worker_id: &str, stream: &str) -> Result<String, String> {
        let ui = self.master_web_ui.as_ref().ok_or("spark.master_web_ui is not set")?;
        let master = self.rest.get_json(&format!("{ui}/json/"))?;
        let workers = master.get("workers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let worker_ui = workers
            .iter()
            .find(|w| w.get("id").and_then(Value::as_str) == Some(worker_id))
            .and_then(|w| text(w, "webuiaddress"))
            .ok_or_else(|| format!("the master no longer lists worker {worker_id}"))?;
        let url = format!(
            "{}/log/?driverId={submission_id}&logType={stream}&byteLength=1048576",
            worker_ui.trim_end_matches('/')
        );
        self.rest.get_text(&url)
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

fn parse_status(answer: &Value) -> Option<DriverStatus> {
    if answer.get("success").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    Some(DriverStatus {
        state: text(answer, "driverState")?,
        worker_id: text(answer, "workerId"),
        message: text(answer, "message"),
    })
}

/// The submission id in `spark-submit`'s output ("Submission successfully created as
/// driver-20261203235402-0000", or the JSON answer's `"submissionId" : "…"`).
pub fn submission_id(output: &str) -> Option<String> {
    output.lines().rev().find_map(|line| {
        let start = line.find("driver-")?;
        let id: String =
            line[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        (id.len() > "driver-".len()).then_some(id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_submission_id_comes_from_the_client_output() {
        let output = "26/12/03 23:54:03 INFO RestSubmissionClient: Submission successfully created as \
                      driver-20261203235402-0000. Polling submission state...\n  \"success\" : true\n";
        assert_eq!(submission_id(output).as_deref(), Some("driver-20261203235402-0000"));
        assert_eq!(submission_id("Exception in thread main\n"), None);
    }

    #[test]
    fn statuses_and_unknown_submissions() {
        let running = json!({"action": "SubmissionStatusResponse", "driverState": "RUNNING", "success": true,
                             "workerId": "worker-1"});
        let status = parse_status(&running).unwrap();
        assert!(status.is_active() && !status.is_finished());
        assert_eq!(status.worker_id.as_deref(), Some("worker-1"));
        assert!(!parse_status(&json!({"driverState": "FAILED", "success": true})).unwrap().is_active());
        assert_eq!(parse_status(&json!({"submissionId": "driver-x", "success": false})), None);
    }

    #[test]
    fn the_record_round_trips_through_the_job_folder() {
        let dir = std::env::temp_dir().join(format!("vocloud-spark-record-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("work")).unwrap();
        let record = SubmissionRecord {
            submission_id: "driver-1".into(),
            master: "spark://m:6066".into(),
            results: dir.join("work/attempt-1/results"),
        };
        record.write(&dir).unwrap();
        assert_eq!(SubmissionRecord::read(&dir), Some(record));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
