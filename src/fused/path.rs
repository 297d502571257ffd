//! The time loop over a block of walkers: the integrator tableau (see [`crate::integrators`]),
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
//! The forward pass keeps, per step, the stage states and the network activations (memory
//! O(N · stages · walkers · hidden) per block of walkers); the reverse pass reads them back.

use super::{FlatDrift, NetCache, NetGrad, NetScratch};
use crate::integrators::Tableau;

/// Noise of a whole batch, standard normals in the order the [`crate::noise::Noise`] stream
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
pub(crate) struct Stages {
    x: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
    bar: Vec<Vec<f64>>,
    h_bar: Vec<f64>,
    caches: Vec<NetCache>,
    scratch: NetScratch,
    dw: Vec<f64>,
    chi: Vec<f64>,
}

/// What the reverse pass needs of one step: stage states, drifts, network activations, ΔW.
pub(crate) struct StepRecord {
    x: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
    caches: Vec<NetCache>,
    dw: Vec<f64>,
}

impl StepRecord {
    fn new(drift: &FlatDrift, scheme: Scheme, walkers: usize) -> Self {
        let n = walkers * drift.dim();
        let s = scheme.stages();
        StepRecord {
            x: vec![vec![0.0; n]; s],
            v: vec![vec![0.0; n]; s],
            caches: (0..s).map(|_| drift.cache(walkers)).collect(),
            dw: vec![0.0; n],
        }
    }

    /// Exchanges the step's buffers with the working ones of `stages`.
    fn swap(&mut self, stages: &mut Stages) {
        std::mem::swap(&mut self.x, &mut stages.x);
        std::mem::swap(&mut self.v, &mut stages.v);
        std::mem::swap(&mut self.caches, &mut stages.caches);
        std::mem::swap(&mut self.dw, &mut stages.dw);
    }
}

impl Stages {
    pub fn new(drift: &FlatDrift, scheme: Scheme, walkers: usize) -> Self {
        let n = walkers * drift.dim();
        let s = scheme.stages();
        Stages {
            x: vec![vec![0.0; n]; s],
            v: vec![vec![0.0; n]; s],
            bar: vec![vec![0.0; n]; s],
            h_bar: vec![0.0; n],
            caches: (0..s).map(|_| drift.cache(walkers)).collect(),
            scratch: drift.scratch(walkers),
            dw: vec![0.0; n],
            chi: vec![0.0; n],
        }
    }

    /// Stage 0 at `x` and the remaining stages of one step with noise ξ₁ (and ξ₂).
    #[inline(always)]
    fn forward(&mut self, drift: &FlatDrift, scheme: Scheme, x: &[f64], xi1: &[f64], xi2: Option<&[f64]>, walkers: usize) {
        let t = scheme.tableau;
        let h = scheme.dt;
        let sqrt_h = h.sqrt();
        for (dw, z) in self.dw.iter_mut().zip(xi1) {
            *dw = z * sqrt_h;
        }
        if let Some(xi2) = xi2 {
            let c = sqrt_h / 3f64.sqrt();
            for ((chi, dw), z) in self.chi.iter_mut().zip(&self.dw).zip(xi2) {
                *chi = (dw + z * c) * 0.5;
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
                    super::params::axpy(hi, h * a_ij, &self.v[j]);
                }
            }
            if t.stage_dw[i] != 0.0 {
                super::params::axpy(hi, t.stage_dw[i], &self.dw);
            }
            if xi2.is_some() && t.stage_chi[i] != 0.0 {
                super::params::axpy(hi, t.stage_chi[i], &self.chi);
            }
            drift.forward(&self.x[i], &mut self.v[i], &mut self.caches[i], walkers);
        }
    }

    /// X_{n+1} = X_n + ΔW + h Σ α_i a(H_i).
    #[inline(always)]
    fn advance(&self, scheme: Scheme, next: &mut [f64]) {
        for ((y, x), dw) in next.iter_mut().zip(&self.x[0]).zip(&self.dw) {
            *y = x + dw;
        }
        for (i, alpha) in scheme.tableau.alpha.iter().enumerate() {
            if *alpha != 0.0 {
                super::params::axpy(next, scheme.dt * alpha, &self.v[i]);
            }
        }
    }
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

