//! How a table holds spectra, shared by the CSV and VOTable readers so both accept exactly the
//! same layouts: which column is what ([`roles`]), and the one-spectrum-per-row table whose
//! column names are wavelengths ([`Wide`]).

use std::sync::Arc;

use super::error::Problem;
use super::{Axis, Origin, Spectrum};

/// What a column holds, from its name (case-insensitive) or its VOTable UCD. `Velocity` is a
/// radial velocity (`vrad`, UCD `spect.dopplerVeloc…`): not flux; `preprocess` can read it as
/// its velocity catalogue (`velocity=FILE#COLUMN` on the input itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Wave { log10: bool },
    Flux,
    Time,
    Name,
    Label,
    Velocity,
    Other,
}

/// Exact names first; a prefix (`wavelength_air`, `flux_density`) only when no column matches
/// exactly, and never for error or weight columns (`flux_err`, `flux_ivar`).
fn role_of(name: &str, ucd: Option<&str>, exact: bool) -> Role {
    let n = name.trim().to_ascii_lowercase();
    if let Some(u) = ucd.map(|u| u.trim().to_ascii_lowercase()) {
        let first = u.split(';').next().unwrap_or("");
        match first {
            "em.wl" => return Role::Wave { log10: false },
            "phot.flux.density" | "phot.flux" => return Role::Flux,
            "time.epoch" => return Role::Time,
            "meta.id" => return Role::Name,
            "src.class" | "meta.code.class" => return Role::Label,
            u if u.starts_with("spect.dopplerveloc") => return Role::Velocity,
            _ => {}
        }
    }
    let is = |names: &[&str]| names.contains(&n.as_str());
    let starts = |prefixes: &[&str]| {
        !exact
            && prefixes.iter().any(|p| n.starts_with(p))
            && !["err", "ivar", "sig", "unc", "mask", "var"].iter().any(|bad| n.contains(bad))
    };
    if is(&["loglam", "log_lambda", "log_wave"]) {
        Role::Wave { log10: true }
    } else if is(&["wavelength", "wave", "lambda", "wl", "x"]) || starts(&["wave", "lambda"]) {
        Role::Wave { log10: false }
    } else if is(&["flux", "intensity", "value", "y"]) || starts(&["flux"]) {
        Role::Flux
    } else if is(&["time"]) || starts(&["time"]) {
        Role::Time
    } else if is(&["name", "id", "file", "object", "objname", "obj_id", "target"]) {
        Role::Name
    } else if is(&["label", "class"]) || starts(&["class"]) {
        Role::Label
    } else if is(&["vrad", "v_rad", "rv", "radial_velocity", "velocity"]) {
        Role::Velocity
    } else {
        Role::Other
    }
}

/// The columns with a role: the first exact match of each, else the first prefix match.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Roles {
    pub wave: Option<(usize, bool)>,
    pub flux: Option<usize>,
    pub time: Option<usize>,
    pub name: Option<usize>,
    pub label: Option<usize>,
    pub velocity: Option<usize>,
}

impl Roles {
    pub fn of(columns: &[(&str, Option<&str>)]) -> Roles {
        let mut roles = Roles::default();
        for exact in [true, false] {
            for (i, (name, ucd)) in columns.iter().enumerate() {
                match role_of(name, *ucd, exact) {
                    Role::Wave { log10 } => {
                        roles.wave.get_or_insert((i, log10));
                    }
                    Role::Flux => {
                        roles.flux.get_or_insert(i);
                    }
                    Role::Time => {
                        roles.time.get_or_insert(i);
                    }
                    Role::Name => {
                        roles.name.get_or_insert(i);
                    }
                    Role::Label => {
                        roles.label.get_or_insert(i);
                    }
                    Role::Velocity => {
                        roles.velocity.get_or_insert(i);
                    }
                    Role::Other => {}
                }
            }
        }
        roles
    }
}

/// A cell's number: empty, `nan` and `null` are missing (NaN); None when it is not a number.
pub fn number(cell: &str) -> Option<f64> {
    let s = cell.trim().trim_matches('"').trim();
    if s.is_empty() || s.eq_ignore_ascii_case("nan") || s.eq_ignore_ascii_case("null") {
        return Some(f64::NAN);
    }
    s.parse().ok()
}

