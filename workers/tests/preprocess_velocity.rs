//! `preprocess` with radial velocities from a catalogue column (`velocity=FILE#COLUMN`) on FITS
//! spectra and catalogues written by astropy: each row of matrix.fits must be the file's flux
//! interpolated at λ_obs = λ_rest · (1 + v/c), i.e. on the rest-frame wavelengths
//! λ_rest = λ_obs / (1 + v/c), computed here by hand; an unknown column is refused naming the
//! column and the file, at creation and in the run.
//!
//! Needs astropy and numpy (VOCLOUD_TEST_PYTHON, set by `./x test`); without that variable the
//! test prints a note and passes, so a bare `cargo test` still runs everywhere.

use std::path::Path;
use std::process::Command;

use vocloud_workers::{CancelToken, Failure, JobContext, Registry};

const C_KM_S: f64 = 299_792.458;
/// (file, velocity km/s, CRVAL1, CDELT1) of the spectra the script writes.
const SPECTRA: [(&str, f64, f64, f64); 3] =
    [("s0.fits", -120.0, 6500.0, 0.5), ("s1.fits", 0.0, 6498.25, 0.4), ("s2.fits", 2500.0, 6510.0, 0.6)];

/// Writes the spectra of [`SPECTRA`] (a line at rest 6563 Å seen at 6563·(1 + v/c), float32,
/// linear WCS with CRPIX1 = 1) under `spectra/`, the catalogue as `rv.csv` and `rv.vot`
/// (columns `file` and `vrad`), and the spectra again as one wide table with its own `vrad`
/// column (`wide.csv`, `wide.vot`).
const WRITE: &str = r#"
import sys, numpy as np
from astropy.io import fits
from astropy.table import Table
root = sys.argv[1]
c = 299792.458
spectra = [("s0.fits", -120.0, 6500.0, 0.5), ("s1.fits", 0.0, 6498.25, 0.4), ("s2.fits", 2500.0, 6510.0, 0.6)]
for name, v, crval, cdelt in spectra:
    wave = crval + cdelt * np.arange(400)
    flux = 2.0 + 0.001 * (wave - 6500.0) - 0.8 * np.exp(-0.5 * ((wave - 6563.0 * (1 + v / c)) / 2.0) ** 2)
    hdu = fits.PrimaryHDU(flux.astype(np.float32))
    hdu.header.update(CTYPE1="WAVE", CRPIX1=1.0, CRVAL1=crval, CDELT1=cdelt)
    hdu.writeto(f"{root}/spectra/{name}")
t = Table({"file": [s[0] for s in spectra], "vrad": [s[1] for s in spectra]})
t.write(f"{root}/rv.csv", format="ascii.csv")
t.write(f"{root}/rv.vot", format="votable")
# The same spectra in one wide table (one per row, columns named by their wavelengths, all on
# 6500 + 0.5 i Å), with their velocities in a column of the same table.
wave = 6500.0 + 0.5 * np.arange(400)
wide = Table()
wide["name"] = [s[0] for s in spectra]
wide["vrad"] = [s[1] for s in spectra]
for w in wave:
    wide[f"{w:.1f}"] = [2.0 + 0.001 * (w - 6500.0) - 0.8 * np.exp(-0.5 * ((w - 6563.0 * (1 + v / c)) / 2.0) ** 2)
                        for _, v, _, _ in spectra]
wide.write(f"{root}/wide.csv", format="ascii.csv")
wide.write(f"{root}/wide.vot", format="votable")
"#;

