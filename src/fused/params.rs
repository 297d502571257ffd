//! Parameters of a burn drift network read out into flat f64 buffers, and gradients in the same
//! layout handed back to burn as [`GradientsParams`] keyed by the parameter ids, so that burn's
//! optimiser step is unchanged.
//!
//! A dense layer y = x W + b keeps burn's layout (W: [d_in, d_out], row-major) and a transposed
//! copy Wᵀ so that both the forward product and the input vector–Jacobian product x̄ = ȳ Wᵀ are
//! row-times-matrix (axpy) loops over contiguous memory.

use burn::module::{Param, ParamId};
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

/// The values of a float parameter as f64.
pub(crate) fn values<const D: usize>(param: &Param<Tensor<D>>) -> Vec<f64> {
    param.val().into_data().try_into_vec_as::<f64>().expect("float parameter data")
}

/// A dense layer y = x W + b in f64.
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    pub d_in: usize,
    pub d_out: usize,
    /// W, [d_in, d_out].
    pub w: Vec<f64>,
    /// Wᵀ, [d_out, d_in].
    pub wt: Vec<f64>,
    /// b, [d_out] (zeros for a layer without bias).
    pub b: Vec<f64>,
    pub w_id: ParamId,
    pub b_id: Option<ParamId>,
}

/// Gradient of a [`Dense`] layer.
#[derive(Debug, Clone)]
pub(crate) struct DenseGrad {
    pub w: Vec<f64>,
    pub b: Vec<f64>,
    /// W̄ᵀ, accumulated instead of W̄ for layers with few outputs; see [`DenseGrad::weight`].
    pub wt: Vec<f64>,
    pub d_in: usize,
}

impl DenseGrad {
    pub fn add(&mut self, other: &DenseGrad) {
        add_into(&mut self.w, &other.w);
        add_into(&mut self.b, &other.b);
        add_into(&mut self.wt, &other.wt);
    }

    /// W̄ = (accumulated W̄) + (accumulated W̄ᵀ)ᵀ, [d_in, d_out].
    pub fn weight(&self) -> Vec<f64> {
        let n = self.d_in;
        let m = self.w.len() / n.max(1);
        let mut w = self.w.clone();
        for k in 0..n {
            for j in 0..m {
                w[k * m + j] += self.wt[j * n + k];
            }
        }
        w
    }
}

/// Layers with fewer outputs (or inputs) than this use dot products instead of 4 × 8 tiles.
const NARROW: usize = 8;

/// Σ a_i b_i with 8 partial sums (vectorised).
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ar.iter().zip(br) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

