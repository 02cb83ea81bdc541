//! Quantile bins per feature: at most 256 intervals whose edges are midpoints between training
//! values, so that trees can find splits from histograms instead of sorting.
//!
//! Bin b of a feature holds the values v with edges[b − 1] < v ≤ edges[b], so "bin ≤ b" is
//! exactly "v ≤ edges[b]" in f32: a split found on bins is applied to raw spectra with the same
//! comparison. With at most 256 distinct values a feature keeps every value apart (exact splits);
//! otherwise the edges sit at the 1/256 quantiles, as in LightGBM and scikit-learn's
//! histogram gradient boosting.

use ndarray::ArrayView2;
use rayon::prelude::*;

/// Values per feature used to place the edges (a fixed, evenly spaced subset of the rows).
const EDGE_SAMPLE: usize = 50_000;
pub const MAX_BINS: usize = 256;

/// The edges of every feature.
#[derive(Debug, Clone)]
pub struct Edges(pub Vec<Vec<f32>>);

impl Edges {
    /// Edges from the rows `rows` of `x`.
    pub fn fit(x: ArrayView2<f32>, rows: &[usize]) -> Edges {
        let step = rows.len().div_ceil(EDGE_SAMPLE).max(1);
        let picked: Vec<usize> = rows.iter().copied().step_by(step).collect();
        Edges(
            (0..x.ncols())
                .into_par_iter()
                .map(|f| {
                    let mut v: Vec<f32> = picked.iter().map(|&r| x[[r, f]]).collect();
                    v.sort_by(f32::total_cmp);
                    edges_of(&v)
                })
                .collect(),
        )
    }

    /// The bin of `v` for feature `f`.
    pub fn bin(&self, f: usize, v: f32) -> u8 {
        self.0[f].partition_point(|&e| e < v) as u8
    }

    /// All rows binned, column-major (`out[f · n + i]`), for the tree builder.
    pub fn apply(&self, x: ArrayView2<f32>) -> Vec<u8> {
        let n = x.nrows();
        let mut out = vec![0u8; n * x.ncols()];
        out.par_chunks_mut(n.max(1)).enumerate().for_each(|(f, col)| {
            for (i, b) in col.iter_mut().enumerate() {
                *b = self.bin(f, x[[i, f]]);
            }
        });
        out
    }
}

/// Edges for sorted values: midpoints between distinct neighbours, at most MAX_BINS − 1.
fn edges_of(sorted: &[f32]) -> Vec<f32> {
    let mut distinct = sorted.to_vec();
    distinct.dedup();
    let cut = |a: f32, b: f32| ((a as f64 + b as f64) / 2.0) as f32;
    let mut edges: Vec<f32> = if distinct.len() <= MAX_BINS {
        distinct.windows(2).map(|w| cut(w[0], w[1])).collect()
    } else {
        (1..MAX_BINS)
            .map(|q| {
                let at = (q * sorted.len() / MAX_BINS).clamp(1, sorted.len() - 1);
                cut(sorted[at - 1], sorted[at])
            })
            .collect()
    };
    // Equal neighbours give an edge equal to both values; keep one of each.
    edges.dedup();
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn bins_order_values_like_the_thresholds_do() {
        let x = Array2::from_shape_fn((1000, 2), |(i, f)| if f == 0 { (i % 7) as f32 } else { (i as f32).sqrt() });
        let rows: Vec<usize> = (0..1000).collect();
        let edges = Edges::fit(x.view(), &rows);
        assert_eq!(edges.0[0].len(), 6, "7 distinct values, 6 midpoints");
        assert!(edges.0[1].len() < MAX_BINS && edges.0[1].len() > 200);
        let binned = edges.apply(x.view());
        for f in 0..2 {
            for i in 0..1000 {
                let b = binned[f * 1000 + i] as usize;
                let v = x[[i, f]];
                for (e, &edge) in edges.0[f].iter().enumerate() {
                    assert_eq!(b <= e, v <= edge, "f {f} row {i}");
                }
            }
        }
    }
}
