//! The permutation-equivariant pair drift of [`crate::quantum::nn::PairNet`] on a block of walkers,
//! forward and reverse (see that module for the equations):
//!
//! ```text
//! h_i = tanh(r_i W_1 + b_1),   g_ij = tanh([r_i − r_j, √(|r_i − r_j|² + ε²)] W_2 + b_2)
//! u_i = tanh([h_i, Σ_{j≠i} g_ij] W_3 + b_3)
//! v_i = u_i W_4 + b_4 + Σ_{j≠i} (g_ij·w_5 + c_5)(r_i − r_j) + c_skip r_i
//! ```
//!
//! Rows are (walker, particle) for one-body quantities and (walker, i, j ≠ i) for pairs.

use crate::simd::dense::{Dense, DenseGrad, axpy, copy};
use crate::simd::real::Real;
use crate::simd::activation::tanh_backward;
use crate::quantum::nn::PairNet;
use burn::module::ParamId;

/// Same smoothing of |r_ij| as the burn network.
const EPS_SQ: f64 = 1e-8;

#[derive(Debug, Clone)]
pub(crate) struct PairParams<F = f64> {
    pub particles: usize,
    pub dims: usize,
    pub one_body: Dense<F>,
    pub two_body: Dense<F>,
    pub mix: Dense<F>,
    pub output: Dense<F>,
    pub pair_weight: Dense<F>,
    pub skip: F,
    pub skip_id: ParamId,
}

#[derive(Debug, Clone)]
pub(crate) struct PairGrad<F = f64> {
    pub one_body: DenseGrad<F>,
    pub two_body: DenseGrad<F>,
    pub mix: DenseGrad<F>,
    pub output: DenseGrad<F>,
    pub pair_weight: DenseGrad<F>,
    pub skip: F,
}

/// Activations of one forward evaluation.
#[derive(Debug, Clone)]
pub(crate) struct PairCache<F = f64> {
    pub(super) h: Vec<F>,
    /// Pair inputs [r_i − r_j, r_ij].
    pub(super) e: Vec<F>,
    pub(super) g: Vec<F>,
    /// [h_i, s_i].
    hs: Vec<F>,
    pub(super) u: Vec<F>,
    pub(super) radial: Vec<F>,
}

impl<F> PairCache<F> {
    /// Values held.
    pub fn len(&self) -> usize {
        [&self.h, &self.e, &self.g, &self.hs, &self.u, &self.radial].iter().map(|v| v.len()).sum()
    }
}

/// Scratch of the reverse pass.
#[derive(Debug, Clone)]
pub(crate) struct PairScratch<F = f64> {
    u_bar: Vec<F>,
    hs_bar: Vec<F>,
    g_bar: Vec<F>,
    e_bar: Vec<F>,
    radial_bar: Vec<F>,
    h_bar: Vec<F>,
}

impl PairParams<f64> {
    pub fn from_module(p: &PairNet, particles: usize) -> Self {
        let one_body = Dense::from_linear(&p.one_body);
        PairParams {
            particles,
            dims: one_body.d_in,
            one_body,
            two_body: Dense::from_linear(&p.two_body),
            mix: Dense::from_linear(&p.mix),
            output: Dense::from_linear(&p.output),
            pair_weight: Dense::from_linear(&p.pair_weight),
            skip: crate::simd::dense::values(&p.skip)[0],
            skip_id: p.skip.id,
        }
    }

}

impl<F: Real> PairParams<F> {
    /// The parameters cast to `G`.
    pub fn cast<G: Real>(&self) -> PairParams<G> {
        PairParams {
            particles: self.particles,
            dims: self.dims,
            one_body: self.one_body.cast(),
            two_body: self.two_body.cast(),
            mix: self.mix.cast(),
            output: self.output.cast(),
            pair_weight: self.pair_weight.cast(),
            skip: G::of(self.skip.f64()),
            skip_id: self.skip_id,
        }
    }

