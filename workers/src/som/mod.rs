//! The `som` kind: a batch (or online) self-organising map for spectra archives.
//!
//! The run is a pipeline of small steps, one module each:
//! - reading: [`crate::spectra::read_matrix`] reads the input (FITS, VOTable, CSV; a folder in
//!   parallel) onto one wavelength grid with optional normalisation, as an N×D f32 matrix
//!   (memory-mapped from the work folder when the input exceeds the memory budget); bad files
//!   end the job with their name.
//! - [`grid`]: the map geometry (rectangular/hexagonal, planar/toroid) and grid distances.
//! - [`train`]: initialisation, the batch epoch (BMU search as an f32 GEMM, update from per-node
//!   sums smoothed by the neighbourhood) and the online variant.
//! - [`quality`]: exact (float64) BMUs, quantisation and topographic error as defined in
//!   `docs/refs/som.md`, purity when the inputs carry class labels.
//! - [`output`]: codebook (FITS + VOTable), BMUs (VOTable), U-matrix and hit-map PNGs,
//!   `quality.json`, and the data files of the interactive viewer `index.html`.
//!
//! Parameter names are a contract (issue 3) and follow somoclu's defaults where it has one.
//! UWS parameter names are case-insensitive, so `radiusN`/`scaleN` are declared lower-case.

pub mod grid;
pub mod kernel;
pub mod output;
pub mod quality;
pub mod rng;
pub mod synthetic;
pub mod train;

use std::path::{Component, Path};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::spectra;
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ParamType, Resources};

pub struct Som;

/// The parameters of a `som` job, as stored in `params.json` and echoed in `quality.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SomParams {
    pub input: String,
    pub rows: usize,
    pub cols: usize,
    pub epochs: usize,
    pub grid: String,
    pub map: String,
    pub neighborhood: String,
    pub compact_support: bool,
    pub radius0: f64,
    #[serde(rename = "radiusn")]
    pub radius_n: f64,
    pub radius_cooling: String,
    pub scale0: f64,
    #[serde(rename = "scalen")]
    pub scale_n: f64,
    pub scale_cooling: String,
    pub init: String,
    pub seed: u64,
    pub normalize: String,
    pub wave_min: Option<f64>,
    pub wave_max: Option<f64>,
    pub bins: Option<usize>,
    pub training: String,
}

const COOLING: &[&str] = &["linear", "exponential"];

impl Kind for Som {
    type Params = SomParams;
    const NAME: &'static str = "som";
    const DESCRIPTION: &'static str = "Trains a self-organising map (batch or online) on a folder or file of spectra; \
        writes the codebook, per-spectrum BMUs, U-matrix, quality (QE, TE) and an interactive map viewer.";

