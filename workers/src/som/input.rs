//! Reading spectra: a folder of files or one file, each holding one or many spectra.
//!
//! Accepted (DESIGN.md "Spectra inputs"):
//! - FITS 1-D image with a wavelength WCS on axis 1: CRVAL1, CDELT1 (or CD1_1), CRPIX1 (default 1);
//!   linear, `CTYPE1 = 'WAVE-LOG'` (λ = CRVAL·exp(CDELT·(p−CRPIX)/CRVAL), FITS paper III) or
//!   log10-lambda (`DC-FLAG = 1` or `CTYPE1` mentioning LOG, as SDSS/IRAF write it).
//! - FITS 2-D image: one spectrum per row, the same WCS on axis 1.
//! - FITS binary table with a wavelength column (WAVELENGTH/WAVE/LAMBDA, or LOGLAM in log10) and a
//!   FLUX column: one row per pixel (SDSS) or vector columns, one spectrum per row (LAMOST).
//! - CSV / VOTable (TABLEDATA): either `wave`+`flux` columns (one spectrum per file, or array cells
//!   with one spectrum per row), or one spectrum per row with numeric column names as wavelengths.
//!   Optional `name`/`id` and `label`/`class` columns. CSV is plain comma-separated, no quoting.
//!
//! Class labels come from a `label`/`class` column or the FITS keywords CLASS/OBJTYPE. Folders are
//! read in parallel (rayon) in file-name order; any unreadable file ends the job naming the file.

use std::path::Path;

use fitsio::FitsFile;
use fitsio::hdu::{FitsHdu, HduInfo};
use rayon::prelude::*;

use crate::Failure;

/// One spectrum as read, on its own wavelength grid.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSpectrum {
    /// File name, with `[row]` for files holding several spectra.
    pub name: String,
    pub wave: Vec<f64>,
    pub flux: Vec<f64>,
    pub label: Option<String>,
}

/// Where a spectrum came from, so the viewer can open the original in the plotter or send it
/// over SAMP: `file` is relative to the input folder (empty when the input is one file), `row`
/// the 0-based spectrum index inside a file holding several (None for a one-spectrum file).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Origin {
    pub file: String,
    pub row: Option<usize>,
}

const SPECTRUM_EXTENSIONS: &[&str] = &["fits", "fit", "fts", "fits.gz", "csv", "vot", "xml", "votable"];

/// Reads every spectrum under `path` (a folder or one file); `shown` is the user-relative path.
/// Returns the spectra and, in the same order, where each came from.
pub fn read_input(path: &Path, shown: &str) -> Result<(Vec<RawSpectrum>, Vec<Origin>), Failure> {
    let files = input_files(path, shown)?;
    let (spectra, origins) = read_files(&files, path.is_dir())?;
    if spectra.is_empty() {
        return Err(Failure::Fatal(format!("{shown}: no spectra found")));
    }
    Ok((spectra, origins))
}

/// The files of the input: a folder's spectrum files sorted by name, or the one file.
pub fn input_files(path: &Path, shown: &str) -> Result<Vec<std::path::PathBuf>, Failure> {
    if path.is_dir() { list_folder(path, shown) } else { Ok(vec![path.to_path_buf()]) }
}

