//! Transition kernels of a chain, each a burn Module built from a config.
//!
//! - [`GaussianKernel`]: k(y | h) = N(y; μ(h), diag σ²(h)), μ an MLP (affine without hidden
//!   layers; the identity for the σ → 0 limit), log σ² shared, per dimension, or a network output. Sampled by
//!   reparameterisation, y = μ + σ ε.
//! - [`Coupling`]: a RealNVP affine coupling layer (Dinh et al. 2017), y_a = x_a,
//!   y_b = x_b ⊙ exp(s(x_a)) + t(x_a); exact inverse x_b = (y_b − t(y_a)) ⊙ exp(−s(y_a)) and
//!   log|det ∂y/∂x| = Σ s(x_a). [`Flow`] stacks them, alternating halves.
//! - [`SdeSegment`]: the prior drift w(t, z) and the posterior correction g(t, z, c) of a latent
//!   SDE dz = u dt + dW with u = w + g, integrated by the crate's SDE engine (Euler–Maruyama).
//!   Both networks take the time as an input, [z, t/τ] (and the context c for g).
//!   With t_n = n·dt, u_n = u(t_n, z_n), w_n = w(t_n, z_n) and
//!   ΔW the posterior's increments, the exact log-ratio of the discretised path measures is
//!   log dP_w/dQ_u = Σ_n [−(u_n − w_n)·ΔW_n − ½|u_n − w_n|² dt], whose expectation is the
//!   Girsanov −E∫½|u − w|² dt (Li et al. 2020, eq. 9, unit diffusion).

use super::log_normal;
use crate::path::integrators::EULER_MARUYAMA;
use crate::base::layers::{Init, linear};
use crate::base::noise::Noise;
use crate::path::sde::simulate_in_time;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

/// How the variance of a [`GaussianKernel`] depends on its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variance {
    /// One learned σ² for every dimension (probabilistic PCA's isotropic noise).
    Shared,
    /// A learned σ_k² per output dimension, the same for every input.
    PerDim,
    /// log σ²(h) from the network.
    Network,
}

/// Shape of a [`GaussianKernel`]. `layers` = 0 makes μ affine in h (the linear-Gaussian model).
#[derive(Debug, Clone)]
pub struct GaussianKernelConfig {
    pub d_in: usize,
    pub d_out: usize,
    pub hidden: usize,
    pub layers: usize,
    pub variance: Variance,
    /// Initial log σ².
    pub log_var_init: f64,
}

/// log σ² is clamped to this range (gradients vanish outside): keeps early training finite.
const LOG_VAR_RANGE: (f64, f64) = (-12.0, 6.0);

#[derive(Module, Debug)]
pub struct GaussianKernel {
    pub(crate) hidden: Vec<Linear>,
    pub(crate) mean: Linear,
    pub(crate) log_var_net: Option<Linear>,
    pub(crate) log_var: Param<Tensor<1>>,
}

impl GaussianKernelConfig {
    pub fn init(&self, noise: &mut Noise, device: &Device) -> GaussianKernel {
        let mut hidden = Vec::new();
        let mut width = self.d_in;
        for _ in 0..self.layers {
            hidden.push(linear(width, self.hidden, true, Init::Uniform, noise, device));
            width = self.hidden;
        }
        let mean = linear(width, self.d_out, true, Init::Uniform, noise, device);
        let log_var_net = (self.variance == Variance::Network).then(|| linear(width, self.d_out, false, Init::Zeros, noise, device));
        let n = if self.variance == Variance::Shared { 1 } else { self.d_out };
        let log_var = Param::from_tensor(Tensor::<1>::from_data(TensorData::new(vec![self.log_var_init; n], [n]), device));
        GaussianKernel { hidden, mean, log_var_net, log_var }
    }
}

