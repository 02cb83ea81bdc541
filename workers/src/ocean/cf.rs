//! Reading one CF-convention netCDF file: the data variable's layout, its packing and validity
//! attributes, its latitude/longitude coordinates (1-D, or 2-D curvilinear) and its time axis.
//!
//! Validity follows CF: a value is missing when the packed value equals `_FillValue` or one of
//! `missing_value`, is NaN, or lies outside `valid_min`/`valid_max`/`valid_range` (compared
//! packed when the attribute has the variable's integer type, else unpacked). The rest is
//! unpacked in float64 as `raw * scale_factor + add_offset`, the order xarray uses, so both give
//! bit-identical values. (SDAP/xarray ignore `valid_*`; vocloud applies it, as CF asks.)
//!
//! Every error names the file and what is missing from it; callers turn it into a job ERROR.

use std::cell::Cell;
use std::ffi::c_void;
use std::path::{Path, PathBuf};

use netcdf::{AttributeValue, Variable};

use super::memory::{Budget, STEP_BYTES};
use super::time::{Stamp, TimeUnits};

/// Turns packed values into physical values, or NaN where CF says "missing".
#[derive(Debug, Clone, PartialEq)]
pub struct Decoder {
    missing: Vec<f64>,
    scale: f64,
    offset: f64,
    valid_packed: (f64, f64),
    valid_unpacked: (f64, f64),
}

impl Decoder {
    /// Decodes one raw value (already converted to f64 exactly: every netCDF type up to 32-bit
    /// integers and floats is exact in f64).
    #[inline]
    pub fn decode(&self, raw: f64) -> f64 {
        if raw.is_nan() || self.missing.contains(&raw) || raw < self.valid_packed.0 || raw > self.valid_packed.1 {
            return f64::NAN;
        }
        let value = raw * self.scale + self.offset;
        if value < self.valid_unpacked.0 || value > self.valid_unpacked.1 { f64::NAN } else { value }
    }
}

/// Horizontal coordinates of a grid.
#[derive(Debug, Clone, PartialEq)]
pub enum Coords {
    /// `lat[ny]`, `lon[nx]`.
    Regular { lat: Vec<f64>, lon: Vec<f64> },
    /// `lat[ny*nx]`, `lon[ny*nx]`, row-major (curvilinear grids such as RTOFS).
    Curvilinear { lat: Vec<f64>, lon: Vec<f64> },
}

/// What vocloud knows about one file after opening it.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub path: PathBuf,
    /// Shown in messages: the user-relative name of the file.
    pub name: String,
    pub variable: String,
    pub units: Option<String>,
    pub long_name: Option<String>,
    /// Length of each dimension of the variable: `[time, (singletons), y, x]`.
    pub shape: Vec<usize>,
    pub ny: usize,
    pub nx: usize,
    pub lat_name: String,
    pub lon_name: String,
    pub decoder: Decoder,
    pub stamps: Vec<Stamp>,
}

// libhdf5 is linked through netcdf-sys (hdf5-metno-sys); only this one symbol is needed.
unsafe extern "C" {
    fn H5Eset_auto2(
        estack_id: i64,
        func: Option<unsafe extern "C" fn(i64, *mut c_void) -> i32>,
        data: *mut c_void,
    ) -> i32;
}

thread_local! {
    static HDF5_QUIET: Cell<bool> = const { Cell::new(false) };
}

/// The thread-safe libhdf5 keeps its error-printing switch per thread, and libnetcdf turns it
/// off only on the thread that first used it; on every other (rayon, executor) thread, probing
/// a missing attribute would print an `HDF5-DIAG` trace to stderr. Errors still come back as
/// return codes.
pub fn quiet_hdf5() {
    HDF5_QUIET.with(|quiet| {
        if !quiet.replace(true) {
            // SAFETY: H5E_DEFAULT (0) is the calling thread's default error stack; a null
            // handler only disables automatic printing.
            unsafe { H5Eset_auto2(0, None, std::ptr::null_mut()) };
        }
    });
}

/// Opens a file, with the file's name in the error.
pub fn open(path: &Path, name: &str) -> Result<netcdf::File, String> {
    quiet_hdf5();
    netcdf::open(path).map_err(|e| format!("{name}: not a readable netCDF file ({e})"))
}

