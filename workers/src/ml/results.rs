//! Writing the ML kinds' result files into the attempt's `results/` folder: FITS matrices with a
//! wavelength WCS (as `som` writes its codebook, so the plot page and TOPCAT/SPLAT open them the
//! same way), VOTables through [`crate::votable`], JSON summaries and PNGs.

use fitsio::images::{ImageDescription, ImageType};

use crate::spectra::{self, SpectraMatrix};
use crate::votable::Table;
use crate::{Failure, JobContext, ResultFile};

/// The result files written so far, in order.
#[derive(Default)]
pub struct Written(pub Vec<ResultFile>);

impl Written {
    fn add(&mut self, name: &str, mime: &str) {
        self.0.push(ResultFile { name: name.into(), mime_type: mime.into() });
    }

    pub fn votable(&mut self, ctx: &JobContext, name: &str, table: &Table) -> Result<(), Failure> {
        ctx.write_result(name, &table.to_bytes())?;
        self.add(name, "application/x-votable+xml");
        Ok(())
    }

    pub fn json(&mut self, ctx: &JobContext, name: &str, value: &serde_json::Value) -> Result<(), Failure> {
        let text = serde_json::to_vec_pretty(value).map_err(|e| Failure::fatal(name, e))?;
        ctx.write_result(name, &text)?;
        self.add(name, "application/json");
        Ok(())
    }

    pub fn png(&mut self, ctx: &JobContext, name: &str, png: Result<Vec<u8>, String>) -> Result<(), Failure> {
        ctx.write_result(name, &png.map_err(|e| Failure::fatal(name, e))?)?;
        self.add(name, "image/png");
        Ok(())
    }

    pub fn bytes(&mut self, ctx: &JobContext, name: &str, mime: &str, bytes: &[u8]) -> Result<(), Failure> {
        ctx.write_result(name, bytes)?;
        self.add(name, mime);
        Ok(())
    }

    /// Spectra on one grid as [`spectra::write_matrix_fits`] writes them (names, labels and
    /// provenance in an INDEX table, so that a later job reading the file gets them back), with
    /// `keys` added to the primary header. Staged in the work folder and renamed into place.
    pub fn spectra_matrix(
        &mut self,
        ctx: &JobContext,
        name: &str,
        m: &SpectraMatrix,
        keys: &[(&str, String, &str)],
    ) -> Result<(), Failure> {
        let staged = ctx.work_dir.join(format!(".{name}.staged"));
        spectra::write_matrix_fits(&staged, m).map_err(Failure::Retryable)?;
        let fail = |e: fitsio::errors::Error| Failure::Retryable(format!("writing {name}: {e}"));
        {
            let mut file = fitsio::FitsFile::edit(&staged).map_err(fail)?;
            let hdu = file.primary_hdu().map_err(fail)?;
            for (key, value, comment) in keys {
                hdu.write_key(&mut file, key, (value.as_str(), *comment)).map_err(fail)?;
            }
        }
        std::fs::rename(&staged, ctx.results_dir.join(name))
            .map_err(|e| Failure::Retryable(format!("writing {name}: {e}")))?;
        self.add(name, "application/fits");
        Ok(())
    }

    /// A rows × D float32 image, one row per spectrum-like vector, with a wavelength WCS on axis 1
    /// when the grid is linear or log-uniform, and the grid itself in a WAVELENGTH extension
    /// always; `keys` are written to the primary header.
    pub fn fits_matrix(
        &mut self,
        ctx: &JobContext,
        name: &str,
        values: &[f32],
        wavelengths: &[f64],
        keys: &[(&str, String, &str)],
    ) -> Result<(), Failure> {
        let d = wavelengths.len();
        let rows = values.len() / d.max(1);
        let tmp = ctx.results_dir.join(format!(".{name}.partial"));
        let _ = std::fs::remove_file(&tmp);
        let fail = |e: fitsio::errors::Error| Failure::Retryable(format!("writing {name}: {e}"));
        {
            let dims = [rows, d];
            let desc = ImageDescription { data_type: ImageType::Float, dimensions: &dims };
            let mut file = fitsio::FitsFile::create(&tmp).with_custom_primary(&desc).open().map_err(fail)?;
            let hdu = file.primary_hdu().map_err(fail)?;
            hdu.write_image(&mut file, values).map_err(fail)?;
            // FITS paper III: linear, or WAVE-LOG with λ = CRVAL1·exp(CDELT1·(p − CRPIX1)/CRVAL1).
            let wcs = match (linear_step(wavelengths), log_step(wavelengths)) {
                (Some(step), _) => Some(("WAVE", step)),
                (None, Some(ln_step)) => Some(("WAVE-LOG", wavelengths[0] * ln_step)),
                _ => None,
            };
            if let Some((ctype, cdelt)) = wcs {
                hdu.write_key(&mut file, "CTYPE1", ctype).map_err(fail)?;
                hdu.write_key(&mut file, "CRPIX1", 1.0).map_err(fail)?;
                hdu.write_key(&mut file, "CRVAL1", wavelengths[0]).map_err(fail)?;
                hdu.write_key(&mut file, "CDELT1", cdelt).map_err(fail)?;
            }
            for (key, value, comment) in keys {
                hdu.write_key(&mut file, key, (value.as_str(), *comment)).map_err(fail)?;
            }
            let wdims = [d];
            let wdesc = ImageDescription { data_type: ImageType::Double, dimensions: &wdims };
            let whdu = file.create_image("WAVELENGTH", &wdesc).map_err(fail)?;
            whdu.write_image(&mut file, wavelengths).map_err(fail)?;
        }
        std::fs::rename(&tmp, ctx.results_dir.join(name))
            .map_err(|e| Failure::Retryable(format!("writing {name}: {e}")))?;
        self.add(name, "application/fits");
        Ok(())
    }
}

/// The step of an evenly spaced grid, if it is one.
pub fn linear_step(wave: &[f64]) -> Option<f64> {
    if wave.len() < 2 {
        return None;
    }
    let step = (wave[wave.len() - 1] - wave[0]) / (wave.len() - 1) as f64;
    wave.iter()
        .enumerate()
        .all(|(i, &w)| (w - (wave[0] + step * i as f64)).abs() <= 1e-9 * w.abs().max(1.0))
        .then_some(step)
}

/// The constant step in ln λ of a log-uniform grid, if it is one.
pub fn log_step(wave: &[f64]) -> Option<f64> {
    if wave.len() < 2 || wave[0] <= 0.0 {
        return None;
    }
    let logs: Vec<f64> = wave.iter().map(|w| w.ln()).collect();
    linear_step(&logs)
}
