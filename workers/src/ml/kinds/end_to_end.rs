//! The ML kinds as jobs: validated and estimated through [`crate::Registry::builtin`], run on a
//! [`JobContext`] over a user folder of FITS spectra, and on a preprocess job's `matrix.fits`.
//! Assertions are on properties (row counts, files, labels in range, error messages), never on
//! exact floats or tie-breaks.

use std::path::Path;

use fitsio::images::{ImageDescription, ImageType};
use serde_json::Value;

use crate::{CancelToken, Failure, JobContext, Outputs, Registry};

const CLASSES: [&str; 3] = ["absorption", "emission", "weak"];

/// A 1-D FITS spectrum with a linear WCS, a CLASS and a VHELIO keyword.
fn write_fits(path: &Path, crval: f64, flux: &[f32], class: &str, velocity: f64) {
    let dims = [flux.len()];
    let desc = ImageDescription { data_type: ImageType::Float, dimensions: &dims };
    let mut f = fitsio::FitsFile::create(path).with_custom_primary(&desc).open().unwrap();
    let hdu = f.primary_hdu().unwrap();
    hdu.write_image(&mut f, flux).unwrap();
    hdu.write_key(&mut f, "CTYPE1", "WAVE").unwrap();
    hdu.write_key(&mut f, "CRPIX1", 1.0).unwrap();
    hdu.write_key(&mut f, "CRVAL1", crval).unwrap();
    hdu.write_key(&mut f, "CDELT1", 1.0).unwrap();
    hdu.write_key(&mut f, "CLASS", class).unwrap();
    hdu.write_key(&mut f, "VHELIO", velocity).unwrap();
}

/// `n` spectra of three line shapes in `folder` of the user's storage, 300 pixels from about
/// 6400 Å, on three slightly shifted grids.
fn spectra_folder(user: &Path, folder: &str, n: usize) {
    let dir = user.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        let crval = 6400.0 + 0.25 * (i % 3) as f64;
        let depth = [0.6f32, -0.4, 0.2][i % 3];
        let flux: Vec<f32> = (0..300)
            .map(|j| {
                let u = (crval as f32 + j as f32 - 6550.0) / 4.0;
                2.0 * (1.0 - depth * (-0.5 * u * u).exp()) + 0.01 * ((i * 7 + j * 13) % 11) as f32
            })
            .collect();
        write_fits(&dir.join(format!("s{i:02}.fits")), crval, &flux, CLASSES[i % 3], 10.0);
    }
}

/// A job of `kind` over `user`'s storage: parameters validated and checked as the master does,
/// the memory estimate made, then run. Returns the job folder's guard, its context and outcome.
fn job(
    user: &Path,
    kind: &str,
    raw: &[(&str, &str)],
    settings: &[(&str, &str)],
) -> (tempfile::TempDir, JobContext, Result<Outputs, Failure>) {
    let kind = Registry::builtin().get(kind).expect("registered");
    let raw: Vec<(String, String)> = raw.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let params = kind.validate(&raw).unwrap();
    kind.check_inputs(&params, user).unwrap();
    let resources = kind.resources(&params, user);
    let mb = resources.memory_mb.expect("an estimate");
    assert!(mb < 1024, "{} on a small input: {mb} MiB ({})", kind.name(), resources.basis);
    let dir = tempfile::tempdir().unwrap();
    let job_dir = dir.path().join("job");
    std::fs::create_dir(&job_dir).unwrap();
    let mut ctx = JobContext::new(&job_dir, 1, user, "test".into(), CancelToken::new());
    for (key, value) in settings {
        ctx = ctx.with_setting(key, *value);
    }
    ctx.create_dirs().unwrap();
    let outcome = kind.run(&params, &ctx);
    (dir, ctx, outcome)
}

fn rows(ctx: &JobContext, file: &str) -> usize {
    std::fs::read_to_string(ctx.results_dir.join(file)).unwrap().matches("<TR>").count()
}

fn summary(ctx: &JobContext, file: &str) -> Value {
    serde_json::from_slice(&std::fs::read(ctx.results_dir.join(file)).unwrap()).unwrap()
}

fn fatal(outcome: Result<Outputs, Failure>) -> String {
    match outcome {
        Err(Failure::Fatal(message)) => message,
        other => panic!("expected a fatal failure, got {other:?}"),
    }
}