impl GaussianKernel {
    /// The kernel N(y; h, σ² I) (identity mean, fixed σ), for the σ → 0 limit.
    pub fn identity(d: usize, sigma: f64, device: &Device) -> Self {
        let mut k = GaussianKernelConfig { d_in: d, d_out: d, hidden: 0, layers: 0, variance: Variance::Shared, log_var_init: 2.0 * sigma.ln() }
            .init(&mut Noise::new(0), device);
        let eye: Vec<f64> = (0..d * d).map(|i| if i / d == i % d { 1.0 } else { 0.0 }).collect();
        k.mean = Linear {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(eye, [d, d]), device)),
            bias: Some(Param::from_tensor(Tensor::zeros([d], device))),
        };
        k
    }

    /// The same kernel with log σ² raised by `delta` (a wider or narrower proposal).
    pub fn with_log_var_offset(mut self, delta: f64) -> Self {
        self.log_var = Param::from_tensor(self.log_var.val() + delta);
        self
    }

    /// (μ(h), log σ²(h)), both `[B, d_out]`.
    pub fn forward(&self, h: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let [b, _] = h.dims();
        let mut features = h;
        for layer in &self.hidden {
            features = layer.forward(features).tanh();
        }
        let mean = self.mean.forward(features.clone());
        let d = mean.dims()[1];
        let n = self.log_var.val().dims()[0];
        let mut log_var = self.log_var.val().reshape([1, n]).expand([b, d]);
        if let Some(net) = &self.log_var_net {
            log_var = log_var + net.forward(features);
        }
        (mean, log_var.clamp(LOG_VAR_RANGE.0, LOG_VAR_RANGE.1))
    }

    /// A reparameterised draw y = μ + σ ε and its log-density, `[B, d_out]` and `[B]`.
    pub fn sample(&self, h: Tensor<2>, noise: &mut Noise) -> (Tensor<2>, Tensor<1>) {
        let (mean, log_var) = self.forward(h);
        let eps = noise.gaussian(mean.dims(), 1.0, &mean.device());
        let y = mean.clone() + (log_var.clone() * 0.5).exp() * eps;
        let lp = log_normal(y.clone(), mean, log_var);
        (y, lp)
    }

    /// log k(y | h), `[B]`.
    pub fn log_prob(&self, y: Tensor<2>, h: Tensor<2>) -> Tensor<1> {
        let (mean, log_var) = self.forward(h);
        log_normal(y, mean, log_var)
    }
}

/// Shape of a [`Flow`].
#[derive(Debug, Clone)]
pub struct FlowConfig {
    pub dim: usize,
    pub layers: usize,
    pub hidden: usize,
}

/// One affine coupling layer. `swap` exchanges the roles of the two halves.
#[derive(Module, Debug)]
pub struct Coupling {
    pub(crate) hidden: Vec<Linear>,
    pub(crate) scale: Linear,
    pub(crate) shift: Linear,
    #[module(skip)]
    pub(crate) swap: bool,
    #[module(skip)]
    pub(crate) split: usize,
}

/// Bound of the log-scale: s = S·tanh(raw / S).
const MAX_LOG_SCALE: f64 = 2.0;

impl Coupling {
    fn new(dim: usize, hidden: usize, swap: bool, noise: &mut Noise, device: &Device) -> Self {
        let split = dim / 2;
        let (d_a, d_b) = if swap { (dim - split, split) } else { (split, dim - split) };
        let h = vec![
            linear(d_a, hidden, true, Init::Uniform, noise, device),
            linear(hidden, hidden, true, Init::Uniform, noise, device),
        ];
        // Zero output layers: every coupling starts as the identity.
        let scale = linear(hidden, d_b, true, Init::Zeros, noise, device);
        let shift = linear(hidden, d_b, true, Init::Zeros, noise, device);
        Coupling { hidden: h, scale, shift, swap, split }
    }

    fn halves(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let d = x.dims()[1];
        let first = x.clone().narrow(1, 0, self.split);
        let second = x.narrow(1, self.split, d - self.split);
        if self.swap { (second, first) } else { (first, second) }
    }

    fn join(&self, a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
        if self.swap { Tensor::cat(vec![b, a], 1) } else { Tensor::cat(vec![a, b], 1) }
    }

    fn scale_shift(&self, a: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let mut f = a;
        for layer in &self.hidden {
            f = layer.forward(f).tanh();
        }
        let s = (self.scale.forward(f.clone()) / MAX_LOG_SCALE).tanh() * MAX_LOG_SCALE;
        (s, self.shift.forward(f))
    }

    /// y = f(x) and log|det ∂y/∂x|, `[B, d]` and `[B]`.
    pub fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let (a, b) = self.halves(x);
        let (s, t) = self.scale_shift(a.clone());
        let y_b = b * s.clone().exp() + t;
        (self.join(a, y_b), s.sum_dim(1).flatten::<1>(0, 1))
    }

    /// x = f⁻¹(y).
    pub fn inverse(&self, y: Tensor<2>) -> Tensor<2> {
        let (a, y_b) = self.halves(y);
        let (s, t) = self.scale_shift(a.clone());
        let b = (y_b - t) * s.neg().exp();
        self.join(a, b)
    }
}

/// A stack of couplings with alternating halves: z = f_L ∘ … ∘ f_1 (x).
#[derive(Module, Debug)]
pub struct Flow {
    pub(crate) layers: Vec<Coupling>,
}

