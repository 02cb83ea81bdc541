//! The request box and the hyperslabs it selects.
//!
//! A pixel is in the box when its centre is in the closed box (SDAP's `masked_outside`).
//! Longitudes are compared modulo 360, so 0..360 and -180..180 data and requests mix freely,
//! and `minLon > maxLon` is a box across the antimeridian (`[minLon, 180] ∪ [-180, maxLon]`),
//! which SDAP silently inverts. A selection is a few rectangular blocks (one, or two when the
//! box wraps around the grid's longitude seam) ordered west to east, so that maps come out
//! contiguous, plus a per-pixel mask for curvilinear grids.

use std::ops::Range;

use super::cf::Coords;

/// `minLon,minLat,maxLon,maxLat` in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl BBox {
    pub fn parse(text: &str) -> Result<BBox, String> {
        let numbers: Vec<f64> = text
            .split(',')
            .map(|s| s.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("expected four numbers minLon,minLat,maxLon,maxLat, got '{text}'"))?;
        let [west, south, east, north] = numbers[..] else {
            return Err(format!("expected four numbers minLon,minLat,maxLon,maxLat, got '{text}'"));
        };
        if numbers.iter().any(|x| !x.is_finite()) || south > north || !(-90.0..=90.0).contains(&south) || north > 90.0 {
            return Err(format!("latitudes must satisfy -90 <= minLat <= maxLat <= 90, got '{text}'"));
        }
        if !(-360.0..=360.0).contains(&west) || !(-360.0..=360.0).contains(&east) {
            return Err(format!("longitudes must lie within -360..360, got '{text}'"));
        }
        Ok(BBox { west, south, east, north })
    }

    /// Width in degrees east of `west` (0..360), or None for the full circle.
    fn width(&self) -> Option<f64> {
        if self.east - self.west >= 360.0 { None } else { Some((self.east - self.west).rem_euclid(360.0)) }
    }

    pub fn has_lat(&self, lat: f64) -> bool {
        lat >= self.south && lat <= self.north
    }

    /// Degrees east of `west` of a longitude, in 0..360.
    fn offset(&self, lon: f64) -> f64 {
        (lon - self.west).rem_euclid(360.0)
    }

    pub fn has_lon(&self, lon: f64) -> bool {
        self.width().is_none_or(|w| self.offset(lon) <= w)
    }
}

/// One rectangular hyperslab of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub y: Range<usize>,
    pub x: Range<usize>,
}

