//! FITS spectra (`.fits .fit .fts`, gzip too): the first HDU holding spectra, chosen from the
//! structure [`header::walk`] checked, then read through cfitsio (`fitsio`): keywords, the
//! image or the two table columns — except plain images, which [`plain`] reads from the walked
//! header and the file's bytes, giving what cfitsio gives (see there for why and when). Nothing
//! is allocated before its size was checked against the file (by the walk) and the read's
//! budget (here).
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

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use fitsio::FitsFile;
use fitsio::hdu::FitsHdu;

use super::budget::{Budget, bytes_of};
use super::error::Problem;
use super::header::{self, Body, Column, Hdu};
use super::layout::{self, Roles};
use super::plain;
use super::{Axis, Spectrum};

/// Which spectra of the file to read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rows {
    All,
    /// One spectrum (0-based): a 2-D image reads only that row.
    One(usize),
}

/// The HDUs of the file, after checking them against its size (or, gzip, the budget), and the
/// open file when it is not gzip (where [`plain`] reads the pixels).
fn structure(path: &Path, budget: &Budget) -> Result<(Vec<Hdu>, Option<File>), Problem> {
    let mut file = std::fs::File::open(path).map_err(|e| Problem::io(&e))?;
    let len = file.metadata().map_err(|e| Problem::io(&e))?.len();
    let mut magic = [0u8; 2];
    // A positioned read: the walk starts at 0 without a seek.
    let gzip = file.read_exact_at(&mut magic, 0).is_ok() && magic == [0x1f, 0x8b];
    if gzip {
        let left = budget.limit().saturating_sub(budget.used());
        let hdus = header::walk_gzip(&mut flate2::read::MultiGzDecoder::new(file), left)?;
        // cfitsio will hold the inflated file in memory while it reads.
        return Ok((hdus, None));
    }
    let hdus = header::walk(&mut file, len)?;
    Ok((hdus, Some(file)))
}

/// The spectra of a FITS file (names left empty for rows; the file reader names them).
pub fn read(path: &Path, budget: &Budget, rows: Rows) -> Result<Vec<Spectrum>, Problem> {
    read_with(path, budget, rows, true)
}

