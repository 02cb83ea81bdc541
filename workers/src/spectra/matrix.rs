//! A collection as one n × bins float32 matrix on a common grid (what the SOM and the ML kinds
//! train on), in memory or, for an input larger than the memory budget, streamed to a file of
//! the job's work folder and memory-mapped.
//!
//! Streaming reads the input twice, a chunk of files at a time (files taking up to half the
//! budget on disk; parallel within a chunk, each chunk under the whole budget): the first pass keeps only each spectrum's name, label, origin
//! and wavelength extent, enough to choose the grid by exactly the in-memory rules; the second
//! puts each chunk on the grid and appends its rows. The matrix is bit for bit the in-memory
//! one. A single file is one chunk (its reader loads it whole); the saving is for folders.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use super::budget::{Budget, bytes_of};
use super::error::{ErrorKind, ReadError};
use super::files::{self, InputFile};
use super::grid::{self, Extent, GridRequest};
use super::{Origin, ReadOptions, Spectrum, list_files};

/// The files of one streaming chunk: consecutive files taking at most half the budget on disk
/// (at least one), so a chunk's spectra fit the budget with room for its rows on the grid.
fn chunks(files: &[InputFile], budget: u64) -> Vec<&[InputFile]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, f) in files.iter().enumerate() {
        let size = std::fs::metadata(&f.path).map_or(0, |m| m.len());
        if i > start && bytes.saturating_add(size) > budget / 2 {
            out.push(&files[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes = bytes.saturating_add(size);
    }
    out.push(&files[start..]);
    out
}

/// The matrix values, in memory or memory-mapped from a file written by the streaming path.
pub enum Flux {
    Memory(Vec<f32>),
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for Flux {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            Flux::Memory(v) => v,
            // The file holds little-endian f32 written below on this machine; a mapping starts
            // on a page boundary, so the pointer is aligned for f32.
            Flux::Mapped(map) => unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<f32>(), map.len() / 4) },
        }
    }
}

impl std::fmt::Debug for Flux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if matches!(self, Flux::Memory(_)) { "in memory" } else { "memory-mapped" };
        write!(f, "Flux({} values {how})", self.len())
    }
}

/// Row i is spectrum i on the common grid.
#[derive(Debug)]
pub struct SpectraMatrix {
    pub n: usize,
    pub bins: usize,
    /// Row-major n × bins.
    pub flux: Flux,
    pub grid: Vec<f64>,
    pub names: Vec<String>,
    pub labels: Vec<Option<String>>,
    pub origins: Vec<Origin>,
}

impl SpectraMatrix {
    pub fn row(&self, i: usize) -> &[f32] {
        &self.flux[i * self.bins..(i + 1) * self.bins]
    }

    /// A matrix from values alone (benchmarks, tests): grid 0, 1, …, rows named `row<i>`.
    pub fn from_rows(n: usize, bins: usize, flux: Vec<f32>) -> SpectraMatrix {
        assert_eq!(flux.len(), n * bins, "n × bins values");
        SpectraMatrix {
            n,
            bins,
            flux: Flux::Memory(flux),
            grid: (0..bins).map(|i| i as f64).collect(),
            names: (0..n).map(|i| format!("row{i}")).collect(),
            labels: vec![None; n],
            origins: (0..n).map(|i| Origin { file: String::new(), row: Some(i) }).collect(),
        }
    }
}

/// The file a spectrum came from, as the user knows it (for errors about one spectrum).
fn shown_of(shown: &str, s: &Spectrum) -> String {
    if s.origin.file.is_empty() {
        shown.to_string()
    } else {
        format!("{}/{}", shown.trim_end_matches('/'), s.origin.file)
    }
}

fn checked(shown: &str, spectra: Vec<Spectrum>) -> Result<Vec<Spectrum>, ReadError> {
    spectra
        .into_iter()
        .map(|s| {
            let at = shown_of(shown, &s);
            grid::checked(s).map_err(|p| p.at(&at))
        })
        .collect()
}

/// Whether every spectrum has `first`'s wavelengths (shared grids compare by pointer).
fn same_grid(first: &Arc<[f64]>, s: &Spectrum) -> bool {
    Arc::ptr_eq(first, &s.wave) || **first == *s.wave
}

/// The collection under `input` as a matrix on one grid (see [`super`] for the rules).
pub fn read_matrix(
    input: &Path,
    shown: &str,
    req: &GridRequest,
    opts: &ReadOptions,
) -> Result<SpectraMatrix, ReadError> {
    let files = list_files(input, shown, opts.max_files)?;
    let disk: u64 = files.iter().filter_map(|f| std::fs::metadata(&f.path).ok()).map(|m| m.len()).sum();
    let Some(dir) = &opts.spill_dir else { return in_memory(&files, shown, req, opts) };
    if disk > opts.budget {
        return streamed(&files, shown, req, opts, dir);
    }
    match in_memory(&files, shown, req, opts) {
        Err(e) if e.kind == ErrorKind::TooLarge => streamed(&files, shown, req, opts, dir),
        other => other,
    }
}

