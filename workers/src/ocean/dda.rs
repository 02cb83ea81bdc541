//! `ocean-dda`: daily difference average against a climatology (SDAP
//! `/dailydifferenceaverage_spark`).
//!
//! `climatology` is a second dataset on the same grid whose time steps are keyed by their day
//! of year (a 365/366-step file, or 5-day means). Each data step takes the climatology step with
//! the largest day of year not after its own (SDAP's step look-up: no interpolation, no wrap to
//! December; a data step before the first climatology day is skipped). A pixel counts when both
//! values are valid. Per day: `mean` (cos-latitude weighted, the same contract as the time
//! series; SDAP's DDA reports the plain mean, here `mean_plain`), `mean_plain`, `std`
//! (population, about the plain mean, = SDAP for one tile), `cnt`, `min`, `max`; `time` is
//! midnight UTC of the data date.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Request;
use super::dataset::{self, Dataset};
use super::memory::Use;
use super::part::{self, Body, Key, Part};
use super::read::{Buffers, StepReader, fold_files};
use super::series::{Band, Row, Series};
use super::stats::Partial;
use super::time::Stamp;
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ParamType};

pub struct OceanDda;

impl OceanDda {
    /// The memory a run needs, from its parameters and the dataset's headers (see
    /// [`super::memory`]): the figure to compare with the operator's per-job limit at creation.
    ///
    /// # Errors
    /// The dataset matches no readable netCDF file with the variable.
    pub fn estimate_bytes(params: &DdaParams, user_dir: &std::path::Path) -> Result<u64, ParamError> {
        params.request.estimate_bytes(user_dir, Use::Series { climatology: true })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DdaParams {
    #[serde(flatten)]
    pub request: Request,
    /// Folder, file or glob of the climatology (same variable name and grid).
    pub climatology: String,
    /// A folder of the user's storage: write the exact partial state there (see [`super::part`]).
    pub partial: Option<String>,
}

impl Kind for OceanDda {
    type Params = DdaParams;
    const NAME: &'static str = "ocean-dda";
    /// With `partial`, the job writes its part into the user\'s storage.
    const USES_QUOTA: bool = true;
    const DESCRIPTION: &'static str = "Daily difference average against a day-of-year climatology (SDAP dailydifferenceaverage): per day mean, std, cnt of data minus climatology.";

    fn parameters() -> Vec<ParamSpec> {
        let mut specs = super::request_specs();
        specs.push(
            ParamSpec::new(
                "climatology",
                ParamType::Text { max_len: 1024 },
                "climatology netCDF (folder, file or glob) on the same grid, one step per day of year",
            )
            .required(),
        );
        specs.push(super::part::spec());
        specs
    }

    fn check(params: &DdaParams) -> Result<(), ParamError> {
        params.request.check()
    }

    fn check_inputs(params: &DdaParams, user_dir: &std::path::Path) -> Result<(), ParamError> {
        params.request.check_inputs(user_dir)?;
        super::check_dataset("climatology", &params.climatology, user_dir)?;
        if let Some(folder) = params.partial.as_deref().filter(|f| !f.trim().is_empty()) {
            super::part::check_folder("partial", folder, user_dir)?;
        }
        Ok(())
    }

    fn run(params: DdaParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        let req = &params.request;
        let opened = req.open(ctx, Use::Series { climatology: true })?;
        let sel = &opened.sel;
        let clim_files = dataset::discover(&ctx.user_dir, &params.climatology).map_err(Failure::Fatal)?;
        let clim = dataset::scan(&clim_files, req.variable.trim(), i64::MIN, i64::MAX, &opened.budget)
            .map_err(Failure::Fatal)?;
        let (first, cfirst) = (&opened.first, &clim.files[0]);
        if (first.ny, first.nx) != (cfirst.ny, cfirst.nx) {
            return Err(Failure::Fatal(format!(
                "{}: climatology grid {}×{} differs from the data grid {}×{}",
                cfirst.name, cfirst.ny, cfirst.nx, first.ny, first.nx
            )));
        }
        let by_doy = doy_index(&clim);
        let (acc, steps) = fold_files(
            &opened,
            req.variable.trim(),
            ctx,
            "daily differences",
            Acc::default,
            |acc, stamp, values| {
                let Some(&c) = by_doy.iter().rev().find(|(doy, _)| *doy <= stamp.doy).map(|(_, c)| c) else {
                    return Ok(());
                };
                acc.read_clim(&clim, c, &opened)?;
                let diffs = values.iter().zip(&acc.clim).map(|(x, c)| x - c);
                acc.rows.push((stamp.clone(), Partial::of(diffs.zip(sel.weight.iter().copied()))));
                Ok(())
            },
            |mut a, b| {
                a.rows.extend(b.rows);
                a
            },
        )?;
        if steps == 0 {
            return Err(req.no_steps());
        }
        let mut pairs = acc.rows;
        pairs.sort_by(|(a, _), (b, _)| a.chrono_cmp(b));
        let rows: Vec<Row> = pairs
            .into_iter()
            .filter(|(_, p)| p.cnt > 0)
            .map(|(stamp, stats)| {
                // Midnight of the data's date, in the dataset's calendar.
                let midnight = stamp.epoch.div_euclid(86400) * 86400;
                let date = stamp.iso.split('T').next().unwrap_or_default();
                let iso_time = format!("{date}T00:00:00+0000");
                Row { time: midnight, iso_time, stats, extra: Vec::new() }
            })
            .collect();
        if let Some(folder) = params.partial.as_deref().filter(|f| !f.trim().is_empty()) {
            let options = json!({ "climatology": params.climatology.trim() });
            let key = Key::new(Self::NAME, req, &opened, options);
            let part = Part { key, start: opened.start, end: opened.end, body: Body::Series(rows) };
            return opened.finish(ctx, part::write(ctx, folder, &part)?);
        }
        let (start, end) = (opened.start, opened.end);
        let series = Series {
            dataset: &req.dataset,
            variable: &req.variable,
            units: opened.units(),
            bbox: opened.bbox,
            start,
            end,
            band: Band::Std,
            extra_meta: vec![("climatology", json!(params.climatology))],
        };
        let results = series.write(ctx, &rows)?;
        ctx.progress(1.0, format!("{} days", rows.len()));
        opened.finish(ctx, Outputs { results })
    }
}

/// (day of year, climatology step number) sorted by day; a repeated day keeps its last step.
fn doy_index(clim: &Dataset) -> Vec<(u32, usize)> {
    let mut index: Vec<(u32, usize)> = clim.steps.iter().enumerate().map(|(i, s)| (s.stamp.doy, i)).collect();
    index.sort();
    index.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            earlier.1 = later.1;
        }
        same
    });
    index
}

