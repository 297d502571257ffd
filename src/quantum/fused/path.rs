//! The time loop over a block of walkers: the integrator tableau (see [`crate::path::integrators`]),
//! the Feynman–Kac functional, and the reverse pass through time.
//!
//! Forward (one step, stages i = 0..s, H_0 = X_n):
//!
//! ```text
//! H_i = X_n + h Σ_{j<i} A_ij a(H_j) + b^W_i ΔW_n + b^χ_i χ_n,   a = drift network + prior
//! X_{n+1} = X_n + ΔW_n + h Σ_i α_i a(H_i)
//! ℓ(w) = Σ_n [(V(X_n) + ½|a(X_n)|²) Δt + a(X_n)·ΔW_n]
//! L = mean_w ℓ(w)/T − mean_w sg(a(X_N))·X_N / T
//! ```
//!
//! Reverse, with λ_n = ∂L/∂X_n, λ_N = −sg(a(X_N))/(W T):
//!
//! ```text
//! ā_i = h α_i λ_{n+1};   ā_0 += (a(X_n) Δt + ΔW_n)/(W T)
//! for i = s−1 … 0:  H̄_i = J_a(H_i)ᵀ ā_i (and θ̄ += ∂_θ),  ā_j += h A_ij H̄_i (j < i)
//! λ_n = λ_{n+1} + Σ_i H̄_i + ∇V(X_n) Δt/(W T)
//! ```
//!
//! The reverse pass needs, per step, the stage states and the network activations. They are
//! kept for one *segment* of steps at a time (step-level checkpointing, Griewank & Walther,
//! *Evaluating Derivatives*, 2008, ch. 12): the forward pass stores only X_n for every step (and
//! the activations of the last segment); the reverse pass recomputes each earlier segment's
//! activations from its first X_n with the same noise before going back through it. Memory per
//! block: O(segment · stages · walkers · activations) instead of O(N · …), for one extra forward
//! pass over all but the last segment; the results are bit-identical (same operations in the
//! same order). Segment 0 keeps every step.
//!
//! All buffers live in a [`Workspace`] per thread, reused across blocks and iterations: the
//! time loop allocates nothing.

use crate::simd::real::{Real, cast};
use super::{FlatDrift, NetCache, NetGrad, NetScratch};
use crate::path::integrators::Tableau;

/// Noise of a whole batch, standard normals in the order the [`crate::base::noise::Noise`] stream
/// gives them to the burn engine: `[step][normal][walker][particle·dim]`.
pub(crate) struct Normals<'a> {
    pub values: &'a [f64],
    pub per_step: usize,
    pub walkers: usize,
    pub dim: usize,
}

impl Normals<'_> {
    /// ξ_k of step `n` for walkers w0..w0 + count.
    #[inline(always)]
    fn slice(&self, n: usize, k: usize, w0: usize, count: usize) -> &[f64] {
        let start = ((n * self.per_step + k) * self.walkers + w0) * self.dim;
        &self.values[start..start + count * self.dim]
    }
}

/// Integration settings.
#[derive(Clone, Copy)]
pub(crate) struct Scheme<'a> {
    pub tableau: &'a Tableau,
    pub dt: f64,
}

impl Scheme<'_> {
    fn stages(&self) -> usize {
        self.tableau.alpha.len()
    }
    fn uses_chi(&self) -> bool {
        self.tableau.stage_chi.iter().any(|c| *c != 0.0)
    }
}

/// Stage states, drifts, adjoints and network caches of one step for one block.
pub(crate) struct Stages<F: Real = f64> {
    x: Vec<Vec<F>>,
    v: Vec<Vec<F>>,
    bar: Vec<Vec<F>>,
    h_bar: Vec<F>,
    caches: Vec<NetCache<F>>,
    scratch: NetScratch<F>,
    dw: Vec<F>,
    chi: Vec<F>,
}

/// What the reverse pass needs of one step: stage states, drifts, network activations, ΔW.
pub(crate) struct StepRecord<F: Real = f64> {
    x: Vec<Vec<F>>,
    v: Vec<Vec<F>>,
    caches: Vec<NetCache<F>>,
    dw: Vec<F>,
}

impl<F: Real> StepRecord<F> {
    fn new(drift: &FlatDrift<F>, scheme: Scheme, walkers: usize) -> Self {
        let n = walkers * drift.dim();
        let s = scheme.stages();
        StepRecord {
            x: vec![vec![F::ZERO; n]; s],
            v: vec![vec![F::ZERO; n]; s],
            caches: (0..s).map(|_| drift.cache(walkers)).collect(),
            dw: vec![F::ZERO; n],
        }
    }