    fn parameters() -> Vec<ParamSpec> {
        let float = |min: f64| ParamType::Float { min: Some(min), max: None };
        let choice = |values: &[&'static str]| ParamType::Choice { values: values.to_vec() };
        vec![
            ParamSpec::new("input", ParamType::Path, "folder of spectra or one file (FITS, VOTable, CSV)").required(),
            ParamSpec::new("rows", ParamType::Integer { min: Some(1), max: Some(500) }, "map rows").default(20),
            ParamSpec::new("cols", ParamType::Integer { min: Some(1), max: Some(500) }, "map columns").default(20),
            ParamSpec::new("epochs", ParamType::Integer { min: Some(1), max: Some(10_000) }, "training epochs")
                .default(10),
            ParamSpec::new("grid", choice(&["rectangular", "hexagonal"]), "node lattice").default("rectangular"),
            ParamSpec::new("map", choice(&["planar", "toroid"]), "map topology").default("planar"),
            ParamSpec::new("neighborhood", choice(&["gaussian", "bubble"]), "neighbourhood function")
                .default("gaussian"),
            ParamSpec::new("compact_support", ParamType::Bool, "cut the Gaussian off beyond the radius").default(true),
            ParamSpec::new("radius0", float(0.0), "start radius (0: half the smaller map side)").default(0.0),
            ParamSpec::new("radiusn", float(0.0), "final radius (radiusN)").default(1.0),
            ParamSpec::new("radius_cooling", choice(COOLING), "radius schedule").default("linear"),
            ParamSpec::new("scale0", float(0.0), "start learning rate (online; cancels in batch)").default(0.1),
            ParamSpec::new("scalen", float(0.0), "final learning rate (scaleN)").default(0.01),
            ParamSpec::new("scale_cooling", choice(COOLING), "learning-rate schedule").default("linear"),
            ParamSpec::new(
                "init",
                ParamType::Text { max_len: 1024 },
                "random (rows of the data), pca, or the path of a codebook.fits to continue from",
            )
            .default("random"),
            ParamSpec::new("seed", ParamType::Integer { min: Some(0), max: None }, "random seed").default(12345),
            ParamSpec::new("normalize", choice(&["none", "max", "mean", "l2"]), "per-spectrum normalisation")
                .default("none"),
            ParamSpec::new("wave_min", float(0.0), "common grid start (default: largest common start)"),
            ParamSpec::new("wave_max", float(0.0), "common grid end (default: smallest common end)"),
            ParamSpec::new("bins", ParamType::Integer { min: Some(2), max: Some(1_000_000) }, "common grid bins"),
            ParamSpec::new("training", choice(&["batch", "online"]), "batch SOM or online (stochastic) updates")
                .default("batch"),
        ]
    }

    fn check(p: &SomParams) -> Result<(), ParamError> {
        if let (Some(lo), Some(hi)) = (p.wave_min, p.wave_max)
            && lo >= hi
        {
            return Err(ParamError::invalid("wave_min", format!("must be below wave_max ({lo} >= {hi})")));
        }
        if p.radius0 > 0.0 && p.radius_n > p.radius0 {
            return Err(ParamError::invalid("radiusn", "must not exceed radius0"));
        }
        if p.rows * p.cols < 2 {
            return Err(ParamError::invalid("rows", "the map needs at least two nodes"));
        }
        let init = p.init.trim();
        let is_word = init.eq_ignore_ascii_case("random") || init.eq_ignore_ascii_case("pca");
        if !is_word && !is_relative_safe(init.trim_matches('/')) {
            return Err(ParamError::invalid("init", "expected random, pca, or a path inside your storage"));
        }
        Ok(())
    }

    fn resources(p: &SomParams, user_dir: &Path) -> Resources {
        let files = spectra::list_files(&user_dir.join(&p.input), &p.input, usize::MAX).unwrap_or_default();
        let input_bytes = files.iter().filter_map(|f| std::fs::metadata(&f.path).ok()).map(|m| m.len()).sum();
        let input = InputSize { bytes: input_bytes, files: files.len() as u64 };
        let needed = memory_estimate(p, input, DEFAULT_MEMORY_BUDGET_MB << 20);
        let bins = p.bins.map_or_else(|| "native".to_string(), |b| b.to_string());
        let basis = format!(
            "rows={} cols={} bins={bins} on {} MiB of input in {} files",
            p.rows,
            p.cols,
            input_bytes >> 20,
            input.files
        );
        Resources { cores: 1, memory_mb: Some(crate::bytes_to_mb(needed)), basis }
    }

    fn run(params: SomParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        run(&params, ctx)
    }
}

/// A user-relative path with no way out of the user's storage.
fn is_relative_safe(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// The input of a run as it lies on disk.
#[derive(Debug, Clone, Copy)]
pub struct InputSize {
    pub bytes: u64,
    pub files: u64,
}

/// Longest spectrum the estimate assumes when `bins` is not given and the input's length per
/// spectrum is unknown (a single file may hold many spectra).
const MAX_NATIVE_BINS: u64 = 16_384;
/// Rows of one BMU block (`train::BLOCK`), whose distances to every node are held at once.
const DISTANCE_ROWS: u64 = 512;

/// Bytes a run needs at its peak, estimated before any spectrum is read, from the parameters
/// and the input's size on disk (`budget` is the streaming threshold):
/// - the spectra as read: wavelength and flux as f64, four times the f32 values on disk; an
///   input above the budget is streamed a chunk of files at a time, each chunk within the
///   budget (`spectra::matrix`);
/// - the training matrix, spectra × bins f32 (memory-mapped from a file, so not counted, when
///   streamed); spectra are at least the files, bins the `bins` parameter or the native length;
/// - the codebook and the per-node sums of a batch epoch: 2 × rows × cols × bins f32, and at
///   most as much again for the factored codebook of an epoch with few active nodes (centred
///   sums, basis and coefficients, each below 0.6 of a codebook: `train::FACTORED_SHARE`);
/// - the distances of one block of rows to every node, f32;
/// - with `init=pca` on an in-memory matrix, ml::pca's centred f64 copy of it (twice the
///   matrix). A streamed input's PCA runs on a sample of rows sized to the budget, after the
///   read's chunks are freed, so it stays within the `budget` already counted for them.
///
/// Saturating arithmetic: absurd parameters give `u64::MAX`, which any limit refuses.
pub fn memory_estimate(p: &SomParams, input: InputSize, budget: u64) -> u64 {
    let files = input.files.max(1);
    let native = (input.bytes / files / 4).clamp(2, MAX_NATIVE_BINS);
    let bins = p.bins.map_or(native, |b| b as u64);
    let spectra = (input.bytes / (native * 4)).max(files);
    let streamed = input.bytes > budget;
    let raw = match streamed {
        true => budget,
        false => input.bytes.saturating_mul(4),
    };
    let matrix = if streamed { 0 } else { spectra.saturating_mul(bins).saturating_mul(4) };
    let nodes = (p.rows as u64).saturating_mul(p.cols as u64);
    let codebook = nodes.saturating_mul(bins).saturating_mul(16);
    let distances = DISTANCE_ROWS.saturating_mul(nodes).saturating_mul(4);
    let pca = if p.init.trim().eq_ignore_ascii_case("pca") { matrix.saturating_mul(2) } else { 0 };
    raw.saturating_add(matrix).saturating_add(codebook).saturating_add(distances).saturating_add(pca)
}

/// Memory the training matrix may take before it is streamed to a memory-mapped file.
const DEFAULT_MEMORY_BUDGET_MB: u64 = 8192;

/// How the spectra are put on one grid, from the parameters.
fn grid_request(p: &SomParams) -> Result<spectra::GridRequest, Failure> {
    let normalize = match p.normalize.as_str() {
        "none" => spectra::Normalize::None,
        "max" => spectra::Normalize::Max,
        "mean" => spectra::Normalize::Mean,
        "l2" => spectra::Normalize::L2,
        other => return Err(Failure::Fatal(format!("unknown normalize '{other}'"))),
    };
    Ok(spectra::GridRequest {
        wave_min: p.wave_min,
        wave_max: p.wave_max,
        bins: p.bins,
        normalize,
        ..Default::default()
    })
}

/// The memory budget of the read (deployment setting `som_memory_budget_mb`, env
/// VOCLOUD_JOB_SOM_MEMORY_BUDGET_MB): inputs over it are streamed to the work folder.
fn memory_budget(ctx: &JobContext) -> Result<u64, Failure> {
    match ctx.setting("som_memory_budget_mb") {
        Some(v) => v.trim().parse::<u64>().map(|mb| mb << 20).map_err(|_| {
            Failure::Fatal(format!("deployment setting som_memory_budget_mb = '{v}' is not a number of MB"))
        }),
        None => Ok(DEFAULT_MEMORY_BUDGET_MB << 20),
    }
}

fn run(params: &SomParams, ctx: &JobContext) -> Result<Outputs, Failure> {
    let started = Instant::now();
    ctx.progress(0.0, "reading spectra");
    let input_path = ctx.input(&params.input);
    let options = spectra::ReadOptions {
        budget: memory_budget(ctx)?,
        max_files: usize::MAX,
        cancel: Some(ctx.cancel.clone()),
        spill_dir: Some(ctx.work_dir.clone()),
    };
    let budget = options.budget;
    let data = spectra::read_matrix(&input_path, &params.input, &grid_request(params)?, &options)?;
    ctx.checkpoint()?;
    let read_seconds = started.elapsed().as_secs_f64();
    ctx.progress(0.02, format!("{} spectra × {} bins read in {read_seconds:.1} s", data.n, data.bins));

    let mut seconds = output::Seconds { reading: read_seconds, ..Default::default() };
    let step = Instant::now();
    let config = train::Config::from_params(params)?;
    // Asked between GEMM blocks inside an epoch (and between the PCA's passes), from rayon's
    // threads: an ABORT or an overrun stops a long step within one block instead of at its end.
    let cancel = ctx.cancel.clone();
    let checkpoint = move || if cancel.is_cancelled() { Err(Failure::Cancelled) } else { Ok(()) };
    let initial = train::initial_codebook_within(&config, &data, |rel| ctx.input(rel), budget, &checkpoint)?;
    seconds.initialisation = step.elapsed().as_secs_f64();
    let step = Instant::now();
    ctx.progress(0.05, format!("training: epoch 1/{}", config.epochs));
    let trained = train::train(
        &config,
        &data,
        initial,
        &mut |epoch, record| {
            let fraction = 0.05 + 0.9 * (epoch + 1) as f64 / config.epochs as f64;
            ctx.progress(
                fraction,
                format!("epoch {}/{}: qe {:.5}, te {:.4}", epoch + 1, config.epochs, record.qe, record.te),
            );
            ctx.checkpoint()
        },
        &checkpoint,
    )?;
    seconds.training = step.elapsed().as_secs_f64();
    ctx.progress(0.96, "computing quality and writing results");
    let step = Instant::now();
    let assessed = quality::assess(&config.grid, &data, &trained.codebook);
    seconds.quality = step.elapsed().as_secs_f64();
    let input = output::Input { path: &params.input, folder: input_path.is_dir(), seconds };
    let results = output::write_all(ctx, params, &config, &data, &input, &trained, &assessed)?;
    ctx.progress(1.0, format!("done: qe {:.5}, te {:.4}", assessed.qe, assessed.te8));
    Ok(Outputs { results })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::som::train::{Config, Init, initial_codebook, train};
    use crate::spectra::SpectraMatrix;

    fn config(rows: usize, cols: usize, seed: u64) -> Config {
        Config {
            grid: grid::Grid { rows, cols, hexagonal: false, toroid: false },
            epochs: 10,
            gaussian: true,
            compact_support: true,
            radius0: rows.min(cols) as f64 / 2.0,
            radius_n: 1.0,
            radius_exponential: false,
            scale0: 0.1,
            scale_n: 0.01,
            scale_exponential: false,
            init: Init::Random,
            seed,
            online: false,
        }
    }

    fn fit(config: &Config, data: &SpectraMatrix) -> Vec<f32> {
        let w0 = initial_codebook(config, data, |p| p.into()).unwrap();
        train(config, data, w0, &mut |_, _| Ok(()), &|| Ok(())).unwrap().codebook
    }

    #[test]
    fn the_map_separates_synthetic_classes() {
        let data = synthetic::spectra(500, 200, 1);
        for (hexagonal, toroid, online) in [(false, false, false), (true, true, false), (false, false, true)] {
            let mut c = config(8, 8, 42);
            (c.grid.hexagonal, c.grid.toroid, c.online) = (hexagonal, toroid, online);
            if online {
                (c.scale0, c.scale_n) = (0.5, 0.05);
            }
            let w = fit(&c, &data);
            let q = quality::assess(&c.grid, &data, &w);
            let purity = q.purity.unwrap();
            assert!(purity > 0.7, "hex {hexagonal} toroid {toroid} online {online}: purity {purity} (chance 0.2)");
            let w0 = initial_codebook(&c, &data, |p| p.into()).unwrap();
            assert!(q.qe < quality::assess(&c.grid, &data, &w0).qe, "training lowers the QE");
        }
    }

    #[test]
    fn a_seed_gives_the_same_map_bit_for_bit_whatever_the_thread_count() {
        let data = synthetic::spectra(300, 150, 2);
        let c = config(6, 7, 9);
        let a = fit(&c, &data);
        let b = fit(&c, &data);
        let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let single = one_thread.install(|| fit(&c, &data));
        let bits = |w: &[f32]| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b));
        assert_eq!(bits(&a), bits(&single));
        assert_ne!(bits(&a), bits(&fit(&config(6, 7, 10), &data)), "another seed, another map");
    }

