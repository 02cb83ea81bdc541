//! Result files of a `som` job, each a UWS result:
//! - `codebook.fits` (primary image M×D float32, WCS when the grid is linear, map keywords, and a
//!   WAVELENGTH extension) and `codebook.vot` (one row per node with hits, U-matrix and weights);
//! - `bmus.vot`: per input spectrum its name, label, BMU, grid row/column, distance, second BMU;
//! - `umatrix.png`, `hits.png`: the map as coloured cells (hexagonal maps offset odd rows);
//! - `quality.json`: final QE/TE8/TE4/purity, per-epoch history, timings and the parameters used;
//! - `index.html` + `viewer.json` + `viewer.bin` + `members.json`: the interactive viewer. The
//!   spectra are stored once, downsampled to at most 512 points and sorted by node, so the page
//!   fetches one node's spectra with an HTTP Range request instead of loading the archive.

use std::io::Write;
use std::time::Instant;

use rayon::prelude::*;

use serde_json::json;

use super::SomParams;
use super::grid::Grid;
use super::quality::Assessment;
use super::train::{Config, Trained};
use crate::spectra::SpectraMatrix;
use crate::votable::{Datatype, Field, Table, Value};
use crate::{Failure, JobContext, ResultFile};

/// At most this many points per spectrum in the viewer's data file.
const VIEW_POINTS: usize = 512;
/// The viewer page, served by the master as vocloud's own page (src/respond.rs).
pub const VIEWER_HTML: &str = include_str!("viewer.html");

fn result(name: &str, mime: &str) -> ResultFile {
    ResultFile { name: name.into(), mime_type: mime.into() }
}

/// Writes every result file; returns them in the order the job lists them.
pub fn write_all(
    ctx: &JobContext,
    params: &SomParams,
    config: &Config,
    data: &SpectraMatrix,
    input: &Input,
    trained: &Trained,
    quality: &Assessment,
) -> Result<Vec<ResultFile>, Failure> {
    let grid = &config.grid;
    let w = &trained.codebook;
    let started = Instant::now();
    let umatrix = umatrix(grid, w, data.bins);
    // The files are independent: written in parallel, each timed for quality.json.
    let hits: Vec<f64> = quality.hits.iter().map(|&h| h as f64).collect();
    type Writer<'a> = Box<dyn Fn() -> Result<(), Failure> + Sync + 'a>;
    let writers: Vec<(&str, Writer)> = vec![
        ("codebook.fits", Box::new(|| write_codebook_fits(ctx, grid, data, w))),
        (
            "codebook.vot",
            Box::new(|| {
                write_table(ctx, "codebook.vot", &codebook_table(params, grid, data, w, &quality.hits, &umatrix))
            }),
        ),
        ("bmus.vot", Box::new(|| write_table(ctx, "bmus.vot", &bmus_table(params, grid, data, quality)))),
        ("umatrix.png", Box::new(|| ctx.write_result("umatrix.png", &map_png(grid, &umatrix, false)))),
        ("hits.png", Box::new(|| ctx.write_result("hits.png", &map_png(grid, &hits, true)))),
        ("viewer", Box::new(|| write_viewer(ctx, grid, data, input, w, quality, &umatrix))),
    ];
    let took: Vec<(String, f64)> = writers
        .par_iter()
        .map(|(name, write)| {
            let started = Instant::now();
            write().map(|_| (name.to_string(), started.elapsed().as_secs_f64()))
        })
        .collect::<Result<_, _>>()?;
    let mut seconds = serde_json::to_value(&input.seconds).unwrap_or_default();
    seconds["per_epoch"] = json!(trained.history.iter().map(|h| h.seconds).collect::<Vec<_>>());
    seconds["outputs"] = json!(started.elapsed().as_secs_f64());
    seconds["output_files"] = json!(took.into_iter().map(|(k, v)| (k, json!(v))).collect::<serde_json::Map<_, _>>());
    let report = json!({
        "qe": quality.qe, "te": quality.te8, "te8": quality.te8, "te4": quality.te4, "purity": quality.purity,
        "spectra": data.n, "bins": data.bins, "nodes": grid.nodes(),
        "history": trained.history,
        "seconds": seconds,
        "params": params,
        "definitions": "qe: mean Euclidean distance to the BMU (float64); te/te8: fraction whose BMU and second BMU \
            are not 8-neighbours (6 on hexagonal maps); te4: not edge neighbours; history[t]: the codebook \
            entering epoch t, from that epoch's float32 BMU pass; seconds: wall time of each step of the run \
            (the output files in parallel)",
    });
    ctx.write_result("quality.json", serde_json::to_string_pretty(&report).unwrap_or_default().as_bytes())?;
    Ok(vec![
        result("index.html", "text/html"),
        result("codebook.fits", "application/fits"),
        result("codebook.vot", "application/x-votable+xml"),
        result("bmus.vot", "application/x-votable+xml"),
        result("umatrix.png", "image/png"),
        result("hits.png", "image/png"),
        result("quality.json", "application/json"),
        result("viewer.json", "application/json"),
        result("members.json", "application/json"),
        result("viewer.bin", "application/octet-stream"),
    ])
}

