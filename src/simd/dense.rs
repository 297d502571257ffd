//! Parameters of a burn drift network read out into flat buffers, and gradients in the same
//! layout handed back to burn as [`GradientsParams`] keyed by the parameter ids, so that burn's
//! optimiser step is unchanged.
//!
//! A dense layer y = x W + b keeps burn's layout (W: [d_in, d_out], row-major) and a transposed
//! copy Wᵀ so that both the forward product and the input vector–Jacobian product x̄ = ȳ Wᵀ are
//! row-times-matrix loops over contiguous memory. Parameters are read out in f64 and cast to the
//! kernel type ([`Dense::cast`]); gradients of a block are summed into f64 ([`DenseGrad::add`]).

use super::real::{Real, simd};
use burn::module::{Param, ParamId};
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

/// The values of a float parameter as f64.
pub(crate) fn values<const D: usize>(param: &Param<Tensor<D>>) -> Vec<f64> {
    param.val().into_data().try_into_vec_as::<f64>().expect("float parameter data")
}

/// A dense layer y = x W + b.
#[derive(Debug, Clone)]
pub(crate) struct Dense<F = f64> {
    pub d_in: usize,
    pub d_out: usize,
    /// W, [d_in, d_out].
    pub w: Vec<F>,
    /// Wᵀ, [d_out, d_in].
    pub wt: Vec<F>,
    /// b, [d_out] (zeros for a layer without bias).
    pub b: Vec<F>,
    pub w_id: ParamId,
    pub b_id: Option<ParamId>,
}

/// Gradient of a [`Dense`] layer.
#[derive(Debug, Clone)]
pub(crate) struct DenseGrad<F = f64> {
    pub w: Vec<F>,
    pub b: Vec<F>,
    /// W̄ᵀ, accumulated instead of W̄ for layers with few outputs; see [`DenseGrad::weight`].
    pub wt: Vec<F>,
    pub d_in: usize,
}

impl<F: Real> DenseGrad<F> {
    /// self += other (converting to this gradient's type).
    pub fn add<G: Real>(&mut self, other: &DenseGrad<G>) {
        add_into(&mut self.w, &other.w);
        add_into(&mut self.b, &other.b);
        add_into(&mut self.wt, &other.wt);
    }

    /// Sets every component to zero.
    pub fn zero(&mut self) {
        self.w.fill(F::ZERO);
        self.b.fill(F::ZERO);
        self.wt.fill(F::ZERO);
    }

    /// W̄ = (accumulated W̄) + (accumulated W̄ᵀ)ᵀ, [d_in, d_out].
    pub fn weight(&self) -> Vec<F> {
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

/// Layers with fewer outputs (or inputs) than this use dot products instead of register tiles.
const NARROW: usize = 8;

/// y[r·outs + j] += x_r · w_j for r < rows, j < outs (x rows and w rows of length `len`): the
/// products of narrow layers, with the vector kernel of this CPU ([`super::kernel`]).
#[inline(always)]
fn narrow<F: Real>(x: &[F], len: usize, w: &[F], outs: usize, rows: usize, y: &mut [F]) {
    // SAFETY: `simd()` is what this CPU supports.
    unsafe { F::dots(simd(), x, len, w, outs, rows, y) }
}

/// a += b, converting b's elements.
pub(crate) fn add_into<F: Real, G: Real>(a: &mut [F], b: &[G]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += F::of(y.f64());
    }
}

impl Dense<f64> {
    pub fn from_linear(layer: &Linear) -> Self {
        let mut dense = Self::from_matrix(&layer.weight);
        if let Some(bias) = &layer.bias {
            dense.b = values(bias);
            dense.b_id = Some(bias.id);
        }
        dense
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

    /// Registers the gradient of this layer.
    pub fn register(&self, grad: &DenseGrad, out: &mut GradientsParams, device: &Device) {
        out.register(self.w_id, Tensor::<2>::from_data(TensorData::new(grad.weight(), [self.d_in, self.d_out]), device));
        if let Some(id) = self.b_id {
            out.register(id, Tensor::<1>::from_data(TensorData::new(grad.b.clone(), [self.d_out]), device));
        }
    }
}

impl<F: Real> Dense<F> {
    /// The layer with its values cast to `G`.
    pub fn cast<G: Real>(&self) -> Dense<G> {
        use super::real::cast;
        Dense { d_in: self.d_in, d_out: self.d_out, w: cast(&self.w), wt: cast(&self.wt), b: cast(&self.b), w_id: self.w_id, b_id: self.b_id }
    }

