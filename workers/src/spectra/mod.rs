//! Spectra: the one reader every spectra consumer uses — the `som` kind, the plot page and its
//! signed `row=` links (`src/plots`, `src/api/links.rs`), and the ML kinds (preprocess, kmeans,
//! pca, classify, outliers). The same bad file gives the same error wherever it is read.
//!
//! # Inputs (DESIGN.md "Spectra inputs")
//!
//! `input` is one file or a folder (its spectrum files, one level, sorted by name, read in
//! parallel with rayon). By extension:
//! - `.fits .fit .fts` (also `.gz`): the first HDU that holds spectra —
//!   a 1-D image (one spectrum), a 2-D image (one spectrum per row), the wavelength WCS on axis 1
//!   (CRVAL1, CDELT1 or CD1_1, CRPIX1; linear, `CTYPE1 = 'WAVE-LOG'`, or log10 with `DC-FLAG = 1`
//!   or a CTYPE1 mentioning LOG) or else a `WAVELENGTH` image extension; a binary table with a
//!   wavelength column (WAVELENGTH/WAVE/LAMBDA, or LOGLAM in log10 Å) and a FLUX column, one row
//!   per pixel (SDSS spec-lite) or vector columns with one spectrum per row (LAMOST). A 2-D image
//!   followed by an `INDEX` binary table (NAME, LABEL; one row per image row) takes names and
//!   labels from it: that is what [`write_matrix_fits`] writes (the preprocess kind's output).
//!   Labels also come from the keywords CLASS/OBJTYPE/LABEL, object names from OBJECT/OBJNAME.
//! - `.vot .votable .xml`: the first TABLE, any serialisation (TABLEDATA, BINARY, BINARY2)
//!   through [`crate::votable::read`]; `.csv .tsv .txt .dat`: delimited text through the `csv`
//!   crate (comma, semicolon or tab, quoting), or whitespace-separated columns. Both are one
//!   table of columns, read by the same layouts: `wavelength` + `flux` columns (one spectrum per
//!   file, or array cells with one spectrum per row), one spectrum per row with wavelength-named
//!   columns (optional `name`/`id` and `label`/`class` columns), two unnamed numeric columns,
//!   or a `time` column with numeric columns (a time series per column; plots only).
//!
//! # Hostile files
//!
//! Every declared size (FITS NAXISn × BITPIX, table rows × row width and TFORM repeat counts,
//! VOTable cells and array counts, CSV columns) is checked with overflow-safe arithmetic against
//! the bytes the file really has and against the read's memory [`Budget`] *before* anything is
//! allocated; FITS headers are walked by our own code ([`header`]) before cfitsio sees them.
//! Refusals are a [`ReadError`] naming the file and the problem.
//!
//! # API
//!
//! ```text
//! ReadOptions { budget: u64 /* bytes the read may keep */, max_files, cancel: Option<CancelToken>,
//!               spill_dir: Option<PathBuf> /* where read_matrix may stream over the budget */ }
//!
//! // The files of an input (a folder's spectrum files sorted by name, or the one file):
//! list_files(input: &Path, shown: &str, max_files) -> Result<Vec<InputFile>, ReadError>
//! InputFile { path, shown /* user-relative, for errors */, name /* the file's name */,
//!             relative /* inside the input folder; "" for a one-file input */ }
//!
//! // Each spectrum on its own grid, as stored (plots, links; kinds that resample themselves).
//! // Files are read in parallel; a chunk of files at a time is streaming (budget per call).
//! read_files(&[InputFile], &ReadOptions) -> Result<Vec<Spectrum>, ReadError>
//! read_each(input, shown, &ReadOptions) -> Result<Vec<Spectrum>, ReadError>   // list + read
//! read_one(&InputFile, &Budget) -> Result<Vec<Spectrum>, ReadError>   // one file, a shared budget
//! read_row(file: &Path, shown, row: usize, &ReadOptions) -> Result<Spectrum, ReadError>
//! Spectrum { name /* unique: name column, else file name, `file[row]` for several per file */,
//!            object: Option<String> /* OBJECT/OBJNAME */, label: Option<String>,
//!            wave: Arc<[f64]> /* shared by the spectra of one file */, flux: Vec<f32> /* NaN = missing */,
//!            axis: Wavelength | Time, origin: Origin { file: relative, row: Option<usize> } }
//!
//! // A matrix on one grid (SOM, ML): n × bins f32, row-major
//! read_matrix(input, shown, &GridRequest, &ReadOptions) -> Result<SpectraMatrix, ReadError>
//! GridRequest { wave_min, wave_max, bins, step, spacing: Linear | Log, normalize: None | Max | Mean | L2 }
//!   (all None: the spectra's own grid when they share one, else the range all of them cover
//!   with the median length; a spectrum not covering the grid, a NaN flux, fewer than 2 points,
//!   non-monotonic wavelengths or a time series is an Invalid error naming it; descending
//!   wavelengths are reversed)
//! SpectraMatrix { n, bins, grid: Vec<f64>, flux: Flux /* Deref<Target = [f32]> */,
//!                 names: Vec<String>, labels: Vec<Option<String>>, origins: Vec<Origin> }
//!   .row(i) -> &[f32];  SpectraMatrix::from_rows(n, bins, Vec<f32>) for tests and benches
//!   (over the budget with a spill_dir: read a chunk of files at a time into
//!   `spill_dir/matrix.f32`, memory-mapped, bit-identical to the in-memory matrix)
//! write_matrix_fits(path, &SpectraMatrix) -> Result<(), String>  // read back as the same matrix
//!
//! // One numeric column of a table listing spectra (VOTable or CSV), keyed by its name column
//! // (name/id/file/object/…, UCD meta.id): preprocess's `velocity=FILE#COLUMN`.
//! read_column(path, shown, column, budget) -> Result<Catalog, ReadError>;  Catalog::get(name) -> Option<Option<f64>>
//!
//! ReadError { file, kind, problem }: Display "file: problem"; kind Invalid (bad content: a 400
//!   on pages, a fatal job error), TooLarge (over the budget: 413 / fatal), NotFound, Io
//!   (retryable), Cancelled; `impl From<ReadError> for Failure`.
//! ```