impl Block {
    pub fn len(&self) -> usize {
        self.y.len() * self.x.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What to read and how to weigh it. Pixels are numbered block by block, row-major in each.
#[derive(Debug, Clone)]
pub struct Selection {
    pub blocks: Vec<Block>,
    /// Output grid shape (rows, columns): blocks are side by side along x.
    pub rows: usize,
    pub cols: usize,
    /// Per selected pixel, in output order (row-major over the output grid).
    pub lat: Vec<f64>,
    pub lon: Vec<f64>,
    /// Per pixel: in the box (always true on regular grids).
    pub inside: Vec<bool>,
    /// Per pixel: cos(lat) in radians, SDAP's area weight.
    pub weight: Vec<f64>,
    /// For regular grids, the 1-D output coordinates (for CF output).
    pub lat_1d: Option<Vec<f64>>,
    pub lon_1d: Option<Vec<f64>>,
}

impl Selection {
    pub fn new(coords: &Coords, ny: usize, nx: usize, bbox: &BBox) -> Result<Selection, String> {
        let selection = match coords {
            Coords::Regular { lat, lon } => regular(lat, lon, bbox),
            Coords::Curvilinear { lat, lon } => curvilinear(lat, lon, ny, nx, bbox),
        };
        if selection.inside.iter().any(|&i| i) {
            Ok(selection)
        } else {
            Err("the bbox contains no grid cell centre".to_string())
        }
    }

    /// Index of the output pixel for (block, row within block, column within block).
    pub fn out_index(&self, block: usize, row: usize, col: usize) -> usize {
        let x0: usize = self.blocks[..block].iter().map(|b| b.x.len()).sum();
        row * self.cols + x0 + col
    }

    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Contiguous runs of true in `keep`.
fn runs(keep: &[bool]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < keep.len() {
        if keep[i] {
            let start = i;
            while i < keep.len() && keep[i] {
                i += 1;
            }
            out.push(start..i);
        }
        i += 1;
    }
    out
}

/// The output grid's (rows, columns) for `bbox`, computed without building the selection: what
/// the memory estimate needs before [`Selection::new`] allocates per pixel.
pub fn extent(coords: &Coords, ny: usize, nx: usize, bbox: &BBox) -> (usize, usize) {
    match coords {
        Coords::Regular { lat, lon } => (lat_rows(lat, bbox).len(), lon.iter().filter(|&&l| bbox.has_lon(l)).count()),
        Coords::Curvilinear { lat, lon } => {
            let (y, x) = bounding_rectangle(lat, lon, ny, nx, bbox);
            (y.len(), x.len())
        }
    }
}

/// The rows from the first to the last latitude inside the box.
fn lat_rows(lat: &[f64], bbox: &BBox) -> Range<usize> {
    match (lat.iter().position(|&l| bbox.has_lat(l)), lat.iter().rposition(|&l| bbox.has_lat(l))) {
        (Some(a), Some(b)) => a..b + 1,
        _ => 0..0,
    }
}

fn regular(lat: &[f64], lon: &[f64], bbox: &BBox) -> Selection {
    let y = lat_rows(lat, bbox);
    let mut x_runs = runs(&lon.iter().map(|&l| bbox.has_lon(l)).collect::<Vec<_>>());
    // West to east: a run starting right at `west` comes first (e.g. 170..180 before -180..-170).
    x_runs.sort_by(|a, b| bbox.offset(lon[a.start]).total_cmp(&bbox.offset(lon[b.start])));
    // Two runs that are really one across the grid seam of a full-circle box: keep grid order.
    if bbox.width().is_none() {
        x_runs.sort_by_key(|r| r.start);
    }
    let lon_1d: Vec<f64> = x_runs.iter().flat_map(|r| lon[r.clone()].iter().copied()).collect();
    let lat_1d: Vec<f64> = lat[y.clone()].to_vec();
    let (rows, cols) = (lat_1d.len(), lon_1d.len());
    let mut out_lat = Vec::with_capacity(rows * cols);
    let mut out_lon = Vec::with_capacity(rows * cols);
    for &la in &lat_1d {
        out_lat.extend(std::iter::repeat_n(la, cols));
        out_lon.extend_from_slice(&lon_1d);
    }
    let weight = out_lat.iter().map(|l| l.to_radians().cos()).collect();
    Selection {
        blocks: x_runs.into_iter().map(|x| Block { y: y.clone(), x }).collect(),
        rows,
        cols,
        inside: vec![true; rows * cols],
        lat: out_lat,
        lon: out_lon,
        weight,
        lat_1d: Some(lat_1d),
        lon_1d: Some(lon_1d),
    }
}

fn inside_at(lat: &[f64], lon: &[f64], bbox: &BBox, i: usize) -> bool {
    lat[i].is_finite() && lon[i].is_finite() && bbox.has_lat(lat[i]) && bbox.has_lon(lon[i])
}

/// The index rectangle (rows, columns) around every cell centre inside the box.
fn bounding_rectangle(lat: &[f64], lon: &[f64], ny: usize, nx: usize, bbox: &BBox) -> (Range<usize>, Range<usize>) {
    let (mut y0, mut y1, mut x0, mut x1) = (usize::MAX, 0, usize::MAX, 0);
    for j in 0..ny {
        for i in 0..nx {
            if inside_at(lat, lon, bbox, j * nx + i) {
                (y0, y1, x0, x1) = (y0.min(j), y1.max(j + 1), x0.min(i), x1.max(i + 1));
            }
        }
    }
    if y0 == usize::MAX { (0..0, 0..0) } else { (y0..y1, x0..x1) }
}

fn curvilinear(lat: &[f64], lon: &[f64], ny: usize, nx: usize, bbox: &BBox) -> Selection {
    let (ys, xs) = bounding_rectangle(lat, lon, ny, nx, bbox);
    let (y0, y1, x0, x1) = (ys.start, ys.end, xs.start, xs.end);
    let (rows, cols) = (y1 - y0, x1 - x0);
    let index = |r: usize, c: usize| (y0 + r) * nx + x0 + c;
    let cells: Vec<usize> = (0..rows).flat_map(|r| (0..cols).map(move |c| index(r, c))).collect();
    let out_lat: Vec<f64> = cells.iter().map(|&i| lat[i]).collect();
    Selection {
        blocks: vec![Block { y: y0..y1, x: x0..x1 }],
        rows,
        cols,
        inside: cells.iter().map(|&i| inside_at(lat, lon, bbox, i)).collect(),
        lon: cells.iter().map(|&i| lon[i]).collect(),
        weight: out_lat.iter().map(|l| l.to_radians().cos()).collect(),
        lat: out_lat,
        lat_1d: None,
        lon_1d: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(lon: Vec<f64>) -> Coords {
        Coords::Regular { lat: vec![-1.0, 0.0, 1.0], lon }
    }

    #[test]
    fn antimeridian_box_takes_both_edges_west_first() {
        let lon: Vec<f64> = (0..36).map(|i| -175.0 + 10.0 * i as f64).collect();
        let bbox = BBox::parse("165,-1,-165,1").unwrap();
        let sel = Selection::new(&grid(lon), 3, 36, &bbox).unwrap();
        assert_eq!(sel.lon_1d.unwrap(), vec![165.0, 175.0, -175.0, -165.0]);
        assert_eq!(sel.blocks.len(), 2);
    }

    #[test]
    fn zero_to_360_data_answers_a_minus180_to_180_request() {
        let lon: Vec<f64> = (0..36).map(|i| 5.0 + 10.0 * i as f64).collect();
        let bbox = BBox::parse("-20,-1,20,1").unwrap();
        let sel = Selection::new(&grid(lon.clone()), 3, 36, &bbox).unwrap();
        assert_eq!(sel.lon_1d.unwrap(), vec![345.0, 355.0, 5.0, 15.0]);
        let bbox = BBox::parse("-180,-90,180,90").unwrap();
        assert_eq!(Selection::new(&grid(lon), 3, 36, &bbox).unwrap().cols, 36);
    }

    #[test]
    fn edges_are_inclusive_and_empty_boxes_are_errors() {
        let lon = vec![0.0, 1.0, 2.0, 3.0];
        let sel = Selection::new(&grid(lon.clone()), 3, 4, &BBox::parse("1,0,2,1").unwrap()).unwrap();
        assert_eq!((sel.rows, sel.cols), (2, 2));
        assert_eq!(extent(&grid(lon.clone()), 3, 4, &BBox::parse("1,0,2,1").unwrap()), (2, 2));
        assert!(Selection::new(&grid(lon), 3, 4, &BBox::parse("10,0,20,1").unwrap()).is_err());
        assert!(BBox::parse("1,2,3").is_err());
        assert!(BBox::parse("0,10,1,-10").is_err());
    }
}
