//! Training: initial codebook, the batch epoch, and the online variant.
//!
//! Batch epoch (somoclu's algorithm, reorganised as in `docs/refs/som.md` "What a faster
//! implementation would do"):
//! 1. BMU search as an f32 GEMM: ‖x−w‖² = ‖x‖² − 2x·w + ‖w‖², where only −2x·w + ‖w‖² matters for
//!    the arg-min. Data and codebook are centred on the mean spectrum first (distances unchanged,
//!    far fewer float32 near-tie flips), blocks of rows are multiplied by the whole codebook with
//!    an sgemm (see [`kernel`]) and reduced at once to best and second-best node; the N×M matrix is
//!    never stored. Blocks are split over threads by rayon.
//! 2. Update from per-node sums: S[k] = Σ x_i over samples with BMU k, n[k] their count, then
//!    W_j = Σ_k h(j,k) S[k] / Σ_k h(j,k) n[k] — algebraically somoclu's rule without its N×M×D
//!    loop. Σ_k h S is a GEMM per tile of map rows over the band of active nodes the compact
//!    support reaches, or a stencil sum when few weights in it are non-zero. Nodes whose
//!    denominator is 0 keep their weights (as somoclu).
//! 3. When few nodes have samples (the epoch after a wide radius), the next BMU pass multiplies
//!    by the update's factors instead of the codebook ([`Factored`]): X·Wᵀ = (X·Sᵀ)·Aᵀ.
//!
//! Determinism: every sum has a fixed order that does not depend on the thread count (blocks
//! have a fixed size, per-node sums run in sample order, each GEMM block is single-threaded),
//! so a seed gives the same codebook bit for bit on the same machine.

use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use super::SomParams;
use super::grid::Grid;
use super::kernel::{self, View};
use super::rng::SplitMix64;
use crate::Failure;
use crate::spectra::{Flux, SpectraMatrix};

/// Rows of X per BMU GEMM block: large enough for the kernel to run near its peak (measured with
/// examples/som_kernels.rs), small enough that a block's tile (512×M f32, 5 MB at 50×50) and its
/// centred rows stay in L3 beside the codebook.
const BLOCK: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    Random,
    Pca,
    /// A user-relative path to a `codebook.fits` written by an earlier run.
    Codebook(String),
}

/// The training settings, resolved from the parameters (defaults applied).
#[derive(Debug, Clone)]
pub struct Config {
    pub grid: Grid,
    pub epochs: usize,
    pub gaussian: bool,
    pub compact_support: bool,
    pub radius0: f64,
    pub radius_n: f64,
    pub radius_exponential: bool,
    pub scale0: f64,
    pub scale_n: f64,
    pub scale_exponential: bool,
    pub init: Init,
    pub seed: u64,
    pub online: bool,
}

impl Config {
    pub fn from_params(p: &SomParams) -> Result<Self, Failure> {
        let grid = Grid { rows: p.rows, cols: p.cols, hexagonal: p.grid == "hexagonal", toroid: p.map == "toroid" };
        let init = match p.init.trim() {
            word if word.eq_ignore_ascii_case("random") => Init::Random,
            word if word.eq_ignore_ascii_case("pca") => Init::Pca,
            path => Init::Codebook(path.trim_matches('/').to_string()),
        };
        Ok(Config {
            grid,
            epochs: p.epochs,
            gaussian: p.neighborhood == "gaussian",
            compact_support: p.compact_support,
            // somoclu: radius0 = 0 means half the smaller side; radiusN = 0 means 1.
            radius0: if p.radius0 > 0.0 { p.radius0 } else { p.rows.min(p.cols) as f64 / 2.0 },
            radius_n: if p.radius_n > 0.0 { p.radius_n } else { 1.0 },
            radius_exponential: p.radius_cooling == "exponential",
            scale0: p.scale0,
            scale_n: p.scale_n,
            scale_exponential: p.scale_cooling == "exponential",
            init,
            seed: p.seed,
            online: p.training == "online",
        })
    }

    /// somoclu's schedule: linear reaches the end value at the last epoch, exponential never does.
    fn schedule(&self, start: f64, end: f64, exponential: bool, t: usize) -> f64 {
        let e = self.epochs as f64;
        if exponential {
            start * (-(t as f64) * (start / end).ln() / e).exp()
        } else if self.epochs == 1 {
            start
        } else {
            start - t as f64 * (start - end) / (e - 1.0)
        }
    }

    pub fn radius(&self, t: usize) -> f64 {
        self.schedule(self.radius0, self.radius_n, self.radius_exponential, t)
    }

    pub fn scale(&self, t: usize) -> f64 {
        self.schedule(self.scale0, self.scale_n, self.scale_exponential, t)
    }

    /// The neighbourhood weight at squared map distance `d2` for radius `r` (σ = r/2, somoclu's
    /// std_coeff 0.5); the learning-rate scale is applied by the caller where it matters.
    pub fn weight(&self, d2: f64, r: f64) -> f64 {
        let inside = d2 <= r * r + 1e-9;
        if !self.gaussian {
            return if inside { 1.0 } else { 0.0 };
        }
        if self.compact_support && !inside {
            return 0.0;
        }
        let sigma = 0.5 * r;
        if sigma <= 0.0 {
            return if d2 == 0.0 { 1.0 } else { 0.0 };
        }
        (-d2 / (2.0 * sigma * sigma)).exp()
    }
}

/// One line of the per-epoch history in `quality.json`.
#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub radius: f64,
    pub scale: f64,
    /// QE and TE8 of the codebook entering this epoch (from this epoch's f32 BMU pass).
    pub qe: f64,
    pub te: f64,
    /// Wall time of the whole epoch, and of its BMU pass alone.
    pub seconds: f64,
    pub bmu_seconds: f64,
}

