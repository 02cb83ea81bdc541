//! `ocean-maps`: one PNG map per time step (the RTOFS use case), named for animation:
//! `map_0001_20240115T090000.png` (frame number, then the step's time), frames in time order.
//!
//! The colour range is `vmin`/`vmax` when given, else the finite range of the first step, then
//! kept fixed for every frame so an animation does not flicker. Choose one step with
//! `start = end`. Steps are rendered in parallel as they are read; nothing accumulates.

use serde::{Deserialize, Serialize};

use super::Request;
use super::memory::Use;
use super::read::{map_steps, read_step};
use super::render::{self, Map};
use super::timeavg::{finite_range, lat_ascends};
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ParamType, ResultFile};

pub struct OceanMaps;

impl OceanMaps {
    /// The memory a run needs, from its parameters and the dataset's headers (see
    /// [`super::memory`]): the figure to compare with the operator's per-job limit at creation.
    ///
    /// # Errors
    /// The dataset matches no readable netCDF file with the variable.
    pub fn estimate_bytes(params: &MapsParams, user_dir: &std::path::Path) -> Result<u64, ParamError> {
        params.request.estimate_bytes(user_dir, Use::Frames)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MapsParams {
    #[serde(flatten)]
    pub request: Request,
    pub vmin: Option<f64>,
    pub vmax: Option<f64>,
}

impl Kind for OceanMaps {
    type Params = MapsParams;
    const NAME: &'static str = "ocean-maps";
    const DESCRIPTION: &'static str = "Renders the variable of every time step in range to a PNG map with a colour bar (land from the data's missing values), named for animation.";

    fn parameters() -> Vec<ParamSpec> {
        let mut specs = super::request_specs();
        let any = ParamType::Float { min: None, max: None };
        specs.push(ParamSpec::new("vmin", any.clone(), "colour range minimum (default: from the first step)"));
        specs.push(ParamSpec::new("vmax", any, "colour range maximum (default: from the first step)"));
        specs
    }

    fn check(params: &MapsParams) -> Result<(), ParamError> {
        if let (Some(lo), Some(hi)) = (params.vmin, params.vmax)
            && lo >= hi
        {
            return Err(ParamError::invalid("vmax", "must be greater than vmin"));
        }
        params.request.check()
    }

    fn check_inputs(params: &MapsParams, user_dir: &std::path::Path) -> Result<(), ParamError> {
        params.request.check_inputs(user_dir)?;
        Ok(())
    }

    fn run(params: MapsParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        let req = &params.request;
        let (opened, ds) = req.scan(ctx, Use::Frames)?;
        let (ds, sel) = (&ds, &opened.sel);
        let (vmin, vmax) = match (params.vmin, params.vmax) {
            (Some(lo), Some(hi)) => (lo, hi),
            (lo, hi) => {
                let step = &ds.steps[0];
                let info = &ds.files[step.file];
                let file = super::cf::open(&info.path, &info.name).map_err(Failure::Fatal)?;
                let (mut scratch, mut values) = (super::read::Scratch::default(), Vec::new());
                read_step(&file, info, step.index, sel, &mut scratch, &mut values).map_err(Failure::Fatal)?;
                let (a, b) = finite_range(&values);
                (lo.unwrap_or(a), hi.unwrap_or(b))
            }
        };
        let units = opened.units().unwrap_or("").to_string();
        let flip = lat_ascends(sel);
        let results = map_steps(ds, 0..ds.steps.len(), &opened, ctx, "maps", |i, step, values| {
            let stamp: String = step.stamp.iso[..19].chars().filter(|c| *c != '-' && *c != ':').collect();
            let name = format!("map_{:04}_{stamp}.png", i + 1);
            let map = Map {
                values,
                rows: sel.rows,
                cols: sel.cols,
                flip,
                vmin,
                vmax,
                title: format!("{} {}", req.variable, &step.stamp.iso[..19]),
                units: units.clone(),
            };
            let png = render::png(&map)?;
            ctx.write_result(&name, &png).map_err(|e| e.to_string())?;
            Ok(ResultFile { name, mime_type: "image/png".into() })
        })?;
        ctx.progress(1.0, format!("{} maps", results.len()));
        opened.finish(ctx, Outputs { results })
    }
}
