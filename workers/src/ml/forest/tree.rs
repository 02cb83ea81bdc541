//! One classification tree (CART, Gini) grown on binned features, as scikit-learn grows the trees
//! of a random forest: at each node a random subset of `mtry` features is searched (more when the
//! drawn ones are constant in the node), the best split of the Gini criterion is kept, and the
//! tree grows until leaves are pure, hold one sample, or reach `max_depth`. Bootstrap
//! multiplicities are sample weights.
//!
//! Split search reads a histogram of (bin, class) weights per feature: O(samples) per feature and
//! node instead of a sort. Nodes with few samples sort their (bin, class) pairs instead, which is
//! cheaper than sweeping 256 bins.

use serde::{Deserialize, Serialize};

use crate::som::rng::SplitMix64;

/// Below this many samples a node sorts instead of building a histogram.
const SMALL_NODE: usize = 48;

/// A grown tree. Internal nodes are numbered in preorder (children after their parent); a child
/// reference `c ≥ 0` is internal node c, `c < 0` is leaf −1 − c.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Feature tested by each internal node.
    pub feature: Vec<u32>,
    /// Values ≤ threshold go left.
    pub threshold: Vec<f32>,
    pub left: Vec<i32>,
    pub right: Vec<i32>,
    /// Class probabilities of each leaf, `classes` values per leaf.
    pub leaves: Vec<f32>,
}

impl Tree {
    /// The class probabilities of the leaf `row` falls in.
    pub fn leaf<'a>(&'a self, row: &[f32], classes: usize) -> &'a [f32] {
        let mut at: i32 = if self.feature.is_empty() { -1 } else { 0 };
        while at >= 0 {
            let node = at as usize;
            at = if row[self.feature[node] as usize] <= self.threshold[node] {
                self.left[node]
            } else {
                self.right[node]
            };
        }
        let leaf = (-1 - at) as usize;
        &self.leaves[leaf * classes..(leaf + 1) * classes]
    }

    pub fn node_count(&self) -> usize {
        self.feature.len() + self.leaves.len()
    }
}

/// Training data as the builder needs it.
pub struct Binned<'a> {
    pub n: usize,
    pub d: usize,
    /// Column-major bins, `bins[f · n + i]`.
    pub bins: &'a [u8],
    pub labels: &'a [u16],
    pub classes: usize,
    /// The f32 value of each bin edge per feature (the split thresholds).
    pub edges: &'a [Vec<f32>],
}

#[derive(Debug, Clone, Copy)]
pub struct Grow {
    /// Features searched per node.
    pub mtry: usize,
    pub max_depth: Option<usize>,
    /// Nodes with fewer samples become leaves.
    pub min_samples_split: usize,
}

enum Slot {
    Root,
    Left(usize),
    Right(usize),
}

struct Task {
    start: usize,
    end: usize,
    depth: usize,
    slot: Slot,
}

/// The best split found so far: Gini proxy, feature, last bin going left.
#[derive(Clone, Copy)]
struct Best {
    proxy: f64,
    feature: usize,
    bin: u8,
}

/// Grows one tree on the rows with non-zero `weights` (bootstrap multiplicities).
pub fn grow(data: &Binned, weights: &[u32], config: &Grow, rng: &mut SplitMix64) -> Tree {
    let c = data.classes;
    let mut samples: Vec<u32> = (0..data.n as u32).filter(|&i| weights[i as usize] > 0).collect();
    let mut tree = Tree::default();
    let mut order: Vec<usize> = (0..data.d).collect();
    let mut hist = vec![0u32; 256 * c];
    let mut counts = vec![0u32; c];
    let mut small: Vec<(u8, u16, u32)> = Vec::new();
    let mut stack = vec![Task { start: 0, end: samples.len(), depth: 0, slot: Slot::Root }];
    while let Some(task) = stack.pop() {
        let node = &samples[task.start..task.end];
        counts.iter_mut().for_each(|v| *v = 0);
        for &s in node {
            counts[data.labels[s as usize] as usize] += weights[s as usize];
        }
        let pure = counts.iter().filter(|&&v| v > 0).count() <= 1;
        let stop = pure || node.len() < config.min_samples_split || config.max_depth.is_some_and(|m| task.depth >= m);
        let best = if stop {
            None
        } else {
            best_split(data, weights, node, &counts, config.mtry, rng, &mut order, &mut hist, &mut small)
        };
        let reference = match best {
            None => {
                let total: u32 = counts.iter().sum();
                let leaf = tree.leaves.len() / c;
                tree.leaves.extend(counts.iter().map(|&v| v as f32 / total.max(1) as f32));
                -1 - leaf as i32
            }
            Some(best) => {
                let id = tree.feature.len();
                tree.feature.push(best.feature as u32);
                tree.threshold.push(data.edges[best.feature][best.bin as usize]);
                tree.left.push(0);
                tree.right.push(0);
                let col = &data.bins[best.feature * data.n..(best.feature + 1) * data.n];
                let node = &mut samples[task.start..task.end];
                let mut mid = 0;
                for i in 0..node.len() {
                    if col[node[i] as usize] <= best.bin {
                        node.swap(i, mid);
                        mid += 1;
                    }
                }
                let mid = task.start + mid;
                // Right first on the stack, so the left subtree is numbered first (preorder).
                stack.push(Task { start: mid, end: task.end, depth: task.depth + 1, slot: Slot::Right(id) });
                stack.push(Task { start: task.start, end: mid, depth: task.depth + 1, slot: Slot::Left(id) });
                id as i32
            }
        };
        match task.slot {
            Slot::Root => {}
            Slot::Left(parent) => tree.left[parent] = reference,
            Slot::Right(parent) => tree.right[parent] = reference,
        }
    }
    tree
}

