//! SDAP's low-pass variants (`meanLowPass`, `maxLowPass`, `minLowPass`; `A/Filtering.py`):
//! `scipy.signal.filtfilt(b, a, y, padlen=min(N, 10))` with `(b, a) = butter(9, Wn)` in
//! transfer-function form, `Wn = lowcut / (N / 2)`, `lowcut = 12` (3 when `N − 12 <= 12`), over
//! the N values sorted by time (the time spacing is ignored, as in SDAP). Where SciPy raises
//! (N <= 10: the series is not longer than `padlen`; `Wn >= 1`), SDAP silently omits the fields;
//! so does vocloud. This is a transcription of SciPy's `butter` (analog prototype, bilinear
//! transform), `lfilter_zi`, `lfilter` (direct form II transposed) and `filtfilt` (odd padding).
//! A 9th-order filter in (b, a) form is ill-conditioned for small `Wn`: for a year of daily data
//! two correct implementations agree only to ~1e-5 K (see the SDAP notes).

use std::f64::consts::PI;

#[derive(Debug, Clone, Copy, PartialEq)]
struct C {
    re: f64,
    im: f64,
}

impl C {
    fn new(re: f64, im: f64) -> C {
        C { re, im }
    }
    fn add(self, o: C) -> C {
        C::new(self.re + o.re, self.im + o.im)
    }
    fn sub(self, o: C) -> C {
        C::new(self.re - o.re, self.im - o.im)
    }
    fn mul(self, o: C) -> C {
        C::new(self.re * o.re - self.im * o.im, self.re * o.im + self.im * o.re)
    }
    fn div(self, o: C) -> C {
        let d = o.re * o.re + o.im * o.im;
        C::new((self.re * o.re + self.im * o.im) / d, (self.im * o.re - self.re * o.im) / d)
    }
    fn scale(self, k: f64) -> C {
        C::new(self.re * k, self.im * k)
    }
}

/// Coefficients of Π (x − r), highest power first (numpy's `poly`).
fn poly(roots: &[C]) -> Vec<C> {
    let mut c = vec![C::new(1.0, 0.0)];
    for &r in roots {
        let mut next = c.clone();
        next.push(C::new(0.0, 0.0));
        for i in 1..next.len() {
            next[i] = next[i].sub(r.mul(c[i - 1]));
        }
        c = next;
    }
    c
}

/// `scipy.signal.butter(order, wn)` (digital low-pass, fs = 2): (b, a), or None unless 0 < wn < 1.
pub fn butter(order: usize, wn: f64) -> Option<(Vec<f64>, Vec<f64>)> {
    if !(wn > 0.0 && wn < 1.0) || order == 0 {
        return None;
    }
    let n = order as f64;
    let fs2 = 4.0; // 2 * fs with fs = 2
    let warped = fs2 * (PI * wn / 2.0).tan();
    // buttap: p = -exp(i π m / (2N)), m = -N+1, -N+3, …, N-1; lp2lp: p *= warped, k = warped^N.
    let poles: Vec<C> = (0..order)
        .map(|j| {
            let m = -(order as f64) + 1.0 + 2.0 * j as f64;
            let angle = PI * m / (2.0 * n);
            C::new(-angle.cos(), -angle.sin()).scale(warped)
        })
        .collect();
    // bilinear_zpk: zeros at −1, poles (fs2 + p)/(fs2 − p), k · Re(1 / Π(fs2 − p)).
    let fs2c = C::new(fs2, 0.0);
    let pz: Vec<C> = poles.iter().map(|&p| fs2c.add(p).div(fs2c.sub(p))).collect();
    let denom = poles.iter().fold(C::new(1.0, 0.0), |acc, &p| acc.mul(fs2c.sub(p)));
    let k = warped.powi(order as i32) * C::new(1.0, 0.0).div(denom).re;
    let b = poly(&vec![C::new(-1.0, 0.0); order]).iter().map(|c| c.re * k).collect();
    let a = poly(&pz).iter().map(|c| c.re).collect();
    Some((b, a))
}

/// `scipy.signal.lfilter` with initial state `zi` (a[0] == 1).
fn lfilter(b: &[f64], a: &[f64], x: impl Iterator<Item = f64>, mut z: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    x.map(|xi| {
        let y = b[0] * xi + z[0];
        for i in 0..n - 2 {
            z[i] = b[i + 1] * xi + z[i + 1] - a[i + 1] * y;
        }
        z[n - 2] = b[n - 1] * xi - a[n - 1] * y;
        y
    })
    .collect()
}

