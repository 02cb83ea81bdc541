//! Map geometry: where node k sits and how far apart two nodes are on the map.
//!
//! Node k is at (row, col) = (k / cols, k % cols), somoclu's and MiniSom's flat order. Rectangular
//! nodes sit at (x, y) = (col, row). Hexagonal maps use offset rows ("odd-r"): odd rows shift right
//! by half a step and rows are sqrt(3)/2 apart, so all six neighbours are at distance 1. A toroid
//! wraps each axis independently (x by `cols`, y by the map height), the minimum-image distance.

/// The lattice of map nodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    pub rows: usize,
    pub cols: usize,
    pub hexagonal: bool,
    pub toroid: bool,
}

const HEX_ROW_STEP: f64 = 0.866_025_403_784_438_6; // sqrt(3)/2

impl Grid {
    pub fn nodes(&self) -> usize {
        self.rows * self.cols
    }

    /// The (x, y) position of node k on the plane.
    pub fn position(&self, k: usize) -> (f64, f64) {
        let (r, c) = (k / self.cols, k % self.cols);
        if self.hexagonal {
            let shift = if r % 2 == 1 { 0.5 } else { 0.0 };
            (c as f64 + shift, r as f64 * HEX_ROW_STEP)
        } else {
            (c as f64, r as f64)
        }
    }

    /// The vertical distance between adjacent map rows.
    pub fn row_step(&self) -> f64 {
        if self.hexagonal { HEX_ROW_STEP } else { 1.0 }
    }

    fn height(&self) -> f64 {
        if self.hexagonal { self.rows as f64 * HEX_ROW_STEP } else { self.rows as f64 }
    }

    /// Squared map distance between nodes a and b.
    pub fn distance2(&self, a: usize, b: usize) -> f64 {
        self.distance2_between(self.position(a), self.position(b))
    }

    /// Squared map distance between two positions from [`Grid::position`] (hot loops precompute
    /// the positions once).
    pub fn distance2_between(&self, (xa, ya): (f64, f64), (xb, yb): (f64, f64)) -> f64 {
        let (mut dx, mut dy) = ((xa - xb).abs(), (ya - yb).abs());
        if self.toroid {
            dx = dx.min(self.cols as f64 - dx);
            dy = dy.min(self.height() - dy);
        }
        dx * dx + dy * dy
    }

    pub fn distance(&self, a: usize, b: usize) -> f64 {
        self.distance2(a, b).sqrt()
    }

    /// Whether a and b are map neighbours for the topographic error: the 8-neighbourhood on a
    /// rectangular map (diagonals count, TE8 of som.md), the 6 touching cells on a hexagonal one.
    pub fn are_neighbours(&self, a: usize, b: usize) -> bool {
        let limit = if self.hexagonal { 1.0 } else { 2.0 };
        self.distance2(a, b) <= limit + 1e-9
    }

    /// Whether a and b share an edge (4-neighbourhood, TE4; the same as above on a hexagonal map).
    pub fn share_edge(&self, a: usize, b: usize) -> bool {
        self.distance2(a, b) <= 1.0 + 1e-9
    }

    /// The neighbours of node k used by the U-matrix and the viewer's "move to neighbour".
    /// Only the adjacent map rows are looked at: the next row but one is at least √3 away
    /// (hexagonal) or 2 (rectangular), beyond either limit; this keeps the U-matrix and the
    /// viewer's lists O(M·cols) instead of O(M²).
    pub fn neighbours(&self, k: usize) -> Vec<usize> {
        let (r, rows) = (k / self.cols, self.rows);
        let mut near: Vec<usize> = [r + rows - 1, r + rows, r + rows + 1]
            .into_iter()
            .filter(|&q| self.toroid || (q >= rows && q < 2 * rows))
            .map(|q| q % rows)
            .flat_map(|q| q * self.cols..(q + 1) * self.cols)
            .filter(|&j| j != k && self.are_neighbours(k, j))
            .collect();
        near.sort_unstable();
        near.dedup();
        near
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: usize, cols: usize, hexagonal: bool, toroid: bool) -> Grid {
        Grid { rows, cols, hexagonal, toroid }
    }

    #[test]
    fn rectangular_planar_distances_are_euclidean_on_row_and_column() {
        let g = grid(4, 5, false, false);
        // node 0 = (0,0), node 7 = (1,2), node 19 = (3,4)
        assert_eq!(g.distance2(0, 7), 5.0);
        assert_eq!(g.distance2(0, 19), 9.0 + 16.0);
        assert_eq!(g.neighbours(0), vec![1, 5, 6]);
        assert_eq!(g.neighbours(7).len(), 8);
    }

    #[test]
    fn neighbours_are_those_of_a_scan_over_every_node() {
        for (rows, cols) in [(1, 5), (2, 3), (3, 3), (5, 4), (6, 7)] {
            for (hexagonal, toroid) in [(false, false), (false, true), (true, false), (true, true)] {
                let g = grid(rows, cols, hexagonal, toroid);
                for k in 0..g.nodes() {
                    let scan: Vec<usize> = (0..g.nodes()).filter(|&j| j != k && g.are_neighbours(k, j)).collect();
                    assert_eq!(g.neighbours(k), scan, "{rows}x{cols} hex {hexagonal} toroid {toroid} node {k}");
                }
            }
        }
    }

    #[test]
    fn toroid_wraps_each_axis() {
        let g = grid(4, 5, false, true);
        // (0,0) and (3,4) are diagonal neighbours across both seams.
        assert_eq!(g.distance2(0, 19), 2.0);
        assert_eq!(g.distance2(0, 4), 1.0);
        assert_eq!(g.distance2(0, 2), 4.0, "two columns apart either way round 5");
        assert_eq!(g.neighbours(0), vec![1, 4, 5, 6, 9, 15, 16, 19]);
    }

    #[test]
    fn hexagonal_offset_rows_have_six_unit_neighbours() {
        let g = grid(4, 4, true, false);
        // Node 5 = (row 1, col 1) sits at x = 1.5: touches 1, 2 above, 4, 6 beside, 9, 10 below.
        assert_eq!(g.neighbours(5), vec![1, 2, 4, 6, 9, 10]);
        // Node 10 = (row 2, col 2), even row at x = 2: touches 5, 6 above, 9, 11, 13, 14 below.
        assert_eq!(g.neighbours(10), vec![5, 6, 9, 11, 13, 14]);
        for &j in &g.neighbours(5) {
            assert!((g.distance(5, j) - 1.0).abs() < 1e-12);
        }
        // Two rows down, same column: sqrt(3) apart.
        assert!((g.distance(1, 9) - 3f64.sqrt()).abs() < 1e-12);
        assert!(!g.share_edge(0, 5) && g.share_edge(0, 4) && g.share_edge(1, 4));
    }

    #[test]
    fn hexagonal_toroid_wraps_rows_and_columns() {
        let g = grid(4, 4, true, true);
        // Node 0 (0,0) and node 12 (row 3, col 0, x = 0.5): across the row seam, distance 1.
        assert!((g.distance(0, 12) - 1.0).abs() < 1e-12);
        // Node 0 and node 3 (col 3): across the column seam, distance 1.
        assert!((g.distance(0, 3) - 1.0).abs() < 1e-12);
        // Node 0 and node 15 (row 3, col 3, x = 3.5): dx = min(3.5, 0.5), dy = min(2.598, 0.866).
        assert!((g.distance(0, 15) - 1.0).abs() < 1e-12);
        assert_eq!(g.neighbours(0), vec![1, 3, 4, 7, 12, 15]);
    }
}
