//! Random forest classification (Breiman 2001) with scikit-learn's defaults: bootstrap samples,
//! √D features searched per split, Gini, trees grown until their leaves are pure; class
//! probabilities are the mean of the trees' leaf class fractions.
//!
//! Written here rather than taken from a crate, on measurement (benches/ml/README.md):
//! linfa-ensemble 0.8 draws one feature subset per tree rather than per split (a different
//! algorithm from scikit-learn's), is single-threaded, and took 122 s for 4 trees on
//! 20,000 × 2,000 spectra; smartcore 0.7 sorts every feature for every tree and scans all rows at
//! every node, single-threaded. Here trees are grown in parallel on features binned once into at
//! most 256 quantile bins ([`bins`]), splits are found from histograms ([`tree`]), and each tree
//! has its own seed derived from the forest's, so a seed gives the same forest on any number of
//! threads.

pub mod bins;
pub mod model;
pub mod tree;

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::Failure;
use crate::som::rng::SplitMix64;
use bins::Edges;
use tree::{Binned, Grow, Tree};

#[derive(Debug, Clone)]
pub struct Config {
    pub trees: usize,
    /// Features searched per split; `None`: ⌊√D⌋ (scikit-learn's "sqrt").
    pub mtry: Option<usize>,
    pub max_depth: Option<usize>,
    pub min_samples_split: usize,
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { trees: 100, mtry: None, max_depth: None, min_samples_split: 2, seed: 0 }
    }
}

/// A trained forest: what [`model`] saves.
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    pub classes: usize,
    pub features: usize,
    pub trees: Vec<Tree>,
}

/// Trains a forest on the rows `rows` of `x` with class indices `labels` (one per row of `x`,
/// each < `classes`).
pub fn fit(
    x: ArrayView2<f32>,
    labels: &[u16],
    classes: usize,
    rows: &[usize],
    config: &Config,
    checkpoint: &(dyn Fn() -> Result<(), Failure> + Sync),
) -> Result<Forest, Failure> {
    let (n, d) = x.dim();
    if rows.is_empty() {
        return Err(Failure::Fatal("no labelled spectra to train on".into()));
    }
    let edges = Edges::fit(x, rows);
    checkpoint()?;
    let binned = edges.apply(x);
    checkpoint()?;
    let data = Binned { n, d, bins: &binned, labels, classes, edges: &edges.0 };
    let grow = Grow {
        mtry: config.mtry.unwrap_or(((d as f64).sqrt().floor() as usize).max(1)).clamp(1, d),
        max_depth: config.max_depth,
        min_samples_split: config.min_samples_split.max(2),
    };
    let mut seeds = SplitMix64::new(config.seed);
    let tree_seeds: Vec<u64> = (0..config.trees).map(|_| seeds.next_u64()).collect();
    let trees = tree_seeds
        .par_iter()
        .map(|&seed| {
            checkpoint()?;
            let mut rng = SplitMix64::new(seed);
            let mut weights = vec![0u32; n];
            for _ in 0..rows.len() {
                weights[rows[rng.below(rows.len())]] += 1;
            }
            Ok(tree::grow(&data, &weights, &grow, &mut rng))
        })
        .collect::<Result<_, Failure>>()?;
    Ok(Forest { classes, features: d, trees })
}

impl Forest {
    /// Class probabilities of each of the rows `rows` of `x` (rows × classes, row-major).
    pub fn predict_proba(&self, x: ArrayView2<f32>, rows: &[usize]) -> Vec<f32> {
        let c = self.classes;
        let mut out = vec![0f32; rows.len() * c];
        out.par_chunks_mut(c).zip(rows.par_iter()).for_each(|(probs, &r)| {
            let row = x.row(r);
            let row = row.as_slice().map(std::borrow::Cow::Borrowed).unwrap_or_else(|| row.to_vec().into());
            for tree in &self.trees {
                probs.iter_mut().zip(tree.leaf(&row, c)).for_each(|(p, &v)| *p += v);
            }
            probs.iter_mut().for_each(|p| *p /= self.trees.len().max(1) as f32);
        });
        out
    }
}

/// The most probable class of each row of probabilities (ties: the lower class index, as
/// numpy's argmax).
pub fn argmax(probs: &[f32], classes: usize) -> Vec<u16> {
    probs
        .chunks_exact(classes)
        .map(|p| {
            p.iter().enumerate().fold((0, f32::NEG_INFINITY), |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc }).0
                as u16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Two classes told apart by the sign of feature 3 (with 10% label noise), 20 features.
    fn labelled(n: usize, seed: u64) -> (Array2<f32>, Vec<u16>) {
        let mut rng = SplitMix64::new(seed);
        let x = Array2::from_shape_fn((n, 20), |_| rng.next_f64() as f32 - 0.5);
        let labels = (0..n).map(|i| u16::from(x[[i, 3]] > 0.0) ^ u16::from(rng.below(10) == 0)).collect();
        (x, labels)
    }

    #[test]
    fn learns_a_rule_and_generalises() {
        let (x, y) = labelled(1500, 1);
        let train: Vec<usize> = (0..1000).collect();
        let test: Vec<usize> = (1000..1500).collect();
        let forest =
            fit(x.view(), &y, 2, &train, &Config { trees: 50, seed: 3, ..Config::default() }, &|| Ok(())).unwrap();
        let predicted = argmax(&forest.predict_proba(x.view(), &test), 2);
        let correct = test.iter().zip(&predicted).filter(|(r, p)| y[**r] == **p).count();
        // The Bayes rate is 90%.
        assert!(correct as f64 / 500.0 > 0.84, "{correct}/500");
        let again =
            fit(x.view(), &y, 2, &train, &Config { trees: 50, seed: 3, ..Config::default() }, &|| Ok(())).unwrap();
        assert_eq!(forest, again, "a seed gives the same forest");
    }
}
