//! Reading spectra for a plot: CSV (one spectrum per file as wavelength,flux columns, or one
//! per row with the wavelengths in the header), VOTable in TABLEDATA, BINARY or BINARY2 (the
//! same layouts, plus array cells with one spectrum per row), FITS images with a linear
//! wavelength WCS (1-D: one spectrum; 2-D: one spectrum per row; `DC-FLAG = 1` means log10
//! wavelengths) and FITS binary tables with wavelength/flux columns (SDSS, LAMOST).
//! A folder contributes its readable files, sorted by name.
//!
//! Every error names the file and the problem; loading stops once the data would exceed the
//! caller's memory budget, so a huge selection fails fast with a clear message.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::data::{Dataset, Series};

/// Why a plot could not be opened; becomes a 4xx.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Bad(String),
    #[error("{0}")]
    TooLarge(String),
}

/// A file or folder to read, with the name the user knows it by.
pub struct Source {
    pub shown: String,
    pub path: PathBuf,
}

const EXTENSIONS: [&str; 9] = ["csv", "txt", "fits", "fit", "fts", "dat", "vot", "votable", "xml"];

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
    let files = expand(sources, max_files)?;
    let mut series = Vec::new();
    let mut bytes = 0usize;
    let mut position = 0usize;
    let mut last_grid: Option<Arc<[f64]>> = None;
    for (shown, path) in files {
        // Refuse before reading: text takes more bytes than the f32 values we keep, so a file
        // four times the budget cannot fit whatever it holds.
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size > budget as u64 * 4 {
            return Err(LoadError::TooLarge(format!("'{shown}' has {} MB, too large to plot", size >> 20)));
        }
        for (name, x, y) in read_file(&shown, &path, budget)? {
            position += 1;
            if rows.is_some_and(|r| !r.contains(&(position - 1))) {
                continue;
            }
            // Spectra of a collection usually share one grid: keep one copy of it.
            let x: Arc<[f64]> = match &last_grid {
                Some(g) if **g == *x => g.clone(),
                _ => Arc::from(x),
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
    }
    if let Some(&beyond) = rows.and_then(|r| r.iter().find(|&&r| r >= position)) {
        return Err(LoadError::Bad(format!("row {beyond} does not exist: the selection has {position} spectra")));
    }
    if series.is_empty() {
        return Err(LoadError::Bad("the selection contains no spectra (CSV, VOTable or FITS files)".into()));
    }
    let time_series = series.iter().all(|s| s.name.contains(TIME_COLUMN_MARK));
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
    let mut all = read_file(shown, path, budget)?;
    let count = all.len();
    if row >= count {
        return Err(LoadError::Bad(format!("'{shown}' has {count} spectra; there is no row {row}")));
    }
    Ok(all.swap_remove(row))
}

/// Files of the sources, with their shown names: files as given, folders' readable files
/// (one level, sorted).
pub fn expand(sources: &[Source], max_files: usize) -> Result<Vec<(String, PathBuf)>, LoadError> {
    let mut out = Vec::new();
    for src in sources {
        let meta = std::fs::metadata(&src.path)
            .map_err(|_| LoadError::Bad(format!("'{}' does not exist in your storage", src.shown)))?;
        if meta.is_file() {
            out.push((src.shown.clone(), src.path.clone()));
        } else {
            let mut names: Vec<String> = std::fs::read_dir(&src.path)
                .map_err(|e| LoadError::Bad(format!("cannot list '{}': {e}", src.shown)))?
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') && EXTENSIONS.contains(&extension(n).as_str()))
                .collect();
            names.sort();
            for n in names {
                out.push((format!("{}/{n}", src.shown.trim_end_matches('/')), src.path.join(&n)));
            }
        }
        if out.len() > max_files {
            return Err(LoadError::TooLarge(format!("the selection has more than {max_files} files")));
        }
    }
    Ok(out)
}

fn extension(name: &str) -> String {
    name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default()
}

type Raw = (String, Vec<f64>, Vec<f32>);

fn read_file(shown: &str, path: &Path, budget: usize) -> Result<Vec<Raw>, LoadError> {
    let stem = Path::new(shown).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let raws = match extension(shown).as_str() {
        "fits" | "fit" | "fts" => read_fits(path, &stem, budget),
        "vot" | "votable" | "xml" => read_votable(path, &stem),
        _ => read_csv(path, &stem),
    }
    .map_err(|e| LoadError::Bad(format!("'{shown}': {e}")))?;
    raws.into_iter().map(sorted).collect::<Result<_, _>>().map_err(|e| LoadError::Bad(format!("'{shown}': {e}")))
}

/// Makes x ascending (reversing or sorting) and drops non-finite wavelengths.
fn sorted((name, x, y): Raw) -> Result<Raw, String> {
    let mut pairs: Vec<(f64, f32)> = x.into_iter().zip(y).filter(|(x, _)| x.is_finite()).collect();
    if pairs.is_empty() {
        return Err(format!("spectrum '{name}' has no finite wavelengths"));
    }
    if !pairs.windows(2).all(|w| w[0].0 <= w[1].0) {
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let (x, y) = pairs.into_iter().unzip();
    Ok((name, x, y))
}

fn split(line: &str) -> Vec<&str> {
    if line.contains(',') {
        line.split(',').map(str::trim).collect()
    } else if line.contains(';') {
        line.split(';').map(str::trim).collect()
    } else {
        line.split_whitespace().collect()
    }
}

fn number(s: &str) -> Option<f64> {
    let s = s.trim().trim_matches('"');
    if s.is_empty() || s.eq_ignore_ascii_case("nan") || s.eq_ignore_ascii_case("null") {
        return Some(f64::NAN);
    }
    s.parse().ok()
}

/// CSV: `wavelength,flux` columns (named in a header, or the first two), or a wide table with
/// one spectrum per row whose header holds the wavelengths (an optional first text column
/// names the spectra).
fn read_csv(path: &Path, stem: &str) -> Result<Vec<Raw>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read as text: {e}"))?;
    table_spectra(&text, stem)
}

fn table_spectra(text: &str, stem: &str) -> Result<Vec<Raw>, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let first = lines.next().ok_or("the file is empty")?;
    let head = split(first);
    let is_header = head.iter().any(|c| number(c).is_none());
    let rows: Vec<Vec<&str>> = if is_header {
        lines.map(split).collect()
    } else {
        std::iter::once(head.clone()).chain(lines.map(split)).collect()
    };
    let lower: Vec<String> = head.iter().map(|c| c.trim_matches('"').to_ascii_lowercase()).collect();
    let find = |keys: &[&str]| lower.iter().position(|c| keys.iter().any(|k| c.starts_with(k)));
    let named = if is_header {
        find(&["wave", "lambda", "wl", "time", "x"]).zip(find(&["flux", "intensity", "value", "y"]))
    } else {
        None
    };
    let ncol = head.len();
    if named.is_none()
        && let Some(xi) = find(&["time"])
        && let Some(out) = time_columns(&lower, xi, &rows, stem)
    {
        return Ok(out);
    }
    if let Some((xi, yi)) = named.or((ncol == 2).then_some((0, 1))) {
        let (mut x, mut y) = (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()));
        for (k, row) in rows.iter().enumerate() {
            let get = |i: usize| row.get(i).and_then(|c| number(c));
            match (get(xi), get(yi)) {
                (Some(a), Some(b)) => {
                    x.push(a);
                    y.push(b as f32);
                }
                _ => return Err(format!("row {} is not two numbers: '{}'", k + 1, row.join(","))),
            }
        }
        return Ok(vec![(stem.to_string(), x, y)]);
    }
    wide_csv(&head, is_header, &rows, stem)
}

