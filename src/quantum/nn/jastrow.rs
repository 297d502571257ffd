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
//!   or  (Σ q^m over q_ij, q_ik, q_jk; Σ y^m over y_i, y_j, y_k per centre; m = 1, 2, 3)   (i < j < k)
//! S_θ  = Σ_i F(y_i, ρ_i) + Σ_{i≠j} U(z_ij) + Σ_triples W(t_ijk) + ½ c |x|²,     c = −ρ²
//! ```
//!
//! W (`three_body`) is a genuine three-body term: it sees the whole triangle of three particles
//! and where it sits, as a three-body Jastrow factor does (e.g. Huang, Moskowitz & Schmidt,
//! J. Chem. Phys. 93, 3010 (1990)), here a small learned network in one of two forms
//! ([`ThreeBody`]). `Ordered`: summed over the N(N−1)(N−2) ordered triples, so S is symmetric
//! for any W. `PowerSums`: summed over the C(N, 3) unordered triples, a sixth of the rows, on
//! inputs symmetric under any permutation of the three particles: the power sums m = 1, 2, 3 of
//! three numbers fix them up to order (Newton's identities), so W sees the triangle's three side
//! features and its corners' one-body features, each as an unordered set, but not which corner
//! is opposite which side. Both engines have both forms, from one list of inputs
//! ([`JastrowGeometry::triple_slots`]): the drift below, [`Jastrow::laplacian`] and S_θ in burn
//! ops, and triple rows in the fused engine's tables (`crate::quantum::fused::jastrow`).
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
//! reverse pass and exact Laplacian, is `crate::quantum::fused::jastrow`.

use super::{MlpConfig, Potential, scalar};
use crate::base::noise::Noise;
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
    /// Add a three-body term W (three or more particles), in one of its forms.
    pub three_body: Option<ThreeBody>,
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
    /// S_θ's three-body term W, if any (three or more particles).
    pub three_body: Option<ThreeBody>,
}