/// Loss terms and gradients for walkers w0..w0 + count of a batch of `normals.walkers`.
#[inline(always)]
pub(crate) fn train_block(
    drift: &FlatDrift,
    scheme: Scheme,
    steps: usize,
    boundary: bool,
    x0: &[f64],
    normals: &Normals,
    w0: usize,
    count: usize,
) -> TrainBlock {
    let dim = drift.dim();
    let n = count * dim;
    let dt = scheme.dt;
    let chi = scheme.uses_chi();
    let mut st = Stages::new(drift, scheme, count);
    let mut xs = vec![0.0; (steps + 1) * n];
    xs[..n].copy_from_slice(x0);
    let mut records: Vec<StepRecord> = (0..steps).map(|_| StepRecord::new(drift, scheme, count)).collect();
    let mut ell = 0.0;
    for step in 0..steps {
        let (past, future) = xs.split_at_mut((step + 1) * n);
        let x = &past[step * n..];
        let xi2 = chi.then(|| normals.slice(step, 1, w0, count));
        st.forward(drift, scheme, x, normals.slice(step, 0, w0, count), xi2, count);
        for w in 0..count {
            let r = w * dim..(w + 1) * dim;
            let v = &st.v[0][r.clone()];
            let potential = drift.system.potential(&x[r.clone()], None);
            let kinetic = 0.5 * v.iter().map(|a| a * a).sum::<f64>();
            let martingale: f64 = v.iter().zip(&st.dw[r]).map(|(a, b)| a * b).sum();
            ell += (potential + kinetic) * dt + martingale;
        }
        st.advance(scheme, &mut future[..n]);
        records[step].swap(&mut st);
    }
    let x_final = xs[steps * n..].to_vec();
    let walkers = normals.walkers as f64;
    let horizon = steps as f64 * dt;
    let mut lambda = vec![0.0; n];
    let mut end = 0.0;
    if boundary {
        let v_end = &mut st.v[0];
        drift.forward(&x_final, v_end, &mut st.caches[0], count);
        end = v_end.iter().zip(&x_final).map(|(a, b)| a * b).sum();
        for (l, v) in lambda.iter_mut().zip(v_end.iter()) {
            *l = -v / (walkers * horizon);
        }
    }
    let c_running = dt / (walkers * horizon);
    let c_martingale = 1.0 / (walkers * horizon);
    let mut grad = drift.grad_zeros();
    let t = scheme.tableau;
    for step in (0..steps).rev() {
        let x = &xs[step * n..(step + 1) * n];
        records[step].swap(&mut st);
        for (i, alpha) in t.alpha.iter().enumerate() {
            for (b, l) in st.bar[i].iter_mut().zip(&lambda) {
                *b = dt * alpha * l;
            }
        }
        for ((b, v), dw) in st.bar[0].iter_mut().zip(&st.v[0]).zip(&st.dw) {
            *b += c_running * v + c_martingale * dw;
        }
        for w in 0..count {
            let r = w * dim..(w + 1) * dim;
            drift.system.potential(&x[r.clone()], Some((&mut lambda[r], c_running)));
        }
        for i in (0..t.alpha.len()).rev() {
            st.h_bar.fill(0.0);
            drift.backward(&st.x[i], &st.caches[i], &mut st.scratch, &st.bar[i], &mut st.h_bar, &mut grad, count);
            for (j, a_ij) in t.a[i].iter().enumerate() {
                if *a_ij != 0.0 {
                    super::params::axpy(&mut st.bar[j], dt * a_ij, &st.h_bar);
                }
            }
            super::params::axpy(&mut lambda, 1.0, &st.h_bar);
        }
    }
    TrainBlock { ell, end, grad, x_final }
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
pub(crate) fn eval_block(
    drift: &FlatDrift,
    scheme: Scheme,
    steps: usize,
    measure: bool,
    x0: &[f64],
    normals: &Normals,
    w0: usize,
    count: usize,
) -> EvalBlock {
    let dim = drift.dim();
    let n = count * dim;
    let chi = scheme.uses_chi();
    let mut st = Stages::new(drift, scheme, count);
    let mut x = x0.to_vec();
    let mut running = vec![0.0; if measure { count } else { 0 }];
    let mut martingale = running.clone();
    let mut series = vec![0.0; if measure { steps } else { 0 }];
    for step in 0..steps {
        let xi2 = chi.then(|| normals.slice(step, 1, w0, count));
        st.forward(drift, scheme, &x, normals.slice(step, 0, w0, count), xi2, count);
        if measure {
            for w in 0..count {
                let r = w * dim..(w + 1) * dim;
                let v = &st.v[0][r.clone()];
                let e = drift.system.potential(&x[r.clone()], None) + 0.5 * v.iter().map(|a| a * a).sum::<f64>();
                running[w] += e;
                series[step] += e;
                martingale[w] += v.iter().zip(&st.dw[r]).map(|(a, b)| a * b).sum::<f64>();
            }
        }
        st.advance(scheme, &mut x[..n]);
    }
    EvalBlock { running, martingale, series, x_final: x }
}
