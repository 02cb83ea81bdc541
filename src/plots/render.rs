//! Rendering a [`Dataset`] in a [`View`]: pure, data in, bytes out (PNG or SVG).
//!
//! Why a frame is cheap: the data area is not stroked sample by sample. For every pixel column
//! and every visible series we take the exact vertical extent of the polyline inside that column
//! — min/max of the samples that fall in it (scanned when few, from the series' min/max pyramid
//! when many) plus the line's values where it crosses the column edges — and fill that span. So
//! a frame costs O(columns × visible series × log n), whatever the number of samples, and it is
//! still the exact 1-px rasterisation of the polyline. Column edges and interpolation weights
//! depend only on the x grid, so they are computed once per distinct grid per frame.
//!
//! Few series are drawn as coloured lines. Many overlapping series (more than
//! [`LINES_MAX`] by default) are drawn as a density image: each span adds one to a count per
//! pixel, and counts go through a log colour scale shown in a colour bar. The density pass
//! splits the series over threads (rayon), each with its own count buffer.
//!
//! Axes, ticks, grid and text go through `plotters` so PNG and SVG share one code path; the
//! font is DejaVu Sans, embedded in the binary, so no system fonts are needed.

use std::sync::Once;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rayon::prelude::*;

use super::data::{Block, Dataset};

/// Above this many visible series, `Mode::Auto` draws a density image instead of lines.
pub const LINES_MAX: usize = 64;

// One copy of the font serves both crates (issue 12): the workers crate keeps it.
static FONT: &[u8] = include_bytes!("../../workers/assets/DejaVuSans.ttf");
static FONT_ONCE: Once = Once::new();

fn register_font() {
    FONT_ONCE.call_once(|| {
        // Cannot fail for a valid TTF embedded at compile time; a bad font would show no text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// The visible rectangle in data coordinates and the axis scales.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct View {
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
    pub xlog: bool,
    pub ylog: bool,
}

fn fwd(v: f64, log: bool) -> f64 {
    if log { v.log10() } else { v }
}

fn inv(v: f64, log: bool) -> f64 {
    if log { 10f64.powf(v) } else { v }
}

impl View {
    /// Whether the view is usable: finite, ordered, positive on log axes, not absurdly thin.
    pub fn is_valid(&self) -> bool {
        let ok = |a: f64, b: f64, log: bool| {
            a.is_finite() && b.is_finite() && a < b && (!log || a > 0.0) && {
                let (ta, tb) = (fwd(a, log), fwd(b, log));
                (tb - ta) > 1e-12 * ta.abs().max(tb.abs()).max(1e-300)
            }
        };
        ok(self.x0, self.x1, self.xlog) && ok(self.y0, self.y1, self.ylog)
    }

    /// Moves the view by a drag of (`dx`, `dy`) pixels in a plot area of `w` × `h` pixels.
    pub fn pan(&self, dx: f64, dy: f64, w: f64, h: f64) -> View {
        let (tx0, tx1, ty0, ty1) = self.transformed();
        let sx = (tx1 - tx0) * dx / w;
        let sy = (ty1 - ty0) * dy / h;
        self.with_transformed(tx0 - sx, tx1 - sx, ty0 + sy, ty1 + sy)
    }

    /// Zooms by `factor` (> 1 zooms in) keeping the point at pixel (`px`, `py`) of the plot
    /// area fixed.
    pub fn zoom_at(&self, px: f64, py: f64, factor: f64, w: f64, h: f64) -> View {
        let (tx0, tx1, ty0, ty1) = self.transformed();
        let cx = tx0 + (tx1 - tx0) * (px / w);
        let cy = ty1 - (ty1 - ty0) * (py / h);
        let k = 1.0 / factor;
        self.with_transformed(cx - (cx - tx0) * k, cx + (tx1 - cx) * k, cy - (cy - ty0) * k, cy + (ty1 - cy) * k)
    }

    /// The view of a box between two pixel corners of the plot area.
    pub fn zoom_box(&self, (ax, ay): (f64, f64), (bx, by): (f64, f64), w: f64, h: f64) -> View {
        let (tx0, tx1, ty0, ty1) = self.transformed();
        let x = |p: f64| tx0 + (tx1 - tx0) * (p / w);
        let y = |p: f64| ty1 - (ty1 - ty0) * (p / h);
        self.with_transformed(x(ax.min(bx)), x(ax.max(bx)), y(ay.max(by)), y(ay.min(by)))
    }

    /// Data coordinates of pixel (`px`, `py`) of the plot area.
    pub fn data_at(&self, px: f64, py: f64, w: f64, h: f64) -> (f64, f64) {
        let (tx0, tx1, ty0, ty1) = self.transformed();
        (inv(tx0 + (tx1 - tx0) * px / w, self.xlog), inv(ty1 - (ty1 - ty0) * py / h, self.ylog))
    }

    fn transformed(&self) -> (f64, f64, f64, f64) {
        (fwd(self.x0, self.xlog), fwd(self.x1, self.xlog), fwd(self.y0, self.ylog), fwd(self.y1, self.ylog))
    }

    fn with_transformed(&self, tx0: f64, tx1: f64, ty0: f64, ty1: f64) -> View {
        View {
            x0: inv(tx0, self.xlog),
            x1: inv(tx1, self.xlog),
            y0: inv(ty0, self.ylog),
            y1: inv(ty1, self.ylog),
            ..*self
        }
    }
}

/// The whole data set with a margin, on the given scales.
pub fn home_view(data: &Dataset, xlog: bool, ylog: bool) -> View {
    let (mut x0, mut x1, mut y0, mut y1) = data.extent;
    if xlog && x0 <= 0.0 {
        x0 = if data.min_positive.0.is_finite() { data.min_positive.0 } else { 1.0 };
        x1 = x1.max(x0 * 10.0);
    }
    if ylog && y0 <= 0.0 {
        y0 = if data.min_positive.1.is_finite() { data.min_positive.1 } else { 1.0 };
        y1 = y1.max(y0 * 10.0);
    }
    let pad = |a: f64, b: f64, log: bool, frac: f64| {
        let (ta, tb) = (fwd(a, log), fwd(b, log));
        let span = if tb > ta { tb - ta } else { ta.abs().max(1.0) };
        (inv(ta - span * frac, log), inv(tb + span * frac, log))
    };
    let (x0, x1) = if x1 > x0 { (x0, x1) } else { pad(x0, x1, xlog, 0.5) };
    let (y0, y1) = pad(y0, y1, ylog, 0.05);
    View { x0, x1, y0, y1, xlog, ylog }
}

/// How series are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Lines up to [`LINES_MAX`] visible series, density above.
    Auto,
    Lines,
    Density,
}

/// What to draw: pixel size, scale (device pixel ratio: fonts and margins grow with it), mode,
/// and which series are visible (`None` = all).
#[derive(Debug, Clone)]
pub struct FrameSpec<'a> {
    pub width: u32,
    pub height: u32,
    pub scale: f64,
    pub mode: Mode,
    pub visible: Option<&'a [bool]>,
}