/// Marks series read by [`time_columns`] (`<file>: <column> vs time`), so the plot titles its
/// axes for time.
const TIME_COLUMN_MARK: &str = " vs time";

/// A time series table (such as the ocean kinds' `timeseries.csv`): a `time` column (epoch
/// seconds) and other columns; every column that is numeric in all rows becomes a series,
/// named after it. Columns of text (an ISO time) are skipped. `None` when no column qualifies.
fn time_columns(lower: &[String], xi: usize, rows: &[Vec<&str>], stem: &str) -> Option<Vec<Raw>> {
    let column = |i: usize| rows.iter().map(|r| r.get(i).and_then(|c| number(c))).collect::<Option<Vec<f64>>>();
    let x = column(xi)?;
    let out: Vec<Raw> = (0..lower.len())
        .filter(|&i| i != xi)
        .filter_map(|i| {
            let y = column(i)?;
            Some((
                format!("{stem}: {}{TIME_COLUMN_MARK}", lower[i]),
                x.clone(),
                y.into_iter().map(|v| v as f32).collect(),
            ))
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

fn wide_csv(head: &[&str], is_header: bool, rows: &[Vec<&str>], stem: &str) -> Result<Vec<Raw>, String> {
    // A first column that is text in the data rows holds the spectrum names.
    let named = rows.first().is_some_and(|r| r.first().is_some_and(|c| number(c).is_none()));
    // Further leading columns whose header is not a wavelength (a label or class, as SOM inputs
    // carry) are not flux either.
    let text_head = if is_header { head.iter().take_while(|c| number(c).is_none()).count() } else { 0 };
    let skip = text_head.max(named as usize).min(head.len().saturating_sub(1));
    let width = head.len() - skip;
    let grid: Vec<f64> = if is_header {
        head[skip..]
            .iter()
            .map(|c| number(c))
            .collect::<Option<_>>()
            .unwrap_or_else(|| (0..width).map(|i| i as f64).collect())
    } else {
        (0..width).map(|i| i as f64).collect()
    };
    let mut out = Vec::with_capacity(rows.len());
    for (k, row) in rows.iter().enumerate() {
        if row.len() != head.len() {
            return Err(format!("row {} has {} columns, the first line has {}", k + 1, row.len(), head.len()));
        }
        let y = row[skip..]
            .iter()
            .map(|c| number(c).map(|v| v as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| format!("row {} has a value that is not a number", k + 1))?;
        let name = if named { row[0].trim_matches('"').to_string() } else { format!("{stem}#{}", k + 1) };
        out.push((name, grid.clone(), y));
    }
    Ok(out)
}

/// VOTable in any serialisation the workers' reader takes (TABLEDATA, BINARY, BINARY2; hostile
/// XML refused there): the first table, in the same shapes as CSV — `wavelength`/`flux`
/// columns (by FIELD name), one spectrum per row as array cells (`arraysize="*"`, as SSA
/// services and astropy write them), or one spectrum per row with wavelength-named columns.
/// Scalar tables become CSV text for the CSV reader, so both accept exactly the same layouts.
fn read_votable(path: &Path, stem: &str) -> Result<Vec<Raw>, String> {
    use vocloud_workers::votable::Value;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let doc = vocloud_workers::votable::read(&bytes).map_err(|e| e.to_string())?;
    let table = doc.tables.into_iter().next().ok_or("the VOTable holds no TABLE")?;
    if table.rows.is_empty() {
        return Err("the VOTable's first table has no rows".into());
    }
    let lower: Vec<String> = table.fields.iter().map(|f| f.name.to_ascii_lowercase()).collect();
    let find = |keys: &[&str]| lower.iter().position(|c| keys.iter().any(|k| c.starts_with(k)));
    let wave = find(&["wave", "lambda", "wl", "loglam", "time", "x"]);
    let flux = find(&["flux", "intensity", "value", "y"]);
    let is_array = |v: &Value| matches!(v, Value::FloatArray(_) | Value::IntArray(_));
    if let Some((w, f)) = wave.zip(flux).filter(|&(_, f)| is_array(&table.rows[0][f])) {
        let values = |v: &Value| match v {
            Value::FloatArray(a) => a.clone(),
            Value::IntArray(a) => a.iter().map(|&n| n as f64).collect(),
            _ => Vec::new(),
        };
        let name = find(&["name", "id", "obj"]);
        let unlog = lower[w] == "loglam";
        return table
            .rows
            .iter()
            .enumerate()
            .map(|(r, row)| {
                let mut x = values(&row[w]);
                let y: Vec<f32> = values(&row[f]).into_iter().map(|v| v as f32).collect();
                if x.len() != y.len() {
                    return Err(format!("row {}: {} wavelengths but {} fluxes", r + 1, x.len(), y.len()));
                }
                if unlog {
                    x.iter_mut().for_each(|v| *v = 10f64.powf(*v));
                }
                let label = match name.map(|c| &row[c]) {
                    Some(Value::Text(t)) if !t.trim().is_empty() => t.trim().to_string(),
                    _ => format!("{stem}#{}", r + 1),
                };
                Ok((label, x, y))
            })
            .collect();
    }
    // Scalar cells: the same text the CSV reader takes (a null cell is empty, read as NaN).
    let cell = |v: &Value| v.to_text().replace(',', " ");
    let mut text = table.fields.iter().map(|f| f.name.replace(',', " ")).collect::<Vec<_>>().join(",");
    for row in &table.rows {
        text.push('\n');
        text.push_str(&row.iter().map(cell).collect::<Vec<_>>().join(","));
    }
    table_spectra(&text, stem)
}

/// FITS: the first image HDU with data; its axis-1 WCS gives the wavelengths.
fn read_fits(path: &Path, stem: &str, budget: usize) -> Result<Vec<Raw>, String> {
    use fitsio::hdu::HduInfo;
    let mut f = fitsio::FitsFile::open(path).map_err(|e| format!("not a readable FITS file ({e})"))?;
    let n = f.num_hdus().map_err(|e| e.to_string())?;
    for i in 0..n {
        let hdu = f.hdu(i).map_err(|e| e.to_string())?;
        let shape = match &hdu.info {
            HduInfo::ImageInfo { shape, .. } if !shape.is_empty() && shape.iter().all(|d| *d > 0) => shape.clone(),
            _ => continue,
        };
        if shape.len() > 2 {
            return Err(format!("image HDU {i} has {} axes; expected 1 (a spectrum) or 2 (one per row)", shape.len()));
        }
        if shape.iter().product::<usize>().saturating_mul(4) > budget {
            return Err(format!("image HDU {i} of shape {shape:?} is too large to plot"));
        }
        let key = |f: &mut fitsio::FitsFile, k: &str| hdu.read_key::<f64>(f, k).ok();
        let crval = key(&mut f, "CRVAL1").ok_or("no CRVAL1 keyword: cannot compute wavelengths")?;
        let cdelt = key(&mut f, "CDELT1").or_else(|| key(&mut f, "CD1_1")).ok_or("no CDELT1 or CD1_1 keyword")?;
        let crpix = key(&mut f, "CRPIX1").unwrap_or(1.0);
        let log = key(&mut f, "DC-FLAG").is_some_and(|v| v == 1.0);
        let object = hdu.read_key::<String>(&mut f, "OBJECT").ok().filter(|s| !s.trim().is_empty());
        let len = *shape.last().unwrap();
        let x: Vec<f64> = (0..len)
            .map(|p| crval + (p as f64 + 1.0 - crpix) * cdelt)
            .map(|w| if log { 10f64.powf(w) } else { w })
            .collect();
        let pixels: Vec<f32> = hdu.read_image(&mut f).map_err(|e| format!("reading the image: {e}"))?;
        if shape.len() == 1 {
            return Ok(vec![(object.unwrap_or_else(|| stem.to_string()), x, pixels)]);
        }
        return Ok(pixels
            .chunks(len)
            .enumerate()
            .map(|(r, row)| (format!("{stem}#{}", r + 1), x.clone(), row.to_vec()))
            .collect());
    }
    // No image: a binary table with wavelength and flux columns, one row per pixel (SDSS
    // `loglam`/`flux`) or vector columns with one spectrum per row (LAMOST `WAVELENGTH`/`FLUX`),
    // read by the SOM kind's reader so both accept the same files.
    drop(f);
    let spectra = vocloud_workers::som::input::read_fits(path, stem)?;
    Ok(spectra.into_iter().map(|s| (s.name, s.wave, s.flux.into_iter().map(|v| v as f32).collect())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> Source {
        std::fs::write(dir.join(name), text).unwrap();
        Source { shown: name.into(), path: dir.join(name) }
    }

    #[test]
    fn csv_pairs_wide_tables_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let pair = write(dir.path(), "a.csv", "wavelength,flux\n3,30\n1,10\n2,20\n");
        let wide = write(dir.path(), "b.csv", "name,4000,4001,4002\nstar1,1,2,3\nstar2,4,5,6\n");
        let d = load("t".into(), &[pair, wide], None, 1 << 20, 10).unwrap();
        assert_eq!(d.series.len(), 3);
        assert_eq!(&*d.series[0].x, &[1.0, 2.0, 3.0]);
        assert_eq!(d.series[0].y, vec![10.0, 20.0, 30.0]);
        assert_eq!(d.series[2].name, "star2");
        assert_eq!(&*d.series[2].x, &[4000.0, 4001.0, 4002.0]);
        let vot = write(
            dir.path(),
            "v.vot",
            "<VOTABLE><RESOURCE><TABLE><FIELD name=\"wavelength\" datatype=\"double\"/>\
             <FIELD name=\"flux\" datatype=\"double\"/><DATA><TABLEDATA><TR><TD>5000</TD><TD>1.5</TD></TR>\
             <TR><TD>5001</TD><TD>2.5</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
        );
        let d = load("t".into(), &[vot], None, 1 << 20, 10).unwrap();
        assert_eq!((&*d.series[0].x, &d.series[0].y[..]), (&[5000.0, 5001.0][..], &[1.5f32, 2.5][..]));
        let ts = write(
            dir.path(),
            "ts.csv",
            "time,iso_time,cnt,mean\n86400,1970-01-02T00:00:00+0000,5,300.5\n0,1970-01-01T00:00:00+0000,4,301\n",
        );
        let d = load("t".into(), &[ts], None, 1 << 20, 10).unwrap();
        assert_eq!(d.series.len(), 2, "cnt and mean; the ISO column is text");
        assert_eq!((d.series[1].name.as_str(), &*d.series[1].x), ("ts: mean vs time", &[0.0, 86400.0][..]));
        assert_eq!(d.series[1].y, vec![301.0, 300.5]);
        assert_eq!(d.axes.0, "time (s since 1970-01-01 UTC)");
        let bad = write(dir.path(), "c.csv", "1,2\n3,oops\n");
        let e = load("t".into(), &[bad], None, 1 << 20, 10).err().expect("a bad row is an error").to_string();
        assert!(e.contains("'c.csv'") && e.contains("row 2"), "{e}");
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