/// kmeans, pca, outliers and classify on `input`, which holds `n` spectra of three classes.
fn every_matrix_kind(user: &Path, input: &str, n: usize) {
    let (_d, ctx, outcome) = job(user, "kmeans", &[("input", input), ("k", "3"), ("n_init", "2")], &[]);
    outcome.unwrap();
    assert_eq!(rows(&ctx, "clusters.vot"), n);
    let counts = summary(&ctx, "kmeans.json")["counts"].clone();
    let counts: Vec<u64> = counts.as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect();
    assert_eq!((counts.len(), counts.iter().sum::<u64>()), (3, n as u64), "every spectrum in one of k clusters");
    let clusters = std::fs::read_to_string(ctx.results_dir.join("clusters.vot")).unwrap();
    assert!(clusters.contains("<TD>s07.fits</TD><TD>emission</TD>"), "names and labels kept");

    let (_d, ctx, outcome) = job(user, "pca", &[("input", input), ("components", "3")], &[]);
    let names: Vec<String> = outcome.unwrap().results.into_iter().map(|r| r.name).collect();
    assert!(names.iter().any(|n| n == "components.fits"), "{names:?}");
    assert_eq!(rows(&ctx, "projections.vot"), n);
    assert_eq!(summary(&ctx, "pca.json")["components"], 3);

    let raw = [("input", input), ("neighbors", "5"), ("top", "4"), ("subsample", "16")];
    let (_d, ctx, outcome) = job(user, "outliers", &raw, &[]);
    outcome.unwrap();
    assert_eq!((rows(&ctx, "scores.vot"), rows(&ctx, "top.vot")), (n, 4));

    let raw = [("input", input), ("trees", "20"), ("folds", "3")];
    let (_d, ctx, outcome) = job(user, "classify", &raw, &[]);
    outcome.unwrap();
    let s = summary(&ctx, "classify.json");
    assert_eq!((s["labelled"].as_u64(), s["classes"].as_array().map(Vec::len)), (Some(n as u64), Some(3)), "{s}");
    assert_eq!(rows(&ctx, "predictions.vot"), n);
    // A later job applies the saved model to the same spectra.
    std::fs::copy(ctx.results_dir.join("model.json"), user.join("model.json")).unwrap();
    let (_d, ctx, outcome) = job(user, "classify", &[("input", input), ("model", "model.json")], &[]);
    outcome.unwrap();
    assert_eq!(rows(&ctx, "predictions.vot"), n);
}

#[test]
fn every_kind_runs_on_a_folder_of_fits_spectra() {
    let user = tempfile::tempdir().unwrap();
    spectra_folder(user.path(), "spectra", 30);
    every_matrix_kind(user.path(), "spectra", 30);
}

#[test]
fn preprocess_writes_a_matrix_the_other_kinds_read() {
    let user = tempfile::tempdir().unwrap();
    spectra_folder(user.path(), "spectra", 30);
    let raw = [("input", "spectra"), ("bins", "120"), ("normalize", "median"), ("velocity", "VHELIO")];
    let (_d, ctx, outcome) = job(user.path(), "preprocess", &raw, &[]);
    outcome.unwrap();
    let s = summary(&ctx, "preprocess.json");
    assert_eq!((s["kept"].as_u64(), s["bins"].as_u64()), (Some(30), Some(120)), "{s}");
    assert_eq!(rows(&ctx, "index.vot"), 30);
    std::fs::create_dir(user.path().join("prep")).unwrap();
    std::fs::copy(ctx.results_dir.join("matrix.fits"), user.path().join("prep/matrix.fits")).unwrap();
    let mut f = fitsio::FitsFile::open(user.path().join("prep/matrix.fits")).unwrap();
    let primary = f.primary_hdu().unwrap();
    assert_eq!(primary.read_key::<String>(&mut f, "PPNORM").unwrap(), "median");
    every_matrix_kind(user.path(), "prep/matrix.fits", 30);
}

