//! Map quality after training, with the exact definitions of `docs/refs/som.md`:
//! - BMU b(i) = argmin_k ‖x_i − w_k‖², second BMU s(i) the argmin over k ≠ b(i), ties to the
//!   lowest k, decided in float64 on the stored float32 values;
//! - QE = mean Euclidean distance to the BMU (float64, explicit differences);
//! - TE8 = fraction whose BMU and second BMU are not 8-neighbours (6 on hexagonal maps),
//!   TE4 = not edge-sharing neighbours; "te" means TE8;
//! - purity = Σ_k max_class #{i : b(i) = k, label_i = class} / #labelled, when labels exist.
//!
//! The f32 GEMM only shortlists: every node whose approximate distance is within twice a
//! rounding bound of the approximate second best is re-measured exactly, so the result equals a
//! full float64 scan while costing one GEMM pass plus a few exact distances per spectrum.

use rayon::prelude::*;
use serde::Serialize;

use super::grid::Grid;
use super::kernel::{self, View};
use super::train::mean_spectrum;
use crate::spectra::SpectraMatrix;

/// Beyond this many shortlisted nodes a spectrum is simply scanned exactly over all nodes.
const MAX_CANDIDATES: usize = 64;
const ROWS: usize = 512;

/// Exact BMUs and the quality figures.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    #[serde(skip)]
    pub best: Vec<u32>,
    #[serde(skip)]
    pub second: Vec<u32>,
    /// Euclidean distance of each spectrum to its BMU.
    #[serde(skip)]
    pub distance: Vec<f64>,
    #[serde(skip)]
    pub hits: Vec<u32>,
    pub qe: f64,
    pub te8: f64,
    pub te4: f64,
    pub purity: Option<f64>,
}

fn exact_d2(x: &[f32], w: &[f32]) -> f64 {
    x.iter().zip(w).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum()
}

/// Best and second of (distance², node) pairs, ties to the lower node.
fn two_best(pairs: impl Iterator<Item = (f64, usize)>) -> ((f64, usize), (f64, usize)) {
    let mut first = (f64::INFINITY, usize::MAX);
    let mut second = (f64::INFINITY, usize::MAX);
    for p in pairs {
        if p < first {
            second = first;
            first = p;
        } else if p < second {
            second = p;
        }
    }
    (first, second)
}

/// Exact BMU, second BMU and BMU distance² of every spectrum.
pub fn exact_bmus(data: &SpectraMatrix, w: &[f32]) -> Vec<(u32, u32, f64)> {
    let d = data.bins;
    let m = w.len() / d;
    let mean = mean_spectrum(data);
    let wc: Vec<f32> = w.chunks(d).flat_map(|r| r.iter().zip(&mean).map(|(a, b)| a - b)).collect();
    let wn: Vec<f32> = wc.chunks(d).map(|r| r.iter().map(|&v| v as f64 * v as f64).sum::<f64>() as f32).collect();
    let wmax = wn.iter().fold(0f32, |a, &b| a.max(b)) as f64;
    let unit = f32::EPSILON as f64 / 2.0;
    let mut out = vec![(0u32, 0u32, 0f64); data.n];
    out.par_chunks_mut(ROWS).enumerate().for_each(|(block, out)| {
        let start = block * ROWS;
        let rows = out.len();
        let mut xc = vec![0f32; rows * d];
        for (r, o) in xc.chunks_mut(d).enumerate() {
            o.iter_mut().zip(data.row(start + r)).zip(&mean).for_each(|((o, &x), &mu)| *o = x - mu);
        }
        let mut tile = vec![0f32; rows * m];
        let wt = View { data: &wc, row_stride: 1, col_stride: d };
        kernel::matmul(rows, d, m, View { data: &xc, row_stride: d, col_stride: 1 }, wt, &mut tile);
        for (r, slot) in out.iter_mut().enumerate() {
            let x = data.row(start + r);
            let xn: f64 = xc[r * d..(r + 1) * d].iter().map(|&v| v as f64 * v as f64).sum();
            let approx: Vec<f64> =
                tile[r * m..(r + 1) * m].iter().zip(&wn).map(|(&t, &n)| n as f64 - 2.0 * t as f64).collect();
            let (_, (a2, _)) = two_best(approx.iter().enumerate().map(|(k, &v)| (v, k)));
            let bound = (d as f64 + 4.0) * unit * (xn + wmax) + 1e-30;
            let shortlist: Vec<usize> = (0..m).filter(|&k| approx[k] <= a2 + 2.0 * bound).collect();
            let exact = |k: usize| (exact_d2(x, &w[k * d..(k + 1) * d]), k);
            let ((b1, k1), (_, k2)) = if shortlist.len() <= MAX_CANDIDATES {
                two_best(shortlist.into_iter().map(exact))
            } else {
                two_best((0..m).map(exact))
            };
            let k2 = if k2 == usize::MAX { k1 } else { k2 };
            *slot = (k1 as u32, k2 as u32, b1);
        }
    });
    out
}

