//! Principal component analysis: the exact leading eigenpairs of the covariance matrix, found by
//! a block Krylov (Lanczos) iteration that never forms the D × D covariance.
//!
//! Written here rather than taken from linfa-reduction 0.8, whose `Pca` runs LOBPCG with its own
//! fixed tolerance: it took 8.7 s for 10 components of 20,000 × 2,000 spectra and reports
//! explained variances on a different scale from scikit-learn's (survey in
//! benches/ml/README.md). Here:
//!
//! - the data are centred once into an f64 copy (12 bytes per value in all with the f32 input);
//! - the covariance acts on a block of vectors as Xcᵀ(Xc·Q), two GEMMs per block of rows, partial
//!   sums added in a fixed order so that a seed gives the same components on any thread count;
//! - the Krylov basis grows by one block (k + 10 vectors) per step, fully reorthogonalised, and a
//!   Rayleigh–Ritz step (linfa-linalg's symmetric eigensolver on the small projected matrix) gives
//!   the Ritz pairs; when the basis gets long it restarts from the best Ritz vectors;
//! - it stops when every wanted Ritz pair's residual ‖A·v − θ·v‖ is below 10⁻⁹·θ (or 10⁻¹³ of the
//!   largest, for numerically zero variances), so the variances agree with a dense
//!   eigendecomposition (scikit-learn's `svd_solver="full"`) to far better than 10⁻⁶.
//!
//! Explained variance uses n − 1 like scikit-learn; component signs follow scikit-learn ≥ 1.5
//! (each component's largest absolute loading is positive).

use linfa_linalg::eigh::EighInto;
use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use rayon::prelude::*;

use super::distance::column_means;
use crate::Failure;
use crate::som::rng::SplitMix64;

/// Rows per chunk of the covariance product (one chunk is one task; partial sums are added in
/// chunk order).
const CHUNK: usize = 512;
/// Extra Krylov vectors per block beyond the wanted components.
const OVERSAMPLE: usize = 10;
/// Stop when every wanted Ritz residual is below this fraction of its value.
const RELATIVE_RESIDUAL: f64 = 1e-9;
/// … or below this fraction of the largest value (numerically zero variances).
const ABSOLUTE_RESIDUAL: f64 = 1e-13;
/// Covariance products before giving up on convergence (reported, not an error).
const MAX_PRODUCTS: usize = 300;

#[derive(Debug, Clone)]
pub struct Config {
    pub components: usize,
    /// Seeds the starting block.
    pub seed: u64,
}

/// A fitted PCA.
#[derive(Debug, Clone)]
pub struct Fit {
    /// The mean spectrum that was subtracted.
    pub mean: Vec<f64>,
    /// k × d, orthonormal rows, in decreasing order of variance.
    pub components: Array2<f64>,
    /// Variance along each component (eigenvalue of the covariance, n − 1 normalisation).
    pub explained_variance: Vec<f64>,
    /// `explained_variance` over the total variance.
    pub explained_variance_ratio: Vec<f64>,
    /// Singular values of the centred data: √((n − 1) · variance).
    pub singular_values: Vec<f64>,
    /// Sum of the variances of all columns.
    pub total_variance: f64,
    /// n × k coordinates of the input rows on the components.
    pub projections: Array2<f64>,
    /// Covariance products (each a pass over the data) that were needed.
    pub products: usize,
    /// The largest ‖A·v − θ·v‖ / θ over the components: how exact they are.
    pub max_relative_residual: f64,
    pub converged: bool,
}

/// Bytes [`fit`] holds besides its input: the centred f64 copy.
pub fn memory_bytes(n: usize, d: usize) -> Option<u64> {
    (n as u64).checked_mul(d as u64)?.checked_mul(8)
}