fn in_memory(
    files: &[InputFile],
    shown: &str,
    req: &GridRequest,
    opts: &ReadOptions,
) -> Result<SpectraMatrix, ReadError> {
    let budget = Budget::new(opts.budget);
    let spectra = checked(shown, files::read_all(files, &budget, opts.cancel.as_ref())?)?;
    let Some(first) = spectra.first().map(|s| s.wave.clone()) else {
        return Err(ReadError::invalid(shown, "no spectra found"));
    };
    let same = req.is_auto() && spectra.iter().all(|s| same_grid(&first, s));
    let grid = if same {
        first.to_vec()
    } else {
        common_grid(shown, &spectra.iter().map(Extent::of).collect::<Vec<_>>(), req)?
    };
    let (n, bins) = (spectra.len(), grid.len());
    let what = format!("a matrix of {n} spectra × {bins} points");
    let size = bytes_of(n as u64, bins as u64, &what).and_then(|v| bytes_of(v, 4, &what));
    size.and_then(|bytes| budget.reserve(bytes, &what)).map_err(|p| p.at(shown))?;
    let mut flux = vec![0f32; n * bins];
    flux.par_chunks_mut(bins).zip(&spectra).try_for_each(|(out, s)| row_into(shown, s, &grid, same, req, out))?;
    let (mut names, mut labels, mut origins) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for s in spectra {
        names.push(s.name);
        labels.push(s.label);
        origins.push(s.origin);
    }
    Ok(SpectraMatrix { n, bins, flux: Flux::Memory(flux), grid, names, labels, origins })
}

fn common_grid(shown: &str, extents: &[Extent], req: &GridRequest) -> Result<Vec<f64>, ReadError> {
    grid::common_grid(extents, req).map_err(|p| p.at(shown))
}

fn row_into(
    shown: &str,
    s: &Spectrum,
    grid: &[f64],
    same: bool,
    req: &GridRequest,
    out: &mut [f32],
) -> Result<(), ReadError> {
    let row = grid::on_grid(s, grid, same, req.normalize).map_err(|p| p.at(&shown_of(shown, s)))?;
    out.copy_from_slice(&row);
    Ok(())
}

fn streamed(
    files: &[InputFile],
    shown: &str,
    req: &GridRequest,
    opts: &ReadOptions,
    dir: &Path,
) -> Result<SpectraMatrix, ReadError> {
    let read_chunk = |chunk: &[InputFile]| {
        let budget = Budget::new(opts.budget);
        checked(shown, files::read_all(chunk, &budget, opts.cancel.as_ref())?)
    };
    // Pass 1: names, labels, origins, extents; whether every spectrum shares the first grid.
    let (mut names, mut labels, mut origins, mut extents) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut first: Option<Arc<[f64]>> = None;
    let mut same = req.is_auto();
    let chunks = chunks(files, opts.budget);
    for &chunk in &chunks {
        for s in read_chunk(chunk)? {
            let first = first.get_or_insert_with(|| s.wave.clone());
            same &= same_grid(first, &s);
            extents.push(Extent::of(&s));
            names.push(s.name);
            labels.push(s.label);
            origins.push(s.origin);
        }
    }
    let Some(first) = first else { return Err(ReadError::invalid(shown, "no spectra found")) };
    let grid = if same { first.to_vec() } else { common_grid(shown, &extents, req)? };
    drop(extents);

    // Pass 2: each chunk on the grid, appended in input order.
    let path = dir.join("matrix.f32");
    let io =
        |e: std::io::Error| ReadError::new(shown, ErrorKind::Io, format!("writing the matrix to the work folder: {e}"));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
    let mut n = 0;
    for &chunk in &chunks {
        let spectra = read_chunk(chunk)?;
        let mut rows = vec![0f32; spectra.len() * grid.len()];
        rows.par_chunks_mut(grid.len()).zip(&spectra).try_for_each(|(o, s)| row_into(shown, s, &grid, same, req, o))?;
        let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
        out.write_all(&bytes).map_err(io)?;
        n += spectra.len();
    }
    out.flush().map_err(io)?;
    drop(out);
    if n != names.len() {
        return Err(ReadError::invalid(shown, "the input changed while it was being read"));
    }
    let file = std::fs::File::open(&path).map_err(io)?;
    // Safety: the file is private to this attempt's work folder and nothing writes it any more.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    let bins = grid.len();
    Ok(SpectraMatrix { n, bins, flux: Flux::Mapped(map), grid, names, labels, origins })
}

