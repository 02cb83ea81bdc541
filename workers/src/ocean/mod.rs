//! Ocean analytics on CF-convention netCDF datasets: the SDAP/NEXUS operations (area time
//! series, time-average map, daily difference average, subset) and per-step map rendering.
//!
//! Definitions follow `docs/refs/ocean/sdap-algorithms.md` (SDAP's field names and formulas),
//! with its antimeridian bug fixed. Every kind shares the contract parameters `dataset`,
//! `variable`, `bbox`, `start`, `end` ([`Request`]).
//!
//! Layout:
//! - [`time`]: CF time units and calendars, request instants.
//! - [`cf`]: one file: variable layout, packing/validity decoding, coordinates, time axis.
//! - [`dataset`]: finding files (folder/glob) in the user's storage, time steps in order.
//! - [`select`]: the bbox (antimeridian-aware) and the hyperslabs it selects.
//! - [`read`]: streaming the hyperslabs step by step, files in parallel.
//! - [`chunks`]: reading and inflating netCDF-4 chunks outside the netCDF library's lock.
//! - [`fallback`]: which files were read through libnetcdf instead, and why (told to the user).
//! - [`memory`]: the memory a run needs, from the headers, and the budget every reader checks.
//! - [`stats`]: mergeable partial statistics (the unit for splitting a job across workers).
//! - [`lowpass`]: SDAP's Butterworth `filtfilt` low-pass variants.
//! - [`series`]: time series outputs (SDAP JSON, CSV, VOTable).
//! - [`timeseries`], [`dda`], [`timeavg`], [`subset`], [`maps`]: the job kinds.
//! - [`render`]: PNG maps with a colour bar.
//! - [`part`], [`merge`]: a request split by time range into parts (`partial`), merged exactly.

pub mod cf;
pub mod chunks;
pub mod dataset;
pub mod dda;
pub mod fallback;
pub mod lowpass;
pub mod maps;
pub mod memory;
pub mod merge;
pub mod part;
pub mod read;
pub mod render;
pub mod select;
pub mod series;
pub mod stats;
pub mod subset;
pub mod time;
pub mod timeavg;
pub mod timeseries;

use serde::{Deserialize, Serialize};

use crate::{Failure, JobContext, Outputs, ParamError, ParamSpec, ParamType};
use dataset::Dataset;
use fallback::Fallbacks;
use memory::{Budget, Shape, Use};
use select::{BBox, Selection};

/// The parameters every ocean kind takes (names are a contract for scripts).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// A folder, a file or a glob inside the user's storage.
    pub dataset: String,
    pub variable: String,
    /// `minLon,minLat,maxLon,maxLat`; `minLon > maxLon` crosses the antimeridian.
    pub bbox: String,
    /// Inclusive bounds, ISO 8601 or epoch seconds; absent = unbounded.
    pub start: Option<String>,
    pub end: Option<String>,
}

pub const GLOBE: &str = "-180,-90,180,90";

pub fn request_specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new(
            "dataset",
            ParamType::Text { max_len: 1024 },
            "netCDF files in your storage: a folder, a file, or a glob such as sst/2024*.nc",
        )
        .required(),
        ParamSpec::new("variable", ParamType::Text { max_len: 256 }, "the data variable, e.g. analysed_sst").required(),
        ParamSpec::new(
            "bbox",
            ParamType::Text { max_len: 200 },
            "minLon,minLat,maxLon,maxLat in degrees, edges inclusive on cell centres; minLon > maxLon crosses the antimeridian",
        )
        .default(GLOBE),
        ParamSpec::new("start", ParamType::Text { max_len: 64 }, "first time, inclusive (ISO 8601 or epoch seconds)"),
        ParamSpec::new("end", ParamType::Text { max_len: 64 }, "last time, inclusive (ISO 8601 or epoch seconds)"),
    ]
}

