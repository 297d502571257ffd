//! Jastrow gradient drift: v = ∇S_θ with S_θ exactly invariant under exchange of identical
//! particles, built from one-body and pair terms on distance features (a Jastrow factor
//! ψ_T = e^{S_θ} times the caller's prior, e.g. the Kato cusps; Jastrow, Phys. Rev. 98, 1479
//! (1955); the learned one- and two-body functions of FermiNet/PauliNet-style Jastrows).
//!
//! With centres C_A (A = 1…K: the nuclei, or the trap centre), a length ℓ and the smooth
//! distance feature q(δ) = ln(1 + |δ|²/ℓ²) (even in δ, so its gradient vanishes at δ = 0: the
//! learned part adds no cusp, and the prior's cusps stay exact):
//!
//! ```text
//! y_i  = (q(r_i − C_A))_A                              one-body inputs       (K)
//! ρ_i  = (Σ_{j≠i} e^{−β q(r_i − r_j)})_β               densities             (M, optional)
//! z_ij = (q(r_i − r_j), y_i, y_j)                      ordered-pair inputs   (1 + 2K)
//! t_ijk = (q_ij, q_ik, q_jk, y_i, y_j, y_k)             ordered-triple inputs (3 + 3K, optional)
//! S_θ  = Σ_i F(y_i, ρ_i) + Σ_{i≠j} U(z_ij) + Σ_{i,j,k distinct} W(t_ijk) + ½ c |x|²,     c = −ρ²
//! ```
//!
//! W (`three_body`) is a genuine three-body term: it sees the whole triangle of three particles
//! and where it sits, as a three-body Jastrow factor does (e.g. Huang, Moskowitz & Schmidt,
//! J. Chem. Phys. 93, 3010 (1990)), here a small learned network summed over the N(N−1)(N−2)
//! ordered triples, so it is symmetric for any W. Both engines have it: the drift below,
//! [`Jastrow::laplacian`] and S_θ in burn ops, and triple rows in the fused engine's tables
//! (`crate::fused::jastrow`), whose inputs are the same pair and centre features.
//!
//! The densities make the term many-body in the DeepSets sense (Zaheer et al. 2017): F is a
//! nonlinear function of a sum over the other particles, so its expansion holds products
//! e^{−β q_ij} e^{−β' q_ik} (three-body and beyond), at the cost of N(N−1)M exponentials;
//! e^{−β q} = (1 + r²/ℓ²)^{−β} is a smooth, even bump of width ~ℓ/√β around coalescence.
//! F and U are scalar tanh networks ([`super::Potential`], output layer at zero). The sum over
//! ordered pairs (i, j) and (j, i) makes the pair term symmetric for any U, and U sees both
//! particles' one-body features, so it can express how the pair correlation depends on where
//! the pair sits (for two electrons in H₂, z_12 and z_21 together determine all five internal
//! coordinates r_1A, r_1B, r_2A, r_2B, r_12). Every term is a sum over particles or pairs of
//! the same function: permuting particles leaves S unchanged and permutes the drift's rows.
//! F and U are bounded, so far away S is ½c|x|² plus the prior: the envelope (c < 0 for a
//! trap, the cusp prior's −Z r for a molecule) makes S → −∞ and keeps walkers bound.
//!
//! The drift is written out by the chain rule (γ = ∂q/∂r_a for δ = r_a − r_b or r_a − C):
//!
//! ```text
//! γ(δ) = α δ,  α = 2/(ℓ²(1 + |δ|²/ℓ²)),   v_a = c r_a + Σ_inputs g_m (±γ_m),   g = ∇F or ∇U
//! ```
//!
//! so burn's first-order autodiff differentiates v in θ. The fused engine's version, with its
//! reverse pass and exact Laplacian, is `crate::fused::jastrow`.

use super::{MlpConfig, Potential, scalar};
use crate::noise::Noise;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