/// Reads `files` in parallel, keeping their order; `folder` says whether they are a folder's.
pub fn read_files(files: &[std::path::PathBuf], folder: bool) -> Result<(Vec<RawSpectrum>, Vec<Origin>), Failure> {
    let per_file: Vec<Vec<RawSpectrum>> = files
        .par_iter()
        .map(|file| {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            read_file(file, &name).map_err(|e| Failure::Fatal(format!("{name}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let mut origins = Vec::new();
    for (file, spectra) in files.iter().zip(&per_file) {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let several = spectra.len() > 1;
        origins.extend(
            (0..spectra.len())
                .map(|r| Origin { file: if folder { name.clone() } else { String::new() }, row: several.then_some(r) }),
        );
    }
    Ok((per_file.into_iter().flatten().collect(), origins))
}

fn has_spectrum_extension(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SPECTRUM_EXTENSIONS.iter().any(|ext| lower.ends_with(&format!(".{ext}")))
}

fn list_folder(dir: &Path, shown: &str) -> Result<Vec<std::path::PathBuf>, Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| Failure::fatal(shown, e))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.')))
        .filter(|p| has_spectrum_extension(&p.to_string_lossy()))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Failure::Fatal(format!(
            "{shown}: folder holds no spectra (looked for .{})",
            SPECTRUM_EXTENSIONS.join(", .")
        )));
    }
    Ok(files)
}

/// Reads one file by its extension; the error text is prefixed with the file name by the caller.
pub fn read_file(path: &Path, name: &str) -> Result<Vec<RawSpectrum>, String> {
    let lower = name.to_ascii_lowercase();
    let spectra = if lower.ends_with(".csv") {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        from_table(name, &parse_csv(&text)?)?
    } else if lower.ends_with(".vot") || lower.ends_with(".xml") || lower.ends_with(".votable") {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        from_table(name, &parse_votable(&text)?)?
    } else {
        read_fits(path, name)?
    };
    for s in &spectra {
        check_spectrum(s)?;
    }
    Ok(spectra)
}

fn check_spectrum(s: &RawSpectrum) -> Result<(), String> {
    if s.flux.len() < 2 {
        return Err(format!("spectrum {} has {} points, need at least 2", s.name, s.flux.len()));
    }
    if s.wave.len() != s.flux.len() {
        return Err(format!("spectrum {}: {} wavelengths but {} fluxes", s.name, s.wave.len(), s.flux.len()));
    }
    if let Some(i) = s.flux.iter().chain(&s.wave).position(|v| !v.is_finite()) {
        return Err(format!("spectrum {} has a non-finite value (NaN or Inf) at index {i}", s.name));
    }
    if s.wave.windows(2).any(|w| w[1] <= w[0]) {
        return Err(format!("spectrum {}: wavelengths are not strictly increasing", s.name));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// FITS

/// Spectra of a FITS file (first 1-D/2-D image, else first table with wavelength and flux
/// columns), unchecked: NaN fluxes are kept (the plot service reads through here and shows
/// gaps; [`read_file`] checks for the SOM).
pub fn read_fits(path: &Path, name: &str) -> Result<Vec<RawSpectrum>, String> {
    let mut file = FitsFile::open(path).map_err(|e| format!("not a readable FITS file ({e})"))?;
    let count = file.num_hdus().map_err(|e| e.to_string())?;
    for index in 0..count {
        let hdu = file.hdu(index).map_err(|e| e.to_string())?;
        match &hdu.info {
            HduInfo::ImageInfo { shape, .. } if shape.len() == 1 || shape.len() == 2 => {
                let shape = shape.clone();
                return read_fits_image(&mut file, &hdu, &shape, name);
            }
            HduInfo::TableInfo { column_descriptions, num_rows } => {
                let names: Vec<String> = column_descriptions.iter().map(|c| c.name.clone()).collect();
                if find_column(&names, WAVE_COLUMNS).is_some() && find_column(&names, FLUX_COLUMNS).is_some() {
                    let (columns, rows) = (column_descriptions.clone(), *num_rows);
                    return read_fits_table(&mut file, &hdu, &columns, rows, name);
                }
            }
            _ => {}
        }
    }
    Err("no 1-D or 2-D image and no table with wavelength and flux columns".into())
}

fn key_f64(file: &mut FitsFile, hdu: &FitsHdu, key: &str) -> Option<f64> {
    hdu.read_key::<f64>(file, key).ok()
}

fn key_string(file: &mut FitsFile, hdu: &FitsHdu, key: &str) -> Option<String> {
    hdu.read_key::<String>(file, key).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The wavelengths of pixels 1..=n from the axis-1 WCS keywords.
fn wcs_wavelengths(file: &mut FitsFile, hdu: &FitsHdu, n: usize) -> Result<Vec<f64>, String> {
    let crval = key_f64(file, hdu, "CRVAL1").ok_or("no CRVAL1 keyword (need a wavelength WCS on axis 1)")?;
    let cdelt = key_f64(file, hdu, "CDELT1")
        .or_else(|| key_f64(file, hdu, "CD1_1"))
        .ok_or("no CDELT1 or CD1_1 keyword (need a wavelength WCS on axis 1)")?;
    if cdelt == 0.0 {
        return Err("CDELT1 is zero".into());
    }
    let crpix = key_f64(file, hdu, "CRPIX1").unwrap_or(1.0);
    let ctype = key_string(file, hdu, "CTYPE1").unwrap_or_default().to_ascii_uppercase();
    let dc_flag = hdu.read_key::<i64>(file, "DC-FLAG").ok();
    let pixel = |i: usize| (i + 1) as f64 - crpix;
    let wave = if ctype.starts_with("WAVE-LOG") {
        (0..n).map(|i| crval * (cdelt * pixel(i) / crval).exp()).collect()
    } else if dc_flag == Some(1) || ctype.contains("LOG") {
        (0..n).map(|i| 10f64.powf(crval + cdelt * pixel(i))).collect()
    } else {
        (0..n).map(|i| crval + cdelt * pixel(i)).collect()
    };
    Ok(wave)
}

fn fits_label(file: &mut FitsFile, hdu: &FitsHdu) -> Option<String> {
    ["CLASS", "OBJTYPE", "LABEL"].iter().find_map(|k| key_string(file, hdu, k))
}

fn read_fits_image(
    file: &mut FitsFile,
    hdu: &FitsHdu,
    shape: &[usize],
    name: &str,
) -> Result<Vec<RawSpectrum>, String> {
    let bins = *shape.last().unwrap_or(&0);
    let rows = if shape.len() == 2 { shape[0] } else { 1 };
    let wave = wcs_wavelengths(file, hdu, bins)?;
    let label = fits_label(file, hdu);
    let pixels: Vec<f64> = hdu.read_image(file).map_err(|e| format!("reading the image: {e}"))?;
    if pixels.len() != rows * bins {
        return Err(format!("image holds {} values, expected {rows}×{bins}", pixels.len()));
    }
    Ok(pixels
        .chunks(bins.max(1))
        .enumerate()
        .map(|(r, flux)| RawSpectrum {
            name: if rows == 1 { name.to_string() } else { format!("{name}[{r}]") },
            wave: wave.clone(),
            flux: flux.to_vec(),
            label: label.clone(),
        })
        .collect())
}

const WAVE_COLUMNS: &[&str] = &["wavelength", "wave", "lambda", "loglam"];
const FLUX_COLUMNS: &[&str] = &["flux"];

fn find_column(names: &[String], wanted: &[&str]) -> Option<usize> {
    wanted.iter().find_map(|w| names.iter().position(|n| n.trim().eq_ignore_ascii_case(w)))
}

fn read_fits_table(
    file: &mut FitsFile,
    hdu: &FitsHdu,
    columns: &[fitsio::tables::ConcreteColumnDescription],
    num_rows: usize,
    name: &str,
) -> Result<Vec<RawSpectrum>, String> {
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let (w, f) = (find_column(&names, WAVE_COLUMNS).unwrap(), find_column(&names, FLUX_COLUMNS).unwrap());
    let log10 = names[w].trim().eq_ignore_ascii_case("loglam");
    let mut wave: Vec<f64> = hdu.read_col(file, &names[w]).map_err(|e| format!("column {}: {e}", names[w]))?;
    let flux: Vec<f64> = hdu.read_col(file, &names[f]).map_err(|e| format!("column {}: {e}", names[f]))?;
    if log10 {
        wave.iter_mut().for_each(|x| *x = 10f64.powf(*x));
    }
    let label = fits_label(file, hdu);
    let repeat = columns[f].data_type.repeat;
    if repeat <= 1 || num_rows <= 1 {
        return Ok(vec![RawSpectrum { name: name.to_string(), wave, flux, label }]);
    }
    // Vector columns with several rows: one spectrum per row.
    if wave.len() != flux.len() {
        return Err(format!("columns {} and {} differ in length", names[w], names[f]));
    }
    Ok((0..num_rows)
        .map(|r| RawSpectrum {
            name: format!("{name}[{r}]"),
            wave: wave[r * repeat..(r + 1) * repeat].to_vec(),
            flux: flux[r * repeat..(r + 1) * repeat].to_vec(),
            label: label.clone(),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Tables of text cells (CSV, VOTable)

/// Column names and rows of cell texts.
#[derive(Debug, Default)]
pub struct TextTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn parse_csv(text: &str) -> Result<TextTable, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#'));
    let header = lines.next().ok_or("empty CSV file")?;
    let columns: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let cells: Vec<String> = line.split(',').map(|c| c.trim().to_string()).collect();
        if cells.len() != columns.len() {
            return Err(format!("line {}: {} cells, the header has {}", i + 2, cells.len(), columns.len()));
        }
        rows.push(cells);
    }
    Ok(TextTable { columns, rows })
}

/// Reads the first TABLE of a VOTable in TABLEDATA serialisation.
fn parse_votable(text: &str) -> Result<TextTable, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut table = TextTable::default();
    let (mut row, mut cell, mut in_td, mut seen_table) = (Vec::new(), String::new(), false, false);
    loop {
        let event = reader.read_event().map_err(|e| format!("not valid XML: {e}"))?;
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"TABLE" => {
                if seen_table {
                    break;
                }
                seen_table = true;
            }
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"FIELD" => {
                let name = e
                    .try_get_attribute("name")
                    .ok()
                    .flatten()
                    .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
                    .unwrap_or_default();
                table.columns.push(name);
            }
            Event::Start(e) if e.local_name().as_ref() == b"TD" => {
                in_td = true;
                cell.clear();
            }
            Event::Empty(e) if e.local_name().as_ref() == b"TD" => row.push(String::new()),
            Event::Text(t) if in_td => cell.push_str(&t.decode().map_err(|e| e.to_string())?),
            Event::GeneralRef(r) if in_td => cell.push_str(&format!("&{};", String::from_utf8_lossy(&r))),
            Event::End(e) if e.local_name().as_ref() == b"TD" => {
                in_td = false;
                row.push(unescape_entities(cell.trim()));
            }
            Event::End(e) if e.local_name().as_ref() == b"TR" => table.rows.push(std::mem::take(&mut row)),
            Event::Start(e) if e.local_name().as_ref() == b"BINARY" || e.local_name().as_ref() == b"BINARY2" => {
                return Err("VOTable BINARY serialisation is not supported, use TABLEDATA".into());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if table.columns.is_empty() {
        return Err("no VOTable FIELDs found".into());
    }
    if let Some(bad) = table.rows.iter().position(|r| r.len() != table.columns.len()) {
        return Err(format!(
            "VOTable row {bad} has {} cells for {} fields",
            table.rows[bad].len(),
            table.columns.len()
        ));
    }
    Ok(table)
}

fn unescape_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

fn number(cell: &str, what: &str) -> Result<f64, String> {
    cell.trim().parse::<f64>().map_err(|_| format!("{what}: '{cell}' is not a number"))
}

fn numbers(cell: &str, what: &str) -> Result<Vec<f64>, String> {
    cell.split_whitespace().map(|c| number(c, what)).collect()
}

/// Turns a text table into spectra (see the module comment for the layouts).
pub fn from_table(file: &str, t: &TextTable) -> Result<Vec<RawSpectrum>, String> {
    if t.rows.is_empty() {
        return Err("the table has no rows".into());
    }
    let name_col = find_column(&t.columns, &["name", "id", "file"]);
    let label_col = find_column(&t.columns, &["label", "class"]);
    let row_name = |r: usize| match name_col {
        Some(c) if !t.rows[r][c].is_empty() => t.rows[r][c].clone(),
        _ => format!("{file}[{r}]"),
    };
    let row_label = |r: usize| label_col.map(|c| t.rows[r][c].clone()).filter(|s| !s.is_empty());
    if let (Some(w), Some(f)) = (find_column(&t.columns, WAVE_COLUMNS), find_column(&t.columns, FLUX_COLUMNS)) {
        let log10 = t.columns[w].trim().eq_ignore_ascii_case("loglam");
        let unlog = |v: Vec<f64>| if log10 { v.into_iter().map(|x| 10f64.powf(x)).collect() } else { v };
        let is_array = t.rows[0][f].split_whitespace().count() > 1;
        if is_array {
            return (0..t.rows.len())
                .map(|r| {
                    let what = format!("row {r}");
                    Ok(RawSpectrum {
                        name: row_name(r),
                        wave: unlog(numbers(&t.rows[r][w], &what)?),
                        flux: numbers(&t.rows[r][f], &what)?,
                        label: row_label(r),
                    })
                })
                .collect();
        }
        let mut wave = Vec::with_capacity(t.rows.len());
        let mut flux = Vec::with_capacity(t.rows.len());
        for (r, row) in t.rows.iter().enumerate() {
            wave.push(number(&row[w], &format!("row {r}"))?);
            flux.push(number(&row[f], &format!("row {r}"))?);
        }
        return Ok(vec![RawSpectrum { name: file.to_string(), wave: unlog(wave), flux, label: row_label(0) }]);
    }
    // One spectrum per row: every other column is named by its wavelength.
    let mut wave_cols = Vec::new();
    for (c, col) in t.columns.iter().enumerate() {
        if Some(c) == name_col || Some(c) == label_col {
            continue;
        }
        let w = col.trim().parse::<f64>().map_err(|_| {
            format!("column '{col}' is neither a wavelength nor name/label (expected wave+flux columns or wavelength-named columns)")
        })?;
        wave_cols.push((c, w));
    }
    let wave: Vec<f64> = wave_cols.iter().map(|&(_, w)| w).collect();
    (0..t.rows.len())
        .map(|r| {
            let flux = wave_cols
                .iter()
                .map(|&(c, _)| number(&t.rows[r][c], &format!("row {r}, column {}", t.columns[c])))
                .collect::<Result<_, _>>()?;
            Ok(RawSpectrum { name: row_name(r), wave: wave.clone(), flux, label: row_label(r) })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("vocloud-som-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn csv_wide_layout_gives_one_spectrum_per_row_with_labels() {
        let t = parse_csv("name,label,6500,6501,6502\na,em,1,2,3\nb,abs,3,2,1\n").unwrap();
        let s = from_table("x.csv", &t).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].name, "b");
        assert_eq!(s[1].label.as_deref(), Some("abs"));
        assert_eq!(s[0].wave, vec![6500.0, 6501.0, 6502.0]);
        assert_eq!(s[0].flux, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn csv_long_layout_and_bad_cells_are_reported() {
        let s = from_table("x.csv", &parse_csv("wave,flux\n1,5\n2,6\n").unwrap()).unwrap();
        assert_eq!((s[0].wave.clone(), s[0].flux.clone()), (vec![1.0, 2.0], vec![5.0, 6.0]));
        let err = from_table("x.csv", &parse_csv("wave,flux\n1,5\n2,abc\n").unwrap()).unwrap_err();
        assert!(err.contains("'abc' is not a number"), "{err}");
        let err = from_table("x.csv", &parse_csv("foo,bar\n1,2\n").unwrap()).unwrap_err();
        assert!(err.contains("column 'foo'"), "{err}");
        assert!(parse_csv("a,b\n1\n").unwrap_err().contains("line 2"));
    }

    #[test]
    fn votable_tabledata_with_array_cells() {
        let text = r#"<?xml version="1.0"?><VOTABLE><RESOURCE><TABLE>
            <FIELD name="id" datatype="char" arraysize="*"/><FIELD name="wave" datatype="double" arraysize="*"/>
            <FIELD name="flux" datatype="double" arraysize="*"/>
            <DATA><TABLEDATA><TR><TD>s&amp;1</TD><TD>1 2 3</TD><TD>4 5 6</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"#;
        let s = from_table("x.vot", &parse_votable(text).unwrap()).unwrap();
        assert_eq!(s[0].name, "s&1");
        assert_eq!(s[0].flux, vec![4.0, 5.0, 6.0]);
    }

    #[test]
    fn fits_images_linear_and_log_wcs_and_tables_are_read() {
        let dir = temp_dir("fits");
        let path = dir.join("lin.fits");
        {
            let mut f = FitsFile::create(&path).open().unwrap();
            let desc =
                fitsio::images::ImageDescription { data_type: fitsio::images::ImageType::Float, dimensions: &[4] };
            let hdu = f.create_image("SPEC", &desc).unwrap();
            hdu.write_key(&mut f, "CRVAL1", 6500.0).unwrap();
            hdu.write_key(&mut f, "CDELT1", 0.5).unwrap();
            hdu.write_key(&mut f, "CRPIX1", 2.0).unwrap();
            hdu.write_key(&mut f, "CLASS", "emission").unwrap();
            hdu.write_image(&mut f, &[1.0f32, 2.0, 3.0, 4.0]).unwrap();
        }
        let s = read_file(&path, "lin.fits").unwrap();
        assert_eq!(s[0].wave, vec![6499.5, 6500.0, 6500.5, 6501.0]);
        assert_eq!(s[0].label.as_deref(), Some("emission"));

        let path = dir.join("log.fits");
        {
            let mut f = FitsFile::create(&path).open().unwrap();
            let desc =
                fitsio::images::ImageDescription { data_type: fitsio::images::ImageType::Double, dimensions: &[2, 3] };
            let hdu = f.create_image("SPEC", &desc).unwrap();
            hdu.write_key(&mut f, "CRVAL1", 3.8).unwrap();
            hdu.write_key(&mut f, "CDELT1", 0.0001).unwrap();
            hdu.write_key(&mut f, "DC-FLAG", 1i64).unwrap();
            hdu.write_image(&mut f, &[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        }
        let s = read_file(&path, "log.fits").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].name, "log.fits[1]");
        assert!((s[0].wave[2] - 10f64.powf(3.8002)).abs() < 1e-9);
        assert_eq!(s[1].flux, vec![4.0, 5.0, 6.0]);

        let path = dir.join("table.fits");
        {
            use fitsio::tables::{ColumnDataType, ColumnDescription};
            let mut f = FitsFile::create(&path).open().unwrap();
            let cols = [
                ColumnDescription::new("WAVELENGTH").with_type(ColumnDataType::Double).create().unwrap(),
                ColumnDescription::new("FLUX").with_type(ColumnDataType::Float).create().unwrap(),
            ];
            let hdu = f.create_table("SPEC", &cols).unwrap();
            hdu.write_col(&mut f, "WAVELENGTH", &[10.0f64, 11.0, 12.0]).unwrap();
            hdu.write_col(&mut f, "FLUX", &[1.0f32, 0.5, 0.25]).unwrap();
        }
        let s = read_file(&path, "table.fits").unwrap();
        assert_eq!(s[0].wave, vec![10.0, 11.0, 12.0]);
        assert_eq!(s[0].flux, vec![1.0, 0.5, 0.25]);

        std::fs::write(dir.join("junk.fits"), b"not a fits file").unwrap();
        let err = read_file(&dir.join("junk.fits"), "junk.fits").unwrap_err();
        assert!(err.contains("not a readable FITS file"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
