//! What an ocean run keeps in memory, estimated from the dataset's headers before anything
//! large is allocated, and the budget it must fit in.
//!
//! The same figures serve two moments: at job creation ([`super::estimate_bytes`], from the
//! first file's header, for the operator's per-job limit) and at run time, where every reader
//! checks the sizes its file declares — time axis, coordinates, the selected grid, the chunks of
//! one step — against the [`Budget`] before allocating, so a file that declares terabytes ends
//! the job in ERROR instead of aborting the process. Sums saturate: a product that overflows is
//! larger than any budget.

use crate::{Failure, JobContext};

/// Budget when the deployment sets none (the same default as som's).
pub const DEFAULT_BUDGET_MB: u64 = 8192;

/// Bytes per time step kept while describing and ordering a dataset: the raw value, the
/// [`super::time::Stamp`] (with its ISO text) and the [`super::dataset::Step`] around it.
pub const STEP_BYTES: u64 = 8 + 64 + 96;
/// Bytes per selected pixel of a [`super::select::Selection`]: latitude, longitude, weight and
/// the inside flag.
const SELECTION_BYTES: u64 = 8 * 3 + 1;
/// Bytes per result row of a time series: the row, and its JSON, CSV and VOTable renderings
/// built in memory.
const ROW_BYTES: u64 = 2048;
/// Libraries, thread stacks, libnetcdf's and libhdf5's caches, the 16-bit decoding tables.
const FIXED_BYTES: u64 = 96 << 20;

/// The memory a run may use: deployment setting `ocean_memory_budget_mb` (environment
/// `VOCLOUD_JOB_OCEAN_MEMORY_BUDGET_MB` on workers), default [`DEFAULT_BUDGET_MB`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub bytes: u64,
    /// How many reading threads share `bytes` (1 for the whole run, see [`Budget::per_thread`]).
    pub shared_by: u64,
}

impl Budget {
    pub fn of(ctx: &JobContext) -> Result<Budget, Failure> {
        let mb = match ctx.setting("ocean_memory_budget_mb") {
            Some(v) => v.trim().parse::<u64>().map_err(|_| {
                Failure::Fatal(format!("deployment setting ocean_memory_budget_mb = '{v}' is not a number of MB"))
            })?,
            None => DEFAULT_BUDGET_MB,
        };
        Ok(Budget::new(mb.saturating_mul(1 << 20)))
    }

    pub fn new(bytes: u64) -> Budget {
        Budget { bytes, shared_by: 1 }
    }

    /// Refuses `bytes` over the budget, with a message saying what needs them.
    pub fn check(&self, what: impl FnOnce() -> String, bytes: u64) -> Result<(), String> {
        if bytes <= self.bytes {
            return Ok(());
        }
        let budget = match self.shared_by {
            1 => format!("the memory budget of {}", human(self.bytes)),
            n => format!("one reading thread's share ({}) of the memory budget of {}", human(self.bytes), {
                human(self.bytes.saturating_mul(n))
            }),
        };
        Err(format!(
            "{} needs about {}, more than {budget} (deployment setting ocean_memory_budget_mb)",
            what(),
            human(bytes)
        ))
    }

    /// The share of one of the reading threads.
    pub fn per_thread(&self) -> Budget {
        Budget { bytes: self.bytes / threads(), shared_by: threads() }
    }
}

/// The threads that read files at once (rayon's pool).
pub fn threads() -> u64 {
    rayon::current_num_threads().max(1) as u64
}

/// `1.5 GiB`, `32.0 TiB`: binary units, one decimal.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes == u64::MAX {
        return "more than 16 EiB".into();
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// What a kind keeps besides reading: the part of the estimate that differs between kinds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Use {
    /// Per step statistics (`ocean-timeseries`); `climatology` adds the seasonal climatology's
    /// reading (`ocean-dda` reads a climatology step beside each data step).
    Series { climatology: bool },
    /// Per-pixel sums and counts per thread, the mean and the PNG (`ocean-timeavg`).
    Map,
    /// A batch of two steps per thread of points (`ocean-subset`).
    Points,
    /// One PNG frame per thread (`ocean-maps`).
    Frames,
}

/// The sizes a run's memory depends on, from the headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// The variable's grid.
    pub ny: u64,
    pub nx: u64,
    /// 2-D latitude and longitude (read whole) instead of 1-D.
    pub curvilinear: bool,
    /// The selected output grid (at most the whole grid).
    pub rows: u64,
    pub cols: u64,
    /// Time steps of the dataset (all files).
    pub steps: u64,
    /// Bytes of inflated chunks one thread holds to read one step (or the hyperslab libnetcdf
    /// reads), see [`super::chunks::step_bytes`].
    pub step_read_bytes: u64,
}

