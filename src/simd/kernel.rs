//! The register-tiled matrix product C += A B of [`super::dense::gemm_acc`] and the row dots of
//! narrow layers, written with explicit SSE2 / AVX2 / AVX-512 vectors, one macro per algorithm
//! instantiated per float type and vector width (the compiler's own vectorisation of generic
//! loops picks 256-bit vectors and gathers).
//!
//! A tile is R rows × W vectors of C held in registers while p runs over the shared dimension:
//! per p, W loads of a row of B, R broadcasts of A(i, p) and R·W fused multiply–adds
//! (Goto & van de Geijn, *Anatomy of high-performance matrix multiplication*, ACM TOMS 2008).
//! Rows come in tiles of `ROWS`, then one at a time; columns in tiles of two vectors, then one,
//! then scalar.

/// a·b + c, fused where `FMA` (the caller's SIMD level has it), else two roundings.
pub(crate) trait MulAdd: Copy {
    fn fmadd<const FMA: bool>(self, b: Self, c: Self) -> Self;
}

macro_rules! mul_add {
    ($t:ty) => {
        impl MulAdd for $t {
            #[inline(always)]
            fn fmadd<const FMA: bool>(self, b: Self, c: Self) -> Self {
                if FMA { <$t>::mul_add(self, b, c) } else { self * b + c }
            }
        }
    };
}
mul_add!(f32);
mul_add!(f64);

/// What the portable kernels need of a float: copy, zero (`Default`), add and multiply.
pub(crate) trait Portable: Copy + Default + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> + std::ops::AddAssign {}
impl Portable for f32 {}
impl Portable for f64 {}

/// The row dots of `Real::dots` without vector kernels (targets other than x86-64): Σ x_k w_k with 8 partial sums.
#[allow(dead_code)]
pub(crate) fn dots<F: Portable>(x: &[F], len: usize, w: &[F], outs: usize, rows: usize, y: &mut [F]) {
    for r in 0..rows {
        let xr = &x[r * len..(r + 1) * len];
        for j in 0..outs {
            let wj = &w[j * len..(j + 1) * len];
            let mut acc = [F::default(); 8];
            let (ac, bc) = (xr.chunks_exact(8), wj.chunks_exact(8));
            let (ar, br) = (ac.remainder(), bc.remainder());
            for (a, b) in ac.zip(bc) {
                for l in 0..8 {
                    acc[l] += a[l] * b[l];
                }
            }
            let mut tail = F::default();
            for (a, b) in ar.iter().zip(br) {
                tail += *a * *b;
            }
            y[r * outs + j] += ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
        }
    }
}

/// The product C += A B of `Real::gemm_tiles` without vector kernels (targets other than x86-64): rows `rows`, columns `cols`.
#[allow(clippy::too_many_arguments, dead_code)]
pub(crate) fn gemm_rows<F: Portable>(c: &mut [F], ldc: usize, a: &[F], a_rs: usize, a_cs: usize, b: &[F], ldb: usize, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>, pi: usize) {
    for i in rows {
        let ci = &mut c[i * ldc + cols.start..i * ldc + cols.end];
        for p in 0..pi {
            let (aip, bp) = (a[i * a_rs + p * a_cs], &b[p * ldb + cols.start..p * ldb + cols.end]);
            for (cij, bpj) in ci.iter_mut().zip(bp) {
                *cij += aip * *bpj;
            }
        }
    }
}


#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