mod budget;
mod catalog;
mod delimited;
mod error;
mod files;
mod fits;
mod grid;
pub mod header;
mod layout;
mod matrix;
mod plain;
mod vot;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use budget::{Budget, human};
pub use catalog::{Catalog, read_column};
pub use error::{ErrorKind, ReadError};
pub use files::{InputFile, list_files};
pub use grid::{GridRequest, Normalize, Spacing};
pub use matrix::{Flux, SpectraMatrix, read_matrix, write_matrix_fits};

use crate::CancelToken;

/// What a spectrum's x axis is: wavelengths (Å, as stored), or time (a time series table's
/// seconds since 1970, which only plots show).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    Wavelength,
    Time,
}

/// Where a spectrum came from, so viewers can open the original: `file` inside the input folder
/// ("" when the input is one file), `row` its 0-based index in a file holding several.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    pub file: String,
    pub row: Option<usize>,
}

/// One spectrum as stored, on its own grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    /// Unique within an input: the table's name column, else the file name, with `[row]` for
    /// files holding several spectra.
    pub name: String,
    /// The OBJECT/OBJNAME keyword of a FITS file.
    pub object: Option<String>,
    /// A class: a label/class column, or the CLASS/OBJTYPE/LABEL keyword.
    pub label: Option<String>,
    /// The x values as stored (log10 wavelengths already turned into Å); shared by the spectra
    /// of one file on one grid.
    pub wave: Arc<[f64]>,
    /// NaN where a value is missing (a null cell, a masked pixel).
    pub flux: Vec<f32>,
    pub axis: Axis,
    pub origin: Origin,
}

impl Spectrum {
    /// Bytes this spectrum keeps, counting its grid fully (it may be shared).
    pub fn bytes(&self) -> u64 {
        (self.name.len() + self.flux.len() * 4 + self.wave.len() * 8) as u64
    }

    /// The object name when the file gives one, else the name: what a plot legend shows.
    pub fn title(&self) -> &str {
        self.object.as_deref().unwrap_or(&self.name)
    }
}

/// Bytes a list of spectra keeps, counting each shared grid once.
fn held_bytes(spectra: &[Spectrum]) -> u64 {
    let mut last: Option<&Arc<[f64]>> = None;
    let mut total = 0u64;
    for s in spectra {
        total += (s.name.len() + s.flux.len() * 4) as u64;
        if !last.is_some_and(|g| Arc::ptr_eq(g, &s.wave)) {
            total += s.wave.len() as u64 * 8;
        }
        last = Some(&s.wave);
    }
    total
}

/// Limits and controls of one read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Bytes of memory the read may keep (decoded values, grids, names); declared sizes beyond
    /// it are refused before anything is allocated.
    pub budget: u64,
    /// Most files a folder input may hold.
    pub max_files: usize,
    /// Checked between files: a cancelled read stops with [`ErrorKind::Cancelled`].
    pub cancel: Option<CancelToken>,
    /// Where [`read_matrix`] may write the matrix of an input over the budget (a job's work
    /// folder); `None` refuses such inputs instead.
    pub spill_dir: Option<PathBuf>,
}

impl ReadOptions {
    /// A read keeping at most `budget` bytes, with no file limit, cancellation or spilling.
    pub fn with_budget(budget: u64) -> ReadOptions {
        ReadOptions { budget, max_files: usize::MAX, cancel: None, spill_dir: None }
    }
}

/// Reads the files in parallel, in their order; every spectrum's origin names its file.
pub fn read_files(files: &[InputFile], opts: &ReadOptions) -> Result<Vec<Spectrum>, ReadError> {
    let budget = Budget::new(opts.budget);
    files::read_all(files, &budget, opts.cancel.as_ref())
}

/// The spectra of one file of an input, reserving against `budget`: for callers that work file
/// by file in their own parallel loop (preprocess on a given grid) and share one budget over
/// the whole input, as [`read_files`] does.
pub fn read_one(file: &InputFile, budget: &Budget) -> Result<Vec<Spectrum>, ReadError> {
    files::read_one(file, budget)
}

/// Every spectrum of `input` (a folder or one file; `shown` is its user-relative path).
pub fn read_each(input: &Path, shown: &str, opts: &ReadOptions) -> Result<Vec<Spectrum>, ReadError> {
    let files = list_files(input, shown, opts.max_files)?;
    let spectra = read_files(&files, opts)?;
    if spectra.is_empty() {
        return Err(ReadError::invalid(shown, "no spectra found"));
    }
    Ok(spectra)
}

/// Spectrum `row` (0-based) of one file: what a signed link with `row=` serves. A row of a 2-D
/// FITS image is read alone, so one row of a large matrix costs one row of memory.
pub fn read_row(file: &Path, shown: &str, row: usize, opts: &ReadOptions) -> Result<Spectrum, ReadError> {
    let input = InputFile::single(file, shown);
    let budget = Budget::new(opts.budget);
    files::read_row(&input, row, &budget)
}
