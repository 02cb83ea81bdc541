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
//! ReadOptions { budget: u64 /* bytes of memory the read may keep */, max_files, cancel,
//!               spill_dir: Option<PathBuf> /* where read_matrix may stream over the budget */ }
//!
//! // Each spectrum on its own grid, as stored (plots, links; kinds that resample themselves)
//! read_each(input: &Path, shown: &str, &ReadOptions) -> Result<Vec<Spectrum>, ReadError>
//! read_row(file: &Path, shown: &str, row: usize, &ReadOptions) -> Result<Spectrum, ReadError>
//! Spectrum { name, object, label, wave: Arc<[f64]>, flux: Vec<f32> /* NaN = missing */,
//!            axis: Wavelength | Time, origin: Origin { file, row } }
//!
//! // A matrix on one grid (SOM, ML): n × bins f32, row-major
//! read_matrix(input, shown, &GridRequest, &ReadOptions) -> Result<SpectraMatrix, ReadError>
//! GridRequest { wave_min, wave_max, bins, step, spacing: Linear | Log, normalize: None | Max | Mean | L2 }
//!   (all None: the spectra's own grid when they share one, else the range all cover with the
//!   median length; spectra not covering the grid, NaN fluxes, time series are errors)
//! SpectraMatrix { n, bins, grid: Vec<f64>, flux: Flux /* Deref<Target = [f32]> */,
//!                 names: Vec<String>, labels: Vec<Option<String>>, origins: Vec<Origin> }
//!   .row(i) -> &[f32];  SpectraMatrix::from_rows(...) for tests and benches
//! write_matrix_fits(path, &SpectraMatrix) -> io::Result<()>  // readable back as the same matrix
//!
//! // Streaming: an input larger than the budget is read by read_matrix a chunk of files at a
//! // time into `spill_dir/matrix.f32`, memory-mapped (bit-identical to the in-memory matrix);
//! // consumers that stream themselves use
//! Collection::open(input, shown, &ReadOptions)? .files() / .disk_bytes() / .chunks(n)
//!   -> Iterator<Item = Result<Vec<Spectrum>, ReadError>>
//!
//! ReadError { file, kind, problem }: Display "file: problem"; kind Invalid (bad content: a 400
//!   on pages, a fatal job error), TooLarge (over the budget: 413 / fatal), NotFound, Io
//!   (retryable), Cancelled; `impl From<ReadError> for Failure`.
//! ```
