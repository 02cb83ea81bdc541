//! `ocean-subset`: every valid point of a box and period (SDAP `/datainbounds`, `/cdmssubset`)
//! as CSV (`longitude,latitude,time,<variable>`, time as `%Y-%m-%dT%H:%M:%SZ`, like
//! `/cdmssubset`), VOTable or netCDF (one `obs` dimension). Rows are ordered by time, then
//! grid row and column. At most `max_points` points, so a careless request cannot fill memory.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::Request;
use super::read::map_files;
use super::time::iso_utc;
use crate::votable::{Datatype, Field, Table, Value as Cell};
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ParamType, ResultFile};

pub struct OceanSubset;

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

    fn run(params: SubsetParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        let req = &params.request;
        let opened = req.open(ctx)?;
        let sel = &opened.sel;
        let total = AtomicU64::new(0);
        let per_step = map_files(&opened, req.variable.trim(), ctx, "subset", |stamp, values| {
            let points: Vec<Point> = (0..values.len())
                .filter(|&i| !values[i].is_nan())
                .map(|i| Point { time: stamp.epoch, lat: sel.lat[i], lon: sel.lon[i], value: values[i] })
                .collect();
            let n = total.fetch_add(points.len() as u64, Ordering::Relaxed) + points.len() as u64;
            if n > params.max_points as u64 {
                return Err(format!("the subset has more than max_points = {} points", params.max_points));
            }
            Ok(points)
        })?;
        if per_step.is_empty() {
            return Err(req.no_steps());
        }
        let points: Vec<Point> = per_step.into_iter().flat_map(|(_, points)| points).collect();
        let var = req.variable.trim();
        let units = opened.units().unwrap_or("");
        let result = match params.format.as_str() {
            "votable" => {
                ctx.write_result("subset.vot", &votable(&points, var, units))?;
                ResultFile { name: "subset.vot".into(), mime_type: "application/x-votable+xml".into() }
            }
            "netcdf" => {
                let tmp = ctx.work_dir.join("subset.nc");
                netcdf_points(&tmp, &points, var, units).map_err(|e| Failure::fatal("writing subset.nc", e))?;
                std::fs::rename(&tmp, ctx.results_dir.join("subset.nc"))
                    .map_err(|e| Failure::Retryable(e.to_string()))?;
                ResultFile { name: "subset.nc".into(), mime_type: "application/x-netcdf".into() }
            }
            _ => {
                ctx.write_result("subset.csv", csv(&points, var).as_bytes())?;
                ResultFile { name: "subset.csv".into(), mime_type: "text/csv".into() }
            }
        };
        ctx.progress(1.0, format!("{} points", points.len()));
        Ok(Outputs { results: vec![result] })
    }
}

/// `2024-01-15T09:00:00Z`, the subsetter's time format.
fn iso_z(epoch: i64) -> String {
    let iso = iso_utc(epoch);
    format!("{}Z", &iso[..19])
}

fn csv(points: &[Point], var: &str) -> String {
    let mut out = format!("longitude,latitude,time,{var}\n");
    for p in points {
        let _ = writeln!(out, "{:?},{:?},{},{:?}", p.lon, p.lat, iso_z(p.time), p.value);
    }
    out
}

fn votable(points: &[Point], var: &str, units: &str) -> Vec<u8> {
    let mut table = Table::new(
        "subset",
        vec![
            Field::new("longitude", Datatype::Double).unit("deg").ucd("pos.earth.lon"),
            Field::new("latitude", Datatype::Double).unit("deg").ucd("pos.earth.lat"),
            Field::new("time", Datatype::Char).ucd("time.epoch").describe("ISO 8601, UTC"),
            Field::new(var, Datatype::Double).unit(units),
        ],
    );
    for p in points {
        table.push(vec![Cell::Float(p.lon), Cell::Float(p.lat), Cell::Text(iso_z(p.time)), Cell::Float(p.value)]);
    }
    table.to_bytes()
}

fn netcdf_points(path: &std::path::Path, points: &[Point], var: &str, units: &str) -> Result<(), netcdf::Error> {
    super::cf::quiet_hdf5();
    let mut file = netcdf::create(path)?;
    file.add_attribute("Conventions", "CF-1.8")?;
    file.add_attribute("featureType", "point")?;
    file.add_dimension("obs", points.len())?;
    let mut t = file.add_variable::<i64>("time", &["obs"])?;
    t.put_attribute("units", "seconds since 1970-01-01 00:00:00")?;
    t.put_attribute("standard_name", "time")?;
    t.put_values(&points.iter().map(|p| p.time).collect::<Vec<_>>(), ..)?;
    for (name, standard, unit, values) in [
        ("lat", "latitude", "degrees_north", points.iter().map(|p| p.lat).collect::<Vec<_>>()),
        ("lon", "longitude", "degrees_east", points.iter().map(|p| p.lon).collect()),
    ] {
        let mut v = file.add_variable::<f64>(name, &["obs"])?;
        v.put_attribute("standard_name", standard)?;
        v.put_attribute("units", unit)?;
        v.put_values(&values, ..)?;
    }
    let mut v = file.add_variable::<f64>(var, &["obs"])?;
    v.put_attribute("units", units)?;
    v.put_attribute("coordinates", "time lat lon")?;
    v.put_values(&points.iter().map(|p| p.value).collect::<Vec<_>>(), ..)?;
    file.close()
}