/// Shape and geometry of a [`Jastrow`] drift.
#[derive(Debug, Clone)]
pub struct JastrowConfig {
    pub particles: usize,
    pub dims: usize,
    /// The centres C_A of the one-body features (at least one), each `dims` long.
    pub centres: Vec<Vec<f64>>,
    /// ℓ of the distance feature q(δ) = ln(1 + |δ|²/ℓ²).
    pub length: f64,
    pub hidden: usize,
    pub layers: usize,
    /// c at initialisation (clamped to ≤ 0).
    pub skip_init: f64,
    /// The decay rates β of the density inputs of F (empty: F sees y_i only).
    pub density: Vec<f64>,
    /// Add the three-body term Σ_{(i,j,k)} W(t_ijk) (three or more particles).
    pub three_body: bool,
}

/// The fixed geometry of a Jastrow drift (not trained; part of its shape).
#[derive(Debug, Clone)]
pub struct JastrowGeometry {
    pub particles: usize,
    pub dims: usize,
    pub centres: Vec<Vec<f64>>,
    pub length: f64,
    /// β of each density input of F (none with a single particle).
    pub density: Vec<f64>,
    /// Whether S_θ has the three-body term W (three or more particles).
    pub three_body: bool,
}

impl JastrowGeometry {
    /// K, the number of centres.
    pub fn centre_count(&self) -> usize {
        self.centres.len()
    }

    /// Inputs of the one-body network, K + M.
    pub fn one_body_inputs(&self) -> usize {
        self.centres.len() + self.density.len()
    }

    /// Inputs of the pair network, 1 + 2K.
    pub fn pair_inputs(&self) -> usize {
        1 + 2 * self.centres.len()
    }

    /// Inputs of the three-body network, 3 + 3K.
    pub fn triple_inputs(&self) -> usize {
        3 + 3 * self.centres.len()
    }

    /// The ordered triples (i, j, k) of distinct particles, in the order of the triple rows.
    pub fn ordered_triples(&self) -> Vec<(usize, usize, usize)> {
        let n = self.particles;
        let mut out = Vec::new();
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                for k in (0..n).filter(|&k| k != i && k != j) {
                    out.push((i, j, k));
                }
            }
        }
        out
    }

    /// The ordered pairs (i, j), i ≠ j, in the order of the pair rows.
    pub fn ordered_pairs(&self) -> Vec<(usize, usize)> {
        let n = self.particles;
        (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).collect()
    }
}

#[derive(Module, Debug)]
pub struct Jastrow {
    /// F: one-body inputs (K) → scalar.
    pub(crate) one_body: Potential,
    /// U: ordered-pair inputs (1 + 2K) → scalar.
    pub(crate) pair: Potential,
    /// W: triple inputs (3 + 3K) → scalar (`three_body`; three or more particles).
    pub(crate) triple: Option<Potential>,
    /// ρ, with c = −ρ².
    pub(crate) skip: Param<Tensor<1>>,
    #[module(skip)]
    pub(crate) geometry: JastrowGeometry,
}

impl JastrowConfig {
    pub fn init(&self, noise: &mut Noise, device: &Device) -> Jastrow {
        let k = self.centres.len();
        let density = if self.particles > 1 { self.density.clone() } else { Vec::new() };
        let sub = |inputs: usize| MlpConfig { particles: 1, dims: inputs, hidden: self.hidden, layers: self.layers, skip_init: 0.0 };
        let one_body = Potential::init_without_skip(&sub(k + density.len()), noise, device);
        let pair = Potential::init_without_skip(&sub(1 + 2 * k), noise, device);
        let root = (-self.skip_init).max(0.0).sqrt();
        let three_body = self.three_body && self.particles > 2;
        let triple = three_body.then(|| Potential::init_without_skip(&sub(3 + 3 * k), noise, device));
        let geometry = JastrowGeometry { particles: self.particles, dims: self.dims, centres: self.centres.clone(), length: self.length, density, three_body };
        Jastrow { one_body, pair, triple, skip: scalar(root, device), geometry }
    }
}