impl FlowConfig {
    pub fn init(&self, noise: &mut Noise, device: &Device) -> Flow {
        Flow { layers: (0..self.layers).map(|l| Coupling::new(self.dim, self.hidden, l % 2 == 1, noise, device)).collect() }
    }
}

impl Flow {
    /// z = f(x) and log|det ∂z/∂x|.
    pub fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let b = x.dims()[0];
        let mut log_det = Tensor::<1>::zeros([b], &x.device());
        let mut h = x;
        for layer in &self.layers {
            let (y, ld) = layer.forward(h);
            h = y;
            log_det = log_det + ld;
        }
        (h, log_det)
    }

    /// x = f⁻¹(z).
    pub fn inverse(&self, z: Tensor<2>) -> Tensor<2> {
        self.layers.iter().rev().fold(z, |h, layer| layer.inverse(h))
    }

    /// Gives every coupling non-zero output weights (the identity start has no log-det to test).
    pub fn randomise(mut self, scale: f64, noise: &mut Noise) -> Self {
        for layer in &mut self.layers {
            for lin in [&mut layer.scale, &mut layer.shift] {
                let w = lin.weight.val();
                let device = w.device();
                lin.weight = Param::from_tensor(noise.gaussian(w.dims(), scale, &device));
            }
        }
        self
    }
}

/// Shape of an [`SdeSegment`].
#[derive(Debug, Clone)]
pub struct SdeSegmentConfig {
    pub dim: usize,
    pub context: usize,
    pub hidden: usize,
    pub steps: usize,
    pub horizon: f64,
}

/// A latent SDE on [0, τ] with N Euler–Maruyama steps: prior drift w(t, z), posterior drift
/// u(t, z, c) = w(t, z) + g(t, z, c), c the data-side context. The networks read [z, t/τ].
#[derive(Module, Debug)]
pub struct SdeSegment {
    pub(crate) prior: Vec<Linear>,
    pub(crate) correction: Vec<Linear>,
    #[module(skip)]
    pub(crate) steps: usize,
    #[module(skip)]
    pub(crate) dt: f64,
}

fn mlp(layers: &[Linear], x: Tensor<2>) -> Tensor<2> {
    let last = layers.len() - 1;
    layers.iter().enumerate().fold(x, |h, (i, l)| if i < last { super::tanh(l.forward(h)) } else { l.forward(h) })
}

/// What a posterior path leaves: its end z_τ and log dP_w/dQ_u along it, `[B]`.
pub struct SdePath {
    pub end: Tensor<2>,
    /// Σ_n −½|u − w|² dt (the Girsanov KL integrand; its expectation is the whole log-ratio).
    pub log_ratio_mean: Tensor<1>,
    /// Σ_n −(u − w)·ΔW_n (zero mean under the posterior).
    pub log_ratio_martingale: Tensor<1>,
}

impl SdeSegmentConfig {
    pub fn init(&self, noise: &mut Noise, device: &Device) -> SdeSegment {
        let (d, h) = (self.dim, self.hidden);
        let prior = vec![linear(d + 1, h, true, Init::Uniform, noise, device), linear(h, d, true, Init::Zeros, noise, device)];
        let correction = vec![
            linear(d + 1 + self.context, h, true, Init::Uniform, noise, device),
            linear(h, d, true, Init::Zeros, noise, device),
        ];
        SdeSegment { prior, correction, steps: self.steps.max(1), dt: self.horizon / self.steps.max(1) as f64 }
    }
}

/// `[B, 1]` filled with the scaled time s = t/τ.
fn time_column(t: f64, horizon: f64, rows: usize, device: &Device) -> Tensor<2> {
    Tensor::<2>::zeros([rows, 1], device) + t / horizon
}

impl SdeSegment {
    fn horizon(&self) -> f64 {
        self.dt * self.steps as f64
    }

    /// w(t, z).
    pub(crate) fn prior_drift(&self, t: f64, z: Tensor<2>) -> Tensor<2> {
        let s = time_column(t, self.horizon(), z.dims()[0], &z.device());
        mlp(&self.prior, Tensor::cat(vec![z, s], 1))
    }

    /// g(t, z, c).
    pub(crate) fn correction(&self, t: f64, z: Tensor<2>, context: Tensor<2>) -> Tensor<2> {
        let s = time_column(t, self.horizon(), z.dims()[0], &z.device());
        mlp(&self.correction, Tensor::cat(vec![z, s, context], 1))
    }

