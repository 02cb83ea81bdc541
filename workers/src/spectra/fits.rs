//! FITS spectra (`.fits .fit .fts`, gzip too): the first HDU holding spectra, chosen from the
//! structure [`header::walk`] checked, then read through cfitsio (`fitsio`): keywords, the
//! image or the two table columns. Nothing is allocated before its size was checked against the
//! file (by the walk) and the read's budget (here).
//!
//! - Images: 1-D (one spectrum) or 2-D (one spectrum per row; more axes are refused unless the
//!   extra ones have length 1). Wavelengths from the axis-1 WCS (linear; `CTYPE1 = 'WAVE-LOG'`,
//!   λ = CRVAL·exp(CDELT·(p−CRPIX)/CRVAL), FITS paper III; log10 for `DC-FLAG = 1` or a CTYPE1
//!   mentioning LOG; SDSS's COEFF0/COEFF1), else a `WAVELENGTH` image extension of the same
//!   length (what the SOM's codebook and [`super::write_matrix_fits`] write).
//! - Binary tables with wavelength (or LOGLAM) and FLUX columns: scalar columns are one
//!   spectrum, one row per pixel (SDSS spec-lite); vector columns one spectrum per row (LAMOST).
//! - An `INDEX` binary table after a 2-D image (NAME, LABEL; one row per image row) names and
//!   labels the rows. fitsio's string-column reader sizes its buffers by the display width, which
//!   a hostile TDISPn can make smaller than the data, so those bytes are read here, from the
//!   offsets the walk found (plain files; a gzip file's rows keep their default names).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use fitsio::FitsFile;
use fitsio::hdu::FitsHdu;

use super::budget::{Budget, bytes_of};
use super::error::Problem;
use super::header::{self, Body, Column, Hdu};
use super::layout::{self, Roles};
use super::{Axis, Spectrum};

/// Which spectra of the file to read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rows {
    All,
    /// One spectrum (0-based): a 2-D image reads only that row.
    One(usize),
}

/// The HDUs of the file, after checking them against its size (or, gzip, the budget).
fn structure(path: &Path, budget: &Budget) -> Result<(Vec<Hdu>, bool), Problem> {
    let mut file = std::fs::File::open(path).map_err(|e| Problem::io(&e))?;
    let len = file.metadata().map_err(|e| Problem::io(&e))?.len();
    let mut magic = [0u8; 2];
    let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    file.seek(SeekFrom::Start(0)).map_err(|e| Problem::io(&e))?;
    if gzip {
        let left = budget.limit().saturating_sub(budget.used());
        let hdus = header::walk_gzip(&mut flate2::read::MultiGzDecoder::new(file), left)?;
        // cfitsio will hold the inflated file in memory while it reads.
        return Ok((hdus, true));
    }
    Ok((header::walk(&mut file, len)?, false))
}

/// The spectra of a FITS file (names left empty for rows; the file reader names them).
pub fn read(path: &Path, budget: &Budget, rows: Rows) -> Result<Vec<Spectrum>, Problem> {
    let (hdus, gzip) = structure(path, budget)?;
    let fitsio = |e: fitsio::errors::Error| Problem::invalid(format!("cfitsio: {e}"));
    for hdu in &hdus {
        match &hdu.body {
            Body::Image { shape, .. } if !shape.is_empty() => {
                let (bins, count) = image_axes(hdu.index, shape)?;
                let mut f =
                    FitsFile::open(path).map_err(|e| Problem::invalid(format!("not a readable FITS file ({e})")))?;
                let index = (!gzip).then(|| index_table(path, &hdus, hdu.index, count, budget)).transpose()?.flatten();
                return image(&mut f, &hdus, hdu.index, (bins, count), rows, index, budget);
            }
            Body::Table { rows: n, columns, .. } => {
                let names: Vec<(&str, Option<&str>)> = columns.iter().map(|c| (c.name.as_str(), None)).collect();
                let roles = Roles::of(&names);
                if let (Some((w, log10)), Some(fl)) = (roles.wave, roles.flux) {
                    let mut f = FitsFile::open(path).map_err(fitsio)?;
                    let spectra = table(&mut f, hdu.index, *n, (&columns[w], &columns[fl], log10), budget)?;
                    return pick(spectra, rows);
                }
            }
            _ => {}
        }
    }
    Err("no 1-D or 2-D image and no binary table with wavelength and flux columns".into())
}