/// The plot area inside the frame, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PlotRect {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

/// Where the plot area sits for a frame size; the colour bar takes room on the right.
pub fn layout(width: u32, height: u32, scale: f64, colour_bar: bool) -> PlotRect {
    let m = |v: f64| (v * scale).round() as u32;
    let (left, right, top, bottom) = (m(78.0), m(if colour_bar { 86.0 } else { 16.0 }), m(12.0), m(44.0));
    PlotRect {
        left: left.min(width / 2),
        top: top.min(height / 2),
        width: width.saturating_sub(left + right).max(8),
        height: height.saturating_sub(top + bottom).max(8),
    }
}

/// An RGB frame and what it took.
pub struct Frame {
    pub rgb: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub plot: PlotRect,
    pub density: bool,
    pub max_count: u32,
}

/// A palette for up to ten lines (matplotlib's tab10); more series reuse it.
pub const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// Which series are drawn.
fn visible_indices(data: &Dataset, spec: &FrameSpec) -> Vec<usize> {
    (0..data.series.len()).filter(|&i| spec.visible.is_none_or(|v| v.get(i).copied().unwrap_or(true))).collect()
}

/// What a frame (PNG or SVG) shows and where: the visible series, whether they are drawn as a
/// density, and the plot rectangle (narrower when the density's colour bar needs room).
fn frame_plan(data: &Dataset, spec: &FrameSpec) -> (Vec<usize>, bool, PlotRect) {
    let visible = visible_indices(data, spec);
    let density = is_density(spec, visible.len());
    let plot = layout(spec.width, spec.height, spec.scale, density);
    (visible, density, plot)
}

fn is_density(spec: &FrameSpec, visible: usize) -> bool {
    match spec.mode {
        Mode::Auto => visible > LINES_MAX,
        Mode::Lines => false,
        Mode::Density => true,
    }
}

/// Renders the frame as RGB pixels.
pub fn render(data: &Dataset, view: &View, spec: &FrameSpec) -> Frame {
    register_font();
    let (w, h) = (spec.width, spec.height);
    let (visible, density, plot) = frame_plan(data, spec);
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw_grid(&root, view, plot, spec.scale);
        let _ = root.present();
    }
    let columns = Columns::new(data, &visible, view, plot.width as usize);
    let mut max_count = 0;
    if density {
        let counts = density_counts(data, &visible, view, plot, &columns);
        max_count = counts.iter().copied().max().unwrap_or(0);
        paint_density(&mut rgb, w, plot, &counts, max_count);
    } else {
        for &i in &visible {
            let colour = PALETTE[i % PALETTE.len()];
            for_each_span(data, i, view, plot, &columns, 0..plot.width as usize, |c, r0, r1| {
                for r in r0..=r1 {
                    let at = (((plot.top as usize + r) * w as usize) + plot.left as usize + c) * 3;
                    rgb[at..at + 3].copy_from_slice(&[colour.0, colour.1, colour.2]);
                }
            });
        }
    }
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw_axes(&root, view, plot, spec.scale, (&data.axes.0, &data.axes.1));
        if density {
            draw_colour_bar(&root, plot, spec.scale, max_count);
        }
        let _ = root.present();
    }
    Frame { rgb, width: w, height: h, plot, density, max_count }
}