/// Fits `config.components` components to the rows of `x` (finite values; at least two rows;
/// components ≤ min(rows − 1, columns), which the kinds check first).
pub fn fit(
    x: ArrayView2<f32>,
    config: &Config,
    checkpoint: &(dyn Fn() -> Result<(), Failure> + Sync),
) -> Result<Fit, Failure> {
    let (n, d) = x.dim();
    let k = config.components;
    if n < 2 {
        return Err(Failure::Fatal(format!("PCA needs at least 2 spectra, got {n}")));
    }
    if k == 0 || k > d.min(n - 1) {
        return Err(Failure::Fatal(format!(
            "{k} components asked, but {n} spectra of {d} bins have at most {} (min(spectra − 1, bins))",
            d.min(n - 1)
        )));
    }
    let mean = column_means(x);
    let mut xc = Array2::<f64>::zeros((n, d));
    xc.as_slice_mut().expect("new array").par_chunks_mut(d).enumerate().for_each(|(i, out)| {
        for ((o, &v), &m) in out.iter_mut().zip(x.row(i)).zip(&mean) {
            *o = v as f64 - m;
        }
    });
    let total_variance = xc.iter().map(|v| v * v).sum::<f64>() / (n - 1) as f64;
    let op = Covariance { xc: xc.view() };
    let krylov = lanczos(&op, k, config.seed, checkpoint)?;

    let mut components = krylov.vectors.t().to_owned();
    for mut row in components.outer_iter_mut() {
        let largest = row.iter().copied().fold(0f64, |a, v| if v.abs() > a.abs() { v } else { a });
        if largest < 0.0 {
            row.mapv_inplace(|v| -v);
        }
    }
    checkpoint()?;
    let projections = op.project(components.view());
    let explained_variance: Vec<f64> = krylov.values.iter().map(|&t| t.max(0.0) / (n - 1) as f64).collect();
    Ok(Fit {
        explained_variance_ratio: explained_variance
            .iter()
            .map(|v| if total_variance > 0.0 { v / total_variance } else { 0.0 })
            .collect(),
        singular_values: krylov.values.iter().map(|&t| t.max(0.0).sqrt()).collect(),
        explained_variance,
        total_variance,
        mean,
        components,
        projections,
        products: krylov.products,
        max_relative_residual: krylov.max_relative_residual,
        converged: krylov.converged,
    })
}

impl Fit {
    /// Coordinates of new rows (on the same grid) on the components.
    pub fn transform(&self, x: ArrayView2<f32>) -> Array2<f64> {
        let (n, d) = x.dim();
        let mut out = Array2::zeros((n, self.components.nrows()));
        let k = self.components.nrows();
        out.as_slice_mut().expect("new array").par_chunks_mut(k.max(1)).enumerate().for_each(|(i, o)| {
            let row = x.row(i);
            let centred: Array1<f64> = (0..d).map(|j| row[j] as f64 - self.mean[j]).collect();
            o.copy_from_slice(self.components.dot(&centred).as_slice().expect("contiguous"));
        });
        out
    }
}

/// The (unnormalised) covariance Xcᵀ·Xc of centred rows, applied to blocks of vectors.
struct Covariance<'a> {
    xc: ArrayView2<'a, f64>,
}

impl Covariance<'_> {
    fn dim(&self) -> usize {
        self.xc.ncols()
    }

    /// Xcᵀ·(Xc·q) for q (d × b).
    fn apply(
        &self,
        q: ArrayView2<f64>,
        checkpoint: &(dyn Fn() -> Result<(), Failure> + Sync),
    ) -> Result<Array2<f64>, Failure> {
        let n = self.xc.nrows();
        let parts: Vec<Array2<f64>> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                checkpoint()?;
                let rows = self.xc.slice(s![c * CHUNK..((c + 1) * CHUNK).min(n), ..]);
                Ok(rows.t().dot(&rows.dot(&q)))
            })
            .collect::<Result<_, Failure>>()?;
        let mut sum = Array2::zeros((self.dim(), q.ncols()));
        for part in parts {
            sum += &part;
        }
        Ok(sum)
    }

    /// Xc·componentsᵀ (n × k).
    fn project(&self, components: ArrayView2<f64>) -> Array2<f64> {
        let n = self.xc.nrows();
        let blocks: Vec<Array2<f64>> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| self.xc.slice(s![c * CHUNK..((c + 1) * CHUNK).min(n), ..]).dot(&components.t()))
            .collect();
        let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
        ndarray::concatenate(Axis(0), &views).expect("blocks of the same width")
    }
}

struct Krylov {
    /// The wanted eigenvalues of Xcᵀ·Xc, decreasing.
    values: Vec<f64>,
    /// d × k eigenvectors.
    vectors: Array2<f64>,
    products: usize,
    max_relative_residual: f64,
    converged: bool,
}

