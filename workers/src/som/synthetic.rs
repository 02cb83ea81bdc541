//! Seeded synthetic H-alpha spectra with known classes, for tests and the benchmark: the five
//! classes of `docs/refs/som.md` (Gaussian and Lorentzian absorption, emission, double-peaked
//! emission, P-Cygni) on a continuum of 1 over 6250–6770 Å, with random depth, width, shift
//! and noise.

use super::rng::SplitMix64;
use crate::spectra::SpectraMatrix;

pub const CLASSES: [&str; 5] = ["gauss_abs", "lorentz_abs", "emission", "double_peak", "p_cygni"];
const CENTRE: f64 = 6562.8;

fn normal(rng: &mut SplitMix64) -> f64 {
    let (u1, u2) = (rng.next_f64().max(1e-300), rng.next_f64());
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The wavelength of bin j of `d` bins.
pub fn wavelength(j: usize, d: usize) -> f64 {
    6250.0 + 520.0 * j as f64 / (d - 1) as f64
}

/// `n` spectra of `d` bins; spectrum i has class i % 5. Returns labelled training data.
pub fn spectra(n: usize, d: usize, seed: u64) -> SpectraMatrix {
    let mut rng = SplitMix64::new(seed);
    let mut x = Vec::with_capacity(n * d);
    for i in 0..n {
        let class = i % CLASSES.len();
        let depth = 0.3 + 0.5 * rng.next_f64();
        let width = 2.0 + 4.0 * rng.next_f64();
        let centre = CENTRE + 3.0 * normal(&mut rng);
        let noise = 0.01 + 0.02 * rng.next_f64();
        for j in 0..d {
            let u = (wavelength(j, d) - centre) / width;
            let g = |shift: f64| (-0.5 * (u - shift).powi(2)).exp();
            let line = match class {
                0 => -depth * g(0.0),
                1 => -depth / (1.0 + u * u),
                2 => 1.5 * depth * g(0.0),
                3 => depth * (g(-1.5) + g(1.5)),
                _ => depth * (g(0.8) - 0.6 * g(-1.2)),
            };
            x.push((1.0 + line + noise * normal(&mut rng)) as f32);
        }
    }
    let mut data = SpectraMatrix::from_rows(n, d, x);
    data.grid = (0..d).map(|j| wavelength(j, d)).collect();
    data.names = (0..n).map(|i| format!("synthetic-{i:06}")).collect();
    data.labels = (0..n).map(|i| Some(CLASSES[i % CLASSES.len()].to_string())).collect();
    data
}
