//! The `som` kind: a batch (or online) self-organising map for spectra archives.
//!
//! The run is a pipeline of small steps, one module each:
//! - [`input`]: read spectra (FITS 1-D/2-D images with WCS, FITS binary tables, CSV, VOTable),
//!   in parallel, into named (wavelength, flux) pairs; bad files end the job with their name.
//! - [`resample`]: one common wavelength grid plus optional normalisation → an N×D f32 matrix.
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
pub mod input;
pub mod kernel;
pub mod output;
pub mod quality;
pub mod resample;
pub mod rng;
pub mod stream;
pub mod synthetic;
pub mod train;

use std::path::{Component, Path};
use std::time::Instant;

use serde::{Deserialize, Serialize};

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
        let files = input::input_files(&user_dir.join(&p.input), &p.input).unwrap_or_default();
        let input_bytes = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
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
///   input above the budget is streamed and holds one chunk of files at a time;
/// - the training matrix, spectra × bins f32 (memory-mapped from a file, so not counted, when
///   streamed); spectra are at least the files, bins the `bins` parameter or the native length;
/// - the codebook and the per-node sums of a batch epoch: 2 × rows × cols × bins f32;
/// - the distances of one block of rows to every node, f32.
///
/// Saturating arithmetic: absurd parameters give `u64::MAX`, which any limit refuses.
pub fn memory_estimate(p: &SomParams, input: InputSize, budget: u64) -> u64 {
    let files = input.files.max(1);
    let native = (input.bytes / files / 4).clamp(2, MAX_NATIVE_BINS);
    let bins = p.bins.map_or(native, |b| b as u64);
    let spectra = (input.bytes / (native * 4)).max(files);
    let streamed = input.bytes > budget;
    let raw = match streamed {
        true => (input.bytes / files).saturating_mul(stream::CHUNK_FILES as u64).saturating_mul(4),
        false => input.bytes.saturating_mul(4),
    };
    let matrix = if streamed { 0 } else { spectra.saturating_mul(bins).saturating_mul(4) };
    let nodes = (p.rows as u64).saturating_mul(p.cols as u64);
    let codebook = nodes.saturating_mul(bins).saturating_mul(8);
    let distances = DISTANCE_ROWS.saturating_mul(nodes).saturating_mul(4);
    raw.saturating_add(matrix).saturating_add(codebook).saturating_add(distances)
}

/// Input size on disk above which the training matrix is streamed to a memory-mapped file.
const DEFAULT_MEMORY_BUDGET_MB: u64 = 8192;

fn run(params: &SomParams, ctx: &JobContext) -> Result<Outputs, Failure> {
    let started = Instant::now();
    ctx.progress(0.0, "reading spectra");
    let input_path = ctx.input(&params.input);
    let request = resample::GridRequest::from_params(params)?;
    // Inputs larger on disk than the memory budget (deployment setting `som_memory_budget_mb`,
    // env VOCLOUD_JOB_SOM_MEMORY_BUDGET_MB) are read a chunk of files at a time into a
    // memory-mapped matrix in the work folder instead of being held in memory.
    let budget_mb = match ctx.setting("som_memory_budget_mb") {
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            Failure::Fatal(format!("deployment setting som_memory_budget_mb = '{v}' is not a number of MB"))
        })?,
        None => DEFAULT_MEMORY_BUDGET_MB,
    };
    let (data, origins) = if stream::input_bytes(&input_path, &params.input)? > budget_mb << 20 {
        ctx.progress(0.0, format!("reading spectra (streaming: the input exceeds the {budget_mb} MB budget)"));
        let checkpoint = || ctx.checkpoint();
        stream::mapped_matrix(&input_path, &params.input, &request, &ctx.work_dir, stream::CHUNK_FILES, &checkpoint)?
    } else {
        let (spectra, origins) = input::read_input(&input_path, &params.input)?;
        ctx.checkpoint()?;
        (resample::to_matrix(spectra, &request)?, origins)
    };
    let read_seconds = started.elapsed().as_secs_f64();
    ctx.progress(0.02, format!("{} spectra × {} bins read in {read_seconds:.1} s", data.n, data.d));

    let config = train::Config::from_params(params)?;
    let initial = train::initial_codebook(&config, &data, |rel| ctx.input(rel))?;
    // Asked between GEMM blocks inside an epoch, from rayon's threads: an ABORT or an overrun
    // stops a long epoch within one block instead of at its end.
    let cancel = ctx.cancel.clone();
    let checkpoint = move || if cancel.is_cancelled() { Err(Failure::Cancelled) } else { Ok(()) };
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
    ctx.progress(0.96, "computing quality and writing results");
    let assessed = quality::assess(&config.grid, &data, &trained.codebook);
    let input = output::Input { path: &params.input, folder: input_path.is_dir(), origins: &origins, read_seconds };
    let results = output::write_all(ctx, params, &config, &data, &input, &trained, &assessed)?;
    ctx.progress(1.0, format!("done: qe {:.5}, te {:.4}", assessed.qe, assessed.te8));
    Ok(Outputs { results })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::som::train::{Config, Init, initial_codebook, train};

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

    fn fit(config: &Config, data: &resample::Data) -> Vec<f32> {
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
        // The same input streamed from disk holds only a chunk of it.
        let big = InputSize { bytes: 100 << 30, files: 100_000 };
        assert!(memory_estimate(&p, big, 8 << 30) < 4 << 30);
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
