//! One common wavelength grid for all spectra, optional per-spectrum normalisation, and the
//! N×D float32 matrix the map trains on.
//!
//! When every spectrum already has the same wavelengths and no grid was asked for, the fluxes
//! are used as they are (no interpolation error). Otherwise the grid is `bins` points spaced
//! evenly from `wave_min` to `wave_max` (defaults: the range all spectra cover, and the median
//! spectrum length), and each spectrum is linearly interpolated onto it. A spectrum that does not
//! cover the requested range ends the job naming it: extrapolating flux would invent data.

use rayon::prelude::*;

use super::SomParams;
use super::input::RawSpectrum;
use crate::Failure;

/// How to build the common grid and normalise.
#[derive(Debug, Clone, Default)]
pub struct GridRequest {
    pub wave_min: Option<f64>,
    pub wave_max: Option<f64>,
    pub bins: Option<usize>,
    pub normalize: Normalize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Normalize {
    #[default]
    None,
    Max,
    Mean,
    L2,
}

impl GridRequest {
    pub fn from_params(p: &SomParams) -> Result<Self, Failure> {
        let normalize = match p.normalize.as_str() {
            "none" => Normalize::None,
            "max" => Normalize::Max,
            "mean" => Normalize::Mean,
            "l2" => Normalize::L2,
            other => return Err(Failure::Fatal(format!("unknown normalize '{other}'"))),
        };
        Ok(GridRequest { wave_min: p.wave_min, wave_max: p.wave_max, bins: p.bins, normalize })
    }
}

/// The N×D float32 values, in memory or memory-mapped from a file of the job's work folder
/// (when the input is larger than the memory budget; see [`super::stream`]).
pub enum Matrix {
    Memory(Vec<f32>),
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for Matrix {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            Matrix::Memory(v) => v,
            // The file holds little-endian f32 written by `stream` on this machine; a mapping
            // starts on a page boundary, so the pointer is aligned for f32.
            Matrix::Mapped(map) => unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<f32>(), map.len() / 4) },
        }
    }
}

impl std::fmt::Debug for Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if matches!(self, Matrix::Memory(_)) { "in memory" } else { "memory-mapped" };
        write!(f, "Matrix({} values {how})", self.len())
    }
}

/// The training data: row i is spectrum i on the common grid.
#[derive(Debug)]
pub struct Data {
    pub n: usize,
    pub d: usize,
    /// Row-major N×D.
    pub x: Matrix,
    pub wave: Vec<f64>,
    pub names: Vec<String>,
    pub labels: Vec<Option<String>>,
}

impl Data {
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    /// Builds data directly from a matrix (benchmarks, tests).
    pub fn from_matrix(n: usize, d: usize, x: Vec<f32>) -> Data {
        assert_eq!(x.len(), n * d);
        Data {
            n,
            d,
            x: Matrix::Memory(x),
            wave: (0..d).map(|i| i as f64).collect(),
            names: (0..n).map(|i| format!("row{i}")).collect(),
            labels: vec![None; n],
        }
    }
}

/// Resamples and normalises the spectra into the training matrix.
pub fn to_matrix(spectra: Vec<RawSpectrum>, req: &GridRequest) -> Result<Data, Failure> {
    let same = req.wave_min.is_none()
        && req.wave_max.is_none()
        && req.bins.is_none()
        && spectra.iter().all(|s| s.wave == spectra[0].wave);
    let wave = if same {
        spectra[0].wave.clone()
    } else {
        common_grid(&spectra.iter().map(Extent::of).collect::<Vec<_>>(), req)?
    };
    let d = wave.len();
    let rows: Vec<Vec<f32>> = spectra.par_iter().map(|s| grid_row(s, &wave, same, req)).collect::<Result<_, _>>()?;
    let n = rows.len();
    let mut x = Vec::with_capacity(n * d);
    rows.iter().for_each(|r| x.extend_from_slice(r));
    let (names, labels) = spectra.into_iter().map(|s| (s.name, s.label)).unzip();
    Ok(Data { n, d, x: Matrix::Memory(x), wave, names, labels })
}

/// Spectrum `s` on the grid (its own fluxes when every spectrum shares the grid), normalised.
pub fn grid_row(s: &RawSpectrum, wave: &[f64], same: bool, req: &GridRequest) -> Result<Vec<f32>, Failure> {
    let flux = if same { s.flux.clone() } else { interpolate(s, wave)? };
    normalise(&s.name, flux, req.normalize)
}

/// What the common grid needs to know of a spectrum (the streaming path keeps only this).
#[derive(Debug, Clone)]
pub struct Extent {
    pub name: String,
    pub wave: [f64; 2],
    pub len: usize,
}

impl Extent {
    pub fn of(s: &RawSpectrum) -> Extent {
        Extent { name: s.name.clone(), wave: [s.wave[0], *s.wave.last().unwrap()], len: s.wave.len() }
    }
}

