//! The data a plot shows: a set of named series on ascending x grids, each with a min/max
//! pyramid built once so a frame never has to scan more than a few samples per pixel column.
//!
//! Pure data structures, no I/O (readers live in [`super::spectra`]). Flux is kept as `f32`
//! (plots need no more, and it halves memory); wavelengths stay `f64` and are shared between
//! series on the same grid (`Arc`), which is the common case for a spectra collection.

use std::sync::Arc;

/// Below this many samples a series gets no pyramid: a scan is as cheap as a lookup.
const PYRAMID_MIN_LEN: usize = 64;

/// One spectrum (or time series): `x` ascending, `y` the same length.
pub struct Series {
    pub name: String,
    pub x: Arc<[f64]>,
    pub y: Vec<f32>,
    /// `levels[k]` holds (min, max) over blocks of `2^(k+1)` samples of `y`.
    levels: Vec<(Vec<f32>, Vec<f32>)>,
}

impl Series {
    /// A series from samples; `x` must be ascending (readers sort), `y` as long as `x`.
    pub fn new(name: String, x: Arc<[f64]>, y: Vec<f32>) -> Series {
        debug_assert_eq!(x.len(), y.len());
        let levels = build_pyramid(&y);
        Series { name, x, y, levels }
    }

    /// Bytes held by this series, not counting a shared grid.
    pub fn bytes(&self) -> usize {
        self.name.len() + self.y.len() * 4 + self.levels.iter().map(|(a, b)| (a.len() + b.len()) * 4).sum::<usize>()
    }

    /// (min, max) of `y[a..b]`, ignoring NaN; `None` for an empty or all-NaN range.
    ///
    /// Short ranges are scanned; long ones walk the pyramid bottom-up like a segment tree,
    /// which is exact and costs O(log n).
    pub fn min_max(&self, a: usize, b: usize) -> Option<(f32, f32)> {
        if b <= a {
            return None;
        }
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        if b - a <= 32 || self.levels.is_empty() {
            for &v in &self.y[a..b] {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        } else {
            let (mut l, mut r) = (a, b);
            let mut take = |mins: &[f32], maxs: &[f32], i: usize| {
                lo = lo.min(mins[i]);
                hi = hi.max(maxs[i]);
            };
            // Level 0 is the raw data itself.
            if l & 1 == 1 {
                take(&self.y, &self.y, l);
                l += 1;
            }
            if r & 1 == 1 {
                r -= 1;
                take(&self.y, &self.y, r);
            }
            l >>= 1;
            r >>= 1;
            for (mins, maxs) in &self.levels {
                if l >= r {
                    break;
                }
                if l & 1 == 1 {
                    take(mins, maxs, l);
                    l += 1;
                }
                if r & 1 == 1 {
                    r -= 1;
                    take(mins, maxs, r);
                }
                l >>= 1;
                r >>= 1;
            }
            // The top level has at most two blocks; a range still open above it covers all of it.
            if l < r {
                let (mins, maxs) = self.levels.last().unwrap();
                for i in 0..mins.len() {
                    take(mins, maxs, i);
                }
            }
        }
        (lo <= hi).then_some((lo, hi))
    }
}

fn build_pyramid(y: &[f32]) -> Vec<(Vec<f32>, Vec<f32>)> {
    let mut levels: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
    if y.len() < PYRAMID_MIN_LEN {
        return levels;
    }
    loop {
        let next = match levels.last() {
            None => halve(y, y),
            Some((mins, maxs)) => halve(mins, maxs),
        };
        let done = next.0.len() <= 2;
        levels.push(next);
        if done {
            return levels;
        }
    }
}

/// One pyramid level up: (min, max) of each pair (an odd last element stands alone).
fn halve(mins: &[f32], maxs: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let n = mins.len().div_ceil(2);
    let (mut lo, mut hi) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let j = (2 * i + 1).min(mins.len() - 1);
        lo.push(mins[2 * i].min(mins[j]));
        hi.push(maxs[2 * i].max(maxs[j]));
    }
    (lo, hi)
}

