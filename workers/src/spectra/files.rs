//! The files of an input and reading them: a folder's spectrum files (one level, by extension,
//! sorted by name) or the one file; each file read by the reader of its format, in parallel
//! (rayon), in input order; names and origins given in one place.
//!
//! Errors are deterministic: once a file fails, files after it are skipped, files before it
//! are still read, and the error of the first failing file in order is returned — the same
//! error for the same bad folder wherever and however often it is read.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::budget::Budget;
use super::error::{Problem, ReadError};
use super::fits::{self, Rows};
use super::{Origin, Spectrum, delimited, vot};
use crate::CancelToken;

/// Extensions of the files a folder input contributes (and the readers they pick).
pub const EXTENSIONS: &[&str] =
    &["fits", "fit", "fts", "fits.gz", "fit.gz", "fts.gz", "csv", "tsv", "txt", "dat", "vot", "votable", "xml"];

/// One file of an input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputFile {
    pub path: PathBuf,
    /// The user-relative path, for error messages.
    pub shown: String,
    /// The file's own name: unnamed spectra are named after it.
    pub name: String,
    /// Where it sits inside the input folder (its name); "" when the input is this one file.
    pub relative: String,
}

impl InputFile {
    /// An input that is one file.
    pub fn single(path: &Path, shown: &str) -> InputFile {
        let name = Path::new(shown).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        InputFile { path: path.to_path_buf(), shown: shown.to_string(), name, relative: String::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Fits,
    Delimited,
    Votable,
}

fn format(name: &str) -> Option<Format> {
    let lower = name.to_ascii_lowercase();
    let ext = EXTENSIONS.iter().filter(|e| lower.ends_with(&format!(".{e}"))).max_by_key(|e| e.len())?;
    Some(match *ext {
        "csv" | "tsv" | "txt" | "dat" => Format::Delimited,
        "vot" | "votable" | "xml" => Format::Votable,
        _ => Format::Fits,
    })
}

/// The files of `input`: a folder's spectrum files sorted by name (hidden files skipped), or the
/// one file whatever its extension. `shown` is the user-relative path, for messages.
pub fn list_files(input: &Path, shown: &str, max_files: usize) -> Result<Vec<InputFile>, ReadError> {
    let meta = std::fs::metadata(input).map_err(|e| ReadError::io(shown, &e))?;
    if meta.is_file() {
        return Ok(vec![InputFile::single(input, shown)]);
    }
    let entries = std::fs::read_dir(input).map_err(|e| ReadError::io(shown, &e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ReadError::io(shown, &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || format(&name).is_none() || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if files.len() == max_files {
            return Err(ReadError::too_large(shown, format!("the folder has more than {max_files} spectrum files")));
        }
        let folder = shown.trim_end_matches('/');
        let shown = if folder.is_empty() { name.clone() } else { format!("{folder}/{name}") };
        files.push(InputFile { path: entry.path(), shown, relative: name.clone(), name });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    if files.is_empty() {
        return Err(ReadError::invalid(
            shown,
            format!("the folder holds no spectra (looked for .{})", EXTENSIONS.join(", .")),
        ));
    }
    Ok(files)
}

/// Every spectrum of one file, named and with its origin.
fn read_file(file: &InputFile, budget: &Budget, rows: Rows) -> Result<Vec<Spectrum>, Problem> {
    let open = || std::fs::File::open(&file.path).map_err(|e| Problem::io(&e));
    let spectra = match format(&file.name).unwrap_or(Format::Delimited) {
        Format::Fits => fits::read(&file.path, budget, rows)?,
        Format::Delimited => delimited::read(open()?, &file.name, budget)?,
        Format::Votable => {
            let size = std::fs::metadata(&file.path).map_err(|e| Problem::io(&e))?.len();
            budget.reserve(size, &"the VOTable document")?;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut open()?, &mut bytes).map_err(|e| Problem::io(&e))?;
            vot::read(&bytes, &file.name, budget)?
        }
    };
    if spectra.is_empty() {
        return Err("no spectra in the file".into());
    }
    // Readers that know a file holds several spectra (the rows of an image read one at a time)
    // say so in `origin.row`; otherwise a file with more than one spectrum numbers them.
    let several = spectra.len() > 1;
    Ok(spectra
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            let row = s.origin.row.or(several.then_some(i));
            if s.name.is_empty() {
                s.name = row.map_or_else(|| file.name.clone(), |r| format!("{}[{r}]", file.name));
            }
            s.origin = Origin { file: file.relative.clone(), row };
            s
        })
        .collect())
}

/// Every spectrum of one file (see [`super::read_one`]).
pub fn read_one(file: &InputFile, budget: &Budget) -> Result<Vec<Spectrum>, ReadError> {
    read_file(file, budget, Rows::All).map_err(|p| p.at(&file.shown))
}

/// Spectrum `row` of one file (see [`super::read_row`]).
pub fn read_row(file: &InputFile, row: usize, budget: &Budget) -> Result<Spectrum, ReadError> {
    let mut spectra = match format(&file.name) {
        Some(Format::Fits) => read_file(file, budget, Rows::One(row)),
        _ => read_file(file, budget, Rows::All).and_then(|all| {
            let count = all.len();
            let mut all = all;
            if row < count {
                Ok(vec![all.swap_remove(row)])
            } else {
                Err(Problem::invalid(format!("the file has {count} spectra; there is no row {row}")))
            }
        }),
    }
    .map_err(|p| p.at(&file.shown))?;
    let mut s = spectra.remove(0);
    s.origin.row = Some(row);
    Ok(s)
}

/// Reads `files` in parallel, keeping their order (see the module comment for errors).
pub fn read_all(
    files: &[InputFile],
    budget: &Budget,
    cancel: Option<&CancelToken>,
) -> Result<Vec<Spectrum>, ReadError> {
    let first_bad = AtomicUsize::new(usize::MAX);
    let per_file: Vec<Option<Result<Vec<Spectrum>, ReadError>>> = files
        .par_iter()
        .enumerate()
        .map(|(i, file)| {
            if i > first_bad.load(Ordering::Relaxed) {
                return None;
            }
            let read = if cancel.is_some_and(|c| c.is_cancelled()) {
                Err(ReadError::cancelled(&file.shown))
            } else {
                read_file(file, budget, Rows::All).map_err(|p| p.at(&file.shown))
            };
            if read.is_err() {
                first_bad.fetch_min(i, Ordering::Relaxed);
            }
            Some(read)
        })
        .collect();
    let mut out = Vec::new();
    for read in per_file.into_iter().flatten() {
        out.extend(read?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_list_spectrum_files_by_name_and_the_first_bad_file_is_the_error() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("b.csv", "wave,flux\n1,2\n2,3\n"),
            ("a.csv", "name,1,2\ns1,1,2\ns2,3,4\n"),
            ("c.txt", "1 5\n2 6\n"),
            (".hidden.csv", "x"),
            ("notes.md", "x"),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let files = list_files(dir.path(), "in", 100).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.shown.as_str()).collect();
        assert_eq!(names, ["in/a.csv", "in/b.csv", "in/c.txt"]);
        let s = read_all(&files, &Budget::new(1 << 20), None).unwrap();
        let got: Vec<(&str, &str, Option<usize>)> =
            s.iter().map(|s| (s.name.as_str(), s.origin.file.as_str(), s.origin.row)).collect();
        assert_eq!(
            got,
            [("s1", "a.csv", Some(0)), ("s2", "a.csv", Some(1)), ("b.csv", "b.csv", None), ("c.txt", "c.txt", None)]
        );
        assert!(list_files(dir.path(), "in", 2).unwrap_err().problem.contains("more than 2"));

        std::fs::write(dir.path().join("a2.csv"), "wave,flux\n1,x\n").unwrap();
        std::fs::write(dir.path().join("b2.csv"), "").unwrap();
        let files = list_files(dir.path(), "in", 100).unwrap();
        for _ in 0..5 {
            let e = read_all(&files, &Budget::new(1 << 20), None).unwrap_err();
            assert_eq!(e.file, "in/a2.csv", "always the first bad file in order: {e}");
        }
        let empty = tempfile::tempdir().unwrap();
        assert!(list_files(empty.path(), "none", 10).unwrap_err().problem.contains("holds no spectra"));
        assert_eq!(
            list_files(&dir.path().join("missing"), "m", 10).unwrap_err().kind,
            super::super::ErrorKind::NotFound
        );
    }

    #[test]
    fn a_row_of_a_file_is_named_by_its_row() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.csv"), "6500,6501,6502\n1,2,0\n3,4,0\n5,6,0\n").unwrap();
        let file = InputFile::single(&dir.path().join("w.csv"), "t/w.csv");
        let s = read_row(&file, 2, &Budget::new(1 << 20)).unwrap();
        assert_eq!((s.name.as_str(), &s.flux[..], s.origin.row), ("w.csv[2]", &[5.0f32, 6.0, 0.0][..], Some(2)));
        let e = read_row(&file, 3, &Budget::new(1 << 20)).unwrap_err();
        assert_eq!(e.to_string(), "t/w.csv: the file has 3 spectra; there is no row 3");
    }
}