/// Rows of `t` ([w, n, c]) picked by a selection matrix `sel` ([m, n]): [w, m, c].
fn gather(t: Tensor<3>, sel: &Tensor<2>) -> Tensor<3> {
    let [w, n, c] = t.dims();
    let m = sel.dims()[0];
    sel.clone().matmul(t.swap_dims(0, 1).reshape([n, w * c])).reshape([m, w, c]).swap_dims(0, 1)
}

/// The transpose of [`gather`]: rows of `t` ([w, m, c]) summed into [w, n, c].
fn scatter(t: Tensor<3>, sel: &Tensor<2>) -> Tensor<3> {
    let [w, m, c] = t.dims();
    let n = sel.dims()[1];
    sel.clone().transpose().matmul(t.swap_dims(0, 1).reshape([m, w * c])).reshape([n, w, c]).swap_dims(0, 1)
}

/// The three-body term's drift ∇Σ_rows W(t): W's input gradients g times ∂t/∂r, summed into
/// particles i, j and k of every row ([w, n, d]).
fn triple_drift(net: &Potential, t: &TripleInputs, gammas: &[Tensor<3>]) -> Tensor<3> {
    let [w, m, kt] = t.t.dims();
    let k = gammas.len();
    let g = net.gradient(t.t.clone().reshape([w * m, kt])).reshape([w, m, kt]);
    let column = |a: usize| g.clone().slice([0..w, 0..m, a..a + 1]);
    let [g_ij, g_ik, g_jk] = t.gammas.clone();
    let mut to = [
        g_ij.clone() * column(0) + g_ik.clone() * column(1),
        g_jk.clone() * column(2) - g_ij * column(0),
        (g_ik * column(1) + g_jk * column(2)).neg(),
    ];
    for (slot, sel) in t.sel.iter().enumerate() {
        for (a, gamma) in gammas.iter().enumerate() {
            to[slot] = to[slot].clone() + gather(gamma.clone(), sel) * column(3 + slot * k + a);
        }
    }
    let [a, b, c] = to;
    scatter(a, &t.sel[0]) + scatter(b, &t.sel[1]) + scatter(c, &t.sel[2])
}

/// q(δ) = ln(1 + |δ|²/ℓ²) ([w, m, 1]) and γ = ∂q/∂δ = α δ ([w, m, d]) of differences δ [w, m, d].
fn distance_feature(delta: Tensor<3>, length: f64) -> (Tensor<3>, Tensor<3>) {
    let inv_l2 = 1.0 / (length * length);
    let t = (delta.clone() * delta.clone()).sum_dim(2) * inv_l2;
    let alpha = t.clone().add_scalar(1.0).recip() * (2.0 * inv_l2);
    (t.log1p(), delta * alpha)
}

/// The networks' inputs at a configuration, shared by the drift and by S_θ.
struct Inputs {
    /// γ of each centre's feature, [w, n, d] each.
    gammas: Vec<Tensor<3>>,
    /// F's inputs (y_i, ρ_i), [w, n, K + M].
    one: Tensor<3>,
    /// The pair rows (two or more particles).
    pairs: Option<PairInputs>,
}

struct PairInputs {
    sel_i: Tensor<2>,
    sel_j: Tensor<2>,
    /// γ of q_ij, [w, M, d].
    gamma: Tensor<3>,
    /// e^{−β q_ij} of each β, [w, M, 1] each.
    bumps: Vec<Tensor<3>>,
    /// U's inputs z_ij, [w, M, 1 + 2K].
    z: Tensor<3>,
}

/// The triple rows (i, j, k) at a configuration: W's inputs t = (q_ij, q_ik, q_jk, y_i, y_j,
/// y_k), [w, T, 3 + 3K], with the selections and the γ of the three pair features.
struct TripleInputs {
    sel: [Tensor<2>; 3],
    /// γ of q_ij, q_ik, q_jk ([w, T, d] each).
    gammas: [Tensor<3>; 3],
    t: Tensor<3>,
}