macro_rules! tiled_gemm {
    ($name:ident, $t:ty, $feature:literal, $v:ty, $lanes:literal, $rows:literal,
     $zero:ident, $set1:ident, $load:ident, $store:ident, $fmadd:ident) => {
        /// C += A B (layout and bounds as in `gemm_acc`, which asserts them).
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn $name(c: &mut [$t], ldc: usize, a: &[$t], a_rs: usize, a_cs: usize, b: &[$t], ldb: usize, mi: usize, ni: usize, pi: usize) {
            /// Rows i..i + R, columns j..j + W·lanes.
            #[target_feature(enable = $feature)]
            #[inline]
            #[allow(clippy::too_many_arguments)]
            fn tile<const R: usize, const W: usize>(c: &mut [$t], ldc: usize, a: &[$t], a_rs: usize, a_cs: usize, b: &[$t], ldb: usize, i: usize, j: usize, pi: usize) {
                let mut acc = [[$zero(); W]; R];
                let cp = c.as_mut_ptr();
                // SAFETY (all pointer reads and writes below): rows < mi, columns < ni and
                // p < pi, within the bounds `gemm_acc` asserted.
                for r in 0..R {
                    for w in 0..W {
                        acc[r][w] = unsafe { $load(cp.add((i + r) * ldc + j + w * $lanes)) };
                    }
                }
                for p in 0..pi {
                    let mut bv = [$zero(); W];
                    for w in 0..W {
                        bv[w] = unsafe { $load(b.as_ptr().add(p * ldb + j + w * $lanes)) };
                    }
                    for r in 0..R {
                        let av = $set1(unsafe { *a.get_unchecked((i + r) * a_rs + p * a_cs) });
                        for w in 0..W {
                            acc[r][w] = $fmadd(av, bv[w], acc[r][w]);
                        }
                    }
                }
                for r in 0..R {
                    for w in 0..W {
                        unsafe { $store(cp.add((i + r) * ldc + j + w * $lanes), acc[r][w]) };
                    }
                }
            }

            /// Rows i..i + R, all columns.
            #[target_feature(enable = $feature)]
            #[inline]
            #[allow(clippy::too_many_arguments)]
            fn row_tiles<const R: usize>(c: &mut [$t], ldc: usize, a: &[$t], a_rs: usize, a_cs: usize, b: &[$t], ldb: usize, i: usize, ni: usize, pi: usize) {
                let mut j = 0;
                while j + 2 * $lanes <= ni {
                    tile::<R, 2>(c, ldc, a, a_rs, a_cs, b, ldb, i, j, pi);
                    j += 2 * $lanes;
                }
                if j + $lanes <= ni {
                    tile::<R, 1>(c, ldc, a, a_rs, a_cs, b, ldb, i, j, pi);
                    j += $lanes;
                }
                for r in i..i + R {
                    for col in j..ni {
                        let mut s = c[r * ldc + col];
                        for p in 0..pi {
                            s += a[r * a_rs + p * a_cs] * b[p * ldb + col];
                        }
                        c[r * ldc + col] = s;
                    }
                }
            }

            let mut i = 0;
            while i + $rows <= mi {
                row_tiles::<$rows>(c, ldc, a, a_rs, a_cs, b, ldb, i, ni, pi);
                i += $rows;
            }
            while i < mi {
                row_tiles::<1>(c, ldc, a, a_rs, a_cs, b, ldb, i, ni, pi);
                i += 1;
            }
        }
    };
}

// AVX-512: 32 registers, tiles of 8 rows × 2 vectors (16 accumulators).
tiled_gemm!(gemm_f32_avx512, f32, "avx512f", __m512, 16, 8, _mm512_setzero_ps, _mm512_set1_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_fmadd_ps);
tiled_gemm!(gemm_f64_avx512, f64, "avx512f", __m512d, 8, 8, _mm512_setzero_pd, _mm512_set1_pd, _mm512_loadu_pd, _mm512_storeu_pd, _mm512_fmadd_pd);
// AVX2: 16 registers, tiles of 4 rows × 2 vectors (8 accumulators).
tiled_gemm!(gemm_f32_avx2, f32, "avx2,fma", __m256, 8, 4, _mm256_setzero_ps, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_fmadd_ps);
tiled_gemm!(gemm_f64_avx2, f64, "avx2,fma", __m256d, 4, 4, _mm256_setzero_pd, _mm256_set1_pd, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_fmadd_pd);
// SSE2 (every x86-64 CPU): 16 registers, tiles of 4 rows × 2 vectors, multiply then add.
tiled_gemm!(gemm_f32_sse2, f32, "sse2", __m128, 4, 4, _mm_setzero_ps, _mm_set1_ps, _mm_loadu_ps, _mm_storeu_ps, mul_add_ps128);
tiled_gemm!(gemm_f64_sse2, f64, "sse2", __m128d, 2, 4, _mm_setzero_pd, _mm_set1_pd, _mm_loadu_pd, _mm_storeu_pd, mul_add_pd128);

