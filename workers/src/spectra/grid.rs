//! One common wavelength grid for a collection, and each spectrum on it: what a matrix needs.
//!
//! When every spectrum already has the same wavelengths and no grid was asked for, the fluxes
//! are used as they are (no interpolation error). Otherwise the grid runs from `wave_min` to
//! `wave_max` (defaults: the range every spectrum covers) in `bins` points (default: the median
//! spectrum length) or steps of `step`, evenly in wavelength or in log wavelength, and each
//! spectrum is linearly interpolated onto it. A spectrum that does not cover the grid is an
//! error naming it: extrapolating flux would invent data.

use super::error::Problem;
use super::{Axis, Spectrum};

/// How to build the common grid and normalise each spectrum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GridRequest {
    pub wave_min: Option<f64>,
    pub wave_max: Option<f64>,
    /// Points of the grid; with `step` unset and this unset, the median spectrum length.
    pub bins: Option<usize>,
    /// Distance between points (Å, or in ln λ for a log grid); exclusive with `bins`.
    pub step: Option<f64>,
    pub spacing: Spacing,
    pub normalize: Normalize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Spacing {
    #[default]
    Linear,
    /// Evenly spaced in ln λ (constant velocity resolution, as SDSS's log10 grid).
    Log,
}

/// Per-spectrum scaling before it enters the matrix.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Normalize {
    #[default]
    None,
    /// Divide by the largest absolute value.
    Max,
    Mean,
    /// Divide by the Euclidean norm.
    L2,
}

impl GridRequest {
    /// True when nothing was asked of the grid: spectra sharing one keep it as it is.
    pub fn is_auto(&self) -> bool {
        self.wave_min.is_none() && self.wave_max.is_none() && self.bins.is_none() && self.step.is_none()
    }
}

/// What the common grid needs to know of a spectrum (the streaming path keeps only this).
#[derive(Debug, Clone)]
pub struct Extent {
    pub name: String,
    pub first: f64,
    pub last: f64,
    pub len: usize,
}

impl Extent {
    pub fn of(s: &Spectrum) -> Extent {
        Extent { name: s.name.clone(), first: s.wave[0], last: s.wave[s.wave.len() - 1], len: s.wave.len() }
    }
}

/// Checks that a spectrum can enter a matrix: wavelengths finite and strictly monotonic
/// (descending ones are reversed), at least two points, every flux finite.
pub fn checked(mut s: Spectrum) -> Result<Spectrum, Problem> {
    let bad = |what: String| Err(Problem::invalid(format!("spectrum {}: {what}", s.name)));
    if s.axis == Axis::Time {
        return bad("is a time series table, not spectra".into());
    }
    if s.flux.len() < 2 || s.wave.len() != s.flux.len() {
        return bad(format!("has {} points, need at least 2", s.flux.len()));
    }
    if let Some(i) = s.wave.iter().position(|w| !w.is_finite()) {
        return bad(format!("wavelength {i} is not finite"));
    }
    if s.flux.iter().all(|v| !v.is_finite()) {
        return bad("has no finite flux value (all NaN)".into());
    }
    if let Some(i) = s.flux.iter().position(|v| !v.is_finite()) {
        return bad(format!("has a non-finite flux (NaN or Inf) at index {i}"));
    }
    if s.wave.windows(2).all(|w| w[1] < w[0]) {
        s.wave = s.wave.iter().rev().copied().collect();
        s.flux.reverse();
    } else if !s.wave.windows(2).all(|w| w[1] > w[0]) {
        return bad("wavelengths are not strictly increasing".into());
    }
    Ok(s)
}

/// The grid for these extents (see the module comment).
pub fn common_grid(spectra: &[Extent], req: &GridRequest) -> Result<Vec<f64>, Problem> {
    let lo = req.wave_min.unwrap_or_else(|| spectra.iter().map(|s| s.first).fold(f64::MIN, f64::max));
    let hi = req.wave_max.unwrap_or_else(|| spectra.iter().map(|s| s.last).fold(f64::MAX, f64::min));
    if lo >= hi {
        let narrow = spectra.iter().min_by(|a, b| a.last.total_cmp(&b.last)).expect("at least one spectrum");
        let late = spectra.iter().max_by(|a, b| a.first.total_cmp(&b.first)).expect("at least one spectrum");
        return Err(Problem::invalid(format!(
            "the spectra share no wavelength range: {} ends at {} but {} starts at {} (set wave_min/wave_max or drop one)",
            narrow.name, narrow.last, late.name, late.first
        )));
    }
    for s in spectra {
        if s.first > lo + 1e-9 * lo.abs() || s.last < hi - 1e-9 * hi.abs() {
            return Err(Problem::invalid(format!(
                "spectrum {} covers {}–{}, which does not include the grid {lo}–{hi}",
                s.name, s.first, s.last
            )));
        }
    }
    let log = req.spacing == Spacing::Log;
    if log && lo <= 0.0 {
        return Err(Problem::invalid(format!("a log grid needs positive wavelengths, not {lo}")));
    }
    let (a, b) = if log { (lo.ln(), hi.ln()) } else { (lo, hi) };
    let bins = match (req.bins, req.step) {
        (Some(bins), _) => bins,
        (None, Some(step)) if step > 0.0 && ((b - a) / step) < 1e8 => ((b - a) / step).floor() as usize + 1,
        (None, Some(step)) => return Err(Problem::invalid(format!("step {step} does not fit the range {lo}–{hi}"))),
        (None, None) => {
            let mut lens: Vec<usize> = spectra.iter().map(|s| s.len).collect();
            lens.sort_unstable();
            lens[lens.len() / 2]
        }
    };
    if bins < 2 {
        return Err(Problem::invalid(format!("the grid needs at least 2 points, not {bins}")));
    }
    let delta = match req.step {
        Some(step) if req.bins.is_none() => step,
        _ => (b - a) / (bins - 1) as f64,
    };
    let at = |i: usize| if log { (a + delta * i as f64).exp() } else { a + delta * i as f64 };
    // The last point of a bins-grid is the end itself, not a sum that rounded past it.
    Ok((0..bins).map(|i| if i + 1 == bins && req.step.is_none() { hi } else { at(i) }).collect())
}

