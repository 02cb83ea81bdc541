//! `ocean-timeseries`: per time step statistics over a box (SDAP `/timeSeriesSpark`).
//!
//! For each time step in `[start, end]`: `cnt`, `min`, `max`, `mean` (cos-latitude weighted),
//! `mean_plain`, `std` (population, about the unweighted mean). Steps with no valid pixel are
//! dropped, as SDAP does. Each step is a [`Partial`](super::stats::Partial), so the same code
//! can later run on a time slice per worker and the slices be concatenated (or merged per step
//! when a step is split by area). Seasonal and low-pass variants are not implemented yet.

use serde::{Deserialize, Serialize};

use super::Request;
use super::read::map_files;
use super::series::{Mean, Row, Series};
use super::stats::Partial;
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec};

pub struct OceanTimeseries;

#[derive(Debug, Serialize, Deserialize)]
pub struct TimeseriesParams {
    #[serde(flatten)]
    pub request: Request,
}

impl Kind for OceanTimeseries {
    type Params = TimeseriesParams;
    const NAME: &'static str = "ocean-timeseries";
    const DESCRIPTION: &'static str = "Area time series of a netCDF variable over a box (SDAP timeSeriesSpark): per time step cnt, min, max, mean (cos-latitude weighted), mean_plain, std; JSON, CSV and VOTable.";

    fn parameters() -> Vec<ParamSpec> {
        super::request_specs()
    }

    fn check(params: &TimeseriesParams) -> Result<(), ParamError> {
        params.request.check()
    }

    fn run(params: TimeseriesParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        let req = &params.request;
        let opened = req.open(ctx)?;
        let sel = &opened.sel;
        let stats = map_files(&opened, req.variable.trim(), ctx, "time series", |_, values| {
            Ok(Partial::of(values.iter().copied().zip(sel.weight.iter().copied())))
        })?;
        if stats.is_empty() {
            return Err(req.no_steps());
        }
        let rows: Vec<Row> = stats
            .into_iter()
            .filter(|(_, p)| p.cnt > 0)
            .map(|(stamp, stats)| Row { time: stamp.epoch, iso_time: stamp.iso, stats })
            .collect();
        let (start, end) = (opened.start, opened.end);
        let series = Series {
            dataset: &req.dataset,
            variable: &req.variable,
            units: opened.units(),
            bbox: opened.bbox,
            start,
            end,
            mean: Mean::CosLat,
            extra_meta: Vec::new(),
        };
        let results = series.write(ctx, &rows)?;
        ctx.progress(1.0, format!("{} time steps", rows.len()));
        Ok(Outputs { results })
    }
}
