//! Measures f32 GEMM kernels on the SOM's BMU shape (X: N×D times Wᵀ: D×M), to choose the kernel
//! and block size: every kernel of the build (OpenBLAS with the `openblas` feature, matrixmultiply),
//! per-block single-threaded calls spread over rayon (what the search does; deterministic
//! whatever the thread count).
//!
//! cargo run --release -p vocloud-workers --example som_kernels -- N D M

use std::time::Instant;

use rayon::prelude::*;
use vocloud_workers::som::kernel::{self, Kernel, View};

fn blocked(kernel: Kernel, x: &[f32], w: &[f32], d: usize, m: usize, block: usize) -> f64 {
    let started = Instant::now();
    x.par_chunks(block * d).for_each(|xb| {
        let rows = xb.len() / d;
        let mut tile = vec![0f32; rows * m];
        let a = View { data: xb, row_stride: d, col_stride: 1 };
        kernel::matmul_with(kernel, rows, d, m, a, View { data: w, row_stride: 1, col_stride: d }, &mut tile);
        std::hint::black_box(&tile);
    });
    started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let [n, d, m] = args[..] else { panic!("usage: som_kernels N D M") };
    let x: Vec<f32> = (0..n * d).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let w: Vec<f32> = (0..m * d).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0).collect();
    let flops = 2.0 * (n * m * d) as f64;
    let report =
        |name: &str, seconds: f64| println!("{name:<40} {seconds:8.3} s {:8.1} GFLOP/s", flops / seconds / 1e9);
    for block in [128, 256, 512, 1024] {
        for &k in kernel::available() {
            report(&format!("{}, {block}-row blocks on rayon", k.name()), blocked(k, &x, &w, d, m, block));
        }
    }
}
