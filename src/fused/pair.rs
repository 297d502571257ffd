//! The permutation-equivariant pair drift of [`crate::nn::PairNet`] on a block of walkers,
//! forward and reverse (see that module for the equations):
//!
//! ```text
//! h_i = tanh(r_i W_1 + b_1),   g_ij = tanh([r_i − r_j, √(|r_i − r_j|² + ε²)] W_2 + b_2)
//! u_i = tanh([h_i, Σ_{j≠i} g_ij] W_3 + b_3)
//! v_i = u_i W_4 + b_4 + Σ_{j≠i} (g_ij·w_5 + c_5)(r_i − r_j) + c_skip r_i
//! ```
//!
//! Rows are (walker, particle) for one-body quantities and (walker, i, j ≠ i) for pairs.

use super::params::{Dense, DenseGrad, axpy, tanh_backward};
use crate::nn::PairNet;
use burn::module::ParamId;

/// Same smoothing of |r_ij| as the burn network.
const EPS_SQ: f64 = 1e-8;

#[derive(Debug, Clone)]
pub(crate) struct PairParams {
    pub particles: usize,
    pub dims: usize,
    pub one_body: Dense,
    pub two_body: Dense,
    pub mix: Dense,
    pub output: Dense,
    pub pair_weight: Dense,
    pub skip: f64,
    pub skip_id: ParamId,
}

#[derive(Debug, Clone)]
pub(crate) struct PairGrad {
    pub one_body: DenseGrad,
    pub two_body: DenseGrad,
    pub mix: DenseGrad,
    pub output: DenseGrad,
    pub pair_weight: DenseGrad,
    pub skip: f64,
}

/// Activations of one forward evaluation.
#[derive(Debug, Clone)]
pub(crate) struct PairCache {
    h: Vec<f64>,
    /// Pair inputs [r_i − r_j, r_ij].
    e: Vec<f64>,
    g: Vec<f64>,
    /// [h_i, s_i].
    hs: Vec<f64>,
    u: Vec<f64>,
    radial: Vec<f64>,
}

/// Scratch of the reverse pass.
#[derive(Debug, Clone)]
pub(crate) struct PairScratch {
    u_bar: Vec<f64>,
    hs_bar: Vec<f64>,
    g_bar: Vec<f64>,
    e_bar: Vec<f64>,
    radial_bar: Vec<f64>,
    h_bar: Vec<f64>,
}