impl Request {
    /// The time bounds in epoch seconds.
    pub fn times(&self) -> Result<(i64, i64), ParamError> {
        let parse = |name: &str, v: &Option<String>, default: i64| match v {
            Some(text) if !text.trim().is_empty() => {
                time::parse_instant(text).map_err(|e| ParamError::invalid(name, e))
            }
            _ => Ok(default),
        };
        let (start, end) = (parse("start", &self.start, i64::MIN)?, parse("end", &self.end, i64::MAX)?);
        if start > end {
            return Err(ParamError::invalid("end", "must not be before start"));
        }
        Ok((start, end))
    }

    pub fn check(&self) -> Result<(), ParamError> {
        BBox::parse(&self.bbox).map_err(|e| ParamError::invalid("bbox", e))?;
        if self.variable.trim().is_empty() {
            return Err(ParamError::invalid("variable", "must not be empty"));
        }
        self.times().map(|_| ())
    }

    /// At job creation: the dataset must match netCDF files in the user's storage.
    pub fn check_inputs(&self, user_dir: &std::path::Path) -> Result<(), ParamError> {
        check_dataset("dataset", &self.dataset, user_dir)
    }

    /// Finds the files, describes the first one (grid, units), checks what a run of `usage`
    /// needs against the memory budget and selects the box. The other files are described while
    /// they are read ([`read::fold_files`]), so each is opened once.
    pub fn open(&self, ctx: &JobContext, usage: Use) -> Result<Opened, Failure> {
        let (start, end) = self.times().map_err(|e| Failure::Fatal(e.to_string()))?;
        let bbox = BBox::parse(&self.bbox).map_err(|e| Failure::fatal("bbox", e))?;
        let budget = Budget::of(ctx)?;
        ctx.progress(0.0, "scanning the dataset");
        let files = dataset::discover(&ctx.user_dir, &self.dataset).map_err(Failure::Fatal)?;
        let (path, name) = &files[0];
        let file = cf::open(path, name).map_err(Failure::Fatal)?;
        let variable = self.variable.trim();
        let first = cf::describe(&file, path, name, variable, &budget).map_err(Failure::Fatal)?;
        let coords = cf::read_coords(&file, &first, &budget).map_err(Failure::Fatal)?;
        let (rows, cols) = select::extent(&coords, first.ny, first.nx, &bbox);
        let shape = Shape {
            ny: first.ny as u64,
            nx: first.nx as u64,
            curvilinear: matches!(coords, cf::Coords::Curvilinear { .. }),
            rows: rows as u64,
            cols: cols as u64,
            steps: (first.stamps.len() as u64).saturating_mul(files.len() as u64),
            step_read_bytes: step_read_bytes(path, variable, first.shape.len(), rows, cols),
        };
        let what = || {
            format!("{name}: reading '{variable}' over {rows} × {cols} selected pixels and {} time steps", shape.steps)
        };
        budget.check(what, shape.estimate(usage, memory::threads())).map_err(Failure::Fatal)?;
        let sel = Selection::new(&coords, first.ny, first.nx, &bbox)
            .map_err(|e| Failure::Fatal(format!("{}: {e} ({})", first.name, self.bbox)))?;
        Ok(Opened { files, first, sel, bbox, start, end, budget, fallbacks: Fallbacks::default() })
    }

    /// The memory a run of `usage` needs, from the first file's header (the others are taken to
    /// be alike): the figure checked against the operator's limit at job creation. 1-D
    /// coordinates are read to size the box; 2-D ones are not, and count the whole grid.
    ///
    /// # Errors
    /// The dataset matches no readable netCDF file with the variable (as at creation).
    pub fn estimate_bytes(&self, user_dir: &std::path::Path, usage: Use) -> Result<u64, ParamError> {
        let bad = |e: String| ParamError::invalid("dataset", e);
        let files = dataset::discover(user_dir, &self.dataset).map_err(bad)?;
        let (path, name) = &files[0];
        let file = cf::open(path, name).map_err(bad)?;
        let variable = self.variable.trim();
        let layout = cf::layout(&file, name, variable).map_err(bad)?;
        let bbox = BBox::parse(&self.bbox).map_err(|e| ParamError::invalid("bbox", e))?;
        let (ny, nx) = (layout.ny, layout.nx);
        // 1-D coordinates of a sane size are read to size the box; huge ones are not read.
        let one_d = |name: &str| file.variable(name).and_then(|v| v.get_values::<f64, _>(..).ok());
        let (rows, cols) = match (layout.curvilinear, ny.saturating_add(nx) <= 1 << 24) {
            (false, true) => match (one_d(&layout.lat_name), one_d(&layout.lon_name)) {
                (Some(lat), Some(lon)) => select::extent(&cf::Coords::Regular { lat, lon }, ny, nx, &bbox),
                _ => (ny, nx),
            },
            _ => (ny, nx),
        };
        let shape = Shape {
            ny: ny as u64,
            nx: nx as u64,
            curvilinear: layout.curvilinear,
            rows: rows as u64,
            cols: cols as u64,
            steps: (layout.steps() as u64).saturating_mul(files.len() as u64),
            step_read_bytes: step_read_bytes(path, variable, layout.shape.len(), rows, cols),
        };
        Ok(shape.estimate(usage, memory::threads()))
    }

