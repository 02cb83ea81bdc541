//! Spectra for a plot, through the one spectra reader of the workers crate
//! ([`vocloud_workers::spectra`]): the same files, layouts and errors as the SOM and the ML
//! kinds (FITS images and tables, VOTable in every serialisation, CSV and other delimited
//! text), every declared size checked against the file and the caller's memory budget before
//! anything is allocated. This module only turns the spectra into plot series: x ascending
//! (non-finite x dropped), grids shared between series, the budget including the min/max
//! pyramids, and the time axis for time series tables.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vocloud_workers::spectra::{self as reader, Axis, ErrorKind, InputFile, ReadError, ReadOptions, Spectrum};

use super::data::{Dataset, Series};

/// Why a plot could not be opened; becomes a 4xx.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Bad(String),
    #[error("{0}")]
    TooLarge(String),
}

impl From<ReadError> for LoadError {
    fn from(e: ReadError) -> LoadError {
        match e.kind {
            ErrorKind::TooLarge => LoadError::TooLarge(e.to_string()),
            ErrorKind::NotFound => LoadError::Bad(format!("'{}' does not exist in your storage", e.file)),
            ErrorKind::Invalid | ErrorKind::Io | ErrorKind::Cancelled => LoadError::Bad(e.to_string()),
        }
    }
}

/// A file or folder to read, with the name the user knows it by.
pub struct Source {
    pub shown: String,
    pub path: PathBuf,
}

/// Reads every source into one dataset, within `budget` bytes and `max_files` files. `rows`, when
/// given, keeps only the spectra at those 0-based positions of the selection (in load order: files
/// as given or sorted in folders, rows in file order), e.g. one row of a SOM codebook.
pub fn load(
    title: String,
    sources: &[Source],
    rows: Option<&[usize]>,
    budget: usize,
    max_files: usize,
) -> Result<Dataset, LoadError> {
    let files = input_files(sources, max_files)?;
    let options = ReadOptions { budget: budget as u64, max_files, cancel: None, spill_dir: None };
    let spectra = reader::read_files(&files, &options)?;
    let count = spectra.len();
    if let Some(&beyond) = rows.and_then(|r| r.iter().find(|&&r| r >= count)) {
        return Err(LoadError::Bad(format!("row {beyond} does not exist: the selection has {count} spectra")));
    }
    let time_series = !spectra.is_empty() && spectra.iter().all(|s| s.axis == Axis::Time);
    let mut series = Vec::new();
    let mut bytes = 0usize;
    let mut last_grid: Option<Arc<[f64]>> = None;
    for (position, s) in spectra.into_iter().enumerate() {
        if rows.is_some_and(|r| !r.contains(&position)) {
            continue;
        }
        let (name, x, y) = ascending(s)?;
        // Spectra of a collection usually share one grid: keep one copy of it.
        let x = match &last_grid {
            Some(g) if **g == *x => g.clone(),
            _ => x,
        };
        last_grid = Some(x.clone());
        let s = Series::new(name, x, y);
        bytes += s.bytes();
        if bytes > budget {
            return Err(LoadError::TooLarge(format!(
                "the selection needs more than the {} MB a user may keep in open plots; select fewer spectra \
                 or close other plots",
                budget >> 20
            )));
        }
        series.push(s);
    }
    if series.is_empty() {
        return Err(LoadError::Bad("the selection contains no spectra (CSV, VOTable or FITS files)".into()));
    }
    if series.iter().all(|s| s.y.iter().all(|v| !v.is_finite())) {
        return Err(LoadError::Bad("the selection has no finite values to plot (every flux is NaN)".into()));
    }
    let mut data = Dataset::new(title, series);
    if time_series {
        data.axes = ("time (s since 1970-01-01 UTC)".into(), "value".into());
    }
    Ok(data)
}

/// Spectrum `row` (0-based) of one file as (name, wavelengths, fluxes): what a signed link with
/// `row=` serves, so SAMP clients can load one spectrum of a multi-spectrum file.
pub fn read_row(
    shown: &str,
    path: &Path,
    row: usize,
    budget: usize,
) -> Result<(String, Vec<f64>, Vec<f32>), LoadError> {
    let s = reader::read_row(path, shown, row, &ReadOptions::with_budget(budget as u64))?;
    let (name, x, y) = ascending(s)?;
    Ok((name, x.to_vec(), y))
}

/// The files of the sources, with their shown names: files as given, folders' spectrum files
/// (one level, sorted).
pub fn expand(sources: &[Source], max_files: usize) -> Result<Vec<(String, PathBuf)>, LoadError> {
    Ok(input_files(sources, max_files)?.into_iter().map(|f| (f.shown, f.path)).collect())
}

