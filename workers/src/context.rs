//! What a running job gets from its executor: its folders, a way to report progress, and a
//! cancellation token that the executor trips on ABORT, execution-duration overrun or DELETE.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::Failure;

/// How far a job has got, shown in the job's `jobInfo` and the web UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Fraction done, 0 to 1.
    pub fraction: f64,
    /// What the job is doing now ("epoch 3/10, qe 0.41").
    pub message: String,
}

/// A user's storage quota and what they used when the job started, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quota {
    /// The quota; `None` means unlimited.
    pub quota: Option<u64>,
    pub used: u64,
}

impl Quota {
    /// Bytes the job may still write.
    pub fn available(&self) -> u64 {
        self.quota.map_or(u64::MAX, |q| q.saturating_sub(self.used))
    }
}

/// A flag the executor sets to stop a job; jobs poll it or sleep on it.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<(Mutex<bool>, Condvar)>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        let (flag, wake) = &*self.0;
        *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps for `duration` or until cancelled; returns true if cancelled.
    pub fn sleep(&self, duration: Duration) -> bool {
        let (flag, wake) = &*self.0;
        let deadline = Instant::now() + duration;
        let mut cancelled = flag.lock().unwrap_or_else(|e| e.into_inner());
        while !*cancelled {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            cancelled = wake.wait_timeout(cancelled, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }
}

/// `jobs/<id>/work/attempt-<n>/`: where attempt `n` of a job works and stages its results.
pub fn attempt_dir(job_dir: &Path, attempt: i64) -> PathBuf {
    job_dir.join("work").join(format!("attempt-{attempt}"))
}

type ProgressSink = Box<dyn Fn(Progress) + Send + Sync>;

/// Everything a job may touch. Paths are absolute on the machine that runs the job.
pub struct JobContext {
    /// `jobs/<id>/`: holds `params.json`.
    pub job_dir: PathBuf,
    /// `jobs/<id>/work/attempt-<n>/`: this attempt's scratch space, kept for debugging.
    pub work_dir: PathBuf,
    /// `jobs/<id>/work/attempt-<n>/results/`: every file here becomes a UWS result when the
    /// attempt ends and the master accepts its outcome. Each attempt has its own folder, so a
    /// worker that lost its lease can never overwrite the results of the attempt that replaced it.
    pub results_dir: PathBuf,
    /// The owner's storage root (`users/<owner>/`), against which input paths resolve.
    pub user_dir: PathBuf,
    /// A line for diagnostics: where the job runs ("local pool on host x", "worker w1").
    pub runner: String,
    pub cancel: CancelToken,
    progress: ProgressSink,
    /// Deployment settings for job kinds (see [`JobContext::setting`]).
    settings: Vec<(String, String)>,
}

impl JobContext {
    pub fn new(job_dir: &Path, attempt: i64, user_dir: &Path, runner: String, cancel: CancelToken) -> Self {
        let work_dir = attempt_dir(job_dir, attempt);
        JobContext {
            job_dir: job_dir.to_path_buf(),
            results_dir: work_dir.join("results"),
            work_dir,
            user_dir: user_dir.to_path_buf(),
            runner,
            cancel,
            progress: Box::new(|_| {}),
            settings: Vec::new(),
        }
    }

    /// Creates this attempt's folders (the job folder itself must exist: a job destroyed
    /// meanwhile is not brought back).
    pub fn create_dirs(&self) -> std::io::Result<()> {
        // One level at a time below the job folder, never the job folder itself: a DELETE that
        // removes the folder between a check and a recursive create would otherwise see it
        // come back; here the first `create_dir` then fails with NotFound.
        let below = self.results_dir.strip_prefix(&self.job_dir).map_err(std::io::Error::other)?;
        let mut dir = self.job_dir.clone();
        for part in below.components() {
            dir.push(part);
            match std::fs::create_dir(&dir) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(std::io::Error::new(e.kind(), "the job folder is gone (job destroyed?)"));
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// Gives the job a deployment setting (the executor passes what the operator configured,
    /// e.g. `import_allow_private_addresses`).
    pub fn with_setting(mut self, key: &str, value: impl Into<String>) -> Self {
        self.settings.push((key.to_string(), value.into()));
        self
    }

    /// A deployment setting: the environment variable `VOCLOUD_JOB_<KEY>` (upper case) of the
    /// process running the job — which the local pool and `vocloud worker` set from their own
    /// configuration when they start the attempt — else the value of this process's own
    /// configuration ([`JobContext::with_setting`]). Settings never come from clients.
    pub fn setting(&self, key: &str) -> Option<String> {
        std::env::var(format!("VOCLOUD_JOB_{}", key.to_ascii_uppercase()))
            .ok()
            .or_else(|| self.settings.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    /// A boolean setting ("true"/"1"/"yes"); false when unset.
    pub fn flag(&self, key: &str) -> bool {
        self.setting(key).is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"))
    }

    /// Sends progress reports to `sink` (the executor forwards them to the master).
    pub fn with_progress(mut self, sink: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Box::new(sink);
        self
    }

    pub fn progress(&self, fraction: f64, message: impl Into<String>) {
        (self.progress)(Progress { fraction: fraction.clamp(0.0, 1.0), message: message.into() });
    }

    /// Returns `Err(Failure::Cancelled)` once the job has been cancelled: use with `?` in loops.
    pub fn checkpoint(&self) -> Result<(), Failure> {
        if self.cancel.is_cancelled() { Err(Failure::Cancelled) } else { Ok(()) }
    }

    /// The owner's storage quota as the master saw it when it handed the job out
    /// (`jobs/<id>/quota.json`); `None` when there is no quota or no file (older masters).
    pub fn quota(&self) -> Option<Quota> {
        let text = std::fs::read(self.job_dir.join("quota.json")).ok()?;
        let quota: Quota = serde_json::from_slice(&text).ok()?;
        quota.quota.is_some().then_some(quota)
    }

    /// The absolute path of an input named by a validated user-relative path.
    pub fn input(&self, relative: &str) -> PathBuf {
        self.user_dir.join(relative)
    }

    /// Writes a result file atomically (temp file + rename), so readers never see half a file.
    pub fn write_result(&self, name: &str, bytes: &[u8]) -> Result<(), Failure> {
        let tmp = self.results_dir.join(format!(".{name}.partial"));
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, self.results_dir.join(name)))
            .map_err(|e| Failure::Retryable(format!("writing result {name}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_wakes_a_sleeper_early() {
        let token = CancelToken::new();
        let other = token.clone();
        let start = Instant::now();
        let t = std::thread::spawn(move || other.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(50));
        token.cancel();
        assert!(t.join().unwrap());
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(!CancelToken::new().sleep(Duration::from_millis(1)));
    }
}