    /// The error for a dataset with no step in the time range.
    pub fn no_steps(&self) -> Failure {
        Failure::Fatal(format!(
            "dataset '{}': no time step between {} and {}",
            self.dataset,
            self.start.as_deref().unwrap_or("the beginning"),
            self.end.as_deref().unwrap_or("the end")
        ))
    }

    /// Like [`Request::open`], with every file described up front: for kinds that need the
    /// whole ordered list of steps before reading (map frame numbers).
    pub fn scan(&self, ctx: &JobContext, usage: Use) -> Result<(Opened, Dataset), Failure> {
        let opened = self.open(ctx, usage)?;
        let (variable, budget) = (self.variable.trim(), &opened.budget);
        let ds = dataset::scan(&opened.files, variable, opened.start, opened.end, budget).map_err(Failure::Fatal)?;
        if ds.steps.is_empty() {
            return Err(self.no_steps());
        }
        Ok((opened, ds))
    }
}

/// Refuses a dataset parameter (folder, file or glob) that matches no netCDF file, or that
/// leaves the user's storage; the message is the same the run would end with.
pub fn check_dataset(name: &str, dataset: &str, user_dir: &std::path::Path) -> Result<(), ParamError> {
    dataset::discover(user_dir, dataset).map(|_| ()).map_err(|e| ParamError::invalid(name, e))
}

/// A dataset opened for a request.
pub struct Opened {
    /// (absolute path, user-relative name), sorted by name.
    pub files: Vec<(std::path::PathBuf, String)>,
    /// The first file, whose grid every other file must share.
    pub first: cf::FileInfo,
    pub sel: Selection,
    pub bbox: BBox,
    /// Inclusive time bounds, epoch seconds.
    pub start: i64,
    pub end: i64,
    /// What the readers may allocate.
    pub budget: Budget,
    /// Files read through libnetcdf, reported with the results.
    pub fallbacks: Fallbacks,
}

impl Opened {
    /// The variable's units, from the first file.
    pub fn units(&self) -> Option<&str> {
        self.first.units.as_deref()
    }

    /// The run's results plus `read-notes.txt` when some files were read through libnetcdf.
    pub fn finish(&self, ctx: &JobContext, mut outputs: Outputs) -> Result<Outputs, Failure> {
        self.fallbacks.write_notes(ctx, &mut outputs)?;
        Ok(outputs)
    }
}

