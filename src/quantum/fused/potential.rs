//! The gradient drift of [`crate::quantum::nn::Potential`] on a block of walkers: forward, reverse, and
//! the exact Laplacian. With layers k = 0…L−1, h_{−1} = x, s_k = 1 − h_k²:
//!
//! ```text
//! h_k = tanh(h_{k−1} W_k + b_k),   S = h_{L−1}·w_o + ½ c |x|²,   c = −ρ²  (ρ̄ = −2ρ c̄)
//! a_{L−1} = w_o ⊙ s_{L−1},   p_k = a_k W_kᵀ,   a_{k−1} = p_k ⊙ s_{k−1},   v = ∇S = a_0 W_0ᵀ + c x
//! ```
//!
//! Reverse (given v̄; the reverse pass of the forward and gradient passes together, i.e.
//! θ̄ = ∂_θ(v̄·∇S) and x̄ = ∇²S v̄):
//!
//! ```text
//! ā_0 = v̄ W_0,                      W̄_0 += v̄ᵀ a_0,                      c̄ = v̄·x,  x̄ += c v̄
//! p̄_k = ā_{k−1} ⊙ s_{k−1},          h̄_{k−1} += −2 ā_{k−1} ⊙ p_k ⊙ h_{k−1}
//! ā_k = p̄_k W_k,                    W̄_k += p̄_kᵀ a_k                      (k = 1…L−1)
//! w̄_o += Σ ā_{L−1} ⊙ s_{L−1},       h̄_{L−1} += −2 ā_{L−1} ⊙ w_o ⊙ h_{L−1}
//! z̄_k = h̄_k ⊙ s_k,  W̄_k += h_{k−1}ᵀ z̄_k,  b̄_k += z̄_k,  h̄_{k−1} += z̄_k W_kᵀ   (k = L−1…0)
//! ```
//!
//! Laplacian ΔS = tr ∂v/∂x by forward mode over both passes, the n = N·d tangents e_j as rows:
//!
//! ```text
//! ḣ_k = (ḣ_{k−1} W_k) ⊙ s_k,   ȧ_{L−1} = −2 w_o ⊙ h_{L−1} ⊙ ḣ_{L−1}
//! ȧ_{k−1} = (ȧ_k W_kᵀ) ⊙ s_{k−1} − 2 p_k ⊙ h_{k−1} ⊙ ḣ_{k−1},   ΔS = Σ_j (ȧ_0 W_0ᵀ)_jj + n c
//! ```

use crate::simd::dense::{Dense, DenseGrad};
use crate::simd::real::Real;
use crate::quantum::nn::Potential;
use burn::module::ParamId;

#[derive(Debug, Clone)]
pub(crate) struct PotentialParams<F = f64> {
    pub hidden: Vec<Dense<F>>,
    /// w_o as a [width, 1] layer without bias.
    pub output: Dense<F>,
    /// c = −ρ².
    pub skip: F,
    /// ρ, the parameter.
    pub skip_root: f64,
    /// `None` for a network without the quadratic term (c = 0).
    pub skip_id: Option<ParamId>,
}

#[derive(Debug, Clone)]
pub(crate) struct PotentialGrad<F = f64> {
    pub hidden: Vec<DenseGrad<F>>,
    pub output: DenseGrad<F>,
    /// c̄ (the gradient of the parameter ρ is −2ρ c̄).
    pub skip: F,
}

/// Activations h_k, adjoints a_k and products p_k (k ≥ 1) of one forward evaluation.
#[derive(Debug, Clone)]
pub(crate) struct PotentialCache<F = f64> {
    h: Vec<Vec<F>>,
    a: Vec<Vec<F>>,
    p: Vec<Vec<F>>,
}

impl<F> PotentialCache<F> {
    /// Values held.
    pub fn len(&self) -> usize {
        [&self.h, &self.a, &self.p].iter().flat_map(|v| v.iter()).map(Vec::len).sum()
    }
}

/// Scratch of the reverse pass: h̄_k, ā_k and one p̄.
#[derive(Debug, Clone)]
pub(crate) struct PotentialScratch<F = f64> {
    h_bar: Vec<Vec<F>>,
    a_bar: Vec<Vec<F>>,
    p_bar: Vec<F>,
}

