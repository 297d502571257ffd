//! Time series: a latent SDE observed at times t_0 < … < t_{K−1} (Li et al., AISTATS 2020,
//! "Scalable gradients for stochastic differential equations", §7; torchsde's latent SDE).
//!
//! ```text
//! prior      dz = w(t, z) dt + dW,          z_0 ~ N(0, I)
//! posterior  dz = [w(t, z) + g(t, z, c_t)] dt + dW,   z_0 ~ q(z_0 | c_0)
//! decoder    x_k ~ N(W z_{t_k} + b, diag σ²)
//! ELBO = Σ_k m_k log p(x_k | z_{t_k}) + log p(z_0) − log q(z_0 | x) − Σ_n ½|g_n|² h_n
//! ```
//!
//! The diffusion is the identity in latent coordinates: a constant diagonal σ is absorbed by
//! the decoder's linear map, and the path KL is Girsanov's −E∫½|g|² dt (unit diffusion; with
//! ΔW_n the posterior's increments the exact discrete log-ratio adds the zero-mean −Σ g_n·ΔW_n,
//! kept for IWAE; Euler–Maruyama transition densities, as in [`super::kernels::SdeSegment`]).
//! The context c_t = c_{k+1} on [t_k, t_{k+1}) is read from a GRU run backward over the
//! observations, so c_k summarises x_k, …, x_{K−1}; c_0 sets q(z_0 | x).
//!
//! A series is one row of the chain's data matrix: `[K·(D + 1)]`, time k holding (x_k, m_k),
//! m_k = 1 where observed and 0 where missing (x_k stored as 0 there). Between two observation
//! times the engine takes ⌈Δt/dt⌉ equal Euler–Maruyama steps ([`crate::path::sde::integrate_on_grid`]),
//! so irregular times are integrated exactly to them.

use super::kernels::{GaussianKernel, SdeSegment};
use crate::path::integrators::EULER_MARUYAMA;
use crate::base::noise::Noise;
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::sigmoid;
use burn::tensor::Tensor;
use std::cell::RefCell;

/// The observation times and the dimension D of one observation.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesLayout {
    pub times: Vec<f64>,
    pub dim: usize,
}

/// The integration grid of a layout: observation times with equal sub-steps between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// t_0 … t_M (the first and last are the first and last observation times).
    pub times: Vec<f64>,
    /// Grid index of observation k.
    pub observed_at: Vec<usize>,
}

impl SeriesLayout {
    /// Width of a data row, K·(D + 1).
    pub fn width(&self) -> usize {
        self.times.len() * (self.dim + 1)
    }

    /// The grid with ⌈(t_{k+1} − t_k)/dt⌉ equal steps between consecutive observations.
    pub fn grid(&self, dt: f64) -> Grid {
        let mut times = vec![self.times[0]];
        let mut observed_at = vec![0];
        for w in self.times.windows(2) {
            let n = (((w[1] - w[0]) / dt) - 1e-9).ceil().max(1.0) as usize;
            for i in 1..n {
                times.push(w[0] + (w[1] - w[0]) * i as f64 / n as f64);
            }
            times.push(w[1]);
            observed_at.push(times.len() - 1);
        }
        Grid { times, observed_at }
    }
}

/// A gated recurrent unit (Cho et al. 2014; PyTorch's `nn.GRU` equations):
/// r = σ(W_r e + U_r h), u = σ(W_u e + U_u h), n = tanh(W_n e + r ⊙ (U_n h)),
/// h' = (1 − u) ⊙ n + u ⊙ h. `input` maps e to the three gates [r, u, n], `hidden` h.
#[derive(Module, Debug)]
pub struct Gru {
    pub(crate) input: Linear,
    pub(crate) hidden: Linear,
}