    pub fn grad_zeros<G: Real>(&self) -> PairGrad<G> {
        PairGrad {
            one_body: self.one_body.grad_zeros(),
            two_body: self.two_body.grad_zeros(),
            mix: self.mix.grad_zeros(),
            output: self.output.grad_zeros(),
            pair_weight: self.pair_weight.grad_zeros(),
            skip: G::ZERO,
        }
    }

    fn pairs(&self) -> usize {
        self.particles * (self.particles - 1)
    }

    pub fn cache(&self, walkers: usize) -> PairCache<F> {
        let (n, d, h) = (walkers * self.particles, self.dims, self.one_body.d_out);
        let p = walkers * self.pairs();
        PairCache {
            h: vec![F::ZERO; n * h],
            e: vec![F::ZERO; p * (d + 1)],
            g: vec![F::ZERO; p * h],
            hs: vec![F::ZERO; n * 2 * h],
            u: vec![F::ZERO; n * h],
            radial: vec![F::ZERO; p],
        }
    }

    pub fn scratch(&self, walkers: usize) -> PairScratch<F> {
        let (n, d, h) = (walkers * self.particles, self.dims, self.one_body.d_out);
        let p = walkers * self.pairs();
        PairScratch {
            u_bar: vec![F::ZERO; n * h],
            hs_bar: vec![F::ZERO; n * 2 * h],
            g_bar: vec![F::ZERO; p * h],
            e_bar: vec![F::ZERO; p * (d + 1)],
            radial_bar: vec![F::ZERO; p],
            h_bar: vec![F::ZERO; n * h],
        }
    }

    /// v = f(x) for `walkers` walkers (x, v: walkers × particles × dims).
    #[inline(always)]
    pub fn forward(&self, x: &[F], v: &mut [F], c: &mut PairCache<F>, walkers: usize) {
        let (np, d, hid) = (self.particles, self.dims, self.one_body.d_out);
        let rows = walkers * np;
        let pairs = walkers * self.pairs();
        self.one_body.forward_tanh(x, &mut c.h, rows);
        let mut p = 0;
        for w in 0..walkers {
            for i in 0..np {
                for j in (0..np).filter(|&j| j != i) {
                    let e = &mut c.e[p * (d + 1)..(p + 1) * (d + 1)];
                    let mut r2 = F::ZERO;
                    for k in 0..d {
                        let diff = x[(w * np + i) * d + k] - x[(w * np + j) * d + k];
                        e[k] = diff;
                        r2 += diff * diff;
                    }
                    e[d] = (r2 + F::of(EPS_SQ)).sqrt();
                    p += 1;
                }
            }
        }
        if pairs > 0 {
            self.two_body.forward_tanh(&c.e, &mut c.g, pairs);
            self.pair_weight.forward(&c.g, &mut c.radial, pairs);
        }
        for row in 0..rows {
            let hs = &mut c.hs[row * 2 * hid..(row + 1) * 2 * hid];
            copy(&mut hs[..hid], &c.h[row * hid..(row + 1) * hid]);
            hs[hid..].fill(F::ZERO);
            for q in 0..np - 1 {
                let p = row * (np - 1) + q;
                axpy(&mut hs[hid..], F::ONE, &c.g[p * hid..(p + 1) * hid]);
            }
        }
        self.mix.forward_tanh(&c.hs, &mut c.u, rows);
        self.output.forward(&c.u, v, rows);
        for row in 0..rows {
            let vi = &mut v[row * d..(row + 1) * d];
            axpy(vi, self.skip, &x[row * d..(row + 1) * d]);
            for q in 0..np - 1 {
                let p = row * (np - 1) + q;
                axpy(vi, c.radial[p], &c.e[p * (d + 1)..p * (d + 1) + d]);
            }
        }
    }