    /// Exchanges the step's buffers with the working ones of `stages`.
    fn swap(&mut self, stages: &mut Stages<F>) {
        std::mem::swap(&mut self.x, &mut stages.x);
        std::mem::swap(&mut self.v, &mut stages.v);
        std::mem::swap(&mut self.caches, &mut stages.caches);
        std::mem::swap(&mut self.dw, &mut stages.dw);
    }
}

impl<F: Real> Stages<F> {
    pub fn new(drift: &FlatDrift<F>, scheme: Scheme, walkers: usize) -> Self {
        let n = walkers * drift.dim();
        let s = scheme.stages();
        Stages {
            x: vec![vec![F::ZERO; n]; s],
            v: vec![vec![F::ZERO; n]; s],
            bar: vec![vec![F::ZERO; n]; s],
            h_bar: vec![F::ZERO; n],
            caches: (0..s).map(|_| drift.cache(walkers)).collect(),
            scratch: drift.scratch(walkers),
            dw: vec![F::ZERO; n],
            chi: vec![F::ZERO; n],
        }
    }

    /// Stage 0 at `x` and the remaining stages of one step with noise ξ₁ (and ξ₂), for the
    /// first `n` = walkers · dim values.
    #[inline(always)]
    fn forward(&mut self, drift: &FlatDrift<F>, scheme: Scheme, x: &[F], xi1: &[f64], xi2: Option<&[f64]>, walkers: usize) {
        let t = scheme.tableau;
        let h = scheme.dt;
        let sqrt_h = h.sqrt();
        for (dw, z) in self.dw.iter_mut().zip(xi1) {
            *dw = F::of(z * sqrt_h);
        }
        if let Some(xi2) = xi2 {
            // χ = (ΔW + ξ₂ √h/√3)/2, formed in f64 from the same normals as ΔW.
            let c = sqrt_h / 3f64.sqrt();
            for ((chi, z1), z2) in self.chi.iter_mut().zip(xi1).zip(xi2) {
                *chi = F::of((z1 * sqrt_h + z2 * c) * 0.5);
            }
        }
        self.x[0].copy_from_slice(x);
        drift.forward(&self.x[0], &mut self.v[0], &mut self.caches[0], walkers);
        for i in 1..t.alpha.len() {
            let (done, rest) = self.x.split_at_mut(i);
            let hi = &mut rest[0];
            hi.copy_from_slice(&done[0]);
            for (j, a_ij) in t.a[i].iter().enumerate() {
                if *a_ij != 0.0 {
                    crate::simd::dense::axpy(hi, F::of(h * a_ij), &self.v[j]);
                }
            }
            if t.stage_dw[i] != 0.0 {
                crate::simd::dense::axpy(hi, F::of(t.stage_dw[i]), &self.dw);
            }
            if xi2.is_some() && t.stage_chi[i] != 0.0 {
                crate::simd::dense::axpy(hi, F::of(t.stage_chi[i]), &self.chi);
            }
            drift.forward(&self.x[i], &mut self.v[i], &mut self.caches[i], walkers);
        }
    }

    /// X_{n+1} = X_n + ΔW + h Σ α_i a(H_i).
    #[inline(always)]
    fn advance(&self, scheme: Scheme, next: &mut [F]) {
        for ((y, x), dw) in next.iter_mut().zip(&self.x[0]).zip(&self.dw) {
            *y = *x + *dw;
        }
        for (i, alpha) in scheme.tableau.alpha.iter().enumerate() {
            if *alpha != 0.0 {
                crate::simd::dense::axpy(next, F::of(scheme.dt * alpha), &self.v[i]);
            }
        }
    }

    /// Per walker (V(X_n) + ½|a(X_n)|², a(X_n)·ΔW_n) after [`Stages::forward`] at `x`.
    #[inline(always)]
    fn running_terms(&self, drift: &FlatDrift<F>, x: &[F], walker: usize) -> (F, F) {
        let dim = drift.dim();
        let r = walker * dim..(walker + 1) * dim;
        let v = &self.v[0][r.clone()];
        let kinetic = F::of(0.5) * v.iter().map(|a| *a * *a).sum::<F>();
        let martingale = v.iter().zip(&self.dw[r.clone()]).map(|(a, b)| *a * *b).sum::<F>();
        (drift.system.potential(&x[r], None) + kinetic, martingale)
    }
}