impl Jastrow {
    /// The triple rows' inputs, given F's inputs `one` ([w, n, K + M], y first); `None` without W.
    fn triple_inputs(&self, x: &Tensor<3>, one: &Tensor<3>) -> Option<TripleInputs> {
        self.triple.as_ref()?;
        let [w, n, _] = x.dims();
        let y = one.clone().slice([0..w, 0..n, 0..self.geometry.centre_count()]);
        let device = x.device();
        let triples = self.geometry.ordered_triples();
        let m = triples.len();
        let selection = |pick: &dyn Fn(&(usize, usize, usize)) -> usize| {
            let mut values = vec![0.0; m * n];
            for (row, t) in triples.iter().enumerate() {
                values[row * n + pick(t)] = 1.0;
            }
            Tensor::<2>::from_data(TensorData::new(values, [m, n]), &device)
        };
        let sel = [selection(&|t| t.0), selection(&|t| t.1), selection(&|t| t.2)];
        let at: Vec<Tensor<3>> = sel.iter().map(|s| gather(x.clone(), s)).collect();
        let length = self.geometry.length;
        let (q_ij, g_ij) = distance_feature(at[0].clone() - at[1].clone(), length);
        let (q_ik, g_ik) = distance_feature(at[0].clone() - at[2].clone(), length);
        let (q_jk, g_jk) = distance_feature(at[1].clone() - at[2].clone(), length);
        let t = Tensor::cat(vec![q_ij, q_ik, q_jk, gather(y.clone(), &sel[0]), gather(y.clone(), &sel[1]), gather(y.clone(), &sel[2])], 2);
        Some(TripleInputs { sel, gammas: [g_ij, g_ik, g_jk], t })
    }

    fn inputs(&self, x: Tensor<3>) -> Inputs {
        let [_, n, d] = x.dims();
        let geometry = &self.geometry;
        let device = x.device();
        let k = geometry.centre_count();
        let (mut ys, mut gammas) = (Vec::with_capacity(k), Vec::with_capacity(k));
        for c in &geometry.centres {
            let centre = Tensor::<1>::from_data(TensorData::new(c.clone(), [d]), &device).reshape([1, 1, d]);
            let (q, gamma) = distance_feature(x.clone() - centre, geometry.length);
            ys.push(q);
            gammas.push(gamma);
        }
        let y = Tensor::cat(ys, 2); // [w, n, K]
        if n < 2 {
            return Inputs { one: y, gammas, pairs: None };
        }
        let pairs = geometry.ordered_pairs();
        let m = pairs.len();
        let selection = |pick: fn(&(usize, usize)) -> usize| {
            let mut values = vec![0.0; m * n];
            for (row, pair) in pairs.iter().enumerate() {
                values[row * n + pick(pair)] = 1.0;
            }
            Tensor::<2>::from_data(TensorData::new(values, [m, n]), &device)
        };
        let (sel_i, sel_j) = (selection(|p| p.0), selection(|p| p.1));
        let (q, gamma) = distance_feature(gather(x.clone(), &sel_i) - gather(x, &sel_j), geometry.length);
        // Densities ρ_iβ = Σ_{j≠i} e^{−β q_ij}: the pair rows (i, ·) summed into particle i.
        let bumps: Vec<Tensor<3>> = geometry.density.iter().map(|&beta| (q.clone() * (-beta)).exp()).collect();
        let one = if bumps.is_empty() { y.clone() } else { Tensor::cat(vec![y.clone(), scatter(Tensor::cat(bumps.clone(), 2), &sel_i)], 2) };
        let z = Tensor::cat(vec![q, gather(y.clone(), &sel_i), gather(y, &sel_j)], 2); // [w, M, 1 + 2K]
        Inputs { gammas, one, pairs: Some(PairInputs { sel_i, sel_j, gamma, bumps, z }) }
    }

    /// c = −ρ², [1, 1, 1].
    fn curvature(&self) -> Tensor<3> {
        self.skip.val().powi_scalar(2).neg().reshape([1, 1, 1])
    }