    /// A job whose input exceeds the memory budget streams it through the work folder and
    /// writes the same codebook, byte for byte, as the in-memory run.
    #[test]
    fn a_job_over_the_memory_budget_streams_and_writes_the_same_codebook() {
        let user = tempfile::tempdir().unwrap();
        std::fs::create_dir(user.path().join("spectra")).unwrap();
        // Three 1.2 MB CSV files on two grids, over a 1 MB budget: one file per chunk.
        for (f, (start, step)) in [(6390.0, 0.1), (6385.0, 0.11), (6390.0, 0.1)].iter().enumerate() {
            let header: Vec<String> = (0..1000).map(|j| format!("{:.2}", start + step * j as f64)).collect();
            let mut csv = format!("name,label,{}\n", header.join(","));
            for r in 0..60 {
                let i = f * 60 + r;
                let values: Vec<String> = (0..1000)
                    .map(|j| {
                        let line = 0.5 * (-((start + step * j as f64 - 6430.0 - (i % 3) as f64) / 5.0).powi(2)).exp();
                        format!("{:.5}", 1.0 + if i % 2 == 0 { line } else { -line } + 0.001 * (i * j % 7) as f64)
                    })
                    .collect();
                csv.push_str(&format!("s{i},{},{}\n", i % 2, values.join(",")));
            }
            std::fs::write(user.path().join(format!("spectra/part{f}.csv")), csv).unwrap();
        }
        let params: SomParams = serde_json::from_value(serde_json::json!({
            "input": "spectra", "rows": 3, "cols": 3, "epochs": 4, "grid": "rectangular", "map": "planar",
            "neighborhood": "gaussian", "compact_support": true, "radius0": 0.0, "radiusn": 1.0,
            "radius_cooling": "linear", "scale0": 0.1, "scalen": 0.01, "scale_cooling": "linear", "init": "random",
            "seed": 5, "normalize": "max", "training": "batch", "bins": 50
        }))
        .unwrap();
        let job = |init: &str, budget: Option<&str>| {
            let params = SomParams { init: init.into(), ..params.clone() };
            let job_dir = tempfile::tempdir().unwrap();
            let mut ctx =
                crate::JobContext::new(job_dir.path(), 1, user.path(), "test".into(), crate::CancelToken::new());
            if let Some(b) = budget {
                ctx = ctx.with_setting("som_memory_budget_mb", b);
            }
            std::fs::create_dir_all(&ctx.results_dir).unwrap();
            run(&params, &ctx).unwrap();
            let streamed = ctx.work_dir.join("matrix.f32").exists();
            (std::fs::read(ctx.results_dir.join("codebook.vot")).unwrap(), streamed)
        };
        let (in_memory, streamed) = job("random", None);
        assert!(!streamed);
        let (on_disk, streamed) = job("random", Some("1"));
        assert!(streamed, "a 1 MB budget streams through the work folder");
        assert_eq!(in_memory, on_disk);
        // init=pca: ml::pca on the whole matrix in memory; streamed, on the rows whose copies
        // fit the budget, here all 180 in 1 MB: the same plane, so the same map. (A smaller
        // sample: train::tests::the_pca_codebook_spans_the_first_two_principal_directions.)
        let (pca_in_memory, _) = job("pca", None);
        let (pca_on_disk, streamed) = job("pca", Some("1"));
        assert!(streamed);
        assert_eq!(pca_in_memory, pca_on_disk);
    }

