//! `ocean-timeseries`: per time step statistics over a box (SDAP `/timeSeriesSpark`).
//!
//! For each time step in `[start, end]`: `cnt`, `min`, `max`, `mean` (cos-latitude weighted),
//! `mean_plain`, `std` (population, about the unweighted mean). Steps with no valid pixel are
//! dropped, as SDAP does. Each step is a [`Partial`](super::stats::Partial): with `partial`,
//! the job runs on a time slice and writes its steps as a part for `ocean-merge`
//! ([`super::part`]), which concatenates the slices and applies the low-pass filter.
//!
//! Seasonal variant (`seasonal_climatology`, SDAP's `seasonalFilter`): the same statistics are
//! computed on a climatology dataset of the same grid, indexed by calendar month of its time
//! steps (the last step of a month wins); then `meanSeasonal = mean − clim[month].mean`, and
//! likewise `minSeasonal`, `maxSeasonal`; a month without climatology gives 0, as in SDAP.
//!
//! Low-pass variants (`low_pass`, default true as SDAP's `lowPassFilter`): `meanLowPass`,
//! `maxLowPass`, `minLowPass` (and `*SeasonalLowPass` with the seasonal variant), see
//! [`super::lowpass`]; absent for series of 10 steps or fewer, as in SDAP.

use serde::{Deserialize, Serialize};

use super::Request;
use super::memory::Use;
use super::part::{self, Body, Key, Part};
use super::read::map_files;
use super::series::{Band, Row, Series};
use super::stats::Partial;
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ParamType};

pub struct OceanTimeseries;

impl OceanTimeseries {
    /// The memory a run needs, from its parameters and the dataset's headers (see
    /// [`super::memory`]): the figure to compare with the operator's per-job limit at creation.
    ///
    /// # Errors
    /// The dataset matches no readable netCDF file with the variable.
    pub fn estimate_bytes(params: &TimeseriesParams, user_dir: &std::path::Path) -> Result<u64, ParamError> {
        let seasonal = params.seasonal_climatology.as_deref().is_some_and(|c| !c.trim().is_empty());
        params.request.estimate_bytes(user_dir, Use::Series { climatology: seasonal })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TimeseriesParams {
    #[serde(flatten)]
    pub request: Request,
    /// Monthly climatology dataset for the seasonal variant.
    pub seasonal_climatology: Option<String>,
    /// Add SDAP's low-pass variants.
    pub low_pass: bool,
    /// A folder of the user's storage: write the exact partial state there (see [`super::part`]).
    pub partial: Option<String>,
}

impl Kind for OceanTimeseries {
    type Params = TimeseriesParams;
    const NAME: &'static str = "ocean-timeseries";
    /// With `partial`, the job writes its part into the user\'s storage.
    const USES_QUOTA: bool = true;
    const DESCRIPTION: &'static str = "Area time series of a netCDF variable over a box (SDAP timeSeriesSpark): per time step cnt, min, max, mean (cos-latitude weighted), mean_plain, std; JSON, CSV and VOTable.";

    fn parameters() -> Vec<ParamSpec> {
        let mut specs = super::request_specs();
        specs.push(ParamSpec::new(
            "seasonal_climatology",
            ParamType::Text { max_len: 1024 },
            "monthly climatology (folder, file or glob, same grid): adds meanSeasonal, minSeasonal, maxSeasonal",
        ));
        specs.push(
            ParamSpec::new(
                "low_pass",
                ParamType::Bool,
                "add meanLowPass, maxLowPass, minLowPass (SDAP's Butterworth filtfilt; needs more than 10 steps)",
            )
            .default(true),
        );
        specs.push(super::part::spec());
        specs
    }

    fn check(params: &TimeseriesParams) -> Result<(), ParamError> {
        params.request.check()
    }

    fn check_inputs(params: &TimeseriesParams, user_dir: &std::path::Path) -> Result<(), ParamError> {
        params.request.check_inputs(user_dir)?;
        if let Some(clim) = params.seasonal_climatology.as_deref().filter(|c| !c.trim().is_empty()) {
            super::check_dataset("seasonal_climatology", clim, user_dir)?;
        }
        if let Some(folder) = params.partial.as_deref().filter(|f| !f.trim().is_empty()) {
            super::part::check_folder("partial", folder, user_dir)?;
        }
        Ok(())
    }

    fn run(params: TimeseriesParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        let req = &params.request;
        let seasonal = params.seasonal_climatology.as_deref().map(str::trim).filter(|c| !c.is_empty());
        let opened = req.open(ctx, Use::Series { climatology: seasonal.is_some() })?;
        let stats = area_stats(&opened, req, ctx, "time series")?;
        if stats.is_empty() {
            return Err(req.no_steps());
        }
        let climatology = match seasonal {
            Some(dataset) => Some(monthly(req, dataset, &opened, ctx)?),
            None => None,
        };
        let mut rows: Vec<Row> = stats
            .into_iter()
            .filter(|(_, p)| p.cnt > 0)
            .map(|(stamp, stats)| {
                let extra = climatology.as_ref().map_or_else(Vec::new, |clim| {
                    let c = clim.get(month(&stamp.iso)).copied().flatten().unwrap_or(stats);
                    vec![
                        ("meanSeasonal", stats.mean_coslat() - c.mean_coslat()),
                        ("minSeasonal", stats.min - c.min),
                        ("maxSeasonal", stats.max - c.max),
                    ]
                });
                Row { time: stamp.epoch, iso_time: stamp.iso, stats, extra }
            })
            .collect();
        if let Some(folder) = params.partial.as_deref().filter(|f| !f.trim().is_empty()) {
            // The low-pass filter runs over the whole series: the merge applies it.
            let options = serde_json::json!({ "seasonal_climatology": seasonal, "low_pass": params.low_pass });
            let key = Key::new(Self::NAME, req, &opened, options);
            let part = Part { key, start: opened.start, end: opened.end, body: Body::Series(rows) };
            return opened.finish(ctx, part::write(ctx, folder, &part)?);
        }
        if params.low_pass {
            add_low_pass(&mut rows);
        }
        let (start, end) = (opened.start, opened.end);
        let series = Series {
            dataset: &req.dataset,
            variable: &req.variable,
            units: opened.units(),
            bbox: opened.bbox,
            start,
            end,
            band: Band::MinMax,
            extra_meta: Vec::new(),
        };
        let results = series.write(ctx, &rows)?;
        ctx.progress(1.0, format!("{} time steps", rows.len()));
        opened.finish(ctx, Outputs { results })
    }
}

/// Per time step statistics of the box, sorted by time.
fn area_stats(
    opened: &super::Opened,
    req: &Request,
    ctx: &JobContext,
    what: &str,
) -> Result<Vec<(super::time::Stamp, Partial)>, Failure> {
    let sel = &opened.sel;
    map_files(opened, req.variable.trim(), ctx, what, |_, values| {
        Ok(Partial::of(values.iter().copied().zip(sel.weight.iter().copied())))
    })
}

/// Appends SDAP's `*LowPass` fields (in SDAP's order) when the filter applies to this length.
pub fn add_low_pass(rows: &mut [Row]) {
    let mut columns: Vec<(&'static str, Vec<f64>)> = vec![
        ("meanLowPass", rows.iter().map(|r| r.stats.mean_coslat()).collect()),
        ("maxLowPass", rows.iter().map(|r| r.stats.max).collect()),
        ("minLowPass", rows.iter().map(|r| r.stats.min).collect()),
    ];
    for name in ["meanSeasonal", "minSeasonal", "maxSeasonal"] {
        let values: Option<Vec<f64>> =
            rows.iter().map(|r| r.extra.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)).collect();
        if let (Some(values), false) = (values, rows.is_empty()) {
            columns.push((low_pass_name(name), values));
        }
    }
    for (name, series) in columns {
        let Some(filtered) = super::lowpass::sdap_lowpass(&series) else { return };
        for (row, value) in rows.iter_mut().zip(filtered) {
            row.extra.push((name, value));
        }
    }
}

fn low_pass_name(seasonal: &str) -> &'static str {
    match seasonal {
        "meanSeasonal" => "meanSeasonalLowPass",
        "minSeasonal" => "minSeasonalLowPass",
        _ => "maxSeasonalLowPass",
    }
}

