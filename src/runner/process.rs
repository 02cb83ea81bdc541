//! Starting an attempt in a child process, and what its end means.
//!
//! The local pool and `vocloud worker` both run every attempt through [`Launcher::run`]:
//! - the child is forked by the attempt [forkserver](super::forkserver) (a fork of a small
//!   single-threaded process instead of an exec of the whole binary: see there why) and runs
//!   under a memory limit: `setrlimit(RLIMIT_DATA)`. RLIMIT_DATA (Linux ≥ 4.7) counts the heap
//!   and private writable mappings — what a kind allocates — and not file mappings or reserved
//!   address space, so it follows real use better than RLIMIT_AS. A cgroup (v2) would also bound
//!   the page cache and children, but needs a delegated subtree (systemd `Delegate=yes`, root)
//!   that a plain `vocloud serve` or a worker on an HPC login node does not have; this machine's
//!   hierarchy is cgroup v1. setrlimit works for any user, everywhere.
//! - it dies with its parent (`PR_SET_PDEATHSIG`, the forkserver's and its own): a killed master
//!   or worker leaves no attempt running behind its back.
//! - progress and the outcome come from `status.json` (see [`super::status`]); the exit status
//!   and the last lines of its stderr explain a death without an outcome.
//! - cancel is SIGTERM (run-job turns it into the job's cancellation token), then SIGKILL after
//!   a grace period. Signals go through a pidfd, so a recycled pid is never signalled.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use vocloud_workers::Progress;

use super::forkserver::{Event, ForkServer};
use super::{Outcome, status};

/// How often a running child's progress is read from its status.json.
const PROGRESS_POLL: Duration = super::run_job::PROGRESS_WRITE_INTERVAL;
/// Lines of the child's stderr kept to explain its death.
const STDERR_TAIL: usize = 20;
/// Longest stderr line kept (a runaway line must not grow the parent's memory).
const MAX_LINE: usize = 4096;
/// What Rust's default allocation-error handler prints before it aborts the process.
const ALLOCATION_FAILED: &str = "memory allocation of ";

/// How this process starts attempts.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The child's memory limit (RLIMIT_DATA), MiB.
    memory_mb: u64,
    /// How long a cancelled attempt may take to stop before it is killed.
    grace: Duration,
    forkserver: Arc<ForkServer>,
}

/// One attempt to run.
pub struct Attempt<'a> {
    pub job_id: &'a str,
    /// `jobs/<id>/` as this host sees it.
    pub job_dir: &'a Path,
    pub attempt: i64,
    /// Where it runs, for the job's diagnostics ("the local pool on host-a").
    pub runner: &'a str,
}

/// How the child ended: its exit status and the last lines it wrote to stderr.
struct Exit {
    status: std::io::Result<ExitStatus>,
    tail: VecDeque<String>,
}

impl Launcher {
    /// Attempts run by `binary` (its forkserver, started on first use) under `memory_mb`, with
    /// the deployment settings for jobs (`VOCLOUD_JOB_<KEY>`, see `JobContext::setting`) and the
    /// log filter of their stderr (relayed into this process's log).
    pub fn new(
        binary: PathBuf,
        memory_mb: u64,
        job_settings: Vec<(String, String)>,
        log_filter: &str,
        grace: Duration,
    ) -> Launcher {
        let env = job_settings
            .into_iter()
            .map(|(key, value)| (format!("VOCLOUD_JOB_{}", key.to_ascii_uppercase()), value))
            .chain([("VOCLOUD_LOG__FILTER".to_string(), log_filter.to_string())])
            .collect();
        Launcher { memory_mb, grace, forkserver: Arc::new(ForkServer::new(binary, env)) }
    }

    /// Runs `attempt` in a child process until it ends. `cancel` turning true stops it;
    /// `progress` gets each new progress report.
    pub async fn run(
        &self,
        attempt: Attempt<'_>,
        mut cancel: watch::Receiver<bool>,
        mut progress: impl FnMut(Progress),
    ) -> Outcome {
        let (child, mut exited) = match self.spawn(&attempt).await {
            Ok(started) => started,
            Err(e) => return Outcome::Retryable { message: format!("starting the attempt's process: {e}") },
        };
        let mut ticker = tokio::time::interval(PROGRESS_POLL);
        let mut last: Option<Progress> = None;
        let mut cancel_open = true;
        let mut terminated: Option<Instant> = None;
        let mut killed = false;
        let exit = loop {
            tokio::select! {
                exit = &mut exited => break exit.unwrap_or(Exit { status: Err(std::io::Error::other("supervisor thread lost")), tail: VecDeque::new() }),
                changed = cancel.changed(), if cancel_open && terminated.is_none() => {
                    cancel_open = changed.is_ok();
                    if changed.is_ok() && *cancel.borrow() {
                        child.signal(libc::SIGTERM);
                        terminated = Some(Instant::now());
                    }
                }
                _ = ticker.tick() => {
                    let latest = status::read(attempt.job_dir, attempt.attempt).and_then(|s| s.progress);
                    if let Some(p) = latest.filter(|p| last.as_ref() != Some(p)) {
                        last = Some(p.clone());
                        progress(p);
                    }
                    if !killed && terminated.is_some_and(|t| t.elapsed() >= self.grace) {
                        tracing::warn!(job.id = attempt.job_id, "the attempt did not stop within its grace period; killing it");
                        child.signal(libc::SIGKILL);
                        killed = true;
                    }
                }
            }
        };
        self.outcome(&attempt, exit, terminated.is_some())
    }