/// A checked spectrum on `grid` (its own fluxes when `same`), normalised, as f32.
pub fn on_grid(s: &Spectrum, grid: &[f64], same: bool, how: Normalize) -> Result<Vec<f32>, Problem> {
    let flux: Vec<f64> = if same { s.flux.iter().map(|&v| v as f64).collect() } else { interpolate(s, grid) };
    let divisor = match how {
        Normalize::None => 1.0,
        Normalize::Max => flux.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        Normalize::Mean => flux.iter().sum::<f64>() / flux.len() as f64,
        Normalize::L2 => flux.iter().map(|v| v * v).sum::<f64>().sqrt(),
    };
    if divisor == 0.0 || !divisor.is_finite() {
        return Err(Problem::invalid(format!("spectrum {}: cannot normalise, the divisor is {divisor}", s.name)));
    }
    Ok(flux.iter().map(|v| (v / divisor) as f32).collect())
}

/// Linear interpolation of one spectrum at the increasing grid points, all inside its range.
fn interpolate(s: &Spectrum, grid: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(grid.len());
    let mut j = 0;
    for &g in grid {
        while j + 2 < s.wave.len() && s.wave[j + 1] < g {
            j += 1;
        }
        let (w0, w1) = (s.wave[j], s.wave[j + 1]);
        let t = ((g - w0) / (w1 - w0)).clamp(0.0, 1.0);
        let (f0, f1) = (s.flux[j] as f64, s.flux[j + 1] as f64);
        out.push(f0 + t * (f1 - f0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectra::layout;

    fn spectrum(name: &str, wave: Vec<f64>, flux: Vec<f32>) -> Spectrum {
        let mut s = layout::spectrum(Some(name.into()), None, wave.into(), flux, Axis::Wavelength);
        s.name = name.into();
        s
    }

    #[test]
    fn grids_from_ranges_bins_steps_and_log_spacing() {
        let e = [Extent { name: "a".into(), first: 0.0, last: 10.0, len: 11 }];
        assert_eq!(common_grid(&e, &GridRequest::default()).unwrap(), (0..=10).map(|i| i as f64).collect::<Vec<_>>());
        let req = GridRequest { wave_min: Some(2.0), step: Some(4.0), ..Default::default() };
        assert_eq!(common_grid(&e, &req).unwrap(), vec![2.0, 6.0, 10.0]);
        let e = [Extent { name: "a".into(), first: 1000.0, last: 10000.0, len: 5 }];
        let req = GridRequest { bins: Some(3), spacing: Spacing::Log, ..Default::default() };
        let g = common_grid(&e, &req).unwrap();
        assert!((g[1] - 10f64.powf(3.5)).abs() < 1e-6 && g[2] == 10000.0, "{g:?}");
    }

    #[test]
    fn interpolation_normalisation_and_coverage() {
        let s = spectrum("b", vec![2.0, 4.0, 6.0, 12.0], vec![2.0, 4.0, 6.0, 12.0]);
        assert_eq!(on_grid(&s, &[3.0, 9.0], false, Normalize::None).unwrap(), vec![3.0, 9.0]);
        assert_eq!(on_grid(&s, &[], true, Normalize::Max).unwrap(), vec![1.0 / 6.0, 1.0 / 3.0, 0.5, 1.0]);
        let z = spectrum("z", vec![0.0, 1.0], vec![0.0, 0.0]);
        assert!(on_grid(&z, &[], true, Normalize::L2).unwrap_err().text.contains("spectrum z: cannot normalise"));
        let e = [
            Extent { name: "a".into(), first: 0.0, last: 1.0, len: 2 },
            Extent { name: "b".into(), first: 5.0, last: 6.0, len: 2 },
        ];
        let err = common_grid(&e, &GridRequest::default()).unwrap_err().text;
        assert!(err.contains("share no wavelength range") && err.contains("a ends at 1"), "{err}");
        let req = GridRequest { wave_min: Some(-1.0), ..Default::default() };
        assert!(common_grid(&e[..1], &req).unwrap_err().text.contains("spectrum a covers"));
    }

    #[test]
    fn checks_refuse_nan_short_and_unordered_spectra_and_reverse_descending_ones() {
        let s = checked(spectrum("d", vec![3.0, 2.0, 1.0], vec![3.0, 2.0, 1.0])).unwrap();
        assert_eq!((&*s.wave, &s.flux[..]), (&[1.0, 2.0, 3.0][..], &[1.0f32, 2.0, 3.0][..]));
        let nan = checked(spectrum("n", vec![1.0, 2.0], vec![f32::NAN, f32::NAN])).unwrap_err();
        assert!(nan.text.contains("spectrum n: has no finite flux value (all NaN)"), "{}", nan.text);
        assert!(checked(spectrum("n", vec![1.0, 2.0], vec![1.0, f32::NAN])).unwrap_err().text.contains("index 1"));
        assert!(checked(spectrum("s", vec![1.0], vec![1.0])).unwrap_err().text.contains("need at least 2"));
        assert!(
            checked(spectrum("u", vec![1.0, 3.0, 2.0], vec![1.0; 3])).unwrap_err().text.contains("strictly increasing")
        );
    }
}
