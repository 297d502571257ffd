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
use super::{FlatDrift, FlatNet};

/// Drift, divergence and local energy at one configuration (the walker loop reads only E_L;
/// the tests read all of them), and log ψ_T where the drift is a gradient.
#[derive(Debug, Clone, Default)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct LocalTerms {
    pub v: Vec<f64>,
    pub divergence: f64,
    pub local_energy: f64,
    /// S with v = ∇S (a gradient network: S_θ plus the cusp prior's potential), else `None`.
    pub log_psi: Option<f64>,
}

impl FlatDrift<f64> {
    /// v(x), ∇·v(x), V(x) and E_L(x) for one walker (x: particles · dims).
    #[cfg(test)]
    pub(crate) fn local_terms(&self, x: &[f64]) -> LocalTerms {
        local_terms_block(self, x).pop().expect("one walker")
    }

    /// Adds the cusp prior, where the system has one, to the network's v and (a gradient
    /// network) S: S_e = S_θ + S_prior, v = ∇S_e.
    #[inline(always)]
    fn add_prior(&self, x: &[f64], v: &mut [f64], log_psi: Option<&mut f64>) {
        if self.system.has_prior() {
            self.system.add_prior(x, v);
            if let Some(s) = log_psi {
                *s += self.system.prior_potential(x);
            }
        }
    }

    /// Adds the prior and the potential to the network's (v, ∇·v, S).
    #[inline(always)]
    fn complete(&self, x: &[f64], mut v: Vec<f64>, mut divergence: f64, mut log_psi: Option<f64>) -> LocalTerms {
        self.add_prior(x, &mut v, log_psi.as_mut());
        if self.system.has_prior() {
            divergence += self.system.prior_divergence(x);
        }
        let potential = self.system.potential(x, None);
        let kinetic = 0.5 * v.iter().map(|a| a * a).sum::<f64>();
        LocalTerms { local_energy: potential - 0.5 * divergence - kinetic, v, divergence, log_psi }
    }
}

/// [`FlatDrift::local_terms`] of consecutive walkers (x: walkers × particles · dims); a gradient
/// network evaluates the block at once.
#[inline(always)]
pub(super) fn local_terms_block(drift: &FlatDrift, x: &[f64]) -> Vec<LocalTerms> {
    let dim = drift.dim();
    let terms = match &drift.net {
        FlatNet::Potential(p) => Some(p.terms(x, x.len() / dim, true)),
        FlatNet::Jastrow(j) => Some(j.terms(x, x.len() / dim, true)),
        _ => None,
    };
    if let Some(terms) = terms {
        return terms.into_iter().zip(x.chunks_exact(dim)).map(|((s, v, laplacian), xw)| drift.complete(xw, v, laplacian, Some(s))).collect();
    }
    x.chunks_exact(dim)
        .map(|xw| {
            let mut v = vec![0.0; dim];
            let divergence = match &drift.net {
                FlatNet::Mlp(m) => mlp_divergence(m, xw, &mut v),
                FlatNet::Pair(p) => pair_divergence(p, xw, &mut v),
                FlatNet::Potential(_) | FlatNet::Jastrow(_) => unreachable!("evaluated by blocks above"),
            };
            drift.complete(xw, v, divergence, None)
        })
        .collect()
}

/// S and v = ∇S of consecutive walkers of a gradient network, each with the system's prior
/// (as in [`local_terms_block`]), without the Laplacian; `None` for a drift that is not a
/// gradient.
#[inline(always)]
pub(super) fn gradient_terms_block(drift: &FlatDrift, x: &[f64]) -> Option<Vec<(f64, Vec<f64>)>> {
    let dim = drift.dim();
    let terms = match &drift.net {
        FlatNet::Potential(p) => p.terms(x, x.len() / dim, false),
        FlatNet::Jastrow(j) => j.terms(x, x.len() / dim, false),
        FlatNet::Mlp(_) | FlatNet::Pair(_) => return None,
    };
    let with_prior = |((mut s, mut v, _), xw): ((f64, Vec<f64>, f64), &[f64])| {
        drift.add_prior(xw, &mut v, Some(&mut s));
        (s, v)
    };
    Some(terms.into_iter().zip(x.chunks_exact(dim)).map(with_prior).collect())
}

/// Writes v(x) of the MLP (without prior) and returns tr ∂v/∂x.
#[inline(always)]
fn mlp_divergence(m: &MlpParams, x: &[f64], v: &mut [f64]) -> f64 {
    let d = x.len();
    // Tangents of all d directions at once: row k = ∂h/∂x_k.
    let mut tangent: Vec<f64> = (0..d * d).map(|i| if i / d == i % d { 1.0 } else { 0.0 }).collect();
    let mut h = x.to_vec();
    for layer in &m.hidden {
        let mut next = vec![0.0; layer.d_out];
        layer.forward_tanh(&h, &mut next, 1);
        let mut next_tangent = vec![0.0; d * layer.d_out];
        layer.accumulate(&tangent, &mut next_tangent, d);
        for row in next_tangent.chunks_exact_mut(layer.d_out) {
            for (t, a) in row.iter_mut().zip(&next) {
                *t *= 1.0 - a * a;
            }
        }
        h = next;
        tangent = next_tangent;
    }
    m.output.forward(&h, v, 1);
    m.skip.accumulate(x, v, 1);
    let mut out = vec![0.0; d * d];
    m.output.accumulate(&tangent, &mut out, d);
    (0..d).map(|k| out[k * d + k] + m.skip.w[k * d + k]).sum()
}