    pub fn grad_zeros<G: Real>(&self) -> DenseGrad<G> {
        DenseGrad { w: vec![G::ZERO; self.w.len()], b: vec![G::ZERO; self.b.len()], wt: vec![G::ZERO; self.w.len()], d_in: self.d_in }
    }

    /// y = x W + b for `rows` rows (x: rows × d_in, y: rows × d_out).
    #[inline(always)]
    pub fn forward(&self, x: &[F], y: &mut [F], rows: usize) {
        let m = self.d_out;
        for r in 0..rows {
            copy(&mut y[r * m..(r + 1) * m], &self.b);
        }
        self.accumulate(x, y, rows);
    }

    /// y += x W (no bias).
    #[inline(always)]
    pub fn accumulate(&self, x: &[F], y: &mut [F], rows: usize) {
        let (n, m) = (self.d_in, self.d_out);
        if m < NARROW {
            // Few outputs: dot products of x rows with rows of Wᵀ.
            narrow(x, n, &self.wt, m, rows, y);
        } else {
            gemm_acc(y, m, x, n, 1, &self.w, m, rows, m, n);
        }
    }

    /// y = tanh(x W + b).
    #[inline(always)]
    pub fn forward_tanh(&self, x: &[F], y: &mut [F], rows: usize) {
        self.forward(x, y, rows);
        super::activation::tanh_in_place(&mut y[..rows * self.d_out]);
    }

    /// x̄ += ȳ Wᵀ.
    #[inline(always)]
    pub fn backward_input(&self, y_bar: &[F], x_bar: &mut [F], rows: usize) {
        let (n, m) = (self.d_in, self.d_out);
        if n < NARROW {
            narrow(y_bar, m, &self.w, n, rows, x_bar);
        } else {
            gemm_acc(x_bar, n, y_bar, m, 1, &self.wt, n, rows, n, m);
        }
    }

    /// W̄ += xᵀ ȳ, b̄ += Σ_rows ȳ.
    #[inline(always)]
    pub fn backward_params(&self, x: &[F], y_bar: &[F], grad: &mut DenseGrad<F>, rows: usize) {
        let m = self.d_out;
        for r in 0..rows {
            axpy(&mut grad.b, F::ONE, &y_bar[r * m..(r + 1) * m]);
        }
        self.backward_weight(x, y_bar, grad, rows);
    }

    /// W̄ += xᵀ ȳ only (a product x W that has no bias term, such as the gradient chain of
    /// the gradient drift's network).
    #[inline(always)]
    pub fn backward_weight(&self, x: &[F], y_bar: &[F], grad: &mut DenseGrad<F>, rows: usize) {
        let (n, m) = (self.d_in, self.d_out);
        if m < NARROW {
            // W̄ᵀ += ȳᵀ x: long contiguous rows (folded into W̄ by `DenseGrad::weight`).
            gemm_acc(&mut grad.wt, n, y_bar, 1, m, x, n, m, n, rows);
        } else {
            gemm_acc(&mut grad.w, m, x, 1, n, y_bar, m, n, m, rows);
        }
    }
}

/// C += A B for an `mi × pi` matrix A with element (i, p) at `a[i·a_rs + p·a_cs]` (so A or Aᵀ
/// of a row-major array), B row-major `pi × ni` with row stride `ldb`, C row-major with row
/// stride `ldc`. Register-blocked (the accumulators stay in vector registers), summing over p
/// in order (with fused multiply–adds on CPUs that have them); AVX-512, AVX2+FMA or the
/// baseline target, chosen at run time.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_acc<F: Real>(c: &mut [F], ldc: usize, a: &[F], a_rs: usize, a_cs: usize, b: &[F], ldb: usize, mi: usize, ni: usize, pi: usize) {
    if mi == 0 || ni == 0 || pi == 0 {
        return;
    }
    assert!((mi - 1) * a_rs + (pi - 1) * a_cs < a.len(), "A out of bounds");
    assert!((pi - 1) * ldb + ni <= b.len() && (mi - 1) * ldc + ni <= c.len(), "B or C out of bounds");
    // SAFETY: `simd()` is what this CPU supports; the bounds are asserted above.
    unsafe { F::gemm_tiles(simd(), c, ldc, a, a_rs, a_cs, b, ldb, mi, ni, pi) }
}

/// dst = src for short rows, in 16-element pieces moved as vectors inline (a `memcpy` call per
/// row of a few dozen values costs more than the copy).
#[inline(always)]
pub(crate) fn copy<F: Real>(dst: &mut [F], src: &[F]) {
    assert_eq!(dst.len(), src.len(), "copy of unequal lengths");
    let (mut d, mut s) = (dst.chunks_exact_mut(16), src.chunks_exact(16));
    for (a, b) in (&mut d).zip(&mut s) {
        let (a, b): (&mut [F; 16], &[F; 16]) = (a.try_into().expect("16"), b.try_into().expect("16"));
        *a = *b;
    }
    for (a, b) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *a = *b;
    }
}

