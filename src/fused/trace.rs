//! The local energy of a drift, E_L = V − ½∇·v − ½|v|², with the divergence (the trace of the
//! drift's Jacobian) computed exactly by a forward-mode pass through the network, one tangent
//! per coordinate, plus the analytic divergence of the cusp prior.
//!
//! For v = ∇log ψ, E_L = (Hψ)/ψ with H = −½∇² + V (REFERENCE.md, "Feynman–Kac variational
//! principle"): ∇²ψ/ψ = ∇·v + |v|². Burn has first-order reverse mode only, so the trace is
//! written here by hand (finite differences are the test oracle).
//!
//! MLP (h_0 = x, h_l = tanh(h_{l−1} W_l + b_l), v = h_L W_o + b_o + x S), tangent ḣ_0 = e_k:
//!
//! ```text
//! ḣ_l = (ḣ_{l−1} W_l) ⊙ (1 − h_l²),   ∂v_k/∂x_k = (ḣ_L W_o)_k + S_kk
//! ```
//!
//! Pair network (see [`super::pair`]): only v_a depends on the diagonal direction e_{a,k}
//! through h_a, g_aj (j ≠ a), s_a and u_a, with d_aj = r_a − r_j, ρ_aj = √(|d_aj|² + ε²):
//!
//! ```text
//! ḣ_a  = (1 − h_a²) ⊙ W_1[k, :]
//! ġ_aj = (1 − g_aj²) ⊙ (W_2[k, :] + (d_aj,k / ρ_aj) W_2[d, :])
//! u̇_a  = (1 − u_a²) ⊙ ([ḣ_a, Σ_j ġ_aj] W_3)
//! ∂v_a,k/∂r_a,k = (u̇_a W_4)_k + Σ_j [(ġ_aj·w_5) d_aj,k + (g_aj·w_5 + c_5)] + c_skip
//! ```
//!
//! Cusp prior (Kato; REFERENCE.md "Cusp conditions"): ∇_i·(c d/|d|) = c (D − 1)/|d| in D = 3
//! dimensions, so the nucleus term −Z r̂_iA adds −2Z/r_iA and each electron-pair term ½ r̂_ij
//! adds 1/r_ij; in E_L these cancel the Coulomb singularities of V.

use super::mlp::MlpParams;
use super::pair::PairParams;
use super::params::Dense;
use super::{FlatDrift, FlatNet};

/// Same smoothing of |r_ij| as the pair network.
const EPS_SQ: f64 = 1e-8;

/// Drift, divergence and local energy at one configuration (the walker loop reads only E_L;
/// the tests read all of them).
#[derive(Debug, Clone, Default)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct LocalTerms {
    pub v: Vec<f64>,
    pub divergence: f64,
    pub local_energy: f64,
}

impl FlatDrift {
    /// v(x), ∇·v(x), V(x) and E_L(x) for one walker (x: particles · dims).
    #[inline(always)]
    pub(crate) fn local_terms(&self, x: &[f64]) -> LocalTerms {
        let mut v = vec![0.0; x.len()];
        let mut divergence = match &self.net {
            FlatNet::Mlp(m) => mlp_divergence(m, x, &mut v),
            FlatNet::Pair(p) => pair_divergence(p, x, &mut v),
        };
        if self.system.has_prior() {
            self.system.add_prior(x, &mut v);
            divergence += self.system.prior_divergence(x);
        }
        let potential = self.system.potential(x, None);
        let kinetic = 0.5 * v.iter().map(|a| a * a).sum::<f64>();
        LocalTerms { local_energy: potential - 0.5 * divergence - kinetic, v, divergence }
    }
}

/// y = x W (+ b) for one row, y overwritten.
#[inline(always)]
fn row_product(layer: &Dense, x: &[f64], y: &mut [f64], bias: bool) {
    if bias {
        y.copy_from_slice(&layer.b);
    } else {
        y.fill(0.0);
    }
    for (k, xk) in x.iter().enumerate() {
        if *xk != 0.0 {
            for (yj, wj) in y.iter_mut().zip(&layer.w[k * layer.d_out..(k + 1) * layer.d_out]) {
                *yj += xk * wj;
            }
        }
    }
}

