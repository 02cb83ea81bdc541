//! The training matrix on disk, for inputs larger than the memory budget.
//!
//! Two passes over the input, a chunk of files at a time (parallel within the chunk): the first
//! keeps only each spectrum's name, label, origin and wavelength extent, enough to choose the
//! common grid by exactly the rules of [`resample`]; the second puts each chunk on the grid and
//! appends its float32 rows to `matrix.f32` in the job's work folder. The file is then
//! memory-mapped and training reads it in row blocks like an in-memory matrix, so the resident
//! memory is about one chunk of spectra plus the codebook and the per-block buffers, and the
//! codebook is bit-for-bit the one the in-memory path gives.
//!
//! A single input file is one chunk (its reader loads it whole); the saving is for folders.

use std::io::Write;
use std::path::Path;

use super::input::{self, Origin};
use super::resample::{self, Data, Extent, GridRequest, Matrix};
use crate::Failure;

/// Files read at once in the streaming path.
pub const CHUNK_FILES: usize = 256;

/// Builds the training data of `path` in `work_dir/matrix.f32`, `chunk` files at a time.
pub fn mapped_matrix(
    path: &Path,
    shown: &str,
    req: &GridRequest,
    work_dir: &Path,
    chunk: usize,
    checkpoint: &dyn Fn() -> Result<(), Failure>,
) -> Result<(Data, Vec<Origin>), Failure> {
    let files = input::input_files(path, shown)?;
    let folder = path.is_dir();
    // Pass 1: names, labels, origins, extents; whether every spectrum shares the first grid.
    let (mut names, mut labels, mut origins, mut extents) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut first_wave: Option<Vec<f64>> = None;
    let mut same = req.wave_min.is_none() && req.wave_max.is_none() && req.bins.is_none();
    for part in files.chunks(chunk.max(1)) {
        checkpoint()?;
        let (spectra, from) = input::read_files(part, folder)?;
        for s in &spectra {
            let first = first_wave.get_or_insert_with(|| s.wave.clone());
            same &= s.wave == *first;
            extents.push(Extent::of(s));
        }
        origins.extend(from);
        for s in spectra {
            names.push(s.name);
            labels.push(s.label);
        }
    }
    let Some(first_wave) = first_wave else {
        return Err(Failure::Fatal(format!("{shown}: no spectra found")));
    };
    let wave = if same { first_wave } else { resample::common_grid(&extents, req)? };
    drop(extents);

    // Pass 2: each chunk on the grid, appended in input order.
    let file_path = work_dir.join("matrix.f32");
    let io = |e: std::io::Error| Failure::Retryable(format!("writing the training matrix to the work folder: {e}"));
    std::fs::create_dir_all(work_dir).map_err(io)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file_path).map_err(io)?);
    let mut n = 0;
    for part in files.chunks(chunk.max(1)) {
        checkpoint()?;
        let (spectra, _) = input::read_files(part, folder)?;
        use rayon::prelude::*;
        let rows: Vec<Vec<f32>> =
            spectra.par_iter().map(|s| resample::grid_row(s, &wave, same, req)).collect::<Result<_, _>>()?;
        for row in rows {
            for v in row {
                out.write_all(&v.to_le_bytes()).map_err(io)?;
            }
            n += 1;
        }
    }
    out.flush().map_err(io)?;
    drop(out);
    if n != names.len() {
        return Err(Failure::Fatal(format!("{shown}: the input changed while it was being read")));
    }
    let file = std::fs::File::open(&file_path).map_err(io)?;
    // Safety: the file is private to this attempt's work folder and nothing writes it any more.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    let data = Data { n, d: wave.len(), x: Matrix::Mapped(map), wave, names, labels };
    Ok((data, origins))
}