    /// S_θ(x) = Σ_i F(y_i, ρ_i) + Σ_{i≠j} U(z_ij) + ½c|x|² per walker ([walkers]).
    pub fn log_psi(&self, x: Tensor<3>) -> Tensor<1> {
        let [w, n, _] = x.dims();
        let quadratic = (x.clone() * x.clone()).sum_dim(2).sum_dim(1) * self.curvature() * 0.5; // [w, 1, 1]
        let Inputs { one, pairs, .. } = self.inputs(x.clone());
        let kf = self.geometry.one_body_inputs();
        let triples = self.triple_inputs(&x, &one);
        let mut s = self.one_body.value(one.reshape([w * n, kf])).reshape([w, n]).sum_dim(1); // [w, 1]
        if let Some(p) = pairs {
            let [_, m, kp] = p.z.dims();
            s = s + self.pair.value(p.z.reshape([w * m, kp])).reshape([w, m]).sum_dim(1);
        }
        if let (Some(net), Some(t)) = (&self.triple, triples) {
            let [_, m, kt] = t.t.dims();
            s = s + net.value(t.t.reshape([w * m, kt])).reshape([w, m]).sum_dim(1);
        }
        (s + quadratic.reshape([w, 1])).reshape([w])
    }

    /// ΔS_θ(x) per walker ([walkers]), by the chain rule through the inputs z of every row of F
    /// and U (x_D the n·d coordinates; u_D = ∂z/∂x_D, g = ∇_z and H = ∇_z² of the row's network):
    ///
    /// ```text
    /// ΔS = Σ_rows [ Σ_D u_Dᵀ H u_D + g · Σ_D ∂²z/∂x_D² ] + n d c
    /// Σ_D ∂²q/∂x_D² = tr Q = α d − |γ|²   (one-body q; a pair's q_ij twice: it moves with r_i and r_j)
    /// Σ_D ∂²e^{−βq_ij}/∂x_D² = 2 (φ′ tr Q + φ″ |γ|²),   φ′ = −β e^{−βq}, φ″ = β² e^{−βq}
    /// ```
    ///
    /// with α = 2e^{−q}/ℓ². Σ_D uᵀHu is [`Potential::curvature_along`]'s forward-mode pass
    /// along the row's tangents: every coordinate for F (its densities move with all
    /// particles), the 2d coordinates of particles i and j for U. The same sums as the fused
    /// engine's exact Laplacian (`crate::fused::jastrow`), in burn ops, so E_L built from it is
    /// differentiable in θ and runs on any device.
    pub fn laplacian(&self, x: Tensor<3>) -> Tensor<1> {
        let [w, n, d] = x.dims();
        let device = x.device();
        let geometry = &self.geometry;
        let k = geometry.centre_count();
        let kf = geometry.one_body_inputs();
        let scale = 2.0 / (geometry.length * geometry.length);
        // tr Q of a feature from q and γ: α d − |γ|², α = 2e^{−q}/ℓ².
        let trace = |q: Tensor<3>, gamma: &Tensor<3>| q.neg().exp() * (scale * d as f64) - (gamma.clone() * gamma.clone()).sum_dim(2);
        let Inputs { gammas, one, pairs } = self.inputs(x.clone());
        let triples = self.triple_inputs(&x, &one);
        let ys: Vec<Tensor<3>> = (0..k).map(|a| one.clone().slice([0..w, 0..n, a..a + 1])).collect();
        let eye = Tensor::<2>::eye(n, &device).reshape([1, n, n, 1]);
        // F's rows: tangents [w, n (row i), n (particle p), d] per input, and Σ_D ∂²z/∂x_D².
        let mut tangents: Vec<Tensor<4>> = gammas.iter().map(|gamma| gamma.clone().reshape([w, n, 1, d]) * eye.clone()).collect();
        let mut second: Vec<Tensor<3>> = ys.iter().zip(&gammas).map(|(y, gamma)| trace(y.clone(), gamma)).collect();
        let mut lap = (self.curvature().reshape([1]) * (n * d) as f64).repeat_dim(0, w);
        if let (Some(net), Some(t)) = (&self.triple, &triples) {
            let m = t.sel[0].dims()[0];
            let zeros = Tensor::<3>::zeros([w, m, d], &device);
            // Tangents over the coordinates of (i, j, k), [w, T, 3d] per input, and Σ_D ∂²t/∂x_D².
            let tangent = |parts: [Tensor<3>; 3]| Tensor::cat(parts.to_vec(), 2).reshape([w, m, 3 * d, 1]);
            let [g_ij, g_ik, g_jk] = t.gammas.clone();
            let mut tangents = vec![
                tangent([g_ij.clone(), g_ij.clone().neg(), zeros.clone()]),
                tangent([g_ik.clone(), zeros.clone(), g_ik.clone().neg()]),
                tangent([zeros.clone(), g_jk.clone(), g_jk.clone().neg()]),
            ];
            let mut second: Vec<Tensor<3>> = [(0, &g_ij), (1, &g_ik), (2, &g_jk)].iter().map(|(c, g)| trace(t.t.clone().slice([0..w, 0..m, *c..*c + 1]), g) * 2.0).collect();
            for (slot, sel) in t.sel.iter().enumerate() {
                for (y, gamma) in ys.iter().zip(&gammas) {
                    let mut parts = [zeros.clone(), zeros.clone(), zeros.clone()];
                    parts[slot] = gather(gamma.clone(), sel);
                    tangents.push(tangent(parts));
                    second.push(gather(trace(y.clone(), gamma), sel));
                }
            }
            let kt = self.geometry.triple_inputs();
            let flat = t.t.clone().reshape([w * m, kt]);
            let u = Tensor::cat(tangents, 3).reshape([w * m, 3 * d, kt]);
            let chain = (net.gradient(flat.clone()) * Tensor::cat(second, 2).reshape([w * m, kt])).sum_dim(1);
            lap = lap + (net.curvature_along(flat, u) + chain).reshape([w, m]).sum_dim(1).reshape([w]);
        }
        if let Some(p) = &pairs {
            let m = p.sel_i.dims()[0];
            let q = p.z.clone().slice([0..w, 0..m, 0..1]);
            let trace_pair = trace(q.clone(), &p.gamma); // [w, M, 1]
            let norm2 = (p.gamma.clone() * p.gamma.clone()).sum_dim(2);
            if !geometry.density.is_empty() {
                // The placement of pair row m = (i, j) at [i, j] of an n × n grid.
                let mut place = vec![0.0; n * n * m];
                for (row, &(i, j)) in geometry.ordered_pairs().iter().enumerate() {
                    place[(i * n + j) * m + row] = 1.0;
                }
                let place = Tensor::<2>::from_data(TensorData::new(place, [n * n, m]), &device);
                for (&beta, bump) in geometry.density.iter().zip(&p.bumps) {
                    let slope = bump.clone() * (-beta); // φ′ [w, M, 1]
                    let along = p.gamma.clone() * slope.clone(); // φ′ γ [w, M, d]
                    let own = scatter(along.clone(), &p.sel_i).reshape([w, n, 1, d]) * eye.clone();
                    let others = place.clone().matmul(along.swap_dims(0, 1).reshape([m, w * d])).reshape([n * n, w, d]).swap_dims(0, 1).reshape([w, n, n, d]);
                    tangents.push(own - others);
                    let curvature = (slope * trace_pair.clone() + bump.clone() * norm2.clone() * (beta * beta)) * 2.0;
                    second.push(scatter(curvature, &p.sel_i));
                }
            }
            let tangent = |t: Tensor<3>| t.reshape([w, m, 2 * d, 1]);
            let zeros = Tensor::<3>::zeros([w, m, d], &device);
            let mut pair_tangents = vec![tangent(Tensor::cat(vec![p.gamma.clone(), p.gamma.clone().neg()], 2))];
            let mut pair_second = vec![trace_pair * 2.0];
            for (own, sel) in [(true, &p.sel_i), (false, &p.sel_j)] {
                for (y, gamma) in ys.iter().zip(&gammas) {
                    let g = gather(gamma.clone(), sel);
                    let halves = if own { vec![g, zeros.clone()] } else { vec![zeros.clone(), g] };
                    pair_tangents.push(tangent(Tensor::cat(halves, 2)));
                    pair_second.push(gather(trace(y.clone(), gamma), sel));
                }
            }
            let kp = geometry.pair_inputs();
            let flat = p.z.clone().reshape([w * m, kp]);
            let u = Tensor::cat(pair_tangents, 3).reshape([w * m, 2 * d, kp]);
            let g = self.pair.gradient(flat.clone());
            let chain = (g * Tensor::cat(pair_second, 2).reshape([w * m, kp])).sum_dim(1);
            let rows = self.pair.curvature_along(flat, u) + chain; // [w·M, 1]
            lap = lap + rows.reshape([w, m]).sum_dim(1).reshape([w]);
        }
        let flat = one.reshape([w * n, kf]);
        let u = Tensor::cat(tangents.into_iter().map(|t| t.reshape([w, n, n * d, 1])).collect(), 3).reshape([w * n, n * d, kf]);
        let g = self.one_body.gradient(flat.clone());
        let chain = (g * Tensor::cat(second, 2).reshape([w * n, kf])).sum_dim(1);
        let rows = self.one_body.curvature_along(flat, u) + chain;
        lap + rows.reshape([w, n]).sum_dim(1).reshape([w])
    }