/// The k largest eigenpairs of the symmetric positive semi-definite `op`.
fn lanczos(
    op: &Covariance,
    k: usize,
    seed: u64,
    checkpoint: &(dyn Fn() -> Result<(), Failure> + Sync),
) -> Result<Krylov, Failure> {
    let d = op.dim();
    let block = (k + OVERSAMPLE).min(d);
    // Long enough for fast convergence, short enough that the projected eigenproblem stays cheap.
    let max_basis = (6 * block).max(120).min(d);
    let mut rng = SplitMix64::new(seed);
    let mut basis = Array2::<f64>::zeros((d, 0));
    let mut images = Array2::<f64>::zeros((d, 0));
    let mut next = Array2::from_shape_fn((d, block), |_| rng.next_f64() - 0.5);
    orthonormalise(&mut next, basis.view(), &mut rng);
    let mut products = 0;
    loop {
        checkpoint()?;
        let image = op.apply(next.view(), checkpoint)?;
        products += 1;
        basis = ndarray::concatenate![Axis(1), basis, next];
        images = ndarray::concatenate![Axis(1), images, image];

        // Rayleigh–Ritz on the projected matrix Vᵀ·A·V.
        let projected = basis.t().dot(&images);
        let symmetric = (&projected + &projected.t()) * 0.5;
        let (values, vectors) = symmetric
            .eigh_into()
            .map_err(|e| Failure::Fatal(format!("PCA: the projected eigenproblem failed: {e}")))?;
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let keep = block.min(order.len());
        let y = Array2::from_shape_fn((vectors.nrows(), keep), |(i, j)| vectors[[i, order[j]]]);
        let theta: Vec<f64> = order[..keep].iter().map(|&i| values[i]).collect();
        let ritz = basis.dot(&y);
        let ritz_images = images.dot(&y);
        let mut residuals = ritz_images.clone();
        for (j, mut col) in residuals.axis_iter_mut(Axis(1)).enumerate() {
            col.scaled_add(-theta[j], &ritz.column(j));
        }
        let largest = theta[0].abs().max(f64::MIN_POSITIVE);
        let relative: Vec<f64> = (0..k)
            .map(|j| {
                let norm = residuals.column(j).dot(&residuals.column(j)).sqrt();
                norm / theta[j].abs().max(ABSOLUTE_RESIDUAL / RELATIVE_RESIDUAL * largest)
            })
            .collect();
        let worst = relative.iter().copied().fold(0f64, f64::max);
        let complete = basis.ncols() >= d;
        if worst <= RELATIVE_RESIDUAL || complete || products >= MAX_PRODUCTS {
            return Ok(Krylov {
                values: theta[..k].to_vec(),
                vectors: ritz.slice(s![.., ..k]).to_owned(),
                products,
                max_relative_residual: worst,
                converged: worst <= RELATIVE_RESIDUAL || complete,
            });
        }
        if basis.ncols() + block > max_basis {
            // Thick restart: the best Ritz vectors become the basis; their residuals (orthogonal
            // to it) continue the Krylov sequence.
            basis = ritz;
            images = ritz_images;
            next = residuals;
        } else {
            next = images.slice(s![.., images.ncols() - block..]).to_owned();
        }
        let room = d - basis.ncols();
        if next.ncols() > room {
            next = next.slice(s![.., ..room]).to_owned();
        }
        orthonormalise(&mut next, basis.view(), &mut rng);
    }
}