/// Writes `m` as a FITS file that [`read_matrix`] reads back as the same matrix: a 2-D float32
/// image (one spectrum per row) with a WCS when the grid is even in λ or ln λ, a WAVELENGTH
/// extension with the exact grid, and an INDEX table (NAME, LABEL, and the provenance FILE,
/// ROW: -1 for none). Written to a temporary name and renamed, so readers never see half a file.
pub fn write_matrix_fits(path: &Path, m: &SpectraMatrix) -> Result<(), String> {
    use fitsio::images::{ImageDescription, ImageType};
    use fitsio::tables::{ColumnDataType, ColumnDescription};
    let tmp = path.with_extension("fits.partial");
    let _ = std::fs::remove_file(&tmp);
    let fail = |e: fitsio::errors::Error| format!("writing {}: {e}", path.display());
    {
        let dims = [m.n, m.bins];
        let desc = ImageDescription { data_type: ImageType::Float, dimensions: &dims };
        let mut file = fitsio::FitsFile::create(&tmp).with_custom_primary(&desc).open().map_err(fail)?;
        let hdu = file.primary_hdu().map_err(fail)?;
        hdu.write_image(&mut file, &m.flux).map_err(fail)?;
        if let Some((ctype, crval, cdelt)) = wcs_of(&m.grid) {
            hdu.write_key(&mut file, "CTYPE1", ctype).map_err(fail)?;
            hdu.write_key(&mut file, "CRPIX1", 1.0).map_err(fail)?;
            hdu.write_key(&mut file, "CRVAL1", crval).map_err(fail)?;
            hdu.write_key(&mut file, "CDELT1", cdelt).map_err(fail)?;
        }
        let wdims = [m.bins];
        let wdesc = ImageDescription { data_type: ImageType::Double, dimensions: &wdims };
        let whdu = file.create_image("WAVELENGTH", &wdesc).map_err(fail)?;
        whdu.write_image(&mut file, &m.grid).map_err(fail)?;
        let text = |name: &str, values: &[String]| {
            let width = values.iter().map(String::len).max().unwrap_or(0).max(1);
            ColumnDescription::new(name).with_type(ColumnDataType::String).that_repeats(width).create()
        };
        let labels: Vec<String> = m.labels.iter().map(|l| l.clone().unwrap_or_default()).collect();
        let files: Vec<String> = m.origins.iter().map(|o| o.file.clone()).collect();
        let rows: Vec<i64> = m.origins.iter().map(|o| o.row.map_or(-1, |r| r as i64)).collect();
        let columns = [
            text("NAME", &m.names).map_err(fail)?,
            text("LABEL", &labels).map_err(fail)?,
            text("FILE", &files).map_err(fail)?,
            ColumnDescription::new("ROW").with_type(ColumnDataType::Long).create().map_err(fail)?,
        ];
        let index = file.create_table("INDEX", &columns).map_err(fail)?;
        index.write_col(&mut file, "NAME", &m.names).map_err(fail)?;
        index.write_col(&mut file, "LABEL", &labels).map_err(fail)?;
        index.write_col(&mut file, "FILE", &files).map_err(fail)?;
        index.write_col(&mut file, "ROW", &rows).map_err(fail)?;
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// (CTYPE1, CRVAL1, CDELT1) of a grid even in λ ('WAVE') or in ln λ ('WAVE-LOG', FITS paper
/// III: λ = CRVAL·exp(CDELT·p/CRVAL)); None for any other grid.
fn wcs_of(grid: &[f64]) -> Option<(&'static str, f64, f64)> {
    let even = |values: &[f64]| {
        let step = (values[values.len() - 1] - values[0]) / (values.len() - 1) as f64;
        let ok = values
            .iter()
            .enumerate()
            .all(|(i, &v)| (v - (values[0] + step * i as f64)).abs() <= 1e-9 * v.abs().max(1.0));
        ok.then_some(step)
    };
    if grid.len() < 2 {
        return None;
    }
    if let Some(step) = even(grid) {
        return Some(("WAVE", grid[0], step));
    }
    if grid[0] > 0.0 {
        let ln: Vec<f64> = grid.iter().map(|w| w.ln()).collect();
        return even(&ln).map(|step| ("WAVE-LOG", grid[0], grid[0] * step));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectra::Normalize;

    /// Three CSV files on two different grids (so spectra are interpolated), seven rows each.
    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (f, (start, step, bins)) in [(6390.0, 2.0, 70), (6385.0, 1.5, 100), (6390.0, 2.0, 70)].iter().enumerate() {
            let header: Vec<String> = (0..*bins).map(|j| format!("{}", start + step * j as f64)).collect();
            let mut csv = format!("name,label,{}\n", header.join(","));
            for r in 0..7 {
                let i = f * 7 + r;
                let values: Vec<String> = (0..*bins)
                    .map(|j| {
                        let w = start + step * j as f64;
                        let line = 0.5 * (-((w - 6450.0 - (i % 3) as f64 * 6.0) / 5.0).powi(2)).exp();
                        format!("{}", 1.0 + if i % 2 == 0 { line } else { -line } + 0.001 * (i * j % 7) as f64)
                    })
                    .collect();
                csv.push_str(&format!("s{i},{},{}\n", i % 2, values.join(",")));
            }
            std::fs::write(dir.path().join(format!("part{f}.csv")), csv).unwrap();
        }
        dir
    }

    #[test]
    fn the_streamed_matrix_is_the_in_memory_matrix_bit_for_bit() {
        let dir = folder();
        let work = tempfile::tempdir().unwrap();
        let req = GridRequest { bins: Some(64), normalize: Normalize::Max, ..Default::default() };
        let memory = read_matrix(dir.path(), "spectra", &req, &ReadOptions::with_budget(1 << 20)).unwrap();
        assert!(matches!(memory.flux, Flux::Memory(_)));
        // 31 KB of files over a 16 KB budget: streamed, one file per chunk.
        let opts = ReadOptions { spill_dir: Some(work.path().to_path_buf()), ..ReadOptions::with_budget(16 << 10) };
        assert_eq!(chunks(&list_files(dir.path(), "s", 10).unwrap(), opts.budget).len(), 3);
        let mapped = read_matrix(dir.path(), "spectra", &req, &opts).unwrap();
        assert!(matches!(mapped.flux, Flux::Mapped(_)), "over the budget the matrix streams");
        assert_eq!((mapped.n, mapped.bins), (21, 64));
        assert_eq!((&mapped.grid, &mapped.names, &mapped.labels), (&memory.grid, &memory.names, &memory.labels));
        assert_eq!(mapped.origins, memory.origins);
        assert_eq!(memory.origins[8], Origin { file: "part1.csv".into(), row: Some(1) });
        assert!(mapped.flux.iter().zip(memory.flux.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert_eq!(std::fs::metadata(work.path().join("matrix.f32")).unwrap().len(), 21 * 64 * 4);
        let e = read_matrix(dir.path(), "spectra", &req, &ReadOptions::with_budget(1000)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooLarge, "without a spill folder an input over the budget is refused: {e}");
    }

    #[test]
    fn a_written_matrix_reads_back_with_names_labels_and_grid() {
        let dir = tempfile::tempdir().unwrap();
        for (spacing, name) in
            [(crate::spectra::Spacing::Linear, "lin.fits"), (crate::spectra::Spacing::Log, "log.fits")]
        {
            let req = GridRequest { bins: Some(40), spacing, ..Default::default() };
            let m = read_matrix(folder().path(), "spectra", &req, &ReadOptions::with_budget(1 << 20)).unwrap();
            let path = dir.path().join(name);
            write_matrix_fits(&path, &m).unwrap();
            let back = read_matrix(&path, name, &GridRequest::default(), &ReadOptions::with_budget(1 << 20)).unwrap();
            assert_eq!((back.n, back.bins, &back.grid), (m.n, m.bins, &m.grid), "{name}");
            assert_eq!((&back.names, &back.labels), (&m.names, &m.labels), "{name}");
            assert!(back.flux.iter().zip(m.flux.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert_eq!(back.origins[3], Origin { file: String::new(), row: Some(3) }, "rows of the matrix file");
        }
    }

    #[test]
    fn nan_spectra_and_time_series_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), "wave,flux\n1,1\n2,2\n").unwrap();
        std::fs::write(dir.path().join("b.csv"), "wave,flux\n1,nan\n2,\n").unwrap();
        let e = read_matrix(dir.path(), "in", &GridRequest::default(), &ReadOptions::with_budget(1 << 20)).unwrap_err();
        assert_eq!(e.to_string(), "in/b.csv: spectrum b.csv: has no finite flux value (all NaN)");
        std::fs::write(dir.path().join("t.csv"), "time,mean\n0,1\n1,2\n").unwrap();
        let e = read_matrix(
            &dir.path().join("t.csv"),
            "t.csv",
            &GridRequest::default(),
            &ReadOptions::with_budget(1 << 20),
        );
        assert!(e.unwrap_err().to_string().contains("is a time series table"));
    }
}
