//! `ocean-subset`: every valid point of a box and period (SDAP `/datainbounds`, `/cdmssubset`)
//! as CSV (`longitude,latitude,time,<variable>`, time as `%Y-%m-%dT%H:%M:%SZ`, like
//! `/cdmssubset`), VOTable or netCDF (one unlimited `obs` dimension). Rows are ordered by time,
//! then grid row and column. The file is written as the steps are read, a batch of steps at a
//! time, so memory does not grow with the number of points; `max_points` caps the file size.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Request;
use super::memory::Use;
use super::read::map_steps;
use super::time::iso_utc;
use crate::votable::{Datatype, Field, Stream, Table, Value as Cell};
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ParamType, ResultFile};

pub struct OceanSubset;

impl OceanSubset {
    /// The memory a run needs, from its parameters and the dataset's headers (see
    /// [`super::memory`]): the figure to compare with the operator's per-job limit at creation.
    ///
    /// # Errors
    /// The dataset matches no readable netCDF file with the variable.
    pub fn estimate_bytes(params: &SubsetParams, user_dir: &std::path::Path) -> Result<u64, ParamError> {
        params.request.estimate_bytes(user_dir, Use::Points)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SubsetParams {
    #[serde(flatten)]
    pub request: Request,
    pub format: String,
    pub max_points: i64,
}

/// One valid point.
struct Point {
    time: i64,
    lat: f64,
    lon: f64,
    value: f64,
}

impl Kind for OceanSubset {
    type Params = SubsetParams;
    const NAME: &'static str = "ocean-subset";
    const DESCRIPTION: &'static str =
        "The valid points of a box and period (SDAP datainbounds/cdmssubset) as CSV, VOTable or netCDF.";

    fn parameters() -> Vec<ParamSpec> {
        let mut specs = super::request_specs();
        specs.push(
            ParamSpec::new("format", ParamType::Choice { values: vec!["csv", "votable", "netcdf"] }, "output format")
                .default("csv"),
        );
        specs.push(
            ParamSpec::new(
                "max_points",
                ParamType::Integer { min: Some(1), max: Some(100_000_000) },
                "refuse (job ERROR) subsets with more points than this",
            )
            .default(10_000_000),
        );
        specs
    }

    fn check(params: &SubsetParams) -> Result<(), ParamError> {
        params.request.check()
    }

    fn check_inputs(params: &SubsetParams, user_dir: &std::path::Path) -> Result<(), ParamError> {
        params.request.check_inputs(user_dir)?;
        Ok(())
    }

    fn run(params: SubsetParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        let req = &params.request;
        let (opened, ds) = req.scan(ctx, Use::Points)?;
        let sel = &opened.sel;
        let var = req.variable.trim();
        let units = opened.units().unwrap_or("");
        let (name, mime) = match params.format.as_str() {
            "votable" => ("subset.vot", "application/x-votable+xml"),
            "netcdf" => ("subset.nc", "application/x-netcdf"),
            _ => ("subset.csv", "text/csv"),
        };
        // Written in the scratch folder and moved into the results when complete.
        let tmp = ctx.work_dir.join(name);
        let mut sink = Sink::create(&params.format, &tmp, var, units).map_err(|e| Failure::fatal(name, e))?;
        let mut total = 0u64;
        // Batches of consecutive steps are read in parallel, then written in time order:
        // memory holds one batch of points, whatever the number of steps.
        let batch = 2 * rayon::current_num_threads().max(1);
        for first in (0..ds.steps.len()).step_by(batch) {
            let range = first..(first + batch).min(ds.steps.len());
            let per_step = map_steps(&ds, range, &opened, ctx, "subset", |_, step, values| {
                Ok((0..values.len())
                    .filter(|&i| !values[i].is_nan())
                    .map(|i| Point { time: step.stamp.epoch, lat: sel.lat[i], lon: sel.lon[i], value: values[i] })
                    .collect::<Vec<_>>())
            })?;
            for points in per_step {
                total += points.len() as u64;
                if total > params.max_points as u64 {
                    return Err(Failure::Fatal(format!(
                        "the subset has more than max_points = {} points",
                        params.max_points
                    )));
                }
                sink.write(&points).map_err(|e| Failure::fatal(name, e))?;
            }
        }
        sink.finish().map_err(|e| Failure::fatal(name, e))?;
        std::fs::rename(&tmp, ctx.results_dir.join(name)).map_err(|e| Failure::Retryable(e.to_string()))?;
        ctx.progress(1.0, format!("{total} points"));
        opened.finish(ctx, Outputs { results: vec![ResultFile { name: name.into(), mime_type: mime.into() }] })
    }
}

/// The output file, appended to batch by batch.
enum Sink {
    Csv(BufWriter<File>),
    Votable(Stream<BufWriter<File>>),
    Netcdf { file: netcdf::FileMut, var: String, rows: usize },
}

impl Sink {
    fn create(format: &str, path: &Path, var: &str, units: &str) -> Result<Sink, String> {
        let open = || File::create(path).map(BufWriter::new).map_err(|e| e.to_string());
        Ok(match format {
            "votable" => Sink::Votable(Stream::start(&votable_head(var, units), open()?).map_err(|e| e.to_string())?),
            "netcdf" => Sink::Netcdf {
                file: netcdf_head(path, var, units).map_err(|e| e.to_string())?,
                var: var.into(),
                rows: 0,
            },
            _ => {
                let mut out = open()?;
                writeln!(out, "longitude,latitude,time,{var}").map_err(|e| e.to_string())?;
                Sink::Csv(out)
            }
        })
    }

    fn write(&mut self, points: &[Point]) -> Result<(), String> {
        match self {
            Sink::Csv(out) => {
                for p in points {
                    writeln!(out, "{:?},{:?},{},{:?}", p.lon, p.lat, iso_z(p.time), p.value)
                        .map_err(|e| e.to_string())?;
                }
            }
            Sink::Votable(stream) => {
                for p in points {
                    let row = [Cell::Float(p.lon), Cell::Float(p.lat), Cell::Text(iso_z(p.time)), Cell::Float(p.value)];
                    stream.row(&row).map_err(|e| e.to_string())?;
                }
            }
            Sink::Netcdf { file, var, rows } => {
                netcdf_append(file, var, *rows, points).map_err(|e| e.to_string())?;
                *rows += points.len();
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(), String> {
        match self {
            Sink::Csv(mut out) => out.flush().map_err(|e| e.to_string()),
            Sink::Votable(stream) => stream.finish().and_then(|mut out| out.flush()).map_err(|e| e.to_string()),
            Sink::Netcdf { file, .. } => file.close().map_err(|e| e.to_string()),
        }
    }
}

/// `2024-01-15T09:00:00Z`, the subsetter's time format.
fn iso_z(epoch: i64) -> String {
    let iso = iso_utc(epoch);
    format!("{}Z", &iso[..19])
}

fn votable_head(var: &str, units: &str) -> Table {
    Table::new(
        "subset",
        vec![
            Field::new("longitude", Datatype::Double).unit("deg").ucd("pos.earth.lon"),
            Field::new("latitude", Datatype::Double).unit("deg").ucd("pos.earth.lat"),
            Field::new("time", Datatype::Char).ucd("time.epoch").describe("ISO 8601, UTC"),
            Field::new(var, Datatype::Double).unit(units),
        ],
    )
}

/// A CF point file with an unlimited `obs` dimension, so batches can be appended.
fn netcdf_head(path: &Path, var: &str, units: &str) -> Result<netcdf::FileMut, netcdf::Error> {
    super::cf::quiet_hdf5();
    let mut file = netcdf::create(path)?;
    file.add_attribute("Conventions", "CF-1.8")?;
    file.add_attribute("featureType", "point")?;
    file.add_unlimited_dimension("obs")?;
    let mut t = file.add_variable::<i64>("time", &["obs"])?;
    t.put_attribute("units", "seconds since 1970-01-01 00:00:00")?;
    t.put_attribute("standard_name", "time")?;
    for (name, standard, unit) in [("lat", "latitude", "degrees_north"), ("lon", "longitude", "degrees_east")] {
        let mut v = file.add_variable::<f64>(name, &["obs"])?;
        v.put_attribute("standard_name", standard)?;
        v.put_attribute("units", unit)?;
    }
    let mut v = file.add_variable::<f64>(var, &["obs"])?;
    v.put_attribute("units", units)?;
    v.put_attribute("coordinates", "time lat lon")?;
    Ok(file)
}

fn netcdf_append(file: &mut netcdf::FileMut, var: &str, at: usize, points: &[Point]) -> Result<(), netcdf::Error> {
    if points.is_empty() {
        return Ok(());
    }
    let range = at..at + points.len();
    let column = |f: fn(&Point) -> f64| points.iter().map(f).collect::<Vec<f64>>();
    let mut v = file.variable_mut("time").expect("created above");
    v.put_values(&points.iter().map(|p| p.time).collect::<Vec<_>>(), range.clone())?;
    for (name, values) in [("lat", column(|p| p.lat)), ("lon", column(|p| p.lon)), (var, column(|p| p.value))] {
        file.variable_mut(name).expect("created above").put_values(&values, range.clone())?;
    }
    Ok(())
}
