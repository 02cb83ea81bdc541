//! PNG maps of one field with a colour bar: pure (values in, PNG bytes out).
//!
//! Missing pixels (land, `_FillValue`, outside the box) are drawn grey, so the coastline and land
//! mask come from the data itself. The field is drawn pixel by pixel (nearest neighbour) into the
//! RGB buffer, then plotters draws the frame, colour bar and text with an embedded DejaVuSans
//! (no fontconfig needed). Rows are drawn north up: row order is flipped when latitude grows
//! with the row index. Curvilinear grids are drawn in grid-index space.

use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

const LAND: [u8; 3] = [190, 190, 190];
/// Viridis, sampled at 9 points and interpolated linearly.
const VIRIDIS: [[f64; 3]; 9] = [
    [68.0, 1.0, 84.0],
    [71.0, 44.0, 122.0],
    [59.0, 81.0, 139.0],
    [44.0, 113.0, 142.0],
    [33.0, 144.0, 141.0],
    [39.0, 173.0, 129.0],
    [92.0, 200.0, 99.0],
    [170.0, 220.0, 50.0],
    [253.0, 231.0, 37.0],
];

/// Colour of `t` in 0..=1 (clamped).
pub fn colour(t: f64) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) } * (VIRIDIS.len() - 1) as f64;
    let i = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    [0, 1, 2].map(|k| (a[k] + (b[k] - a[k]) * f).round() as u8)
}

/// What to draw.
pub struct Map<'a> {
    /// rows × cols, row-major, NaN = missing.
    pub values: &'a [f64],
    pub rows: usize,
    pub cols: usize,
    /// Draw the last row at the top (latitude ascending with the row index).
    pub flip: bool,
    pub vmin: f64,
    pub vmax: f64,
    pub title: String,
    pub units: String,
}

const TOP: usize = 34;
const MARGIN: usize = 12;
const BAR: usize = 110;

/// The longest side of the drawn field.
const MAX_SIDE: usize = 1440;

/// The drawn field's size: small grids enlarged to at least ~480 px wide, large ones shrunk to at
/// most 1440, cells square, and never more than 1440 px high (a box of a million rows and one
/// column would otherwise be a 480 × 480,000,000 image: 880 GB).
fn map_size(rows: usize, cols: usize) -> (usize, usize) {
    let w = if cols < 480 { cols * 480usize.div_ceil(cols) } else { cols.min(MAX_SIDE) };
    let h = (rows.saturating_mul(w) / cols).max(1);
    if h <= MAX_SIDE { (w, h) } else { ((w.saturating_mul(MAX_SIDE) / h).max(w.min(16)), MAX_SIDE) }
}

/// The whole image around a field of `map_w` × `map_h`: title, margins, colour bar.
fn image_size(map_w: usize, map_h: usize) -> (usize, usize) {
    (map_w + 2 * MARGIN + BAR, map_h + TOP + MARGIN + 10)
}

/// Memory to draw a map of `rows` × `cols` values: the RGB buffer and its PNG encoding.
pub fn png_bytes(rows: u64, cols: u64) -> u64 {
    let clamp = |n: u64| usize::try_from(n.max(1)).unwrap_or(usize::MAX);
    let (map_w, map_h) = map_size(clamp(rows), clamp(cols));
    let (w, h) = image_size(map_w, map_h);
    (w * h * 3 * 2) as u64
}