/// PNG bytes for an RGB frame, at the fastest zlib setting: it costs several times less CPU
/// than the default for nearly the same size (measured, `docs/refs/plots`).
pub fn encode_png(frame: &Frame) -> Vec<u8> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut out = Vec::with_capacity(frame.rgb.len() / 8);
    let encoder = PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Sub);
    // Writing to a Vec only fails for a buffer of the wrong length, which `render` never makes.
    encoder
        .write_image(&frame.rgb, frame.width, frame.height, image::ColorType::Rgb8)
        .expect("encoding a well-formed RGB buffer");
    out
}

/// Per-frame column geometry of each distinct x grid: for column edge `c` (0..=width), the
/// first sample index at or right of the edge and the interpolation weight from the sample
/// before it.
///
/// Grids are keyed by the address of their shared `Arc<[f64]>` (only compared, never read);
/// a hash map and a parallel build keep collections where every spectrum has its own grid
/// from costing O(series²) per frame.
struct Columns {
    grids: std::collections::HashMap<usize, (Vec<u32>, Vec<f32>)>,
}

impl Columns {
    fn new(data: &Dataset, visible: &[usize], view: &View, width: usize) -> Columns {
        let (tx0, tx1) = (fwd(view.x0, view.xlog), fwd(view.x1, view.xlog));
        let edges: Vec<f64> =
            (0..=width).map(|c| inv(tx0 + (tx1 - tx0) * c as f64 / width as f64, view.xlog)).collect();
        let mut seen = std::collections::HashSet::new();
        let distinct: Vec<&[f64]> =
            visible.iter().map(|&i| &*data.series[i].x).filter(|x| seen.insert(x.as_ptr() as usize)).collect();
        let grids = distinct
            .par_iter()
            .with_min_len(64)
            .map(|x| {
                let mut idx = Vec::with_capacity(edges.len());
                let mut t = Vec::with_capacity(edges.len());
                // Edges ascend: walk the grid from the first edge when the visible samples are
                // few per edge (one binary search per edge cost most of a frame for 1,000
                // spectra on their own grids), search per edge when they are many.
                let first = x.partition_point(|v| *v < edges[0]);
                let last = x.partition_point(|v| *v < edges[edges.len() - 1]);
                let walk = last - first <= 16 * edges.len();
                let mut a = first;
                for &e in &edges {
                    if walk {
                        while a < x.len() && x[a] < e {
                            a += 1;
                        }
                    } else {
                        a = x.partition_point(|v| *v < e);
                    }
                    idx.push(a as u32);
                    t.push(if a > 0 && a < x.len() { ((e - x[a - 1]) / (x[a] - x[a - 1])) as f32 } else { 0.0 });
                }
                (x.as_ptr() as usize, (idx, t))
            })
            .collect();
        Columns { grids }
    }

    fn of(&self, x: *const f64) -> (&[u32], &[f32]) {
        let g = self.grids.get(&(x as usize)).expect("grid of a visible series");
        (&g.0, &g.1)
    }
}

/// Calls `fill(column, row_top, row_bottom)` (plot-area pixels, inclusive) for each column in
/// `cols` that the polyline of series `i` crosses.
fn for_each_span(
    data: &Dataset,
    i: usize,
    view: &View,
    plot: PlotRect,
    columns: &Columns,
    cols: std::ops::Range<usize>,
    fill: impl FnMut(usize, usize, usize),
) {
    // The axis scale is a compile-time parameter: with a run-time `if`, LLVM computed log10
    // for every value and selected afterwards (perf showed most time in log10).
    if view.ylog {
        spans::<true>(data, i, view, plot, columns, cols, fill)
    } else {
        spans::<false>(data, i, view, plot, columns, cols, fill)
    }
}

fn tf<const LOG: bool>(v: f64) -> f64 {
    if LOG { v.log10() } else { v }
}

fn spans<const YLOG: bool>(
    data: &Dataset,
    i: usize,
    view: &View,
    plot: PlotRect,
    columns: &Columns,
    cols: std::ops::Range<usize>,
    mut fill: impl FnMut(usize, usize, usize),
) {
    let s = &data.series[i];
    let n = s.y.len();
    let (idx, t) = columns.of(s.x.as_ptr());
    let (ty0, ty1) = (fwd(view.y0, view.ylog), fwd(view.y1, view.ylog));
    let hpx = plot.height as f64;
    let scale = hpx / (ty1 - ty0);
    let row = |v: f32| (ty1 - tf::<YLOG>(v as f64)) * scale;
    let edge = |c: usize| {
        let a = idx[c] as usize;
        (a > 0 && a < n).then(|| s.y[a - 1] + t[c] * (s.y[a] - s.y[a - 1]))
    };
    let mut left = edge(cols.start);
    for c in cols {
        let (a, b) = (idx[c] as usize, idx[c + 1] as usize);
        let right = edge(c + 1);
        if (a == 0 && b == 0) || a >= n {
            left = right;
            continue;
        }
        let (mut lo, mut hi) = s.min_max(a, b).unwrap_or((f32::INFINITY, f32::NEG_INFINITY));
        for v in [left, right].into_iter().flatten() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        left = right;
        if lo > hi {
            continue;
        }
        let (top, bottom) = (row(hi), row(lo));
        // NaN rows (log of a non-positive value) put the span at the bottom edge.
        let top = if top.is_nan() { hpx } else { top };
        let bottom = if bottom.is_nan() { hpx } else { bottom };
        if bottom < 0.0 || top >= hpx {
            continue;
        }
        let r0 = top.max(0.0) as usize;
        let r1 = (bottom.min(hpx - 1.0)) as usize;
        fill(c, r0, r1.max(r0));
    }
}