impl Gru {
    /// h' from the input e `[B, E]` and the state h `[B, H]`.
    pub fn step(&self, e: Tensor<2>, h: Tensor<2>) -> Tensor<2> {
        let size = h.dims()[1];
        let gi = self.input.forward(e);
        let gh = self.hidden.forward(h.clone());
        let part = |t: &Tensor<2>, k: usize| t.clone().narrow(1, k * size, size);
        let r = sigmoid(part(&gi, 0) + part(&gh, 0));
        let u = sigmoid(part(&gi, 1) + part(&gh, 1));
        let n = super::tanh(part(&gi, 2) + r * part(&gh, 2));
        n.clone() + u * (h - n)
    }
}

/// What a posterior path through the observation times leaves.
pub struct ObservedPath {
    /// z at the observation times, K tensors `[B, L]`.
    pub at_observations: Vec<Tensor<2>>,
    /// z at every grid time, where asked for (plots), M + 1 tensors `[B, L]`.
    pub states: Vec<Tensor<2>>,
    /// −Σ_n ½|g_n|² h_n, `[B]`.
    pub log_ratio_mean: Tensor<1>,
    /// −Σ_n g_n·ΔW_n, `[B]` (zero mean under the posterior).
    pub log_ratio_martingale: Tensor<1>,
}

/// Integrates dz = [w(t, z) + g(t, z, j)] dt + dW on `grid` from `z0` `[B, L]` with the engine's
/// Euler–Maruyama step, j the observation interval of t (t_j ≤ t < t_{j+1}), and accumulates
/// the Girsanov log-ratio of the prior (drift w) against this path measure. `g` = None
/// integrates the prior itself (log-ratios zero). The drift networks are evaluated once per step.
pub fn path_on_grid(
    prior: &dyn Fn(f64, Tensor<2>) -> Tensor<2>,
    correction: Option<&dyn Fn(f64, Tensor<2>, usize) -> Tensor<2>>,
    z0: Tensor<2>,
    grid: &Grid,
    observation_times: &[f64],
    keep_states: bool,
    noise: &mut Noise,
) -> ObservedPath {
    let [b, l] = z0.dims();
    let device = z0.device();
    let corrections: RefCell<Vec<Tensor<2>>> = RefCell::new(Vec::with_capacity(grid.times.len()));
    let drift = |t: f64, x: Tensor<3>| {
        let z = x.reshape([b, l]);
        let w = prior(t, z.clone());
        let v = match correction {
            Some(g) => {
                let j = observation_times.partition_point(|&s| s <= t).saturating_sub(1);
                let g = g(t, z, j);
                corrections.borrow_mut().push(g.clone());
                w + g
            }
            None => w,
        };
        v.reshape([b, 1, l])
    };
    let mut mean = Tensor::<1>::zeros([b], &device);
    let mut martingale = Tensor::<1>::zeros([b], &device);
    let mut states = Vec::new();
    let mut at_observations = Vec::with_capacity(grid.observed_at.len());
    let mut next_observation = 0;
    let mut normals = |count: usize| (0..count).map(|_| noise.gaussian([b, 1, l], 1.0, &device)).collect();
    let end = crate::path::sde::integrate_on_grid(&drift, &EULER_MARUYAMA, z0.reshape([b, 1, l]), &grid.times, &mut normals, &mut |n, x, xi| {
        let z = x.clone().reshape([b, l]);
        if next_observation < grid.observed_at.len() && grid.observed_at[next_observation] == n {
            at_observations.push(z.clone());
            next_observation += 1;
        }
        if keep_states {
            states.push(z);
        }
        if correction.is_some() {
            let h = grid.times[n + 1] - grid.times[n];
            let g = corrections.borrow()[n].clone();
            let dw = xi[0].clone().reshape([b, l]) * h.sqrt();
            mean = mean.clone() - g.clone().square().sum_dim(1).flatten::<1>(0, 1) * (0.5 * h);
            martingale = martingale.clone() - (g * dw).sum_dim(1).flatten::<1>(0, 1);
        }
    });
    let end = end.reshape([b, l]);
    if next_observation < grid.observed_at.len() {
        at_observations.push(end.clone());
    }
    if keep_states {
        states.push(end);
    }
    debug_assert_eq!(at_observations.len(), grid.observed_at.len());
    ObservedPath { at_observations, states, log_ratio_mean: mean, log_ratio_martingale: martingale }
}

