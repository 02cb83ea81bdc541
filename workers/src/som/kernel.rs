//! The f32 matrix product behind the BMU search and the batch smoothing: C = A·B with arbitrary
//! strides, single-threaded per call (callers split rows over rayon, so results do not depend on
//! the thread count).
//!
//! Two kernels, chosen by measurement (benches/som/compare.py, README "SOM"): the `gemm` crate
//! (runtime-dispatched AVX-512/AVX2/FMA micro-kernels) is the default; `matrixmultiply` (AVX2/FMA,
//! no AVX-512) stays selectable so the benchmark can compare them on the same run.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Gemm = 0,
    MatrixMultiply = 1,
}

static KERNEL: AtomicU8 = AtomicU8::new(Kernel::Gemm as u8);

/// Selects the kernel for the whole process (benchmarks only).
pub fn set(kernel: Kernel) {
    KERNEL.store(kernel as u8, Ordering::Relaxed);
}

pub fn current() -> Kernel {
    if KERNEL.load(Ordering::Relaxed) == Kernel::MatrixMultiply as u8 { Kernel::MatrixMultiply } else { Kernel::Gemm }
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
    unsafe {
        match kernel {
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
        for kernel in [Kernel::Gemm, Kernel::MatrixMultiply] {
            let mut c = [0f32; 9];
            let av = View { data: &a, row_stride: 2, col_stride: 1 };
            let bv = View { data: &a, row_stride: 1, col_stride: 2 };
            matmul_with(kernel, 3, 2, 3, av, bv, &mut c);
            assert_eq!(c, expected, "{kernel:?}");
        }
    }
}