/// Writes v(x) of the pair network (without prior; its own forward pass) and returns tr ∂v/∂x,
/// reading the activations of that pass.
#[inline(always)]
fn pair_divergence(p: &PairParams, x: &[f64], v: &mut [f64]) -> f64 {
    let (np, d, hid) = (p.particles, p.dims, p.one_body.d_out);
    let mut c = p.cache(1);
    p.forward(x, v, &mut c, 1);
    let (w1, w2, w5) = (&p.one_body.w, &p.two_body.w, &p.pair_weight.w);
    // Skip and radial terms: ∂(c_skip r_a + Σ_j radial_aj (r_a − r_j))_k/∂r_a,k at fixed radial.
    let mut trace = (np * d) as f64 * p.skip + d as f64 * c.radial.iter().sum::<f64>();
    let mut hs_dot = vec![0.0; d * 2 * hid];
    let mut u_dot = vec![0.0; d * hid];
    let mut v_dot = vec![0.0; d * d];
    for a in 0..np {
        let h = &c.h[a * hid..(a + 1) * hid];
        let u = &c.u[a * hid..(a + 1) * hid];
        // Rows k: the tangent [ḣ_a, Σ_j ġ_aj] of direction e_{a,k}.
        hs_dot.fill(0.0);
        for k in 0..d {
            let row = &mut hs_dot[k * 2 * hid..(k + 1) * 2 * hid];
            for m in 0..hid {
                row[m] = (1.0 - h[m] * h[m]) * w1[k * hid + m];
            }
            for q in 0..np - 1 {
                let pair = a * (np - 1) + q;
                let e = &c.e[pair * (d + 1)..(pair + 1) * (d + 1)];
                let g = &c.g[pair * hid..(pair + 1) * hid];
                let slope = e[k] / e[d];
                let mut g_dot_w5 = 0.0;
                for m in 0..hid {
                    let g_dot = (1.0 - g[m] * g[m]) * (w2[k * hid + m] + slope * w2[d * hid + m]);
                    row[hid + m] += g_dot;
                    g_dot_w5 += g_dot * w5[m];
                }
                trace += g_dot_w5 * e[k];
            }
        }
        u_dot.fill(0.0);
        p.mix.accumulate(&hs_dot, &mut u_dot, d);
        for row in u_dot.chunks_exact_mut(hid) {
            for (ud, um) in row.iter_mut().zip(u) {
                *ud *= 1.0 - um * um;
            }
        }
        v_dot.fill(0.0);
        p.output.accumulate(&u_dot, &mut v_dot, d);
        trace += (0..d).map(|k| v_dot[k * d + k]).sum::<f64>();
    }
    trace
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantum::fused::NetCache;
    use crate::quantum::fused::tests::{Kind, bosons, h2, network};
    use crate::quantum::nn::{DriftNet, MlpConfig, PairNetConfig};
    use crate::base::noise::Noise;
    use crate::quantum::physics::{Harmonic, Molecule, Nucleus, System};
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
        for (kind, system) in [(Kind::Mlp, h2(true)), (Kind::Pair, h2(true)), (Kind::Pair, bosons()), (Kind::Mlp, bosons()), (Kind::Gradient, h2(true)), (Kind::Gradient, bosons()), (Kind::Jastrow, h2(true)), (Kind::Jastrow, bosons()), (Kind::JastrowDensity, bosons()), (Kind::JastrowDensity, h2(true)), (Kind::JastrowThree, bosons()), (Kind::JastrowPowerSums, bosons())] {
            let net = network(kind, &system, &mut noise, &device);
            let drift = FlatDrift::new(&net, &system);
            for _ in 0..3 {
                let x = noise.standard_normals(drift.dim());
                check(&drift, &x);
            }
        }
    }

    /// The gradient and Jastrow networks' log ψ_T has the drift as gradient (central
    /// differences): what makes their Metropolis ratio exact and DMC free of the non-gradient
    /// bias.
    #[test]
    fn gradient_net_drift_is_the_gradient_of_its_potential() {
        let device = Device::flex();
        let mut noise = Noise::new(12);
        for (kind, system) in [(Kind::Gradient, h2(true)), (Kind::Gradient, bosons()), (Kind::Jastrow, h2(true)), (Kind::Jastrow, bosons()), (Kind::JastrowDensity, bosons()), (Kind::JastrowDensity, h2(true)), (Kind::JastrowThree, bosons()), (Kind::JastrowPowerSums, bosons())] {
            let net = network(kind, &system, &mut noise, &device);
            let drift = FlatDrift::new(&net, &system);
            // log ψ_T (S_θ plus the prior's potential) and the whole drift.
            let log_psi = |x: &[f64]| drift.local_terms(x).log_psi.expect("a gradient drift");
            let x = noise.standard_normals(drift.dim());
            let v = drift.local_terms(&x).v;
            let h = 1e-6;
            for k in 0..x.len() {
                let (mut up, mut down) = (x.clone(), x.clone());
                up[k] += h;
                down[k] -= h;
                let fd = (log_psi(&up) - log_psi(&down)) / (2.0 * h);
                assert!((fd - v[k]).abs() < 1e-8 * (1.0 + fd.abs()), "coordinate {k}: finite difference {fd}, drift {}", v[k]);
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
