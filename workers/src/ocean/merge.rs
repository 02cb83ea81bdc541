//! `ocean-merge`: combines the parts of a request split by time range (see [`super::part`])
//! into the result files one job over the whole range would have written.
//!
//! Exact: a time series or DDA step lies in exactly one part, so its statistics are those of
//! the part (counts, sums, extremes, sum of squared deviations; no means of means); a
//! time-average map adds the per-pixel sums and counts of the parts. The low-pass variants,
//! which filter the whole series, are computed here.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::memory::{self, Budget};
use super::part::{self, Body, Part};
use super::series::{Band, Series};
use super::timeavg::{self, PixelSums};
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ParamType};

pub struct OceanMerge;

impl OceanMerge {
    /// The memory a merge of the parts in `params.parts` needs (see [`memory::merge_estimate`]).
    ///
    /// # Errors
    /// The folder holds no part (as at creation).
    pub fn estimate_bytes(params: &MergeParams, user_dir: &std::path::Path) -> Result<u64, ParamError> {
        let files = part::list(&params.parts, user_dir).map_err(|e| ParamError::invalid("parts", e))?;
        Ok(memory::merge_estimate(largest(&files)))
    }
}

/// The size of the largest part file.
fn largest(files: &[(std::path::PathBuf, String)]) -> u64 {
    files.iter().filter_map(|(path, _)| std::fs::metadata(path).ok()).map(|m| m.len()).max().unwrap_or(0)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MergeParams {
    /// The folder the parts were written to (`partial` of the part jobs).
    pub parts: String,
}

impl Kind for OceanMerge {
    type Params = MergeParams;
    const NAME: &'static str = "ocean-merge";
    const DESCRIPTION: &'static str = "Merges exactly the parts of an ocean-timeseries, ocean-dda or ocean-timeavg request split by time range (jobs run with partial=<folder>) into the results of a single job.";

    fn parameters() -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(
                "parts",
                ParamType::Text { max_len: 1024 },
                "the folder of your storage the parts were written to (the partial parameter of the part jobs)",
            )
            .required(),
        ]
    }

    fn check_inputs(params: &MergeParams, user_dir: &std::path::Path) -> Result<(), ParamError> {
        part::list(&params.parts, user_dir).map(|_| ()).map_err(|e| ParamError::invalid("parts", e))
    }

    fn run(params: MergeParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        let files = part::list(&params.parts, &ctx.user_dir).map_err(Failure::Fatal)?;
        let what = || format!("merging the parts in {}", params.parts.trim());
        Budget::of(ctx)?.check(what, memory::merge_estimate(largest(&files))).map_err(Failure::Fatal)?;
        let mut merger = part::Merger::default();
        for (i, (path, name)) in files.iter().enumerate() {
            ctx.checkpoint()?;
            ctx.progress(i as f64 / files.len() as f64 * 0.5, format!("reading {name}"));
            let bytes = std::fs::read(path).map_err(|e| Failure::fatal(name, e))?;
            let part = Part::decode(&bytes).map_err(|e| Failure::fatal(name, e))?;
            merger.add(name, part).map_err(Failure::Fatal)?;
        }
        let count = files.len();
        let whole = merger.finish().map_err(Failure::Fatal)?;
        let key = &whole.key;
        let req = key.request();
        ctx.progress(0.5, format!("{count} parts merged, writing the results"));
        match &whole.body {
            Body::Map(map) => {
                let sel = part::selection(key, map);
                let sums = PixelSums { sum: map.sum.clone(), count: map.count.clone(), span: map.span.clone() };
                timeavg::write_map(ctx, &sel, key.units.as_deref(), &req, &sums, map.steps)
            }
            Body::Series(rows) => {
                if rows.is_empty() {
                    return Err(Failure::Fatal(format!(
                        "{}: no time step with valid pixels in any part",
                        params.parts
                    )));
                }
                let mut rows = rows.clone();
                let (band, extra_meta) = match key.kind.as_str() {
                    "ocean-dda" => (Band::Std, vec![("climatology", key.options["climatology"].clone())]),
                    _ => (Band::MinMax, Vec::new()),
                };
                if key.options["low_pass"] == json!(true) {
                    super::timeseries::add_low_pass(&mut rows);
                }
                let series = Series {
                    dataset: &key.dataset,
                    variable: &key.variable,
                    units: key.units.as_deref(),
                    bbox: key.bbox(),
                    start: whole.start,
                    end: whole.end,
                    band,
                    extra_meta,
                };
                let results = series.write(ctx, &rows)?;
                ctx.progress(1.0, format!("{} time steps from {count} parts", rows.len()));
                Ok(Outputs { results })
            }
        }
    }
}
