//! The ML kinds on FITS files written by astropy, as users' archives are: 1-D spectra (float32
//! and float64, one gzipped) through `preprocess` into `kmeans`, and a 2-D image with one
//! spectrum per row straight into `pca`.
//!
//! Needs astropy and numpy (VOCLOUD_TEST_PYTHON, set by `./x test`); without that variable the
//! test prints a note and passes, so a bare `cargo test` still runs everywhere.

use std::path::Path;
use std::process::Command;

use vocloud_workers::{CancelToken, JobContext, Outputs, Registry};

/// Writes `spectra/` (24 1-D spectra of three classes, CLASS keyword) and `image.fits`
/// (the same 24 as rows of one image) under the folder given as argument.
const WRITE: &str = r#"
import sys, numpy as np
from astropy.io import fits
root = sys.argv[1]
classes = ["absorption", "emission", "weak"]
rows = []
for i in range(24):
    wave = 6400.0 + np.arange(300)
    depth = [0.6, -0.4, 0.2][i % 3]
    flux = 1.0 - depth * np.exp(-0.5 * ((wave - 6550.0) / 4.0) ** 2) + 0.01 * ((i * 7 + np.arange(300) * 13) % 11)
    rows.append(flux)
    data = flux.astype(np.float32 if i % 2 else np.float64)
    hdu = fits.PrimaryHDU(data)
    hdu.header.update(CTYPE1="WAVE", CRPIX1=1.0, CRVAL1=6400.0, CDELT1=1.0, CUNIT1="Angstrom", CLASS=classes[i % 3])
    name = f"{root}/spectra/a{i:02d}.fits" + (".gz" if i == 5 else "")
    hdu.writeto(name)
image = fits.PrimaryHDU(np.array(rows, dtype=np.float32))
image.header.update(CTYPE1="WAVE", CRPIX1=1.0, CRVAL1=6400.0, CDELT1=1.0)
image.writeto(f"{root}/image.fits")
"#;

fn job(user: &Path, kind: &str, raw: &[(&str, &str)]) -> (tempfile::TempDir, JobContext, Outputs) {
    let kind = Registry::builtin().get(kind).expect("registered");
    let raw: Vec<(String, String)> = raw.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let params = kind.validate(&raw).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job_dir = dir.path().join("job");
    std::fs::create_dir(&job_dir).unwrap();
    let ctx = JobContext::new(&job_dir, 1, user, "test".into(), CancelToken::new());
    ctx.create_dirs().unwrap();
    let outputs = kind.run(&params, &ctx).unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
    (dir, ctx, outputs)
}

fn rows(ctx: &JobContext, file: &str) -> usize {
    std::fs::read_to_string(ctx.results_dir.join(file)).unwrap().matches("<TR>").count()
}

#[test]
fn ml_kinds_read_what_astropy_writes() {
    let Ok(python) = std::env::var("VOCLOUD_TEST_PYTHON") else {
        eprintln!("note: VOCLOUD_TEST_PYTHON is not set; skipping the astropy FITS test of the ML kinds");
        return;
    };
    let user = tempfile::tempdir().unwrap();
    std::fs::create_dir(user.path().join("spectra")).unwrap();
    let out = Command::new(python).args(["-c", WRITE]).arg(user.path()).output().expect("running python");
    assert!(out.status.success(), "astropy failed: {}", String::from_utf8_lossy(&out.stderr));

    let (_d, ctx, _) = job(user.path(), "preprocess", &[("input", "spectra"), ("normalize", "max")]);
    assert_eq!(rows(&ctx, "index.vot"), 24);
    std::fs::copy(ctx.results_dir.join("matrix.fits"), user.path().join("matrix.fits")).unwrap();
    let (_d, ctx, _) = job(user.path(), "kmeans", &[("input", "matrix.fits"), ("k", "3")]);
    assert_eq!(rows(&ctx, "clusters.vot"), 24);
    let clusters = std::fs::read_to_string(ctx.results_dir.join("clusters.vot")).unwrap();
    assert!(clusters.contains("<TD>a05.fits.gz</TD><TD>weak</TD>"), "names and CLASS labels survive preprocess");

    let (_d, ctx, _) = job(user.path(), "pca", &[("input", "image.fits"), ("components", "2")]);
    assert_eq!(rows(&ctx, "projections.vot"), 24);
}