/// The trained map.
pub struct Trained {
    /// M×D row-major, in the data's units (not centred).
    pub codebook: Vec<f32>,
    pub history: Vec<EpochRecord>,
}

/// Best and second-best node of each sample, with approximate squared distances.
pub struct Search {
    pub best: Vec<u32>,
    pub second: Vec<u32>,
    pub best_d2: Vec<f32>,
}

/// The mean spectrum, used to centre data and codebook before the distance GEMM.
pub fn mean_spectrum(data: &SpectraMatrix) -> Vec<f32> {
    let mut sum = vec![0f64; data.bins];
    for i in 0..data.n {
        for (s, &v) in sum.iter_mut().zip(data.row(i)) {
            *s += v as f64;
        }
    }
    sum.iter().map(|s| (s / data.n as f64) as f32).collect()
}

/// Called between blocks of work inside an epoch: `Err` (an ABORT, an overrun) stops training.
pub type Checkpoint<'a> = &'a (dyn Fn() -> Result<(), Failure> + Sync);

/// BMU search over all samples against codebook `w` (M×D, uncentred).
pub fn bmu_search(data: &SpectraMatrix, mean: &[f32], w: &[f32]) -> Search {
    bmu_search_checked(data, mean, w, &|| Ok(())).expect("no checkpoint to fail")
}

/// [`bmu_search`], asking `checkpoint` before each block of rows, so an abort is noticed within
/// one block's GEMM (512 rows × M × D: ~50 ms at 50×50 × 2,000 bins) instead of a whole epoch.
pub fn bmu_search_checked(
    data: &SpectraMatrix,
    mean: &[f32],
    w: &[f32],
    checkpoint: Checkpoint,
) -> Result<Search, Failure> {
    bmu_pass(data, mean, &centred_norms(data, mean), w, None, checkpoint)
}

/// The codebook just made by a batch update, as coefficients over a few basis rows: node j is
/// W_j − mean = Σ_k a_jk (S_k − n_k·mean) with a_jk = h(j,k) / Σ_k h(j,k)·n_k (the update
/// rule, centred: the a_jk·n_k sum to 1), or its own centred weights when no sample weighs on it.
/// When the nodes with samples are few (the epoch after a wide radius has pulled the map
/// together: 50 of 900 on the 2,000 × 1,000 30×30 benchmark), the next BMU pass computes
/// X·Wᵀ as (X·Basisᵀ)·Coefᵀ, N·D·R + N·R·M flops for R basis rows instead of N·D·M.
struct Factored {
    /// R × D, centred.
    basis: Vec<f32>,
    /// M × R.
    coef: Vec<f32>,
}

/// The [`Factored`] form of `w` after the update from `node` at radius r, when it is cheaper.
fn factor(config: &Config, r: f64, node: &NodeSums, mean: &[f32], w: &[f32], d: usize) -> Option<Factored> {
    let centred = node.centred.as_ref()?;
    let grid = &config.grid;
    let (m, k) = (grid.nodes(), node.active.len());
    let table = distance_table(config, r);
    let positions: Vec<(f64, f64)> = (0..m).map(|j| grid.position(j)).collect();
    // Each node's weights over the active nodes and the update's denominator (the same f64 sum:
    // the zero weights the update skips add nothing).
    let rows: Vec<(Vec<f32>, f64)> = (0..m)
        .into_par_iter()
        .map(|j| {
            let h: Vec<f32> = node
                .active
                .iter()
                .map(|&a| table[(4.0 * grid.distance2_between(positions[j], positions[a])).round() as usize])
                .collect();
            let den = h.iter().zip(&node.counts).map(|(&h, &c)| h as f64 * c as f64).sum();
            (h, den)
        })
        .collect();
    let kept: Vec<usize> = (0..m).filter(|&j| rows[j].1 <= 0.0).collect();
    let width = k + kept.len();
    if factored_share(width, m, d) >= FACTORED_SHARE {
        return None;
    }
    let mut basis = centred.clone();
    for &j in &kept {
        basis.extend(w[j * d..(j + 1) * d].iter().zip(mean).map(|(&v, &mu)| v - mu));
    }
    let mut coef = vec![0f32; m * width];
    for (j, (out, (h, den))) in coef.chunks_mut(width).zip(&rows).enumerate() {
        if *den > 0.0 {
            out.iter_mut().zip(h).for_each(|(o, &h)| *o = (h as f64 / den) as f32);
        } else {
            out[k + kept.binary_search(&j).expect("a kept node")] = 1.0;
        }
    }
    Some(Factored { basis, coef })
}

/// ‖x_i − mean‖² of every row, in f32 summed in bin order: fixed for a training run, so its
/// epochs compute them once instead of once per BMU pass (a sequential sum, not vectorised).
fn centred_norms(data: &SpectraMatrix, mean: &[f32]) -> Vec<f32> {
    (0..data.n)
        .into_par_iter()
        .map(|i| data.row(i).iter().zip(mean).map(|(&x, &mu)| (x - mu) * (x - mu)).sum())
        .collect()
}