/// The buffers of [`train_block`] for blocks of one size, kept by a thread across blocks and
/// iterations.
pub(crate) struct Workspace<F: Real = f64> {
    /// (walkers, steps, records, dim, stages, network layout) the buffers were made for.
    shape: (usize, usize, usize, usize, usize, Vec<usize>),
    stages: Stages<F>,
    records: Vec<StepRecord<F>>,
    /// X_n for every step n = 0..=N.
    xs: Vec<F>,
    lambda: Vec<F>,
    grad: NetGrad<F>,
}

impl<F: Real> Workspace<F> {
    /// A workspace for blocks of `walkers`, `steps` steps and `records` kept steps.
    fn new(drift: &FlatDrift<F>, scheme: Scheme, walkers: usize, steps: usize, records: usize) -> Self {
        let n = walkers * drift.dim();
        Workspace {
            shape: (walkers, steps, records, drift.dim(), scheme.stages(), drift.layout()),
            stages: Stages::new(drift, scheme, walkers),
            records: (0..records).map(|_| StepRecord::new(drift, scheme, walkers)).collect(),
            xs: vec![F::ZERO; (steps + 1) * n],
            lambda: vec![F::ZERO; n],
            grad: drift.grad_zeros(),
        }
    }

    /// Makes `slot` fit (rebuilding it only when the shape changed).
    pub fn ensure(slot: &mut Option<Self>, drift: &FlatDrift<F>, scheme: Scheme, walkers: usize, steps: usize, records: usize) {
        let shape = (walkers, steps, records, drift.dim(), scheme.stages(), drift.layout());
        if slot.as_ref().is_none_or(|w| w.shape != shape) {
            *slot = Some(Self::new(drift, scheme, walkers, steps, records));
        }
    }

    /// Whether this workspace was made for paths of `steps` steps kept in segments of `segment`.
    pub fn made_for(&self, steps: usize, segment: usize) -> bool {
        self.shape.1 == steps && self.shape.2 == segment_length(segment, steps)
    }

    /// Bytes held by the per-step records (what checkpointing bounds).
    pub fn record_bytes(&self) -> usize {
        let floats = |r: &StepRecord<F>| {
            r.x.iter().chain(&r.v).map(Vec::len).sum::<usize>() + r.dw.len() + r.caches.iter().map(NetCache::len).sum::<usize>()
        };
        self.records.iter().map(floats).sum::<usize>() * std::mem::size_of::<F>()
    }
}

/// Steps kept per segment: `segment`, or all `steps` for 0.
pub(crate) fn segment_length(segment: usize, steps: usize) -> usize {
    if segment == 0 { steps } else { segment.min(steps) }
}

/// What one block contributes to a training step.
pub(crate) struct TrainBlock {
    /// Σ_w ℓ(w).
    pub ell: f64,
    /// Σ_w a(X_N)·X_N.
    pub end: f64,
    pub grad: NetGrad,
    pub x_final: Vec<f64>,
}