/// y += a x (vectorised by the compiler: no reduction).
#[inline(always)]
pub(crate) fn axpy<F: Real>(y: &mut [F], a: F, x: &[F]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * *xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::real::Simd;

    /// Every kernel this CPU can run against a plain triple loop, for A and Aᵀ layouts and sizes
    /// that leave row and column remainders after the register tiles.
    fn check<F: Real>(tolerance: f64) {
        let levels = [Simd::Baseline, Simd::Avx2, Simd::Avx512];
        let top = levels.iter().position(|l| *l == simd()).expect("a level");
        for &(mi, ni, pi) in &[(13, 37, 9), (32, 64, 64), (3, 64, 32), (8, 5, 3), (17, 48, 1)] {
            let value = |k: usize| F::of(((k * 7919) % 211) as f64 / 105.0 - 1.0);
            let a: Vec<F> = (0..mi * pi).map(value).collect();
            let b: Vec<F> = (0..pi * ni).map(|k| value(k + 5)).collect();
            let c0: Vec<F> = (0..mi * ni).map(|k| value(k + 11)).collect();
            for transposed in [false, true] {
                // A(i, p) at a[i·pi + p], or at a[p·mi + i] for Aᵀ stored row-major.
                let (a_rs, a_cs) = if transposed { (1, mi) } else { (pi, 1) };
                let mut expected = c0.clone();
                for i in 0..mi {
                    for j in 0..ni {
                        let s: f64 = (0..pi).map(|p| a[i * a_rs + p * a_cs].f64() * b[p * ni + j].f64()).sum();
                        expected[i * ni + j] = F::of(c0[i * ni + j].f64() + s);
                    }
                }
                for &level in &levels[..=top] {
                    let mut c = c0.clone();
                    // SAFETY: `level` is at most what this CPU supports; the sizes fit.
                    unsafe { F::gemm_tiles(level, &mut c, ni, &a, a_rs, a_cs, &b, ni, mi, ni, pi) };
                    for (k, (x, y)) in c.iter().zip(&expected).enumerate() {
                        assert!((x.f64() - y.f64()).abs() <= tolerance * (1.0 + y.f64().abs()), "{level:?} {mi}×{ni}×{pi} transposed={transposed} [{k}]: {x:?} vs {y:?}");
                    }
                }
            }
        }
    }

    /// Every row-dot kernel this CPU can run against plain sums.
    fn check_dots<F: Real>(tolerance: f64) {
        let levels = [Simd::Baseline, Simd::Avx2, Simd::Avx512];
        let top = levels.iter().position(|l| *l == simd()).expect("a level");
        for &(len, outs, rows) in &[(64, 3, 32), (3, 3, 5), (37, 2, 7), (128, 1, 3)] {
            let value = |k: usize| F::of(((k * 7919) % 211) as f64 / 105.0 - 1.0);
            let x: Vec<F> = (0..rows * len).map(value).collect();
            let w: Vec<F> = (0..outs * len).map(|k| value(k + 3)).collect();
            let y0: Vec<F> = (0..rows * outs).map(|k| value(k + 9)).collect();
            for &level in &levels[..=top] {
                let mut y = y0.clone();
                // SAFETY: `level` is at most what this CPU supports.
                unsafe { F::dots(level, &x, len, &w, outs, rows, &mut y) };
                for r in 0..rows {
                    for j in 0..outs {
                        let s: f64 = (0..len).map(|k| x[r * len + k].f64() * w[j * len + k].f64()).sum::<f64>() + y0[r * outs + j].f64();
                        let got = y[r * outs + j].f64();
                        assert!((got - s).abs() <= tolerance * (1.0 + s.abs()), "{level:?} dots {len}×{outs}×{rows} [{r}, {j}]: {got} vs {s}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_gemm_kernel_matches_a_plain_product() {
        check::<f64>(1e-13);
        check::<f32>(1e-5);
        check_dots::<f64>(1e-13);
        check_dots::<f32>(1e-5);
    }
}