/// [`bmu_search_checked`] with the rows' centred norms `xn` given.
fn bmu_pass(
    data: &SpectraMatrix,
    mean: &[f32],
    xn: &[f32],
    w: &[f32],
    factored: Option<&Factored>,
    checkpoint: Checkpoint,
) -> Result<Search, Failure> {
    let (n, d) = (data.n, data.bins);
    let m = w.len() / d;
    let mut wc = vec![0f32; m * d];
    let mut wn = vec![0f32; m];
    wc.par_chunks_mut(d).zip(w.par_chunks(d)).zip(&mut wn).for_each(|((out, row), norm)| {
        out.iter_mut().zip(row).zip(mean).for_each(|((o, &a), &b)| *o = a - b);
        *norm = out.iter().map(|&v| v as f64 * v as f64).sum::<f64>() as f32;
    });
    let mut best = vec![0u32; n];
    let mut second = vec![0u32; n];
    let mut best_d2 = vec![0f32; n];
    // Each task reuses its centred rows and distance tile across the blocks it takes (fresh
    // 2 MB buffers per block were page faults and zeroing on every epoch).
    best.par_chunks_mut(BLOCK)
        .zip(second.par_chunks_mut(BLOCK))
        .zip(best_d2.par_chunks_mut(BLOCK))
        .enumerate()
        .try_for_each_init(
            || (Vec::new(), Vec::new(), Vec::new()),
            |(xc, tile, inner): &mut (Vec<f32>, Vec<f32>, Vec<f32>), (block, ((best, second), best_d2))| {
                checkpoint()?;
                let start = block * BLOCK;
                let rows = best.len();
                xc.resize(rows * d, 0.0);
                for (r, out) in xc.chunks_mut(d).enumerate() {
                    for ((o, &x), &mu) in out.iter_mut().zip(data.row(start + r)).zip(mean) {
                        *o = x - mu;
                    }
                }
                tile.resize(rows * m, 0.0);
                let xv = View { data: &xc[..rows * d], row_stride: d, col_stride: 1 };
                if let Some(f) = factored {
                    // inner = xc · basisᵀ (rows × R), then tile = inner · coefᵀ.
                    let r = f.basis.len() / d;
                    inner.resize(rows * r, 0.0);
                    let basis_t = View { data: &f.basis, row_stride: 1, col_stride: d };
                    kernel::matmul(rows, d, r, xv, basis_t, &mut inner[..rows * r]);
                    let coef_t = View { data: &f.coef, row_stride: 1, col_stride: r };
                    let inner_v = View { data: &inner[..rows * r], row_stride: r, col_stride: 1 };
                    kernel::matmul(rows, r, m, inner_v, coef_t, &mut tile[..rows * m]);
                } else {
                    // tile = xc (rows×d) · wcᵀ (d×m); wc is m×d row-major, so its transpose has strides (1, d).
                    let wc_t = View { data: &wc, row_stride: 1, col_stride: d };
                    kernel::matmul(rows, d, m, xv, wc_t, &mut tile[..rows * m]);
                }
                for r in 0..rows {
                    let dots = &tile[r * m..(r + 1) * m];
                    let (mut b1, mut d1, mut b2, mut d2) = (0usize, f32::INFINITY, 0usize, f32::INFINITY);
                    for (k, (&dot, &norm)) in dots.iter().zip(&wn).enumerate() {
                        let dist = norm - 2.0 * dot;
                        if dist < d1 {
                            (b2, d2, b1, d1) = (b1, d1, k, dist);
                        } else if dist < d2 {
                            (b2, d2) = (k, dist);
                        }
                    }
                    best[r] = b1 as u32;
                    second[r] = if m > 1 { b2 as u32 } else { b1 as u32 };
                    best_d2[r] = (xn[start + r] + d1).max(0.0);
                }
                Ok::<(), Failure>(())
            },
        )?;
    Ok(Search { best, second, best_d2 })
}

/// The neighbourhood matrix G (M × M) for radius r, for the online variant (the batch update
/// builds only the tiles it needs, in [`update`]).
///
/// On every supported lattice 4·d² is an integer (rectangular: 4(dc² + dr²); hexagonal: dx is a
/// multiple of ½ and dy of √3/2, so 4dx² + 3dr'²; the toroid's minimum image keeps both forms),
/// so the weight is evaluated once per distinct distance from a table instead of one `exp` per
/// node pair.
fn neighbourhood(config: &Config, r: f64) -> Vec<f32> {
    let grid = &config.grid;
    let m = grid.nodes();
    let positions: Vec<(f64, f64)> = (0..m).map(|k| grid.position(k)).collect();
    let table = distance_table(config, r);
    let mut g = vec![0f32; m * m];
    g.par_chunks_mut(m).enumerate().for_each(|(j, row)| {
        for (k, h) in row.iter_mut().enumerate() {
            let quarter = (4.0 * grid.distance2_between(positions[j], positions[k])).round() as usize;
            *h = table[quarter];
        }
    });
    g
}

/// The weight for each quarter squared distance 4·d² that two nodes of the map can have.
fn distance_table(config: &Config, r: f64) -> Vec<f32> {
    let grid = &config.grid;
    let largest = 4 * ((grid.cols + 1).pow(2) + (grid.rows + 1).pow(2));
    (0..=largest).map(|q| config.weight(q as f64 / 4.0, r) as f32).collect()
}

/// The per-node sums of a batch epoch, over the K nodes that have samples.
struct NodeSums {
    /// The nodes with samples, in increasing order.
    active: Vec<usize>,
    /// K × D: Σ x_i over each node's samples.
    sums: Vec<f32>,
    /// K: each node's sample count.
    counts: Vec<f32>,
    /// K × D: Σ (x_i − mean), rounded from the f64 sums, when K is small enough for the next
    /// BMU pass to use the [`Factored`] codebook.
    centred: Option<Vec<f32>>,
}

/// Above this share of a direct pass's flops the factored BMU pass is not worth its second GEMM.
const FACTORED_SHARE: f64 = 0.6;

/// The flops of a factored BMU pass over `r` basis rows relative to the direct one:
/// N·D·r + N·r·M against N·D·M.
fn factored_share(r: usize, m: usize, d: usize) -> f64 {
    r as f64 * (1.0 / m as f64 + 1.0 / d as f64)
}