/// The form of the three-body term W (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreeBody {
    /// W(q_ij, q_ik, q_jk, y_i, y_j, y_k) summed over the N(N−1)(N−2) ordered triples.
    Ordered,
    /// W(Σ q^m, Σ y^m; m = 1, 2, 3) summed over the C(N, 3) unordered triples.
    PowerSums,
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

    /// The powers m = 1…POWERS of the power-sum form's inputs.
    pub const POWERS: i32 = 3;

    /// Inputs of the three-body network, 3 + 3K in either form.
    pub fn triple_inputs(&self) -> usize {
        3 + 3 * self.centres.len()
    }

    /// The triple rows (i, j, k): the ordered triples of distinct particles, or i < j < k for
    /// the power sums (none without W).
    pub fn triples(&self) -> Vec<(usize, usize, usize)> {
        let n = self.particles;
        match self.three_body {
            None => Vec::new(),
            Some(ThreeBody::Ordered) => (0..n).flat_map(|i| (0..n).flat_map(move |j| (0..n).map(move |k| (i, j, k)))).filter(|&(i, j, k)| i != j && i != k && j != k).collect(),
            Some(ThreeBody::PowerSums) => (0..n).flat_map(|i| (i + 1..n).flat_map(move |j| (j + 1..n).map(move |k| (i, j, k)))).collect(),
        }
    }

    /// W's inputs as sums of powers of a row's base features: each input is a list of (base
    /// feature, power m), the base features numbered 0, 1, 2 for q_ij, q_ik, q_jk and
    /// 3 + 3A + v for y of the row's v-th particle (i, j, k) and centre A. Ordered: q_ij, q_ik,
    /// q_jk, then y_i, y_j, y_k (each with its K centres), one feature each. Power sums: Σ q^m,
    /// then for each centre Σ y^m, m = 1, 2, 3.
    pub fn triple_slots(&self) -> Vec<Vec<(usize, i32)>> {
        let k = self.centres.len();
        match self.three_body {
            None => Vec::new(),
            Some(ThreeBody::Ordered) => (0..3).map(|f| vec![(f, 1)]).chain((0..3).flat_map(|v| (0..k).map(move |c| vec![(3 + 3 * c + v, 1)]))).collect(),
            Some(ThreeBody::PowerSums) => {
                let sums = |first: usize| (1..=Self::POWERS).map(move |m| (first..first + 3).map(|f| (f, m)).collect::<Vec<_>>());
                sums(0).chain((0..k).flat_map(move |c| sums(3 + 3 * c))).collect()
            }
        }
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
        let three_body = self.three_body.filter(|_| self.particles > 2);
        let triple = three_body.map(|_| Potential::init_without_skip(&sub(3 + 3 * k), noise, device));
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

/// The three-body term's drift ∇Σ_rows W(t): W's input gradients g times the inputs'
/// tangents ∂t/∂(r_i, r_j, r_k), scattered into particles i, j and k of every row ([w, n, d]).
fn triple_drift(net: &Potential, t: &TripleInputs) -> Tensor<3> {
    let [w, m, kt] = t.t.dims();
    let g = net.gradient(t.t.clone().reshape([w * m, kt])).reshape([w, m, kt]);
    let along = sum(t.tangents.iter().enumerate().map(|(s, u)| u.clone() * g.clone().slice([0..w, 0..m, s..s + 1]))); // [w, T, 3d]
    let d = along.dims()[2] / 3;
    (0..3).map(|slot| scatter(along.clone().slice([0..w, 0..m, slot * d..(slot + 1) * d]), &t.sel[slot])).reduce(|a, b| a + b).expect("three particles")
}

/// b^m (m ≥ 0) by products.
fn power_of(b: &Tensor<3>, m: i32) -> Tensor<3> {
    if m == 0 { b.ones_like() } else { (1..m).fold(b.clone(), |acc, _| acc * b.clone()) }
}

/// The sum of a non-empty list of tensors.
fn sum(terms: impl Iterator<Item = Tensor<3>>) -> Tensor<3> {
    terms.reduce(|a, b| a + b).expect("at least one term")
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

/// The triple rows (i, j, k) at a configuration: W's inputs t ([w, T, 3 + 3K]), each a sum
/// P = Σ_f b_f^m over a list of the row's base features b_f (the pair features q_ij, q_ik,
/// q_jk; the one-body features y_i, y_j, y_k of each centre; one feature with m = 1 in the
/// ordered form, [`JastrowGeometry::triple_slots`]), and for each input its tangent over the
/// row's coordinates (r_i, r_j, r_k) and, for the Laplacian, Σ_D ∂²t/∂x_D²:
///
/// ```text
/// ∂P = Σ_f m b_f^{m−1} u_f,      Σ_D ∂²P/∂x_D² = Σ_f [m b_f^{m−1} s_f + m(m−1) b_f^{m−2} |u_f|²]
/// ```
///
/// with u_f = ∂b_f/∂(r_i, r_j, r_k) and s_f = Σ_D ∂²b_f/∂x_D² (2 tr Q for a pair, tr Q for a centre).
struct TripleInputs {
    sel: [Tensor<2>; 3],
    t: Tensor<3>,
    /// ∂t_s/∂(r_i, r_j, r_k) of each input s, [w, T, 3d].
    tangents: Vec<Tensor<3>>,
    /// Σ_D ∂²t_s/∂x_D² of each input s, [w, T, 1] (only when asked for).
    second: Vec<Tensor<3>>,
}

impl Jastrow {
    /// The triple rows' inputs, given F's inputs `one` ([w, n, K + M], y first) and the γ of
    /// each centre's feature; with `second`, the Laplacian's Σ_D ∂²t/∂x_D² too. `None` without W.
    fn triple_inputs(&self, x: &Tensor<3>, one: &Tensor<3>, gammas: &[Tensor<3>], second: bool) -> Option<TripleInputs> {
        self.triple.as_ref()?;
        let [w, n, d] = x.dims();
        let device = x.device();
        let triples = self.geometry.triples();
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
        let zeros = Tensor::<3>::zeros([w, m, d], &device);
        let spread = |slot: usize, sign: f64, gamma: &Tensor<3>, parts: &mut [Tensor<3>; 3]| parts[slot] = gamma.clone() * sign;
        let scale = 2.0 / (self.geometry.length * self.geometry.length);
        // tr Q = α d − |γ|², α = 2e^{−q}/ℓ².
        let trace = |q: &Tensor<3>, gamma: &Tensor<3>| q.clone().neg().exp() * (scale * d as f64) - (gamma.clone() * gamma.clone()).sum_dim(2);
        // The base features (b, u over (r_i, r_j, r_k), s when asked), numbered as in
        // `JastrowGeometry::triple_slots`.
        let mut base: Vec<(Tensor<3>, Tensor<3>, Option<Tensor<3>>)> = [(0, 1), (0, 2), (1, 2)]
            .iter()
            .map(|&(a, b)| {
                let (q, gamma) = distance_feature(at[a].clone() - at[b].clone(), self.geometry.length);
                let mut parts = [zeros.clone(), zeros.clone(), zeros.clone()];
                spread(a, 1.0, &gamma, &mut parts);
                spread(b, -1.0, &gamma, &mut parts);
                let s = second.then(|| trace(&q, &gamma) * 2.0);
                (q, Tensor::cat(parts.to_vec(), 2), s)
            })
            .collect();
        for (c, gamma) in gammas.iter().enumerate() {
            let y = one.clone().slice([0..w, 0..n, c..c + 1]);
            let tr = second.then(|| trace(&y, gamma));
            for slot in 0..3 {
                let mut parts = [zeros.clone(), zeros.clone(), zeros.clone()];
                spread(slot, 1.0, &gather(gamma.clone(), &sel[slot]), &mut parts);
                base.push((gather(y.clone(), &sel[slot]), Tensor::cat(parts.to_vec(), 2), tr.as_ref().map(|t| gather(t.clone(), &sel[slot]))));
            }
        }
        let (mut values, mut tangents, mut seconds) = (Vec::new(), Vec::new(), Vec::new());
        for slot in self.geometry.triple_slots() {
            // b^m, m b^{m−1} and m(m−1) b^{m−2} by products: burn's backward of `div_scalar`
            // and `powi_scalar` is not exact to f64 rounding.
            values.push(sum(slot.iter().map(|&(f, m)| power_of(&base[f].0, m))));
            let d1 = |b: &Tensor<3>, m: i32| if m == 1 { None } else { Some(power_of(b, m - 1) * m as f64) };
            tangents.push(sum(slot.iter().map(|&(f, m)| {
                let (b, u, _) = &base[f];
                d1(b, m).map_or(u.clone(), |d| u.clone() * d)
            })));
            if second {
                seconds.push(sum(slot.iter().map(|&(f, m)| {
                    let (b, u, s) = &base[f];
                    let s = s.clone().expect("asked for");
                    match d1(b, m) {
                        None => s,
                        Some(d) => s * d + (u.clone() * u.clone()).sum_dim(2) * power_of(b, m - 2) * (m * (m - 1)) as f64,
                    }
                })));
            }
        }
        Some(TripleInputs { sel, t: Tensor::cat(values, 2), tangents, second: seconds })
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

    /// S_θ(x) = Σ_i F(y_i, ρ_i) + Σ_{i≠j} U(z_ij) + Σ_{i<j<k} W(t_ijk) + ½c|x|² per walker ([walkers]).
    pub fn log_psi(&self, x: Tensor<3>) -> Tensor<1> {
        let [w, n, _] = x.dims();
        let quadratic = (x.clone() * x.clone()).sum_dim(2).sum_dim(1) * self.curvature() * 0.5; // [w, 1, 1]
        let Inputs { one, pairs, gammas } = self.inputs(x.clone());
        let kf = self.geometry.one_body_inputs();
        let triples = self.triple_inputs(&x, &one, &gammas, false);
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

    /// ΔS_θ(x) per walker ([walkers]), by the chain rule through the inputs z of every row of F,
    /// U and W (x_D the n·d coordinates; u_D = ∂z/∂x_D, g = ∇_z and H = ∇_z² of the row's network):
    ///
    /// ```text
    /// ΔS = Σ_rows [ Σ_D u_Dᵀ H u_D + g · Σ_D ∂²z/∂x_D² ] + n d c
    /// Σ_D ∂²q/∂x_D² = tr Q = α d − |γ|²   (one-body q; a pair's q_ij twice: it moves with r_i and r_j)
    /// Σ_D ∂²e^{−βq_ij}/∂x_D² = 2 (φ′ tr Q + φ″ |γ|²),   φ′ = −β e^{−βq}, φ″ = β² e^{−βq}
    /// ```
    ///
    /// with α = 2e^{−q}/ℓ². Σ_D uᵀHu is [`Potential::curvature_along`]'s forward-mode pass
    /// along the row's tangents: every coordinate for F (its densities move with all
    /// particles), the 2d coordinates of particles i and j for U, the 3d of i, j, k for W (its
    /// power sums' second derivatives are `TripleInputs`'). The same sums as the fused
    /// engine's exact Laplacian (`crate::quantum::fused::jastrow`), in burn ops, so E_L built from it is
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
        let triples = self.triple_inputs(&x, &one, &gammas, true);
        let ys: Vec<Tensor<3>> = (0..k).map(|a| one.clone().slice([0..w, 0..n, a..a + 1])).collect();
        let eye = Tensor::<2>::eye(n, &device).reshape([1, n, n, 1]);
        // F's rows: tangents [w, n (row i), n (particle p), d] per input, and Σ_D ∂²z/∂x_D².
        let mut tangents: Vec<Tensor<4>> = gammas.iter().map(|gamma| gamma.clone().reshape([w, n, 1, d]) * eye.clone()).collect();
        let mut second: Vec<Tensor<3>> = ys.iter().zip(&gammas).map(|(y, gamma)| trace(y.clone(), gamma)).collect();
        let mut lap = (self.curvature().reshape([1]) * (n * d) as f64).repeat_dim(0, w);
        if let (Some(net), Some(t)) = (&self.triple, triples) {
            let [_, m, kt] = t.t.dims();
            let dd = t.tangents[0].dims()[2];
            let flat = t.t.reshape([w * m, kt]);
            let u = Tensor::cat(t.tangents.into_iter().map(|u| u.reshape([w, m, dd, 1])).collect(), 3).reshape([w * m, dd, kt]);
            let chain = (net.gradient(flat.clone()) * Tensor::cat(t.second, 2).reshape([w * m, kt])).sum_dim(1);
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
        if let (Some(net), Some(t)) = (&self.triple, self.triple_inputs(&x, &one, &gammas, false)) {
            v = v + triple_drift(net, &t);
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
