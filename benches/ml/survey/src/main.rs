//! Survey: linfa / smartcore on the ML shapes vocloud needs (timings only), the measurement behind
//! writing k-means, PCA, the random forest and kNN in workers/src/ml. A standalone crate (its own
//! [workspace]), so its dependencies never enter vocloud's build:
//!
//!   target/pyenv/bin/python workers/tests/ml_reference.py generate /tmp/mldata 20000 2000 1
//!   cargo run --release --manifest-path benches/ml/survey/Cargo.toml --target-dir /tmp/survey -- 20000 2000 kmeans
//!
//! (reads /tmp/mldata/x.f32 and y.u8; ALGO: kmeans | pca | rf-linfa TREES | rf-smartcore TREES | knn QUERIES)
use std::time::Instant;
use linfa::prelude::*;
use ndarray::{Array1, Array2};
use rand::{SeedableRng, rngs::SmallRng};

fn load(n: usize, d: usize) -> (Array2<f64>, Array1<usize>) {
    let raw = std::fs::read("/tmp/mldata/x.f32").unwrap();
    let x: Vec<f64> = raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect();
    let y: Vec<usize> = std::fs::read("/tmp/mldata/y.u8").unwrap().into_iter().map(|v| v as usize).collect();
    (Array2::from_shape_vec((n, d), x).unwrap(), Array1::from(y))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (n, d): (usize, usize) = (args[1].parse().unwrap(), args[2].parse().unwrap());
    let what = args[3].as_str();
    let (x, y) = load(n, d);
    let t = Instant::now();
    match what {
        "kmeans" => {
            let ds = DatasetBase::from(x.clone());
            let m = linfa_clustering::KMeans::params_with_rng(10, SmallRng::seed_from_u64(1)).n_runs(3).max_n_iterations(300).tolerance(1e-4).fit(&ds).unwrap();
            let labels = m.predict(&x);
            let c = m.centroids();
            let inertia: f64 = x.outer_iter().zip(labels.iter()).map(|(r, &l)| (&r - &c.row(l)).mapv(|v| v * v).sum()).sum();
            println!("linfa kmeans k=10 n_runs=3: {:.2} s inertia {inertia:.6e}", t.elapsed().as_secs_f64());
        }
        "pca" => {
            let ds = DatasetBase::from(x.clone());
            let p = linfa_reduction::Pca::params(10).fit(&ds).unwrap();
            println!("linfa pca 10: {:.2} s ev {:?}", t.elapsed().as_secs_f64(), p.explained_variance());
        }
        "rf-linfa" => {
            let trees: usize = args[4].parse().unwrap();
            let ds = DatasetBase::new(x.clone(), y.clone());
            let rng = SmallRng::seed_from_u64(1);
            let m = linfa_ensemble::RandomForestParams::new_fixed_rng(linfa_trees::DecisionTree::params(), rng)
                .ensemble_size(trees).bootstrap_proportion(1.0).feature_proportion((d as f64).sqrt() / d as f64).fit(&ds).unwrap();
            let fit = t.elapsed().as_secs_f64();
            let pred = m.predict(&x);
            let acc = pred.iter().zip(y.iter()).filter(|(a, b)| a == b).count() as f64 / n as f64;
            println!("linfa-ensemble RF {trees} trees: fit {fit:.2} s train acc {acc:.3}");
        }
        "rf-smartcore" => {
            use smartcore::ensemble::random_forest_classifier::*;
            use smartcore::linalg::basic::matrix::DenseMatrix;
            let trees: u16 = args[4].parse().unwrap();
            let xs = DenseMatrix::new(n, d, x.iter().copied().collect(), false).unwrap();
            let ys: Vec<u32> = y.iter().map(|&v| v as u32).collect();
            let m = RandomForestClassifier::fit(&xs, &ys, RandomForestClassifierParameters::default().with_n_trees(trees).with_seed(1)).unwrap();
            let fit = t.elapsed().as_secs_f64();
            let pred = m.predict(&xs).unwrap();
            let acc = pred.iter().zip(ys.iter()).filter(|(a, b)| a == b).count() as f64 / n as f64;
            println!("smartcore RF {trees} trees: fit {fit:.2} s train acc {acc:.3}");
        }
        "knn" => {
            use linfa_nn::{LinearSearch, NearestNeighbour, distance::L2Dist};
            let q: usize = args[4].parse().unwrap();
            let idx = LinearSearch::new().from_batch(&x, L2Dist).unwrap();
            for i in 0..q { let _ = idx.k_nearest(x.row(i), 21).unwrap(); }
            let e = t.elapsed().as_secs_f64();
            println!("linfa-nn linear k=21 for {q} queries: {e:.2} s -> all {n}: {:.1} s", e * n as f64 / q as f64);
            let t = Instant::now();
            let idx = linfa_nn::BallTree::new().from_batch(&x, L2Dist).unwrap();
            let b = t.elapsed().as_secs_f64();
            for i in 0..q { let _ = idx.k_nearest(x.row(i), 21).unwrap(); }
            let e = t.elapsed().as_secs_f64() - b;
            println!("linfa-nn balltree build {b:.2} s, k=21 for {q} queries: {e:.2} s -> all {n}: {:.1} s", e * n as f64 / q as f64);
        }
        _ => panic!(),
    }
}
