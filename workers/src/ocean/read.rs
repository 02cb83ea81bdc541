//! Reading the selected hyperslabs of each time step, file by file, in parallel across files.
//!
//! Only the chunks/blocks of the selection are read, one time step at a time, into buffers
//! reused for the whole file: memory is bounded by (threads × (one step of the box + one
//! accumulator + the chunks of one step)), whatever the number of files.
//!
//! The `netcdf` crate serialises every library call behind one process-wide lock, so through
//! `nc_get_vara` the zlib inflate of different files never overlaps. [`StepReader`] therefore
//! reads netCDF-4 chunks itself ([`super::chunks`]: the lock is held only to locate them) and
//! falls back to `nc_get_vara` for anything else (netCDF-3, contiguous, other filters), which
//! [`super::fallback`] tells the user about.
//! `benches/ocean/` measures both (`VOCLOUD_OCEAN_DIRECT=0` forces libnetcdf).

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::Opened;
use super::cf::{self, FileInfo};
use super::chunks::{self, Direct, Plan};
use super::dataset::{Dataset, Step};
use super::select::Selection;
use super::time::Stamp;
use crate::{Failure, JobContext};

/// Reusable read buffers, one per storage type worth reading natively.
#[derive(Default)]
pub struct Scratch {
    i16s: Vec<i16>,
    f32s: Vec<f32>,
    f64s: Vec<f64>,
}

/// Reads one block in the variable's own type when that is int16 or float32 (the common packed
/// and unpacked cases), so the library's type conversion does not run under its global lock and
/// a quarter of the bytes move; anything else is converted to f64 by the library. Rows are
/// copied into `out` at the block's place in the selection.
fn read_block(
    var: &netcdf::Variable,
    extents: Vec<netcdf::Extent>,
    block: (usize, usize),
    scratch: &mut Scratch,
    mut place: impl FnMut(usize, &mut dyn Iterator<Item = f64>),
) -> netcdf::Result<()> {
    use netcdf::types::{FloatType, IntType, NcVariableType as T};
    let (len, width) = block;
    match var.vartype() {
        T::Int(IntType::I16) => {
            scratch.i16s.resize(len, 0);
            var.get_values_into(scratch.i16s.as_mut_slice(), extents)?;
            for (row, chunk) in scratch.i16s.chunks_exact(width).enumerate() {
                place(row, &mut chunk.iter().map(|&v| v as f64));
            }
        }
        T::Float(FloatType::F32) => {
            scratch.f32s.resize(len, 0.0);
            var.get_values_into(scratch.f32s.as_mut_slice(), extents)?;
            for (row, chunk) in scratch.f32s.chunks_exact(width).enumerate() {
                place(row, &mut chunk.iter().map(|&v| v as f64));
            }
        }
        _ => {
            scratch.f64s.resize(len, 0.0);
            var.get_values_into(scratch.f64s.as_mut_slice(), extents)?;
            for (row, chunk) in scratch.f64s.chunks_exact(width).enumerate() {
                place(row, &mut chunk.iter().copied());
            }
        }
    }
    Ok(())
}

/// Reads step `index` of the open `file` into `out` (output order, NaN = missing or outside),
/// decoding as it copies.
pub fn read_step(
    file: &netcdf::File,
    info: &FileInfo,
    index: usize,
    sel: &Selection,
    scratch: &mut Scratch,
    out: &mut Vec<f64>,
) -> Result<(), String> {
    let var =
        file.variable(&info.variable).ok_or_else(|| format!("{}: variable '{}' vanished", info.name, info.variable))?;
    out.clear();
    out.resize(sel.len(), f64::NAN);
    let singletons = info.shape.len() - 3;
    for (b, block) in sel.blocks.iter().enumerate() {
        if block.is_empty() {
            continue;
        }
        let mut extents: Vec<netcdf::Extent> = vec![index.into()];
        extents.extend(std::iter::repeat_n(netcdf::Extent::from(0usize), singletons));
        extents.push(block.y.clone().into());
        extents.push(block.x.clone().into());
        let width = block.x.len();
        read_block(&var, extents, (block.len(), width), scratch, |row, values| {
            let at = sel.out_index(b, row, 0);
            let inside = &sel.inside[at..at + width];
            for ((slot, raw), &inside) in out[at..at + width].iter_mut().zip(values).zip(inside) {
                *slot = if inside { info.decoder.decode(raw) } else { f64::NAN };
            }
        })
        .map_err(|e| format!("{}: reading '{}' step {index}: {e}", info.name, info.variable))?;
    }
    Ok(())
}

/// Reads the time steps of one file: straight from its chunks when [`Direct::plan`] can,
/// through libnetcdf otherwise.
pub enum StepReader {
    Direct(Direct),
    Netcdf(netcdf::File),
}