/// What the header alone says about a variable: no data is read.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Length of each dimension of the variable: `[time, (singletons), y, x]`.
    pub shape: Vec<usize>,
    pub time_dim: String,
    pub ny: usize,
    pub nx: usize,
    pub lat_name: String,
    pub lon_name: String,
    /// The coordinates are 2-D (`lat[y, x]`), read whole.
    pub curvilinear: bool,
}

impl Layout {
    pub fn steps(&self) -> usize {
        self.shape[0]
    }
}

/// Reads the layout of `variable` from the header of `file`.
pub fn layout(file: &netcdf::File, name: &str, variable: &str) -> Result<Layout, String> {
    let fail = |what: String| format!("{name}: {what}");
    let var = file.variable(variable).ok_or_else(|| {
        let names: Vec<String> = file.variables().map(|v| v.name()).collect();
        fail(format!("has no variable '{variable}' (it has: {})", names.join(", ")))
    })?;
    let dims: Vec<(String, usize)> = var.dimensions().iter().map(|d| (d.name(), d.len())).collect();
    if dims.len() < 3 {
        return Err(fail(format!("variable '{variable}' has dimensions {dims:?}; expected (time, …, y, x)")));
    }
    let (ny, nx) = (dims[dims.len() - 2].1, dims[dims.len() - 1].1);
    if let Some((extra, len)) = dims[1..dims.len() - 2].iter().find(|(_, len)| *len != 1) {
        return Err(fail(format!(
            "variable '{variable}' has a dimension '{extra}' of length {len} between time and the grid; \
             only length 1 is supported"
        )));
    }
    let (lat_name, lon_name) = find_latlon(file, &var, &dims[dims.len() - 2].0, &dims[dims.len() - 1].0)
        .ok_or_else(|| fail(format!("no latitude/longitude coordinates found for '{variable}'")))?;
    let curvilinear = file.variable(&lat_name).is_some_and(|v| v.dimensions().len() == 2);
    Ok(Layout {
        shape: dims.iter().map(|d| d.1).collect(),
        time_dim: dims[0].0.clone(),
        ny,
        nx,
        lat_name,
        lon_name,
        curvilinear,
    })
}

/// Reads the description of `variable` in `file`: its layout, units, packing and time axis
/// (whose declared length is checked against `budget` before it is read).
pub fn describe(
    file: &netcdf::File,
    path: &Path,
    name: &str,
    variable: &str,
    budget: &Budget,
) -> Result<FileInfo, String> {
    let fail = |what: String| format!("{name}: {what}");
    let layout = layout(file, name, variable)?;
    let var = file.variable(variable).expect("found by layout");
    let steps = layout.steps() as u64;
    budget.check(|| format!("{name}: a time axis of {steps} time steps"), steps.saturating_mul(STEP_BYTES))?;
    let stamps = read_time(file, &layout.time_dim).map_err(fail)?;
    Ok(FileInfo {
        path: path.to_path_buf(),
        name: name.to_string(),
        variable: variable.to_string(),
        units: text_attr(&var, "units"),
        long_name: text_attr(&var, "long_name").or_else(|| text_attr(&var, "standard_name")),
        shape: layout.shape,
        ny: layout.ny,
        nx: layout.nx,
        lat_name: layout.lat_name,
        lon_name: layout.lon_name,
        decoder: decoder(&var).map_err(fail)?,
        stamps,
    })
}

