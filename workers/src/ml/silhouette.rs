//! The mean silhouette coefficient of a clustering, on a seeded sample of the spectra.
//!
//! Exact silhouettes need every pairwise distance (N² · D: 1.6 TFLOP for 20,000 × 2,000), so
//! like scikit-learn's `silhouette_score(sample_size=…)` the score is computed on a random sample
//! of at most `sample` spectra, with cluster sizes counted within the sample. Distances come from
//! f32 GEMMs on centred data ([`super::distance`]).

use rayon::prelude::*;

use super::distance::{Centred, sq_dists};
use crate::som::rng::SplitMix64;

const BLOCK: usize = 256;

/// The mean silhouette of the rows `sample` (indices into `data`) under `labels` (< k).
/// `None` when the sample holds fewer than two clusters or every row is its own cluster
/// (the coefficient is undefined there).
pub fn score(data: &Centred, labels: &[u32], k: usize, sample: &[usize]) -> Option<f64> {
    let s = sample.len();
    let d = data.d;
    let mut sizes = vec![0usize; k];
    sample.iter().for_each(|&i| sizes[labels[i] as usize] += 1);
    let present = sizes.iter().filter(|&&c| c > 0).count();
    if present < 2 || present >= s {
        return None;
    }
    let rows: Vec<f32> = sample.iter().flat_map(|&i| data.row(i).iter().copied()).collect();
    let norms: Vec<f32> = sample.iter().map(|&i| data.norms[i]).collect();
    let own: Vec<usize> = sample.iter().map(|&i| labels[i] as usize).collect();
    let total: f64 = (0..s.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let (start, end) = (b * BLOCK, ((b + 1) * BLOCK).min(s));
            let mut dist = vec![0f32; (end - start) * s];
            sq_dists(&rows[start * d..end * d], &norms[start..end], &rows, &norms, d, &mut dist);
            let mut sums = vec![0f64; k];
            let mut part = 0f64;
            for (r, row) in dist.chunks_exact(s).enumerate() {
                sums.iter_mut().for_each(|v| *v = 0.0);
                for (j, &v) in row.iter().enumerate() {
                    if j != start + r {
                        sums[own[j]] += (v as f64).sqrt();
                    }
                }
                let c = own[start + r];
                if sizes[c] <= 1 {
                    continue; // scikit-learn: 0 for a single-member cluster
                }
                let a = sums[c] / (sizes[c] - 1) as f64;
                let b = (0..k)
                    .filter(|&o| o != c && sizes[o] > 0)
                    .map(|o| sums[o] / sizes[o] as f64)
                    .fold(f64::INFINITY, f64::min);
                let denom = a.max(b);
                if denom > 0.0 {
                    part += (b - a) / denom;
                }
            }
            part
        })
        .sum();
    Some(total / s as f64)
}

/// `size` distinct row indices of `n` (all rows when `size >= n`), sorted, from `seed`.
pub fn sample(n: usize, size: usize, seed: u64) -> Vec<usize> {
    if size >= n { (0..n).collect() } else { SplitMix64::new(seed).sample_sorted(n, size) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn matches_the_definition_on_a_small_case() {
        // 1-D points 0, 1 (cluster 0) and 5, 6 (cluster 1): a = 1, b = 5 or 4.5 or 4 …
        let x = array![[0.0f32], [1.0], [5.0], [6.0]];
        let data = Centred::new(x.view());
        let labels = [0, 0, 1, 1];
        let got = score(&data, &labels, 2, &[0, 1, 2, 3]).unwrap();
        let s = |a: f64, b: f64| (b - a) / a.max(b);
        let expected = (s(1.0, 5.5) + s(1.0, 4.5) + s(1.0, 4.5) + s(1.0, 5.5)) / 4.0;
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        assert_eq!(score(&data, &[0, 0, 0, 0], 2, &[0, 1, 2, 3]), None);
    }
}