/// Mean codebook distance of each node to its map neighbours.
pub fn umatrix(grid: &Grid, w: &[f32], d: usize) -> Vec<f64> {
    (0..grid.nodes())
        .map(|k| {
            let nb = grid.neighbours(k);
            let total: f64 = nb
                .iter()
                .map(|&j| {
                    w[k * d..(k + 1) * d]
                        .iter()
                        .zip(&w[j * d..(j + 1) * d])
                        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                        .sum::<f64>()
                        .sqrt()
                })
                .sum();
            if nb.is_empty() { 0.0 } else { total / nb.len() as f64 }
        })
        .collect()
}

fn is_linear(wave: &[f64]) -> bool {
    let step = (wave[wave.len() - 1] - wave[0]) / (wave.len() - 1) as f64;
    wave.iter().enumerate().all(|(i, &w)| (w - (wave[0] + step * i as f64)).abs() <= 1e-9 * w.abs().max(1.0))
}

fn write_codebook_fits(ctx: &JobContext, grid: &Grid, data: &SpectraMatrix, w: &[f32]) -> Result<(), Failure> {
    use fitsio::images::{ImageDescription, ImageType};
    let tmp = ctx.results_dir.join(".codebook.fits.partial");
    let _ = std::fs::remove_file(&tmp);
    let fail = |e: fitsio::errors::Error| Failure::Retryable(format!("writing codebook.fits: {e}"));
    {
        let dims = [grid.nodes(), data.bins];
        let desc = ImageDescription { data_type: ImageType::Float, dimensions: &dims };
        let mut file = fitsio::FitsFile::create(&tmp).with_custom_primary(&desc).open().map_err(fail)?;
        let hdu = file.primary_hdu().map_err(fail)?;
        hdu.write_image(&mut file, w).map_err(fail)?;
        hdu.write_key(&mut file, "SOMROWS", (grid.rows as i64, "map rows")).map_err(fail)?;
        hdu.write_key(&mut file, "SOMCOLS", (grid.cols as i64, "map columns; node k at row k/cols")).map_err(fail)?;
        let lattice = if grid.hexagonal { "hexagonal" } else { "rectangular" };
        hdu.write_key(&mut file, "SOMGRID", lattice).map_err(fail)?;
        hdu.write_key(&mut file, "SOMMAP", if grid.toroid { "toroid" } else { "planar" }).map_err(fail)?;
        if is_linear(&data.grid) {
            let step = (data.grid[data.bins - 1] - data.grid[0]) / (data.bins - 1) as f64;
            hdu.write_key(&mut file, "CTYPE1", "WAVE").map_err(fail)?;
            hdu.write_key(&mut file, "CRPIX1", 1.0).map_err(fail)?;
            hdu.write_key(&mut file, "CRVAL1", data.grid[0]).map_err(fail)?;
            hdu.write_key(&mut file, "CDELT1", step).map_err(fail)?;
        }
        let wdims = [data.bins];
        let wdesc = ImageDescription { data_type: ImageType::Double, dimensions: &wdims };
        let whdu = file.create_image("WAVELENGTH", &wdesc).map_err(fail)?;
        whdu.write_image(&mut file, &data.grid).map_err(fail)?;
    }
    std::fs::rename(&tmp, ctx.results_dir.join("codebook.fits"))
        .map_err(|e| Failure::Retryable(format!("writing codebook.fits: {e}")))
}

fn param_infos(params: &SomParams) -> Vec<(String, String)> {
    let value = serde_json::to_value(params).unwrap_or_default();
    value
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), crate::params::display_value(v))).collect())
        .unwrap_or_default()
}

fn codebook_table(
    params: &SomParams,
    grid: &Grid,
    data: &SpectraMatrix,
    w: &[f32],
    hits: &[u32],
    umatrix: &[f64],
) -> Table {
    let mut t = Table::new(
        "codebook",
        vec![
            Field::new("node", Datatype::Int).ucd("meta.id"),
            Field::new("row", Datatype::Int),
            Field::new("col", Datatype::Int),
            Field::new("hits", Datatype::Int).describe("spectra with this BMU"),
            Field::new("umatrix", Datatype::Double).describe("mean codebook distance to map neighbours"),
            Field::new("weights", Datatype::Float).array(&data.bins.to_string()).describe("reference spectrum"),
        ],
    );
    t.infos = param_infos(params);
    t.infos.push(("wavelengths".into(), data.grid.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(" ")));
    for k in 0..grid.nodes() {
        t.push(vec![
            Value::Int(k as i64),
            Value::Int((k / grid.cols) as i64),
            Value::Int((k % grid.cols) as i64),
            Value::Int(hits[k] as i64),
            Value::Float(umatrix[k]),
            Value::FloatArray(w[k * data.bins..(k + 1) * data.bins].iter().map(|&v| v as f64).collect()),
        ]);
    }
    t
}