/// Columns per cache tile of the density pass (32 × 600 rows × 4 bytes ≈ 77 KB).
const TILE: usize = 32;

/// Copies of a column's difference buffer in the block pass: consecutive series add to
/// different copies, so increments of the same row do not wait on each other (with one buffer,
/// thousands of overlapping spans hit the same few rows and every add waited for the previous
/// store: 10,000 spectra took ~125 ms in this loop).
const LANES: usize = 4;

/// Line-crossing counts per plot pixel, column-major.
///
/// Each span adds +1 at its top row and -1 below its bottom row of a difference buffer, and
/// one prefix sum per column at the end turns that into counts: a span costs O(1) however tall
/// it is, so the pass is O(columns × series + pixels). Noisy spectra make spans tens of pixels
/// tall, where filling them one by one cost 5–10× more (measured in `benches/plots.rs`).
fn density_counts(data: &Dataset, visible: &[usize], view: &View, plot: PlotRect, columns: &Columns) -> Vec<u32> {
    // The block holds every series; hidden ones are masked out there, which is still the
    // faster way while most are shown.
    if let Some(block) = data.block.as_ref().filter(|b| !visible.is_empty() && visible.len() * 2 >= b.n) {
        let mut shown = vec![false; block.n];
        visible.iter().for_each(|&i| shown[i] = true);
        return block_counts(block, &shown, view, plot, columns);
    }
    let (pw, ph) = (plot.width as usize, plot.height as usize);
    let stride = ph + 1;
    let chunk = visible.len().div_ceil(rayon::current_num_threads().max(1) * 2).max(16);
    let diff = visible
        .par_chunks(chunk)
        .map(|part| {
            let mut diff = vec![0i32; pw * stride];
            // Tiles of columns keep the touched part of the buffer in cache: walking all
            // columns per series missed the cache on nearly every increment (perf).
            for tile in (0..pw).step_by(TILE) {
                for &i in part {
                    for_each_span(data, i, view, plot, columns, tile..(tile + TILE).min(pw), |c, r0, r1| {
                        diff[c * stride + r0] += 1;
                        diff[c * stride + r1 + 1] -= 1;
                    });
                }
            }
            diff
        })
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        })
        .unwrap_or_else(|| vec![0i32; pw * stride]);
    let mut counts = vec![0u32; pw * ph];
    for c in 0..pw {
        let mut run = 0i32;
        for r in 0..ph {
            run += diff[c * stride + r];
            counts[c * ph + r] = run as u32;
        }
    }
    counts
}

/// The density pass over a sample-major [`Block`]: threads take disjoint column ranges, and
/// each column reads its samples for all series as contiguous rows (min/max vectorise across
/// series), then adds each series' span to a per-column difference buffer.
fn block_counts(block: &Block, shown: &[bool], view: &View, plot: PlotRect, columns: &Columns) -> Vec<u32> {
    if view.ylog {
        block_counts_on::<true>(block, shown, view, plot, columns)
    } else {
        block_counts_on::<false>(block, shown, view, plot, columns)
    }
}

fn block_counts_on<const YLOG: bool>(
    block: &Block,
    shown: &[bool],
    view: &View,
    plot: PlotRect,
    columns: &Columns,
) -> Vec<u32> {
    let (pw, ph, n) = (plot.width as usize, plot.height as usize, block.n);
    let (idx, t) = columns.of(block.grid.as_ptr());
    let len = block.grid.len();
    let (ty0, ty1) = (fwd(view.y0, view.ylog), fwd(view.y1, view.ylog));
    let scale = ph as f64 / (ty1 - ty0);
    let mut counts = vec![0u32; pw * ph];
    counts.par_chunks_mut(ph * TILE).enumerate().for_each(|(tile, out)| {
        let (mut lo, mut hi) = (vec![0f32; n], vec![0f32; n]);
        let (mut r0s, mut r1s) = (vec![0i32; n], vec![0i32; n]);
        let stride = ph + 1;
        let mut diff = vec![0i32; LANES * stride];
        for (k, col) in out.chunks_mut(ph).enumerate() {
            let c = tile * TILE + k;
            let (a, b) = (idx[c] as usize, idx[c + 1] as usize);
            if (a == 0 && b == 0) || a >= len {
                continue;
            }
            lo.fill(f32::INFINITY);
            hi.fill(f32::NEG_INFINITY);
            for row in block.y[a * n..b * n].chunks_exact(n) {
                // Plain comparisons (NaN compares false, so it is skipped) vectorise; f32::min
                // with its NaN rules did not.
                for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                    *l = if v < *l { v } else { *l };
                    *h = if v > *h { v } else { *h };
                }
            }
            // The line's values where it crosses the two column edges.
            for (edge, w) in [(a, t[c]), (b, t[c + 1])] {
                if edge == 0 || edge >= len {
                    continue;
                }
                let (p, q) = (&block.y[(edge - 1) * n..edge * n], &block.y[edge * n..(edge + 1) * n]);
                for (((l, h), &p), &q) in lo.iter_mut().zip(hi.iter_mut()).zip(p).zip(q) {
                    let v = p + w * (q - p);
                    *l = if v < *l { v } else { *l };
                    *h = if v > *h { v } else { *h };
                }
            }
            if YLOG {
                span_rows(&lo, &hi, shown, &mut r0s, &mut r1s, ph, |v| ((ty1 - (v as f64).log10()) * scale) as f32);
            } else {
                // f32 is exact enough here: the samples themselves are f32.
                let (c, k) = (ty1 as f32, scale as f32);
                span_rows(&lo, &hi, shown, &mut r0s, &mut r1s, ph, |v| (c - v) * k);
            }
            // Then the increments, spread over LANES copies of the difference buffer.
            diff.fill(0);
            let mut lanes = diff.chunks_exact_mut(stride);
            let [d0, d1, d2, d3] = [(); LANES].map(|_| lanes.next().expect("LANES lanes"));
            let (a4, b4) = (r0s.chunks_exact(LANES), r1s.chunks_exact(LANES));
            let (ra, rb) = (a4.remainder(), b4.remainder());
            for (a, b) in a4.zip(b4) {
                d0[a[0] as usize] += 1;
                d0[b[0] as usize] -= 1;
                d1[a[1] as usize] += 1;
                d1[b[1] as usize] -= 1;
                d2[a[2] as usize] += 1;
                d2[b[2] as usize] -= 1;
                d3[a[3] as usize] += 1;
                d3[b[3] as usize] -= 1;
            }
            for (a, b) in ra.iter().zip(rb) {
                d0[*a as usize] += 1;
                d0[*b as usize] -= 1;
            }
            let mut run = 0i32;
            for (r, v) in col.iter_mut().enumerate() {
                run += d0[r] + d1[r] + d2[r] + d3[r];
                *v = run as u32;
            }
        }
    });
    counts
}