/// a·b + c without FMA (two roundings).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn mul_add_ps128(a: __m128, b: __m128, c: __m128) -> __m128 {
    _mm_add_ps(_mm_mul_ps(a, b), c)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn mul_add_pd128(a: __m128d, b: __m128d, c: __m128d) -> __m128d {
    _mm_add_pd(_mm_mul_pd(a, b), c)
}

macro_rules! row_dots {
    ($name:ident, $t:ty, $feature:literal, $lanes:literal, $zero:ident, $load:ident, $fmadd:ident, $add:ident, $reduce:ident) => {
        /// y[r·outs + j] += x[r·len .. (r+1)·len] · w[j·len .. (j+1)·len] for r < rows, j < outs:
        /// the products of layers with few outputs (or few inputs, in the reverse pass).
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        pub(crate) fn $name(x: &[$t], len: usize, w: &[$t], outs: usize, rows: usize, y: &mut [$t]) {
            assert!(x.len() >= rows * len && w.len() >= outs * len && y.len() >= rows * outs, "dots out of bounds");
            let vectors = len / $lanes;
            for r in 0..rows {
                let xr = &x[r * len..(r + 1) * len];
                for j in 0..outs {
                    let wj = &w[j * len..(j + 1) * len];
                    // Four independent accumulators, then their sum.
                    let mut acc = [$zero(); 4];
                    for k in 0..vectors {
                        // SAFETY: (k + 1)·lanes ≤ len = xr.len() = wj.len().
                        let (a, b) = unsafe { ($load(xr.as_ptr().add(k * $lanes)), $load(wj.as_ptr().add(k * $lanes))) };
                        acc[k % 4] = $fmadd(a, b, acc[k % 4]);
                    }
                    let mut s = $reduce($add($add(acc[0], acc[1]), $add(acc[2], acc[3])));
                    for k in vectors * $lanes..len {
                        s += xr[k] * wj[k];
                    }
                    y[r * outs + j] += s;
                }
            }
        }
    };
}

/// Sum of the lanes of an SSE vector.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn reduce_add_ps128(q: __m128) -> f32 {
    let h = _mm_add_ps(q, _mm_movehl_ps(q, q));
    _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps::<0b01>(h, h)))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn reduce_add_pd128(q: __m128d) -> f64 {
    _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)))
}

/// Sum of the lanes of an AVX vector (AVX-512 has `_mm512_reduce_add_*`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn reduce_add_ps256(v: __m256) -> f32 {
    reduce_add_ps128(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v)))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn reduce_add_pd256(v: __m256d) -> f64 {
    reduce_add_pd128(_mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v)))
}

row_dots!(dots_f32_avx512, f32, "avx512f", 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_reduce_add_ps);
row_dots!(dots_f64_avx512, f64, "avx512f", 8, _mm512_setzero_pd, _mm512_loadu_pd, _mm512_fmadd_pd, _mm512_add_pd, _mm512_reduce_add_pd);
row_dots!(dots_f32_avx2, f32, "avx2,fma", 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_fmadd_ps, _mm256_add_ps, reduce_add_ps256);
row_dots!(dots_f64_avx2, f64, "avx2,fma", 4, _mm256_setzero_pd, _mm256_loadu_pd, _mm256_fmadd_pd, _mm256_add_pd, reduce_add_pd256);
row_dots!(dots_f32_sse2, f32, "sse2", 4, _mm_setzero_ps, _mm_loadu_ps, mul_add_ps128, _mm_add_ps, reduce_add_ps128);
row_dots!(dots_f64_sse2, f64, "sse2", 2, _mm_setzero_pd, _mm_loadu_pd, mul_add_pd128, _mm_add_pd, reduce_add_pd128);