fn bmus_table(params: &SomParams, grid: &Grid, data: &SpectraMatrix, q: &Assessment) -> Table {
    let mut t = Table::new(
        "bmus",
        vec![
            Field::new("name", Datatype::Char).ucd("meta.id"),
            Field::new("label", Datatype::Char).ucd("meta.code.class"),
            Field::new("bmu", Datatype::Int).describe("best-matching node, row-major"),
            Field::new("row", Datatype::Int),
            Field::new("col", Datatype::Int),
            Field::new("distance", Datatype::Double).describe("Euclidean distance to the BMU's weights"),
            Field::new("second_bmu", Datatype::Int),
            Field::new("file", Datatype::Char).describe("the input file, inside the input folder (empty: the input)"),
            Field::new("file_row", Datatype::Int).describe("0-based row of a file holding several spectra"),
        ],
    );
    t.infos = param_infos(params);
    for i in 0..data.n {
        let b = q.best[i] as usize;
        let origin = &data.origins[i];
        t.push(vec![
            Value::Text(data.names[i].clone()),
            data.labels[i].clone().map(Value::Text).unwrap_or(Value::Null),
            Value::Int(b as i64),
            Value::Int((b / grid.cols) as i64),
            Value::Int((b % grid.cols) as i64),
            Value::Float(q.distance[i]),
            Value::Int(q.second[i] as i64),
            Value::Text(origin.file.clone()),
            origin.row.map_or(Value::Null, |r| Value::Int(r as i64)),
        ]);
    }
    t
}

/// A perceptually ordered colour ramp (viridis anchors).
fn colour(t: f64) -> [u8; 3] {
    const STOPS: [[f64; 3]; 5] =
        [[68.0, 1.0, 84.0], [59.0, 82.0, 139.0], [33.0, 145.0, 140.0], [94.0, 201.0, 98.0], [253.0, 231.0, 37.0]];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 } * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let mix = |c: usize| (STOPS[i][c] + f * (STOPS[i + 1][c] - STOPS[i][c])).round() as u8;
    [mix(0), mix(1), mix(2)]
}

/// One cell per node, coloured by `values` (zeros grey when `zero_grey`).
pub fn map_png(grid: &Grid, values: &[f64], zero_grey: bool) -> Vec<u8> {
    let cell = (600 / grid.rows.max(grid.cols)).clamp(4, 40);
    let width = grid.cols * cell + if grid.hexagonal { cell / 2 } else { 0 };
    let height = grid.rows * cell;
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut pixels = vec![255u8; width * height * 3];
    for (k, &v) in values.iter().enumerate() {
        let (r, c) = (k / grid.cols, k % grid.cols);
        let x0 = c * cell + if grid.hexagonal && r % 2 == 1 { cell / 2 } else { 0 };
        let rgb = if zero_grey && v == 0.0 { [200, 200, 200] } else { colour((v - lo) / span) };
        for y in r * cell..(r + 1) * cell - usize::from(cell > 6) {
            for x in x0..x0 + cell - usize::from(cell > 6) {
                pixels[(y * width + x) * 3..(y * width + x) * 3 + 3].copy_from_slice(&rgb);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width as u32, height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("in-memory PNG header");
        writer.write_image_data(&pixels).expect("in-memory PNG data");
    }
    out
}

/// Averages groups of `group` consecutive values.
fn downsample(values: &[f32], group: usize) -> impl Iterator<Item = f32> + '_ {
    values.chunks(group).map(|c| c.iter().sum::<f32>() / c.len() as f32)
}

/// The input as the user named it (so the viewer can open the original spectra), and how long
/// the steps before the outputs took.
pub struct Input<'a> {
    pub path: &'a str,
    pub folder: bool,
    pub seconds: Seconds,
}

/// Wall time of the steps of a run, reported in `quality.json`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Seconds {
    pub reading: f64,
    pub initialisation: f64,
    pub training: f64,
    pub quality: f64,
}

/// A VOTable result: BINARY2 (a fifth of TABLEDATA's bytes for the codebook's float arrays and
/// no float formatting; TOPCAT, astropy, pyvo and our reader take it).
fn write_table(ctx: &JobContext, name: &str, table: &Table) -> Result<(), Failure> {
    let mut bytes = Vec::new();
    table
        .write_as(&mut bytes, crate::votable::Version::V1_4, crate::votable::Encoding::Binary2)
        .map_err(|e| Failure::Fatal(format!("writing {name}: {e}")))?;
    ctx.write_result(name, &bytes)
}