/// Reads the coordinates named in `info` (done once per dataset: all files must share the grid),
/// after checking their declared size against `budget`.
pub fn read_coords(file: &netcdf::File, info: &FileInfo, budget: &Budget) -> Result<Coords, String> {
    let var = |name: &str| file.variable(name).ok_or_else(|| format!("{}: no variable '{name}'", info.name));
    let (lat_var, lon_var) = (var(&info.lat_name)?, var(&info.lon_name)?);
    let len = |v: &Variable| v.dimensions().iter().fold(1u64, |n, d| n.saturating_mul(d.len() as u64));
    let (ny, nx) = (info.ny, info.nx);
    let what = || match lat_var.dimensions().len() {
        2 => format!("{}: the {ny} × {nx} grid's 2-D latitudes and longitudes", info.name),
        _ => format!("{}: the {ny} × {nx} grid's latitudes and longitudes", info.name),
    };
    budget.check(what, len(&lat_var).saturating_add(len(&lon_var)).saturating_mul(8))?;
    let read = |v: &Variable| -> Result<Vec<f64>, String> {
        v.get_values::<f64, _>(..).map_err(|e| format!("{}: reading '{}': {e}", info.name, v.name()))
    };
    let (lat, lon) = (read(&lat_var)?, read(&lon_var)?);
    if lat.len() == ny && lon.len() == nx {
        Ok(Coords::Regular { lat, lon })
    } else if Some(lat.len()) == ny.checked_mul(nx) && lon.len() == lat.len() {
        Ok(Coords::Curvilinear { lat, lon })
    } else {
        Err(format!("{}: coordinate sizes do not match the grid of '{}'", info.name, info.variable))
    }
}

fn text_attr(var: &Variable, name: &str) -> Option<String> {
    match var.attribute_value(name)?.ok()? {
        AttributeValue::Str(s) => Some(s),
        _ => None,
    }
}

/// All numbers of an attribute, and whether it is of an integer type.
fn number_attr(var: &Variable, name: &str) -> Result<Option<(Vec<f64>, bool)>, String> {
    let Some(value) = var.attribute_value(name) else { return Ok(None) };
    let value = value.map_err(|e| format!("attribute '{name}': {e}"))?;
    use AttributeValue as A;
    let (numbers, integer): (Vec<f64>, bool) = match value {
        A::Uchar(x) => (vec![x as f64], true),
        A::Schar(x) => (vec![x as f64], true),
        A::Ushort(x) => (vec![x as f64], true),
        A::Short(x) => (vec![x as f64], true),
        A::Uint(x) => (vec![x as f64], true),
        A::Int(x) => (vec![x as f64], true),
        A::Ulonglong(x) => (vec![x as f64], true),
        A::Longlong(x) => (vec![x as f64], true),
        A::Float(x) => (vec![x as f64], false),
        A::Double(x) => (vec![x], false),
        A::Uchars(x) => (x.iter().map(|&v| v as f64).collect(), true),
        A::Schars(x) => (x.iter().map(|&v| v as f64).collect(), true),
        A::Ushorts(x) => (x.iter().map(|&v| v as f64).collect(), true),
        A::Shorts(x) => (x.iter().map(|&v| v as f64).collect(), true),
        A::Uints(x) => (x.iter().map(|&v| v as f64).collect(), true),
        A::Ints(x) => (x.iter().map(|&v| v as f64).collect(), true),
        A::Ulonglongs(x) => (x.iter().map(|&v| v as f64).collect(), true),
        A::Longlongs(x) => (x.iter().map(|&v| v as f64).collect(), true),
        A::Floats(x) => (x.iter().map(|&v| v as f64).collect(), false),
        A::Doubles(x) => (x, false),
        A::Str(_) | A::Strs(_) => return Err(format!("attribute '{name}' is text, expected a number")),
    };
    Ok(Some((numbers, integer)))
}

fn decoder(var: &Variable) -> Result<Decoder, String> {
    let first = |name: &str| -> Result<Option<f64>, String> {
        Ok(number_attr(var, name)?.and_then(|(v, _)| v.first().copied()))
    };
    let mut missing = Vec::new();
    for name in ["_FillValue", "missing_value"] {
        if let Some((values, _)) = number_attr(var, name)? {
            missing.extend(values.into_iter().filter(|v| !v.is_nan()));
        }
    }
    let scale = first("scale_factor")?.unwrap_or(1.0);
    let offset = first("add_offset")?.unwrap_or(0.0);
    let packed_var = !matches!(var.vartype(), netcdf::types::NcVariableType::Float(_));
    let mut valid_packed = (f64::NEG_INFINITY, f64::INFINITY);
    let mut valid_unpacked = valid_packed;
    let mut set = |lo: Option<f64>, hi: Option<f64>, integer: bool| {
        let target = if integer && packed_var { &mut valid_packed } else { &mut valid_unpacked };
        if let Some(lo) = lo {
            target.0 = lo;
        }
        if let Some(hi) = hi {
            target.1 = hi;
        }
    };
    if let Some((range, integer)) = number_attr(var, "valid_range")? {
        if range.len() != 2 {
            return Err("attribute 'valid_range' must hold two numbers".into());
        }
        set(Some(range[0]), Some(range[1]), integer);
    }
    if let Some((v, integer)) = number_attr(var, "valid_min")? {
        set(v.first().copied(), None, integer);
    }
    if let Some((v, integer)) = number_attr(var, "valid_max")? {
        set(None, v.first().copied(), integer);
    }
    Ok(Decoder { missing, scale, offset, valid_packed, valid_unpacked })
}

