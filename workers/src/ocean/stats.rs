//! Mergeable statistics of a set of values: the unit of work that can be split and recombined.
//!
//! A [`Partial`] holds counts, sums, weighted sums, extremes and the sum of squared deviations
//! about its own mean (`m2`). Two partials merge exactly with Chan et al.'s formula
//! (`m2 = m2a + m2b + δ² na nb / n`), so a long request can be cut by time (or by area) into
//! parts that run on different workers and are combined afterwards without taking means of
//! means. `m2` instead of a raw sum of squares keeps the variance accurate for values like
//! 300 K with a spread of 0.01 K, where `Σx²/n − x̄²` would cancel catastrophically.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    pub cnt: u64,
    pub sum: f64,
    /// Σ w·x and Σ w with w = cos(lat): SDAP's area-weighted mean.
    pub wsum: f64,
    pub wtot: f64,
    pub min: f64,
    pub max: f64,
    /// Σ (x − sum/cnt)².
    pub m2: f64,
}

impl Default for Partial {
    fn default() -> Self {
        Partial { cnt: 0, sum: 0.0, wsum: 0.0, wtot: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY, m2: 0.0 }
    }
}

impl Partial {
    /// Statistics of the valid (non-NaN) `values` with their `weights` (two passes: exact m2).
    pub fn of(values: impl Iterator<Item = (f64, f64)> + Clone) -> Partial {
        let mut p = Partial::default();
        for (x, w) in values.clone().filter(|(x, _)| !x.is_nan()) {
            p.cnt += 1;
            p.sum += x;
            p.wsum += w * x;
            p.wtot += w;
            p.min = p.min.min(x);
            p.max = p.max.max(x);
        }
        if p.cnt > 0 {
            let mean = p.sum / p.cnt as f64;
            p.m2 = values.filter(|(x, _)| !x.is_nan()).map(|(x, _)| (x - mean) * (x - mean)).sum();
        }
        p
    }

    /// Combines two disjoint sets.
    pub fn merge(self, other: Partial) -> Partial {
        if self.cnt == 0 {
            return other;
        }
        if other.cnt == 0 {
            return self;
        }
        let (na, nb) = (self.cnt as f64, other.cnt as f64);
        let delta = other.sum / nb - self.sum / na;
        Partial {
            cnt: self.cnt + other.cnt,
            sum: self.sum + other.sum,
            wsum: self.wsum + other.wsum,
            wtot: self.wtot + other.wtot,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            m2: self.m2 + other.m2 + delta * delta * na * nb / (na + nb),
        }
    }

    pub fn mean_plain(&self) -> f64 {
        self.sum / self.cnt as f64
    }

    pub fn mean_coslat(&self) -> f64 {
        self.wsum / self.wtot
    }

    /// Population standard deviation (ddof = 0) about the unweighted mean, as SDAP's `np.ma.std`.
    pub fn std(&self) -> f64 {
        (self.m2 / self.cnt as f64).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_parts_equal_the_whole() {
        let xs: Vec<(f64, f64)> = (0..1000).map(|i| (300.0 + ((i * 37) % 101) as f64 * 1e-3, 0.5)).collect();
        let whole = Partial::of(xs.iter().copied());
        let parts = xs.chunks(77).map(|c| Partial::of(c.iter().copied())).fold(Partial::default(), Partial::merge);
        assert_eq!(whole.cnt, parts.cnt);
        assert_eq!((whole.min, whole.max), (parts.min, parts.max));
        assert!((whole.mean_plain() - parts.mean_plain()).abs() < 1e-12);
        assert!((whole.std() - parts.std()).abs() < 1e-12);
        assert!((whole.mean_coslat() - whole.mean_plain()).abs() < 1e-12);
    }

    #[test]
    fn nan_is_ignored() {
        let p = Partial::of([(1.0, 1.0), (f64::NAN, 1.0), (3.0, 1.0)].into_iter());
        assert_eq!((p.cnt, p.min, p.max, p.mean_plain(), p.std()), (2, 1.0, 3.0, 2.0, 1.0));
    }
}