/// The input's size on disk, to compare with the memory budget.
pub fn input_bytes(path: &Path, shown: &str) -> Result<u64, Failure> {
    let files = input::input_files(path, shown)?;
    Ok(files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::som::grid::Grid;
    use crate::som::train::{Config, initial_codebook, train};

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("vocloud-som-stream-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Three CSV files on two different grids (so spectra are interpolated), seven rows each.
    fn folder(tag: &str) -> std::path::PathBuf {
        let dir = temp_dir(tag);
        for (f, (start, step, bins)) in [(6390.0, 2.0, 70), (6385.0, 1.5, 100), (6390.0, 2.0, 70)].iter().enumerate() {
            let header: Vec<String> = (0..*bins).map(|j| format!("{}", start + step * j as f64)).collect();
            let mut csv = format!("name,label,{}\n", header.join(","));
            for r in 0..7 {
                let i = f * 7 + r;
                let values: Vec<String> = (0..*bins)
                    .map(|j| {
                        let w = start + step * j as f64;
                        let line = 0.5 * (-((w - 6450.0 - (i % 3) as f64 * 6.0) / 5.0).powi(2)).exp();
                        format!("{}", 1.0 + if i % 2 == 0 { line } else { -line } + 0.001 * (i * j % 7) as f64)
                    })
                    .collect();
                csv.push_str(&format!("s{i},{},{}\n", i % 2, values.join(",")));
            }
            std::fs::write(dir.join(format!("part{f}.csv")), csv).unwrap();
        }
        dir
    }

    #[test]
    fn the_streamed_matrix_trains_the_same_codebook_as_the_in_memory_one() {
        let dir = folder("input-a");
        let work = temp_dir("work");
        let req = GridRequest { bins: Some(64), ..Default::default() };
        let (spectra, origins) = input::read_input(&dir, "spectra").unwrap();
        let memory = resample::to_matrix(spectra, &req).unwrap();
        // One file per chunk: the smallest chunks, the most appends.
        let (mapped, streamed_origins) = mapped_matrix(&dir, "spectra", &req, &work, 1, &|| Ok(())).unwrap();
        assert!(matches!(mapped.x, Matrix::Mapped(_)));
        assert_eq!((mapped.n, mapped.d), (21, 64));
        assert_eq!(mapped.wave, memory.wave);
        assert_eq!((&mapped.names, &mapped.labels), (&memory.names, &memory.labels));
        assert_eq!(streamed_origins, origins);
        assert!(mapped.x.iter().zip(memory.x.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert_eq!(std::fs::metadata(work.join("matrix.f32")).unwrap().len(), 21 * 64 * 4);

        let config = Config {
            grid: Grid { rows: 3, cols: 4, hexagonal: true, toroid: false },
            epochs: 5,
            seed: 9,
            ..crate::som::train::tests::config(3, 4)
        };
        let run = |data: &Data| {
            let w0 = initial_codebook(&config, data, |p| p.into()).unwrap();
            train(&config, data, w0, &mut |_, _| Ok(()), &|| Ok(())).unwrap().codebook
        };
        let (a, b) = (run(&memory), run(&mapped));
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "bit-identical codebooks");
        drop(mapped);
        let _ = (std::fs::remove_dir_all(&dir), std::fs::remove_dir_all(&work));
    }

    #[test]
    fn a_job_over_the_memory_budget_streams_and_writes_the_same_codebook() {
        let dir = folder("input-b");
        let (user_dir, input) = (dir.parent().unwrap(), dir.file_name().unwrap().to_string_lossy().into_owned());
        let params: crate::som::SomParams = serde_json::from_value(serde_json::json!({
            "input": input, "rows": 3, "cols": 3, "epochs": 4, "grid": "rectangular", "map": "planar",
            "neighborhood": "gaussian", "compact_support": true, "radius0": 0.0, "radiusn": 1.0,
            "radius_cooling": "linear", "scale0": 0.1, "scalen": 0.01, "scale_cooling": "linear", "init": "random",
            "seed": 5, "normalize": "max", "training": "batch", "bins": 50
        }))
        .unwrap();
        let job = |tag: &str, budget: Option<&str>| {
            let job_dir = temp_dir(tag);
            let mut ctx = crate::JobContext::new(&job_dir, 1, user_dir, "test".into(), crate::CancelToken::new());
            if let Some(b) = budget {
                ctx = ctx.with_setting("som_memory_budget_mb", b);
            }
            std::fs::create_dir_all(&ctx.results_dir).unwrap();
            crate::som::run(&params, &ctx).unwrap();
            let streamed = ctx.work_dir.join("matrix.f32").exists();
            (std::fs::read(ctx.results_dir.join("codebook.vot")).unwrap(), streamed, job_dir)
        };
        let (in_memory, streamed, a) = job("job-memory", None);
        assert!(!streamed);
        let (on_disk, streamed, b) = job("job-stream", Some("0"));
        assert!(streamed, "a 0 MB budget streams through the work folder");
        assert_eq!(in_memory, on_disk);
        for d in [dir, a, b] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