    #[test]
    fn the_memory_estimate_follows_map_size_bins_and_input() {
        let mut p: SomParams = serde_json::from_value(serde_json::json!({
            "input": "x", "rows": 500, "cols": 500, "epochs": 10, "grid": "rectangular", "map": "planar",
            "neighborhood": "gaussian", "compact_support": true, "radius0": 0.0, "radiusn": 1.0,
            "radius_cooling": "linear", "scale0": 0.1, "scalen": 0.01, "scale_cooling": "linear",
            "init": "random", "seed": 1, "normalize": "none", "wave_min": null, "wave_max": null,
            "bins": 1_000_000, "training": "batch"
        }))
        .unwrap();
        let small = InputSize { bytes: 1 << 20, files: 64 };
        // 500 × 500 nodes × 10^6 bins: the codebook alone is 2 TB in two copies.
        assert!(memory_estimate(&p, small, 8 << 30) > 1_000_000_000_000);
        (p.rows, p.cols, p.bins) = (20, 20, None);
        let estimate = memory_estimate(&p, small, 8 << 30);
        assert!(estimate > 4 << 20 && estimate < 64 << 20, "{estimate}");
        // The same input streamed from disk holds a chunk within the budget, not the input.
        let big = InputSize { bytes: 100 << 30, files: 100_000 };
        let streamed = memory_estimate(&p, big, 8 << 30);
        assert!(streamed < 9 << 30 && streamed < memory_estimate(&p, big, u64::MAX) / 10, "{streamed}");
        // init=pca adds ml::pca's f64 copy of an in-memory matrix, not of a streamed one.
        let medium = InputSize { bytes: 1 << 30, files: 1000 };
        let random = memory_estimate(&p, medium, 8 << 30);
        p.init = "pca".into();
        let matrix_f64 = memory_estimate(&p, medium, 8 << 30) - random;
        assert!(matrix_f64 >= 2 << 30, "the f64 copy of a 1 GiB f32 matrix: {matrix_f64}");
        assert_eq!(memory_estimate(&p, big, 8 << 30), streamed, "a streamed PCA samples within the budget");
        p.rows = usize::MAX;
        assert_eq!(memory_estimate(&p, small, 8 << 30), u64::MAX, "saturates instead of wrapping");
    }

    #[test]
    fn init_paths_must_stay_inside_the_storage() {
        assert!(is_relative_safe("maps/codebook.fits"));
        for bad in ["../x.fits", "/etc/passwd", "a/../../b", ""] {
            assert!(!is_relative_safe(bad), "{bad}");
        }
    }
}