pub fn common_grid(spectra: &[Extent], req: &GridRequest) -> Result<Vec<f64>, Failure> {
    let first = |s: &Extent| s.wave[0];
    let last = |s: &Extent| s.wave[1];
    let lo = req.wave_min.unwrap_or_else(|| spectra.iter().map(first).fold(f64::MIN, f64::max));
    let hi = req.wave_max.unwrap_or_else(|| spectra.iter().map(last).fold(f64::MAX, f64::min));
    if lo >= hi {
        let narrow = spectra.iter().min_by(|a, b| last(a).total_cmp(&last(b))).unwrap();
        let late = spectra.iter().max_by(|a, b| first(a).total_cmp(&first(b))).unwrap();
        return Err(Failure::Fatal(format!(
            "the spectra share no wavelength range: {} ends at {} but {} starts at {} (set wave_min/wave_max or drop one)",
            narrow.name,
            last(narrow),
            late.name,
            first(late)
        )));
    }
    for s in spectra {
        if first(s) > lo + 1e-9 * lo.abs() || last(s) < hi - 1e-9 * hi.abs() {
            return Err(Failure::Fatal(format!(
                "spectrum {} covers {}–{}, which does not include the grid {lo}–{hi}",
                s.name,
                first(s),
                last(s)
            )));
        }
    }
    let bins = req.bins.unwrap_or_else(|| {
        let mut lens: Vec<usize> = spectra.iter().map(|s| s.len).collect();
        lens.sort_unstable();
        lens[lens.len() / 2]
    });
    let step = (hi - lo) / (bins - 1) as f64;
    Ok((0..bins).map(|i| if i + 1 == bins { hi } else { lo + step * i as f64 }).collect())
}

/// Linear interpolation of one spectrum at the (increasing) grid points, all inside its range.
fn interpolate(s: &RawSpectrum, grid: &[f64]) -> Result<Vec<f64>, Failure> {
    let mut out = Vec::with_capacity(grid.len());
    let mut j = 0;
    for &g in grid {
        while j + 2 < s.wave.len() && s.wave[j + 1] < g {
            j += 1;
        }
        let (w0, w1) = (s.wave[j], s.wave[j + 1]);
        let t = ((g - w0) / (w1 - w0)).clamp(0.0, 1.0);
        out.push(s.flux[j] + t * (s.flux[j + 1] - s.flux[j]));
    }
    Ok(out)
}

fn normalise(name: &str, flux: Vec<f64>, how: Normalize) -> Result<Vec<f32>, Failure> {
    let divisor = match how {
        Normalize::None => 1.0,
        Normalize::Max => flux.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        Normalize::Mean => flux.iter().sum::<f64>() / flux.len() as f64,
        Normalize::L2 => flux.iter().map(|v| v * v).sum::<f64>().sqrt(),
    };
    if divisor == 0.0 || !divisor.is_finite() {
        return Err(Failure::Fatal(format!("spectrum {name}: cannot normalise, the divisor is {divisor}")));
    }
    Ok(flux.iter().map(|v| (v / divisor) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spectrum(name: &str, wave: Vec<f64>, flux: Vec<f64>) -> RawSpectrum {
        RawSpectrum { name: name.into(), wave, flux, label: None }
    }

    #[test]
    fn identical_grids_pass_through_and_normalise() {
        let s = vec![spectrum("a", vec![1.0, 2.0], vec![2.0, 4.0]), spectrum("b", vec![1.0, 2.0], vec![1.0, 1.0])];
        let req = GridRequest { normalize: Normalize::Max, ..Default::default() };
        let d = to_matrix(s, &req).unwrap();
        assert_eq!(d.x[..], [0.5, 1.0, 1.0, 1.0]);
        assert_eq!(d.wave, vec![1.0, 2.0]);
    }

    #[test]
    fn different_grids_resample_onto_the_common_range() {
        let s = vec![
            spectrum("a", vec![0.0, 10.0], vec![0.0, 10.0]),
            spectrum("b", vec![2.0, 4.0, 6.0, 12.0], vec![2.0, 4.0, 6.0, 12.0]),
        ];
        let d = to_matrix(s, &GridRequest { bins: Some(3), ..Default::default() }).unwrap();
        assert_eq!(d.wave, vec![2.0, 6.0, 10.0]);
        assert_eq!(d.x[..], [2.0, 6.0, 10.0, 2.0, 6.0, 10.0]);
    }

    #[test]
    fn disjoint_ranges_and_zero_spectra_are_clear_errors() {
        let s = vec![spectrum("a", vec![0.0, 1.0], vec![1.0, 1.0]), spectrum("b", vec![5.0, 6.0], vec![1.0, 1.0])];
        let err = to_matrix(s, &GridRequest::default()).unwrap_err().to_string();
        assert!(err.contains("share no wavelength range") && err.contains("a ends at 1"), "{err}");
        let s = vec![spectrum("z", vec![0.0, 1.0], vec![0.0, 0.0])];
        let err = to_matrix(s, &GridRequest { normalize: Normalize::L2, ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("spectrum z: cannot normalise"));
        let s = vec![spectrum("a", vec![0.0, 1.0], vec![1.0, 1.0])];
        let err = to_matrix(s, &GridRequest { wave_min: Some(-1.0), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("spectrum a covers"), "{err}");
    }
}
