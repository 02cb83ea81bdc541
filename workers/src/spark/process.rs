//! The `spark-submit` process of an attempt, in a process group of its own that never outlives
//! the attempt.
//!
//! A PySpark driver is two processes: the JVM that `spark-submit` becomes, and the Python
//! program, a child of the JVM. PR_SET_PDEATHSIG on `spark-submit` would kill the JVM when the
//! attempt's process dies, but the Python program would live on (measured: it keeps running
//! after a SIGKILL of the JVM). So both go in a process group led by a watchdog: `/bin/sh` reading
//! a pipe whose writing end only the attempt's process holds. When that process ends, however
//! it ends (SIGKILL included), the pipe closes, the read returns, and the watchdog kills its
//! whole group. While the attempt lives, [`DriverProcess::stop`] signals the group itself.

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::command::SubmitCommand;

/// The watchdog's script: a constant, with no job data in it. `read` returns at end of file,
/// i.e. when the attempt's process (the only writer) has gone; `kill 0` signals the group.
const WATCHDOG: &str = "read _unused; kill -KILL 0";

/// A running `spark-submit` and its group.
pub struct DriverProcess {
    /// Leads the group; kept unreaped until drop, so its pid (the group id) cannot be reused.
    watchdog: Child,
    submit: Child,
    group: i32,
}

impl DriverProcess {
    /// Starts `command` in `work_dir` with its output (both streams) appended to `log`.
    pub fn start(command: &SubmitCommand, work_dir: &Path, log: &File) -> io::Result<DriverProcess> {
        let mut watchdog = Command::new("/bin/sh")
            .args(["-c", WATCHDOG])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let group = watchdog.id() as i32;
        let submit = Command::new(&command.executable)
            .args(&command.args)
            .env_clear()
            .envs(&command.env)
            .current_dir(work_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?)
            .process_group(group)
            .spawn();
        match submit {
            Ok(submit) => Ok(DriverProcess { watchdog, submit, group }),
            Err(e) => {
                signal_group(group, libc::SIGKILL);
                let _ = watchdog.wait();
                Err(e)
            }
        }
    }

    /// The exit status, once `spark-submit` has ended.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.submit.try_wait()
    }

    /// Stops the driver: SIGTERM to the group (Spark then stops its context and tells the master),
    /// SIGKILL after `grace` if `spark-submit` is still there.
    pub fn stop(&mut self, grace: Duration) {
        signal_group(self.group, libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !matches!(self.submit.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(self.group, libc::SIGKILL);
        let _ = self.submit.wait();
    }
}

impl Drop for DriverProcess {
    /// Whatever is left of the group (Python workers of a finished program) goes with it.
    fn drop(&mut self) {
        signal_group(self.group, libc::SIGKILL);
        let _ = self.submit.wait();
        let _ = self.watchdog.wait();
    }
}

fn signal_group(group: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe {
        libc::kill(-group, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn shell(script: &str) -> SubmitCommand {
        let env = BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
        SubmitCommand {
            executable: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env,
            resources: String::new(),
        }
    }

    fn alive(pid: i32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    #[test]
    fn stop_takes_the_grandchildren_too() {
        let dir = std::env::temp_dir();
        let log = tempfile_in(&dir);
        let script = "sleep 600 & echo $! > \"$0\"; wait";
        let pid_file = dir.join(format!("vocloud-spark-grandchild-{}", std::process::id()));
        let mut command = shell(script);
        command.args.push(pid_file.display().to_string());
        let mut driver = DriverProcess::start(&command, &dir, &log).unwrap();
        let grandchild = wait_for_pid(&pid_file);
        assert!(alive(grandchild));
        let start = Instant::now();
        driver.stop(Duration::from_secs(2));
        drop(driver);
        assert!(start.elapsed() < Duration::from_secs(3));
        std::thread::sleep(Duration::from_millis(100));
        assert!(!alive(grandchild) || is_zombie(grandchild), "the grandchild outlived stop()");
        let _ = std::fs::remove_file(pid_file);
    }

    #[test]
    fn only_the_given_environment_gets_through() {
        let dir = std::env::temp_dir();
        let log_path = dir.join(format!("vocloud-spark-env-{}", std::process::id()));
        let log = File::create(&log_path).unwrap();
        let mut command = shell("echo \"[$PATH][$HOME][$CARGO]\"");
        command.env.insert("HOME".into(), "/h".into());
        let mut driver = DriverProcess::start(&command, &dir, &log).unwrap();
        while driver.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(std::fs::read_to_string(&log_path).unwrap().trim(), "[/usr/bin:/bin][/h][]");
        let _ = std::fs::remove_file(log_path);
    }

    fn tempfile_in(dir: &Path) -> File {
        File::create(dir.join(format!("vocloud-spark-log-{}", std::process::id()))).unwrap()
    }

    fn wait_for_pid(path: &Path) -> i32 {
        for _ in 0..200 {
            if let Some(pid) = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()) {
                return pid;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no pid written to {}", path.display());
    }

    fn is_zombie(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
    }
}
