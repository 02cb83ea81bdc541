//! Writes every result of a `som` job for seeded synthetic spectra into a folder, without the
//! server: for looking at the viewer and sizing its files.
//!
//! cargo run --release -p vocloud-workers --example som_demo -- OUT_DIR N BINS ROWS COLS [EPOCHS]

use vocloud_workers::som::{SomParams, output, quality, synthetic, train};
use vocloud_workers::{CancelToken, JobContext};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (out, n, bins, rows, cols, epochs) = match &args[..] {
        [_, out, n, bins, rows, cols] => (out, n, bins, rows, cols, "10"),
        [_, out, n, bins, rows, cols, epochs] => (out, n, bins, rows, cols, epochs.as_str()),
        _ => panic!("usage: som_demo OUT_DIR N BINS ROWS COLS [EPOCHS]"),
    };
    let (n, bins, rows, cols): (usize, usize, usize, usize) =
        (n.parse().unwrap(), bins.parse().unwrap(), rows.parse().unwrap(), cols.parse().unwrap());
    let job = std::path::Path::new(out);
    std::fs::create_dir_all(job.join("results")).unwrap();
    let mut ctx = JobContext::new(job, 1, job, "som_demo".into(), CancelToken::new());
    // Without a master there is no attempt to promote: write straight to OUT_DIR/results.
    ctx.results_dir = job.join("results");
    let params: SomParams = serde_json::from_value(serde_json::json!({
        "input": "synthetic", "rows": rows, "cols": cols, "epochs": epochs.parse::<u32>().unwrap(), "grid": "hexagonal", "map": "planar",
        "neighborhood": "gaussian", "compact_support": true, "radius0": 0.0, "radiusn": 1.0,
        "radius_cooling": "linear", "scale0": 0.1, "scalen": 0.01, "scale_cooling": "linear", "init": "random",
        "seed": 1, "normalize": "none", "training": "batch"
    }))
    .unwrap();
    let data = synthetic::spectra(n, bins, 1);
    let config = train::Config::from_params(&params).unwrap();
    let w0 = train::initial_codebook(&config, &data, |p| p.into()).unwrap();
    let started = std::time::Instant::now();
    let trained = train::train(&config, &data, w0, &mut |_, _| Ok(()), &|| Ok(())).unwrap();
    let q = quality::assess(&config.grid, &data, &trained.codebook);
    eprintln!(
        "trained in {:.1} s: qe {:.4} te {:.4} purity {:?}",
        started.elapsed().as_secs_f64(),
        q.qe,
        q.te8,
        q.purity
    );
    let input = output::Input { path: "synthetic", folder: false, seconds: Default::default() };
    output::write_all(&ctx, &params, &config, &data, &input, &trained, &q).unwrap();
}