/// The latent SDE of a time series as one stage of the chain: the backward GRU encoder, q(z_0 |
/// c_0), the prior and posterior drifts (the segment's w(t, z) and g(t, z, c), time read as
/// (t − t_0)/(t_{K−1} − t_0)) and the Gaussian decoder.
#[derive(Module, Debug)]
pub struct SeriesStage {
    pub gru: Gru,
    pub context: Linear,
    pub initial: GaussianKernel,
    pub segment: SdeSegment,
    pub decoder: GaussianKernel,
    #[module(skip)]
    pub times: Vec<f64>,
    #[module(skip)]
    pub dim: usize,
    #[module(skip)]
    pub dt: f64,
}

/// The data-side part of a series stage's log-weight.
pub struct SeriesPart {
    pub z0: Tensor<2>,
    /// Σ_k m_k log p(x_k | z_{t_k}) − log q(z_0 | x) + log-ratio, `[B]`.
    pub part: Tensor<1>,
}

impl SeriesStage {
    pub fn layout(&self) -> SeriesLayout {
        SeriesLayout { times: self.times.clone(), dim: self.dim }
    }

    /// Observations x_k `[B, D]` and masks m_k `[B]` of a batch of rows.
    pub fn split(&self, x: &Tensor<2>) -> Vec<(Tensor<2>, Tensor<1>)> {
        let d = self.dim;
        (0..self.times.len())
            .map(|k| {
                let slot = x.clone().narrow(1, k * (d + 1), d + 1);
                (slot.clone().narrow(1, 0, d), slot.narrow(1, d, 1).flatten::<1>(0, 1))
            })
            .collect()
    }

    /// Contexts c_0 … c_{K−1}, c_k = C(GRU state after reading (x_{K−1}, m_{K−1}) … (x_k, m_k)).
    pub fn contexts(&self, x: &Tensor<2>) -> Vec<Tensor<2>> {
        let d = self.dim;
        let b = x.dims()[0];
        let size = self.gru.hidden.weight.val().dims()[0];
        let mut h = Tensor::<2>::zeros([b, size], &x.device());
        let mut out = Vec::with_capacity(self.times.len());
        for k in (0..self.times.len()).rev() {
            h = self.gru.step(x.clone().narrow(1, k * (d + 1), d + 1), h);
            out.push(self.context.forward(h.clone()));
        }
        out.reverse();
        out
    }

    fn scaled(&self, t: f64) -> f64 {
        let (t0, t1) = (self.times[0], self.times[self.times.len() - 1]);
        (t - t0) / (t1 - t0)
    }

    /// The posterior path of each row given its contexts.
    pub fn posterior(&self, z0: Tensor<2>, contexts: &[Tensor<2>], keep_states: bool, noise: &mut Noise) -> ObservedPath {
        let grid = self.layout().grid(self.dt);
        let last = contexts.len() - 1;
        let prior = |t: f64, z: Tensor<2>| self.segment.prior_drift(self.scaled(t), z);
        let correction = |t: f64, z: Tensor<2>, j: usize| self.segment.correction(self.scaled(t), z, contexts[(j + 1).min(last)].clone());
        path_on_grid(&prior, Some(&correction), z0, &grid, &self.times, keep_states, noise)
    }

    /// Prior paths from z_0 `[B, L]`.
    pub fn prior(&self, z0: Tensor<2>, keep_states: bool, noise: &mut Noise) -> ObservedPath {
        let grid = self.layout().grid(self.dt);
        let prior = |t: f64, z: Tensor<2>| self.segment.prior_drift(self.scaled(t), z);
        path_on_grid(&prior, None, z0, &grid, &self.times, keep_states, noise)
    }

