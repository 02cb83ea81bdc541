//! The `diag` kind: sleeps (abortably), then fails on request or writes a short report.
//! Operators use it to check the fleet end to end; tests use it to drive the job life cycle.
//!
//! `crash` is an operator check of the attempt process: after the sleep the job's process
//! aborts (`abort`), segfaults (`segv`) or allocates without bound (`oom`, in untouched pages,
//! so it costs address space, not RAM). The job must then end in ERROR with the reason while the
//! service, and every other job, keeps running.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Failure, JobContext, Kind, Outputs, ParamSpec, ParamType, Resources, ResultFile};

pub struct Diag;

#[derive(Debug, Serialize, Deserialize)]
pub struct DiagParams {
    /// Seconds to sleep before finishing.
    pub duration: f64,
    /// End in ERROR instead of COMPLETED.
    pub fail: bool,
    /// Text written to `diag.txt`; by default a report of where the job ran.
    pub output: Option<String>,
    /// Crash the job's process after the sleep: `abort`, `segv` or `oom`.
    pub crash: Option<String>,
}

/// What a diag run holds in memory, at most: the runtime and a 64 KiB text.
const DIAG_MEMORY_MB: u64 = 16;

impl Kind for Diag {
    type Params = DiagParams;
    const NAME: &'static str = "diag";
    const DESCRIPTION: &'static str = "Sleeps for `duration` seconds, then fails if `fail`, else writes `output` (or a report of where it ran) to diag.txt.";

    fn parameters() -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(
                "duration",
                ParamType::Float { min: Some(0.0), max: Some(7.0 * 86400.0) },
                "seconds to sleep (abortable)",
            )
            .default(0.0),
            ParamSpec::new("fail", ParamType::Bool, "end in ERROR with an error summary").default(false),
            ParamSpec::new(
                "output",
                ParamType::Text { max_len: 64 * 1024 },
                "text to write to diag.txt (default: where the job ran)",
            ),
            ParamSpec::new(
                "crash",
                ParamType::Choice { values: vec!["abort", "segv", "oom"] },
                "operator check: after the sleep, the job's process aborts, segfaults or runs out of memory",
            ),
        ]
    }

    fn resources(params: &DiagParams, _user_dir: &std::path::Path) -> Resources {
        let basis = format!("duration={}", params.duration);
        Resources { cores: 1, memory_mb: Some(DIAG_MEMORY_MB), basis }
    }

    fn run(params: DiagParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        ctx.progress(0.0, "sleeping");
        if ctx.cancel.sleep(Duration::from_secs_f64(params.duration)) {
            return Err(Failure::Cancelled);
        }
        if let Some(how) = &params.crash {
            crash(how);
        }
        if params.fail {
            return Err(Failure::Fatal(format!("diag job failed on request after {} s", params.duration)));
        }
        let text = params.output.unwrap_or_else(|| {
            format!(
                "diag job ran on {} (pid {}) after sleeping {} s\n",
                ctx.runner,
                std::process::id(),
                params.duration
            )
        });
        ctx.write_result("diag.txt", text.as_bytes())?;
        ctx.progress(1.0, "done");
        Ok(Outputs {
            results: vec![ResultFile { name: "diag.txt".into(), mime_type: "text/plain; charset=utf-8".into() }],
        })
    }
}

/// Ends this process the way a broken kind would. Only ever run inside an attempt's own
/// process (`vocloud run-job`), never in the master.
fn crash(how: &str) -> ! {
    match how {
        "segv" => {
            // Rust's runtime handles SIGSEGV (to report stack overflows); with the default
            // action back, the process dies of the signal as a segfaulting kind would.
            // SAFETY: setting a signal's default action and raising it at ourselves.
            unsafe {
                libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                libc::raise(libc::SIGSEGV);
            }
            std::process::abort()
        }
        "oom" => {
            // Zeroed allocations are fresh mappings the kernel only backs when touched: this
            // exhausts the process's memory limit, not the machine's RAM.
            let mut hoard = Vec::new();
            loop {
                hoard.push(std::hint::black_box(vec![0u8; 64 << 20]));
            }
        }
        _ => std::process::abort(),
    }
}
