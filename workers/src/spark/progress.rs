//! Progress of a client-mode driver from its status REST API (`/api/v1` on the UI port we gave
//! it): completed tasks out of all tasks of the Spark jobs it has started so far.
//!
//! The port was free when we picked it, but another process could take it before the driver
//! binds it (Spark then moves on to the next port). So an application is trusted only once its
//! environment shows our job's tag; until then, and if it never does, there is no progress.

use std::time::Duration;

use serde_json::Value;

use super::command::JOB_PROPERTY;
use super::rest::Rest;

/// Task counts of the application, summed over its Spark jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskCounts {
    pub done: u64,
    pub total: u64,
    pub jobs: usize,
}

impl TaskCounts {
    pub fn fraction(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.done as f64 / self.total as f64 }
    }
}

pub struct ProgressProbe {
    rest: Rest,
    base: String,
    job_id: String,
    /// The application id, once its environment showed our job's tag.
    app: Option<String>,
}

impl ProgressProbe {
    pub fn new(ui_port: u16, job_id: &str) -> ProgressProbe {
        ProgressProbe {
            rest: Rest::new(Duration::from_secs(2)),
            base: format!("http://127.0.0.1:{ui_port}/api/v1"),
            job_id: job_id.to_string(),
            app: None,
        }
    }

    /// The counts now; `None` while the driver's UI is not up (or is not ours).
    pub fn poll(&mut self) -> Option<TaskCounts> {
        let app = match &self.app {
            Some(app) => app.clone(),
            None => {
                let app = self.find_app()?;
                self.app = Some(app.clone());
                app
            }
        };
        let jobs = self.rest.get_json(&format!("{}/applications/{app}/jobs", self.base)).ok()?;
        Some(count_tasks(&jobs))
    }

    fn find_app(&self) -> Option<String> {
        let apps = self.rest.get_json(&format!("{}/applications", self.base)).ok()?;
        let app = apps.get(0)?.get("id")?.as_str()?.to_string();
        let environment = self.rest.get_json(&format!("{}/applications/{app}/environment", self.base)).ok()?;
        is_tagged(&environment, &self.job_id).then_some(app)
    }
}

/// Whether the application's Spark properties carry `spark.vocloud.job = job_id`.
fn is_tagged(environment: &Value, job_id: &str) -> bool {
    let properties = environment.get("sparkProperties").and_then(Value::as_array);
    properties.into_iter().flatten().any(|pair| {
        pair.get(0).and_then(Value::as_str) == Some(JOB_PROPERTY) && pair.get(1).and_then(Value::as_str) == Some(job_id)
    })
}

/// Sums `/applications/{id}/jobs`: skipped tasks (stages reused from earlier jobs) count as done.
fn count_tasks(jobs: &Value) -> TaskCounts {
    let number = |job: &Value, key: &str| job.get(key).and_then(Value::as_u64).unwrap_or(0);
    let list = jobs.as_array().map(Vec::as_slice).unwrap_or_default();
    list.iter().fold(TaskCounts { done: 0, total: 0, jobs: list.len() }, |acc, job| TaskCounts {
        done: acc.done + number(job, "numCompletedTasks") + number(job, "numSkippedTasks"),
        total: acc.total + number(job, "numTasks"),
        jobs: acc.jobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tasks_are_summed_over_jobs() {
        let jobs = json!([
            {"jobId": 1, "status": "RUNNING", "numTasks": 8, "numCompletedTasks": 3, "numSkippedTasks": 0},
            {"jobId": 0, "status": "SUCCEEDED", "numTasks": 4, "numCompletedTasks": 2, "numSkippedTasks": 2}
        ]);
        let counts = count_tasks(&jobs);
        assert_eq!(counts, TaskCounts { done: 7, total: 12, jobs: 2 });
        assert!((counts.fraction() - 7.0 / 12.0).abs() < 1e-12);
        assert_eq!(count_tasks(&json!({"error": 1})).fraction(), 0.0);
    }

    #[test]
    fn only_our_application_is_trusted() {
        let environment = json!({"sparkProperties": [["spark.app.name", "x"], ["spark.vocloud.job", "1abc"]]});
        assert!(is_tagged(&environment, "1abc"));
        assert!(!is_tagged(&environment, "2def"));
        assert!(!is_tagged(&json!({}), "1abc"));
    }
}