/// Per-thread state: the rows so far and the last climatology step read (cached, because
/// consecutive days often share a 5-day climatology step), with a reader of its file.
#[derive(Default)]
struct Acc {
    /// (data time, statistics of the differences).
    rows: Vec<(Stamp, Partial)>,
    clim_step: Option<usize>,
    clim: Vec<f64>,
    reader: Option<(usize, StepReader)>,
    buffers: Buffers,
}

impl Acc {
    fn read_clim(&mut self, clim: &Dataset, step: usize, opened: &super::Opened) -> Result<(), String> {
        if self.clim_step == Some(step) {
            return Ok(());
        }
        let s = &clim.steps[step];
        let info = &clim.files[s.file];
        if self.reader.as_ref().is_none_or(|(file, _)| *file != s.file) {
            // Plan every step of this climatology file at once: a thread walks through them.
            let steps: Vec<usize> = clim.steps.iter().filter(|c| c.file == s.file).map(|c| c.index).collect();
            self.reader = Some((s.file, StepReader::open(info, &steps, opened)?));
        }
        let (_, reader) = self.reader.as_ref().expect("just set");
        reader.read(info, s.index, &opened.sel, &mut self.buffers, &mut self.clim)?;
        self.clim_step = Some(step);
        Ok(())
    }
}