    /// Σ_k m_k log p(x_k | z_k), `[B]`, one decoder call for all k.
    pub fn log_likelihood(&self, observations: &[(Tensor<2>, Tensor<1>)], at: &[Tensor<2>]) -> Tensor<1> {
        let b = at[0].dims()[0];
        let k = at.len();
        let z = Tensor::cat(at.to_vec(), 0);
        let x = Tensor::cat(observations.iter().map(|o| o.0.clone()).collect(), 0);
        let m = Tensor::cat(observations.iter().map(|o| o.1.clone()).collect(), 0);
        let lp = self.decoder.log_prob(x, z) * m;
        lp.reshape([k, b]).sum_dim(0).flatten::<1>(0, 1)
    }

    /// One reparameterised posterior sample per row and the stage's part of log w.
    pub fn log_weight_part(&self, x: Tensor<2>, noise: &mut Noise, exact: bool) -> SeriesPart {
        let observations = self.split(&x);
        let contexts = self.contexts(&x);
        let (z0, log_q) = self.initial.sample(contexts[0].clone(), noise);
        let path = self.posterior(z0.clone(), &contexts, false, noise);
        let mut part = self.log_likelihood(&observations, &path.at_observations) - log_q + path.log_ratio_mean;
        if exact {
            part = part + path.log_ratio_martingale;
        }
        SeriesPart { z0, part }
    }

    /// Decoder means W z + b of states `[B, L]` each, as `[B, D]` each.
    pub fn decode(&self, states: &[Tensor<2>]) -> Vec<Tensor<2>> {
        states.iter().map(|z| self.decoder.forward(z.clone()).0).collect()
    }

    /// Observations per row, Σ_k m_k, `[B]`.
    pub fn observed(&self, x: &Tensor<2>) -> Tensor<1> {
        let parts: Vec<Tensor<1>> = self.split(x).into_iter().map(|o| o.1).collect();
        Tensor::stack::<2>(parts, 0).sum_dim(0).flatten::<1>(0, 1)
    }
}

#[cfg(test)]
mod tests {
    //! A linear-Gaussian latent SDE (OU prior dz = −a z dt + dW, z_0 ~ N(0, 1), observations
    //! x_k ~ N(c z_{t_k} + e, r) at irregular times) through [`path_on_grid`], the function the
    //! series stage integrates with:
    //! - with a linear posterior drift the Monte Carlo ELBO equals its closed form (Gaussian
    //!   moments of the Euler–Maruyama chain, exact on the grid);
    //! - with the exact posterior drift the ELBO equals log p(x) (Kalman filter on the grid) minus
    //!   the known per-step variance mismatch Σ_n ½(u_n − 1 − ln u_n), u_n = 1 + h_n P_{n+1}
    //!   (unit diffusion cannot carry the posterior's smaller step variance h/u), which vanishes
    //!   as dt → 0; the spread of log w then collapses too.
    use super::*;
    use crate::latent::{log_normal, log_standard_normal, values};
    use burn::tensor::{Device, FloatDType};

    const A: f64 = 0.7;
    const C: f64 = 1.3;
    const E: f64 = 0.2;
    const R: f64 = 0.5;
    const TIMES: [f64; 5] = [0.0, 0.13, 0.4, 0.45, 1.0];
    const XS: [f64; 5] = [0.5, 0.9, -0.2, 0.1, 0.6];

    fn device() -> Device {
        let mut d = Device::flex();
        let _ = d.configure(FloatDType::F64);
        d
    }

    fn column(v: f64, b: usize, device: &Device) -> Tensor<2> {
        Tensor::<2>::zeros([b, 1], device) + v
    }