fn looks_like(var: &Variable, axis: &str) -> bool {
    let (standard, units, prefixes): (&str, &[&str], &[&str]) = match axis {
        "lat" => ("latitude", &["degrees_north", "degree_north", "degrees_n", "degree_n"], &["lat", "nav_lat"]),
        _ => ("longitude", &["degrees_east", "degree_east", "degrees_e", "degree_e"], &["lon", "nav_lon"]),
    };
    let name = var.name().to_ascii_lowercase();
    text_attr(var, "standard_name").as_deref() == Some(standard)
        || text_attr(var, "units").is_some_and(|u| units.contains(&u.to_ascii_lowercase().as_str()))
        || prefixes.iter().any(|p| name.starts_with(p))
}

/// (lat, lon) variable names: 1-D coordinate variables named after the grid dimensions, else
/// 2-D ones listed in `coordinates` or spanning (y, x).
fn find_latlon(file: &netcdf::File, var: &Variable, ydim: &str, xdim: &str) -> Option<(String, String)> {
    if let (Some(y), Some(x)) = (file.variable(ydim), file.variable(xdim))
        && y.dimensions().len() == 1
        && x.dimensions().len() == 1
        && looks_like(&y, "lat")
        && looks_like(&x, "lon")
    {
        return Some((ydim.to_string(), xdim.to_string()));
    }
    let listed: Vec<String> =
        text_attr(var, "coordinates").map(|c| c.split_whitespace().map(String::from).collect()).unwrap_or_default();
    let spans_grid = |v: &Variable| {
        let d: Vec<String> = v.dimensions().iter().map(|d| d.name()).collect();
        d == [ydim, xdim]
    };
    let pick = |axis: &str| -> Option<String> {
        let candidates = file.variables().filter(|v| spans_grid(v) && looks_like(v, axis));
        let mut names: Vec<String> = candidates.map(|v| v.name()).collect();
        names.sort_by_key(|n| !listed.contains(n));
        names.into_iter().next()
    };
    Some((pick("lat")?, pick("lon")?))
}

fn read_time(file: &netcdf::File, time_dim: &str) -> Result<Vec<Stamp>, String> {
    let var = file.variable(time_dim).ok_or_else(|| format!("no time coordinate variable '{time_dim}'"))?;
    let units = text_attr(&var, "units").ok_or_else(|| format!("time variable '{time_dim}' has no 'units'"))?;
    let calendar = text_attr(&var, "calendar");
    let units =
        TimeUnits::parse(&units, calendar.as_deref()).map_err(|e| format!("time variable '{time_dim}': {e}"))?;
    let values = var.get_values::<f64, _>(..).map_err(|e| format!("reading time: {e}"))?;
    let decode = |(i, v): (usize, f64)| {
        units.decode(v).map_err(|e| format!("time variable '{time_dim}': the value at index {i} {e}"))
    };
    values.into_iter().enumerate().map(decode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_masks_fill_missing_nan_and_valid_range_then_unpacks() {
        let d = Decoder {
            missing: vec![-32768.0, -999.0],
            scale: 0.01,
            offset: 273.15,
            valid_packed: (-3000.0, 4500.0),
            valid_unpacked: (f64::NEG_INFINITY, f64::INFINITY),
        };
        assert!(d.decode(-32768.0).is_nan());
        assert!(d.decode(-999.0).is_nan());
        assert!(d.decode(f64::NAN).is_nan());
        assert!(d.decode(4501.0).is_nan());
        assert_eq!(d.decode(1234.0), 1234.0 * 0.01 + 273.15);
    }
}