/// A thread's reusable read buffers, for either kind of [`StepReader`].
#[derive(Default)]
pub struct Buffers {
    scratch: Scratch,
    chunks: chunks::Buffers,
}

/// False when `VOCLOUD_OCEAN_DIRECT=0`: every read goes through libnetcdf (for comparisons).
fn direct_enabled() -> bool {
    std::env::var("VOCLOUD_OCEAN_DIRECT").map_or(true, |v| v != "0")
}

impl StepReader {
    /// A reader for `steps` (indices along the file's time axis) of the described file. `file`
    /// is the handle `info` was described from. A fallback to libnetcdf is recorded in
    /// `opened.fallbacks`.
    ///
    /// # Errors
    /// A file whose chunk index lies (see [`Direct::plan`]).
    pub fn new(file: netcdf::File, info: &FileInfo, steps: &[usize], opened: &Opened) -> Result<StepReader, String> {
        if !direct_enabled() {
            opened.fallbacks.record(info, "direct chunk reads are turned off (VOCLOUD_OCEAN_DIRECT=0)");
            return Ok(StepReader::Netcdf(file));
        }
        // libhdf5 opens the file a second time while libnetcdf holds it (it shares the open
        // file and its metadata cache); the netCDF handle is closed once the chunks are located.
        match Direct::plan(info, &opened.sel, steps, &opened.budget)? {
            Plan::Direct(direct) => Ok(StepReader::Direct(direct)),
            Plan::Fallback(why) => {
                opened.fallbacks.record(info, &why);
                Ok(StepReader::Netcdf(file))
            }
        }
    }

    /// Like [`StepReader::new`] for a file described earlier.
    pub fn open(info: &FileInfo, steps: &[usize], opened: &Opened) -> Result<StepReader, String> {
        let file = cf::open(&info.path, &info.name)?;
        StepReader::new(file, info, steps, opened)
    }

    /// Reads step `index` into `out`, see [`read_step`].
    pub fn read(
        &self,
        info: &FileInfo,
        index: usize,
        sel: &Selection,
        buffers: &mut Buffers,
        out: &mut Vec<f64>,
    ) -> Result<(), String> {
        match self {
            StepReader::Direct(direct) => direct.read_step(info, index, sel, &mut buffers.chunks, out),
            StepReader::Netcdf(file) => read_step(file, info, index, sel, &mut buffers.scratch, out),
        }
    }
}

/// The steps `range` of `ds` grouped by file, each group in time order: (file index, step
/// indices).
fn by_file(ds: &Dataset, range: Range<usize>) -> Vec<(usize, Vec<usize>)> {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, step) in ds.steps.iter().enumerate().take(range.end).skip(range.start) {
        match groups.iter_mut().find(|(f, _)| *f == step.file) {
            Some((_, steps)) => steps.push(i),
            None => groups.push((step.file, vec![i])),
        }
    }
    groups
}

/// Runs `visit(acc, step number, step, values)` on the steps `range` of `ds`, files in
/// parallel, folding into per-thread accumulators made by `init` and merged by `merge`.
pub fn fold_steps<A: Send>(
    (ds, range): (&Dataset, Range<usize>),
    opened: &Opened,
    ctx: &JobContext,
    what: &str,
    init: impl Fn() -> A + Sync + Send,
    visit: impl Fn(&mut A, usize, &Step, &[f64]) -> Result<(), String> + Sync + Send,
    merge: impl Fn(A, A) -> A + Sync + Send,
) -> Result<A, Failure> {
    let done = AtomicUsize::new(0);
    let total = ds.steps.len().max(1);
    let before = range.start;
    by_file(ds, range)
        .into_par_iter()
        .try_fold(&init, |mut acc, (file_index, steps)| {
            let info = &ds.files[file_index];
            let indices: Vec<usize> = steps.iter().map(|&i| ds.steps[i].index).collect();
            let reader = StepReader::open(info, &indices, opened).map_err(Failure::Fatal)?;
            let (mut buffers, mut values) = (Buffers::default(), Vec::new());
            for i in steps {
                ctx.checkpoint()?;
                let step = &ds.steps[i];
                reader.read(info, step.index, &opened.sel, &mut buffers, &mut values).map_err(Failure::Fatal)?;
                visit(&mut acc, i, step, &values).map_err(Failure::Fatal)?;
                let n = before + done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(16) || n == total {
                    let note = opened.fallbacks.progress_suffix();
                    ctx.progress(n as f64 / total as f64, format!("{what}: {n}/{total} time steps{note}"));
                }
            }
            Ok(acc)
        })
        .try_reduce(&init, |a, b| Ok(merge(a, b)))
}

