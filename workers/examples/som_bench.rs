//! Benchmark driver for the `som` kind, run by `benches/som/compare.py` (which also runs somoclu
//! on the same data and initial codebook). Reads raw little-endian float32 files, trains with
//! somoclu's defaults (batch, Gaussian, compact support, radius min(rows,cols)/2 → 1, linear),
//! and prints one JSON object: seconds per epoch, exact QE/TE, the time of one BMU pass by the
//! GEMM (per kernel of the build) and by a direct difference loop (the alternative), and the
//! sgemm rate of each kernel (OpenBLAS with the `openblas` feature, matrixmultiply).
//!
//! cargo run --release -p vocloud-workers --example som_bench -- DATA N D ROWS COLS EPOCHS INIT OUT

use std::time::Instant;

use rayon::prelude::*;
use vocloud_workers::som::grid::Grid;
use vocloud_workers::som::kernel::{self, Kernel, View};
use vocloud_workers::som::quality;
use vocloud_workers::som::train::{self, Config, Init};
use vocloud_workers::spectra::SpectraMatrix;

fn read_f32(path: &str, count: usize) -> Vec<f32> {
    let bytes = std::fs::read(path).expect("readable input");
    assert_eq!(bytes.len(), count * 4, "{path}: expected {count} float32 values");
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// The direct alternative: explicit f32 differences for every (sample, node), rayon over samples.
fn direct_bmus(data: &SpectraMatrix, w: &[f32], rows: usize) -> Vec<u32> {
    let d = data.bins;
    (0..rows)
        .into_par_iter()
        .map(|i| {
            let x = data.row(i);
            let mut best = (f32::INFINITY, 0u32);
            for (k, wk) in w.chunks(d).enumerate() {
                let dist: f32 = x.iter().zip(wk).map(|(a, b)| (a - b) * (a - b)).sum();
                if dist < best.0 {
                    best = (dist, k as u32);
                }
            }
            best.1
        })
        .collect()
}

/// A kernel's throughput on the BMU shape (X·Wᵀ), split over threads in 512-row blocks like the search.
fn sgemm_rate(kernel: Kernel, data: &SpectraMatrix, w: &[f32]) -> f64 {
    let (d, m) = (data.bins, w.len() / data.bins);
    let started = Instant::now();
    data.flux.par_chunks(512 * d).for_each(|block| {
        let rows = block.len() / d;
        let mut tile = vec![0f32; rows * m];
        let a = View { data: block, row_stride: d, col_stride: 1 };
        kernel::matmul_with(kernel, rows, d, m, a, View { data: w, row_stride: 1, col_stride: d }, &mut tile);
        std::hint::black_box(&tile);
    });
    2.0 * data.n as f64 * m as f64 * d as f64 / started.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, data_path, n, d, rows, cols, epochs, init_path, out_path] = &args[..] else {
        panic!("usage: som_bench DATA N D ROWS COLS EPOCHS INIT OUT");
    };
    let (n, d, rows, cols, epochs): (usize, usize, usize, usize, usize) =
        (n.parse().unwrap(), d.parse().unwrap(), rows.parse().unwrap(), cols.parse().unwrap(), epochs.parse().unwrap());
    let m = rows * cols;
    let data = SpectraMatrix::from_rows(n, d, read_f32(data_path, n * d));
    let w0 = read_f32(init_path, m * d);
    let config = Config {
        grid: Grid { rows, cols, hexagonal: false, toroid: false },
        epochs,
        gaussian: true,
        compact_support: true,
        radius0: rows.min(cols) as f64 / 2.0,
        radius_n: 1.0,
        radius_exponential: false,
        scale0: 0.1,
        scale_n: 0.01,
        scale_exponential: false,
        init: Init::Random,
        seed: 0,
        online: false,
    };

    let mean = train::mean_spectrum(&data);
    let started = Instant::now();
    let gemm = train::bmu_search(&data, &mean, &w0);
    let gemm_seconds = started.elapsed().as_secs_f64();
    let sample = n.min(2000);
    let started = Instant::now();
    let direct = direct_bmus(&data, &w0, sample);
    let direct_seconds = started.elapsed().as_secs_f64() * n as f64 / sample as f64;
    let agree = direct.iter().zip(&gemm.best).filter(|(a, b)| a == b).count();
    let default = kernel::current();
    let mut rates = serde_json::Map::new();
    let mut passes = serde_json::Map::new();
    for &k in kernel::available() {
        rates.insert(k.name().into(), sgemm_rate(k, &data, &w0).into());
        kernel::set(k);
        let started = Instant::now();
        let _ = train::bmu_search(&data, &mean, &w0);
        passes.insert(k.name().into(), started.elapsed().as_secs_f64().into());
    }
    kernel::set(default);

    let started = Instant::now();
    let trained = train::train(&config, &data, w0, &mut |_, _| Ok(()), &|| Ok(())).unwrap();
    let train_seconds = started.elapsed().as_secs_f64();
    let q = quality::assess(&config.grid, &data, &trained.codebook);
    let bytes: Vec<u8> = trained.codebook.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(out_path, bytes).unwrap();
    let per_epoch: Vec<f64> = trained.history.iter().map(|h| h.seconds).collect();
    println!(
        "{}",
        serde_json::json!({
            "seconds_per_epoch": train_seconds / epochs as f64,
            "epoch_seconds": per_epoch,
            "epoch_bmu_seconds": trained.history.iter().map(|h| h.bmu_seconds).collect::<Vec<_>>(),
            "qe": q.qe, "te8": q.te8, "te4": q.te4, "purity": q.purity,
            "bmu_pass_gemm_seconds": gemm_seconds,
            "bmu_pass_direct_seconds_extrapolated": direct_seconds,
            "direct_vs_gemm_bmu_agreement": agree as f64 / sample as f64,
            "kernel": default.name(),
            "bmu_pass_seconds_by_kernel": passes,
            "sgemm_gflops_by_kernel": rates,
            "threads": rayon::current_num_threads(),
        })
    );
}