/// Computes the exact BMUs and every quality figure for codebook `w`.
pub fn assess(grid: &Grid, data: &SpectraMatrix, w: &[f32]) -> Assessment {
    let bmus = exact_bmus(data, w);
    let n = data.n as f64;
    let best: Vec<u32> = bmus.iter().map(|b| b.0).collect();
    let second: Vec<u32> = bmus.iter().map(|b| b.1).collect();
    let distance: Vec<f64> = bmus.iter().map(|b| b.2.sqrt()).collect();
    let qe = distance.iter().sum::<f64>() / n;
    let te8 =
        best.iter().zip(&second).filter(|&(&b, &s)| !grid.are_neighbours(b as usize, s as usize)).count() as f64 / n;
    let te4 = best.iter().zip(&second).filter(|&(&b, &s)| !grid.share_edge(b as usize, s as usize)).count() as f64 / n;
    let mut hits = vec![0u32; grid.nodes()];
    best.iter().for_each(|&b| hits[b as usize] += 1);
    let purity = purity(&best, &data.labels, grid.nodes());
    Assessment { best, second, distance, hits, qe, te8, te4, purity }
}

/// Majority-class share over labelled spectra; None when no spectrum has a label.
pub fn purity(best: &[u32], labels: &[Option<String>], m: usize) -> Option<f64> {
    let mut per_node: Vec<std::collections::BTreeMap<&str, usize>> = vec![Default::default(); m];
    let mut labelled = 0usize;
    for (b, label) in best.iter().zip(labels) {
        if let Some(l) = label {
            *per_node[*b as usize].entry(l.as_str()).or_default() += 1;
            labelled += 1;
        }
    }
    (labelled > 0).then(|| {
        per_node.iter().map(|c| c.values().copied().max().unwrap_or(0)).sum::<usize>() as f64 / labelled as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::som::rng::SplitMix64;

    /// The float64 reference of som.md: full scan, explicit differences, lowest-index ties.
    fn reference(grid: &Grid, data: &SpectraMatrix, w: &[f32]) -> (f64, f64, f64) {
        let d = data.bins;
        let (mut qe, mut te8, mut te4) = (0.0, 0.0, 0.0);
        for i in 0..data.n {
            let mut dist: Vec<(f64, usize)> =
                (0..grid.nodes()).map(|k| (exact_d2(data.row(i), &w[k * d..(k + 1) * d]), k)).collect();
            dist.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let (b, s) = (dist[0].1, dist[1].1);
            qe += dist[0].0.sqrt();
            let (rb, cb, rs, cs) =
                ((b / grid.cols) as i64, (b % grid.cols) as i64, (s / grid.cols) as i64, (s % grid.cols) as i64);
            te8 += f64::from((rb - rs).abs().max((cb - cs).abs()) > 1);
            te4 += f64::from((rb - rs).abs() + (cb - cs).abs() > 1);
        }
        let n = data.n as f64;
        (qe / n, te8 / n, te4 / n)
    }

    #[test]
    fn exact_quality_matches_the_float64_reference() {
        let grid = Grid { rows: 6, cols: 7, hexagonal: false, toroid: false };
        let (n, d) = (400, 300);
        let mut rng = SplitMix64::new(5);
        // Continuum near 1 with small features: the regime where raw f32 GEMM BMUs go wrong.
        let x: Vec<f32> = (0..n * d).map(|_| 1.0 + 0.01 * rng.next_f64() as f32).collect();
        let data = SpectraMatrix::from_rows(n, d, x);
        let mut w: Vec<f32> = (0..grid.nodes() * d).map(|_| 1.0 + 0.01 * rng.next_f64() as f32).collect();
        // Exact duplicates force ties: lowest index must win.
        let copy = w[0..d].to_vec();
        w[5 * d..6 * d].copy_from_slice(&copy);
        let a = assess(&grid, &data, &w);
        let (qe, te8, te4) = reference(&grid, &data, &w);
        assert!((a.qe - qe).abs() < 1e-6, "{} vs {qe}", a.qe);
        assert!((a.te8 - te8).abs() < 1e-6 && (a.te4 - te4).abs() < 1e-6, "{} {} vs {te8} {te4}", a.te8, a.te4);
        assert_eq!(a.hits.iter().sum::<u32>() as usize, n);
        assert!(a.best.iter().all(|&b| b != 5), "ties resolve to the lower node (0)");
    }

    #[test]
    fn purity_counts_the_majority_class_per_node() {
        let labels: Vec<Option<String>> = ["a", "a", "b", "b", "b"].iter().map(|s| Some(s.to_string())).collect();
        assert_eq!(purity(&[0, 0, 0, 1, 1], &labels, 2), Some(4.0 / 5.0));
        assert_eq!(purity(&[0, 1], &[None, None], 2), None);
    }
}