impl PotentialParams<f64> {
    pub fn from_module(m: &Potential) -> Self {
        let root = m.skip.as_ref().map_or(0.0, |s| crate::simd::dense::values(s)[0]);
        PotentialParams {
            hidden: m.hidden.iter().map(Dense::from_linear).collect(),
            output: Dense::from_linear(&m.output),
            skip: -root * root,
            skip_root: root,
            skip_id: m.skip.as_ref().map(|s| s.id),
        }
    }

    /// (S, v = ∇S, ΔS) of `rows` consecutive walkers (x: rows × n, f64); ΔS only if `laplacian`
    /// (0 otherwise). The tangents of all rows · n directions go through the layers together.
    pub fn terms(&self, x: &[f64], rows: usize, laplacian: bool) -> Vec<(f64, Vec<f64>, f64)> {
        let n = self.hidden[0].d_in;
        let last = self.hidden.len() - 1;
        let mut cache = self.cache(rows);
        let mut v = vec![0.0; rows * n];
        self.forward(x, &mut v, &mut cache, rows);
        let w_o = &self.output.w;
        let width = |k: usize| self.hidden[k].d_out;
        let value = |r: usize| {
            let h = &cache.h[last][r * width(last)..(r + 1) * width(last)];
            let xr = &x[r * n..(r + 1) * n];
            h.iter().zip(w_o).map(|(h, w)| h * w).sum::<f64>() + 0.5 * self.skip * xr.iter().map(|c| c * c).sum::<f64>()
        };
        let mut out: Vec<(f64, Vec<f64>, f64)> = (0..rows).map(|r| (value(r), v[r * n..(r + 1) * n].to_vec(), 0.0)).collect();
        if !laplacian {
            return out;
        }
        // Forward tangents ḣ_k, row (r, j) = ∂h_k/∂x_j of walker r.
        let slope = |k: usize, r: usize, m: usize| {
            let h = cache.h[k][r * width(k) + m];
            1.0 - h * h
        };
        let mut h_dot: Vec<Vec<f64>> = Vec::with_capacity(last + 1);
        for k in 0..=last {
            let wk = width(k);
            let mut t = vec![0.0; rows * n * wk];
            if k == 0 {
                for (i, row) in t.chunks_exact_mut(wk).enumerate() {
                    row.copy_from_slice(&self.hidden[0].w[(i % n) * wk..(i % n + 1) * wk]);
                }
            } else {
                self.hidden[k].accumulate(&h_dot[k - 1], &mut t, rows * n);
            }
            for (i, row) in t.chunks_exact_mut(wk).enumerate() {
                for (m, t) in row.iter_mut().enumerate() {
                    *t *= slope(k, i / n, m);
                }
            }
            h_dot.push(t);
        }
        // Tangents of the gradient chain, ȧ_k.
        let wl = width(last);
        let mut a_dot = vec![0.0; rows * n * wl];
        for (i, row) in a_dot.chunks_exact_mut(wl).enumerate() {
            let r = i / n;
            for m in 0..wl {
                row[m] = -2.0 * w_o[m] * cache.h[last][r * wl + m] * h_dot[last][i * wl + m];
            }
        }
        for k in (1..=last).rev() {
            let d = self.hidden[k].d_in;
            let mut next = vec![0.0; rows * n * d];
            self.hidden[k].backward_input(&a_dot, &mut next, rows * n);
            for (i, row) in next.chunks_exact_mut(d).enumerate() {
                let r = i / n;
                for m in 0..d {
                    let h = cache.h[k - 1][r * d + m];
                    row[m] = row[m] * (1.0 - h * h) - 2.0 * cache.p[k][r * d + m] * h * h_dot[k - 1][i * d + m];
                }
            }
            a_dot = next;
        }
        // ΔS = Σ_j ∂v_j/∂x_j = Σ_j ȧ_0[(r, j)]·W_0[j, :] + n c.
        let w0 = width(0);
        for (i, row) in a_dot.chunks_exact(w0).enumerate() {
            let j = i % n;
            out[i / n].2 += row.iter().zip(&self.hidden[0].w[j * w0..(j + 1) * w0]).map(|(a, w)| a * w).sum::<f64>();
        }
        for t in &mut out {
            t.2 += n as f64 * self.skip;
        }
        out
    }
}