/// Like [`fold_steps`] with one result per step, returned in time order.
pub fn map_steps<T: Send>(
    ds: &Dataset,
    range: Range<usize>,
    opened: &Opened,
    ctx: &JobContext,
    what: &str,
    f: impl Fn(usize, &Step, &[f64]) -> Result<T, String> + Sync + Send,
) -> Result<Vec<T>, Failure> {
    let mut pairs = fold_steps(
        (ds, range),
        opened,
        ctx,
        what,
        Vec::new,
        |acc: &mut Vec<(usize, T)>, i, step, values| {
            acc.push((i, f(i, step, values)?));
            Ok(())
        },
        |mut a, b| {
            a.extend(b);
            a
        },
    )?;
    pairs.sort_by_key(|(i, _)| *i);
    Ok(pairs.into_iter().map(|(_, t)| t).collect())
}

/// Opens every file of `opened` once, in parallel: describes it (errors name the file), checks
/// that it shares the first file's grid, and runs `visit(acc, stamp, values)` on each of its
/// time steps in `[start, end]`. Returns the merged accumulator and the number of steps seen.
/// The order of visits is arbitrary: accumulators keep the stamp and sort at the end.
pub fn fold_files<A: Send>(
    opened: &Opened,
    variable: &str,
    ctx: &JobContext,
    what: &str,
    init: impl Fn() -> A + Sync + Send,
    visit: impl Fn(&mut A, &Stamp, &[f64]) -> Result<(), String> + Sync + Send,
    merge: impl Fn(A, A) -> A + Sync + Send,
) -> Result<(A, usize), Failure> {
    let done = AtomicUsize::new(0);
    let total = opened.files.len();
    let (first, sel) = (&opened.first, &opened.sel);
    // Exactly one accumulator per thread (contiguous runs of files): a time-average map of the
    // globe is 12 MB per accumulator, and rayon's adaptive splitting could otherwise make more.
    let per_thread = total.div_ceil(rayon::current_num_threads().max(1)).max(1);
    opened
        .files
        .par_chunks(per_thread)
        .map(|files| {
            let (mut acc, mut steps) = (init(), 0);
            let (mut buffers, mut values) = (Buffers::default(), Vec::new());
            for (path, name) in files {
                ctx.checkpoint()?;
                let file = cf::open(path, name).map_err(Failure::Fatal)?;
                let info = cf::describe(&file, path, name, variable, &opened.budget).map_err(Failure::Fatal)?;
                if (info.ny, info.nx) != (first.ny, first.nx) {
                    return Err(Failure::Fatal(format!(
                        "{name}: grid {}×{} differs from {} ({}×{}); a dataset must share one grid",
                        info.ny, info.nx, first.name, first.ny, first.nx
                    )));
                }
                let wanted: Vec<usize> = (0..info.stamps.len())
                    .filter(|&i| (opened.start..=opened.end).contains(&info.stamps[i].epoch))
                    .collect();
                // A file with no step in range is described (its grid checked) but not read.
                if !wanted.is_empty() {
                    let reader = StepReader::new(file, &info, &wanted, opened).map_err(Failure::Fatal)?;
                    for &index in &wanted {
                        let stamp = &info.stamps[index];
                        ctx.checkpoint()?;
                        reader.read(&info, index, sel, &mut buffers, &mut values).map_err(Failure::Fatal)?;
                        visit(&mut acc, stamp, &values).map_err(Failure::Fatal)?;
                        steps += 1;
                    }
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(16) || n == total {
                    let note = opened.fallbacks.progress_suffix();
                    ctx.progress(n as f64 / total as f64, format!("{what}: {n}/{total} files{note}"));
                }
            }
            Ok((acc, steps))
        })
        .try_reduce(|| (init(), 0), |(a, na), (b, nb)| Ok((merge(a, b), na + nb)))
}

/// Like [`fold_files`] with one result per time step, returned sorted by time.
pub fn map_files<T: Send>(
    opened: &Opened,
    variable: &str,
    ctx: &JobContext,
    what: &str,
    f: impl Fn(&Stamp, &[f64]) -> Result<T, String> + Sync + Send,
) -> Result<Vec<(Stamp, T)>, Failure> {
    let (mut pairs, _) = fold_files(
        opened,
        variable,
        ctx,
        what,
        Vec::new,
        |acc: &mut Vec<(Stamp, T)>, stamp, values| {
            acc.push((stamp.clone(), f(stamp, values)?));
            Ok(())
        },
        |mut a, b| {
            a.extend(b);
            a
        },
    )?;
    pairs.sort_by(|(a, _), (b, _)| a.chrono_cmp(b));
    Ok(pairs)
}
