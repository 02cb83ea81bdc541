//! The input every ML kind computes on: N spectra on one wavelength grid, with names and the
//! class labels the input carries.
//!
//! [`Collection::read`] reads a job's `input` through the one spectra reader
//! ([`crate::spectra::read_matrix`]): a folder, one file, or a preprocess job's `matrix.fits`,
//! onto the spectra's common grid. The reader's refusals (an unreadable file, a spectrum not
//! covering the grid, NaN fluxes, an empty folder, an input over the memory budget) become a
//! fatal job error naming the file. The kinds compute on a [`Collection`] so that their compute
//! is also tested on in-memory matrices.

use ndarray::Array2;

use crate::spectra::{self, Flux, GridRequest, ReadOptions, SpectraMatrix};
use crate::{Failure, JobContext};

/// Bytes of spectra an ML job may hold when the deployment does not say
/// (`ml_memory_budget_mb`).
pub const DEFAULT_MEMORY_BUDGET_MB: u64 = 8192;

/// The memory budget of an ML job's read (deployment setting `ml_memory_budget_mb`, env
/// VOCLOUD_JOB_ML_MEMORY_BUDGET_MB). Unlike `som`, the ML algorithms need the whole matrix in
/// memory, so an input over the budget is refused by the reader rather than streamed.
pub fn memory_budget(ctx: &JobContext) -> Result<u64, Failure> {
    match ctx.setting("ml_memory_budget_mb") {
        Some(v) => v.trim().parse::<u64>().map(|mb| mb.saturating_mul(1 << 20)).map_err(|_| {
            Failure::Fatal(format!("deployment setting ml_memory_budget_mb = '{v}' is not a number of MB"))
        }),
        None => Ok(DEFAULT_MEMORY_BUDGET_MB << 20),
    }
}

/// How a job reads: within the budget, stopping when the job is aborted, never spilling.
pub fn read_options(ctx: &JobContext) -> Result<ReadOptions, Failure> {
    Ok(ReadOptions {
        budget: memory_budget(ctx)?,
        max_files: usize::MAX,
        cancel: Some(ctx.cancel.clone()),
        spill_dir: None,
    })
}

#[derive(Debug, Clone)]
pub struct Collection {
    /// One per spectrum: its file name (and row), shown in every result table.
    pub names: Vec<String>,
    /// Class labels from the input (a label/class column, CLASS/OBJTYPE keywords), if any.
    pub labels: Vec<Option<String>>,
    /// The common grid, increasing.
    pub wavelengths: Vec<f64>,
    /// N × D, row i is spectrum i on the grid.
    pub flux: Array2<f32>,
}

impl Collection {
    /// Reads the job's `input` (a path in the owner's storage, as errors name it) onto the
    /// spectra's own common grid, as they are: no normalisation, which is preprocess's job.
    pub fn read(input: &str, ctx: &JobContext) -> Result<Collection, Failure> {
        let matrix = spectra::read_matrix(&ctx.input(input), input, &GridRequest::default(), &read_options(ctx)?)?;
        ctx.checkpoint()?;
        Collection::from_matrix(matrix)
    }

    /// The matrix as a collection: its values are moved, not copied (a memory-mapped matrix,
    /// which [`read_options`] never asks for, would be copied into memory).
    pub fn from_matrix(m: SpectraMatrix) -> Result<Collection, Failure> {
        let values = match m.flux {
            Flux::Memory(values) => values,
            Flux::Mapped(map) => Flux::Mapped(map).to_vec(),
        };
        let flux = Array2::from_shape_vec((m.n, m.bins), values)
            .map_err(|e| Failure::Fatal(format!("inconsistent matrix of {} × {}: {e}", m.n, m.bins)))?;
        let collection = Collection { names: m.names, labels: m.labels, wavelengths: m.grid, flux };
        collection.check()?;
        Ok(collection)
    }

    pub fn len(&self) -> usize {
        self.flux.nrows()
    }

    pub fn is_empty(&self) -> bool {
        self.flux.nrows() == 0
    }

    /// The checks every kind needs before computing: spectra to work on, one grid for all, and
    /// finite values only (naming the first spectrum that has others).
    pub fn check(&self) -> Result<(), Failure> {
        let (n, d) = self.flux.dim();
        if n == 0 {
            return Err(Failure::Fatal("the input holds no spectra".into()));
        }
        if d == 0 || self.wavelengths.len() != d || self.names.len() != n || self.labels.len() != n {
            return Err(Failure::Fatal(format!(
                "inconsistent input: {n} spectra, {} names, {} labels, {d} fluxes per spectrum on a grid of {} wavelengths",
                self.names.len(),
                self.labels.len(),
                self.wavelengths.len()
            )));
        }
        if let Some(i) = (0..n).find(|&i| self.flux.row(i).iter().any(|v| !v.is_finite())) {
            let bad = self.flux.row(i).iter().filter(|v| !v.is_finite()).count();
            let what =
                if bad == d { "no finite flux at all".to_string() } else { format!("{bad} of {d} fluxes not finite") };
            return Err(Failure::Fatal(format!(
                "spectrum '{}' has {what}; run `preprocess` (masking and interpolation) first or leave it out",
                self.names[i]
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `n` seeded spectra of 3 classes on `d` bins from 6500 Å (line depth by class).
    pub fn synthetic(n: usize, d: usize) -> Collection {
        let mut rng = crate::som::rng::SplitMix64::new(n as u64);
        let flux = Array2::from_shape_fn((n, d), |(i, j)| {
            let u = (j as f32 - d as f32 / 2.0) / 4.0;
            let depth = [0.6f32, -0.4, 0.2][i % 3];
            1.0 - depth * (-0.5 * u * u).exp() + 0.02 * (rng.next_f64() as f32 - 0.5)
        });
        Collection {
            names: (0..n).map(|i| format!("s{i:04}.fits")).collect(),
            labels: (0..n).map(|i| Some(["absorption", "emission", "weak"][i % 3].to_string())).collect(),
            wavelengths: (0..d).map(|j| 6500.0 + j as f64).collect(),
            flux,
        }
    }

    #[test]
    fn empty_and_non_finite_inputs_are_named_errors() {
        let mut c = synthetic(4, 10);
        assert!(c.check().is_ok());
        c.flux[[2, 3]] = f32::NAN;
        assert!(c.check().unwrap_err().to_string().contains("'s0002.fits' has 1 of 10 fluxes not finite"));
        c.flux.row_mut(2).fill(f32::NAN);
        assert!(c.check().unwrap_err().to_string().contains("no finite flux at all"));
        let empty = Collection { names: vec![], labels: vec![], wavelengths: vec![1.0], flux: Array2::zeros((0, 1)) };
        assert!(empty.check().unwrap_err().to_string().contains("no spectra"));
    }
}