/// Bytes one thread holds to read one step of a `rows` × `cols` box of `variable`: its chunks
/// when the file is chunked netCDF-4, else the hyperslab libnetcdf fills.
fn step_read_bytes(path: &std::path::Path, variable: &str, rank: usize, rows: usize, cols: usize) -> u64 {
    match chunks::chunk_layout(path, variable, rank) {
        Some((chunk, elem)) => chunks::step_bytes(&chunk, elem, rows, cols),
        None => (rows as u64).saturating_mul(cols as u64).saturating_mul(8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocean::{dda, maps, merge, subset, timeavg, timeseries};

    /// Writes `ny` × `nx` int16 files chunked by 1 × 45 × 90 (no data: netCDF-4 allocates no
    /// chunk until it is written, so a huge grid costs only its coordinates).
    fn dataset(dir: &std::path::Path, files: usize, (ny, nx): (usize, usize)) {
        std::fs::create_dir_all(dir.join("sst")).unwrap();
        for k in 0..files {
            let mut f = netcdf::create(dir.join(format!("sst/{k}.nc"))).unwrap();
            f.add_dimension("time", 3).unwrap();
            f.add_dimension("lat", ny).unwrap();
            f.add_dimension("lon", nx).unwrap();
            let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
            t.put_attribute("units", "days since 2024-01-01").unwrap();
            t.put_values(&[0.0, 1.0, 2.0], ..).unwrap();
            for (name, n, span, units) in [("lat", ny, 180.0, "degrees_north"), ("lon", nx, 360.0, "degrees_east")] {
                let mut c = f.add_variable::<f64>(name, &[name]).unwrap();
                c.put_attribute("units", units).unwrap();
                let values: Vec<f64> = (0..n).map(|i| -span / 2.0 + span * (i as f64 + 0.5) / n as f64).collect();
                c.put_values(&values, ..).unwrap();
            }
            let mut v = f.add_variable::<i16>("sst", &["time", "lat", "lon"]).unwrap();
            v.set_chunking(&[1, 45, 90]).unwrap();
            v.set_compression(4, true).unwrap();
        }
    }

    fn request(bbox: &str) -> Request {
        Request { dataset: "sst".into(), variable: "sst".into(), bbox: bbox.into(), start: None, end: None }
    }

    /// Each kind's estimate comes from the headers: it grows with the box, the number of files
    /// and the per-pixel state of the kind, and a declared 10^6 × 10^6 grid estimates terabytes
    /// (what job creation refuses against the operator's limit).
    #[test]
    fn kinds_estimate_their_memory_from_the_headers() {
        let dir = std::env::temp_dir().join(format!("vocloud-ocean-estimate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dataset(&dir, 2, (180, 360));
        let series = |bbox| timeseries::TimeseriesParams {
            request: request(bbox),
            seasonal_climatology: None,
            low_pass: true,
            partial: None,
        };
        let avg = |bbox| timeavg::TimeavgParams { request: request(bbox), partial: None };
        let globe_series = timeseries::OceanTimeseries::estimate_bytes(&series(GLOBE), &dir).unwrap();
        let globe_map = timeavg::OceanTimeavg::estimate_bytes(&avg(GLOBE), &dir).unwrap();
        let box_map = timeavg::OceanTimeavg::estimate_bytes(&avg("0,0,10,10"), &dir).unwrap();
        assert!(box_map < globe_map && globe_series < globe_map, "{box_map} {globe_series} {globe_map}");
        let dda = dda::DdaParams { request: request(GLOBE), climatology: "sst".into(), partial: None };
        assert!(dda::OceanDda::estimate_bytes(&dda, &dir).unwrap() > globe_series, "a climatology step too");
        let points = subset::SubsetParams { request: request(GLOBE), format: "csv".into(), max_points: 10 };
        assert!(subset::OceanSubset::estimate_bytes(&points, &dir).unwrap() > globe_series);
        let frames = maps::MapsParams { request: request(GLOBE), vmin: None, vmax: None };
        assert!(maps::OceanMaps::estimate_bytes(&frames, &dir).unwrap() > globe_series);
        let missing = timeseries::TimeseriesParams {
            request: Request { variable: "chl".into(), ..request(GLOBE) },
            ..series(GLOBE)
        };
        assert!(timeseries::OceanTimeseries::estimate_bytes(&missing, &dir).unwrap_err().to_string().contains("chl"));
        let parts = merge::MergeParams { parts: "none".into() };
        assert!(merge::OceanMerge::estimate_bytes(&parts, &dir).is_err(), "no parts folder");

        std::fs::remove_dir_all(&dir).unwrap();
        dataset(&dir, 1, (1_000_000, 1_000_000));
        let huge = timeavg::OceanTimeavg::estimate_bytes(&avg(GLOBE), &dir).unwrap();
        assert!(huge > 10 << 40, "{}", memory::human(huge));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