/// Makes the columns of `q` orthonormal and orthogonal to the (orthonormal) columns of `basis`:
/// block classical Gram–Schmidt twice, then column by column with reorthogonalisation. A column
/// that vanishes (the Krylov space became invariant) is replaced by a random direction, which
/// keeps the block full without changing what the Ritz pairs converge to.
fn orthonormalise(q: &mut Array2<f64>, basis: ArrayView2<f64>, rng: &mut SplitMix64) {
    for _ in 0..2 {
        let coeffs = basis.t().dot(&*q);
        *q -= &basis.dot(&coeffs);
    }
    for j in 0..q.ncols() {
        for attempt in 0..4 {
            let before = q.column(j).dot(&q.column(j)).sqrt();
            for _ in 0..2 {
                let c = basis.t().dot(&q.column(j));
                let fix = basis.dot(&c);
                q.column_mut(j).scaled_add(-1.0, &fix);
                for i in 0..j {
                    let dot = q.column(i).dot(&q.column(j));
                    let prev = q.column(i).to_owned();
                    q.column_mut(j).scaled_add(-dot, &prev);
                }
            }
            let after = q.column(j).dot(&q.column(j)).sqrt();
            if after > 1e-10 * before.max(f64::MIN_POSITIVE) && after > 0.0 {
                q.column_mut(j).mapv_inplace(|v| v / after);
                break;
            }
            let fresh: Array1<f64> = (0..q.nrows()).map(|_| rng.next_f64() - 0.5).collect();
            q.column_mut(j).assign(&fresh);
            assert!(attempt < 3, "no direction left orthogonal to the basis");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_abort() -> Result<(), Failure> {
        Ok(())
    }

    /// Rows along three known orthogonal directions with variances 9, 4 and 1, plus tiny noise.
    fn data(n: usize, d: usize) -> Array2<f32> {
        let mut rng = SplitMix64::new(4);
        let dir = |c: usize, j: usize| if j % 3 == c { 1.0 / ((d / 3) as f64).sqrt() } else { 0.0 };
        let mut x = Array2::<f32>::zeros((n, d));
        for mut row in x.outer_iter_mut() {
            let a: Vec<f64> = [3.0, 2.0, 1.0].iter().map(|s| s * (rng.next_f64() - 0.5) * 12f64.sqrt()).collect();
            for (j, v) in row.iter_mut().enumerate() {
                *v = (5.0 + (0..3).map(|c| a[c] * dir(c, j)).sum::<f64>() + 1e-4 * (rng.next_f64() - 0.5)) as f32;
            }
        }
        x
    }

    #[test]
    fn finds_the_planted_directions_and_variances() {
        let x = data(3000, 60);
        let fit = fit(x.view(), &Config { components: 3, seed: 1 }, &no_abort).unwrap();
        assert!(fit.converged, "residual {}", fit.max_relative_residual);
        for (got, want) in fit.explained_variance.iter().zip([9.0, 4.0, 1.0]) {
            assert!((got - want).abs() < 0.1 * want, "{:?}", fit.explained_variance);
        }
        let ratio: f64 = fit.explained_variance_ratio.iter().sum();
        assert!(ratio > 0.999 && ratio <= 1.0 + 1e-12, "{ratio}");
        // Orthonormal components with a positive largest loading.
        let gram = fit.components.dot(&fit.components.t());
        for i in 0..3 {
            for j in 0..3 {
                assert!((gram[[i, j]] - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9);
            }
            let row = fit.components.row(i);
            let largest = row.iter().copied().fold(0f64, |a, v| if v.abs() > a.abs() { v } else { a });
            assert!(largest > 0.0);
        }
        // Projections agree with transform() and have the explained variances.
        let again = fit.transform(x.view());
        assert!((&again - &fit.projections).iter().all(|v| v.abs() < 1e-9));
        let var0 = fit.projections.column(0).iter().map(|v| v * v).sum::<f64>() / 2999.0;
        assert!((var0 - fit.explained_variance[0]).abs() < 1e-9 * var0);
    }

    #[test]
    fn the_same_seed_gives_the_same_components() {
        let x = data(700, 30);
        let a = fit(x.view(), &Config { components: 2, seed: 5 }, &no_abort).unwrap();
        let b = fit(x.view(), &Config { components: 2, seed: 5 }, &no_abort).unwrap();
        assert_eq!(a.components, b.components);
    }

    #[test]
    fn rank_deficient_data_converge_with_zero_variances() {
        // Four rows: rank 3 after centring; ask for all 3.
        let x =
            ndarray::array![[1.0f32, 0.0, 0.0, 2.0], [0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 1.0, 2.0], [1.0, 1.0, 1.0, 2.0]];
        let fit = fit(x.view(), &Config { components: 3, seed: 0 }, &no_abort).unwrap();
        assert!(fit.converged);
        let total: f64 = fit.explained_variance.iter().sum();
        assert!((total - fit.total_variance).abs() < 1e-12);
    }

    #[test]
    fn too_many_components_is_an_error() {
        let x = data(5, 30);
        let err = fit(x.view(), &Config { components: 5, seed: 0 }, &no_abort).unwrap_err();
        assert!(err.to_string().contains("at most 4"), "{err}");
    }
}