impl Shape {
    pub fn pixels(&self) -> u64 {
        self.rows.saturating_mul(self.cols)
    }

    /// Bytes of coordinates read at the start of a run.
    pub fn coordinate_bytes(&self) -> u64 {
        if self.curvilinear { self.ny.saturating_mul(self.nx).saturating_mul(16) } else { (self.ny + self.nx) * 8 }
    }

    /// The estimated peak of a run of `usage` with `threads` reading threads.
    pub fn estimate(&self, usage: Use, threads: u64) -> u64 {
        let pixels = self.pixels();
        let px = |bytes_per_pixel: u64| pixels.saturating_mul(bytes_per_pixel);
        // Each thread: the decoded step, the chunks (or hyperslab) it came from.
        let mut per_thread = px(8).saturating_add(self.step_read_bytes);
        let mut shared = self.coordinate_bytes().saturating_add(px(SELECTION_BYTES));
        shared = shared.saturating_add(self.steps.saturating_mul(STEP_BYTES));
        match usage {
            Use::Series { climatology } => {
                shared = shared.saturating_add(self.steps.saturating_mul(ROW_BYTES));
                if climatology {
                    per_thread = per_thread.saturating_add(px(8)).saturating_add(self.step_read_bytes);
                }
            }
            Use::Map => {
                per_thread = per_thread.saturating_add(px(12));
                shared = shared.saturating_add(px(8)).saturating_add(super::render::png_bytes(self.rows, self.cols));
            }
            Use::Points => per_thread = per_thread.saturating_add(px(2 * 32)),
            Use::Frames => per_thread = per_thread.saturating_add(super::render::png_bytes(self.rows, self.cols)),
        }
        FIXED_BYTES.saturating_add(shared).saturating_add(per_thread.saturating_mul(threads))
    }
}

/// The peak of `ocean-merge` over parts whose largest file has `largest` bytes: the bytes as
/// read, the part decoded (a map part's 1-D coordinates expand to one pair per pixel: about
/// twice the file), and the merged state of the same size, plus the mean and the PNG.
pub fn merge_estimate(largest: u64) -> u64 {
    FIXED_BYTES.saturating_add(largest.saturating_mul(6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(rows: u64, cols: u64, steps: u64) -> Shape {
        Shape { ny: 720, nx: 1440, curvilinear: false, rows, cols, steps, step_read_bytes: 4 * 360 * 720 * 2 }
    }

    #[test]
    fn estimates_grow_with_the_box_the_threads_and_the_kind() {
        let globe = shape(720, 1440, 365);
        let nino = shape(40, 200, 365);
        let map = globe.estimate(Use::Map, 2);
        // The bench's global time average: two threads' sums (12 MB each), the values, the
        // chunks, the mean and the PNG: well under half a gigabyte.
        assert!(map > 120 << 20 && map < 400 << 20, "{}", human(map));
        assert!(nino.estimate(Use::Map, 2) < map);
        assert!(globe.estimate(Use::Map, 8) > map, "per-thread state");
        assert!(globe.estimate(Use::Series { climatology: false }, 2) < map, "no per-pixel sums");
        assert!(
            globe.estimate(Use::Series { climatology: true }, 2)
                > globe.estimate(Use::Series { climatology: false }, 2)
        );
        assert!(globe.estimate(Use::Points, 2) > globe.estimate(Use::Series { climatology: false }, 2));
        let huge = Shape { ny: 1_000_000, nx: 1_000_000, rows: 1_000_000, cols: 1_000_000, ..globe.clone() };
        assert!(huge.estimate(Use::Map, 2) > 30 << 40, "{}", human(huge.estimate(Use::Map, 2)));
        let overflowing = Shape { rows: u64::MAX, cols: 3, ..globe };
        assert_eq!(overflowing.estimate(Use::Frames, 2), u64::MAX, "saturates, never wraps");
    }

    #[test]
    fn the_budget_names_what_needs_more() {
        let budget = Budget::new(8 << 30);
        assert!(budget.check(|| "x".into(), 8 << 30).is_ok());
        let e = budget.check(|| "a time axis of 2000000000 time steps".into(), 2_000_000_000 * STEP_BYTES).unwrap_err();
        assert!(e.starts_with("a time axis of 2000000000 time steps needs about 312.9 GiB"), "{e}");
        assert!(e.contains("memory budget of 8.0 GiB"), "{e}");
        assert_eq!(human(u64::MAX), "more than 16 EiB");
        let e = Budget { bytes: 4 << 30, shared_by: 2 }.check(|| "x".into(), 5 << 30).unwrap_err();
        assert!(e.contains("one reading thread's share (4.0 GiB) of the memory budget of 8.0 GiB"), "{e}");
        assert_eq!(human(512), "512 bytes");
    }
}