fn input_files(sources: &[Source], max_files: usize) -> Result<Vec<InputFile>, LoadError> {
    let mut out = Vec::new();
    for src in sources {
        let left = max_files.saturating_sub(out.len());
        let files = reader::list_files(&src.path, &src.shown, left).map_err(|e| match e.kind {
            ErrorKind::TooLarge => LoadError::TooLarge(format!("the selection has more than {max_files} files")),
            _ => LoadError::from(e),
        })?;
        out.extend(files);
        if out.len() > max_files {
            return Err(LoadError::TooLarge(format!("the selection has more than {max_files} files")));
        }
    }
    Ok(out)
}

/// A series as [`ascending`] gives it: legend name, x, y.
type Ascending = (String, Arc<[f64]>, Vec<f32>);

/// A plot series from a spectrum: its legend name, x ascending with non-finite x dropped (the
/// grid kept as it is, shared, when it already is), and y.
fn ascending(s: Spectrum) -> Result<Ascending, LoadError> {
    let name = s.title().to_string();
    if s.wave.iter().all(|x| x.is_finite()) && s.wave.windows(2).all(|w| w[0] <= w[1]) {
        return Ok((name, s.wave, s.flux));
    }
    let mut pairs: Vec<(f64, f32)> = s.wave.iter().copied().zip(s.flux).filter(|(x, _)| x.is_finite()).collect();
    if pairs.is_empty() {
        return Err(LoadError::Bad(format!("spectrum '{name}' has no finite wavelengths")));
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (x, y): (Vec<f64>, Vec<f32>) = pairs.into_iter().unzip();
    Ok((name, Arc::from(x), y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> Source {
        std::fs::write(dir.join(name), text).unwrap();
        Source { shown: name.into(), path: dir.join(name) }
    }

    #[test]
    fn csv_pairs_wide_tables_time_series_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let pair = write(dir.path(), "a.csv", "wavelength,flux\n3,30\n1,10\n2,20\n");
        let wide = write(dir.path(), "b.csv", "name,4000,4001,4002\nstar1,1,2,3\nstar2,4,5,6\n");
        let d = load("t".into(), &[pair, wide], None, 1 << 20, 10).unwrap();
        assert_eq!(d.series.len(), 3);
        assert_eq!((&*d.series[0].x, &d.series[0].y[..]), (&[1.0, 2.0, 3.0][..], &[10.0f32, 20.0, 30.0][..]));
        assert_eq!((d.series[2].name.as_str(), &*d.series[2].x), ("star2", &[4000.0, 4001.0, 4002.0][..]));
        let ts = write(
            dir.path(),
            "ts.csv",
            "time,iso_time,cnt,mean\n86400,1970-01-02T00:00:00+0000,5,300.5\n0,1970-01-01T00:00:00+0000,4,301\n",
        );
        let d = load("t".into(), &[ts], None, 1 << 20, 10).unwrap();
        assert_eq!(d.series.len(), 2, "cnt and mean; the ISO column is text");
        assert_eq!((d.series[1].name.as_str(), &*d.series[1].x), ("ts.csv: mean", &[0.0, 86400.0][..]));
        assert_eq!((d.series[1].y.clone(), d.axes.0.as_str()), (vec![301.0, 300.5], "time (s since 1970-01-01 UTC)"));
        let bad = write(dir.path(), "c.csv", "1,2\n3,oops\n");
        let e = load("t".into(), &[bad], None, 1 << 20, 10).err().expect("a bad row is an error").to_string();
        assert!(e.starts_with("c.csv: line 2") && e.contains("'oops'"), "{e}");
        let nan = write(dir.path(), "n.csv", "wave,flux\n1,nan\n2,\n");
        let e = load("t".into(), &[nan], None, 1 << 20, 10).err().unwrap().to_string();
        assert!(e.contains("no finite values"), "{e}");
    }

    #[test]
    fn rows_pick_spectra_of_the_selection() {
        let dir = tempfile::tempdir().unwrap();
        let wide = || write(dir.path(), "b.csv", "name,label,4000,4001\ns0,0,1,2\ns1,1,3,4\ns2,0,5,6\n");
        let d = load("t".into(), &[wide()], Some(&[2, 0]), 1 << 20, 10).unwrap();
        assert_eq!(d.series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["s0", "s2"]);
        let e = load("t".into(), &[wide()], Some(&[3]), 1 << 20, 10).err().unwrap().to_string();
        assert!(e.contains("row 3 does not exist") && e.contains("3 spectra"), "{e}");
        let (name, x, y) = read_row("b.csv", &dir.path().join("b.csv"), 1, 1 << 20).unwrap();
        assert_eq!((name.as_str(), &x[..], &y[..]), ("s1", &[4000.0, 4001.0][..], &[3.0f32, 4.0][..]));
        assert!(read_row("b.csv", &dir.path().join("b.csv"), 3, 1 << 20).is_err());
    }
}