/// Loss terms and gradients for walkers w0..w0 + count of a batch of `normals.walkers`, keeping
/// the activations of `segment` steps at a time (0: all) in `ws` (made to fit if needed).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_block<F: Real>(
    drift: &FlatDrift<F>,
    scheme: Scheme,
    steps: usize,
    boundary: bool,
    segment: usize,
    x0: &[f64],
    normals: &Normals,
    w0: usize,
    count: usize,
    ws: &mut Option<Workspace<F>>,
) -> TrainBlock {
    let dim = drift.dim();
    let n = count * dim;
    let seg = segment_length(segment, steps);
    Workspace::ensure(ws, drift, scheme, count, steps, seg);
    let Workspace { stages: st, records, xs, lambda, grad, .. } = ws.as_mut().expect("workspace made above");
    let dt = scheme.dt;
    let chi = scheme.uses_chi();
    let noise = |step: usize| (normals.slice(step, 0, w0, count), chi.then(|| normals.slice(step, 1, w0, count)));
    for (x, v) in xs[..n].iter_mut().zip(x0) {
        *x = F::of(*v);
    }
    // Forward through the whole path, keeping the records of the last segment.
    let last = steps.saturating_sub(1) / seg * seg;
    let mut ell = 0.0;
    for step in 0..steps {
        let (past, future) = xs.split_at_mut((step + 1) * n);
        let x = &past[step * n..];
        let (xi1, xi2) = noise(step);
        st.forward(drift, scheme, x, xi1, xi2, count);
        for w in 0..count {
            let (running, martingale) = st.running_terms(drift, x, w);
            ell += running.f64() * dt + martingale.f64();
        }
        st.advance(scheme, &mut future[..n]);
        if step >= last {
            records[step - last].swap(st);
        }
    }
    let x_final = &xs[steps * n..];
    let walkers = normals.walkers as f64;
    let horizon = steps as f64 * dt;
    lambda.fill(F::ZERO);
    let mut end = 0.0;
    if boundary {
        let v_end = &mut st.v[0];
        drift.forward(x_final, v_end, &mut st.caches[0], count);
        end = v_end.iter().zip(x_final).map(|(a, b)| (*a * *b).f64()).sum();
        let c = F::of(1.0 / (walkers * horizon));
        for (l, v) in lambda.iter_mut().zip(v_end.iter()) {
            *l = -*v * c;
        }
    }
    let c_running = F::of(dt / (walkers * horizon));
    let c_martingale = F::of(1.0 / (walkers * horizon));
    grad.zero();
    let t = scheme.tableau;
    for start in (0..steps).step_by(seg).rev() {
        let end_step = (start + seg).min(steps);
        if start != last {
            // Recompute this segment's records from its first state.
            for step in start..end_step {
                let (xi1, xi2) = noise(step);
                st.forward(drift, scheme, &xs[step * n..(step + 1) * n], xi1, xi2, count);
                records[step - start].swap(st);
            }
        }
        for step in (start..end_step).rev() {
            let x = &xs[step * n..(step + 1) * n];
            records[step - start].swap(st);
            for (i, alpha) in t.alpha.iter().enumerate() {
                let c = F::of(dt * alpha);
                for (b, l) in st.bar[i].iter_mut().zip(lambda.iter()) {
                    *b = c * *l;
                }
            }
            for ((b, v), dw) in st.bar[0].iter_mut().zip(&st.v[0]).zip(&st.dw) {
                *b += c_running * *v + c_martingale * *dw;
            }
            for w in 0..count {
                let r = w * dim..(w + 1) * dim;
                drift.system.potential(&x[r.clone()], Some((&mut lambda[r], c_running)));
            }
            for i in (0..t.alpha.len()).rev() {
                st.h_bar.fill(F::ZERO);
                drift.backward(&st.x[i], &st.caches[i], &mut st.scratch, &st.bar[i], &mut st.h_bar, grad, count);
                for (j, a_ij) in t.a[i].iter().enumerate() {
                    if *a_ij != 0.0 {
                        crate::simd::dense::axpy(&mut st.bar[j], F::of(dt * a_ij), &st.h_bar);
                    }
                }
                crate::simd::dense::axpy(lambda, F::ONE, &st.h_bar);
            }
        }
    }
    let mut total = drift.grad_zeros();
    total.add(grad);
    TrainBlock { ell, end, grad: total, x_final: cast(x_final) }
}

/// What one block of an evaluation path returns.
pub(crate) struct EvalBlock {
    /// Per walker Σ_n (V + ½|v|²).
    pub running: Vec<f64>,
    /// Per walker Σ_n v·ΔW.
    pub martingale: Vec<f64>,
    /// Per step Σ_w (V + ½|v|²).
    pub series: Vec<f64>,
    pub x_final: Vec<f64>,
}

/// Forward only: `steps` steps from `x0` for walkers w0..w0 + count; with `measure`, the
/// path functional's pieces.
#[inline(always)]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
pub(crate) fn eval_block<F: Real>(
    drift: &FlatDrift<F>,
    scheme: Scheme,
    steps: usize,
    measure: bool,
    x0: &[f64],
    normals: &Normals,
    w0: usize,
    count: usize,
) -> EvalBlock {
    let n = count * drift.dim();
    let chi = scheme.uses_chi();
    let mut st = Stages::new(drift, scheme, count);
    let mut x: Vec<F> = cast(x0);
    let mut running = vec![0.0; if measure { count } else { 0 }];
    let mut martingale = running.clone();
    let mut series = vec![0.0; if measure { steps } else { 0 }];
    for step in 0..steps {
        let xi2 = chi.then(|| normals.slice(step, 1, w0, count));
        st.forward(drift, scheme, &x, normals.slice(step, 0, w0, count), xi2, count);
        if measure {
            for w in 0..count {
                let (e, m) = st.running_terms(drift, &x, w);
                running[w] += e.f64();
                series[step] += e.f64();
                martingale[w] += m.f64();
            }
        }
        st.advance(scheme, &mut x[..n]);
    }
    EvalBlock { running, martingale, series, x_final: cast(&x) }
}