    /// Integrates the posterior SDE from `z0` given `context`.
    pub fn posterior_path(&self, z0: Tensor<2>, context: Tensor<2>, noise: &mut Noise) -> SdePath {
        let [b, d] = z0.dims();
        let drift = |t: f64, x: Tensor<3>| {
            let z = x.reshape([b, d]);
            (self.prior_drift(t, z.clone()) + self.correction(t, z, context.clone())).reshape([b, 1, d])
        };
        let path = simulate_in_time(&drift, &EULER_MARUYAMA, z0.reshape([b, 1, d]), self.steps, self.dt, noise);
        let device = path.states[0].device();
        let mut mean = Tensor::<1>::zeros([b], &device);
        let mut martingale = Tensor::<1>::zeros([b], &device);
        for n in 0..path.steps() {
            let z = path.states[n].clone().reshape([b, d]);
            let g = self.correction(n as f64 * self.dt, z, context.clone());
            let dw = path.increments[n].clone().reshape([b, d]);
            mean = mean - g.clone().square().sum_dim(1).flatten::<1>(0, 1) * (0.5 * self.dt);
            martingale = martingale - (g * dw).sum_dim(1).flatten::<1>(0, 1);
        }
        SdePath { end: path.last_state().reshape([b, d]), log_ratio_mean: mean, log_ratio_martingale: martingale }
    }

    /// Integrates the prior SDE dz = w(t, z) dt + dW from `z0`; returns z_τ.
    pub fn prior_path(&self, z0: Tensor<2>, noise: &mut Noise) -> Tensor<2> {
        let [b, d] = z0.dims();
        let drift = |t: f64, x: Tensor<3>| self.prior_drift(t, x.reshape([b, d])).reshape([b, 1, d]);
        simulate_in_time(&drift, &EULER_MARUYAMA, z0.reshape([b, 1, d]), self.steps, self.dt, noise).last_state().reshape([b, d])
    }
}

#[cfg(test)]
mod tests {
    //! The SDE segment's log-ratio is the exact log-ratio of the Euler–Maruyama transition
    //! densities, Σ_n log N(z_{n+1}; z_n + w dt, dt) − log N(z_{n+1}; z_n + u dt, dt).
    use super::*;
    use crate::latent::values;
    use burn::tensor::FloatDType;

    #[test]
    fn sde_log_ratio_equals_the_ratio_of_transition_densities() {
        let mut device = Device::flex();
        let _ = device.configure(FloatDType::F64);
        let mut noise = Noise::new(1);
        let mut seg = SdeSegmentConfig { dim: 2, context: 3, hidden: 8, steps: 5, horizon: 0.5 }.init(&mut noise, &device);
        // Non-zero output layers so that u ≠ w.
        seg.prior[1] = linear(8, 2, true, Init::Uniform, &mut noise, &device);
        seg.correction[1] = linear(8, 2, true, Init::Uniform, &mut noise, &device);
        let z0 = noise.gaussian([4, 2], 1.0, &device);
        let c = noise.gaussian([4, 3], 1.0, &device);
        // The drifts read the time: w(0, z) ≠ w(τ, z), g likewise.
        let moved = |a: Tensor<2>, b: Tensor<2>| values((a - b).abs().sum())[0];
        assert!(moved(seg.prior_drift(0.0, z0.clone()), seg.prior_drift(0.5, z0.clone())) > 1e-3, "w ignores t");
        assert!(moved(seg.correction(0.0, z0.clone(), c.clone()), seg.correction(0.5, z0.clone(), c.clone())) > 1e-3, "g ignores t");
        let path = seg.posterior_path(z0.clone(), c.clone(), &mut Noise::new(7));
        let total = values(path.log_ratio_mean + path.log_ratio_martingale);
        // Replay the same increments by hand.
        let mut replay = Noise::new(7);
        let mut z = z0;
        let mut expected = vec![0.0; 4];
        let dt = seg.dt;
        for n in 0..seg.steps {
            let t = n as f64 * dt;
            let w = seg.prior_drift(t, z.clone());
            let u = w.clone() + seg.correction(t, z.clone(), c.clone());
            let xi = replay.gaussian([4, 1, 2], 1.0, &device).reshape([4, 2]);
            let next = z.clone() + u.clone() * dt + xi * dt.sqrt();
            let lv = Tensor::<2>::zeros([4, 2], &device) + dt.ln();
            let log_p = values(log_normal(next.clone(), z.clone() + w * dt, lv.clone()));
            let log_q = values(log_normal(next.clone(), z.clone() + u * dt, lv));
            for i in 0..4 {
                expected[i] += log_p[i] - log_q[i];
            }
            z = next;
        }
        assert!(expected.iter().any(|e| e.abs() > 0.05), "log-ratios too small to test: {expected:?}");
        for (a, b) in total.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        assert!(values((z - path.end).abs().sum()).iter().all(|d| *d < 1e-9), "the replayed end point differs");
    }
}