/// Top row and one-past-bottom row of each series' span in a column, from its (min, max) and
/// the value-to-row map. Branch-free and in f32 so that it vectorises (scalar f64 conversions
/// made this the slowest part of the block pass); a hidden, empty or off-plot span becomes
/// (ph, ph), a +1 and -1 on the spare last row of the difference buffer: nothing.
#[inline(always)]
fn span_rows(
    lo: &[f32],
    hi: &[f32],
    shown: &[bool],
    r0s: &mut [i32],
    r1s: &mut [i32],
    ph: usize,
    row: impl Fn(f32) -> f32,
) {
    let phf = ph as f32;
    for ((((&l, &h), &shown), r0), r1) in lo.iter().zip(hi).zip(shown).zip(r0s.iter_mut()).zip(r1s.iter_mut()) {
        let (top, bottom) = (row(h), row(l));
        // NaN rows (log of a non-positive value) sit at the bottom edge.
        let top = if top.is_nan() { phf } else { top };
        let bottom = if bottom.is_nan() { phf } else { bottom };
        let valid = shown && l <= h && bottom >= 0.0 && top < phf;
        // SAFETY: NaN was replaced and the values clamped to 0..=ph, so they fit an i32 (the
        // checked `as` cast compiled to one scalar conversion per value).
        let (a, b) = unsafe {
            (top.clamp(0.0, phf).to_int_unchecked::<i32>(), bottom.clamp(0.0, phf - 1.0).to_int_unchecked::<i32>())
        };
        let b = b.max(a) + 1;
        *r0 = if valid { a } else { ph as i32 };
        *r1 = if valid { b } else { ph as i32 };
    }
}

