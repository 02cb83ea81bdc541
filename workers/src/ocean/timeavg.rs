//! `ocean-timeavg`: the per-pixel time-averaged map over a box and period (SDAP
//! `/timeAvgMapSpark`): `mean` = plain mean of the valid values of each pixel over the selected
//! time steps, `count` = how many there were. Pixels with `count == 0` are NaN in `mean`
//! (SDAP writes -9999 or 0 there).
//!
//! The accumulator is (Σx, n) per pixel, merged by addition: time slices computed on different
//! workers (`partial`, see [`super::part`]) combine exactly in `ocean-merge`. Results: `timeavg.nc` (CF: lat/lon, or y/x with 2-D lat/lon) and
//! `timeavg.png`.

use serde::{Deserialize, Serialize};

use super::Request;
use super::memory::Use;
use super::part::{self, Body, Key, MapState, Part};
use super::read::fold_files;
use super::render::{self, Map};
use super::select::Selection;
use super::time::Stamp;
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ResultFile};

pub struct OceanTimeavg;

impl OceanTimeavg {
    /// The memory a run needs, from its parameters and the dataset's headers (see
    /// [`super::memory`]): the figure to compare with the operator's per-job limit at creation.
    ///
    /// # Errors
    /// The dataset matches no readable netCDF file with the variable.
    pub fn estimate_bytes(params: &TimeavgParams, user_dir: &std::path::Path) -> Result<u64, ParamError> {
        params.request.estimate_bytes(user_dir, Use::Map)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TimeavgParams {
    #[serde(flatten)]
    pub request: Request,
    /// A folder of the user's storage: write the exact partial state there (see [`super::part`]).
    pub partial: Option<String>,
}

/// Per-pixel partial sums.
#[derive(Debug, Clone)]
pub struct PixelSums {
    pub sum: Vec<f64>,
    pub count: Vec<u32>,
    /// The first and last time step seen (for the output's time coverage).
    pub span: Option<(Stamp, Stamp)>,
}

impl PixelSums {
    pub fn new(n: usize) -> Self {
        PixelSums { sum: vec![0.0; n], count: vec![0; n], span: None }
    }

    fn add(&mut self, stamp: &Stamp, values: &[f64]) {
        self.widen(Some((stamp.clone(), stamp.clone())));
        // Branch-free (adding 0.0 leaves a sum unchanged), so the loop vectorises.
        for ((s, c), &v) in self.sum.iter_mut().zip(self.count.iter_mut()).zip(values) {
            let valid = !v.is_nan();
            *s += if valid { v } else { 0.0 };
            *c += valid as u32;
        }
    }

    /// Combines the sums of two disjoint sets of time steps.
    pub fn merge(mut self, other: PixelSums) -> PixelSums {
        self.widen(other.span);
        for (i, (s, c)) in other.sum.into_iter().zip(other.count).enumerate() {
            self.sum[i] += s;
            self.count[i] += c;
        }
        self
    }

    fn widen(&mut self, span: Option<(Stamp, Stamp)>) {
        self.span = match (self.span.take(), span) {
            (Some((a0, a1)), Some((b0, b1))) => {
                Some((if b0.epoch < a0.epoch { b0 } else { a0 }, if b1.epoch > a1.epoch { b1 } else { a1 }))
            }
            (a, b) => a.or(b),
        };
    }

    pub fn mean(&self) -> Vec<f64> {
        self.sum.iter().zip(&self.count).map(|(&s, &c)| if c > 0 { s / c as f64 } else { f64::NAN }).collect()
    }
}

impl Kind for OceanTimeavg {
    type Params = TimeavgParams;
    const NAME: &'static str = "ocean-timeavg";
    /// With `partial`, the job writes its part into the user\'s storage.
    const USES_QUOTA: bool = true;
    const DESCRIPTION: &'static str = "Per-pixel time-average map (mean and count) over a box and period (SDAP timeAvgMapSpark), as CF netCDF and PNG.";

    fn parameters() -> Vec<ParamSpec> {
        let mut specs = super::request_specs();
        specs.push(part::spec());
        specs
    }

    fn check(params: &TimeavgParams) -> Result<(), ParamError> {
        params.request.check()
    }

    fn check_inputs(params: &TimeavgParams, user_dir: &std::path::Path) -> Result<(), ParamError> {
        params.request.check_inputs(user_dir)?;
        if let Some(folder) = params.partial.as_deref().filter(|f| !f.trim().is_empty()) {
            part::check_folder("partial", folder, user_dir)?;
        }
        Ok(())
    }

    fn run(params: TimeavgParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        let req = &params.request;
        let opened = req.open(ctx, Use::Map)?;
        let n = opened.sel.len();
        let (sums, steps) = fold_files(
            &opened,
            req.variable.trim(),
            ctx,
            "time average",
            || PixelSums::new(n),
            |acc, stamp, values| {
                acc.add(stamp, values);
                Ok(())
            },
            PixelSums::merge,
        )?;
        if sums.span.is_none() {
            return Err(req.no_steps());
        }
        if let Some(folder) = params.partial.as_deref().filter(|f| !f.trim().is_empty()) {
            let options = serde_json::json!({});
            let map = MapState {
                sum: sums.sum,
                count: sums.count,
                lat: opened.sel.lat.clone(),
                lon: opened.sel.lon.clone(),
                lat_1d: opened.sel.lat_1d.clone(),
                lon_1d: opened.sel.lon_1d.clone(),
                span: sums.span,
                steps,
            };
            let key = Key::new(Self::NAME, req, &opened, options);
            let part = Part { key, start: opened.start, end: opened.end, body: Body::Map(Box::new(map)) };
            return opened.finish(ctx, part::write(ctx, folder, &part)?);
        }
        opened.finish(ctx, write_map(ctx, &opened.sel, opened.units(), req, &sums, steps)?)
    }
}

/// Writes `timeavg.nc` and `timeavg.png` from the sums of `steps` time steps (at least one).
pub fn write_map(
    ctx: &JobContext,
    sel: &Selection,
    units: Option<&str>,
    req: &Request,
    sums: &PixelSums,
    steps: usize,
) -> Result<Outputs, Failure> {
    let Some((first, last)) = sums.span.clone() else { return Err(req.no_steps()) };
    let coverage = (first.iso.as_str(), last.iso.as_str());
    let mean = sums.mean();
    let nc = ctx.work_dir.join("timeavg.nc");
    write_netcdf(&nc, sel, units, &mean, &sums.count, req, coverage)
        .map_err(|e| Failure::fatal("writing timeavg.nc", e))?;
    std::fs::rename(&nc, ctx.results_dir.join("timeavg.nc")).map_err(|e| Failure::Retryable(e.to_string()))?;
    let (lo, hi) = finite_range(&mean);
    let title = format!("mean {} {} .. {} ({steps} steps)", req.variable, &first.iso[..10], &last.iso[..10]);
    let map = Map {
        values: &mean,
        rows: sel.rows,
        cols: sel.cols,
        flip: lat_ascends(sel),
        vmin: lo,
        vmax: hi,
        title,
        units: units.unwrap_or("").to_string(),
    };
    ctx.write_result("timeavg.png", &render::png(&map).map_err(Failure::Fatal)?)?;
    ctx.progress(1.0, format!("{steps} time steps averaged"));
    Ok(Outputs {
        results: vec![
            ResultFile { name: "timeavg.nc".into(), mime_type: "application/x-netcdf".into() },
            ResultFile { name: "timeavg.png".into(), mime_type: "image/png".into() },
        ],
    })
}

/// Min and max of the finite values (0, 1 when there are none).
pub fn finite_range(values: &[f64]) -> (f64, f64) {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if lo <= hi { (lo, hi) } else { (0.0, 1.0) }
}

/// True when latitude grows with the row index (then maps are flipped to draw north up).
pub fn lat_ascends(sel: &Selection) -> bool {
    sel.rows < 2 || sel.lat[0] < sel.lat[(sel.rows - 1) * sel.cols]
}

fn write_netcdf(
    path: &std::path::Path,
    sel: &Selection,
    units: Option<&str>,
    mean: &[f64],
    count: &[u32],
    req: &Request,
    (first, last): (&str, &str),
) -> Result<(), netcdf::Error> {
    super::cf::quiet_hdf5();
    let mut file = netcdf::create(path)?;
    file.add_attribute("Conventions", "CF-1.8")?;
    file.add_attribute("title", format!("time average of {} over {}", req.variable, req.dataset))?;
    file.add_attribute("bbox", req.bbox.as_str())?;
    file.add_attribute("time_coverage_start", first)?;
    file.add_attribute("time_coverage_end", last)?;
    let grid: [&str; 2] = match (&sel.lat_1d, &sel.lon_1d) {
        (Some(lat), Some(lon)) => {
            file.add_dimension("lat", sel.rows)?;
            file.add_dimension("lon", sel.cols)?;
            coordinate(&mut file, "lat", &["lat"], lat, "latitude", "degrees_north")?;
            coordinate(&mut file, "lon", &["lon"], lon, "longitude", "degrees_east")?;
            ["lat", "lon"]
        }
        _ => {
            file.add_dimension("y", sel.rows)?;
            file.add_dimension("x", sel.cols)?;
            coordinate(&mut file, "lat", &["y", "x"], &sel.lat, "latitude", "degrees_north")?;
            coordinate(&mut file, "lon", &["y", "x"], &sel.lon, "longitude", "degrees_east")?;
            ["y", "x"]
        }
    };
    let mut var = file.add_variable::<f64>("mean", &grid)?;
    var.set_fill_value(f64::NAN)?;
    var.put_attribute("long_name", format!("time mean of {}", req.variable))?;
    if let Some(units) = units {
        var.put_attribute("units", units)?;
    }
    if sel.lat_1d.is_none() {
        var.put_attribute("coordinates", "lat lon")?;
    }
    var.put_values(mean, ..)?;
    let mut var = file.add_variable::<i32>("count", &grid)?;
    var.put_attribute("long_name", "number of valid values averaged")?;
    let count: Vec<i32> = count.iter().map(|&c| c as i32).collect();
    var.put_values(&count, ..)?;
    file.close()
}

fn coordinate(
    file: &mut netcdf::FileMut,
    name: &str,
    dims: &[&str],
    values: &[f64],
    standard_name: &str,
    units: &str,
) -> Result<(), netcdf::Error> {
    let mut var = file.add_variable::<f64>(name, dims)?;
    var.put_attribute("standard_name", standard_name)?;
    var.put_attribute("units", units)?;
    var.put_values(values, ..)?;
    Ok(())
}