fn register() {
    REGISTER.call_once(|| {
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn encode(w: usize, h: usize, buf: Vec<u8>) -> Result<Vec<u8>, String> {
    let image = image::RgbImage::from_raw(w as u32, h as u32, buf).ok_or("image buffer has the wrong size")?;
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageOutputFormat::Png).map_err(|e| format!("encoding PNG: {e}"))?;
    Ok(out.into_inner())
}

/// Renders the map to PNG bytes.
pub fn png(map: &Map) -> Result<Vec<u8>, String> {
    register();
    let (cols, rows) = (map.cols.max(1), map.rows.max(1));
    let (map_w, map_h) = map_size(rows, cols);
    let (w, h) = image_size(map_w, map_h);
    let mut buf = vec![255u8; w * h * 3];
    let span = if map.vmax > map.vmin { map.vmax - map.vmin } else { 1.0 };
    for py in 0..map_h {
        let r = py * rows / map_h;
        let r = if map.flip { rows - 1 - r } else { r };
        for px in 0..map_w {
            let v = map.values[r * cols + px * cols / map_w];
            let rgb = if v.is_nan() { LAND } else { colour((v - map.vmin) / span) };
            let at = ((TOP + py) * w + MARGIN + px) * 3;
            buf[at..at + 3].copy_from_slice(&rgb);
        }
    }
    let (bar_x, bar_w) = (MARGIN + map_w + 14, 18);
    for py in 0..map_h {
        let rgb = colour(1.0 - py as f64 / (map_h.max(2) - 1) as f64);
        for px in bar_x..bar_x + bar_w {
            let at = ((TOP + py) * w + px) * 3;
            buf[at..at + 3].copy_from_slice(&rgb);
        }
    }
    decorate(&mut buf, (w, h), (map_w, map_h), (bar_x, bar_w), map).map_err(|e| format!("drawing the map: {e}"))?;
    encode(w, h, buf)
}

/// A time series: the mean as a line over a shaded band (min..max, or mean ± std).
pub struct SeriesPlot<'a> {
    /// Epoch seconds, ascending.
    pub time: &'a [i64],
    pub mean: &'a [f64],
    /// (low, high) per step.
    pub band: &'a [(f64, f64)],
    pub title: String,
    pub y_label: String,
    pub mean_label: &'a str,
    pub band_label: &'a str,
}

/// Renders a time series plot to PNG bytes (900 × 450).
pub fn series_png(plot: &SeriesPlot) -> Result<Vec<u8>, String> {
    register();
    let (w, h) = (900usize, 450usize);
    let mut buf = vec![255u8; w * h * 3];
    draw_series(&mut buf, (w, h), plot).map_err(|e| format!("drawing the series: {e}"))?;
    encode(w, h, buf)
}

fn draw_series(buf: &mut [u8], (w, h): (usize, usize), plot: &SeriesPlot) -> Result<(), Box<dyn std::error::Error>> {
    let (Some(&first), Some(&last)) = (plot.time.first(), plot.time.last()) else { return Err("no time step".into()) };
    // A single step gets a day either side, so the axis has a width.
    let (t0, t1) =
        if last > first { (first as f64, last as f64) } else { (first as f64 - 86400.0, last as f64 + 86400.0) };
    let finite = plot.mean.iter().chain(plot.band.iter().flat_map(|(a, b)| [a, b])).filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo < hi {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 1.0, lo + 1.0)
    } else {
        (0.0, 1.0)
    };
    let pad = (hi - lo) * 0.05;
    let area = BitMapBackend::with_buffer(buf, (w as u32, h as u32)).into_drawing_area();
    let mut chart = ChartBuilder::on(&area)
        .caption(&plot.title, ("sans-serif", 16).into_font())
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(80)
        .build_cartesian_2d(t0..t1, lo - pad..hi + pad)?;
    let date = |x: &f64| super::time::iso_utc(*x as i64)[..10].to_string();
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&date)
        .y_desc(plot.y_label.as_str())
        .label_style(("sans-serif", 12).into_font())
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let band_colour = RGBColor(120, 160, 220).mix(0.35);
    let x = |i: usize| plot.time[i] as f64;
    let outline: Vec<(f64, f64)> = (0..plot.band.len())
        .map(|i| (x(i), plot.band[i].0))
        .chain((0..plot.band.len()).rev().map(|i| (x(i), plot.band[i].1)))
        .collect();
    chart
        .draw_series(std::iter::once(Polygon::new(outline, band_colour.filled())))?
        .label(plot.band_label)
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], band_colour.filled()));
    let line = RGBColor(31, 80, 160);
    chart
        .draw_series(LineSeries::new((0..plot.mean.len()).map(|i| (x(i), plot.mean[i])), line.stroke_width(2)))?
        .label(plot.mean_label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], line.stroke_width(2)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 12).into_font())
        .draw()?;
    area.present()?;
    Ok(())
}