/// The nodes that are some sample's BMU, Σ x_i per such node (f64 accumulation in sample order)
/// and their counts. Nodes without samples contribute nothing to the update, so the smoothing
/// product only runs over these (early, smooth maps leave many nodes empty).
fn node_sums(data: &SpectraMatrix, best: &[u32], m: usize, mean: &[f32]) -> NodeSums {
    let d = data.bins;
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); m];
    for (i, &b) in best.iter().enumerate() {
        members[b as usize].push(i as u32);
    }
    let active: Vec<usize> = (0..m).filter(|&k| !members[k].is_empty()).collect();
    let mut sums = vec![0f32; active.len() * d];
    let factor = factored_share(active.len(), m, d) < FACTORED_SHARE;
    let mut centred = vec![0f32; if factor { active.len() * d } else { 0 }];
    let centred_rows: Vec<Option<&mut [f32]>> = match factor {
        true => centred.chunks_mut(d).map(Some).collect(),
        false => (0..active.len()).map(|_| None).collect(),
    };
    sums.par_chunks_mut(d).zip(centred_rows).zip(&active).for_each(|((out, centred), &k)| {
        let mut acc = vec![0f64; d];
        for &i in &members[k] {
            for (a, &v) in acc.iter_mut().zip(data.row(i as usize)) {
                *a += v as f64;
            }
        }
        out.iter_mut().zip(&acc).for_each(|(o, a)| *o = *a as f32);
        // Centred in f64 before rounding: Σx − n·mean cancels most of the sum's digits.
        if let Some(centred) = centred {
            let n = members[k].len() as f64;
            centred.iter_mut().zip(&acc).zip(mean).for_each(|((o, a), &mu)| *o = (a - n * mu as f64) as f32);
        }
    });
    let counts = active.iter().map(|&k| members[k].len() as f32).collect();
    NodeSums { active, sums, counts, centred: factor.then_some(centred) }
}

/// Nodes per smoothing tile, at least: enough rows for the GEMM to run near its rate, few
/// enough that a tile's band of reachable map rows stays narrow.
const TILE_NODES: usize = 64;

/// Map rows a node's neighbourhood reaches at radius r, or None when every weight is non-zero
/// (a Gaussian without compact support). The weight is zero beyond d² > r² + 1e-9 and rows are
/// `row_step` apart, so floor(r / row_step) rows suffice; one more covers the tolerance.
fn row_reach(config: &Config, r: f64) -> Option<usize> {
    let compact = !config.gaussian || config.compact_support;
    compact.then(|| (r / config.grid.row_step()).floor() as usize + 1)
}

/// The map rows [y0, y1) of a tile widened by `reach` on both sides, as at most two row ranges
/// (a toroid's band wraps round); the whole map when the band covers it.
fn band_rows(grid: &Grid, y0: usize, y1: usize, reach: Option<usize>) -> Vec<(usize, usize)> {
    let rows = grid.rows;
    let Some(reach) = reach.filter(|&r| y1 - y0 + 2 * r < rows) else {
        return vec![(0, rows)];
    };
    let (lo, hi) = (y0 as isize - reach as isize, y1 + reach);
    match grid.toroid {
        false => vec![(lo.max(0) as usize, hi.min(rows))],
        true if lo < 0 => vec![(0, hi), ((rows as isize + lo) as usize, rows)],
        true if hi > rows => vec![(0, hi - rows), (lo as usize, rows)],
        true => vec![(lo as usize, hi)],
    }
}

/// W_j = Σ_k h(j,k) S[k] / Σ_k h(j,k) n[k] where the denominator is positive, k over the
/// `active` nodes (those with samples; S is K × D, n K). Nodes with no weighted samples keep
/// their weights, as in somoclu.
///
/// The map is cut into tiles of whole map rows. With a compact neighbourhood a tile only
/// reaches the active nodes of a band of map rows, a contiguous range of `active` (node order is
/// row-major), so its weights G_tile (tile × band) and its product G_tile·S_band skip every
/// column that is zero by support; late epochs (radius of a few nodes) touch a few per cent of
/// the M×K pairs the dense product would. Within a tile, a G_tile that is still mostly zeros
/// (the circle inside the band) is summed as a stencil instead of a GEMM. Weights come from a
/// table over the distinct map distances (4·d² is an integer on every supported lattice).
/// Tiles are fixed and each is one task, so the sums' order does not depend on the thread count.
fn update(config: &Config, r: f64, node: &NodeSums, w: &mut [f32], d: usize) {
    let tile_rows = TILE_NODES.div_ceil(config.grid.cols).clamp(1, config.grid.rows);
    update_in_tiles(config, r, node, w, d, tile_rows)
}