/// `scipy.signal.lfilter_zi`: the steady state for a unit step, solving (I − Aᵀ) zi = B.
fn lfilter_zi(b: &[f64], a: &[f64]) -> Vec<f64> {
    let m = a.len() - 1;
    let mut mat = vec![vec![0.0; m + 1]; m];
    for i in 0..m {
        mat[i][i] = 1.0;
        mat[i][0] += a[i + 1]; // − companion(a)ᵀ: first column −(−a[i+1])
        if i + 1 < m {
            mat[i][i + 1] -= 1.0; // − the super-diagonal ones
        }
        mat[i][m] = b[i + 1] - a[i + 1] * b[0];
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..m {
        let pivot = (col..m).max_by(|&r, &s| mat[r][col].abs().total_cmp(&mat[s][col].abs())).unwrap_or(col);
        mat.swap(col, pivot);
        let pivot_row = mat[col].clone();
        for row in mat.iter_mut().skip(col + 1) {
            let f = row[col] / pivot_row[col];
            for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                *x -= f * p;
            }
        }
    }
    let mut zi = vec![0.0; m];
    for r in (0..m).rev() {
        let s: f64 = (r + 1..m).map(|c| mat[r][c] * zi[c]).sum();
        zi[r] = (mat[r][m] - s) / mat[r][r];
    }
    zi
}

/// `scipy.signal.filtfilt(b, a, x, padlen=padlen)` with odd extension; None if `x` is too short.
pub fn filtfilt(b: &[f64], a: &[f64], x: &[f64], padlen: usize) -> Option<Vec<f64>> {
    let n = x.len();
    if n <= padlen || b.len() != a.len() || a.len() < 2 {
        return None;
    }
    let mut ext = Vec::with_capacity(n + 2 * padlen);
    ext.extend((1..=padlen).rev().map(|i| 2.0 * x[0] - x[i]));
    ext.extend_from_slice(x);
    ext.extend((1..=padlen).map(|i| 2.0 * x[n - 1] - x[n - 1 - i]));
    let zi = lfilter_zi(b, a);
    let forward = lfilter(b, a, ext.iter().copied(), zi.iter().map(|z| z * ext[0]).collect());
    let last = forward[forward.len() - 1];
    let mut backward = lfilter(b, a, forward.iter().rev().copied(), zi.iter().map(|z| z * last).collect());
    backward.reverse();
    Some(backward[padlen..padlen + n].to_vec())
}

/// SDAP's filter for a series of N values, or None where SDAP's would raise.
pub fn sdap_lowpass(y: &[f64]) -> Option<Vec<f64>> {
    let n = y.len();
    let lowcut = if n as f64 - 12.0 <= 12.0 { 3.0 } else { 12.0 };
    let (b, a) = butter(9, lowcut / (0.5 * n as f64))?;
    let padlen = n.min(a.len()).min(b.len());
    filtfilt(&b, &a, y, padlen)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from SciPy 1.x (`butter(9, 0.8)`, `filtfilt(..., padlen=10)`).
    #[test]
    fn matches_scipy_butter_and_filtfilt() {
        let (b, a) = butter(9, 0.8).unwrap();
        let want_b = [0.15736915, 1.41632233, 5.6652893, 13.21900837, 19.82851255];
        let want_a = [1.0, 5.38622099, 13.37855009, 19.96168225, 19.62398217, 13.13702764, 5.97321467];
        for (g, w) in b.iter().zip(want_b) {
            assert!((g - w).abs() < 1e-7, "b: {g} vs {w}");
        }
        for (g, w) in a.iter().zip(want_a) {
            assert!((g - w).abs() < 1e-7, "a: {g} vs {w}");
        }
        let y: Vec<f64> = (0..30).map(|i| 290.0 + (i as f64 * 0.7).sin() + 0.1 * i as f64).collect();
        let out = sdap_lowpass(&y).unwrap();
        let want = [290.00049167, 290.7416, 291.18880274, 291.16040761, 290.73645794];
        for (g, w) in out.iter().zip(want) {
            assert!((g - w).abs() < 1e-7, "filtfilt: {g} vs {w}");
        }
        assert!((out[29] - 293.89966655).abs() < 1e-7);
        assert!(sdap_lowpass(&y[..10]).is_none(), "N <= 10: SDAP omits the fields");
    }
}
