//! Stratified k-fold cross-validation folds and confusion matrices.
//!
//! Folds follow scikit-learn's `StratifiedKFold(shuffle=True)` in spirit: each class is shuffled
//! (seeded) and dealt round-robin over the folds, so every fold holds each class in proportion.

use crate::som::rng::SplitMix64;

/// The fold (0..k) of every row; rows whose label is `None` get no fold.
pub fn stratified_folds(labels: &[Option<u16>], classes: usize, k: usize, seed: u64) -> Vec<Option<usize>> {
    let mut rng = SplitMix64::new(seed);
    let mut folds = vec![None; labels.len()];
    let mut next = 0;
    for class in 0..classes {
        let members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == Some(class as u16)).collect();
        for (t, &p) in rng.permutation(members.len()).iter().enumerate() {
            // Continue the round-robin across classes so small classes do not all start at fold 0.
            folds[members[p]] = Some((next + t) % k);
        }
        next = (next + members.len()) % k;
    }
    folds
}

/// counts[true · classes + predicted].
#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    pub classes: usize,
    pub counts: Vec<u64>,
}

impl Confusion {
    pub fn new(classes: usize) -> Self {
        Confusion { classes, counts: vec![0; classes * classes] }
    }

    pub fn add(&mut self, truth: u16, predicted: u16) {
        self.counts[truth as usize * self.classes + predicted as usize] += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let right: u64 = (0..self.classes).map(|c| self.counts[c * self.classes + c]).sum();
        right as f64 / self.total().max(1) as f64
    }

    /// Row `truth`: how its members were classified.
    pub fn row(&self, truth: usize) -> &[u64] {
        &self.counts[truth * self.classes..(truth + 1) * self.classes]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_balanced_per_class_and_skip_unlabelled_rows() {
        let labels: Vec<Option<u16>> = (0..103).map(|i| if i == 50 { None } else { Some((i % 3) as u16) }).collect();
        let folds = stratified_folds(&labels, 3, 5, 7);
        assert_eq!(folds[50], None);
        for class in 0..3u16 {
            let mut per = [0usize; 5];
            (0..103).filter(|&i| labels[i] == Some(class)).for_each(|i| per[folds[i].unwrap()] += 1);
            assert!(per.iter().max().unwrap() - per.iter().min().unwrap() <= 1, "{per:?}");
        }
    }

    #[test]
    fn accuracy_is_the_diagonal_share() {
        let mut m = Confusion::new(2);
        [(0, 0), (0, 1), (1, 1), (1, 1)].iter().for_each(|&(t, p)| m.add(t, p));
        assert_eq!(m.accuracy(), 0.75);
        assert_eq!(m.row(0), &[1, 1]);
    }
}