    /// Σ_k log N(x_k; c z_k + e, r) + log N(z_0; 0, 1) − log q(z_0) + log-ratio, per path.
    fn log_weights(path: &ObservedPath, z0: Tensor<2>, mu0: f64, var0: f64, exact: bool) -> Vec<f64> {
        let b = z0.dims()[0];
        let device = z0.device();
        let mut lw = log_standard_normal(z0.clone()) - log_normal(z0, column(mu0, b, &device), column(var0.ln(), b, &device));
        for (z, x) in path.at_observations.iter().zip(XS) {
            lw = lw + log_normal(column(x, b, &device), z.clone() * C + E, column(R.ln(), b, &device));
        }
        lw = lw + path.log_ratio_mean.clone();
        if exact {
            lw = lw + path.log_ratio_martingale.clone();
        }
        values(lw)
    }

    /// log N(x; μ, σ²) of a scalar.
    fn log_normal_scalar(x: f64, mean: f64, var: f64) -> f64 {
        -0.5 * (crate::latent::LN_2PI + var.ln() + (x - mean) * (x - mean) / var)
    }

    fn mean_and_error(v: &[f64]) -> (f64, f64) {
        crate::latent::bounds::mean_and_stderr(v)
    }

    #[test]
    fn linear_posterior_elbo_equals_its_closed_form() {
        let device = device();
        let layout = SeriesLayout { times: TIMES.to_vec(), dim: 1 };
        let grid = layout.grid(0.05);
        assert_eq!(grid.observed_at.len(), 5);
        assert!(grid.times.windows(2).all(|w| w[1] - w[0] <= 0.05 + 1e-12));
        let (alpha, beta) = (-0.4, |j: usize| 0.3 * (j as f64 + 1.0).sin());
        let (mu0, var0): (f64, f64) = (0.3, 0.5);
        let b = 160_000;
        let mut noise = Noise::new(3);
        let z0 = noise.gaussian([b, 1], var0.sqrt(), &device) + mu0;
        let prior = |_: f64, z: Tensor<2>| z * (-A);
        let correction = |_: f64, z: Tensor<2>, j: usize| z * alpha + beta(j);
        let path = path_on_grid(&prior, Some(&correction), z0.clone(), &grid, &TIMES, false, &mut noise);
        // Closed form on the same grid.
        let (mut m, mut p) = (mu0, var0);
        let mut elbo = -0.5 * (mu0 * mu0 + var0 - 1.0 - var0.ln());
        let mut k = 0;
        for n in 0..grid.times.len() {
            if k < 5 && grid.observed_at[k] == n {
                elbo += -0.5 * (crate::latent::LN_2PI + R.ln() + ((XS[k] - C * m - E).powi(2) + C * C * p) / R);
                k += 1;
            }
            if n + 1 < grid.times.len() {
                let h = grid.times[n + 1] - grid.times[n];
                let j = TIMES.partition_point(|&s| s <= grid.times[n]) - 1;
                let bj = beta(j);
                elbo -= 0.5 * h * (alpha * alpha * (p + m * m) + 2.0 * alpha * bj * m + bj * bj);
                let f = 1.0 + h * (alpha - A);
                m = f * m + h * bj;
                p = f * f * p + h;
            }
        }
        for exact in [false, true] {
            let (mc, se) = mean_and_error(&log_weights(&path, z0.clone(), mu0, var0, exact));
            assert!((mc - elbo).abs() < 4.0 * se, "exact term {exact}: Monte Carlo {mc} ± {se} vs closed form {elbo}");
            assert!(se < 0.02, "too few paths to resolve the closed form: {se}");
        }
    }