impl<F: Real> PotentialParams<F> {
    /// The parameters cast to `G`.
    pub fn cast<G: Real>(&self) -> PotentialParams<G> {
        PotentialParams { hidden: self.hidden.iter().map(Dense::cast).collect(), output: self.output.cast(), skip: G::of(self.skip.f64()), skip_root: self.skip_root, skip_id: self.skip_id }
    }

    pub fn grad_zeros<G: Real>(&self) -> PotentialGrad<G> {
        PotentialGrad { hidden: self.hidden.iter().map(Dense::grad_zeros).collect(), output: self.output.grad_zeros(), skip: G::ZERO }
    }

    pub fn cache(&self, rows: usize) -> PotentialCache<F> {
        PotentialCache {
            h: self.hidden.iter().map(|l| vec![F::ZERO; rows * l.d_out]).collect(),
            a: self.hidden.iter().map(|l| vec![F::ZERO; rows * l.d_out]).collect(),
            p: self.hidden.iter().map(|l| vec![F::ZERO; rows * l.d_in]).collect(),
        }
    }

    pub fn scratch(&self, rows: usize) -> PotentialScratch<F> {
        let width = self.hidden.iter().map(|l| l.d_in.max(l.d_out)).max().unwrap_or(0);
        PotentialScratch {
            h_bar: self.hidden.iter().map(|l| vec![F::ZERO; rows * l.d_out]).collect(),
            a_bar: self.hidden.iter().map(|l| vec![F::ZERO; rows * l.d_out]).collect(),
            p_bar: vec![F::ZERO; rows * width],
        }
    }

    /// The network part h_{L−1}·w_o of S at each of `rows` rows, after `forward` filled `cache`
    /// (without the ½c|x|² term).
    pub fn network_values(&self, cache: &PotentialCache<F>, rows: usize) -> Vec<F> {
        let last = self.hidden.len() - 1;
        let width = self.hidden[last].d_out;
        cache.h[last][..rows * width].chunks_exact(width).map(|h| h.iter().zip(&self.output.w).map(|(h, w)| *h * *w).sum()).collect()
    }

    /// v = ∇S(x) for `rows` walkers.
    #[inline(always)]
    pub fn forward(&self, x: &[F], v: &mut [F], cache: &mut PotentialCache<F>, rows: usize) {
        let last = self.hidden.len() - 1;
        for k in 0..=last {
            let (before, after) = cache.h.split_at_mut(k);
            let input: &[F] = if k == 0 { x } else { &before[k - 1] };
            self.hidden[k].forward_tanh(input, &mut after[0], rows);
        }
        let width = self.hidden[last].d_out;
        let w_o = &self.output.w;
        for (a, h) in cache.a[last][..rows * width].chunks_exact_mut(width).zip(cache.h[last].chunks_exact(width)) {
            for ((a, &h), &w) in a.iter_mut().zip(h).zip(w_o) {
                *a = w * (F::ONE - h * h);
            }
        }
        for k in (1..=last).rev() {
            let d = self.hidden[k].d_in;
            let p = &mut cache.p[k][..rows * d];
            p.fill(F::ZERO);
            self.hidden[k].backward_input(&cache.a[k], p, rows);
            let (before, after) = cache.a.split_at_mut(k);
            let _ = after;
            for ((a, p), h) in before[k - 1][..rows * d].iter_mut().zip(p.iter()).zip(&cache.h[k - 1]) {
                *a = *p * (F::ONE - *h * *h);
            }
        }
        let n = self.hidden[0].d_in;
        v[..rows * n].fill(F::ZERO);
        self.hidden[0].backward_input(&cache.a[0], v, rows);
        for (v, x) in v[..rows * n].iter_mut().zip(x) {
            *v += self.skip * *x;
        }
    }