    /// x̄ += Jᵀ v̄ and parameter gradients, after `forward` filled `c` at `x`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn backward(&self, x: &[F], c: &PairCache<F>, t: &mut PairScratch<F>, v_bar: &[F], x_bar: &mut [F], grad: &mut PairGrad<F>, walkers: usize) {
        let (np, d, hid) = (self.particles, self.dims, self.one_body.d_out);
        let rows = walkers * np;
        let pairs = walkers * self.pairs();
        for k in 0..rows * d {
            grad.skip += v_bar[k] * x[k];
            x_bar[k] += self.skip * v_bar[k];
        }
        self.output.backward_params(&c.u, v_bar, &mut grad.output, rows);
        t.u_bar[..rows * hid].fill(F::ZERO);
        self.output.backward_input(v_bar, &mut t.u_bar, rows);
        tanh_backward(&c.u[..rows * hid], &mut t.u_bar[..rows * hid]);
        self.mix.backward_params(&c.hs, &t.u_bar, &mut grad.mix, rows);
        t.hs_bar[..rows * 2 * hid].fill(F::ZERO);
        self.mix.backward_input(&t.u_bar, &mut t.hs_bar, rows);
        for row in 0..rows {
            copy(&mut t.h_bar[row * hid..(row + 1) * hid], &t.hs_bar[row * 2 * hid..row * 2 * hid + hid]);
        }
        if pairs > 0 {
            // ḡ_ij = s̄_i + radial̄_ij w_5, radial̄_ij = v̄_i·(r_i − r_j).
            for row in 0..rows {
                let vb = &v_bar[row * d..(row + 1) * d];
                for q in 0..np - 1 {
                    let p = row * (np - 1) + q;
                    let e = &c.e[p * (d + 1)..p * (d + 1) + d];
                    t.radial_bar[p] = (0..d).map(|k| vb[k] * e[k]).sum();
                    copy(&mut t.g_bar[p * hid..(p + 1) * hid], &t.hs_bar[row * 2 * hid + hid..(row + 1) * 2 * hid]);
                }
            }
            self.pair_weight.backward_params(&c.g, &t.radial_bar, &mut grad.pair_weight, pairs);
            self.pair_weight.backward_input(&t.radial_bar, &mut t.g_bar, pairs);
            tanh_backward(&c.g[..pairs * hid], &mut t.g_bar[..pairs * hid]);
            self.two_body.backward_params(&c.e, &t.g_bar, &mut grad.two_body, pairs);
            t.e_bar[..pairs * (d + 1)].fill(F::ZERO);
            self.two_body.backward_input(&t.g_bar, &mut t.e_bar, pairs);
            let mut p = 0;
            for w in 0..walkers {
                for i in 0..np {
                    let row = w * np + i;
                    for j in (0..np).filter(|&j| j != i) {
                        let e = &c.e[p * (d + 1)..(p + 1) * (d + 1)];
                        let eb = &t.e_bar[p * (d + 1)..(p + 1) * (d + 1)];
                        let radius = eb[d] / e[d];
                        for k in 0..d {
                            let diff_bar = c.radial[p] * v_bar[row * d + k] + eb[k] + radius * e[k];
                            x_bar[row * d + k] += diff_bar;
                            x_bar[(w * np + j) * d + k] -= diff_bar;
                        }
                        p += 1;
                    }
                }
            }
        }
        tanh_backward(&c.h[..rows * hid], &mut t.h_bar[..rows * hid]);
        self.one_body.backward_params(x, &t.h_bar, &mut grad.one_body, rows);
        self.one_body.backward_input(&t.h_bar, x_bar, rows);
    }
}

impl<F: Real> PairGrad<F> {
    pub fn zero(&mut self) {
        self.one_body.zero();
        self.two_body.zero();
        self.mix.zero();
        self.output.zero();
        self.pair_weight.zero();
        self.skip = F::ZERO;
    }

    /// self += other (converting).
    pub fn add<G: Real>(&mut self, other: &PairGrad<G>) {
        self.one_body.add(&other.one_body);
        self.two_body.add(&other.two_body);
        self.mix.add(&other.mix);
        self.output.add(&other.output);
        self.pair_weight.add(&other.pair_weight);
        self.skip += F::of(other.skip.f64());
    }
}
