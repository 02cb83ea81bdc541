//! Isolation forest (Liu, Ting & Zhou 2008) with scikit-learn's `IsolationForest` defaults:
//! trees grown on random subsamples of min(256, n) spectra without replacement, each split on a
//! random feature (constant ones skipped) at a uniform random threshold between the node's
//! minimum and maximum, down to depth ⌈log₂ subsample⌉. A spectrum's anomaly score is
//! 2^(−E[h(x)] / c(subsample)), h the path length plus c(leaf size) for unsplit leaves; above
//! 0.5 is anomalous (scikit-learn's `score_samples` is −score, its `contamination="auto"`
//! threshold the same 0.5).
//!
//! No linfa or smartcore crate has an isolation forest; it is a few dozen lines. Trees are grown
//! and rows scored in parallel; each tree has its own seed derived from the job's, so the scores
//! do not depend on the number of threads.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::Failure;
use crate::som::rng::SplitMix64;

#[derive(Debug, Clone)]
pub struct Config {
    pub trees: usize,
    /// Rows per tree (scikit-learn's `max_samples`, default min(256, n)).
    pub subsample: usize,
    pub seed: u64,
}

/// One node: a split (feature, threshold, children) or a leaf with its training size.
#[derive(Debug, Clone, Copy)]
enum Node {
    Split { feature: u32, threshold: f64, left: u32, right: u32 },
    Leaf { size: u32 },
}

/// c(n): the average path length of an unsuccessful binary-search-tree search among n points.
fn average_path(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

fn grow(
    x: &ArrayView2<f32>,
    rows: &mut [usize],
    depth: usize,
    max_depth: usize,
    rng: &mut SplitMix64,
    nodes: &mut Vec<Node>,
) -> u32 {
    let id = nodes.len() as u32;
    nodes.push(Node::Leaf { size: rows.len() as u32 });
    if rows.len() <= 1 || depth >= max_depth {
        return id;
    }
    // Features in random order until one varies in this node.
    let d = x.ncols();
    let mut order: Vec<usize> = (0..d).collect();
    for t in 0..d {
        let pick = t + rng.below(d - t);
        order.swap(t, pick);
        let f = order[t];
        let (lo, hi) = rows.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &r| {
            let v = x[[r, f]];
            (lo.min(v), hi.max(v))
        });
        if lo >= hi {
            continue;
        }
        // In f64, strictly above the minimum, so neither side is empty (v < threshold goes left).
        let (lo, hi) = (lo as f64, hi as f64);
        let mut threshold = lo + rng.next_f64() * (hi - lo);
        if threshold <= lo {
            threshold = 0.5 * (lo + hi);
        }
        let split = partition(rows, |r| (x[[r, f]] as f64) < threshold);
        let (left_rows, right_rows) = rows.split_at_mut(split);
        let left = grow(x, left_rows, depth + 1, max_depth, rng, nodes);
        let right = grow(x, right_rows, depth + 1, max_depth, rng, nodes);
        nodes[id as usize] = Node::Split { feature: f as u32, threshold, left, right };
        return id;
    }
    id
}

/// Moves the rows satisfying `pred` to the front; returns how many there are.
fn partition(rows: &mut [usize], pred: impl Fn(usize) -> bool) -> usize {
    let mut split = 0;
    for i in 0..rows.len() {
        if pred(rows[i]) {
            rows.swap(i, split);
            split += 1;
        }
    }
    split
}

fn path_length(nodes: &[Node], row: ndarray::ArrayView1<f32>) -> f64 {
    let mut at = 0usize;
    let mut depth = 0f64;
    loop {
        match nodes[at] {
            Node::Split { feature, threshold, left, right } => {
                at = if (row[feature as usize] as f64) < threshold { left } else { right } as usize;
                depth += 1.0;
            }
            Node::Leaf { size } => return depth + average_path(size as usize),
        }
    }
}

/// The anomaly score of every row of `x` (0 to 1; above 0.5 anomalous).
pub fn scores(
    x: ArrayView2<f32>,
    config: &Config,
    checkpoint: &(dyn Fn() -> Result<(), Failure> + Sync),
) -> Result<Vec<f64>, Failure> {
    let n = x.nrows();
    let subsample = config.subsample.min(n).max(1);
    let max_depth = (subsample as f64).log2().ceil().max(1.0) as usize;
    let mut seeds = SplitMix64::new(config.seed);
    let tree_seeds: Vec<u64> = (0..config.trees).map(|_| seeds.next_u64()).collect();
    let forest: Vec<Vec<Node>> = tree_seeds
        .par_iter()
        .map(|&seed| {
            checkpoint()?;
            let mut rng = SplitMix64::new(seed);
            let mut rows = rng.sample_sorted(n, subsample);
            let mut nodes = Vec::new();
            grow(&x, &mut rows, 0, max_depth, &mut rng, &mut nodes);
            Ok(nodes)
        })
        .collect::<Result<_, Failure>>()?;
    let norm = average_path(subsample).max(f64::MIN_POSITIVE);
    (0..n)
        .into_par_iter()
        .map(|i| {
            if i % 4096 == 0 {
                checkpoint()?;
            }
            let mean = forest.iter().map(|t| path_length(t, x.row(i))).sum::<f64>() / forest.len().max(1) as f64;
            Ok(2f64.powf(-mean / norm))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn planted_outliers_score_highest() {
        let mut rng = SplitMix64::new(2);
        let mut x = Array2::from_shape_fn((500, 6), |_| rng.next_f64() as f32);
        for i in [17, 230, 499] {
            x.row_mut(i).fill(4.0);
        }
        let s = scores(x.view(), &Config { trees: 100, subsample: 256, seed: 1 }, &|| Ok(())).unwrap();
        let mut order: Vec<usize> = (0..500).collect();
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
        let mut top = order[..3].to_vec();
        top.sort();
        assert_eq!(top, vec![17, 230, 499]);
        assert!(s[17] > 0.6 && s[5] < 0.55, "{} {}", s[17], s[5]);
        assert_eq!(s, scores(x.view(), &Config { trees: 100, subsample: 256, seed: 1 }, &|| Ok(())).unwrap());
    }

    #[test]
    fn average_path_matches_the_paper() {
        assert_eq!(average_path(1), 0.0);
        assert_eq!(average_path(2), 1.0);
        // c(256) ≈ 10.24 (2 H(255) − 2·255/256).
        assert!((average_path(256) - 10.2448).abs() < 1e-3, "{}", average_path(256));
    }
}
