//! The Jastrow gradient drift of [`crate::quantum::nn::Jastrow`] on a block of walkers: forward, reverse
//! and the exact Laplacian, by the chain rule through the distance features around the scalar
//! networks F (one-body), U (ordered pairs) and optionally W (triples), each a
//! [`PotentialParams`] whose own forward, reverse and Hessian products are those of
//! `super::potential`.
//!
//! Every network input is a sum z_s = Σ_{t ∈ s} φ_t(q_t) of terms, each a function of a feature
//! q_t = q(δ_t) = ln(1 + |δ_t|²/ℓ²) of a difference δ_t = r_a − r_b (a pair) or r_a − C_A (a
//! centre): φ(q) = q for the plain inputs (one term), φ(q) = e^{−βq} for the density inputs
//! ρ_iβ = Σ_{j≠i} e^{−β q_ij} of F (N − 1 terms). The three-body network W (`three_body`) has a
//! row per triple (i, j, k): ordered, with the plain inputs q_ij, q_ik, q_jk (the pair features
//! of those ordered pairs) and y_i, y_j, y_k; or i < j < k, with the power sums Σ q^m (φ(q) =
//! q^m, three terms) over the triangle's pair features and over its one-body features of each
//! centre, m = 1, 2, 3. With α = 2/(ℓ²(1 + |δ|²/ℓ²)), for one term:
//!
//! ```text
//! ∂q/∂r_a = γ = α δ = −∂q/∂r_b,        Q = ∂²q/∂δ² = α I − α² δ δᵀ,       tr Q = α d − α² |δ|²
//! forward   v_a += g_s φ'_t γ_t,  v_b −= the same            (g = ∇_z F or ∇_z U at the row)
//! reverse   z̄_s = Σ_t φ'_t γ_t·w_t,  w_t = v̄_a − v̄_b;   θ̄ += ∂_θ(z̄·g),  h = H z̄
//!           x̄_a += h_s φ'_t γ_t + g_s (φ'_t Q_t w_t + φ''_t γ_t (γ_t·w_t)),   x̄_b −= the same
//! Laplacian ΔS = Σ_rows [ Σ_{s,s'} H_ss' G_ss' + Σ_s g_s Σ_t (1 + [b_t]) (φ'_t tr Q_t + φ''_t |γ_t|²) ] + n c,
//!           G_ss' = Σ_{t ∈ s, t' ∈ s'} φ'_t φ'_t' Σ_p σ_tp σ_t'p γ_t·γ_t' = u_s·u_s',  u_s = Σ_{t ∈ s} φ'_t σ_t γ_t
//!           (σ_tp = +1 if p = a_t, −1 if p = b_t, else 0; u_s = ∂z_s/∂x over all particles)
//! ```
//!
//! H (the network's Hessian in its inputs, at most (1 + 2K)² entries) comes from one reverse
//! pass per input with a unit seed. The features and their derivatives are computed in f64;
//! the networks run in the kernel type F.

use super::potential::{PotentialCache, PotentialGrad, PotentialParams, PotentialScratch};
use crate::simd::real::Real;
use crate::quantum::nn::{Jastrow, JastrowGeometry};
use burn::module::ParamId;

/// One term φ(q_f) of a network input: its feature f (the index among the walker's features:
/// one-body i·K + A, then pair N·K + m; its particles are [`JastrowParams::ends`]) and φ.
#[derive(Debug, Clone, Copy)]
struct Input {
    feature: usize,
    phi: Phi,
}

/// φ of a term: q itself, a density bump e^{−βq}, or a power q^m (W's power sums).
#[derive(Debug, Clone, Copy)]
enum Phi {
    Plain,
    Decay(f64),
    Power(i32),
}

impl Input {
    fn plain(feature: usize) -> Self {
        Input { feature, phi: Phi::Plain }
    }

    /// (φ(q), φ'(q), φ''(q)) at walker w's q_f.
    #[inline(always)]
    fn phi(&self, features: &Features, w: usize) -> (f64, f64, f64) {
        let q = features.q(w, self.feature);
        match self.phi {
            Phi::Plain => (q, 1.0, 0.0),
            Phi::Decay(beta) => {
                let e = (-beta * q).exp();
                (e, -beta * e, beta * beta * e)
            }
            Phi::Power(m) => {
                let m_f = m as f64;
                // q^{m−2}, q^{m−1}, q^m by products (`powi` is a library call in the hot loop).
                let (p2, p1) = if m >= 2 {
                    let p2 = (2..m).fold(1.0, |acc, _| acc * q);
                    (p2, p2 * q)
                } else {
                    (0.0, 1.0)
                };
                (p1 * q, m_f * p1, m_f * (m_f - 1.0) * p2)
            }
        }
    }
}

