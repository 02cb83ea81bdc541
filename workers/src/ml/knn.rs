//! Exact k nearest neighbours of every row among the other rows (brute force, as scikit-learn's
//! `NearestNeighbors` uses for more than 15 dimensions).
//!
//! Written here because linfa-nn 0.8 answers one query at a time with a scalar f64 scan (its
//! linear search would take ~N²·D scalar steps; its ball tree does not prune in 2,000
//! dimensions). The distance matrix is computed a tile of 512 × 512 rows at a time as an f32
//! GEMM on centred data ([`super::distance`]), only for tiles on or above the diagonal (the
//! matrix is symmetric: half the work), and never stored whole. Each tile feeds short candidate
//! lists (the k + 8 closest seen so far) of both its row and column blocks; those lists are then
//! re-ranked with exact f64 distances, so float32 rounding cannot change which neighbours are
//! kept unless more than 8 candidates tie within it. Ties are broken by row index, so the result
//! does not depend on the number of threads.

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;

use super::distance::{Centred, sq_dists};
use crate::Failure;

const TILE: usize = 512;
/// Extra f32 candidates re-ranked exactly.
const MARGIN: usize = 8;

/// The neighbours of every row, closest first.
#[derive(Debug, Clone)]
pub struct Neighbours {
    pub k: usize,
    /// n × k row indices.
    pub index: Vec<u32>,
    /// n × k Euclidean distances (f64, exact).
    pub distance: Vec<f64>,
}

impl Neighbours {
    pub fn of(&self, i: usize) -> (&[u32], &[f64]) {
        (&self.index[i * self.k..(i + 1) * self.k], &self.distance[i * self.k..(i + 1) * self.k])
    }
}

/// The best `m` (distance, index) pairs seen, ascending, per row: n × m flat.
#[derive(Clone)]
struct Candidates {
    m: usize,
    list: Vec<(f32, u32)>,
}

impl Candidates {
    fn new(n: usize, m: usize) -> Self {
        Candidates { m, list: vec![(f32::INFINITY, u32::MAX); n * m] }
    }

    fn push(&mut self, row: usize, d: f32, j: u32) {
        let list = &mut self.list[row * self.m..(row + 1) * self.m];
        let last = list[self.m - 1];
        if (d, j) >= last {
            return;
        }
        let at = list.partition_point(|&c| c < (d, j));
        list.copy_within(at..self.m - 1, at + 1);
        list[at] = (d, j);
    }

    fn merge(mut self, other: Candidates) -> Candidates {
        for row in 0..other.list.len() / other.m {
            for &(d, j) in &other.list[row * other.m..(row + 1) * other.m] {
                if j != u32::MAX {
                    self.push(row, d, j);
                }
            }
        }
        self
    }
}

/// The `k` nearest other rows of every row of `x` (k < n).
pub fn all(
    x: ArrayView2<f32>,
    k: usize,
    checkpoint: &(dyn Fn() -> Result<(), Failure> + Sync),
) -> Result<Neighbours, Failure> {
    let n = x.nrows();
    if k == 0 || k >= n {
        return Err(Failure::Fatal(format!(
            "{k} neighbours asked among {n} spectra (at most {})",
            n.saturating_sub(1)
        )));
    }
    let m = (k + MARGIN).min(n - 1);
    let data = &Centred::new(x);
    let tiles = n.div_ceil(TILE);
    let pairs: Vec<(usize, usize)> = (0..tiles).flat_map(|a| (a..tiles).map(move |b| (a, b))).collect();
    let candidates = pairs
        .par_iter()
        .try_fold(
            || (Candidates::new(n, m), Vec::new()),
            |(mut cand, mut buf), &(a, b)| {
                checkpoint()?;
                let (a0, a1) = (a * TILE, ((a + 1) * TILE).min(n));
                let (b0, b1) = (b * TILE, ((b + 1) * TILE).min(n));
                let (ra, rb) = (a1 - a0, b1 - b0);
                buf.resize(ra * rb, 0f32);
                sq_dists(
                    data.rows(a0, ra),
                    &data.norms[a0..a1],
                    data.rows(b0, rb),
                    &data.norms[b0..b1],
                    data.d,
                    &mut buf,
                );
                for i in 0..ra {
                    for j in 0..rb {
                        let (gi, gj) = (a0 + i, b0 + j);
                        if gi == gj {
                            continue;
                        }
                        let v = buf[i * rb + j];
                        cand.push(gi, v, gj as u32);
                        if a != b {
                            cand.push(gj, v, gi as u32);
                        }
                    }
                }
                Ok((cand, buf))
            },
        )
        .map(|r| r.map(|(cand, _)| cand))
        .try_reduce(|| Candidates::new(n, m), |a, b| Ok::<_, Failure>(a.merge(b)))?;

    let mut index = vec![0u32; n * k];
    let mut distance = vec![0f64; n * k];
    index.par_chunks_mut(k).zip(distance.par_chunks_mut(k)).enumerate().for_each(|(i, (idx, dist))| {
        let mut exact: Vec<(f64, u32)> =
            candidates.list[i * m..(i + 1) * m].iter().map(|&(_, j)| (exact(x.row(i), x.row(j as usize)), j)).collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (t, (d, j)) in exact.into_iter().take(k).enumerate() {
            idx[t] = j;
            dist[t] = d;
        }
    });
    Ok(Neighbours { k, index, distance })
}

/// The Euclidean distance of two input rows, in f64.
fn exact(a: ArrayView1<f32>, b: ArrayView1<f32>) -> f64 {
    a.iter().zip(b).map(|(&p, &q)| (p as f64 - q as f64).powi(2)).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::som::rng::SplitMix64;
    use ndarray::Array2;

    #[test]
    fn matches_a_brute_force_scan_across_tiles() {
        let mut rng = SplitMix64::new(3);
        let (n, d, k) = (1100, 7, 5);
        let x = Array2::from_shape_fn((n, d), |_| 1.0 + rng.next_f64() as f32);
        let found = all(x.view(), k, &|| Ok(())).unwrap();
        for i in [0, 1, 511, 512, 700, 1099] {
            let mut all: Vec<(f64, u32)> =
                (0..n).filter(|&j| j != i).map(|j| (exact(x.row(i), x.row(j)), j as u32)).collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let (idx, dist) = found.of(i);
            assert_eq!(idx, all[..k].iter().map(|p| p.1).collect::<Vec<_>>().as_slice(), "row {i}");
            assert!(dist.iter().zip(&all).all(|(a, b)| a == &b.0));
        }
    }

    #[test]
    fn too_many_neighbours_is_an_error() {
        let x = Array2::<f32>::zeros((4, 2));
        assert!(all(x.view(), 4, &|| Ok(())).is_err());
    }
}