fn decorate(
    buf: &mut [u8],
    (w, h): (usize, usize),
    (map_w, map_h): (usize, usize),
    (bar_x, bar_w): (usize, usize),
    map: &Map,
) -> Result<(), Box<dyn std::error::Error>> {
    let area = BitMapBackend::with_buffer(buf, (w as u32, h as u32)).into_drawing_area();
    let font = ("sans-serif", 15).into_font().color(&BLACK);
    let small = ("sans-serif", 12).into_font().color(&BLACK);
    area.draw_text(&map.title, &font, (MARGIN as i32, 9))?;
    let frame = |x: usize, y: usize, ww: usize, hh: usize| {
        Rectangle::new([(x as i32 - 1, y as i32 - 1), ((x + ww) as i32, (y + hh) as i32)], BLACK.stroke_width(1))
    };
    area.draw(&frame(MARGIN, TOP, map_w, map_h))?;
    area.draw(&frame(bar_x, TOP, bar_w, map_h))?;
    for k in 0..=4 {
        let f = k as f64 / 4.0;
        let value = map.vmax - f * (map.vmax - map.vmin);
        let y = TOP as i32 + (f * (map_h as f64 - 1.0)) as i32;
        area.draw(&PathElement::new([((bar_x + bar_w) as i32, y), ((bar_x + bar_w + 4) as i32, y)], BLACK))?;
        area.draw_text(&format!("{value:.3}"), &small, ((bar_x + bar_w + 6) as i32, y - 6))?;
    }
    area.draw_text(&map.units, &small, (bar_x as i32, (TOP + map_h + 2) as i32))?;
    area.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png_with_missing_pixels_grey() {
        let values: Vec<f64> = (0..12).map(|i| if i == 5 { f64::NAN } else { i as f64 }).collect();
        let map = Map {
            values: &values,
            rows: 3,
            cols: 4,
            flip: true,
            vmin: 0.0,
            vmax: 11.0,
            title: "t".into(),
            units: "K".into(),
        };
        let bytes = png(&map).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
        // Row 1 (middle), column 1 is missing: it is grey in the middle band of the map.
        let (x, y) = (MARGIN as u32 + 120 + 60, TOP as u32 + 120 + 60);
        assert_eq!(img.get_pixel(x, y).0, LAND);
        assert_eq!(colour(0.0), [68, 1, 84]);
        let tall = Map { values: &[f64::NAN; 100_000], rows: 100_000, cols: 1, ..map };
        let img = image::load_from_memory(&png(&tall).unwrap()).unwrap();
        assert!(img.height() < 1600 && img.width() < 200, "{}x{}", img.width(), img.height());
        assert!(png_bytes(1_000_000, 1) < 4 << 20 && png_bytes(u64::MAX, u64::MAX) < 32 << 20);
        assert_eq!(colour(1.0), [253, 231, 37]);
    }

    #[test]
    fn renders_a_series_with_its_band() {
        let time: Vec<i64> = (0..30).map(|d| 1_704_067_200 + d * 86400).collect();
        let mean: Vec<f64> = (0..30).map(|d| 300.0 + (d as f64 / 5.0).sin()).collect();
        let band: Vec<(f64, f64)> = mean.iter().map(|m| (m - 0.5, m + 0.5)).collect();
        let plot = SeriesPlot {
            time: &time,
            mean: &mean,
            band: &band,
            title: "t".into(),
            y_label: "K".into(),
            mean_label: "mean",
            band_label: "min..max",
        };
        let img = image::load_from_memory(&series_png(&plot).unwrap()).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (900, 450));
        let line = img.pixels().filter(|p| p.0 == [31, 80, 160]).count();
        assert!(line > 300, "the mean line is drawn ({line} pixels)");
    }
}