/// The rows of one network per walker and the terms of each row's inputs.
#[derive(Debug, Clone)]
struct Table {
    rows: usize,
    width: usize,
    /// The terms of every input slot (rows × width slots), slot after slot.
    terms: Vec<Input>,
    /// Slot s holds `terms[starts[s]..starts[s + 1]]` (rows · width + 1 entries).
    starts: Vec<usize>,
}

impl Table {
    /// A table from the terms of each slot, row after row.
    fn new(rows: usize, width: usize, slots: Vec<Vec<Input>>) -> Self {
        debug_assert_eq!(slots.len(), rows * width);
        let mut starts = Vec::with_capacity(slots.len() + 1);
        starts.push(0);
        let mut terms = Vec::new();
        for slot in slots {
            terms.extend(slot);
            starts.push(terms.len());
        }
        Table { rows, width, terms, starts }
    }

    /// The terms of slot `slot` (row · width + input).
    #[inline(always)]
    fn slot(&self, slot: usize) -> &[Input] {
        &self.terms[self.starts[slot]..self.starts[slot + 1]]
    }
}

#[derive(Debug, Clone)]
pub(crate) struct JastrowParams<F = f64> {
    pub one_body: PotentialParams<F>,
    pub pair: PotentialParams<F>,
    /// W, the three-body network (`three_body`).
    pub triple: Option<PotentialParams<F>>,
    /// c = −ρ².
    pub skip: F,
    /// ρ, the parameter.
    pub skip_root: f64,
    pub skip_id: ParamId,
    geometry: JastrowGeometry,
    one: Table,
    pairs: Table,
    /// The triples' rows (none without W).
    triples: Table,
    /// The ordered pairs (i, j) of the pair features, in feature order.
    ordered: Vec<(usize, usize)>,
}

#[derive(Debug, Clone)]
pub(crate) struct JastrowGrad<F = f64> {
    pub one_body: PotentialGrad<F>,
    pub pair: PotentialGrad<F>,
    pub triple: Option<PotentialGrad<F>>,
    /// c̄ (the gradient of ρ is −2ρ c̄).
    pub skip: F,
}

/// Network inputs, their caches and input gradients g of one forward evaluation.
pub(crate) struct JastrowCache<F = f64> {
    one: PotentialCache<F>,
    pair: PotentialCache<F>,
    triple: Option<PotentialCache<F>>,
    /// Inputs (walkers · rows × width) and g = ∇_z of each network.
    y: Vec<F>,
    z: Vec<F>,
    t: Vec<F>,
    g_one: Vec<F>,
    g_pair: Vec<F>,
    g_triple: Vec<F>,
    /// The distance features of the forward evaluation, reused by `backward` and `terms`.
    features: Features,
}

impl<F> JastrowCache<F> {
    /// Values held.
    pub fn len(&self) -> usize {
        self.one.len() + self.pair.len() + self.triple.as_ref().map_or(0, |c| c.len()) + self.y.len() + self.z.len() + self.t.len() + self.g_one.len() + self.g_pair.len() + self.g_triple.len() + self.features.len()
    }
}

pub(crate) struct JastrowScratch<F = f64> {
    one: PotentialScratch<F>,
    pair: PotentialScratch<F>,
    triple: Option<PotentialScratch<F>>,
    /// z̄ and h = H z̄ of each network.
    y_bar: Vec<F>,
    z_bar: Vec<F>,
    t_bar: Vec<F>,
    h_one: Vec<F>,
    h_pair: Vec<F>,
    h_triple: Vec<F>,
}

/// q, α and δ of every feature of a block of walkers (walker-major, `per_walker` each).
#[derive(Default)]
struct Features {
    q: Vec<f64>,
    alpha: Vec<f64>,
    delta: Vec<f64>,
    dims: usize,
    per_walker: usize,
}

impl Features {
    /// Values reserved (the block size the cache was made for).
    fn len(&self) -> usize {
        self.q.capacity() + self.alpha.capacity() + self.delta.capacity()
    }

    fn with_capacity(features: usize, dims: usize) -> Self {
        Features { q: Vec::with_capacity(features), alpha: Vec::with_capacity(features), delta: Vec::with_capacity(features * dims), dims, per_walker: 0 }
    }

    fn gamma(&self, w: usize, f: usize) -> impl Iterator<Item = f64> + '_ {
        let k = w * self.per_walker + f;
        let alpha = self.alpha[k];
        self.delta[k * self.dims..(k + 1) * self.dims].iter().map(move |d| alpha * d)
    }

    fn delta(&self, w: usize, f: usize) -> &[f64] {
        let k = w * self.per_walker + f;
        &self.delta[k * self.dims..(k + 1) * self.dims]
    }

    fn alpha(&self, w: usize, f: usize) -> f64 {
        self.alpha[w * self.per_walker + f]
    }

    fn q(&self, w: usize, f: usize) -> f64 {
        self.q[w * self.per_walker + f]
    }
}

