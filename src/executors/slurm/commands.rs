//! The Slurm command-line tools as functions: `sbatch`, `squeue`, `scontrol`, `sacct -c`,
//! `scancel`. Output parsing is pure and unit-tested; see `docs/refs/slurm.md` for the
//! formats (verified on Slurm 22.05).

use std::process::Command;

use anyhow::{Context, bail};

/// What one `sbatch` needs.
#[derive(Debug, Clone)]
pub struct Submission {
    pub name: String,
    pub workdir: std::path::PathBuf,
    pub time_minutes: Option<u64>,
    pub cores: u32,
    pub memory_mb: Option<u64>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub extra_args: Vec<String>,
    /// The command the job runs (`exec`ed, so scancel's SIGTERM reaches it directly).
    pub command: Vec<String>,
}

fn run(program: &str, args: &[String]) -> anyhow::Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program} (is Slurm installed?)"))?;
    if !output.status.success() {
        bail!("{program} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Quotes one word for the shell line `--wrap` runs.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

pub fn sbatch_args(s: &Submission) -> Vec<String> {
    let mut args = vec![
        "--parsable".to_string(),
        format!("--job-name={}", s.name),
        format!("--chdir={}", s.workdir.display()),
        format!("--output={}", s.workdir.join("slurm-%j.out").display()),
        format!("--cpus-per-task={}", s.cores.max(1)),
        "--no-requeue".to_string(),
    ];
    if let Some(minutes) = s.time_minutes {
        args.push(format!("--time={minutes}"));
    }
    if let Some(mb) = s.memory_mb {
        args.push(format!("--mem={mb}M"));
    }
    if let Some(p) = &s.partition {
        args.push(format!("--partition={p}"));
    }
    if let Some(a) = &s.account {
        args.push(format!("--account={a}"));
    }
    args.extend(s.extra_args.iter().cloned());
    let line = s.command.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ");
    args.push(format!("--wrap=exec {line}"));
    args
}

/// Submits and returns Slurm's job id.
pub fn sbatch(s: &Submission) -> anyhow::Result<String> {
    parse_sbatch(&run("sbatch", &sbatch_args(s))?)
}

/// `sbatch --parsable` prints `42` or `42;cluster`.
pub fn parse_sbatch(out: &str) -> anyhow::Result<String> {
    let id = out.trim().split(';').next().unwrap_or("").trim();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("sbatch printed no job id: '{}'", out.trim());
    }
    Ok(id.to_string())
}

/// Slurm's view of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    pub id: String,
    /// `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, … (`%T`).
    pub state: String,
    /// `N:S`: the script's exit status and the signal that ended it, when known.
    pub exit_code: Option<String>,
}

/// States of many jobs in one call (only jobs Slurm still remembers; see MinJobAge).
pub fn squeue(ids: &[String]) -> anyhow::Result<Vec<JobState>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let args = vec!["-h".into(), "-t".into(), "all".into(), "-j".into(), ids.join(","), "-o".into(), "%i|%T".into()];
    match run("squeue", &args) {
        Ok(out) => Ok(parse_squeue(&out)),
        // squeue fails outright when none of the ids is known any more.
        Err(e) if e.to_string().contains("Invalid job id") => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

pub fn parse_squeue(out: &str) -> Vec<JobState> {
    out.lines()
        .filter_map(|line| {
            let (id, state) = line.trim().split_once('|')?;
            Some(JobState { id: id.to_string(), state: state.to_string(), exit_code: None })
        })
        .collect()
}

/// The job's record from `scontrol show job -o` (state and exit code), while Slurm remembers it.
pub fn scontrol(id: &str) -> anyhow::Result<Option<JobState>> {
    let args = vec!["show".into(), "job".into(), "-o".into(), id.to_string()];
    match run("scontrol", &args) {
        Ok(out) => Ok(parse_scontrol(id, &out)),
        Err(e) if e.to_string().contains("Invalid job id") => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn parse_scontrol(id: &str, out: &str) -> Option<JobState> {
    let field = |name: &str| {
        out.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(str::to_string)
    };
    Some(JobState { id: id.to_string(), state: field("JobState")?, exit_code: field("ExitCode") })
}

/// The last completion record of the job in the jobcomp file (`sacct -c`), for jobs Slurm no
/// longer remembers. Sites without a jobcomp file simply get `None`.
pub fn sacct_completion(id: &str) -> Option<JobState> {
    let args = ["-c", "-n", "-P", "-o", "jobid,state,exitcode", "-j", id].map(String::from);
    let out = run("sacct", &args).ok()?;
    parse_sacct(id, &out)
}

pub fn parse_sacct(id: &str, out: &str) -> Option<JobState> {
    // A requeued job has several lines; the last one is the final word.
    let line = out.lines().rev().find(|l| l.starts_with(&format!("{id}|")))?;
    let mut parts = line.trim().split('|');
    let (_, state, exit) = (parts.next()?, parts.next()?, parts.next()?);
    // "CANCELLED by 0" → "CANCELLED"
    let state = state.split_whitespace().next()?.to_string();
    Some(JobState { id: id.to_string(), state, exit_code: Some(exit.to_string()) })
}

/// The Slurm job ids of jobs named `name` (to find a submission whose id we did not record).
pub fn find_by_name(name: &str) -> anyhow::Result<Vec<String>> {
    let args = ["-h", "-t", "all", "-n", name, "-o", "%i"].map(String::from);
    Ok(run("squeue", &args)?.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect())
}

pub fn scancel(id: &str) -> anyhow::Result<()> {
    run("scancel", &[id.to_string()]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_tools_print() {
        assert_eq!(parse_sbatch("42\n").unwrap(), "42");
        assert_eq!(parse_sbatch("42;cluster\n").unwrap(), "42");
        assert!(parse_sbatch("sbatch: error\n").is_err());
        assert_eq!(parse_squeue("12|RUNNING\n13|PENDING\n").len(), 2);
        let line = "JobId=12 JobName=vocloud-x UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=3:0 RunTime=00:00:01";
        let state = parse_scontrol("12", line).unwrap();
        assert_eq!((state.state.as_str(), state.exit_code.as_deref()), ("FAILED", Some("3:0")));
        let sacct = "12|NODE_FAIL|0:0\n13|COMPLETED|0:0\n12|CANCELLED by 0|0:15\n";
        let state = parse_sacct("12", sacct).unwrap();
        assert_eq!((state.state.as_str(), state.exit_code.as_deref()), ("CANCELLED", Some("0:15")));
        assert!(parse_sacct("99", sacct).is_none());
    }

    #[test]
    fn the_wrapped_command_is_quoted_for_the_shell() {
        let s = Submission {
            name: "vocloud-1".into(),
            workdir: "/data/jobs/1/work/attempt-1".into(),
            time_minutes: Some(2),
            cores: 4,
            memory_mb: None,
            partition: Some("short".into()),
            account: None,
            extra_args: vec!["--qos=low".into()],
            command: vec!["/opt/vocloud".into(), "run-job".into(), "/data/it's here".into()],
        };
        let args = sbatch_args(&s);
        assert!(args.contains(&"--time=2".to_string()) && args.contains(&"--partition=short".to_string()));
        assert!(args.contains(&"--cpus-per-task=4".to_string()) && args.contains(&"--qos=low".to_string()));
        assert_eq!(args.last().unwrap(), r"--wrap=exec '/opt/vocloud' 'run-job' '/data/it'\''s here'");
    }
}