    /// Starts the child through the forkserver and returns a handle to signal it and the
    /// receiver of its exit; a supervisor thread relays its stderr meanwhile.
    async fn spawn(&self, attempt: &Attempt<'_>) -> std::io::Result<(ChildHandle, oneshot::Receiver<Exit>)> {
        let (reader, writer) = std::io::pipe()?;
        let forked =
            self.forkserver.start(attempt.job_dir, attempt.attempt, attempt.runner, self.memory_mb, writer.as_fd())?;
        // Only the child may hold the write end, so that its exit ends the relay.
        drop(writer);
        let (started_tx, started_rx) = oneshot::channel();
        let (exit_tx, exit_rx) = oneshot::channel();
        let job = attempt.job_id.to_string();
        std::thread::Builder::new().name(format!("attempt-{job}")).spawn(move || {
            let gone = || std::io::Error::other("the attempt forkserver ended");
            let exited = match forked.events.recv() {
                Ok(Event::Started { pid, pidfd }) => {
                    tracing::debug!(job.id = job, pid, "the attempt's process started");
                    let _ = started_tx.send(Ok(ChildHandle { pidfd }));
                    None
                }
                Ok(Event::Exited(status)) => Some(Ok(status)),
                Ok(Event::Failed(error)) => {
                    let _ = started_tx.send(Err(std::io::Error::other(error)));
                    return;
                }
                Err(_) => {
                    let _ = started_tx.send(Err(gone()));
                    return;
                }
            };
            let tail = relay_stderr(reader, &job);
            let status = exited.unwrap_or_else(|| {
                loop {
                    match forked.events.recv() {
                        Ok(Event::Exited(status)) => break Ok(status),
                        Ok(_) => continue,
                        Err(_) => break Err(gone()),
                    }
                }
            });
            let _ = exit_tx.send(Exit { status, tail });
        })?;
        let handle = started_rx.await.map_err(|_| std::io::Error::other("the supervisor thread died"))??;
        Ok((handle, exit_rx))
    }

    /// The attempt's outcome: what it recorded in status.json, else what its death says.
    fn outcome(&self, attempt: &Attempt<'_>, exit: Exit, cancelled: bool) -> Outcome {
        if let Some(outcome) = status::read(attempt.job_dir, attempt.attempt).and_then(|s| s.outcome) {
            return outcome;
        }
        let status = match exit.status {
            Ok(status) => status,
            Err(e) => return Outcome::Crashed { reason: format!("the job's process could not be waited for: {e}") },
        };
        if let Some(signal) = status.signal() {
            if cancelled && (signal == libc::SIGTERM || signal == libc::SIGKILL) {
                return Outcome::Cancelled;
            }
            // Rust's allocator reports a failed allocation on stderr, then aborts: under our
            // limit that is the job running out of memory.
            if signal == libc::SIGABRT && exit.tail.iter().any(|line| line.contains(ALLOCATION_FAILED)) {
                return Outcome::OutOfMemory { limit_mb: Some(self.memory_mb) };
            }
            return Outcome::Crashed { reason: crash_reason(signal) };
        }
        let last = exit.tail.iter().rev().find(|l| !l.trim().is_empty()).map(|l| format!(": {}", l.trim()));
        Outcome::Crashed {
            reason: format!(
                "the job's process exited with status {} without an outcome{}",
                status.code().unwrap_or(-1),
                last.unwrap_or_default()
            ),
        }
    }
}

/// "the job's process crashed: signal 11 (SIGSEGV)".
fn crash_reason(signal: i32) -> String {
    let name = match signal {
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGTERM => "SIGTERM",
        libc::SIGKILL => {
            return "the job's process was killed: signal 9 (SIGKILL; the kernel's out-of-memory killer does this)"
                .into();
        }
        _ => "",
    };
    match name {
        "" => format!("the job's process crashed: signal {signal}"),
        name => format!("the job's process crashed: signal {signal} ({name})"),
    }
}

/// Copies the child's stderr into this process's log, line by line, until the child closes it;
/// returns the last lines.
fn relay_stderr(stderr: std::io::PipeReader, job: &str) -> VecDeque<String> {
    let mut tail = VecDeque::with_capacity(STDERR_TAIL);
    let mut reader = BufReader::new(stderr);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                buffer.truncate(MAX_LINE);
                let line = String::from_utf8_lossy(&buffer).trim_end().to_string();
                tracing::info!(job.id = job, "attempt: {line}");
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
    }
    tail
}

/// Signals a child through its pidfd (a recycled pid can never be hit).
struct ChildHandle {
    pidfd: OwnedFd,
}

impl ChildHandle {
    fn signal(&self, signal: i32) {
        // SAFETY: a plain syscall on a descriptor we hold; failure (already gone) is fine.
        unsafe {
            libc::syscall(libc::SYS_pidfd_send_signal, self.pidfd.as_raw_fd(), signal, std::ptr::null::<u8>(), 0);
        }
    }
}

/// This host's name, for diagnostics.
pub fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    if ok { String::from_utf8_lossy(&buffer[..end]).into_owned() } else { String::new() }
}

/// The default memory limit of an attempt: half the machine's RAM, at most 8 GiB.
pub fn default_memory_mb() -> u64 {
    // SAFETY: sysconf only reads system constants.
    let (pages, page_size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    let ram_mb = (pages.max(0) as u64).saturating_mul(page_size.max(0) as u64) >> 20;
    (ram_mb / 2).clamp(256, 8192)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crashes_are_told_in_plain_words() {
        assert_eq!(crash_reason(libc::SIGSEGV), "the job's process crashed: signal 11 (SIGSEGV)");
        assert!(crash_reason(libc::SIGKILL).contains("killed: signal 9"));
        assert_eq!(crash_reason(63), "the job's process crashed: signal 63");
    }

    #[test]
    fn the_default_memory_limit_is_half_the_ram_capped() {
        let mb = default_memory_mb();
        assert!((256..=8192).contains(&mb), "{mb}");
    }
}
