//! The f32 matrix product behind the BMU search and the batch smoothing: C = A·B with arbitrary
//! strides, single-threaded per call (callers split rows over rayon, so results do not depend on
//! the thread count).
//!
//! Three kernels, compared on the same run by `examples/som_kernels.rs` and
//! `benches/som/compare.py`: OpenBLAS `cblas_sgemm` (system libopenblas, AVX-512 kernels; the
//! default, asked for one thread per call), the `gemm` crate (runtime-dispatched SIMD) and
//! `matrixmultiply` (AVX2/FMA). OpenBLAS only takes operands with unit stride in one direction;
//! anything else goes to matrixmultiply.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    OpenBlas = 0,
    Gemm = 1,
    MatrixMultiply = 2,
}

static KERNEL: AtomicU8 = AtomicU8::new(Kernel::OpenBlas as u8);

#[link(name = "openblas")]
unsafe extern "C" {
    fn cblas_sgemm(
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
    fn openblas_set_num_threads(threads: i32);
}

const ROW_MAJOR: i32 = 101;
const NO_TRANS: i32 = 111;
const TRANS: i32 = 112;

/// (transpose flag, leading dimension) for cblas, if the view has a unit stride.
fn blas_layout(v: &View) -> Option<(i32, i32)> {
    match (v.row_stride, v.col_stride) {
        (ld, 1) => Some((NO_TRANS, ld.max(1) as i32)),
        (1, ld) => Some((TRANS, ld.max(1) as i32)),
        _ => None,
    }
}

/// Selects the kernel for the whole process (benchmarks only).
pub fn set(kernel: Kernel) {
    KERNEL.store(kernel as u8, Ordering::Relaxed);
}

pub fn current() -> Kernel {
    match KERNEL.load(Ordering::Relaxed) {
        0 => Kernel::OpenBlas,
        1 => Kernel::Gemm,
        _ => Kernel::MatrixMultiply,
    }
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

/// [`matmul`] with an explicit kernel.
pub fn matmul_with(kernel: Kernel, m: usize, k: usize, n: usize, a: View, b: View, c: &mut [f32]) {
    let last = |v: &View, rows: usize, cols: usize| (rows - 1) * v.row_stride + (cols - 1) * v.col_stride;
    if m == 0 || n == 0 {
        return;
    }
    assert!(c.len() >= m * n, "output too small");
    if k == 0 {
        c[..m * n].fill(0.0);
        return;
    }
    assert!(last(&a, m, k) < a.data.len() && last(&b, k, n) < b.data.len(), "operand out of bounds");
    let (ars, acs, brs, bcs) =
        (a.row_stride as isize, a.col_stride as isize, b.row_stride as isize, b.col_stride as isize);
    // SAFETY: the asserts above keep every index the kernels touch inside the slices.
    let blas = match (kernel, blas_layout(&a), blas_layout(&b)) {
        (Kernel::OpenBlas, Some(la), Some(lb)) => Some((la, lb)),
        _ => None,
    };
    let kernel = if kernel == Kernel::OpenBlas && blas.is_none() { Kernel::MatrixMultiply } else { kernel };
    unsafe {
        match kernel {
            Kernel::OpenBlas => {
                // Callers split the work over rayon; OpenBLAS threading inside each call would
                // oversubscribe the cores and make the result depend on its thread count.
                static ONE_THREAD: std::sync::Once = std::sync::Once::new();
                ONE_THREAD.call_once(|| openblas_set_num_threads(1));
                let ((ta, lda), (tb, ldb)) = blas.expect("checked above");
                let (m, n, k) = (m as i32, n as i32, k as i32);
                cblas_sgemm(
                    ROW_MAJOR,
                    ta,
                    tb,
                    m,
                    n,
                    k,
                    1.0,
                    a.data.as_ptr(),
                    lda,
                    b.data.as_ptr(),
                    ldb,
                    0.0,
                    c.as_mut_ptr(),
                    n,
                );
            }
            Kernel::Gemm => gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.data.as_ptr(),
                acs,
                ars,
                b.data.as_ptr(),
                bcs,
                brs,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            ),
            Kernel::MatrixMultiply => matrixmultiply::sgemm(
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
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kernels_multiply_with_strides() {
        // a = [[1,2],[3,4],[5,6]] (3×2 row-major); b = aᵀ read through strides (2×3).
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let expected = [5.0f32, 11.0, 17.0, 11.0, 25.0, 39.0, 17.0, 39.0, 61.0];
        for kernel in [Kernel::OpenBlas, Kernel::Gemm, Kernel::MatrixMultiply] {
            let mut c = [0f32; 9];
            let av = View { data: &a, row_stride: 2, col_stride: 1 };
            let bv = View { data: &a, row_stride: 1, col_stride: 2 };
            matmul_with(kernel, 3, 2, 3, av, bv, &mut c);
            assert_eq!(c, expected, "{kernel:?}");
        }
    }
}