fn write_viewer(
    ctx: &JobContext,
    grid: &Grid,
    data: &SpectraMatrix,
    input: &Input,
    w: &[f32],
    q: &Assessment,
    umatrix: &[f64],
) -> Result<(), Failure> {
    let m = grid.nodes();
    let group = data.bins.div_ceil(VIEW_POINTS);
    let wave_f32: Vec<f32> = data.grid.iter().map(|&v| v as f32).collect();
    let wave: Vec<f32> = downsample(&wave_f32, group).collect();
    let points = wave.len();
    // Spectra in node order (stable: input order within a node).
    let mut order: Vec<usize> = (0..data.n).collect();
    order.sort_by_key(|&i| q.best[i]);
    let mut offsets = vec![0usize; m + 1];
    for k in 0..m {
        offsets[k + 1] = offsets[k] + q.hits[k] as usize;
    }
    let tmp = ctx.results_dir.join(".viewer.bin.partial");
    let io = |e: std::io::Error| Failure::Retryable(format!("writing viewer.bin: {e}"));
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        for k in 0..m {
            for v in downsample(&w[k * data.bins..(k + 1) * data.bins], group) {
                file.write_all(&v.to_le_bytes()).map_err(io)?;
            }
        }
        for &i in &order {
            for v in downsample(data.row(i), group) {
                file.write_all(&v.to_le_bytes()).map_err(io)?;
            }
        }
        file.flush().map_err(io)?;
    }
    std::fs::rename(&tmp, ctx.results_dir.join("viewer.bin")).map_err(io)?;

    let mut classes: Vec<&str> = data.labels.iter().flatten().map(|s| s.as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    let node_class: Vec<i64> = (0..m)
        .map(|k| {
            let mut counts = vec![0usize; classes.len()];
            for &i in &order[offsets[k]..offsets[k + 1]] {
                if let Some(l) = &data.labels[i] {
                    counts[classes.binary_search(&l.as_str()).unwrap_or(0)] += 1;
                }
            }
            counts
                .iter()
                .enumerate()
                .max_by_key(|&(c, n)| (*n, std::cmp::Reverse(c)))
                .filter(|(_, n)| **n > 0)
                .map_or(-1, |(c, _)| c as i64)
        })
        .collect();
    let viewer = json!({
        "rows": grid.rows, "cols": grid.cols, "hexagonal": grid.hexagonal, "toroid": grid.toroid,
        "spectra": data.n, "points": points, "wave": wave,
        "umatrix": umatrix, "hits": q.hits, "offsets": offsets,
        "classes": classes, "node_class": node_class,
        "neighbours": (0..m).map(|k| grid.neighbours(k)).collect::<Vec<_>>(),
        "qe": q.qe, "te": q.te8, "purity": q.purity,
        "input": input.path, "input_is_folder": input.folder,
        "layout": "viewer.bin: float32 little-endian; nodes*points codebook values, then spectra*points in node order",
    });
    ctx.write_result("viewer.json", viewer.to_string().as_bytes())?;
    let members = json!({
        "names": order.iter().map(|&i| data.names[i].as_str()).collect::<Vec<_>>(),
        "labels": order.iter().map(|&i| data.labels[i].as_deref()).collect::<Vec<_>>(),
        "distance": order.iter().map(|&i| (q.distance[i] * 1e6).round() / 1e6).collect::<Vec<_>>(),
        // Where each came from: file inside the input folder ("" for a one-file input) and row.
        "file": order.iter().map(|&i| data.origins.get(i).map_or("", |o| o.file.as_str())).collect::<Vec<_>>(),
        "row": order.iter().map(|&i| data.origins.get(i).and_then(|o| o.row)).collect::<Vec<_>>(),
    });
    ctx.write_result("members.json", members.to_string().as_bytes())?;
    ctx.write_result("index.html", VIEWER_HTML.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umatrix_is_the_mean_distance_to_neighbours() {
        let grid = Grid { rows: 1, cols: 3, hexagonal: false, toroid: false };
        let w = [0.0f32, 0.0, 3.0, 4.0, 3.0, 4.0];
        assert_eq!(umatrix(&grid, &w, 2), vec![5.0, 2.5, 0.0]);
    }

    #[test]
    fn map_png_is_a_png() {
        let grid = Grid { rows: 3, cols: 4, hexagonal: true, toroid: false };
        let png = map_png(&grid, &(0..12).map(|v| v as f64).collect::<Vec<_>>(), true);
        assert_eq!(&png[1..4], b"PNG");
    }
}