/// [`update`] with tiles of `tile_rows` map rows.
fn update_in_tiles(config: &Config, r: f64, node: &NodeSums, w: &mut [f32], d: usize, tile_rows: usize) {
    let grid = &config.grid;
    let (active, sums, counts) = (&node.active, &node.sums, &node.counts);
    let table = distance_table(config, r);
    let reach = row_reach(config, r);
    let positions: Vec<(f64, f64)> = (0..grid.nodes()).map(|k| grid.position(k)).collect();
    let tile_len = tile_rows * grid.cols * d;
    w.par_chunks_mut(tile_len).enumerate().for_each(|(tile, out)| {
        let (y0, j0) = (tile * tile_rows, tile * tile_rows * grid.cols);
        let nodes = out.len() / d;
        let y1 = y0 + nodes / grid.cols;
        // The band's columns: one or two ranges of `active`, side by side in G_tile.
        let ranges: Vec<(usize, usize)> = band_rows(grid, y0, y1, reach)
            .into_iter()
            .map(|(a, b)| {
                let first = active.partition_point(|&k| k < a * grid.cols);
                (first, active.partition_point(|&k| k < b * grid.cols))
            })
            .filter(|(a, b)| a < b)
            .collect();
        let columns: Vec<usize> = ranges.iter().flat_map(|&(a, b)| active[a..b].iter().copied()).collect();
        let width = columns.len();
        if width == 0 {
            return;
        }
        let mut g = vec![0f32; nodes * width];
        for (r, row) in g.chunks_mut(width).enumerate() {
            let pj = positions[j0 + r];
            for (h, &k) in row.iter_mut().zip(&columns) {
                *h = table[(4.0 * grid.distance2_between(pj, positions[k])).round() as usize];
            }
        }
        let nonzeros = g.iter().filter(|&&h| h != 0.0).count();
        let mut num = vec![0f32; nodes * d];
        if nonzeros * 8 < g.len() {
            // A stencil: few non-zeros per row (small radius).
            let band_sums: Vec<&[f32]> = ranges.iter().flat_map(|&(a, b)| sums[a * d..b * d].chunks(d)).collect();
            for (acc, row) in num.chunks_mut(d).zip(g.chunks(width)) {
                for (&h, s) in row.iter().zip(&band_sums) {
                    if h != 0.0 {
                        acc.iter_mut().zip(*s).for_each(|(a, &s)| *a += h * s);
                    }
                }
            }
        } else {
            let mut offset = 0;
            for (i, &(a, b)) in ranges.iter().enumerate() {
                let g_part = View { data: &g[offset..], row_stride: width, col_stride: 1 };
                let s_part = View { data: &sums[a * d..b * d], row_stride: d, col_stride: 1 };
                let multiply = if i == 0 { kernel::matmul } else { kernel::matmul_add };
                multiply(nodes, b - a, d, g_part, s_part, &mut num);
                offset += b - a;
            }
        }
        let band_counts: Vec<f32> = ranges.iter().flat_map(|&(a, b)| counts[a..b].iter().copied()).collect();
        for ((o, v), row) in out.chunks_mut(d).zip(num.chunks(d)).zip(g.chunks(width)) {
            let den: f64 = row.iter().zip(&band_counts).map(|(&h, &c)| h as f64 * c as f64).sum();
            if den > 0.0 {
                o.iter_mut().zip(v).for_each(|(o, &v)| *o = (v as f64 / den) as f32);
            }
        }
    });
}

/// QE (mean Euclidean distance) and TE8 from a BMU pass, for the per-epoch history.
fn quick_quality(grid: &Grid, s: &Search) -> (f64, f64) {
    let n = s.best.len() as f64;
    let qe = s.best_d2.iter().map(|&d| (d as f64).sqrt()).sum::<f64>() / n;
    let errors = s.best.iter().zip(&s.second).filter(|&(&b, &c)| !grid.are_neighbours(b as usize, c as usize)).count();
    (qe, errors as f64 / n)
}

/// Trains the map from `codebook`; `on_epoch` sees each record and may stop the run (abort);
/// `checkpoint` is asked between blocks inside an epoch, so an abort need not wait for its end.
pub fn train(
    config: &Config,
    data: &SpectraMatrix,
    mut codebook: Vec<f32>,
    on_epoch: &mut dyn FnMut(usize, &EpochRecord) -> Result<(), Failure>,
    checkpoint: Checkpoint,
) -> Result<Trained, Failure> {
    let mean = mean_spectrum(data);
    let xn = centred_norms(data, &mean);
    let m = config.grid.nodes();
    let mut history = Vec::with_capacity(config.epochs);
    let mut factored = None;
    for t in 0..config.epochs {
        let started = Instant::now();
        let (radius, scale) = (config.radius(t), config.scale(t));
        let search = bmu_pass(data, &mean, &xn, &codebook, factored.take().as_ref(), checkpoint)?;
        let bmu_seconds = started.elapsed().as_secs_f64();
        let (qe, te) = quick_quality(&config.grid, &search);
        checkpoint()?;
        if config.online {
            let g = neighbourhood(config, radius);
            online_epoch(config, data, &g, scale, t, &mut codebook, checkpoint)?;
        } else {
            let sums = node_sums(data, &search.best, m, &mean);
            checkpoint()?;
            update(config, radius, &sums, &mut codebook, data.bins);
            factored = factor(config, radius, &sums, &mean, &codebook, data.bins);
        }
        let seconds = started.elapsed().as_secs_f64();
        let record = EpochRecord { epoch: t, radius, scale, qe, te, seconds, bmu_seconds };
        on_epoch(t, &record)?;
        history.push(record);
    }
    Ok(Trained { codebook, history })
}

