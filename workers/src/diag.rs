//! The `diag` kind: sleeps (abortably), then fails on request or writes a short report.
//! Operators use it to check the fleet end to end; tests use it to drive the job life cycle.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Failure, JobContext, Kind, Outputs, ParamSpec, ParamType, ResultFile};

pub struct Diag;

#[derive(Debug, Serialize, Deserialize)]
pub struct DiagParams {
    /// Seconds to sleep before finishing.
    pub duration: f64,
    /// End in ERROR instead of COMPLETED.
    pub fail: bool,
    /// Text written to `diag.txt`; by default a report of where the job ran.
    pub output: Option<String>,
}

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
        ]
    }

    fn run(params: DiagParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        ctx.progress(0.0, "sleeping");
        if ctx.cancel.sleep(Duration::from_secs_f64(params.duration)) {
            return Err(Failure::Cancelled);
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
        Ok(Outputs { results: vec![ResultFile { name: "diag.txt".into(), mime_type: "text/plain".into() }] })
    }
}