impl JastrowParams<f64> {
    pub fn from_module(m: &Jastrow) -> Self {
        let geometry = m.geometry.clone();
        let (n, k) = (geometry.particles, geometry.centre_count());
        let ordered = geometry.ordered_pairs();
        let mut slots = Vec::with_capacity(n * geometry.one_body_inputs());
        for i in 0..n {
            slots.extend((0..k).map(|c| vec![Input::plain(i * k + c)]));
            for &beta in &geometry.density {
                let terms = ordered.iter().enumerate().filter(|(_, p)| p.0 == i);
                slots.push(terms.map(|(m_row, _)| Input { feature: n * k + m_row, phi: Phi::Decay(beta) }).collect());
            }
        }
        let one = Table::new(n, geometry.one_body_inputs(), slots);
        let mut slots = Vec::with_capacity(ordered.len() * geometry.pair_inputs());
        for (m_row, &(i, j)) in ordered.iter().enumerate() {
            slots.push(vec![Input::plain(n * k + m_row)]);
            slots.extend((0..k).map(|c| vec![Input::plain(i * k + c)]));
            slots.extend((0..k).map(|c| vec![Input::plain(j * k + c)]));
        }
        let pairs = Table::new(ordered.len(), geometry.pair_inputs(), slots);
        // Triple rows (i, j, l): each input a sum of powers of the row's base features
        // (`JastrowGeometry::triple_slots`: q_ij, q_il, q_jl, then y of i, j, l per centre).
        let triple_rows = if m.triple.is_some() { geometry.triples() } else { Vec::new() };
        let triple_slots = geometry.triple_slots();
        let mut slots = Vec::with_capacity(triple_rows.len() * geometry.triple_inputs());
        for &(i, j, l) in &triple_rows {
            let base = |f: usize| match f {
                0 => pair_feature(n, k, i, j),
                1 => pair_feature(n, k, i, l),
                2 => pair_feature(n, k, j, l),
                f => [i, j, l][(f - 3) % 3] * k + (f - 3) / 3,
            };
            for slot in &triple_slots {
                slots.push(slot.iter().map(|&(f, power)| Input { feature: base(f), phi: if power == 1 { Phi::Plain } else { Phi::Power(power) } }).collect());
            }
        }
        let triples = Table::new(triple_rows.len(), geometry.triple_inputs(), slots);
        let root = crate::simd::dense::values(&m.skip)[0];
        JastrowParams {
            one_body: PotentialParams::from_module(&m.one_body),
            pair: PotentialParams::from_module(&m.pair),
            triple: m.triple.as_ref().map(PotentialParams::from_module),
            triples,
            skip: -root * root,
            skip_root: root,
            skip_id: m.skip.id,
            geometry,
            one,
            pairs,
            ordered,
        }
    }