/// A user folder holding what [`WRITE`] writes; None (with a note) without VOCLOUD_TEST_PYTHON,
/// so that `test` is skipped.
fn written_by_astropy(test: &str) -> Option<tempfile::TempDir> {
    let Ok(python) = std::env::var("VOCLOUD_TEST_PYTHON") else {
        eprintln!("note: VOCLOUD_TEST_PYTHON is not set; skipping the astropy {test} test");
        return None;
    };
    let user = tempfile::tempdir().unwrap();
    std::fs::create_dir(user.path().join("spectra")).unwrap();
    let out = Command::new(python).args(["-c", WRITE]).arg(user.path()).output().expect("running python");
    assert!(out.status.success(), "astropy failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(user)
}

fn context(user: &Path) -> (tempfile::TempDir, JobContext) {
    let dir = tempfile::tempdir().unwrap();
    let job_dir = dir.path().join("job");
    std::fs::create_dir(&job_dir).unwrap();
    let ctx = JobContext::new(&job_dir, 1, user, "test".into(), CancelToken::new());
    ctx.create_dirs().unwrap();
    (dir, ctx)
}

/// Row-major pixels of the primary image of `path`, and the WAVELENGTH extension.
fn matrix(path: &Path) -> (Vec<f32>, Vec<f64>) {
    let mut f = fitsio::FitsFile::open(path).unwrap();
    let rows: Vec<f32> = f.primary_hdu().unwrap().read_image(&mut f).unwrap();
    let grid: Vec<f64> = f.hdu("WAVELENGTH").unwrap().read_image(&mut f).unwrap();
    (rows, grid)
}

/// The flux of a file at rest wavelength `w`: its float32 pixels (as the file holds them) on
/// λ_rest = λ_obs / (1 + v/c), linearly interpolated.
fn by_hand(user: &Path, (name, v, crval, cdelt): (&str, f64, f64, f64), w: f64) -> f64 {
    let mut f = fitsio::FitsFile::open(user.join("spectra").join(name)).unwrap();
    let flux: Vec<f32> = f.primary_hdu().unwrap().read_image(&mut f).unwrap();
    let rest: Vec<f64> = (0..flux.len()).map(|i| (crval + cdelt * i as f64) / (1.0 + v / C_KM_S)).collect();
    let at = rest.iter().position(|&r| r >= w).unwrap();
    if rest[at] == w {
        return flux[at] as f64;
    }
    let t = (w - rest[at - 1]) / (rest[at] - rest[at - 1]);
    flux[at - 1] as f64 + t * (flux[at] as f64 - flux[at - 1] as f64)
}

#[test]
fn preprocess_shifts_each_spectrum_by_its_catalogue_velocity() {
    let Some(user) = written_by_astropy("velocity-catalogue") else { return };
    let kind = Registry::builtin().get("preprocess").expect("registered");

    for catalogue in ["rv.csv", "rv.vot"] {
        let raw: Vec<(String, String)> = [
            ("input", "spectra".to_string()),
            ("velocity", format!("{catalogue}#vrad")),
            ("wave_min", "6520".into()),
            ("wave_max", "6620".into()),
            ("bins", "201".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let params = kind.validate(&raw).unwrap();
        kind.check_inputs(&params, user.path()).unwrap();
        let (_dir, ctx) = context(user.path());
        kind.run(&params, &ctx).unwrap_or_else(|e| panic!("{catalogue}: {e}"));

        let (rows, grid) = matrix(&ctx.results_dir.join("matrix.fits"));
        assert_eq!((rows.len(), grid.len()), (3 * 201, 201));
        for (g, &w) in grid.iter().enumerate() {
            assert!((w - (6520.0 + 0.5 * g as f64)).abs() < 1e-9, "grid point {g}: {w}");
        }
        for (r, spectrum) in SPECTRA.iter().enumerate() {
            for (g, &w) in grid.iter().enumerate() {
                let (got, want) = (rows[r * 201 + g] as f64, by_hand(user.path(), *spectrum, w));
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs(),
                    "{catalogue} {} at {w} Å: {got} vs {want}",
                    spectrum.0
                );
            }
            // The line, seen at 6563·(1 + v/c), is back at 6563 Å (grid point 86) in every row.
            let row = &rows[r * 201..(r + 1) * 201];
            let deepest = (0..201).min_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            assert_eq!(deepest, 86, "{catalogue} {}", spectrum.0);
        }
        let index = std::fs::read_to_string(ctx.results_dir.join("index.vot")).unwrap();
        assert!(index.contains("<TD>s2.fits</TD><TD></TD><TD>2</TD><TD>2500.0</TD>"), "{index}");
    }

    let raw: Vec<(String, String)> = [("input", "spectra"), ("velocity", "rv.csv#v_helio")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let params = kind.validate(&raw).unwrap();
    let refused = kind.check_inputs(&params, user.path()).unwrap_err().to_string();
    assert!(refused.contains("rv.csv: no column 'v_helio' (the columns are: file, vrad)"), "{refused}");
    let (_dir, ctx) = context(user.path());
    match kind.run(&params, &ctx) {
        Err(Failure::Fatal(summary)) => {
            assert_eq!(summary, "rv.csv: no column 'v_helio' (the columns are: file, vrad)")
        }
        other => panic!("expected a fatal error, got {other:?}"),
    }
}

/// A wide table (one spectrum per row) carrying its own `vrad` column: the column is not read
/// as flux, and `velocity=TABLE#vrad` on the input itself puts every row in its rest frame. The
/// line of the 2,500 km/s spectrum sits 55 Å (110 grid points) off 6563 Å without the shift.
#[test]
fn a_wide_table_gives_its_own_velocities() {
    let Some(user) = written_by_astropy("wide-table velocity") else { return };
    let kind = Registry::builtin().get("preprocess").expect("registered");
    let deepest_points = |table: &str, velocity: Option<String>| -> Vec<usize> {
        let mut raw: Vec<(String, String)> =
            [("input", table), ("wave_min", "6520"), ("wave_max", "6620"), ("bins", "201")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        raw.extend(velocity.map(|v| ("velocity".to_string(), v)));
        let params = kind.validate(&raw).unwrap();
        kind.check_inputs(&params, user.path()).unwrap();
        let (_dir, ctx) = context(user.path());
        kind.run(&params, &ctx).unwrap_or_else(|e| panic!("{table}: {e}"));
        let (rows, _) = matrix(&ctx.results_dir.join("matrix.fits"));
        assert_eq!(rows.len(), 3 * 201, "{table}: three spectra, the vrad column not among the fluxes");
        (0..3)
            .map(|r| {
                let row = &rows[r * 201..(r + 1) * 201];
                (0..201).min_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap()
            })
            .collect()
    };
    for table in ["wide.csv", "wide.vot"] {
        // In the rest frame the line is at 6563 Å, grid point 86, within a point in every row.
        for (r, &at) in deepest_points(table, Some(format!("{table}#vrad"))).iter().enumerate() {
            assert!(at.abs_diff(86) <= 1, "{table} row {r}: line at grid point {at}");
        }
        // Without the velocities the fast one's line stays where it was observed.
        let observed = deepest_points(table, None);
        assert!(observed[2] > 180, "{table}: the 2,500 km/s line unshifted at {}", observed[2]);
    }
}
