//! The ML algorithms against scikit-learn on the same seeded spectra, in the same run: k-means
//! inertia within 1% of scikit-learn's best of the same restarts, PCA explained variances equal to
//! 10⁻⁶ relative (against its exact `svd_solver="full"`), random-forest cross-validated accuracy
//! within 1 point on the same folds, LOF scores ranked alike (Spearman ≥ 0.99), and the isolation
//! forest finding the planted outliers as well as scikit-learn's. Tolerances, not exact floats.
//!
//! Needs numpy, scipy and scikit-learn (VOCLOUD_TEST_PYTHON, set up by `./x setup --test`).

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::Array2;
use serde_json::Value;
use vocloud_workers::Failure;
use vocloud_workers::ml::{cv, distance::Centred, forest, iforest, kmeans, knn, lof, pca, silhouette};

const N: usize = 4000;
const D: usize = 240;
const PLANTED: usize = 20;

fn python() -> String {
    std::env::var("VOCLOUD_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ml_reference.py")
}

fn no_abort() -> Result<(), Failure> {
    Ok(())
}

struct Set {
    dir: tempfile::TempDir,
    x: Array2<f32>,
    y: Vec<u16>,
}

fn generate(tag: &str) -> Set {
    let dir = tempfile::Builder::new().prefix(&format!("vocloud-ml-{tag}")).tempdir().unwrap();
    let status = Command::new(python())
        .arg(script())
        .args(["generate", dir.path().to_str().unwrap(), &N.to_string(), &D.to_string(), "11", &PLANTED.to_string()])
        .status()
        .expect("python");
    assert!(status.success(), "generating spectra failed");
    let raw = std::fs::read(dir.path().join("x.f32")).unwrap();
    let x = Array2::from_shape_vec(
        (N, D),
        raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
    )
    .unwrap();
    let y = std::fs::read(dir.path().join("y.u8")).unwrap().into_iter().map(u16::from).collect();
    Set { dir, x, y }
}

fn write_f64(path: PathBuf, values: impl Iterator<Item = f64>) {
    std::fs::write(path, values.flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
}

fn sklearn(set: &Set, algo: &str, opts: &[&str]) -> Value {
    let out = Command::new(python())
        .arg(script())
        .args(["sklearn", set.dir.path().to_str().unwrap(), &N.to_string(), &D.to_string(), algo])
        .args(opts)
        .output()
        .expect("python");
    assert!(out.status.success(), "scikit-learn {algo}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn kmeans_inertia_is_within_one_percent_of_scikit_learn_and_the_silhouette_agrees() {
    let set = generate("kmeans");
    let fit = kmeans::fit(set.x.view(), &kmeans::Config { k: 5, n_init: 3, seed: 2, ..Default::default() }, &no_abort)
        .unwrap();
    write_f64(set.dir.path().join("labels.f64"), fit.labels.iter().map(|&l| l as f64));
    let theirs = sklearn(&set, "kmeans", &["k=5", "n_init=3", "seed=2", "silhouette=1"]);
    let best = theirs["inertia"].as_f64().unwrap();
    assert!(fit.inertia <= 1.01 * best, "ours {} vs scikit-learn {best}", fit.inertia);
    let ours = silhouette::score(&Centred::new(set.x.view()), &fit.labels, 5, &(0..N).collect::<Vec<_>>()).unwrap();
    let reference = theirs["silhouette_of_ours"].as_f64().unwrap();
    assert!((ours - reference).abs() < 1e-3, "silhouette {ours} vs scikit-learn {reference}");
}

#[test]
fn pca_explained_variance_equals_scikit_learn_to_1e_6() {
    let set = generate("pca");
    let k = 8;
    let fit = pca::fit(set.x.view(), &pca::Config { components: k, seed: 0 }, &no_abort).unwrap();
    let theirs = sklearn(&set, "pca", &[&format!("components={k}")]);
    for key in ["explained_variance", "explained_variance_ratio"] {
        let reference: Vec<f64> = theirs[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let ours = if key == "explained_variance" { &fit.explained_variance } else { &fit.explained_variance_ratio };
        for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
            assert!(((a - b) / b).abs() < 1e-6, "{key}[{i}]: ours {a} vs scikit-learn {b}");
        }
    }
    // The leading components are the same directions (signs may differ).
    let raw = std::fs::read(set.dir.path().join("sk_components.f64")).unwrap();
    let sk: Vec<f64> = raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
    for i in 0..4 {
        let dot: f64 = fit.components.row(i).iter().zip(&sk[i * D..(i + 1) * D]).map(|(a, b)| a * b).sum();
        assert!(dot.abs() > 1.0 - 1e-6, "component {i}: |cos| = {}", dot.abs());
    }
}

#[test]
fn random_forest_cross_validated_accuracy_is_within_one_point_of_scikit_learn() {
    let set = generate("forest");
    let classes = 5;
    let labels: Vec<Option<u16>> = set.y.iter().map(|&l| Some(l)).collect();
    let folds: Vec<usize> = cv::stratified_folds(&labels, classes, 5, 4).into_iter().map(Option::unwrap).collect();
    write_f64(set.dir.path().join("folds.f64"), folds.iter().map(|&f| f as f64));
    let mut confusion = cv::Confusion::new(classes);
    for f in 0..5 {
        let train: Vec<usize> = (0..N).filter(|&i| folds[i] != f).collect();
        let test: Vec<usize> = (0..N).filter(|&i| folds[i] == f).collect();
        let config = forest::Config { trees: 100, seed: f as u64, ..Default::default() };
        let model = forest::fit(set.x.view(), &set.y, classes, &train, &config, &no_abort).unwrap();
        for (&i, &p) in test.iter().zip(&forest::argmax(&model.predict_proba(set.x.view(), &test), classes)) {
            confusion.add(set.y[i], p);
        }
    }
    let theirs = sklearn(&set, "forest", &["trees=100"])["cv_accuracy"].as_f64().unwrap();
    let ours = confusion.accuracy();
    assert!(theirs > 0.5, "the set must be well above chance (0.2): scikit-learn {theirs}");
    assert!((ours - theirs).abs() <= 0.01, "cross-validated accuracy: ours {ours} vs scikit-learn {theirs}");
}

#[test]
fn lof_scores_rank_like_scikit_learn_and_the_isolation_forest_finds_the_planted_outliers() {
    let set = generate("outliers");
    let neighbours = knn::all(set.x.view(), 20, &no_abort).unwrap();
    write_f64(set.dir.path().join("lof.f64"), lof::scores(&neighbours).into_iter());
    let theirs = sklearn(&set, "lof", &["neighbors=20"]);
    let rho = theirs["spearman"].as_f64().unwrap();
    assert!(rho >= 0.99, "LOF Spearman {rho}");

    let scores =
        iforest::scores(set.x.view(), &iforest::Config { trees: 200, subsample: 256, seed: 1 }, &no_abort).unwrap();
    write_f64(set.dir.path().join("iforest.f64"), scores.into_iter());
    let theirs = sklearn(&set, "iforest", &["trees=200", "seed=1"]);
    let (ours, reference) =
        (theirs["planted_in_top_ours"].as_f64().unwrap(), theirs["planted_in_top_theirs"].as_f64().unwrap());
    assert!(ours >= reference - 0.1, "planted outliers among the top {PLANTED}: ours {ours}, scikit-learn {reference}");
    assert!(theirs["spearman"].as_f64().unwrap() > 0.8, "{theirs}");
}