/// Σ_c n_c² / n of the two sides: larger means lower weighted Gini impurity.
fn proxy(left: &[u32], total: &[u32]) -> Option<f64> {
    let (mut lw, mut tw, mut ls, mut rs) = (0f64, 0f64, 0f64, 0f64);
    for (&l, &t) in left.iter().zip(total) {
        let (l, r) = (l as f64, (t - l) as f64);
        lw += l;
        tw += t as f64;
        ls += l * l;
        rs += r * r;
    }
    let rw = tw - lw;
    (lw > 0.0 && rw > 0.0).then(|| ls / lw + rs / rw)
}

#[allow(clippy::too_many_arguments)]
fn best_split(
    data: &Binned,
    weights: &[u32],
    node: &[u32],
    counts: &[u32],
    mtry: usize,
    rng: &mut SplitMix64,
    order: &mut [usize],
    hist: &mut [u32],
    small: &mut Vec<(u8, u16, u32)>,
) -> Option<Best> {
    let (c, d) = (data.classes, data.d);
    let mut best: Option<Best> = None;
    let mut left = vec![0u32; c];
    let mut varying = 0;
    let mut visited = 0;
    // scikit-learn's rule: at least `mtry` features, and on until one is not constant.
    while visited < d && (visited < mtry || varying == 0) {
        let pick = visited + rng.below(d - visited);
        order.swap(visited, pick);
        let f = order[visited];
        visited += 1;
        let col = &data.bins[f * data.n..(f + 1) * data.n];
        let consider = |bin: u8, left: &[u32], best: &mut Option<Best>| {
            if let Some(p) = proxy(left, counts)
                && best.is_none_or(|b| p > b.proxy)
            {
                *best = Some(Best { proxy: p, feature: f, bin });
            }
        };
        left.iter_mut().for_each(|v| *v = 0);
        if node.len() < SMALL_NODE {
            small.clear();
            small.extend(node.iter().map(|&s| (col[s as usize], data.labels[s as usize], weights[s as usize])));
            small.sort_unstable_by_key(|t| t.0);
            if small[0].0 == small[small.len() - 1].0 {
                continue;
            }
            varying += 1;
            for (i, &(bin, label, w)) in small.iter().enumerate() {
                left[label as usize] += w;
                if i + 1 < small.len() && small[i + 1].0 != bin {
                    consider(bin, &left, &mut best);
                }
            }
        } else {
            let (mut lo, mut hi) = (u8::MAX, 0u8);
            for &s in node {
                let bin = col[s as usize];
                hist[bin as usize * c + data.labels[s as usize] as usize] += weights[s as usize];
                lo = lo.min(bin);
                hi = hi.max(bin);
            }
            if lo < hi {
                varying += 1;
                for bin in lo..hi {
                    let row = &hist[bin as usize * c..(bin as usize + 1) * c];
                    if row.iter().all(|&v| v == 0) {
                        continue;
                    }
                    left.iter_mut().zip(row).for_each(|(l, &h)| *l += h);
                    consider(bin, &left, &mut best);
                }
            }
            hist[lo as usize * c..(hi as usize + 1) * c].iter_mut().for_each(|v| *v = 0);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_separates_what_one_feature_separates() {
        // Feature 1 decides the class; features 0 and 2 are noise.
        let n = 200;
        let mut rng = SplitMix64::new(1);
        let labels: Vec<u16> = (0..n).map(|i| (i % 2) as u16).collect();
        let mut bins = vec![0u8; 3 * n];
        for i in 0..n {
            bins[i] = rng.below(256) as u8;
            bins[n + i] = if labels[i] == 0 { rng.below(100) as u8 } else { 150 + rng.below(100) as u8 };
            bins[2 * n + i] = rng.below(256) as u8;
        }
        let edges: Vec<Vec<f32>> = (0..3).map(|_| (0..255).map(|e| e as f32 + 0.5).collect()).collect();
        let data = Binned { n, d: 3, bins: &bins, labels: &labels, classes: 2, edges: &edges };
        let tree =
            grow(&data, &vec![1; n], &Grow { mtry: 3, max_depth: None, min_samples_split: 2 }, &mut SplitMix64::new(5));
        assert_eq!(tree.feature[0], 1, "the root splits on the informative feature");
        for i in 0..n {
            let row = [bins[i] as f32, bins[n + i] as f32, bins[2 * n + i] as f32];
            assert_eq!(tree.leaf(&row, 2)[labels[i] as usize], 1.0);
        }
        // Preorder numbering: every child after its parent.
        for (id, (&l, &r)) in tree.left.iter().zip(&tree.right).enumerate() {
            assert!(l < 0 || l as usize > id);
            assert!(r < 0 || r as usize > id);
        }
    }
}
