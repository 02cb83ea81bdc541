//! The f32 matrix product behind the BMU search and the batch smoothing: C = A·B with arbitrary
//! strides, single-threaded per call (callers split rows over rayon, so results do not depend on
//! the thread count).
//!
//! Two kernels, compared on the same run by `examples/som_kernels.rs` and
//! `benches/som/compare.py`: OpenBLAS `cblas_sgemm` (system libopenblas, AVX-512 kernels; asked
//! for one thread per call), behind the default cargo feature `openblas`, and `matrixmultiply`
//! (pure Rust, AVX2/FMA; the one ndarray uses), which is the kernel of builds without the feature
//! and takes any operand OpenBLAS cannot (no unit stride in either direction).

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    #[cfg(feature = "openblas")]
    OpenBlas = 0,
    MatrixMultiply = 1,
}

impl Kernel {
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "openblas")]
            Kernel::OpenBlas => "openblas",
            Kernel::MatrixMultiply => "matrixmultiply",
        }
    }
}

/// The kernels of this build, the default first.
pub fn available() -> &'static [Kernel] {
    #[cfg(feature = "openblas")]
    return &[Kernel::OpenBlas, Kernel::MatrixMultiply];
    #[cfg(not(feature = "openblas"))]
    return &[Kernel::MatrixMultiply];
}

static KERNEL: AtomicU8 = AtomicU8::new(u8::MAX);

#[cfg(feature = "openblas")]
mod openblas {
    #[link(name = "openblas")]
    unsafe extern "C" {
        pub fn cblas_sgemm(
            layout: i32,
            trans_a: i32,
            trans_b: i32,
            m: i32,
            n: i32,
            k: i32,
            alpha: f32,
            a: *const f32,
            lda: i32,
            b: *const f32,
            ldb: i32,
            beta: f32,
            c: *mut f32,
            ldc: i32,
        );
        pub fn openblas_set_num_threads(threads: i32);
    }

    pub const ROW_MAJOR: i32 = 101;
    const NO_TRANS: i32 = 111;
    const TRANS: i32 = 112;

    /// (transpose flag, leading dimension) for cblas, if the view has a unit stride.
    pub fn layout(v: &super::View) -> Option<(i32, i32)> {
        match (v.row_stride, v.col_stride) {
            (ld, 1) => Some((NO_TRANS, ld.max(1) as i32)),
            (1, ld) => Some((TRANS, ld.max(1) as i32)),
            _ => None,
        }
    }
}

/// Selects the kernel for the whole process (benchmarks only).
pub fn set(kernel: Kernel) {
    KERNEL.store(kernel as u8, Ordering::Relaxed);
}

pub fn current() -> Kernel {
    let chosen = KERNEL.load(Ordering::Relaxed);
    available().iter().copied().find(|k| *k as u8 == chosen).unwrap_or(available()[0])
}

/// A matrix operand: a slice with row and column strides (in elements).
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

/// c (m×n, row-major, overwritten) = a (m×k) · b (k×n), with the process's kernel.
pub fn matmul(m: usize, k: usize, n: usize, a: View, b: View, c: &mut [f32]) {
    matmul_with(current(), m, k, n, a, b, c)
}

/// c (m×n, row-major) += a (m×k) · b (k×n): the smoothing adds the products of the two row
/// ranges a toroid's band wraps into, without copying them side by side.
pub fn matmul_add(m: usize, k: usize, n: usize, a: View, b: View, c: &mut [f32]) {
    product(current(), m, k, n, a, b, c, 1.0)
}

/// [`matmul`] with an explicit kernel.
pub fn matmul_with(kernel: Kernel, m: usize, k: usize, n: usize, a: View, b: View, c: &mut [f32]) {
    product(kernel, m, k, n, a, b, c, 0.0)
}

/// c = a·b + beta·c, beta 0 (overwrite) or 1 (accumulate).
#[allow(clippy::too_many_arguments)]
fn product(kernel: Kernel, m: usize, k: usize, n: usize, a: View, b: View, c: &mut [f32], beta: f32) {
    let last = |v: &View, rows: usize, cols: usize| (rows - 1) * v.row_stride + (cols - 1) * v.col_stride;
    if m == 0 || n == 0 {
        return;
    }
    assert!(c.len() >= m * n, "output too small");
    if k == 0 {
        if beta == 0.0 {
            c[..m * n].fill(0.0);
        }
        return;
    }
    assert!(last(&a, m, k) < a.data.len() && last(&b, k, n) < b.data.len(), "operand out of bounds");
    #[cfg(feature = "openblas")]
    if kernel == Kernel::OpenBlas
        && let (Some((ta, lda)), Some((tb, ldb))) = (openblas::layout(&a), openblas::layout(&b))
    {
        // Callers split the work over rayon; OpenBLAS threading inside each call would
        // oversubscribe the cores and make the result depend on its thread count.
        static ONE_THREAD: std::sync::Once = std::sync::Once::new();
        // SAFETY: the asserts above keep every index cblas touches inside the slices.
        unsafe {
            ONE_THREAD.call_once(|| openblas::openblas_set_num_threads(1));
            let (m, n, k) = (m as i32, n as i32, k as i32);
            let (pa, pb, pc) = (a.data.as_ptr(), b.data.as_ptr(), c.as_mut_ptr());
            openblas::cblas_sgemm(openblas::ROW_MAJOR, ta, tb, m, n, k, 1.0, pa, lda, pb, ldb, beta, pc, n);
        }
        return;
    }
    let _ = kernel;
    let (ars, acs, brs, bcs) =
        (a.row_stride as isize, a.col_stride as isize, b.row_stride as isize, b.col_stride as isize);
    // SAFETY: the asserts above keep every index matrixmultiply touches inside the slices.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            ars,
            acs,
            b.data.as_ptr(),
            brs,
            bcs,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_multiplies_with_strides() {
        // a = [[1,2],[3,4],[5,6]] (3×2 row-major); b = aᵀ read through strides (2×3).
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let expected = [5.0f32, 11.0, 17.0, 11.0, 25.0, 39.0, 17.0, 39.0, 61.0];
        for &kernel in available() {
            let mut c = [0f32; 9];
            let av = View { data: &a, row_stride: 2, col_stride: 1 };
            let bv = View { data: &a, row_stride: 1, col_stride: 2 };
            matmul_with(kernel, 3, 2, 3, av, bv, &mut c);
            assert_eq!(c, expected, "{kernel:?}");
            product(kernel, 3, 2, 3, av, bv, &mut c, 1.0);
            assert_eq!(c, expected.map(|v| 2.0 * v), "{kernel:?} accumulates");
        }
    }
}