    /// (S, v = ∇S, ΔS) of `rows` walkers (x: rows × n); ΔS only if `laplacian` (0 otherwise).
    pub fn terms(&self, x: &[f64], rows: usize, laplacian: bool) -> Vec<(f64, Vec<f64>, f64)> {
        let n = self.dim();
        let mut cache = self.cache(rows);
        let mut v = vec![0.0; rows * n];
        self.forward(x, &mut v, &mut cache, rows);
        let one_values = self.one_body.network_values(&cache.one, rows * self.one.rows);
        let pair_values = self.pair.network_values(&cache.pair, rows * self.pairs.rows);
        let triple_values = match (&self.triple, &cache.triple) {
            (Some(net), Some(c)) => net.network_values(c, rows * self.triples.rows),
            _ => Vec::new(),
        };
        let mut out: Vec<(f64, Vec<f64>, f64)> = (0..rows)
            .map(|w| {
                let xw = &x[w * n..(w + 1) * n];
                let s = one_values[w * self.one.rows..(w + 1) * self.one.rows].iter().sum::<f64>()
                    + pair_values[w * self.pairs.rows..(w + 1) * self.pairs.rows].iter().sum::<f64>()
                    + triple_values.get(w * self.triples.rows..(w + 1) * self.triples.rows).map_or(0.0, |v| v.iter().sum::<f64>())
                    + 0.5 * self.skip * xw.iter().map(|c| c * c).sum::<f64>();
                (s, v[w * n..(w + 1) * n].to_vec(), n as f64 * self.skip)
            })
            .collect();
        if !laplacian {
            return out;
        }
        let features = &cache.features;
        let d = self.geometry.dims;
        let mut parts = vec![(&self.one, &self.one_body, &cache.y, &cache.one, &cache.g_one), (&self.pairs, &self.pair, &cache.z, &cache.pair, &cache.g_pair)];
        if let (Some(net), Some(c)) = (&self.triple, &cache.triple) {
            parts.push((&self.triples, net, &cache.t, c, &cache.g_triple));
        }
        for (table, net, input, net_cache, g) in parts {
            if table.rows == 0 {
                continue;
            }
            let hessians = hessians(net, input, net_cache, rows * table.rows, table.width);
            let k = table.width;
            // u_s = ∂z_s/∂x = Σ_{t ∈ s} φ'_t σ_tp γ_t over the walker's particles p, one n-vector
            // per input, so that G_ss' = u_s·u_s'.
            let mut u = vec![0.0; k * n];
            for (w, o) in out.iter_mut().enumerate() {
                for r in 0..table.rows {
                    let row = w * table.rows + r;
                    u.fill(0.0);
                    for s in 0..k {
                        let us = &mut u[s * n..(s + 1) * n];
                        let gs = g[row * k + s];
                        for is in table.slot(r * k + s) {
                            // Σ_D ∂²φ/∂x_D² = φ' Δq + φ'' |∇q|² (Δq = tr Q, twice for a pair); u_s += φ' ∇q.
                            let f = is.feature;
                            let (_, d1, d2) = is.phi(features, w);
                            let (alpha, delta) = (features.alpha(w, f), features.delta(w, f));
                            let norm2: f64 = delta.iter().map(|c| c * c).sum();
                            let (a, b) = self.ends(f);
                            let blocks = if b.is_some() { 2.0 } else { 1.0 };
                            o.2 += gs * blocks * (d1 * (alpha * d as f64 - alpha * alpha * norm2) + d2 * alpha * alpha * norm2);
                            for (e, c) in delta.iter().enumerate() {
                                us[a * d + e] += d1 * alpha * c;
                                if let Some(b) = b {
                                    us[b * d + e] -= d1 * alpha * c;
                                }
                            }
                        }
                    }
                    let h = &hessians[row * k * k..(row + 1) * k * k];
                    for s in 0..k {
                        let us = &u[s * n..(s + 1) * n];
                        for t in 0..k {
                            let dot: f64 = us.iter().zip(&u[t * n..(t + 1) * n]).map(|(a, b)| a * b).sum();
                            o.2 += h[s * k + t] * dot;
                        }
                    }
                }
            }
        }
        out
    }
}

/// The index of the pair feature of the ordered pair (a, b), a ≠ b, among a walker's N·K
/// one-body and N(N − 1) pair features ([`JastrowParams::ends`] inverts it).
fn pair_feature(n: usize, k: usize, a: usize, b: usize) -> usize {
    n * k + a * (n - 1) + if b < a { b } else { b - 1 }
}

/// The network's Hessian in its `k` inputs at each of `rows` rows (row-major k × k per row),
/// one reverse pass per input with a unit seed, after `forward` filled `cache` at `input`.
fn hessians(net: &PotentialParams, input: &[f64], cache: &PotentialCache, rows: usize, k: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * k * k];
    let mut scratch = net.scratch(rows);
    let mut grad = net.grad_zeros::<f64>();
    let mut seed = vec![0.0; rows * k];
    let mut column = vec![0.0; rows * k];
    for t in 0..k {
        seed.iter_mut().enumerate().for_each(|(i, s)| *s = if i % k == t { 1.0 } else { 0.0 });
        column.fill(0.0);
        net.backward(input, cache, &mut scratch, &seed, &mut column, &mut grad, rows);
        for r in 0..rows {
            for s in 0..k {
                out[r * k * k + s * k + t] = column[r * k + s];
            }
        }
    }
    out
}

impl<F: Real> JastrowParams<F> {
    /// particles · dims.
    fn dim(&self) -> usize {
        self.geometry.particles * self.geometry.dims
    }

    /// The particles (a, b) of feature f: (i, None) for a centre's feature i·K + A, (i, j) for
    /// the pair feature N·K + m of the ordered pair m = (i, j).
    #[inline(always)]
    fn ends(&self, f: usize) -> (usize, Option<usize>) {
        let k = self.geometry.centre_count();
        let one = self.geometry.particles * k;
        if f < one {
            (f / k, None)
        } else {
            let (i, j) = self.ordered[f - one];
            (i, Some(j))
        }
    }

    /// The parameters cast to `G`.
    pub fn cast<G: Real>(&self) -> JastrowParams<G> {
        JastrowParams {
            one_body: self.one_body.cast(),
            pair: self.pair.cast(),
            triple: self.triple.as_ref().map(|t| t.cast()),
            skip: G::of(self.skip.f64()),
            skip_root: self.skip_root,
            skip_id: self.skip_id,
            geometry: self.geometry.clone(),
            one: self.one.clone(),
            pairs: self.pairs.clone(),
            triples: self.triples.clone(),
            ordered: self.ordered.clone(),
        }
    }