pub(crate) fn add_into(a: &mut [f64], b: &[f64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

impl Dense {
    pub fn from_linear(layer: &Linear) -> Self {
        let mut dense = Self::from_matrix(&layer.weight);
        if let Some(bias) = &layer.bias {
            dense.b = values(bias);
            dense.b_id = Some(bias.id);
        }
        dense
    }

    pub fn grad_zeros(&self) -> DenseGrad {
        DenseGrad { w: vec![0.0; self.w.len()], b: vec![0.0; self.b.len()], wt: vec![0.0; self.w.len()], d_in: self.d_in }
    }

    /// A bias-free square layer from a matrix parameter (the MLP's linear skip x S).
    pub fn from_matrix(param: &Param<Tensor<2>>) -> Self {
        let [d_in, d_out] = param.val().dims();
        let w = values(param);
        let mut wt = vec![0.0; d_in * d_out];
        for k in 0..d_in {
            for j in 0..d_out {
                wt[j * d_in + k] = w[k * d_out + j];
            }
        }
        Dense { d_in, d_out, w, wt, b: vec![0.0; d_out], w_id: param.id, b_id: None }
    }

    /// y = x W + b for `rows` rows (x: rows × d_in, y: rows × d_out).
    #[inline(always)]
    pub fn forward(&self, x: &[f64], y: &mut [f64], rows: usize) {
        let m = self.d_out;
        for r in 0..rows {
            y[r * m..(r + 1) * m].copy_from_slice(&self.b);
        }
        self.accumulate(x, y, rows);
    }

    /// y += x W (no bias).
    #[inline(always)]
    pub fn accumulate(&self, x: &[f64], y: &mut [f64], rows: usize) {
        let (n, m) = (self.d_in, self.d_out);
        if m < NARROW {
            // Few outputs: dot products of x rows with rows of Wᵀ.
            for r in 0..rows {
                let xr = &x[r * n..(r + 1) * n];
                for j in 0..m {
                    y[r * m + j] += dot(xr, &self.wt[j * n..(j + 1) * n]);
                }
            }
        } else {
            gemm_acc(y, m, x, n, 1, &self.w, m, rows, m, n);
        }
    }

    /// y = tanh(x W + b).
    #[inline(always)]
    pub fn forward_tanh(&self, x: &[f64], y: &mut [f64], rows: usize) {
        self.forward(x, y, rows);
        tanh_in_place(&mut y[..rows * self.d_out]);
    }

    /// x̄ += ȳ Wᵀ.
    #[inline(always)]
    pub fn backward_input(&self, y_bar: &[f64], x_bar: &mut [f64], rows: usize) {
        let (n, m) = (self.d_in, self.d_out);
        if n < NARROW {
            for r in 0..rows {
                let yr = &y_bar[r * m..(r + 1) * m];
                for k in 0..n {
                    x_bar[r * n + k] += dot(yr, &self.w[k * m..(k + 1) * m]);
                }
            }
        } else {
            gemm_acc(x_bar, n, y_bar, m, 1, &self.wt, n, rows, n, m);
        }
    }

    /// W̄ += xᵀ ȳ, b̄ += Σ_rows ȳ.
    #[inline(always)]
    pub fn backward_params(&self, x: &[f64], y_bar: &[f64], grad: &mut DenseGrad, rows: usize) {
        let (n, m) = (self.d_in, self.d_out);
        for r in 0..rows {
            axpy(&mut grad.b, 1.0, &y_bar[r * m..(r + 1) * m]);
        }
        if m < NARROW {
            // W̄ᵀ += ȳᵀ x: long contiguous rows (folded into W̄ by `DenseGrad::finish`).
            gemm_acc(&mut grad.wt, n, y_bar, 1, m, x, n, m, n, rows);
        } else {
            gemm_acc(&mut grad.w, m, x, 1, n, y_bar, m, n, m, rows);
        }
    }

    /// Registers the gradient of this layer.
    pub fn register(&self, grad: &DenseGrad, out: &mut GradientsParams, device: &Device) {
        out.register(self.w_id, Tensor::<2>::from_data(TensorData::new(grad.weight(), [self.d_in, self.d_out]), device));
        if let Some(id) = self.b_id {
            out.register(id, Tensor::<1>::from_data(TensorData::new(grad.b.clone(), [self.d_out]), device));
        }
    }
}

/// C += A B for an `mi × pi` matrix A with element (i, p) at `a[i·a_rs + p·a_cs]` (so A or Aᵀ
/// of a row-major array), B row-major `pi × ni` with row stride `ldb`, C row-major with row
/// stride `ldc`. Register-blocked in 4 × 8 tiles (the accumulators stay in vector registers),
/// summing over p in order (with fused multiply–adds on CPUs that have them). A small function
/// of its own, compiled for AVX2+FMA and for the baseline target and chosen at run time.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_acc(c: &mut [f64], ldc: usize, a: &[f64], a_rs: usize, a_cs: usize, b: &[f64], ldb: usize, mi: usize, ni: usize, pi: usize) {
    if mi == 0 || ni == 0 || pi == 0 {
        return;
    }
    assert!((mi - 1) * a_rs + (pi - 1) * a_cs < a.len(), "A out of bounds");
    assert!((pi - 1) * ldb + ni <= b.len() && (mi - 1) * ldc + ni <= c.len(), "B or C out of bounds");
    #[cfg(target_arch = "x86_64")]
    if super::has_avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked at run time).
        return unsafe { gemm_acc_avx2(c, ldc, a, a_rs, a_cs, b, ldb, mi, ni, pi) };
    }
    gemm_acc_impl::<false>(c, ldc, a, a_rs, a_cs, b, ldb, mi, ni, pi)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn gemm_acc_avx2(c: &mut [f64], ldc: usize, a: &[f64], a_rs: usize, a_cs: usize, b: &[f64], ldb: usize, mi: usize, ni: usize, pi: usize) {
    gemm_acc_impl::<true>(c, ldc, a, a_rs, a_cs, b, ldb, mi, ni, pi)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gemm_acc_impl<const FMA: bool>(c: &mut [f64], ldc: usize, a: &[f64], a_rs: usize, a_cs: usize, b: &[f64], ldb: usize, mi: usize, ni: usize, pi: usize) {
    const R: usize = 4;
    const Q: usize = 8;
    let mut i = 0;
    while i + R <= mi {
        let mut j = 0;
        while j + Q <= ni {
            let mut acc = [[0.0f64; Q]; R];
            for r in 0..R {
                acc[r].copy_from_slice(&c[(i + r) * ldc + j..(i + r) * ldc + j + Q]);
            }
            for p in 0..pi {
                let mut av = [0.0f64; R];
                for r in 0..R {
                    // SAFETY: the index is at most (mi − 1)·a_rs + (pi − 1)·a_cs, asserted above.
                    av[r] = unsafe { *a.get_unchecked((i + r) * a_rs + p * a_cs) };
                }
                // SAFETY: p·ldb + j + Q ≤ (pi − 1)·ldb + ni ≤ b.len(), asserted above.
                let bv = unsafe { &*(b.as_ptr().add(p * ldb + j) as *const [f64; Q]) };
                for r in 0..R {
                    for q in 0..Q {
                        acc[r][q] = if FMA { av[r].mul_add(bv[q], acc[r][q]) } else { acc[r][q] + av[r] * bv[q] };
                    }
                }
            }
            for r in 0..R {
                c[(i + r) * ldc + j..(i + r) * ldc + j + Q].copy_from_slice(&acc[r]);
            }
            j += Q;
        }
        if j < ni {
            gemm_rows(c, ldc, a, a_rs, a_cs, b, ldb, i..i + R, j..ni, pi);
        }
        i += R;
    }
    gemm_rows(c, ldc, a, a_rs, a_cs, b, ldb, i..mi, 0..ni, pi);
}

/// The unblocked remainder of [`gemm_acc`]: rows `rows`, columns `cols`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gemm_rows(c: &mut [f64], ldc: usize, a: &[f64], a_rs: usize, a_cs: usize, b: &[f64], ldb: usize, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>, pi: usize) {
    for i in rows {
        let ci = &mut c[i * ldc + cols.start..i * ldc + cols.end];
        for p in 0..pi {
            axpy(ci, a[i * a_rs + p * a_cs], &b[p * ldb + cols.start..p * ldb + cols.end]);
        }
    }
}