impl PairParams {
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
            skip: super::params::values(&p.skip)[0],
            skip_id: p.skip.id,
        }
    }

    pub fn grad_zeros(&self) -> PairGrad {
        PairGrad {
            one_body: self.one_body.grad_zeros(),
            two_body: self.two_body.grad_zeros(),
            mix: self.mix.grad_zeros(),
            output: self.output.grad_zeros(),
            pair_weight: self.pair_weight.grad_zeros(),
            skip: 0.0,
        }
    }

    fn pairs(&self) -> usize {
        self.particles * (self.particles - 1)
    }

    pub fn cache(&self, walkers: usize) -> PairCache {
        let (n, d, h) = (walkers * self.particles, self.dims, self.one_body.d_out);
        let p = walkers * self.pairs();
        PairCache {
            h: vec![0.0; n * h],
            e: vec![0.0; p * (d + 1)],
            g: vec![0.0; p * h],
            hs: vec![0.0; n * 2 * h],
            u: vec![0.0; n * h],
            radial: vec![0.0; p],
        }
    }

    pub fn scratch(&self, walkers: usize) -> PairScratch {
        let (n, d, h) = (walkers * self.particles, self.dims, self.one_body.d_out);
        let p = walkers * self.pairs();
        PairScratch {
            u_bar: vec![0.0; n * h],
            hs_bar: vec![0.0; n * 2 * h],
            g_bar: vec![0.0; p * h],
            e_bar: vec![0.0; p * (d + 1)],
            radial_bar: vec![0.0; p],
            h_bar: vec![0.0; n * h],
        }
    }

    /// v = f(x) for `walkers` walkers (x, v: walkers × particles × dims).
    #[inline(always)]
    pub fn forward(&self, x: &[f64], v: &mut [f64], c: &mut PairCache, walkers: usize) {
        let (np, d, hid) = (self.particles, self.dims, self.one_body.d_out);
        let rows = walkers * np;
        let pairs = walkers * self.pairs();
        self.one_body.forward_tanh(x, &mut c.h, rows);
        let mut p = 0;
        for w in 0..walkers {
            for i in 0..np {
                for j in (0..np).filter(|&j| j != i) {
                    let e = &mut c.e[p * (d + 1)..(p + 1) * (d + 1)];
                    let mut r2 = 0.0;
                    for k in 0..d {
                        let diff = x[(w * np + i) * d + k] - x[(w * np + j) * d + k];
                        e[k] = diff;
                        r2 += diff * diff;
                    }
                    e[d] = (r2 + EPS_SQ).sqrt();
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
            hs[..hid].copy_from_slice(&c.h[row * hid..(row + 1) * hid]);
            hs[hid..].fill(0.0);
            for q in 0..np - 1 {
                let p = row * (np - 1) + q;
                axpy(&mut hs[hid..], 1.0, &c.g[p * hid..(p + 1) * hid]);
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
    pub fn backward(&self, x: &[f64], c: &PairCache, t: &mut PairScratch, v_bar: &[f64], x_bar: &mut [f64], grad: &mut PairGrad, walkers: usize) {
        let (np, d, hid) = (self.particles, self.dims, self.one_body.d_out);
        let rows = walkers * np;
        let pairs = walkers * self.pairs();
        for k in 0..rows * d {
            grad.skip += v_bar[k] * x[k];
            x_bar[k] += self.skip * v_bar[k];
        }
        self.output.backward_params(&c.u, v_bar, &mut grad.output, rows);
        t.u_bar[..rows * hid].fill(0.0);
        self.output.backward_input(v_bar, &mut t.u_bar, rows);
        tanh_backward(&c.u[..rows * hid], &mut t.u_bar[..rows * hid]);
        self.mix.backward_params(&c.hs, &t.u_bar, &mut grad.mix, rows);
        t.hs_bar[..rows * 2 * hid].fill(0.0);
        self.mix.backward_input(&t.u_bar, &mut t.hs_bar, rows);
        for row in 0..rows {
            t.h_bar[row * hid..(row + 1) * hid].copy_from_slice(&t.hs_bar[row * 2 * hid..row * 2 * hid + hid]);
        }
        if pairs > 0 {
            // ḡ_ij = s̄_i + radial̄_ij w_5, radial̄_ij = v̄_i·(r_i − r_j).
            for row in 0..rows {
                let vb = &v_bar[row * d..(row + 1) * d];
                for q in 0..np - 1 {
                    let p = row * (np - 1) + q;
                    let e = &c.e[p * (d + 1)..p * (d + 1) + d];
                    t.radial_bar[p] = (0..d).map(|k| vb[k] * e[k]).sum();
                    t.g_bar[p * hid..(p + 1) * hid].copy_from_slice(&t.hs_bar[row * 2 * hid + hid..(row + 1) * 2 * hid]);
                }
            }
            self.pair_weight.backward_params(&c.g, &t.radial_bar, &mut grad.pair_weight, pairs);
            self.pair_weight.backward_input(&t.radial_bar, &mut t.g_bar, pairs);
            tanh_backward(&c.g[..pairs * hid], &mut t.g_bar[..pairs * hid]);
            self.two_body.backward_params(&c.e, &t.g_bar, &mut grad.two_body, pairs);
            t.e_bar[..pairs * (d + 1)].fill(0.0);
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

impl PairGrad {
    pub fn add(&mut self, other: &PairGrad) {
        self.one_body.add(&other.one_body);
        self.two_body.add(&other.two_body);
        self.mix.add(&other.mix);
        self.output.add(&other.output);
        self.pair_weight.add(&other.pair_weight);
        self.skip += other.skip;
    }
}