    pub fn grad_zeros<G: Real>(&self) -> JastrowGrad<G> {
        JastrowGrad { one_body: self.one_body.grad_zeros(), pair: self.pair.grad_zeros(), triple: self.triple.as_ref().map(|t| t.grad_zeros()), skip: G::ZERO }
    }

    pub fn cache(&self, walkers: usize) -> JastrowCache<F> {
        let (one, pair, triple) = (walkers * self.one.rows, walkers * self.pairs.rows, walkers * self.triples.rows);
        JastrowCache {
            one: self.one_body.cache(one),
            pair: self.pair.cache(pair),
            triple: self.triple.as_ref().map(|t| t.cache(triple)),
            y: vec![F::ZERO; one * self.one.width],
            z: vec![F::ZERO; pair * self.pairs.width],
            t: vec![F::ZERO; triple * self.triples.width],
            g_one: vec![F::ZERO; one * self.one.width],
            g_pair: vec![F::ZERO; pair * self.pairs.width],
            g_triple: vec![F::ZERO; triple * self.triples.width],
            features: Features::with_capacity(walkers * (self.geometry.particles * self.geometry.centre_count() + self.pairs.rows), self.geometry.dims),
        }
    }

    pub fn scratch(&self, walkers: usize) -> JastrowScratch<F> {
        let (one, pair, triple) = (walkers * self.one.rows, walkers * self.pairs.rows, walkers * self.triples.rows);
        JastrowScratch {
            one: self.one_body.scratch(one),
            pair: self.pair.scratch(pair),
            triple: self.triple.as_ref().map(|t| t.scratch(triple)),
            y_bar: vec![F::ZERO; one * self.one.width],
            z_bar: vec![F::ZERO; pair * self.pairs.width],
            t_bar: vec![F::ZERO; triple * self.triples.width],
            h_one: vec![F::ZERO; one * self.one.width],
            h_pair: vec![F::ZERO; pair * self.pairs.width],
            h_triple: vec![F::ZERO; triple * self.triples.width],
        }
    }

    /// The layer widths of both networks.
    pub fn layout(&self) -> Vec<usize> {
        let nets: Vec<&PotentialParams<F>> = [&self.one_body, &self.pair].into_iter().chain(self.triple.as_ref()).collect();
        nets.iter().flat_map(|p| p.hidden.iter().chain([&p.output]).flat_map(|l| [l.d_in, l.d_out])).collect()
    }

    /// q, α, δ of every feature of `walkers` walkers (one-body first, then the ordered pairs),
    /// into `f` (its buffers reused).
    fn features(&self, x: &[F], walkers: usize, f: &mut Features) {
        let g = &self.geometry;
        let (n, d, k) = (g.particles, g.dims, g.centre_count());
        let per_walker = n * k + self.pairs.rows;
        f.q.clear();
        f.alpha.clear();
        f.delta.clear();
        f.dims = d;
        f.per_walker = per_walker;
        let inv_l2 = 1.0 / (g.length * g.length);
        let push = |f: &mut Features, delta: &mut dyn Iterator<Item = f64>| {
            let start = f.delta.len();
            f.delta.extend(delta);
            let t = f.delta[start..].iter().map(|c| c * c).sum::<f64>() * inv_l2;
            f.q.push(t.ln_1p());
            f.alpha.push(2.0 * inv_l2 / (1.0 + t));
        };
        for w in 0..walkers {
            let xw = &x[w * n * d..(w + 1) * n * d];
            for i in 0..n {
                for c in &g.centres {
                    push(f, &mut (0..d).map(|e| xw[i * d + e].f64() - c[e]));
                }
            }
            // (i, j) with j < i is (j, i) mirrored: the same q and α (bit for bit), −δ.
            for &(i, j) in &self.ordered {
                if j < i {
                    let mirror = w * per_walker + pair_feature(n, k, j, i);
                    f.q.push(f.q[mirror]);
                    f.alpha.push(f.alpha[mirror]);
                    f.delta.extend_from_within(mirror * d..(mirror + 1) * d);
                    let start = f.delta.len() - d;
                    f.delta[start..].iter_mut().for_each(|c| *c = -*c);
                } else {
                    push(f, &mut (0..d).map(|e| xw[i * d + e].f64() - xw[j * d + e].f64()));
                }
            }
        }
    }