#[test]
fn impossible_parameters_and_bad_inputs_end_in_clear_errors() {
    let user = tempfile::tempdir().unwrap();
    spectra_folder(user.path(), "few", 6);
    let (_d, _ctx, outcome) = job(user.path(), "kmeans", &[("input", "few"), ("k", "50")], &[]);
    assert!(fatal(outcome).contains("k = 50 clusters but the input holds only 6 spectra"));
    let (_d, _ctx, outcome) = job(user.path(), "pca", &[("input", "few"), ("components", "10")], &[]);
    assert!(fatal(outcome).contains("at most 5"));
    let (_d, _ctx, outcome) = job(user.path(), "outliers", &[("input", "few"), ("neighbors", "6")], &[]);
    assert!(fatal(outcome).contains("6 neighbours"));
    let raw = [("input", "few"), ("features", "100000"), ("trees", "5"), ("folds", "50")];
    let (_d, _ctx, outcome) = job(user.path(), "classify", &raw, &[]);
    outcome.unwrap();
    let raw = [("input", "few"), ("method", "iforest"), ("subsample", "1000"), ("top", "100")];
    let (_d, ctx, outcome) = job(user.path(), "outliers", &raw, &[]);
    outcome.unwrap();
    assert_eq!(rows(&ctx, "top.vot"), 6);

    // Over the deployment's memory budget: refused by the reader, not streamed.
    let budget = [("ml_memory_budget_mb", "0")];
    let (_d, _ctx, outcome) = job(user.path(), "pca", &[("input", "few"), ("components", "2")], &budget);
    assert!(fatal(outcome).contains("memory budget"));

    // A file that is not FITS, a spectrum with no finite flux, an empty folder.
    std::fs::create_dir(user.path().join("bad")).unwrap();
    std::fs::write(user.path().join("bad/junk.fits"), b"not a FITS file at all").unwrap();
    let (_d, _ctx, outcome) = job(user.path(), "kmeans", &[("input", "bad"), ("k", "2")], &[]);
    assert!(fatal(outcome).contains("junk.fits"));
    spectra_folder(user.path(), "nan", 4);
    write_fits(&user.path().join("nan/s99.fits"), 6400.0, &[f32::NAN; 300], "weak", 0.0);
    let (_d, _ctx, outcome) = job(user.path(), "kmeans", &[("input", "nan"), ("k", "2")], &[]);
    assert!(fatal(outcome).contains("s99.fits"));
    std::fs::create_dir(user.path().join("empty")).unwrap();
    let (_d, _ctx, outcome) = job(user.path(), "preprocess", &[("input", "empty")], &[]);
    assert!(fatal(outcome).contains("no spectra"));

    // A velocity keyword that is not there names the file.
    let (_d, _ctx, outcome) = job(user.path(), "preprocess", &[("input", "few"), ("velocity", "VRAD")], &[]);
    assert!(fatal(outcome).contains("no numeric FITS keyword VRAD"));
}

#[test]
fn paths_out_of_the_storage_are_refused_at_creation() {
    let registry = Registry::builtin();
    for kind in ["preprocess", "kmeans", "pca", "classify", "outliers"] {
        let kind = registry.get(kind).expect("listed in /uws");
        let raw = vec![("input".to_string(), "spectra/../../other".to_string())];
        let err = kind.validate(&raw).unwrap_err().to_string();
        assert!(err.contains("not a path inside your storage"), "{}: {err}", kind.name());
    }
    let classify = registry.get("classify").unwrap();
    let raw = vec![("input".to_string(), "a".to_string()), ("model".to_string(), "../b/model.json".to_string())];
    assert!(classify.validate(&raw).unwrap_err().to_string().contains("model"));
}

#[test]
fn absurd_inputs_get_estimates_any_limit_refuses() {
    use super::estimate::Input;
    let huge = Input { bytes: u64::MAX / 2, files: 1 };
    let kmeans = super::kmeans::KmeansParams {
        input: "x".into(),
        k: 10_000,
        n_init: 1,
        max_iter: 1,
        tol: 0.0,
        seed: 0,
        silhouette_sample: 0,
    };
    assert_eq!(super::kmeans::memory_estimate(&kmeans, huge), u64::MAX);
    let pca = super::pca::PcaParams { input: "x".into(), components: 1000, seed: 0 };
    assert_eq!(super::pca::memory_estimate(&pca, huge), u64::MAX);
    let small = Input { bytes: 1 << 20, files: 100 };
    assert!(super::pca::memory_estimate(&pca, small) < 1 << 30);
}