/// A perceptually uniform colour map (viridis, sampled at 9 points, interpolated).
fn viridis(v: f64) -> (u8, u8, u8) {
    const STOPS: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 44.0, 122.0),
        (59.0, 81.0, 139.0),
        (44.0, 113.0, 142.0),
        (33.0, 144.0, 141.0),
        (39.0, 173.0, 129.0),
        (92.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    let p = v.clamp(0.0, 1.0) * 8.0;
    let i = (p.floor() as usize).min(7);
    let f = p - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Colour of a count on the log scale used by the image and its colour bar.
fn count_colour(count: u32, max: u32) -> (u8, u8, u8) {
    let v = (count as f64).ln_1p() / (max.max(1) as f64).ln_1p();
    viridis(v)
}

fn paint_density(rgb: &mut [u8], w: u32, plot: PlotRect, counts: &[u32], max: u32) {
    let (pw, ph) = (plot.width as usize, plot.height as usize);
    // One colour per count (log and colour map are too slow per pixel); above 65,536 counts
    // neighbouring counts share an entry.
    let shift = (32 - max.leading_zeros()).saturating_sub(16);
    let lut: Vec<(u8, u8, u8)> = (0..=(max >> shift)).map(|c| count_colour(c << shift, max)).collect();
    for c in 0..pw {
        for r in 0..ph {
            let n = counts[c * ph + r];
            if n == 0 {
                continue;
            }
            let col = lut[(n >> shift) as usize];
            let at = (((plot.top as usize + r) * w as usize) + plot.left as usize + c) * 3;
            rgb[at..at + 3].copy_from_slice(&[col.0, col.1, col.2]);
        }
    }
}

/// Tick positions (data values) and labels for an axis.
pub fn ticks(a: f64, b: f64, log: bool, target: usize) -> Vec<(f64, String)> {
    if log && b / a >= 10.0 {
        let (da, db) = (a.log10().ceil() as i32, b.log10().floor() as i32);
        let step = ((db - da) as usize / target.max(1) + 1) as i32;
        return (da..=db)
            .step_by(step as usize)
            .map(|e| {
                (
                    10f64.powi(e),
                    if (-3..=4).contains(&e) { format_number(10f64.powi(e), 10f64.powi(e)) } else { format!("1e{e}") },
                )
            })
            .collect();
    }
    let raw = (b - a) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (a / step).ceil() as i64;
    let last = (b / step).floor() as i64;
    (first..=last.min(first + 100)).map(|k| k as f64 * step).map(|v| (v, format_number(v, step))).collect()
}

fn format_number(v: f64, step: f64) -> String {
    let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
    let mag = v.abs().max(step);
    if mag >= 1e6 || (mag < 1e-3 && v != 0.0) {
        return format!("{v:.2e}");
    }
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

fn to_px(v: f64, a: f64, b: f64, log: bool, len: u32) -> f64 {
    (fwd(v, log) - fwd(a, log)) / (fwd(b, log) - fwd(a, log)) * len as f64
}

fn draw_grid<DB: DrawingBackend>(root: &DrawingArea<DB, plotters::coord::Shift>, view: &View, p: PlotRect, s: f64) {
    let grey = RGBColor(232, 232, 232);
    let (l, t, r, b) = (p.left as i32, p.top as i32, (p.left + p.width) as i32, (p.top + p.height) as i32);
    for (v, _) in ticks(view.x0, view.x1, view.xlog, (p.width as f64 / (110.0 * s)) as usize) {
        let x = l + to_px(v, view.x0, view.x1, view.xlog, p.width) as i32;
        let _ = root.draw(&PathElement::new(vec![(x, t), (x, b)], grey));
    }
    for (v, _) in ticks(view.y0, view.y1, view.ylog, (p.height as f64 / (60.0 * s)) as usize) {
        let y = b - to_px(v, view.y0, view.y1, view.ylog, p.height) as i32;
        let _ = root.draw(&PathElement::new(vec![(l, y), (r, y)], grey));
    }
}

fn draw_axes<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    view: &View,
    p: PlotRect,
    s: f64,
    (x_title, y_title): (&str, &str),
) {
    let black = RGBColor(30, 30, 30);
    let font = ("sans-serif", 12.0 * s).into_font().color(&black);
    let (l, t, r, b) = (p.left as i32, p.top as i32, (p.left + p.width) as i32, (p.top + p.height) as i32);
    // Clear the margins (data spans are clipped to the plot area, grid lines too, but be safe).
    let _ = root.draw(&PathElement::new(vec![(l - 1, t - 1), (r, t - 1), (r, b), (l - 1, b), (l - 1, t - 1)], black));
    let tick = (5.0 * s) as i32;
    for (v, label) in ticks(view.x0, view.x1, view.xlog, (p.width as f64 / (110.0 * s)) as usize) {
        let x = l + to_px(v, view.x0, view.x1, view.xlog, p.width) as i32;
        let _ = root.draw(&PathElement::new(vec![(x, b), (x, b + tick)], black));
        let style = font.clone().pos(Pos::new(HPos::Center, VPos::Top));
        let _ = root.draw_text(&label, &style, (x, b + tick + 2));
    }
    for (v, label) in ticks(view.y0, view.y1, view.ylog, (p.height as f64 / (60.0 * s)) as usize) {
        let y = b - to_px(v, view.y0, view.y1, view.ylog, p.height) as i32;
        let _ = root.draw(&PathElement::new(vec![(l - tick, y), (l, y)], black));
        let style = font.clone().pos(Pos::new(HPos::Right, VPos::Center));
        let _ = root.draw_text(&label, &style, (l - tick - 3, y));
    }
    let axis_font = ("sans-serif", 13.0 * s).into_font().color(&black);
    let style = axis_font.clone().pos(Pos::new(HPos::Center, VPos::Bottom));
    let xl = if view.xlog { format!("{x_title} (log)") } else { x_title.to_string() };
    let _ = root.draw_text(&xl, &style, ((l + r) / 2, b + (42.0 * s) as i32));
    let yl = if view.ylog { format!("{y_title} (log)") } else { y_title.to_string() };
    let style = axis_font.pos(Pos::new(HPos::Left, VPos::Top));
    let _ = root.draw_text(&yl, &style, ((4.0 * s) as i32, t));
}

fn draw_colour_bar<DB: DrawingBackend>(root: &DrawingArea<DB, plotters::coord::Shift>, p: PlotRect, s: f64, max: u32) {
    let black = RGBColor(30, 30, 30);
    let x0 = (p.left + p.width) as i32 + (14.0 * s) as i32;
    let x1 = x0 + (14.0 * s) as i32;
    let (t, b) = (p.top as i32, (p.top + p.height) as i32);
    let steps = 64;
    for k in 0..steps {
        let y0 = b - (b - t) * k / steps;
        let y1 = b - (b - t) * (k + 1) / steps;
        let count = ((max.max(1) as f64 + 1.0).powf((k as f64 + 0.5) / steps as f64) - 1.0).round() as u32;
        let (r, g, bl) = count_colour(count, max);
        let _ = root.draw(&Rectangle::new([(x0, y1), (x1, y0)], RGBColor(r, g, bl).filled()));
    }
    let _ = root.draw(&Rectangle::new([(x0, t), (x1, b)], black));
    let font = ("sans-serif", 11.0 * s).into_font().color(&black);
    let style = font.pos(Pos::new(HPos::Left, VPos::Center));
    let _ = root.draw_text(&max.max(1).to_string(), &style, (x1 + 3, t));
    let _ = root.draw_text("1", &style, (x1 + 3, b));
    let _ = root.draw_text("lines", &style, (x1 + 3, (t + b) / 2));
}

/// The current view as an SVG document: vector axes and text; lines as paths (per-column
/// min/max, so the file stays small at any data size); a density image embedded as a PNG.
pub fn render_svg(data: &Dataset, view: &View, spec: &FrameSpec) -> String {
    register_font();
    let (w, h) = (spec.width, spec.height);
    let (visible, density, plot) = frame_plan(data, spec);
    let mut svg = String::new();
    let mut image_tag = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        let _ = root.fill(&WHITE);
        draw_grid(&root, view, plot, spec.scale);
        let columns = Columns::new(data, &visible, view, plot.width as usize);
        if density {
            let frame = render(data, view, spec);
            let mut crop = Vec::with_capacity((plot.width * plot.height * 3) as usize);
            for r in plot.top..plot.top + plot.height {
                let at = ((r * w + plot.left) * 3) as usize;
                crop.extend_from_slice(&frame.rgb[at..at + (plot.width * 3) as usize]);
            }
            let png = encode_png(&Frame { rgb: crop, width: plot.width, height: plot.height, ..frame });
            use base64::Engine;
            image_tag = format!(
                "<image x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" href=\"data:image/png;base64,{}\"/>\n",
                plot.left,
                plot.top,
                plot.width,
                plot.height,
                base64::engine::general_purpose::STANDARD.encode(png)
            );
            draw_colour_bar(&root, plot, spec.scale, frame.max_count);
        } else {
            for &i in &visible {
                let (r, g, b) = PALETTE[i % PALETTE.len()];
                let mut points = Vec::new();
                for_each_span(data, i, view, plot, &columns, 0..plot.width as usize, |c, r0, r1| {
                    let x = (plot.left as usize + c) as i32;
                    points.push((x, (plot.top as usize + r0) as i32));
                    if r1 != r0 {
                        points.push((x, (plot.top as usize + r1) as i32));
                    }
                });
                let _ = root.draw(&PathElement::new(points, RGBColor(r, g, b)));
            }
        }
        draw_axes(&root, view, plot, spec.scale, (&data.axes.0, &data.axes.1));
        let _ = root.present();
    }
    if let Some(at) = svg.rfind("</svg>").filter(|_| !image_tag.is_empty()) {
        svg.insert_str(at, &image_tag);
    }
    svg
}