    /// v = ∇S(x) for `walkers` walkers.
    #[inline(always)]
    pub fn forward(&self, x: &[F], v: &mut [F], cache: &mut JastrowCache<F>, walkers: usize) {
        let mut features = std::mem::take(&mut cache.features);
        self.features(x, walkers, &mut features);
        let d = self.geometry.dims;
        let n = self.dim();
        for (table, input) in [(&self.one, &mut cache.y), (&self.pairs, &mut cache.z), (&self.triples, &mut cache.t)] {
            let slots = table.rows * table.width;
            for w in 0..walkers {
                for slot in 0..slots {
                    let z: f64 = table.slot(slot).iter().map(|is| is.phi(&features, w).0).sum();
                    input[w * slots + slot] = F::of(z);
                }
            }
        }
        self.one_body.forward(&cache.y, &mut cache.g_one, &mut cache.one, walkers * self.one.rows);
        if self.pairs.rows > 0 {
            self.pair.forward(&cache.z, &mut cache.g_pair, &mut cache.pair, walkers * self.pairs.rows);
        }
        if let (Some(net), Some(c)) = (&self.triple, cache.triple.as_mut()) {
            net.forward(&cache.t, &mut cache.g_triple, c, walkers * self.triples.rows);
        }
        for (v, x) in v[..walkers * n].iter_mut().zip(x) {
            *v = self.skip * *x;
        }
        // v_a += c_f γ_f, v_b −= c_f γ_f once per feature f, with c_f = Σ_{terms t on f} g_s φ'_t.
        let mut coefficient = vec![0.0; features.per_walker];
        for w in 0..walkers {
            coefficient.fill(0.0);
            for (table, g) in [(&self.one, &cache.g_one), (&self.pairs, &cache.g_pair), (&self.triples, &cache.g_triple)] {
                let slots = table.rows * table.width;
                for slot in 0..slots {
                    let gs = g[w * slots + slot].f64();
                    for is in table.slot(slot) {
                        coefficient[is.feature] += gs * is.phi(&features, w).1;
                    }
                }
            }
            let vw = &mut v[w * n..(w + 1) * n];
            for (f, &c) in coefficient.iter().enumerate() {
                if c == 0.0 {
                    continue;
                }
                let (a, b) = self.ends(f);
                for (e, gamma) in features.gamma(w, f).enumerate() {
                    vw[a * d + e] += F::of(c * gamma);
                    if let Some(b) = b {
                        vw[b * d + e] -= F::of(c * gamma);
                    }
                }
            }
        }
        cache.features = features;
    }

    /// x̄ += ∇²S v̄ and θ̄ += ∂_θ(v̄·∇S), after `forward` filled `cache` at `x`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn backward(&self, x: &[F], cache: &JastrowCache<F>, scratch: &mut JastrowScratch<F>, v_bar: &[F], x_bar: &mut [F], grad: &mut JastrowGrad<F>, walkers: usize) {
        let n = self.dim();
        let d = self.geometry.dims;
        for ((vb, xv), xb) in v_bar[..walkers * n].iter().zip(x).zip(x_bar.iter_mut()) {
            grad.skip += *vb * *xv;
            *xb += self.skip * *vb;
        }
        let features = &cache.features;
        let per_walker = features.per_walker;
        // w_f = v̄_a − v̄_b of feature f (v̄_a alone for a centre's feature).
        let relative = |w: usize, f: usize, e: usize| {
            let (a, b) = self.ends(f);
            v_bar[w * n + a * d + e].f64() - b.map_or(0.0, |b| v_bar[w * n + b * d + e].f64())
        };
        // z̄_s = Σ_t φ'_t (γ_t·w_t), with γ_f·w_f once per feature.
        let mut dots = vec![0.0; per_walker];
        for w in 0..walkers {
            for (f, dot) in dots.iter_mut().enumerate() {
                *dot = features.gamma(w, f).enumerate().map(|(e, gamma)| gamma * relative(w, f, e)).sum();
            }
            for (table, bar) in [(&self.one, &mut scratch.y_bar), (&self.pairs, &mut scratch.z_bar), (&self.triples, &mut scratch.t_bar)] {
                let slots = table.rows * table.width;
                for slot in 0..slots {
                    let sum: f64 = table.slot(slot).iter().map(|is| is.phi(features, w).1 * dots[is.feature]).sum();
                    bar[w * slots + slot] = F::of(sum);
                }
            }
        }
        scratch.h_one.fill(F::ZERO);
        self.one_body.backward(&cache.y, &cache.one, &mut scratch.one, &scratch.y_bar, &mut scratch.h_one, &mut grad.one_body, walkers * self.one.rows);
        if self.pairs.rows > 0 {
            scratch.h_pair.fill(F::ZERO);
            self.pair.backward(&cache.z, &cache.pair, &mut scratch.pair, &scratch.z_bar, &mut scratch.h_pair, &mut grad.pair, walkers * self.pairs.rows);
        }
        if let (Some(net), Some(c), Some(t), Some(g)) = (&self.triple, &cache.triple, scratch.triple.as_mut(), grad.triple.as_mut()) {
            scratch.h_triple.fill(F::ZERO);
            net.backward(&cache.t, c, t, &scratch.t_bar, &mut scratch.h_triple, g, walkers * self.triples.rows);
        }
        // x̄ of every term t on feature f (v̄ and w as above, along = δ·w):
        //   h_s φ' α δ + g_s (φ' (α w − α² along δ) + φ'' α² along δ),
        // summed per feature first: A_f = Σ h_s φ'_t, B_f = Σ g_s φ'_t, C_f = Σ g_s φ''_t.
        let mut sums = vec![[0.0; 3]; per_walker];
        let mut wv = vec![0.0; d];
        for w in 0..walkers {
            sums.fill([0.0; 3]);
            for (table, g, h) in [(&self.one, &cache.g_one, &scratch.h_one), (&self.pairs, &cache.g_pair, &scratch.h_pair), (&self.triples, &cache.g_triple, &scratch.h_triple)] {
                let slots = table.rows * table.width;
                for slot in 0..slots {
                    let (gs, hs) = (g[w * slots + slot].f64(), h[w * slots + slot].f64());
                    for is in table.slot(slot) {
                        let (_, d1, d2) = is.phi(features, w);
                        let sum = &mut sums[is.feature];
                        sum[0] += hs * d1;
                        sum[1] += gs * d1;
                        sum[2] += gs * d2;
                    }
                }
            }
            for (f, &[big_a, big_b, big_c]) in sums.iter().enumerate() {
                if big_a == 0.0 && big_b == 0.0 && big_c == 0.0 {
                    continue;
                }
                let (alpha, delta) = (features.alpha(w, f), features.delta(w, f));
                for (e, r) in wv.iter_mut().enumerate() {
                    *r = relative(w, f, e);
                }
                let along: f64 = delta.iter().zip(&wv).map(|(a, b)| a * b).sum();
                let (a, b) = self.ends(f);
                for e in 0..d {
                    let value = big_a * alpha * delta[e] + big_b * (alpha * wv[e] - alpha * alpha * along * delta[e]) + big_c * alpha * alpha * along * delta[e];
                    x_bar[w * n + a * d + e] += F::of(value);
                    if let Some(b) = b {
                        x_bar[w * n + b * d + e] -= F::of(value);
                    }
                }
            }
        }
    }
}