    /// (log p(x) by the Kalman filter, the exact drift's information (P_n, q_n) at every grid
    /// point, the ELBO gap Σ ½(u − 1 − ln u)) for the Euler chain on `grid`.
    fn exact_posterior(grid: &Grid) -> (f64, Vec<(f64, f64)>, f64) {
        let count = grid.times.len();
        let observation = |n: usize| grid.observed_at.iter().position(|&g| g == n);
        // Forward filter: log p(x).
        let (mut m, mut p, mut log_p) = (0.0, 1.0, 0.0);
        for n in 0..count {
            if let Some(k) = observation(n) {
                let s = C * C * p + R;
                log_p += log_normal_scalar(XS[k], C * m + E, s);
                let gain = p * C / s;
                m += gain * (XS[k] - C * m - E);
                p *= 1.0 - gain * C;
            }
            if n + 1 < count {
                let h = grid.times[n + 1] - grid.times[n];
                m *= 1.0 - A * h;
                p = (1.0 - A * h).powi(2) * p + h;
            }
        }
        // Backward information filter: log β_n(z) = −½ P_n z² + q_n z + const, observation n included.
        let mut info = vec![(0.0, 0.0); count];
        let (mut pp, mut qq) = (0.0, 0.0);
        for n in (0..count).rev() {
            if n + 1 < count {
                let h = grid.times[n + 1] - grid.times[n];
                let a = 1.0 - A * h;
                (pp, qq) = (a * a * pp / (1.0 + h * pp), a * qq / (1.0 + h * pp));
            }
            if let Some(k) = observation(n) {
                pp += C * C / R;
                qq += C * (XS[k] - E) / R;
            }
            info[n] = (pp, qq);
        }
        let gap = (0..count - 1).map(|n| 1.0 + (grid.times[n + 1] - grid.times[n]) * info[n + 1].0).map(|u| 0.5 * (u - 1.0 - u.ln())).sum();
        (log_p, info, gap)
    }

    #[test]
    fn exact_posterior_drift_gives_log_p_minus_the_variance_mismatch() {
        let device = device();
        let layout = SeriesLayout { times: TIMES.to_vec(), dim: 1 };
        let mut gaps = Vec::new();
        for dt in [0.01, 0.001] {
            let grid = layout.grid(dt);
            let (log_p, info, gap) = exact_posterior(&grid);
            gaps.push(gap);
            // Exact q(z_0 | x) ∝ N(z_0; 0, 1) β_0(z_0).
            let (p0, q0) = info[0];
            let (var0, mu0) = (1.0 / (1.0 + p0), q0 / (1.0 + p0));
            let b = 4000;
            let mut noise = Noise::new(9);
            let z0 = noise.gaussian([b, 1], var0.sqrt(), &device) + mu0;
            let prior = |_: f64, z: Tensor<2>| z * (-A);
            let step_of = |t: f64| grid.times.partition_point(|&s| s <= t) - 1;
            // The drift whose Euler step has the exact posterior transition's mean:
            // g = (q_{n+1} − P_{n+1} (1 − a h) z)/(1 + h P_{n+1}).
            let correction = |t: f64, z: Tensor<2>, _: usize| {
                let n = step_of(t);
                let h = grid.times[n + 1] - grid.times[n];
                let (p, q) = info[n + 1];
                (z * (-p * (1.0 - A * h)) + q) / (1.0 + h * p)
            };
            let path = path_on_grid(&prior, Some(&correction), z0.clone(), &grid, &TIMES, false, &mut noise);
            let lw = log_weights(&path, z0, mu0, var0, true);
            let (mc, se) = mean_and_error(&lw);
            let sd = se * (b as f64).sqrt();
            assert!((mc - (log_p - gap)).abs() < 4.0 * se + 1e-9, "dt {dt}: ELBO {mc} ± {se}, log p(x) {log_p}, gap {gap}");
            // log w's spread is that of the variance mismatch only: ≈ √(2 gap).
            assert!(sd < 3.0 * (2.0 * gap).sqrt(), "dt {dt}: sd of log w {sd}, gap {gap}");
        }
        assert!(gaps[1] < 0.2 * gaps[0] && gaps[1] < 0.01, "the gap does not vanish with dt: {gaps:?}");
    }

    #[test]
    fn grid_hits_every_observation_time() {
        let layout = SeriesLayout { times: vec![0.0, 0.013, 0.5, 0.52], dim: 2 };
        let g = layout.grid(0.1);
        for (k, &i) in g.observed_at.iter().enumerate() {
            assert_eq!(g.times[i], layout.times[k]);
        }
        assert_eq!(g.times.len(), 1 + 1 + 5 + 1);
        assert_eq!(layout.width(), 12);
    }
}
