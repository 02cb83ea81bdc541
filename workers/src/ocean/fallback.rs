//! The files a job read through libnetcdf instead of its own chunk reader, and why.
//!
//! Reading through libnetcdf is correct but serial (one process-wide lock, zlib inflated under
//! it), so a job over such files can be several times slower. That is worth telling: each
//! (variable, reason) is logged once per job, the running job's progress line says it, and a
//! finished job gets a `read-notes.txt` result.

use std::sync::Mutex;

use super::cf::FileInfo;
use crate::{Failure, JobContext, Outputs, ResultFile};

/// The result file listing the fallbacks of a job.
pub const NOTES: &str = "read-notes.txt";

struct Fallback {
    variable: String,
    reason: String,
    /// The first file it happened to, and how many.
    first: String,
    files: usize,
}

/// Fallbacks seen by a job, shared by its reading threads.
#[derive(Default)]
pub struct Fallbacks {
    seen: Mutex<Vec<Fallback>>,
}

impl Fallbacks {
    /// Records that `info`'s variable is read through libnetcdf because of `reason`.
    pub fn record(&self, info: &FileInfo, reason: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.iter_mut().find(|f| f.variable == info.variable && f.reason == reason) {
            Some(fallback) => fallback.files += 1,
            None => {
                tracing::info!(
                    variable = %info.variable, file = %info.name, reason,
                    "ocean: reading through libnetcdf (serial, slower): the direct chunk reader does not handle this"
                );
                let (variable, first) = (info.variable.clone(), info.name.clone());
                seen.push(Fallback { variable, reason: reason.to_string(), first, files: 1 });
            }
        }
    }

    /// Takes in the fallbacks of another dataset the job read (a climatology).
    pub fn absorb(&self, other: Fallbacks) {
        let other = other.seen.into_inner().unwrap_or_else(|e| e.into_inner());
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).extend(other);
    }

    /// One sentence per (variable, reason); empty when every file was read directly.
    pub fn lines(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter()
            .map(|f| {
                let files = if f.files == 1 { f.first.clone() } else { format!("{} files from {}", f.files, f.first) };
                format!(
                    "'{}' in {files} was read through the netCDF library (serial, slower): {}",
                    f.variable, f.reason
                )
            })
            .collect()
    }

    /// A short suffix for progress lines (empty when there is nothing to say).
    pub fn progress_suffix(&self) -> String {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let files: usize = seen.iter().map(|f| f.files).sum();
        match seen.first() {
            None => String::new(),
            Some(f) => format!(" ({files} read through the netCDF library, slower: {})", f.reason),
        }
    }

    /// Writes `read-notes.txt` into the results and lists it, when a fallback happened.
    pub fn write_notes(&self, ctx: &JobContext, outputs: &mut Outputs) -> Result<(), Failure> {
        let lines = self.lines();
        if lines.is_empty() {
            return Ok(());
        }
        let text = format!(
            "{}\n\nvocloud reads chunked netCDF-4 variables compressed with deflate (and shuffle) directly, \
             in parallel; anything else goes through the netCDF library, one read at a time.\n",
            lines.join("\n")
        );
        ctx.write_result(NOTES, text.as_bytes())?;
        outputs.results.push(ResultFile { name: NOTES.into(), mime_type: "text/plain".into() });
        Ok(())
    }
}