/// One spectrum per row, the flux columns named by their wavelengths: which columns name and
/// label the rows, which hold flux, and the grid those names give.
#[derive(Debug, Clone)]
pub struct Wide {
    pub name: Option<usize>,
    pub label: Option<usize>,
    pub flux: Vec<usize>,
    pub wave: Arc<[f64]>,
}

impl Wide {
    /// From the column names: numbers are wavelengths; the name, label and radial-velocity
    /// columns (by role, and a first column that is not a number names the rows) are not flux.
    /// Any other column is an error naming it.
    pub fn from_header(names: &[&str], roles: &Roles) -> Result<Wide, Problem> {
        let mut wide = Wide { name: roles.name, label: roles.label, flux: Vec::new(), wave: Arc::from(Vec::new()) };
        let mut wave = Vec::new();
        for (c, name) in names.iter().enumerate() {
            if [wide.name, wide.label, roles.velocity].contains(&Some(c)) {
                continue;
            }
            match name.trim().trim_matches('"').parse::<f64>() {
                Ok(w) => {
                    wave.push(w);
                    wide.flux.push(c);
                }
                Err(_) if c == 0 && wide.name.is_none() => wide.name = Some(0),
                Err(_) => {
                    return Err(Problem::invalid(format!(
                        "column '{name}' is neither a wavelength nor a name, label or radial-velocity column \
                         (expected wavelength and flux columns, or one spectrum per row with wavelength-named columns)"
                    )));
                }
            }
        }
        if wide.flux.is_empty() {
            return Err("no wavelength or flux columns (expected wavelength and flux columns, or one spectrum \
                        per row with wavelength-named columns)"
                .into());
        }
        wide.wave = Arc::from(wave);
        Ok(wide)
    }

    /// Headerless rows of numbers: every column is flux, on the grid 0, 1, 2, …
    pub fn indexed(columns: usize) -> Wide {
        Wide { name: None, label: None, flux: (0..columns).collect(), wave: (0..columns).map(|i| i as f64).collect() }
    }
}

/// A spectrum whose name the caller fills in when it has none (see [`super::files`]).
pub fn spectrum(name: Option<String>, label: Option<String>, wave: Arc<[f64]>, flux: Vec<f32>, axis: Axis) -> Spectrum {
    Spectrum {
        name: name.unwrap_or_default(),
        object: None,
        label: label.filter(|l| !l.trim().is_empty()),
        wave,
        flux,
        axis,
        origin: Origin { file: String::new(), row: None },
    }
}

/// 10^x for log10 wavelengths.
pub fn unlog(wave: &mut [f64]) {
    wave.iter_mut().for_each(|w| *w = 10f64.powf(*w));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_beat_prefixes_and_error_columns_are_never_flux() {
        let cols = [("flux_err", None), ("WAVELENGTH_AIR", None), ("Flux", None), ("Class", None)];
        let r = Roles::of(&cols);
        assert_eq!((r.wave, r.flux, r.label), (Some((1, false)), Some(2), Some(3)));
        let r = Roles::of(&[("loglam", None), ("flux_density", None)]);
        assert_eq!((r.wave, r.flux), (Some((0, true)), Some(1)));
        let r = Roles::of(&[("a", Some("em.wl")), ("b", Some("phot.flux.density;em.wl"))]);
        assert_eq!((r.wave, r.flux), (Some((0, false)), Some(1)));
    }

    #[test]
    fn wide_headers_give_the_grid_and_refuse_unknown_columns() {
        let names = ["name", "label", "6500", "6501.5"];
        let w = Wide::from_header(&names, &Roles::of(&names.map(|n| (n, None)))).unwrap();
        assert_eq!((w.name, w.label, w.flux.clone(), &*w.wave), (Some(0), Some(1), vec![2, 3], &[6500.0, 6501.5][..]));
        let names = ["star", "6500", "6501"];
        assert_eq!(
            Wide::from_header(&names, &Roles::default()).unwrap().name,
            Some(0),
            "a text first column names rows"
        );
        let names = ["name", "ra", "6500"];
        let e = Wide::from_header(&names, &Roles::of(&names.map(|n| (n, None)))).unwrap_err();
        assert!(e.text.contains("column 'ra'"), "{}", e.text);
    }
}