/// [`read`]; `allow_plain` false reads every image through cfitsio (tests compare the two).
fn read_with(path: &Path, budget: &Budget, rows: Rows, allow_plain: bool) -> Result<Vec<Spectrum>, Problem> {
    let (hdus, file) = structure(path, budget)?;
    let fitsio = |e: fitsio::errors::Error| Problem::invalid(format!("cfitsio: {e}"));
    for hdu in &hdus {
        match &hdu.body {
            Body::Image { shape, .. } if !shape.is_empty() => {
                whole_blocks(hdu)?;
                let (bins, count) = image_axes(hdu.index, shape)?;
                let plain = file.as_ref().filter(|_| allow_plain);
                let plain = plain.and_then(|f| Some((f, plain::Image::of(&hdus, hdu, bins)?)));
                let f = match plain {
                    Some(_) => None,
                    None => Some(open(path)?),
                };
                let gzip = file.is_none();
                let index = (!gzip).then(|| index_table(path, &hdus, hdu.index, count, budget)).transpose()?.flatten();
                return image(path, (f, plain), &hdus, hdu.index, (bins, count), rows, index, budget);
            }
            Body::Table { rows: n, columns, .. } => {
                let names: Vec<(&str, Option<&str>)> = columns.iter().map(|c| (c.name.as_str(), None)).collect();
                let roles = Roles::of(&names);
                if let (Some((w, log10)), Some(fl)) = (roles.wave, roles.flux) {
                    whole_blocks(hdu)?;
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

/// The same error from every reader for an HDU whose final padding was cut: cfitsio reads whole
/// 2,880-byte blocks and fails with "error reading from FITS file" (the plain reader would read
/// the pixels, which are all there; `mutations` holds the two to the same answer).
fn whole_blocks(hdu: &Hdu) -> Result<(), Problem> {
    if hdu.missing == 0 {
        return Ok(());
    }
    Err(Problem::invalid(format!(
        "truncated: the file ends {} bytes before the end of HDU {}'s last 2,880-byte block (a FITS file is \
         whole blocks)",
        hdu.missing, hdu.index
    )))
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

fn open(path: &Path) -> Result<FitsFile, Problem> {
    FitsFile::open(path).map_err(|e| Problem::invalid(format!("not a readable FITS file ({e})")))
}

/// Where an image's keywords come from: cfitsio, or the header the walk kept
/// ([`plain::Parsed`]). `None` when the keyword is missing or not of the asked type.
pub trait Keywords {
    fn number(&mut self, key: &str) -> Option<f64>;
    fn integer(&mut self, key: &str) -> Option<i64>;
    /// Trimmed; `None` when empty.
    fn text(&mut self, key: &str) -> Option<String>;
}

/// The keywords of one HDU through cfitsio.
struct Cfitsio<'a> {
    f: &'a mut FitsFile,
    hdu: &'a FitsHdu,
}

impl Keywords for Cfitsio<'_> {
    fn number(&mut self, key: &str) -> Option<f64> {
        self.hdu.read_key::<f64>(self.f, key).ok()
    }
    fn integer(&mut self, key: &str) -> Option<i64> {
        self.hdu.read_key::<i64>(self.f, key).ok()
    }
    fn text(&mut self, key: &str) -> Option<String> {
        key_text(self.f, self.hdu, key)
    }
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
fn wcs(keys: &mut dyn Keywords, n: usize) -> Result<Option<Arc<[f64]>>, Problem> {
    let sdss = (keys.number("COEFF0"), keys.number("COEFF1"));
    let (crval, cdelt, crpix, ctype, dc_flag) = match (keys.number("CRVAL1"), sdss) {
        (Some(crval), _) => {
            let Some(cdelt) = keys.number("CDELT1").or_else(|| keys.number("CD1_1")) else {
                return Err("CRVAL1 but no CDELT1 or CD1_1 keyword (need a wavelength step on axis 1)".into());
            };
            let ctype = keys.text("CTYPE1").unwrap_or_default().to_ascii_uppercase();
            let dc_flag = keys.integer("DC-FLAG");
            (crval, cdelt, keys.number("CRPIX1").unwrap_or(1.0), ctype, dc_flag)
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
fn wavelengths(f: &mut FitsFile, hdus: &[Hdu], hdu: &FitsHdu, bins: usize) -> Result<Arc<[f64]>, Problem> {
    let extension = hdus.iter().find(|h| {
        h.name == "WAVELENGTH" && matches!(&h.body, Body::Image { shape, .. } if shape.first() == Some(&(bins as u64)))
    });
    if let Some(extension) = extension {
        let ext = f.hdu(extension.index).map_err(|e| Problem::invalid(format!("cfitsio: {e}")))?;
        let wave: Vec<f64> = ext.read_section(f, 0, bins).map_err(|e| Problem::invalid(format!("WAVELENGTH: {e}")))?;
        return Ok(Arc::from(wave));
    }
    wcs(&mut Cfitsio { f, hdu }, bins)?.ok_or_else(|| NO_WCS.into())
}

const NO_WCS: &str = "no wavelength WCS on axis 1 (CRVAL1 with CDELT1 or CD1_1) and no WAVELENGTH extension";

/// An image's wavelengths, pixels `wanted` rows × `bins`, label and object.
type ImageData = (Arc<[f64]>, Vec<f32>, Option<String>, Option<String>);

/// [`ImageData`] through cfitsio.
fn image_cfitsio(
    f: &mut FitsFile,
    hdus: &[Hdu],
    index: usize,
    wanted: &Range<u64>,
    bins: usize,
) -> Result<ImageData, Problem> {
    let hdu = f.hdu(index).map_err(|e| Problem::invalid(format!("cfitsio: {e}")))?;
    let wave = wavelengths(f, hdus, &hdu, bins)?;
    let (start, end) = (wanted.start as usize * bins, wanted.end as usize * bins);
    let pixels: Vec<f32> =
        hdu.read_section(f, start, end).map_err(|e| Problem::invalid(format!("reading the image: {e}")))?;
    let label = inherited(f, &hdu, &["CLASS", "OBJTYPE", "LABEL"]);
    let object = inherited(f, &hdu, &["OBJECT", "OBJNAME"]);
    Ok((wave, pixels, label, object))
}

/// [`ImageData`] through [`plain`]; `Ok(None)` when cfitsio must read the pixels after all.
fn image_plain(
    file: &File,
    image: &mut plain::Image,
    wanted: &Range<u64>,
    bins: usize,
) -> Result<Option<ImageData>, Problem> {
    let wave = wcs(image.keys(), bins)?.ok_or_else(|| Problem::from(NO_WCS))?;
    let b = bins as u64;
    let Some(pixels) = image.pixels(file, wanted.start * b, (wanted.end - wanted.start) * b)? else {
        return Ok(None);
    };
    let label = image.inherited(&["CLASS", "OBJTYPE", "LABEL"]);
    let object = image.inherited(&["OBJECT", "OBJNAME"]);
    Ok(Some((wave, pixels, label, object)))
}

/// The spectra of image HDU `index`: through [`plain`] when it can (`f` is then `None`), else
/// through cfitsio (`f`, opened by the caller so that its errors come first as they always did).
#[allow(clippy::too_many_arguments)]
fn image(
    path: &Path,
    (f, plain): (Option<FitsFile>, Option<(&File, plain::Image)>),
    hdus: &[Hdu],
    index: usize,
    (bins, count): (u64, u64),
    rows: Rows,
    names: Option<Index>,
    budget: &Budget,
) -> Result<Vec<Spectrum>, Problem> {
    let mut f = f;
    if let Some(f) = f.as_mut() {
        f.hdu(index).map_err(|e| Problem::invalid(format!("cfitsio: {e}")))?;
    }
    let wanted = match rows {
        Rows::All => 0..count,
        Rows::One(r) if (r as u64) < count => r as u64..r as u64 + 1,
        Rows::One(r) => return Err(Problem::invalid(format!("the file has {count} spectra; there is no row {r}"))),
    };
    let what = format!("an image of {count} × {bins} pixels");
    let values = bytes_of(wanted.end - wanted.start, bins, &what)?;
    budget.reserve(bytes_of(values, 4, &what)?.saturating_add(bins * 8), &what)?;
    let bins = bins as usize;
    let read = match plain {
        Some((file, mut image)) => image_plain(file, &mut image, &wanted, bins)?,
        None => None,
    };
    let (wave, pixels, label, object) = match read {
        Some(read) => read,
        None => {
            let mut f = match f {
                Some(f) => f,
                None => open(path)?,
            };
            image_cfitsio(&mut f, hdus, index, &wanted, bins)?
        }
    };
    if count == 1 {
        // One spectrum: its pixels are its flux, not copied.
        let r = wanted.start as usize;
        let name = names.as_ref().and_then(|n| n.names.get(r).cloned()).filter(|n| !n.is_empty());
        let label = names.as_ref().and_then(|n| n.labels.get(r).cloned()).filter(|l| !l.is_empty()).or(label);
        let mut s = layout::spectrum(name, label, wave, pixels, Axis::Wavelength);
        s.object = object;
        return Ok(vec![s]);
    }
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
#[path = "fits_mutations.rs"]
mod mutations;

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

    /// A file whose image is `kind` with `keys` (numbers and strings) written after the pixels
    /// (so cfitsio stores `raw` as given, unscaled), in the primary HDU or an IMAGE extension;
    /// DC-FLAG as an integer.
    fn raw_image<T: fitsio::images::WriteImage>(
        dir: &Path,
        name: &str,
        (kind, dims, extension): (ImageType, &[usize], bool),
        numbers: &[(&str, f64)],
        texts: &[(&str, &str)],
        raw: &[T],
    ) -> std::path::PathBuf {
        let path = dir.join(name);
        let desc = ImageDescription { data_type: kind, dimensions: dims };
        let mut f = if extension {
            let mut f = FitsFile::create(&path).open().unwrap();
            f.primary_hdu().unwrap().write_key(&mut f, "OBJECT", "from the primary").unwrap();
            f
        } else {
            FitsFile::create(&path).with_custom_primary(&desc).open().unwrap()
        };
        let hdu = if extension { f.create_image("SPEC", &desc).unwrap() } else { f.primary_hdu().unwrap() };
        hdu.write_image(&mut f, raw).unwrap();
        for (k, v) in numbers {
            match *k {
                "DC-FLAG" => hdu.write_key(&mut f, k, *v as i64).unwrap(),
                _ => hdu.write_key(&mut f, k, *v).unwrap(),
            }
        }
        for (k, v) in texts {
            hdu.write_key(&mut f, k, *v).unwrap();
        }
        path
    }

    #[test]
    fn plain_images_read_without_cfitsio_give_what_cfitsio_gives() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::new(1 << 24);
        let wcs = [("CRVAL1", 6500.25), ("CDELT1", 0.125), ("CRPIX1", 3.0)];
        let scaled = [("CRVAL1", 3.6), ("CDELT1", 1e-4), ("DC-FLAG", 1.0), ("BSCALE", 0.37), ("BZERO", -12.5)];
        let floats: Vec<f32> =
            (0..60).map(|i| if i == 7 { f32::NAN } else { (i as f32 * 0.731).sin() * 1e3 }).collect();
        let doubles: Vec<f64> = (0..60).map(|i| (i as f64 * 0.517).cos() * 1e-3 + 1.0 / 3.0).collect();
        let shorts: Vec<i16> = (0..60i64).map(|i| (i * 997 % 65_536 - 32_768) as i16).collect();
        let longs: Vec<i32> = (0..60i64).map(|i| (i * 71_234_567 - 2_000_000_000) as i32).collect();
        let label = [("CLASS", "  emission "), ("CTYPE1", "WAVE")];
        let files = [
            raw_image(dir.path(), "f32.fits", (ImageType::Float, &[60], false), &wcs, &label, &floats[..]),
            raw_image(dir.path(), "f32x2.fits", (ImageType::Float, &[3, 20], true), &scaled, &[], &floats[..]),
            raw_image(dir.path(), "f64.fits", (ImageType::Double, &[60], true), &wcs, &label, &doubles[..]),
            raw_image(dir.path(), "i16.fits", (ImageType::Short, &[2, 30], false), &scaled, &label, &shorts[..]),
            raw_image(dir.path(), "i32.fits", (ImageType::Long, &[60], false), &scaled, &[], &longs[..]),
            raw_image(
                dir.path(),
                "log.fits",
                (ImageType::Float, &[60], false),
                &wcs,
                &[("CTYPE1", "WAVE-LOG")],
                &floats[..],
            ),
        ];
        let (_, gzip) = structure(&files[0], &budget).unwrap();
        assert!(gzip.is_some());
        for path in &files {
            let (hdus, _) = structure(path, &budget).unwrap();
            let image =
                hdus.iter().find(|h| matches!(&h.body, Body::Image { shape, .. } if !shape.is_empty())).unwrap();
            let Body::Image { shape, .. } = &image.body else { unreachable!() };
            assert!(plain::Image::of(&hdus, image, shape[0]).is_some(), "{} is read without cfitsio", path.display());
            let ours = read_with(path, &budget, Rows::All, true).unwrap();
            let theirs = read_with(path, &budget, Rows::All, false).unwrap();
            // Bit for bit (NaN included): the same conversion of the same bytes.
            let bits = |s: &[Spectrum]| -> Vec<String> {
                s.iter()
                    .map(|s| {
                        let flux: Vec<u32> = s.flux.iter().map(|v| v.to_bits()).collect();
                        let wave: Vec<u64> = s.wave.iter().map(|v| v.to_bits()).collect();
                        format!("{flux:?} {wave:?} {:?} {:?}", s.label, s.object)
                    })
                    .collect()
            };
            assert_eq!(bits(&ours), bits(&theirs), "{}", path.display());
            let one = |plain| read_with(path, &budget, Rows::One(1), plain).map(|s| bits(&s)).map_err(|e| e.text);
            assert_eq!(one(true), one(false), "{}", path.display());
        }
    }

    #[test]
    fn headers_cfitsio_might_read_differently_are_left_to_cfitsio() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::new(1 << 20);
        let plain = |path: &Path| {
            let (hdus, _) = structure(path, &budget).unwrap();
            plain::Image::of(&hdus, &hdus[0], 4).is_some()
        };
        let values = [1.0f32, 2.0, 3.0, 4.0];
        let keys = [("CRVAL1", 6500.0), ("CDELT1", 0.5)];
        let ok = raw_image(dir.path(), "ok.fits", (ImageType::Float, &[4], false), &keys, &[], &values[..]);
        assert!(plain(&ok));
        let bytes = std::fs::read(&ok).unwrap();
        let edit = |name: &str, from: &str, to: &str| {
            let (from, to) = (format!("{from:<80}"), format!("{to:<80}"));
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let at = text.find(&from[..from.trim_end().len()]).unwrap();
            let mut changed = bytes.clone();
            changed[at..at + 80].copy_from_slice(to.as_bytes());
            let path = dir.path().join(name);
            std::fs::write(&path, changed).unwrap();
            path
        };
        let card = |key: &str| {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let at = text.find(&format!("{key:<8}=")).unwrap();
            text[at..at + 80].to_string()
        };
        let crval = card("CRVAL1");
        let fortran = edit("fortran.fits", &crval, "CRVAL1  =               6.5D03");
        let lower = edit("lower.fits", &crval, "crval1  =               6500.0");
        let duplicate = edit("duplicate.fits", &card("CDELT1"), "CRVAL1  =               6400.0");
        let bitpix_late = {
            let mut b = bytes.clone();
            let (bitpix, naxis) = (80, 160);
            let swapped: Vec<u8> = [&b[naxis..naxis + 80], &b[bitpix..bitpix + 80]].concat();
            b[bitpix..naxis + 80].copy_from_slice(&swapped);
            let path = dir.path().join("order.fits");
            std::fs::write(&path, b).unwrap();
            path
        };
        for path in [&fortran, &lower, &duplicate, &bitpix_late] {
            assert!(!plain(path), "{} goes to cfitsio", path.display());
            let ours = read(path, &budget, Rows::All).map(|s| s[0].wave.to_vec()).map_err(|e| e.text);
            let theirs = read_with(path, &budget, Rows::All, false).map(|s| s[0].wave.to_vec()).map_err(|e| e.text);
            assert_eq!(ours, theirs, "{}", path.display());
        }
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