fn pick(mut spectra: Vec<Spectrum>, rows: Rows) -> Result<Vec<Spectrum>, Problem> {
    match rows {
        Rows::All => Ok(spectra),
        Rows::One(r) if r < spectra.len() => Ok(vec![spectra.swap_remove(r)]),
        Rows::One(r) => Err(Problem::invalid(format!("the file has {} spectra; there is no row {r}", spectra.len()))),
    }
}

/// (bins, rows) of an image holding spectra.
fn image_axes(index: usize, shape: &[u64]) -> Result<(u64, u64), Problem> {
    if shape.iter().skip(2).any(|&n| n > 1) {
        return Err(Problem::invalid(format!(
            "image HDU {index} has shape {shape:?}; expected 1 axis (a spectrum) or 2 (one spectrum per row)"
        )));
    }
    Ok((shape[0], shape.get(1).copied().unwrap_or(1)))
}

fn key_f64(f: &mut FitsFile, hdu: &FitsHdu, key: &str) -> Option<f64> {
    hdu.read_key::<f64>(f, key).ok()
}

fn key_text(f: &mut FitsFile, hdu: &FitsHdu, key: &str) -> Option<String> {
    hdu.read_key::<String>(f, key).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A keyword of the HDU, else of the primary header (LAMOST keeps OBJNAME there).
fn inherited(f: &mut FitsFile, hdu: &FitsHdu, keys: &[&str]) -> Option<String> {
    let own = keys.iter().find_map(|k| key_text(f, hdu, k));
    own.or_else(|| {
        let primary = f.primary_hdu().ok()?;
        keys.iter().find_map(|k| key_text(f, &primary, k))
    })
}

/// Wavelengths of pixels 1..=n from the axis-1 WCS; None when there is none.
fn wcs(f: &mut FitsFile, hdu: &FitsHdu, n: usize) -> Result<Option<Vec<f64>>, Problem> {
    let sdss = (key_f64(f, hdu, "COEFF0"), key_f64(f, hdu, "COEFF1"));
    let (crval, cdelt, crpix, ctype, dc_flag) = match (key_f64(f, hdu, "CRVAL1"), sdss) {
        (Some(crval), _) => {
            let Some(cdelt) = key_f64(f, hdu, "CDELT1").or_else(|| key_f64(f, hdu, "CD1_1")) else {
                return Err("CRVAL1 but no CDELT1 or CD1_1 keyword (need a wavelength step on axis 1)".into());
            };
            let ctype = key_text(f, hdu, "CTYPE1").unwrap_or_default().to_ascii_uppercase();
            let dc_flag = hdu.read_key::<i64>(f, "DC-FLAG").ok();
            (crval, cdelt, key_f64(f, hdu, "CRPIX1").unwrap_or(1.0), ctype, dc_flag)
        }
        (None, (Some(c0), Some(c1))) => (c0, c1, 1.0, String::new(), Some(1)),
        _ => return Ok(None),
    };
    if !crval.is_finite() || !cdelt.is_finite() || !crpix.is_finite() || cdelt == 0.0 {
        return Err(Problem::invalid(format!(
            "the wavelength WCS is unusable (CRVAL1 {crval}, CDELT1 {cdelt}, CRPIX1 {crpix})"
        )));
    }
    let pixel = |i: usize| (i + 1) as f64 - crpix;
    Ok(Some(if ctype.starts_with("WAVE-LOG") {
        (0..n).map(|i| crval * (cdelt * pixel(i) / crval).exp()).collect()
    } else if dc_flag == Some(1) || ctype.contains("LOG") {
        (0..n).map(|i| 10f64.powf(crval + cdelt * pixel(i))).collect()
    } else {
        (0..n).map(|i| crval + cdelt * pixel(i)).collect()
    }))
}

/// The wavelengths of an image's `bins` pixels: a WAVELENGTH image extension of that length
/// (exact values, where a writer gave them), else the WCS.
fn wavelengths(f: &mut FitsFile, hdus: &[Hdu], hdu: &FitsHdu, bins: usize) -> Result<Vec<f64>, Problem> {
    let extension = hdus.iter().find(|h| {
        h.name == "WAVELENGTH" && matches!(&h.body, Body::Image { shape, .. } if shape.first() == Some(&(bins as u64)))
    });
    if let Some(extension) = extension {
        let ext = f.hdu(extension.index).map_err(|e| Problem::invalid(format!("cfitsio: {e}")))?;
        return ext.read_section(f, 0, bins).map_err(|e| Problem::invalid(format!("WAVELENGTH: {e}")));
    }
    wcs(f, hdu, bins)?
        .ok_or_else(|| "no wavelength WCS on axis 1 (CRVAL1 with CDELT1 or CD1_1) and no WAVELENGTH extension".into())
}

fn image(
    f: &mut FitsFile,
    hdus: &[Hdu],
    index: usize,
    (bins, count): (u64, u64),
    rows: Rows,
    names: Option<Index>,
    budget: &Budget,
) -> Result<Vec<Spectrum>, Problem> {
    let hdu = f.hdu(index).map_err(|e| Problem::invalid(format!("cfitsio: {e}")))?;
    let wanted = match rows {
        Rows::All => 0..count,
        Rows::One(r) if (r as u64) < count => r as u64..r as u64 + 1,
        Rows::One(r) => return Err(Problem::invalid(format!("the file has {count} spectra; there is no row {r}"))),
    };
    let what = format!("an image of {count} × {bins} pixels");
    let values = bytes_of(wanted.end - wanted.start, bins, &what)?;
    budget.reserve(bytes_of(values, 4, &what)?.saturating_add(bins * 8), &what)?;
    let bins = bins as usize;
    let wave: Arc<[f64]> = Arc::from(wavelengths(f, hdus, &hdu, bins)?);
    let (start, end) = (wanted.start as usize * bins, wanted.end as usize * bins);
    let pixels: Vec<f32> =
        hdu.read_section(f, start, end).map_err(|e| Problem::invalid(format!("reading the image: {e}")))?;
    let label = inherited(f, &hdu, &["CLASS", "OBJTYPE", "LABEL"]);
    let object = inherited(f, &hdu, &["OBJECT", "OBJNAME"]);
    Ok(pixels
        .chunks(bins.max(1))
        .zip(wanted)
        .map(|(flux, r)| {
            let r = r as usize;
            let name = names.as_ref().and_then(|n| n.names.get(r).cloned()).filter(|n| !n.is_empty());
            let label =
                names.as_ref().and_then(|n| n.labels.get(r).cloned()).filter(|l| !l.is_empty()).or(label.clone());
            let mut s = layout::spectrum(name, label, wave.clone(), flux.to_vec(), Axis::Wavelength);
            s.object = (count == 1).then(|| object.clone()).flatten();
            s.origin.row = (count > 1).then_some(r);
            s
        })
        .collect())
}

fn table(
    f: &mut FitsFile,
    index: usize,
    rows: u64,
    (wave_col, flux_col, log10): (&Column, &Column, bool),
    budget: &Budget,
) -> Result<Vec<Spectrum>, Problem> {
    for c in [wave_col, flux_col] {
        if !c.is_numeric() {
            return Err(Problem::invalid(format!("column {} holds {} values, not numbers", c.name, c.code)));
        }
    }
    if wave_col.repeat != flux_col.repeat {
        return Err(Problem::invalid(format!(
            "column {} has {} values per row but {} has {}",
            wave_col.name, wave_col.repeat, flux_col.name, flux_col.repeat
        )));
    }
    let what = format!("a table of {rows} rows × {} values", flux_col.repeat);
    let values = bytes_of(rows, flux_col.repeat, &what)?;
    // fitsio reads the whole columns: wavelengths as f64, fluxes as f32.
    budget.reserve(bytes_of(values, 12, &what)?, &what)?;
    let hdu = f.hdu(index).map_err(|e| Problem::invalid(format!("cfitsio: {e}")))?;
    let column = |e: fitsio::errors::Error| Problem::invalid(format!("reading a column: {e}"));
    let mut wave: Vec<f64> = hdu.read_col(f, &wave_col.name).map_err(column)?;
    let flux: Vec<f32> = hdu.read_col(f, &flux_col.name).map_err(column)?;
    if log10 {
        layout::unlog(&mut wave);
    }
    let label = inherited(f, &hdu, &["CLASS", "OBJTYPE", "LABEL"]);
    let object = inherited(f, &hdu, &["OBJECT", "OBJNAME"]);
    let repeat = flux_col.repeat as usize;
    let spectrum = |wave: Vec<f64>, flux: Vec<f32>| {
        let mut s = layout::spectrum(None, label.clone(), Arc::from(wave), flux, Axis::Wavelength);
        s.object = object.clone();
        s
    };
    if repeat <= 1 || rows <= 1 {
        return Ok(vec![spectrum(wave, flux)]);
    }
    Ok(wave.chunks(repeat).zip(flux.chunks(repeat)).map(|(w, fl)| spectrum(w.to_vec(), fl.to_vec())).collect())
}

/// Names and labels of a 2-D image's rows from its INDEX table.
struct Index {
    names: Vec<String>,
    labels: Vec<String>,
}

/// The INDEX table of a plain file when it describes exactly the image's `rows`, read from its
/// bytes (see the module comment for why not through fitsio).
fn index_table(path: &Path, hdus: &[Hdu], image: usize, rows: u64, budget: &Budget) -> Result<Option<Index>, Problem> {
    let found = hdus.iter().skip(image + 1).find_map(|h| match &h.body {
        Body::Table { rows: n, row_bytes, columns } if h.name == "INDEX" && *n == rows => {
            Some((h, *row_bytes, columns))
        }
        _ => None,
    });
    let Some((hdu, row_bytes, columns)) = found else { return Ok(None) };
    let size = bytes_of(rows, row_bytes, &"the INDEX table")?;
    budget.reserve(size.saturating_mul(2), &"the INDEX table")?;
    let mut file = std::fs::File::open(path).map_err(|e| Problem::io(&e))?;
    file.seek(SeekFrom::Start(hdu.data_offset)).map_err(|e| Problem::io(&e))?;
    let mut data = vec![0u8; size as usize];
    file.read_exact(&mut data).map_err(|e| Problem::io(&e))?;
    let strings = |name: &str| -> Vec<String> {
        let Some(c) = columns.iter().find(|c| c.name.eq_ignore_ascii_case(name) && c.code == 'A') else {
            return Vec::new();
        };
        data.chunks(row_bytes as usize)
            .map(|row| {
                let cell = &row[c.offset as usize..(c.offset + c.repeat) as usize];
                let end = cell.iter().position(|&b| b == 0).unwrap_or(cell.len());
                String::from_utf8_lossy(&cell[..end]).trim().to_string()
            })
            .collect()
    };
    Ok(Some(Index { names: strings("NAME"), labels: strings("LABEL") }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitsio::images::{ImageDescription, ImageType};

    fn image_file(dir: &Path, name: &str, dims: &[usize], keys: &[(&str, f64)], values: &[f32]) -> std::path::PathBuf {
        let path = dir.join(name);
        let mut f = FitsFile::create(&path).open().unwrap();
        let desc = ImageDescription { data_type: ImageType::Float, dimensions: dims };
        let hdu = f.create_image("SPEC", &desc).unwrap();
        for (k, v) in keys {
            hdu.write_key(&mut f, k, *v).unwrap();
        }
        hdu.write_key(&mut f, "CLASS", "emission").unwrap();
        hdu.write_image(&mut f, values).unwrap();
        path
    }

    #[test]
    fn images_with_linear_and_log_wcs_and_single_rows() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::new(1 << 20);
        let keys = [("CRVAL1", 6500.0), ("CDELT1", 0.5), ("CRPIX1", 2.0)];
        let path = image_file(dir.path(), "lin.fits", &[4], &keys, &[1.0, 2.0, 3.0, 4.0]);
        let s = read(&path, &budget, Rows::All).unwrap();
        assert_eq!((&*s[0].wave, s[0].label.as_deref()), (&[6499.5, 6500.0, 6500.5, 6501.0][..], Some("emission")));
        let keys = [("CRVAL1", 3.8), ("CDELT1", 0.0001), ("DC-FLAG", 1.0)];
        let path = image_file(dir.path(), "log.fits", &[2, 3], &keys, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let s = read(&path, &budget, Rows::All).unwrap();
        assert_eq!((s.len(), &s[1].flux[..]), (2, &[4.0f32, 5.0, 6.0][..]));
        assert!((s[0].wave[2] - 10f64.powf(3.8002)).abs() < 1e-9);
        let one = read(&path, &budget, Rows::One(1)).unwrap();
        assert_eq!((one.len(), &one[0].flux[..]), (1, &[4.0f32, 5.0, 6.0][..]));
        assert!(read(&path, &budget, Rows::One(2)).unwrap_err().text.contains("no row 2"));
        let path = image_file(dir.path(), "nowcs.fits", &[3], &[], &[1.0, 2.0, 3.0]);
        assert!(read(&path, &budget, Rows::All).unwrap_err().text.contains("no wavelength WCS"));
    }

    #[test]
    fn an_image_over_the_budget_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let keys = [("CRVAL1", 6500.0), ("CDELT1", 0.5)];
        let path = image_file(dir.path(), "big.fits", &[100, 1000], &keys, &vec![1.0; 100_000]);
        let e = read(&path, &Budget::new(100_000), Rows::All).unwrap_err();
        assert_eq!(e.kind, super::super::ErrorKind::TooLarge);
        assert!(e.text.contains("an image of 100 × 1000 pixels needs"), "{}", e.text);
        assert_eq!(read(&path, &Budget::new(100_000), Rows::One(7)).unwrap()[0].flux.len(), 1000, "one row fits");
    }
}