    /// v = ∇S_θ(x), same shape as `x` ([walkers, particles, dims]).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [w, n, _] = x.dims();
        let geometry = &self.geometry;
        let k = geometry.centre_count();
        let kf = geometry.one_body_inputs();
        let mut v = x.clone() * self.curvature();
        let Inputs { gammas, one, pairs } = self.inputs(x.clone());
        if let (Some(net), Some(t)) = (&self.triple, self.triple_inputs(&x, &one)) {
            v = v + triple_drift(net, &t, &gammas);
        }
        let g_one = self.one_body.gradient(one.reshape([w * n, kf])).reshape([w, n, kf]);
        for (a, gamma) in gammas.iter().enumerate() {
            v = v + gamma.clone() * g_one.clone().slice([0..w, 0..n, a..a + 1]);
        }
        let Some(PairInputs { sel_i, sel_j, gamma: gamma_pair, bumps, z }) = pairs else {
            return v;
        };
        let [_, m, kp] = z.dims();
        let g_pair = self.pair.gradient(z.reshape([w * m, kp])).reshape([w, m, kp]);
        let column = |a: usize| g_pair.clone().slice([0..w, 0..m, a..a + 1]);
        // ∂S/∂q_ij of the pair row (i, j): U's own input plus, through ρ_i, Σ_β ∂F/∂ρ_iβ · (−β e^{−β q_ij}).
        let mut along = column(0);
        let betas = &geometry.density;
        if !betas.is_empty() {
            let g_rho = gather(g_one.slice([0..w, 0..n, k..kf]), &sel_i); // [w, M, betas]
            for (b, (&beta, bump)) in betas.iter().zip(bumps).enumerate() {
                along = along + g_rho.clone().slice([0..w, 0..m, b..b + 1]) * bump * (-beta);
            }
        }
        let mut to_i = gamma_pair.clone() * along.clone();
        let mut to_j = gamma_pair.neg() * along;
        for (a, gamma) in gammas.iter().enumerate() {
            to_i = to_i + gather(gamma.clone(), &sel_i) * column(1 + a);
            to_j = to_j + gather(gamma.clone(), &sel_j) * column(1 + k + a);
        }
        v + scatter(to_i, &sel_i) + scatter(to_j, &sel_j)
    }
}