#[inline(always)]
fn tanh_row(layer: &Dense, x: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; layer.d_out];
    row_product(layer, x, &mut y, true);
    y.iter_mut().for_each(|a| *a = a.tanh());
    y
}

/// Writes v(x) of the MLP (without prior) and returns tr ∂v/∂x.
#[inline(always)]
fn mlp_divergence(m: &MlpParams, x: &[f64], v: &mut [f64]) -> f64 {
    let d = x.len();
    // Tangents of all d directions at once: rows k = ∂h/∂x_k.
    let mut tangent: Vec<f64> = (0..d * d).map(|i| if i / d == i % d { 1.0 } else { 0.0 }).collect();
    let mut h = x.to_vec();
    for layer in &m.hidden {
        let next = tanh_row(layer, &h);
        let mut next_tangent = vec![0.0; d * layer.d_out];
        for k in 0..d {
            row_product(layer, &tangent[k * layer.d_in..(k + 1) * layer.d_in], &mut next_tangent[k * layer.d_out..(k + 1) * layer.d_out], false);
            for (t, a) in next_tangent[k * layer.d_out..(k + 1) * layer.d_out].iter_mut().zip(&next) {
                *t *= 1.0 - a * a;
            }
        }
        h = next;
        tangent = next_tangent;
    }
    row_product(&m.output, &h, v, true);
    let mut skip = vec![0.0; d];
    row_product(&m.skip, x, &mut skip, false);
    for (vk, sk) in v.iter_mut().zip(&skip) {
        *vk += sk;
    }
    let width = m.output.d_in;
    let mut out = vec![0.0; d];
    let mut trace = 0.0;
    for k in 0..d {
        row_product(&m.output, &tangent[k * width..(k + 1) * width], &mut out, false);
        trace += out[k] + m.skip.w[k * d + k];
    }
    trace
}

