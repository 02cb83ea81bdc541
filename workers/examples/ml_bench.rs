//! Runs one ML algorithm of `vocloud_workers::ml` on a raw float32 matrix and prints what it found
//! and how long it took, as JSON; `benches/ml/compare.py` runs scikit-learn on the same matrix in
//! the same run and compares.
//!
//! ```text
//! cargo run --release -p vocloud-workers --example ml_bench -- MATRIX.f32 N D OUT_DIR ALGO [KEY=VALUE…]
//!   ALGO: kmeans (k, n_init, seed) | pca (components) | lof (neighbors) | iforest (trees, seed)
//!         | forest (labels=FILE.u8, trees, folds, seed)
//! ```
//! Array results (labels, scores, projections) go to OUT_DIR as little-endian raw files.

use std::collections::HashMap;
use std::time::Instant;

use ndarray::Array2;
use serde_json::json;
use vocloud_workers::Failure;
use vocloud_workers::ml::{cv, forest, iforest, kmeans, knn, lof, pca};

fn no_abort() -> Result<(), Failure> {
    Ok(())
}

fn write_f64(path: std::path::PathBuf, values: impl Iterator<Item = f64>) {
    let bytes: Vec<u8> = values.flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (path, n, d, out, algo) = (
        &args[1],
        args[2].parse::<usize>().unwrap(),
        args[3].parse::<usize>().unwrap(),
        std::path::PathBuf::from(&args[4]),
        args[5].as_str(),
    );
    let opts: HashMap<&str, &str> = args[6..].iter().filter_map(|a| a.split_once('=')).collect();
    let get = |k: &str, default: usize| opts.get(k).map_or(default, |v| v.parse().unwrap());
    let raw = std::fs::read(path).unwrap();
    let values: Vec<f32> = raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let x = Array2::from_shape_vec((n, d), values).unwrap();
    let started = Instant::now();
    let report = match algo {
        "kmeans" => {
            let config = kmeans::Config {
                k: get("k", 8),
                n_init: get("n_init", 3),
                seed: get("seed", 0) as u64,
                ..Default::default()
            };
            let fit = kmeans::fit(x.view(), &config, &no_abort).unwrap();
            let seconds = started.elapsed().as_secs_f64();
            write_f64(out.join("labels.f64"), fit.labels.iter().map(|&l| l as f64));
            json!({"seconds": seconds, "inertia": fit.inertia, "run_inertias": fit.run_inertias, "iterations": fit.iterations})
        }
        "pca" => {
            let fit =
                pca::fit(x.view(), &pca::Config { components: get("components", 10), seed: 0 }, &no_abort).unwrap();
            let seconds = started.elapsed().as_secs_f64();
            write_f64(out.join("projections.f64"), fit.projections.iter().copied());
            write_f64(out.join("components.f64"), fit.components.iter().copied());
            json!({"seconds": seconds, "explained_variance": fit.explained_variance,
                   "explained_variance_ratio": fit.explained_variance_ratio, "products": fit.products,
                   "max_relative_residual": fit.max_relative_residual})
        }
        "lof" => {
            let neighbours = knn::all(x.view(), get("neighbors", 20), &no_abort).unwrap();
            let scores = lof::scores(&neighbours);
            let seconds = started.elapsed().as_secs_f64();
            write_f64(out.join("lof.f64"), scores.into_iter());
            json!({"seconds": seconds})
        }
        "iforest" => {
            let config = iforest::Config {
                trees: get("trees", 100),
                subsample: get("subsample", 256),
                seed: get("seed", 0) as u64,
            };
            let scores = iforest::scores(x.view(), &config, &no_abort).unwrap();
            let seconds = started.elapsed().as_secs_f64();
            write_f64(out.join("iforest.f64"), scores.into_iter());
            json!({"seconds": seconds})
        }
        "forest" => {
            // Labels from a u8 file; 5-fold stratified CV (folds written for scikit-learn to reuse),
            // then one forest on every row.
            let labels: Vec<u16> = std::fs::read(opts["labels"]).unwrap().into_iter().map(u16::from).collect();
            let classes = *labels.iter().max().unwrap() as usize + 1;
            let config = forest::Config { trees: get("trees", 100), seed: get("seed", 0) as u64, ..Default::default() };
            let k = get("folds", 5);
            let wrapped: Vec<Option<u16>> = labels.iter().map(|&l| Some(l)).collect();
            let folds: Vec<usize> =
                cv::stratified_folds(&wrapped, classes, k, config.seed).into_iter().map(Option::unwrap).collect();
            write_f64(out.join("folds.f64"), folds.iter().map(|&f| f as f64));
            let all: Vec<usize> = (0..n).collect();
            let fit_started = Instant::now();
            let model = forest::fit(x.view(), &labels, classes, &all, &config, &no_abort).unwrap();
            let fit_seconds = fit_started.elapsed().as_secs_f64();
            let nodes: usize = model.trees.iter().map(|t| t.node_count()).sum();
            let cv_started = Instant::now();
            let mut confusion = cv::Confusion::new(classes);
            let mut fold_accuracy = Vec::new();
            for f in 0..k {
                let train: Vec<usize> = all.iter().copied().filter(|&i| folds[i] != f).collect();
                let test: Vec<usize> = all.iter().copied().filter(|&i| folds[i] == f).collect();
                let model = forest::fit(x.view(), &labels, classes, &train, &config, &no_abort).unwrap();
                let predicted = forest::argmax(&model.predict_proba(x.view(), &test), classes);
                let mut fold = cv::Confusion::new(classes);
                for (&i, &p) in test.iter().zip(&predicted) {
                    confusion.add(labels[i], p);
                    fold.add(labels[i], p);
                }
                fold_accuracy.push(fold.accuracy());
            }
            let cv_seconds = cv_started.elapsed().as_secs_f64();
            json!({"fit_seconds": fit_seconds, "cv_seconds": cv_seconds, "seconds": started.elapsed().as_secs_f64(),
                   "cv_accuracy": confusion.accuracy(), "fold_accuracy": fold_accuracy, "nodes": nodes})
        }
        other => panic!("unknown algorithm {other}"),
    };
    println!("{report}");
}