/// The series nearest to a point of the plot (in pixels), among visible ones: its index and
/// its value at that x.
pub fn nearest(data: &Dataset, view: &View, spec: &FrameSpec, x: f64, y: f64) -> Option<(usize, f64)> {
    let visible = visible_indices(data, spec);
    let (ty0, ty1) = (fwd(view.y0, view.ylog), fwd(view.y1, view.ylog));
    let ty = fwd(y, view.ylog);
    let mut best: Option<(usize, f64, f64)> = None;
    for i in visible {
        let s = &data.series[i];
        let a = s.x.partition_point(|v| *v < x);
        if a == 0 || a >= s.x.len() {
            continue;
        }
        let t = (x - s.x[a - 1]) / (s.x[a] - s.x[a - 1]);
        let v = s.y[a - 1] as f64 + t * (s.y[a] as f64 - s.y[a - 1] as f64);
        let d = ((fwd(v, view.ylog) - ty) / (ty1 - ty0)).abs();
        if d.is_finite() && best.is_none_or(|b| d < b.2) {
            best = Some((i, v, d));
        }
    }
    best.map(|(i, v, _)| (i, v))
}

/// Visible samples (inside the x range of the view) of visible series, in series order:
/// (series index, x, y). Stops after `limit` samples and says so with `false`.
pub fn visible_samples(
    data: &Dataset,
    view: &View,
    visible: Option<&[bool]>,
    limit: usize,
) -> (Vec<(usize, f64, f32)>, bool) {
    let mut out = Vec::new();
    for (i, s) in data.series.iter().enumerate() {
        if !visible.is_none_or(|v| v.get(i).copied().unwrap_or(true)) {
            continue;
        }
        let a = s.x.partition_point(|v| *v < view.x0);
        let b = s.x.partition_point(|v| *v <= view.x1);
        for k in a..b {
            if out.len() >= limit {
                return (out, false);
            }
            out.push((i, s.x[k], s.y[k]));
        }
    }
    (out, true)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::plots::data::Series;

    fn line(n: usize) -> Dataset {
        let x: Arc<[f64]> = (0..n).map(|i| i as f64).collect();
        let y = (0..n).map(|i| i as f32).collect();
        Dataset::new("t".into(), vec![Series::new("diag".into(), x, y)])
    }

    #[test]
    fn pan_and_zoom_move_the_view_as_the_pointer_does() {
        let v = View { x0: 0.0, x1: 100.0, y0: 0.0, y1: 10.0, xlog: false, ylog: false };
        let p = v.pan(10.0, 0.0, 100.0, 50.0);
        assert_eq!((p.x0, p.x1), (-10.0, 90.0));
        let z = v.zoom_at(50.0, 25.0, 2.0, 100.0, 50.0);
        assert_eq!((z.x0, z.x1, z.y0, z.y1), (25.0, 75.0, 2.5, 7.5));
        let b = v.zoom_box((10.0, 0.0), (20.0, 25.0), 100.0, 50.0);
        assert_eq!((b.x0, b.x1, b.y0, b.y1), (10.0, 20.0, 5.0, 10.0));
    }

    #[test]
    fn a_diagonal_line_fills_one_span_per_column() {
        let data = line(1000);
        let view = View { x0: 0.0, x1: 999.0, y0: 0.0, y1: 999.0, xlog: false, ylog: false };
        let spec = FrameSpec { width: 400, height: 300, scale: 1.0, mode: Mode::Lines, visible: None };
        let frame = render(&data, &view, &spec);
        let p = frame.plot;
        let mut dark_columns = 0;
        for c in 0..p.width {
            let blue = (p.top..p.top + p.height).any(|r| {
                let at = ((r * frame.width + p.left + c) * 3) as usize;
                frame.rgb[at..at + 3] == [31, 119, 180]
            });
            dark_columns += blue as u32;
        }
        assert!(dark_columns >= p.width - 1, "{dark_columns} of {}", p.width);
        assert!(encode_png(&frame).starts_with(b"\x89PNG"));
    }

    /// The block pass (sample-major, f32 rows, masked) against the per-series pass on the same
    /// data: same counts, up to a pixel's rounding at span ends.
    #[test]
    fn block_density_matches_the_per_series_pass() {
        let x: Arc<[f64]> = (0..3000).map(|i| 1.0 + i as f64 * 0.5).collect();
        let series: Vec<Series> = (0..150)
            .map(|k| {
                let y = (0..3000)
                    .map(|i| match (i * 31 + k * 17) % 997 {
                        0 => f32::NAN,
                        _ => ((i as f32 * 0.01 + k as f32).sin() + 1.2) * (1.0 + k as f32 * 0.01),
                    })
                    .collect();
                Series::new(format!("s{k}"), x.clone(), y)
            })
            .collect();
        let mut data = Dataset::new("t".into(), series);
        assert!(data.block.is_some());
        let mut shown = [true; 150];
        shown[3] = false;
        shown[77] = false;
        for ylog in [false, true] {
            let mut view = home_view(&data, false, ylog);
            view = view.zoom_at(300.0, 200.0, 1.7, 900.0, 500.0);
            for visible in [None, Some(&shown[..])] {
                let spec = FrameSpec { width: 1000, height: 600, scale: 1.0, mode: Mode::Density, visible };
                let plot = layout(1000, 600, 1.0, true);
                let idx = visible_indices(&data, &spec);
                let columns = Columns::new(&data, &idx, &view, plot.width as usize);
                let fast = density_counts(&data, &idx, &view, plot, &columns);
                let block = data.block.take();
                let slow = density_counts(&data, &idx, &view, plot, &columns);
                data.block = block;
                let differ = fast.iter().zip(&slow).filter(|(a, b)| a != b).count();
                let (sf, ss) = (fast.iter().sum::<u32>(), slow.iter().sum::<u32>());
                assert!(ss > 100_000, "{ss}");
                assert!(differ * 500 < fast.len(), "ylog {ylog}: {differ} of {} pixels differ", fast.len());
                assert!(sf.abs_diff(ss) * 1000 < ss, "ylog {ylog}: sums {sf} vs {ss}");
            }
        }
    }

    /// Column edges found by walking the grid equal those found by binary search.
    #[test]
    fn column_edges_match_a_binary_search() {
        for n in [50, 3000, 200_000] {
            let data = line(n);
            for view in [
                View { x0: -10.0, x1: n as f64 + 10.0, y0: 0.0, y1: 1.0, xlog: false, ylog: false },
                View { x0: n as f64 * 0.3, x1: n as f64 * 0.31, y0: 0.0, y1: 1.0, xlog: false, ylog: false },
                View { x0: 1.0, x1: n as f64, y0: 0.0, y1: 1.0, xlog: true, ylog: false },
            ] {
                let columns = Columns::new(&data, &[0], &view, 700);
                let x = &data.series[0].x;
                let (idx, _) = columns.of(x.as_ptr());
                let (tx0, tx1) = (fwd(view.x0, view.xlog), fwd(view.x1, view.xlog));
                for (c, &a) in idx.iter().enumerate() {
                    let e = inv(tx0 + (tx1 - tx0) * c as f64 / 700.0, view.xlog);
                    assert_eq!(a as usize, x.partition_point(|v| *v < e), "n {n}, column {c}");
                }
            }
        }
    }

    #[test]
    fn ticks_are_round_numbers_inside_the_range() {
        let t = ticks(3812.0, 9020.0, false, 6);
        assert!(t.iter().all(|(v, _)| (3812.0..=9020.0).contains(v)));
        assert_eq!(t[0].1, "4000");
        let l = ticks(0.01, 1000.0, true, 6);
        assert_eq!(l.first().unwrap().1, "0.01");
    }
}
