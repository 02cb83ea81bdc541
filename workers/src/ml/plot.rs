//! PNG plots of the ML kinds' results: pure (numbers in, PNG bytes out), drawn by plotters with
//! the embedded DejaVuSans (no fontconfig), like the ocean maps.
//!
//! - [`lines`]: spectra-like curves against wavelength (centroids, components, top outliers);
//! - [`scatter`]: points coloured by group (the first two PCA projections by class);
//! - [`matrix`]: a confusion matrix as shaded cells with their counts.

use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

const W: u32 = 900;
const H: u32 = 560;

fn register() {
    REGISTER.call_once(|| {
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn encode(w: u32, h: u32, buf: Vec<u8>) -> Result<Vec<u8>, String> {
    let image = image::RgbImage::from_raw(w, h, buf).ok_or("image buffer has the wrong size")?;
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageOutputFormat::Png).map_err(|e| format!("encoding PNG: {e}"))?;
    Ok(out.into_inner())
}

/// The colour of series or group `i` (plotters' Palette99, which repeats after 99).
fn colour(i: usize) -> RGBColor {
    let c = Palette99::pick(i).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.04 * (hi - lo) } else { 0.5 * lo.abs().max(1.0) };
    (lo - pad, hi + pad)
}

type Drawn = Result<(), Box<dyn std::error::Error>>;
type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A `w`×`h` PNG of what `draw` puts on a white canvas; a failure names the plot.
fn png(title: &str, (w, h): (u32, u32), draw: impl FnOnce(&Area<'_>) -> Drawn) -> Result<Vec<u8>, String> {
    register();
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(&area).and_then(|()| Ok(area.present()?)).map_err(|e| format!("drawing {title}: {e}"))?;
    }
    encode(w, h, buf)
}

/// The titled x–y chart of [`lines`] and [`scatter`].
fn xy_chart<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
    x: (f64, f64),
    y: (f64, f64),
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    Ok(ChartBuilder::on(area)
        .caption(title, ("sans-serif", 17).into_font())
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)?)
}

/// The legend box of the series that were given a label.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> Drawn {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12).into_font())
        .draw()?;
    Ok(())
}

/// Curves y(x) sharing the x axis, with a legend (at most 12 entries are named).
pub fn lines(title: &str, x_label: &str, x: &[f64], series: &[(String, Vec<f64>)]) -> Result<Vec<u8>, String> {
    png(title, (W, H), |area| {
        let y = range(series.iter().flat_map(|(_, y)| y.iter().copied()));
        let mut chart = xy_chart(area, title, range(x.iter().copied()), y)?;
        chart.configure_mesh().x_desc(x_label).label_style(("sans-serif", 12).into_font()).draw()?;
        for (i, (name, y)) in series.iter().enumerate() {
            let style = colour(i).stroke_width(2);
            let drawn = chart.draw_series(LineSeries::new(x.iter().copied().zip(y.iter().copied()), style))?;
            if i < 12 {
                drawn.label(name.as_str()).legend(move |(a, b)| PathElement::new([(a, b), (a + 18, b)], style));
            }
        }
        legend(&mut chart)
    })
}

/// Points (x, y, group) coloured by group, with the group names as legend.
pub fn scatter(
    title: &str,
    axes: (&str, &str),
    points: &[(f64, f64, usize)],
    groups: &[String],
) -> Result<Vec<u8>, String> {
    png(title, (W, H), |area| {
        let (x, y) = (range(points.iter().map(|p| p.0)), range(points.iter().map(|p| p.1)));
        let mut chart = xy_chart(area, title, x, y)?;
        chart.configure_mesh().x_desc(axes.0).y_desc(axes.1).label_style(("sans-serif", 12).into_font()).draw()?;
        for (g, name) in groups.iter().enumerate() {
            let style = colour(g).filled();
            let drawn =
                chart.draw_series(points.iter().filter(|p| p.2 == g).map(|p| Circle::new((p.0, p.1), 2, style)))?;
            if g < 12 {
                drawn.label(name.as_str()).legend(move |(a, b)| Circle::new((a + 8, b), 4, style));
            }
        }
        if groups.len() > 1 { legend(&mut chart) } else { Ok(()) }
    })
}

/// A square matrix of counts (rows: true class, columns: predicted), shaded by the share of its
/// row, with the counts written in the cells.
pub fn matrix(title: &str, names: &[String], counts: &[u64]) -> Result<Vec<u8>, String> {
    let c = names.len().max(1);
    let cell = (560 / c as u32).clamp(14, 90);
    let left = 150;
    let size = (left + cell * c as u32 + 30, 70 + cell * c as u32 + 30);
    png(title, size, |area| {
        let font = ("sans-serif", 15).into_font().color(&BLACK);
        let small = ("sans-serif", 11).into_font().color(&BLACK);
        area.draw_text(title, &font, (10, 8))?;
        area.draw_text("rows: true class, columns: predicted", &small, (10, 30))?;
        for t in 0..c {
            let total: u64 = counts[t * c..(t + 1) * c].iter().sum();
            let y = 70 + t as i32 * cell as i32;
            let label: String = names[t].chars().take(20).collect();
            area.draw_text(&label, &small, (8, y + cell as i32 / 2 - 6))?;
            for p in 0..c {
                let share = counts[t * c + p] as f64 / total.max(1) as f64;
                let shade = (255.0 * (1.0 - 0.8 * share)) as u8;
                let x = left as i32 + p as i32 * cell as i32;
                let corners = [(x, y), (x + cell as i32, y + cell as i32)];
                area.draw(&Rectangle::new(corners, RGBColor(shade, shade, 255).filled()))?;
                area.draw(&Rectangle::new(corners, BLACK.mix(0.3)))?;
                if cell >= 28 {
                    area.draw_text(&counts[t * c + p].to_string(), &small, (x + 4, y + cell as i32 / 2 - 6))?;
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plot_is_a_png() {
        let x: Vec<f64> = (0..50).map(|i| 6500.0 + i as f64).collect();
        let series = vec![("a".to_string(), x.iter().map(|v| v.sin()).collect()), ("b".to_string(), vec![0.5; 50])];
        let pngs = [
            lines("centroids", "wavelength", &x, &series).unwrap(),
            scatter("PC1 / PC2", ("PC1", "PC2"), &[(0.0, 1.0, 0), (2.0, -1.0, 1)], &["x".into(), "y".into()]).unwrap(),
            matrix("confusion", &["x".into(), "y".into()], &[5, 1, 0, 7]).unwrap(),
        ];
        for png in pngs {
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        }
        // Degenerate input (no finite values, one point) still draws.
        assert!(lines("empty", "x", &[1.0], &[("nan".into(), vec![f64::NAN])]).is_ok());
    }
}
