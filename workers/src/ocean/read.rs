//! Reading the selected hyperslabs of each time step, file by file, in parallel across files.
//!
//! Only the blocks of the selection are read (`nc_get_vara` on `[t, y-range, x-range]`), one
//! time step at a time, into a buffer reused for the whole file: memory is bounded by
//! (threads × one step of the box), whatever the number of files.
//!
//! The `netcdf` crate serialises every library call behind one process-wide mutex, so the
//! HDF5 decompression of different files does not overlap; what runs in parallel is the
//! decoding and the statistics. `benches/ocean/` measures how much that costs.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::cf::FileInfo;
use super::dataset::{Dataset, Step};
use super::select::Selection;
use crate::{Failure, JobContext};

/// Reads step `index` of the open `file` into `out` (output order, NaN = missing or outside).
pub fn read_step(
    file: &netcdf::File,
    info: &FileInfo,
    index: usize,
    sel: &Selection,
    scratch: &mut Vec<f64>,
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
        scratch.resize(block.len(), 0.0);
        var.get_values_into(scratch.as_mut_slice(), extents)
            .map_err(|e| format!("{}: reading '{}' step {index}: {e}", info.name, info.variable))?;
        let width = block.x.len();
        for (row, chunk) in scratch.chunks_exact(width).enumerate() {
            let at = sel.out_index(b, row, 0);
            out[at..at + width].copy_from_slice(chunk);
        }
    }
    info.decoder.decode_all(out);
    for (v, &inside) in out.iter_mut().zip(&sel.inside) {
        if !inside {
            *v = f64::NAN;
        }
    }
    Ok(())
}

/// The steps of `ds` grouped by file, each group in time order: (file index, step indices).
fn by_file(ds: &Dataset) -> Vec<(usize, Vec<usize>)> {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, step) in ds.steps.iter().enumerate() {
        match groups.iter_mut().find(|(f, _)| *f == step.file) {
            Some((_, steps)) => steps.push(i),
            None => groups.push((step.file, vec![i])),
        }
    }
    groups
}

/// Runs `visit(acc, step number, step, values)` on every selected step, files in parallel,
/// folding into per-thread accumulators made by `init` and merged by `merge`.
pub fn fold_steps<A: Send>(
    ds: &Dataset,
    sel: &Selection,
    ctx: &JobContext,
    what: &str,
    init: impl Fn() -> A + Sync + Send,
    visit: impl Fn(&mut A, usize, &Step, &[f64]) -> Result<(), String> + Sync + Send,
    merge: impl Fn(A, A) -> A + Sync + Send,
) -> Result<A, Failure> {
    let done = AtomicUsize::new(0);
    let total = ds.steps.len().max(1);
    by_file(ds)
        .into_par_iter()
        .try_fold(&init, |mut acc, (file_index, steps)| {
            let info = &ds.files[file_index];
            let file = super::cf::open(&info.path, &info.name).map_err(Failure::Fatal)?;
            let (mut scratch, mut values) = (Vec::new(), Vec::new());
            for i in steps {
                ctx.checkpoint()?;
                let step = &ds.steps[i];
                read_step(&file, info, step.index, sel, &mut scratch, &mut values).map_err(Failure::Fatal)?;
                visit(&mut acc, i, step, &values).map_err(Failure::Fatal)?;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(16) || n == total {
                    ctx.progress(n as f64 / total as f64, format!("{what}: {n}/{total} time steps"));
                }
            }
            Ok(acc)
        })
        .try_reduce(&init, |a, b| Ok(merge(a, b)))
}

/// Like [`fold_steps`] with one result per step, returned in time order.
pub fn map_steps<T: Send>(
    ds: &Dataset,
    sel: &Selection,
    ctx: &JobContext,
    what: &str,
    f: impl Fn(usize, &Step, &[f64]) -> Result<T, String> + Sync + Send,
) -> Result<Vec<T>, Failure> {
    let mut pairs = fold_steps(
        ds,
        sel,
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