/// y += a x (vectorised by the compiler: no reduction).
#[inline(always)]
pub(crate) fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * *xi;
    }
}

/// z̄ = h̄ ⊙ (1 − h²) in place on h̄, for h = tanh(z).
#[inline(always)]
pub(crate) fn tanh_backward(h: &[f64], h_bar: &mut [f64]) {
    for (g, t) in h_bar.iter_mut().zip(h) {
        *g *= 1.0 - *t * *t;
    }
}

/// tanh on every element. A branch-free exp-based form the compiler vectorises:
/// tanh(x) = sign(x)·(1 − e)/(1 + e), e = exp(−2|x|), relative error ~1e-15 for |x| ≳ 1e-3
/// and absolute error ~1e-16 below. Elements go in groups of 16 so that several independent
/// vector polynomial evaluations are in flight (the Horner chain is latency-bound otherwise).
pub(crate) fn tanh_in_place(x: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if super::has_avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked at run time).
        return unsafe { tanh_avx2(x) };
    }
    tanh_impl(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tanh_avx2(x: &mut [f64]) {
    tanh_impl(x)
}

#[inline(always)]
fn tanh_impl(x: &mut [f64]) {
    const N: usize = 16;
    let mut groups = x.chunks_exact_mut(N);
    for group in &mut groups {
        let group: &mut [f64; N] = group.try_into().expect("group of N");
        tanh_group(group);
    }
    for v in groups.into_remainder() {
        let mut one = [*v];
        tanh_group(&mut one);
        *v = one[0];
    }
}

#[inline(always)]
fn tanh_group<const N: usize>(x: &mut [f64; N]) {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_471_803_691_238_2e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer
    // Taylor coefficients 1/i! of e^r, i = 13 down to 0 (|r| ≤ ½ln2: error below 1e-16).
    const COEFFS: [f64; 13] = [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ];
    // e^y, y = −2|x| ∈ [−80, 0]: Cody–Waite reduction y = k ln2 + r.
    let mut r = [0.0; N];
    let mut kf = [0.0; N];
    for i in 0..N {
        let y = -2.0 * x[i].abs().min(40.0);
        kf[i] = (y * LOG2E + SHIFT) - SHIFT;
        r[i] = (y - kf[i] * LN2_HI) - kf[i] * LN2_LO;
    }
    let mut p = [1.0 / 6_227_020_800.0; N];
    for c in COEFFS {
        for i in 0..N {
            p[i] = p[i] * r[i] + c;
        }
    }
    for i in 0..N {
        // 2^k from the exponent bits (k ∈ [−116, 0]: normal numbers only).
        let k = (kf[i] + SHIFT).to_bits() as i64 - SHIFT.to_bits() as i64;
        let e = p[i] * f64::from_bits(((k + 1023) as u64) << 52);
        x[i] = ((1.0 - e) / (1.0 + e)).copysign(x[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_tanh_matches_std() {
        let mut worst: f64 = 0.0;
        for i in -20000..=20000 {
            let x = i as f64 * 1e-3 + 1e-7;
            let mut y = [x];
            tanh_in_place(&mut y);
            worst = worst.max((y[0] - x.tanh()).abs());
        }
        assert!(worst < 1e-15, "max abs error {worst}");
    }
}