    /// x̄ += ∇²S v̄ and θ̄ += ∂_θ(v̄·∇S), after `forward` filled `cache` at `x`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn backward(&self, x: &[F], cache: &PotentialCache<F>, scratch: &mut PotentialScratch<F>, v_bar: &[F], x_bar: &mut [F], grad: &mut PotentialGrad<F>, rows: usize) {
        let last = self.hidden.len() - 1;
        let n = self.hidden[0].d_in;
        for (vb, xv) in v_bar[..rows * n].iter().zip(x) {
            grad.skip += *vb * *xv;
        }
        for (xb, vb) in x_bar[..rows * n].iter_mut().zip(v_bar) {
            *xb += self.skip * *vb;
        }
        for b in scratch.h_bar.iter_mut().chain(scratch.a_bar.iter_mut()) {
            b.fill(F::ZERO);
        }
        // The gradient chain, from v back to a_{L−1}.
        self.hidden[0].accumulate(v_bar, &mut scratch.a_bar[0], rows);
        self.hidden[0].backward_weight(v_bar, &cache.a[0], &mut grad.hidden[0], rows);
        for k in 1..=last {
            let d = self.hidden[k].d_in;
            let p_bar = &mut scratch.p_bar[..rows * d];
            let (before, after) = scratch.a_bar.split_at_mut(k);
            let a_bar = &before[k - 1][..rows * d];
            let h = &cache.h[k - 1][..rows * d];
            let h_bar = &mut scratch.h_bar[k - 1][..rows * d];
            let minus_two = F::of(-2.0);
            for ((((pb, &ab), &h), hb), &p) in p_bar.iter_mut().zip(a_bar).zip(h).zip(h_bar.iter_mut()).zip(&cache.p[k][..rows * d]) {
                *pb = ab * (F::ONE - h * h);
                *hb += minus_two * ab * p * h;
            }
            self.hidden[k].accumulate(p_bar, &mut after[0], rows);
            self.hidden[k].backward_weight(p_bar, &cache.a[k], &mut grad.hidden[k], rows);
        }
        let width = self.hidden[last].d_out;
        let w_o = &self.output.w;
        // Row by row, so that the loop over the width is a plain (vectorisable) zip.
        let minus_two = F::of(-2.0);
        let a_rows = scratch.a_bar[last][..rows * width].chunks_exact(width);
        let h_rows = cache.h[last][..rows * width].chunks_exact(width);
        let gw = &mut grad.output.w[..width];
        for ((a_row, h_row), hb_row) in a_rows.zip(h_rows).zip(scratch.h_bar[last][..rows * width].chunks_exact_mut(width)) {
            for ((((g, &ab), &h), hb), &w) in gw.iter_mut().zip(a_row).zip(h_row).zip(hb_row.iter_mut()).zip(w_o) {
                *g += ab * (F::ONE - h * h);
                *hb += minus_two * ab * w * h;
            }
        }
        // The forward layers, from h_{L−1} back to x.
        for k in (0..=last).rev() {
            let layer = &self.hidden[k];
            let (before, after) = scratch.h_bar.split_at_mut(k);
            let z_bar = &mut after[0][..rows * layer.d_out];
            for (zb, h) in z_bar.iter_mut().zip(&cache.h[k]) {
                *zb *= F::ONE - *h * *h;
            }
            let input: &[F] = if k == 0 { x } else { &cache.h[k - 1] };
            layer.backward_params(input, z_bar, &mut grad.hidden[k], rows);
            if k == 0 {
                layer.backward_input(z_bar, x_bar, rows);
            } else {
                layer.backward_input(z_bar, &mut before[k - 1], rows);
            }
        }
    }
}

impl<F: Real> PotentialGrad<F> {
    pub fn zero(&mut self) {
        self.hidden.iter_mut().for_each(DenseGrad::zero);
        self.output.zero();
        self.skip = F::ZERO;
    }

    /// self += other (converting).
    pub fn add<G: Real>(&mut self, other: &PotentialGrad<G>) {
        for (a, b) in self.hidden.iter_mut().zip(&other.hidden) {
            a.add(b);
        }
        self.output.add(&other.output);
        self.skip += F::of(other.skip.f64());
    }
}