/// Writes v(x) of the pair network (without prior) and returns tr ∂v/∂x.
#[inline(always)]
fn pair_divergence(p: &PairParams, x: &[f64], v: &mut [f64]) -> f64 {
    let (np, d, hid) = (p.particles, p.dims, p.one_body.d_out);
    let h: Vec<Vec<f64>> = (0..np).map(|i| tanh_row(&p.one_body, &x[i * d..(i + 1) * d])).collect();
    let w5 = &p.pair_weight.w;
    let mut trace = 0.0;
    let mut radial_out = [0.0];
    for a in 0..np {
        // Pairs (a, j ≠ a): inputs, activations and radial weights.
        let mut diffs = Vec::with_capacity(np - 1);
        let mut gs = Vec::with_capacity(np - 1);
        let mut s = vec![0.0; hid];
        for j in (0..np).filter(|&j| j != a) {
            let diff: Vec<f64> = (0..d).map(|k| x[a * d + k] - x[j * d + k]).collect();
            let rho = (diff.iter().map(|c| c * c).sum::<f64>() + EPS_SQ).sqrt();
            let mut e = diff.clone();
            e.push(rho);
            let g = tanh_row(&p.two_body, &e);
            s.iter_mut().zip(&g).for_each(|(s, g)| *s += g);
            diffs.push((diff, rho));
            gs.push(g);
        }
        let hs: Vec<f64> = h[a].iter().chain(&s).copied().collect();
        let u = tanh_row(&p.mix, &hs);
        let va = &mut v[a * d..(a + 1) * d];
        row_product(&p.output, &u, va, true);
        for ((diff, _), g) in diffs.iter().zip(&gs) {
            row_product(&p.pair_weight, g, &mut radial_out, true);
            for k in 0..d {
                va[k] += radial_out[0] * diff[k];
            }
            trace += d as f64 * radial_out[0];
        }
        for k in 0..d {
            va[k] += p.skip * x[a * d + k];
        }
        trace += d as f64 * p.skip;
        // Diagonal tangents e_{a,k}.
        let w1 = &p.one_body.w;
        let w2 = &p.two_body.w;
        let mut hs_dot = vec![0.0; 2 * hid];
        let mut u_dot = vec![0.0; hid];
        let mut v_dot = vec![0.0; d];
        for k in 0..d {
            for m in 0..hid {
                hs_dot[m] = (1.0 - h[a][m] * h[a][m]) * w1[k * hid + m];
                hs_dot[hid + m] = 0.0;
            }
            for ((diff, rho), g) in diffs.iter().zip(&gs) {
                let slope = diff[k] / rho;
                let mut g_dot_w5 = 0.0;
                for m in 0..hid {
                    let g_dot = (1.0 - g[m] * g[m]) * (w2[k * hid + m] + slope * w2[d * hid + m]);
                    hs_dot[hid + m] += g_dot;
                    g_dot_w5 += g_dot * w5[m];
                }
                trace += g_dot_w5 * diff[k];
            }
            row_product(&p.mix, &hs_dot, &mut u_dot, false);
            for (ud, um) in u_dot.iter_mut().zip(&u) {
                *ud *= 1.0 - um * um;
            }
            row_product(&p.output, &u_dot, &mut v_dot, false);
            trace += v_dot[k];
        }
    }
    trace
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::NetCache;
    use crate::fused::tests::{bosons, h2, network};
    use crate::nn::{DriftNet, MlpConfig, PairNetConfig};
    use crate::noise::Noise;
    use crate::physics::{Harmonic, Molecule, Nucleus, System};
    use burn::tensor::Device;

    fn drift_value(drift: &FlatDrift, x: &[f64]) -> Vec<f64> {
        let mut v = vec![0.0; x.len()];
        let mut cache: NetCache<f64> = drift.cache(1);
        drift.forward(x, &mut v, &mut cache, 1);
        v
    }

    /// ∇·v against central differences of the engine's own forward pass, and v against it.
    fn check(drift: &FlatDrift, x: &[f64]) {
        let terms = drift.local_terms(x);
        let v = drift_value(drift, x);
        for (a, b) in terms.v.iter().zip(&v) {
            assert!((a - b).abs() < 1e-12, "drift {a} vs forward pass {b}");
        }
        let eps = 1e-5;
        let mut fd = 0.0;
        for k in 0..x.len() {
            let (mut up, mut down) = (x.to_vec(), x.to_vec());
            up[k] += eps;
            down[k] -= eps;
            fd += (drift_value(drift, &up)[k] - drift_value(drift, &down)[k]) / (2.0 * eps);
        }
        assert!((terms.divergence - fd).abs() < 1e-6 * (1.0 + fd.abs()), "divergence {} vs finite differences {fd}", terms.divergence);
    }

    #[test]
    fn divergence_matches_finite_differences() {
        let device = Device::flex();
        let mut noise = Noise::new(5);
        for (pair, system) in [(false, h2(true)), (true, h2(true)), (true, bosons()), (false, bosons())] {
            let net = network(pair, &system, &mut noise, &device);
            let drift = FlatDrift::new(&net, &system);
            for _ in 0..3 {
                let x = noise.standard_normals(drift.dim());
                check(&drift, &x);
            }
        }
    }

    /// With the exact drift, E_L is the exact energy at every point: zero variance.
    #[test]
    fn exact_drifts_have_constant_local_energy() {
        let device = Device::flex();
        let mut noise = Noise::new(9);
        // Oscillator, 2 particles in 3-D: v = −x (skip −1, zero output layer), E = 3.
        let oscillator = System::Harmonic(Harmonic { particles: 2, dims: 3, omega: 1.0 });
        let mlp = MlpConfig { particles: 2, dims: 3, hidden: 8, layers: 2, skip_init: -1.0 }.init(&mut noise, &device);
        // Hydrogen: v = −r̂ from the cusp prior alone (skip 0, zero output layer), E = −½.
        let hydrogen = System::Molecule(Molecule { electrons: 1, nuclei: vec![Nucleus { charge: 1.0, position: [0.0; 3] }], cusps: true });
        let pair = PairNetConfig { dims: 3, hidden: 8, skip_init: 0.0 }.init(&mut noise, &device);
        for (net, system, exact) in [(DriftNet::Mlp(mlp), oscillator, 3.0), (DriftNet::Pair(pair), hydrogen, -0.5)] {
            let drift = FlatDrift::new(&net, &system);
            for _ in 0..5 {
                let x = noise.standard_normals(drift.dim());
                let e = drift.local_terms(&x).local_energy;
                assert!((e - exact).abs() < 1e-12, "E_L = {e}, exact {exact}");
            }
        }
    }
}
