//! Local outlier factor (Breunig et al. 2000), as VO-CLOUD's LOF worker and scikit-learn's
//! `LocalOutlierFactor` compute it on the training set: from the k nearest other spectra
//! ([`super::knn`]), the reachability distance max(k-distance(o), d(p, o)), the local
//! reachability density lrd(p) = 1 / (mean reachability distance + 10⁻¹⁰), and
//! LOF(p) = mean over the neighbours o of lrd(o) / lrd(p). Inliers score about 1; larger is more
//! outlying. scikit-learn's `negative_outlier_factor_` is −LOF.

use super::knn::Neighbours;

/// The LOF of every row from its neighbours.
pub fn scores(neighbours: &Neighbours) -> Vec<f64> {
    let k = neighbours.k;
    let n = neighbours.index.len() / k.max(1);
    let k_distance: Vec<f64> = (0..n).map(|i| neighbours.of(i).1[k - 1]).collect();
    let lrd: Vec<f64> = (0..n)
        .map(|i| {
            let (idx, dist) = neighbours.of(i);
            let reach: f64 = idx.iter().zip(dist).map(|(&o, &d)| d.max(k_distance[o as usize])).sum();
            1.0 / (reach / k as f64 + 1e-10)
        })
        .collect();
    (0..n)
        .map(|i| {
            let (idx, _) = neighbours.of(i);
            idx.iter().map(|&o| lrd[o as usize]).sum::<f64>() / k as f64 / lrd[i]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::knn;
    use ndarray::Array2;

    #[test]
    fn a_far_point_scores_high_and_a_regular_grid_scores_one() {
        // A 10 × 10 unit grid plus one point far away.
        let mut rows: Vec<[f32; 2]> = (0..100).map(|i| [(i % 10) as f32, (i / 10) as f32]).collect();
        rows.push([30.0, 30.0]);
        let x = Array2::from_shape_fn((rows.len(), 2), |(i, j)| rows[i][j]);
        let nb = knn::all(x.view(), 4, &|| Ok(())).unwrap();
        let lof = scores(&nb);
        assert!(lof[100] > 5.0, "{}", lof[100]);
        // An interior grid point: every neighbour at distance 1 with the same density.
        assert!((lof[55] - 1.0).abs() < 1e-6, "{}", lof[55]);
    }
}