/// One pass of online updates in a seeded random order: w_j += scale·h(j,b)·(x − w_j).
fn online_epoch(
    config: &Config,
    data: &SpectraMatrix,
    g: &[f32],
    scale: f64,
    epoch: usize,
    w: &mut [f32],
    checkpoint: Checkpoint,
) -> Result<(), Failure> {
    let (d, m) = (data.bins, config.grid.nodes());
    let mut rng = SplitMix64::new(config.seed ^ (epoch as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    for (step, i) in rng.permutation(data.n).into_iter().enumerate() {
        if step % 256 == 0 {
            checkpoint()?;
        }
        let x = data.row(i);
        let b = (0..m)
            .map(|k| (k, w[k * d..(k + 1) * d].iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f32>()))
            .fold((0, f32::INFINITY), |acc, (k, dist)| if dist < acc.1 { (k, dist) } else { acc })
            .0;
        for j in 0..m {
            let h = g[b * m + j] as f64 * scale;
            if h > 0.0 {
                w[j * d..(j + 1) * d].iter_mut().zip(x).for_each(|(wv, &xv)| *wv += (h as f32) * (xv - *wv));
            }
        }
    }
    Ok(())
}

/// The starting codebook: data rows (random), the PCA plane (pca), or a saved codebook.
pub fn initial_codebook(
    config: &Config,
    data: &SpectraMatrix,
    resolve: impl Fn(&str) -> std::path::PathBuf,
) -> Result<Vec<f32>, Failure> {
    initial_codebook_within(config, data, resolve, u64::MAX, &|| Ok(()))
}

/// [`initial_codebook`] for a run with a memory `budget` (the streaming threshold), asking
/// `checkpoint` between the PCA's passes over the data.
pub fn initial_codebook_within(
    config: &Config,
    data: &SpectraMatrix,
    resolve: impl Fn(&str) -> std::path::PathBuf,
    budget: u64,
    checkpoint: Checkpoint,
) -> Result<Vec<f32>, Failure> {
    let m = config.grid.nodes();
    let mut rng = SplitMix64::new(config.seed);
    match &config.init {
        Init::Random => {
            // M distinct rows of X in index order (as the peers' shared W0 in som.md); with
            // fewer spectra than nodes, rows repeat and the first epoch spreads them out.
            let rows =
                if m <= data.n { rng.sample_sorted(data.n, m) } else { (0..m).map(|_| rng.below(data.n)).collect() };
            Ok(rows.iter().flat_map(|&i| data.row(i).iter().copied()).collect())
        }
        Init::Pca => {
            // ml::pca centres an f64 copy of its input (12 bytes a value with the f32 rows). An
            // in-memory matrix has that copy counted in the kind's memory estimate; a streamed
            // (memory-mapped) one is over the budget by definition, so its PCA runs on a seeded
            // sample of rows whose copies fit the budget, and the plane is that sample's.
            let sample = match data.flux {
                Flux::Memory(_) => None,
                Flux::Mapped(_) => Some(pca_sample_rows(budget, data.bins)),
            };
            pca_plane(config, data, sample, checkpoint)
        }
        Init::Codebook(path) => read_codebook(&resolve(path), path, m, data.bins),
    }
}

/// Rows of a streamed input whose f32 sample and ml::pca's centred f64 copy fit in `budget`
/// (at least 3, the fewest that have two principal components).
fn pca_sample_rows(budget: u64, bins: usize) -> usize {
    let per_row = (bins as u64).saturating_mul(12).max(1);
    (budget / per_row).clamp(3, usize::MAX as u64) as usize
}

/// Reads a codebook image (M rows of D values) written by an earlier run.
pub fn read_codebook(path: &std::path::Path, shown: &str, m: usize, d: usize) -> Result<Vec<f32>, Failure> {
    let fail = |e: String| Failure::Fatal(format!("init codebook {shown}: {e}"));
    let mut file = fitsio::FitsFile::open(path).map_err(|e| fail(format!("not a readable FITS file ({e})")))?;
    let hdu = file.primary_hdu().map_err(|e| fail(e.to_string()))?;
    let shape = match &hdu.info {
        fitsio::hdu::HduInfo::ImageInfo { shape, .. } => shape.clone(),
        _ => return Err(fail("the primary HDU is not an image".into())),
    };
    if shape != [m, d] {
        return Err(fail(format!("shape {shape:?} does not match this map and data ({m} nodes × {d} bins)")));
    }
    let values: Vec<f32> = hdu.read_image(&mut file).map_err(|e| fail(e.to_string()))?;
    if values.iter().any(|v| !v.is_finite()) {
        return Err(fail("holds non-finite values".into()));
    }
    Ok(values)
}

/// The mean plus the plane of the first two principal components (ml::pca, the `pca` kind's
/// code), spanned over the grid: ±2 standard deviations along each, component 1 across the
/// columns and component 2 down the rows. `sample`: fit on at most this many seeded rows.
fn pca_plane(
    config: &Config,
    data: &SpectraMatrix,
    sample: Option<usize>,
    checkpoint: Checkpoint,
) -> Result<Vec<f32>, Failure> {
    let d = data.bins;
    let picked: Option<Vec<f32>> = sample.filter(|&s| s < data.n).map(|s| {
        let mut rng = SplitMix64::new(config.seed);
        rng.sample_sorted(data.n, s).into_iter().flat_map(|i| data.row(i).iter().copied()).collect()
    });
    let rows: &[f32] = picked.as_deref().unwrap_or(&data.flux);
    let n = rows.len() / d;
    let x = ndarray::ArrayView2::from_shape((n, d), rows).expect("n × d values");
    // Two components need three spectra (k ≤ n − 1); fewer give a line or a point.
    let k = 2.min(n.saturating_sub(1)).min(d);
    let (mean, axes) = if k == 0 {
        (x.row(0).iter().map(|&v| v as f64).collect(), Vec::new())
    } else {
        let fit = crate::ml::pca::fit(x, &crate::ml::pca::Config { components: k, seed: config.seed }, checkpoint)?;
        // ±2 standard deviations, with the population variance (n, not n − 1).
        let axes: Vec<(Vec<f64>, f64)> = (0..k)
            .map(|c| {
                let sd = (fit.explained_variance[c] * (n - 1) as f64 / n as f64).sqrt();
                (fit.components.row(c).to_vec(), 2.0 * sd)
            })
            .collect();
        (fit.mean, axes)
    };
    let (rows, cols) = (config.grid.rows, config.grid.cols);
    let span = |i: usize, n: usize| if n > 1 { 2.0 * i as f64 / (n - 1) as f64 - 1.0 } else { 0.0 };
    let mut w = Vec::with_capacity(rows * cols * d);
    for node in 0..rows * cols {
        let at = [span(node % cols, cols), span(node / cols, rows)];
        w.extend((0..d).map(|j| {
            let offset: f64 = axes.iter().zip(at).map(|((v, s), a)| a * s * v[j]).sum();
            (mean[j] + offset) as f32
        }));
    }
    Ok(w)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A rectangular planar map with somoclu's batch defaults, for tests.
    pub(in crate::som) fn config(rows: usize, cols: usize) -> Config {
        Config {
            grid: Grid { rows, cols, hexagonal: false, toroid: false },
            epochs: 10,
            gaussian: true,
            compact_support: true,
            radius0: 2.0,
            radius_n: 1.0,
            radius_exponential: false,
            scale0: 0.1,
            scale_n: 0.01,
            scale_exponential: false,
            init: Init::Random,
            seed: 7,
            online: false,
        }
    }

    #[test]
    fn schedules_follow_somoclu() {
        let mut c = config(4, 4);
        c.radius0 = 15.0;
        assert_eq!(c.radius(0), 15.0);
        assert!((c.radius(9) - 1.0).abs() < 1e-12);
        c.radius_exponential = true;
        assert!((c.radius(10) - 1.0).abs() < 1e-12, "exponential reaches RN only at t = E");
        assert!(c.weight(4.01, 2.0) == 0.0 && (c.weight(4.0, 2.0) - (-2.0f64).exp()).abs() < 1e-12);
        c.gaussian = false;
        assert_eq!((c.weight(4.0, 2.0), c.weight(4.5, 2.0)), (1.0, 0.0));
    }

    /// Coordinates of `v` on the rows of `basis` (orthonormal) and the length of what is left.
    fn project(v: &[f64], basis: &ndarray::Array2<f64>) -> (Vec<f64>, f64) {
        let coords: Vec<f64> = basis.outer_iter().map(|b| b.iter().zip(v).map(|(a, b)| a * b).sum()).collect();
        let rest: f64 = (0..v.len())
            .map(|j| v[j] - basis.outer_iter().zip(&coords).map(|(b, c)| c * b[j]).sum::<f64>())
            .map(|r| r * r)
            .sum();
        (coords, rest.sqrt())
    }

    #[test]
    fn the_pca_codebook_spans_the_first_two_principal_directions() {
        let data = crate::som::synthetic::spectra(400, 60, 9);
        let (rows, cols) = (5, 7);
        let mut c = config(rows, cols);
        c.init = Init::Pca;
        let x = ndarray::ArrayView2::from_shape((data.n, data.bins), &data.flux[..]).unwrap();
        let fit = crate::ml::pca::fit(x, &crate::ml::pca::Config { components: 2, seed: 1 }, &|| Ok(())).unwrap();
        // The plane is ±2 population standard deviations (n, where ml::pca reports n − 1).
        let n = data.n as f64;
        let sd: Vec<f64> = fit.explained_variance.iter().map(|v| (v * (n - 1.0) / n).sqrt()).collect();
        let check = |w: &[f32], tolerance: f64| {
            for k in 0..rows * cols {
                let offset: Vec<f64> = (0..data.bins).map(|j| w[k * data.bins + j] as f64 - fit.mean[j]).collect();
                let (coords, rest) = project(&offset, &fit.components);
                assert!(rest < tolerance * sd[0], "node {k} leaves the plane by {rest}");
                // Signs are arbitrary: the size of each coordinate follows the node's place,
                // ±2 standard deviations at the edges, across columns (1) and down rows (2).
                let at = [(k % cols) as f64 / (cols - 1) as f64, (k / cols) as f64 / (rows - 1) as f64];
                for (a, (&got, s)) in at.iter().zip(coords.iter().zip(&sd)) {
                    let want = 2.0 * s * (2.0 * a - 1.0).abs();
                    assert!((got.abs() - want).abs() < tolerance * sd[0], "node {k}: |{got}| vs {want}");
                }
            }
        };
        check(&initial_codebook(&c, &data, |p| p.into()).unwrap(), 1e-3);
        // A streamed input's plane comes from a sample of rows: near, not equal.
        let sampled = pca_plane(&c, &data, Some(200), &|| Ok(())).unwrap();
        check(&sampled, 0.2);
    }

    #[test]
    fn a_failing_checkpoint_stops_the_first_epoch_between_blocks() {
        let (n, d) = (BLOCK * 8, 5);
        let mut rng = SplitMix64::new(4);
        let data = SpectraMatrix::from_rows(n, d, (0..n * d).map(|_| rng.next_f64() as f32).collect());
        let c = config(3, 3);
        let w0 = initial_codebook(&c, &data, |p| p.into()).unwrap();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let checkpoint = || {
            let k = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if k >= 2 { Err(Failure::Cancelled) } else { Ok(()) }
        };
        let mut epochs = 0;
        let outcome = train(
            &c,
            &data,
            w0,
            &mut |_, _| {
                epochs += 1;
                Ok(())
            },
            &checkpoint,
        );
        assert!(matches!(outcome, Err(Failure::Cancelled)));
        assert_eq!(epochs, 0, "stopped inside the first epoch");
        let asked = calls.load(std::sync::atomic::Ordering::SeqCst);
        assert!((3..=8).contains(&asked), "one check per block at most: {asked}");
    }

    #[test]
    fn gemm_bmus_match_a_direct_scan() {
        let (n, d, m) = (300, 37, 12);
        let mut rng = SplitMix64::new(3);
        let data = SpectraMatrix::from_rows(n, d, (0..n * d).map(|_| rng.next_f64() as f32).collect());
        let w: Vec<f32> = (0..m * d).map(|_| rng.next_f64() as f32).collect();
        let s = bmu_search(&data, &mean_spectrum(&data), &w);
        for i in 0..n {
            let mut dist: Vec<(f64, usize)> = (0..m)
                .map(|k| {
                    let e: f64 = data.row(i).iter().zip(&w[k * d..]).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
                    (e, k)
                })
                .collect();
            dist.sort_by(|a, b| a.partial_cmp(b).unwrap());
            assert_eq!(s.best[i] as usize, dist[0].1);
            assert_eq!(s.second[i] as usize, dist[1].1);
            assert!((s.best_d2[i] as f64 - dist[0].0).abs() < 1e-4);
        }
    }

    #[test]
    fn the_factored_codebook_finds_the_direct_bmus() {
        // Few samples on a large map: few active nodes, the factored pass's case; the smaller
        // radius leaves nodes with no weighted sample, which keep their own weights.
        let mut kept = 0;
        for (radius, hexagonal) in [(6.0, false), (3.5, false), (3.5, true)] {
            let (n, d) = (30, 300);
            let mut c = config(20, 20);
            c.grid.hexagonal = hexagonal;
            let mut rng = SplitMix64::new(5);
            let data = SpectraMatrix::from_rows(n, d, (0..n * d).map(|_| 1.0 + rng.next_f64() as f32).collect());
            let mean = mean_spectrum(&data);
            // A random codebook spreads the samples' BMUs over the map.
            let mut w: Vec<f32> = (0..c.grid.nodes() * d).map(|_| 1.0 + rng.next_f64() as f32).collect();
            let s = bmu_search(&data, &mean, &w);
            let sums = node_sums(&data, &s.best, c.grid.nodes(), &mean);
            update(&c, radius, &sums, &mut w, d);
            let f = factor(&c, radius, &sums, &mean, &w, d)
                .unwrap_or_else(|| panic!("r {radius}: {} active nodes, not factored", sums.active.len()));
            kept += f.basis.len() / d - sums.active.len();
            let direct = bmu_search(&data, &mean, &w);
            let xn = centred_norms(&data, &mean);
            let factored = bmu_pass(&data, &mean, &xn, &w, Some(&f), &|| Ok(())).unwrap();
            let exact = |i: usize, k: u32| -> f64 {
                data.row(i).iter().zip(&w[k as usize * d..]).map(|(&a, &b)| ((a - b) as f64).powi(2)).sum()
            };
            for i in 0..n {
                // The same node, or one as near up to f32 rounding of distances ~25 (no test of
                // which wins a tie).
                let (a, b) = (exact(i, factored.best[i]), exact(i, direct.best[i]));
                assert!(a <= b + 1e-3, "r {radius} hex {hexagonal} sample {i}: {a} vs {b}");
                assert!((factored.best_d2[i] as f64 - b).abs() < 1e-3 * b.max(1.0));
            }
        }
        assert!(kept > 0, "some node kept its weights");
    }

    #[test]
    fn batch_update_equals_the_direct_neighbourhood_rule() {
        // Planar and toroid, rectangular and hexagonal, fewer samples than nodes (empty nodes are
        // left out), radii from a stencil to the whole map, compact and not, bubble: the banded
        // tiles must give somoclu's rule on every lattice.
        let cases = [
            (3, 3, false, false, 50, 2.0, true, true),
            (4, 5, true, true, 12, 2.0, true, true),
            (9, 7, false, true, 300, 1.0, true, true),
            (9, 7, false, true, 300, 3.0, true, true),
            (11, 6, true, false, 300, 2.5, true, true),
            (11, 6, true, true, 300, 4.0, false, true),
            (10, 4, false, false, 200, 1.5, true, false),
            (20, 20, false, true, 400, 1.0, true, true),
        ];
        for (rows, cols, hexagonal, toroid, n, radius, gaussian, compact) in cases {
            let d = 5;
            let mut c = config(rows, cols);
            c.grid = Grid { rows, cols, hexagonal, toroid };
            (c.gaussian, c.compact_support) = (gaussian, compact);
            let m = rows * cols;
            let mut rng = SplitMix64::new(11);
            let data = SpectraMatrix::from_rows(n, d, (0..n * d).map(|_| rng.next_f64() as f32).collect());
            let w0 = initial_codebook(&c, &data, |p| p.into()).unwrap();
            let s = bmu_search(&data, &mean_spectrum(&data), &w0);
            let sums = node_sums(&data, &s.best, m, &mean_spectrum(&data));
            // Tiles of one and two map rows exercise the bands (and their wrap on a toroid);
            // the default size takes these small maps whole.
            for tile_rows in [1, 2, rows] {
                let mut w = w0.clone();
                update_in_tiles(&c, radius, &sums, &mut w, d, tile_rows);
                // somoclu's loop: for each node, Σ_i h(j, b_i) x_i / Σ_i h(j, b_i).
                for j in 0..m {
                    let (mut num, mut den) = (vec![0f64; d], 0f64);
                    for i in 0..n {
                        let h = c.weight(c.grid.distance2(j, s.best[i] as usize), radius);
                        den += h;
                        num.iter_mut().zip(data.row(i)).for_each(|(a, &x)| *a += h * x as f64);
                    }
                    for t in 0..d {
                        let want = if den > 0.0 { num[t] / den } else { w0[j * d + t] as f64 };
                        let got = w[j * d + t] as f64;
                        assert!(
                            (got - want).abs() < 1e-5,
                            "{rows}x{cols} hex {hexagonal} toroid {toroid} r {radius}: node {j}"
                        );
                    }
                }
            }
        }
    }
}