/// All series of a dataset on one shared grid, stored sample-major: `y[k * n + s]` is sample
/// `k` of series `s`. A column of the plot then reads one contiguous block for all series,
/// which streams from memory and vectorises; per-series storage made the density pass wait on
/// cache misses for 10,000 spectra (perf: most time in the loads of `y`).
pub struct Block {
    pub grid: Arc<[f64]>,
    pub n: usize,
    pub y: Vec<f32>,
}

/// Below this many series the per-series path is as fast and no block is built.
const BLOCK_MIN_SERIES: usize = 64;

/// A collection of series with its data extent.
pub struct Dataset {
    pub title: String,
    /// Axis titles (x, y): wavelength/flux for spectra, time/value for time series tables.
    pub axes: (String, String),
    pub series: Vec<Series>,
    /// The series sample-major, when they all share one grid and are many.
    pub block: Option<Block>,
    /// Data extent: (xmin, xmax, ymin, ymax) over finite values.
    pub extent: (f64, f64, f64, f64),
    /// Smallest positive x and y, for switching an axis to log.
    pub min_positive: (f64, f64),
    pub bytes: usize,
    pub points: usize,
}

impl Dataset {
    pub fn new(title: String, series: Vec<Series>) -> Dataset {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        let (mut px, mut py) = (f64::INFINITY, f64::INFINITY);
        let mut bytes = 0;
        let mut points = 0;
        let mut grids: Vec<*const f64> = Vec::new();
        for s in &series {
            bytes += s.bytes();
            points += s.y.len();
            let ptr = s.x.as_ptr();
            if !grids.contains(&ptr) {
                if grids.len() < 64 {
                    grids.push(ptr);
                }
                bytes += s.x.len() * 8;
            }
            if let (Some(&a), Some(&b)) = (s.x.first(), s.x.last()) {
                x0 = x0.min(a);
                x1 = x1.max(b);
            }
            if let Some(p) = s.x.iter().find(|v| **v > 0.0) {
                px = px.min(*p);
            }
            if let Some((lo, hi)) = s.min_max(0, s.y.len()) {
                y0 = y0.min(lo as f64);
                y1 = y1.max(hi as f64);
            }
            for &v in &s.y {
                if v > 0.0 && (v as f64) < py {
                    py = v as f64;
                }
            }
        }
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let block = build_block(&series);
        bytes += block.as_ref().map_or(0, |b| b.y.len() * 4);
        Dataset {
            title,
            axes: ("wavelength".into(), "flux".into()),
            series,
            block,
            extent: (x0, x1, y0, y1),
            min_positive: (px, py),
            bytes,
            points,
        }
    }
}

fn build_block(series: &[Series]) -> Option<Block> {
    let first = series.first()?;
    if series.len() < BLOCK_MIN_SERIES || !series.iter().all(|s| Arc::ptr_eq(&s.x, &first.x)) {
        return None;
    }
    let (n, len) = (series.len(), first.x.len());
    let mut y = vec![0f32; n * len];
    for (j, s) in series.iter().enumerate() {
        for (k, v) in s.y.iter().enumerate() {
            y[k * n + j] = *v;
        }
    }
    Some(Block { grid: first.x.clone(), n, y })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyramid_min_max_matches_a_scan_for_every_range() {
        let y: Vec<f32> = (0..300).map(|i| ((i * 7919) % 211) as f32 - 100.0).collect();
        let x: Arc<[f64]> = (0..300).map(|i| i as f64).collect();
        let s = Series::new("s".into(), x, y.clone());
        for a in (0..300).step_by(7) {
            for b in (a..=300).step_by(5) {
                let expect = (b > a).then(|| {
                    y[a..b].iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)))
                });
                assert_eq!(s.min_max(a, b), expect, "range {a}..{b}");
            }
        }
    }
}
