//! The floating-point type of the fused kernels (f32 or f64) and the SIMD level they run at.
//!
//! Every kernel of the fused engine is generic over [`Real`]; what differs between f32 and f64
//! is the vector type of the matrix product ([`super::kernel`]) and the tanh approximation (see [`super::tanh`]). Sums over walkers and steps (loss, energy,
//! gradients across blocks) are accumulated in f64 whatever the kernel type.
//!
//! The SIMD level is detected once at run time ([`simd`]): AVX-512F, AVX2+FMA or the baseline
//! target, so a default `cargo build --release` runs the widest kernels the CPU has.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// The instruction-set level the dispatched kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simd {
    /// The build target (SSE2 on x86-64): 16-byte vectors, no FMA; plain loops elsewhere.
    Baseline,
    /// AVX2 and FMA: 32-byte vectors.
    Avx2,
    /// AVX-512F (with AVX2 and FMA): 64-byte vectors.
    Avx512,
}

/// The widest level this CPU supports (checked once).
pub(crate) fn simd() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        static LEVEL: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
        *LEVEL.get_or_init(|| {
            let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            if avx2 && is_x86_feature_detected!("avx512f") {
                Simd::Avx512
            } else if avx2 {
                Simd::Avx2
            } else {
                Simd::Baseline
            }
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    Simd::Baseline
}

/// f32 or f64, as the fused kernels compute.
pub(crate) trait Real:
    super::kernel::MulAdd
    + Copy
    + Default
    + Debug
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + std::iter::Sum
{
    const ZERO: Self;
    const ONE: Self;
    fn of(v: f64) -> Self;
    fn f64(self) -> f64;
    fn sqrt(self) -> Self;
    fn exp(self) -> Self;
    fn max(self, other: Self) -> Self;
    /// C += A B (see [`super::dense::gemm_acc`]) with the register-tiled kernel for `level`.
    ///
    /// # Safety
    /// The CPU supports `level`, and the bounds are as `gemm_acc` asserts them.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_tiles(level: Simd, c: &mut [Self], ldc: usize, a: &[Self], a_rs: usize, a_cs: usize, b: &[Self], ldb: usize, mi: usize, ni: usize, pi: usize);
    /// y[r·outs + j] += x_r · w_j (see [`super::kernel`]'s `row_dots`) with the kernel for
    /// `level`.
    ///
    /// # Safety
    /// The CPU supports `level`.
    unsafe fn dots(level: Simd, x: &[Self], len: usize, w: &[Self], outs: usize, rows: usize, y: &mut [Self]);
    /// tanh of `N` elements in place (see [`super::tanh`]).
    fn tanh_group<const N: usize, const FMA: bool>(x: &mut [Self; N]);
}

macro_rules! real {
    ($t:ty, $tanh:ident, $avx512:ident, $avx2:ident, $sse2:ident, $dots512:ident, $dots2:ident, $dots_sse2:ident) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn of(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            unsafe fn gemm_tiles(level: Simd, c: &mut [Self], ldc: usize, a: &[Self], a_rs: usize, a_cs: usize, b: &[Self], ldb: usize, mi: usize, ni: usize, pi: usize) {
                match level {
                    // SAFETY: the caller guarantees that the CPU supports `level`.
                    #[cfg(target_arch = "x86_64")]
                    Simd::Avx512 => unsafe { super::kernel::$avx512(c, ldc, a, a_rs, a_cs, b, ldb, mi, ni, pi) },
                    // SAFETY: as above.
                    #[cfg(target_arch = "x86_64")]
                    Simd::Avx2 => unsafe { super::kernel::$avx2(c, ldc, a, a_rs, a_cs, b, ldb, mi, ni, pi) },
                    // SAFETY: SSE2 is part of every x86-64 CPU.
                    #[cfg(target_arch = "x86_64")]
                    Simd::Baseline => unsafe { super::kernel::$sse2(c, ldc, a, a_rs, a_cs, b, ldb, mi, ni, pi) },
                    #[cfg(not(target_arch = "x86_64"))]
                    _ => super::kernel::gemm_rows(c, ldc, a, a_rs, a_cs, b, ldb, 0..mi, 0..ni, pi),
                }
            }
            #[inline(always)]
            unsafe fn dots(level: Simd, x: &[Self], len: usize, w: &[Self], outs: usize, rows: usize, y: &mut [Self]) {
                match level {
                    // SAFETY: the caller guarantees that the CPU supports `level`.
                    #[cfg(target_arch = "x86_64")]
                    Simd::Avx512 => unsafe { super::kernel::$dots512(x, len, w, outs, rows, y) },
                    // SAFETY: as above.
                    #[cfg(target_arch = "x86_64")]
                    Simd::Avx2 => unsafe { super::kernel::$dots2(x, len, w, outs, rows, y) },
                    // SAFETY: SSE2 is part of every x86-64 CPU.
                    #[cfg(target_arch = "x86_64")]
                    Simd::Baseline => unsafe { super::kernel::$dots_sse2(x, len, w, outs, rows, y) },
                    #[cfg(not(target_arch = "x86_64"))]
                    _ => super::kernel::dots(x, len, w, outs, rows, y),
                }
            }
            #[inline(always)]
            fn tanh_group<const N: usize, const FMA: bool>(x: &mut [Self; N]) {
                super::tanh::$tanh::<N, FMA>(x)
            }
        }
    };
}

real!(f32, tanh_f32, gemm_f32_avx512, gemm_f32_avx2, gemm_f32_sse2, dots_f32_avx512, dots_f32_avx2, dots_f32_sse2);
real!(f64, tanh_f64, gemm_f64_avx512, gemm_f64_avx2, gemm_f64_sse2, dots_f64_avx512, dots_f64_avx2, dots_f64_sse2);

/// Converts a slice.
pub(crate) fn cast<F: Real, G: Real>(x: &[F]) -> Vec<G> {
    x.iter().map(|v| G::of(v.f64())).collect()
}