/// The month (1..=12) of an ISO time stamp.
fn month(iso: &str) -> usize {
    iso.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(0)
}

/// The climatology's statistics over the same box, indexed by month (index 1..=12).
fn monthly(
    req: &Request,
    dataset: &str,
    data: &super::Opened,
    ctx: &JobContext,
) -> Result<[Option<Partial>; 13], Failure> {
    let clim_req = Request { dataset: dataset.to_string(), start: None, end: None, ..req.clone() };
    let clim = clim_req.open(ctx, Use::Series { climatology: false })?;
    if (clim.first.ny, clim.first.nx) != (data.first.ny, data.first.nx) {
        return Err(Failure::Fatal(format!(
            "{}: climatology grid {}×{} differs from the data grid {}×{}",
            clim.first.name, clim.first.ny, clim.first.nx, data.first.ny, data.first.nx
        )));
    }
    let mut by_month = [None; 13];
    for (stamp, stats) in area_stats(&clim, &clim_req, ctx, "seasonal climatology")? {
        if stats.cnt > 0 {
            by_month[month(&stamp.iso)] = Some(stats);
        }
    }
    data.fallbacks.absorb(clim.fallbacks);
    Ok(by_month)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[test]
    fn seasonal_climatology_reaches_the_params() {
        let kind = Registry::builtin().get(OceanTimeseries::NAME).unwrap();
        let raw = vec![
            ("dataset".to_string(), "sst".to_string()),
            ("variable".to_string(), "analysed_sst".to_string()),
            ("seasonal_climatology".to_string(), "clim".to_string()),
        ];
        assert!(kind.parameters().iter().any(|p| p.name == "low_pass"));
        let object = kind.validate(&raw).unwrap();
        let params: TimeseriesParams = serde_json::from_value(serde_json::Value::Object(object)).unwrap();
        assert_eq!(params.seasonal_climatology.as_deref(), Some("clim"));
        assert_eq!(month("2024-02-29T09:00:00+0000"), 2);
    }
}
