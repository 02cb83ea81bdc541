//! Plot rendering benchmark: K = 4 / 100 / 1,000 / 10,000 spectra × 4,000 points at 1000×600,
//! a full frame of the whole data (home) and a frame after a 1 % pan; render and PNG encode
//! times (median of several runs, wall clock, all cores as the server uses them).
//!
//! `cargo bench --bench plots` prints the table and writes the spectra to
//! `target/plot-bench/spectra-<K>.f32` (raw little-endian f32, K rows × 4,000) so that
//! `benches/plots.sh` can run matplotlib and datashader on exactly the same data in the same
//! run (`benches/plots_reference.py`). Set `PLOT_BENCH_K=4,100` to run a subset, and
//! `PLOT_BENCH_DISTINCT=1` to put every spectrum on its own wavelength grid.

use std::sync::Arc;
use std::time::Instant;

use vocloud::plots::data::{Dataset, Series};
use vocloud::plots::render::{self, FrameSpec, Mode};

const POINTS: usize = 4000;
const W: u32 = 1000;
const H: u32 = 600;

/// A deterministic synthetic spectrum: a sloped continuum, a few absorption lines whose depth
/// varies with k, and pseudo-noise; wavelengths 3800..9200 Å.
fn spectrum(k: usize, grid: &[f64]) -> Vec<f32> {
    let mut state = (k as u64).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    grid.iter()
        .map(|&w| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let noise = ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.1;
            let cont = 1.0 + 0.3 * ((w - 3800.0) / 5400.0) + 0.2 * ((k % 17) as f64 / 17.0);
            let mut f = cont;
            for (centre, width) in [(4861.0, 8.0), (6563.0, 10.0), (5175.0, 15.0), (8542.0, 6.0)] {
                let depth = 0.2 + 0.5 * (((k * 7 + centre as usize) % 13) as f64 / 13.0);
                f -= depth * (-((w - centre) / width).powi(2)).exp();
            }
            (f + noise) as f32
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let ks: Vec<usize> = std::env::var("PLOT_BENCH_K")
        .ok()
        .map(|s| s.split(',').filter_map(|k| k.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![4, 100, 1000, 10_000]);
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/plot-bench");
    std::fs::create_dir_all(&out).expect("creating target/plot-bench");
    let grid: Arc<[f64]> = (0..POINTS).map(|i| 3800.0 + 5400.0 * i as f64 / (POINTS - 1) as f64).collect();
    std::fs::write(out.join("grid.f64"), grid.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    println!("threads: {}", rayon::current_num_threads());
    println!("| K | mode | frame | build ms | render ms | encode ms | PNG KiB |");
    println!("|---|---|---|---|---|---|---|");
    for k in ks {
        let rows: Vec<Vec<f32>> = (0..k).map(|i| spectrum(i, &grid)).collect();
        let raw: Vec<u8> = rows.iter().flat_map(|r| r.iter().flat_map(|v| v.to_le_bytes())).collect();
        std::fs::write(out.join(format!("spectra-{k}.f32")), raw).unwrap();
        let t = Instant::now();
        // PLOT_BENCH_DISTINCT=1: every spectrum on its own grid (shifted by k·0.001 Å), as
        // SDSS-like collections are; takes the per-series path instead of the sample-major block.
        let distinct = std::env::var("PLOT_BENCH_DISTINCT").is_ok_and(|v| v == "1");
        let series: Vec<Series> = rows
            .into_iter()
            .enumerate()
            .map(|(i, y)| {
                let x: Arc<[f64]> =
                    if distinct { grid.iter().map(|w| w + i as f64 * 0.001).collect() } else { grid.clone() };
                Series::new(format!("s{i}"), x, y)
            })
            .collect();
        let data = Dataset::new(format!("bench {k}"), series);
        let build = t.elapsed().as_secs_f64() * 1e3;
        let home = render::home_view(&data, false, false);
        let spec = FrameSpec { width: W, height: H, scale: 1.0, mode: Mode::Auto, visible: None };
        let plot_w = render::layout(W, H, 1.0, k > render::LINES_MAX).width as f64;
        let panned = home.pan(-0.01 * plot_w, 0.0, plot_w, H as f64);
        let reps = if k >= 10_000 { 5 } else { 15 };
        for (name, view) in [("full", home), ("pan 1%", panned)] {
            let (mut r, mut e, mut bytes) = (Vec::new(), Vec::new(), 0);
            for _ in 0..reps {
                let t0 = Instant::now();
                let frame = render::render(&data, &view, &spec);
                let t1 = Instant::now();
                let png = render::encode_png(&frame);
                r.push((t1 - t0).as_secs_f64() * 1e3);
                e.push(t1.elapsed().as_secs_f64() * 1e3);
                bytes = png.len();
                if k == 1000 && name == "full" {
                    std::fs::write(out.join("vocloud-1000.png"), &png).unwrap();
                }
            }
            let mode = match (k > render::LINES_MAX, distinct) {
                (false, _) => "lines",
                (true, false) => "density",
                (true, true) => "density, own grids",
            };
            println!("| {k} | {mode} | {name} | {build:.0} | {:.1} | {:.1} | {} |", median(r), median(e), bytes / 1024);
        }
    }
}