impl<F: Real> JastrowGrad<F> {
    pub fn zero(&mut self) {
        self.one_body.zero();
        self.pair.zero();
        if let Some(t) = self.triple.as_mut() {
            t.zero();
        }
        self.skip = F::ZERO;
    }

    /// self += other (converting).
    pub fn add<G: Real>(&mut self, other: &JastrowGrad<G>) {
        self.one_body.add(&other.one_body);
        self.pair.add(&other.pair);
        if let (Some(a), Some(b)) = (self.triple.as_mut(), other.triple.as_ref()) {
            a.add(b);
        }
        self.skip += F::of(other.skip.f64());
    }
}

#[cfg(test)]
mod tests {
    use crate::quantum::fused::FlatDrift;
    use crate::quantum::fused::tests::{Kind, autodiff_device, bosons, h2, network};
    use crate::base::noise::Noise;

    /// x with particles i and j exchanged.
    fn swapped(x: &[f64], i: usize, j: usize, d: usize) -> Vec<f64> {
        let mut y = x.to_vec();
        for e in 0..d {
            y.swap(i * d + e, j * d + e);
        }
        y
    }

    /// burn's S_θ ([`DriftNet::log_psi`], what the VMC stage differentiates in θ) equals the fused
    /// engine's S, and its x-gradient by burn's autodiff equals the drift v = ∇S_θ of both.
    #[test]
    fn burn_log_psi_matches_the_fused_s_and_its_gradient_is_the_drift() {
        use burn::tensor::{Tensor, TensorData};
        let device = autodiff_device();
        let mut noise = Noise::new(8);
        for (system, kind) in [(h2(false), Kind::Jastrow), (bosons(), Kind::JastrowDensity), (bosons(), Kind::JastrowThree), (bosons(), Kind::JastrowPowerSums), (bosons(), Kind::Gradient), (h2(false), Kind::Gradient)] {
            let net = network(kind, &system, &mut noise, &device);
            let drift = FlatDrift::new(&net, &system);
            let (n, d, w) = (system.particles(), system.dims(), 5);
            let x = noise.standard_normals(w * n * d);
            let xt = Tensor::<3>::from_data(TensorData::new(x.clone(), [w, n, d]), &device).require_grad();
            let s = net.log_psi(xt.clone()).expect("a gradient drift");
            let s_values = s.clone().into_data().try_into_vec_as::<f64>().unwrap();
            let grads = s.sum().backward();
            let gx = xt.grad(&grads).expect("an x-gradient").into_data().try_into_vec_as::<f64>().unwrap();
            let v = net.forward(xt.detach()).into_data().try_into_vec_as::<f64>().unwrap();
            for k in 0..w {
                let t = drift.local_terms(&x[k * n * d..(k + 1) * n * d]);
                let fused = t.log_psi.unwrap();
                assert!((s_values[k] - fused).abs() < 1e-12 * (1.0 + fused.abs()), "{kind:?}: burn S {} vs fused {fused}", s_values[k]);
            }
            for (a, b) in gx.iter().zip(&v) {
                assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()), "{kind:?}: ∇S {a} vs v {b}");
            }
        }
    }

    /// Exchanging identical particles leaves log ψ_T and E_L unchanged and permutes the drift.
    #[test]
    fn exchange_leaves_s_unchanged_and_permutes_the_drift() {
        let device = autodiff_device();
        let mut noise = Noise::new(21);
        for (system, kind) in [(bosons(), Kind::Jastrow), (h2(true), Kind::Jastrow), (bosons(), Kind::JastrowDensity), (bosons(), Kind::JastrowThree), (bosons(), Kind::JastrowPowerSums)] {
            let net = network(kind, &system, &mut noise, &device);
            let drift = FlatDrift::new(&net, &system);
            let (n, d) = (system.particles(), system.dims());
            for _ in 0..3 {
                let x = noise.standard_normals(n * d);
                let a = drift.local_terms(&x);
                for (i, j) in [(0, 1), (0, n - 1)] {
                    let b = drift.local_terms(&swapped(&x, i, j, d));
                    let (sa, sb) = (a.log_psi.unwrap(), b.log_psi.unwrap());
                    assert!((sa - sb).abs() < 1e-12 * (1.0 + sa.abs()), "S {sa} vs swapped {sb}");
                    assert!((a.local_energy - b.local_energy).abs() < 1e-9 * (1.0 + a.local_energy.abs()), "E_L changed under exchange");
                    let permuted = swapped(&a.v, i, j, d);
                    for (p, q) in permuted.iter().zip(&b.v) {
                        assert!((p - q).abs() < 1e-12 * (1.0 + p.abs()), "drift not permuted: {p} vs {q}");
                    }
                }
            }
        }
    }

    /// Kato cusps at coalescence (REFERENCE.md): the learned terms are even in every difference,
    /// so the radial derivative of log ψ_T averaged over ±n is the prior's: +½ between the
    /// electrons, −Z at a nucleus; E_L stays finite there.
    #[test]
    fn cusps_at_coalescence() {
        let device = autodiff_device();
        let mut noise = Noise::new(4);
        let system = h2(true);
        let net = network(Kind::Jastrow, &system, &mut noise, &device);
        let drift = FlatDrift::new(&net, &system);
        // Above the 1e-6 floor of the prior's |r| (R_MIN_SQ in physics::molecule).
        let eps = 1e-5;
        for _ in 0..4 {
            let centre = noise.standard_normals(3);
            let n: Vec<f64> = {
                let r = noise.standard_normals(3);
                let norm = r.iter().map(|c| c * c).sum::<f64>().sqrt();
                r.iter().map(|c| c / norm).collect()
            };
            // Electron–electron: x_{1,2} = centre ± ε n/2; ∂ log ψ/∂r_12 = ½(v_1 − v_2)·n.
            let x: Vec<f64> = (0..6).map(|k| centre[k % 3] + if k < 3 { 0.5 } else { -0.5 } * eps * n[k % 3]).collect();
            let t = drift.local_terms(&x);
            let radial: f64 = (0..3).map(|e| 0.5 * (t.v[e] - t.v[3 + e]) * n[e]).sum();
            assert!((radial - 0.5).abs() < 1e-4, "electron-electron cusp {radial}, expected 1/2");
            assert!(t.local_energy.is_finite() && t.local_energy.abs() < 1e3, "E_L at electron coalescence {}", t.local_energy);
            // Electron 1 at nucleus A (0, 0, 0.7) ± ε n, electron 2 elsewhere.
            let at = |sign: f64| {
                let mut x = vec![0.0, 0.0, 0.7, centre[0], centre[1], centre[2]];
                for e in 0..3 {
                    x[e] += sign * eps * n[e];
                }
                drift.local_terms(&x)
            };
            let (up, down) = (at(1.0), at(-1.0));
            let average: f64 = (0..3).map(|e| 0.5 * (up.v[e] - down.v[e]) * n[e]).sum();
            assert!((average + 1.0).abs() < 1e-4, "nuclear cusp {average}, expected -Z = -1");
            assert!(up.local_energy.abs() < 1e3, "E_L at the nucleus {}", up.local_energy);
        }
    }
}
