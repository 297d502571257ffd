//! A discrete latent variable: a Gaussian mixture p(x) = Σ_c π_c N(x; μ_c, σ_c² I) with an
//! amortised posterior q(c | x) = softmax(e(x)), trained on the ELBO four ways:
//!
//! - [`GradientEstimator::Exact`]: the expectation over c is a finite sum,
//!   ELBO = Σ_c q(c|x) [log p(x, c) − log q(c|x)], differentiated exactly;
//! - [`GradientEstimator::Reinforce`]: one c ~ q per example; with f = log p(x, c) − log q(c|x) the
//!   surrogate f + sg(f − b)·log q(c|x) has the score-function gradient
//!   ∇E_q[f] = E_q[∇f + (f − b) ∇log q] for any b independent of c; plain REINFORCE has b = 0;
//! - [`GradientEstimator::Nvil`]: b = b_ψ(x), a learned baseline network fitted by minimising
//!   E(f − b_ψ(x))² alongside (Mnih & Gregor 2014, without their variance normalisation);
//! - [`GradientEstimator::Relaxed`]: the Concrete / Gumbel-softmax relaxation (Maddison et al. 2017,
//!   Jang et al. 2017): y = softmax((log q(·|x) + g)/τ), g Gumbel, and the surrogate
//!   Σ_c y_c [log p(x, c) − log q(c|x)] differentiated through y; low variance, biased (τ = 0.5).
//!
//! The exact marginal log p(x) = log Σ_c p(x, c) is known, which checks every estimator.

use super::{LN_2PI, log_sum_exp, values};
use crate::base::layers::{Init, linear};
use crate::base::noise::Noise;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};

/// How the encoder's gradient is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradientEstimator {
    Exact,
    Reinforce,
    Nvil,
    Relaxed,
}

/// Temperature of the relaxed estimator.
const TEMPERATURE: f64 = 0.5;

impl GradientEstimator {
    pub const ALL: [GradientEstimator; 4] = [GradientEstimator::Exact, GradientEstimator::Reinforce, GradientEstimator::Nvil, GradientEstimator::Relaxed];
    pub fn name(self) -> &'static str {
        match self {
            GradientEstimator::Exact => "exact",
            GradientEstimator::Reinforce => "reinforce",
            GradientEstimator::Nvil => "nvil",
            GradientEstimator::Relaxed => "relaxed",
        }
    }
}

/// Shape of a [`Mixture`].
#[derive(Debug, Clone)]
pub struct MixtureConfig {
    pub components: usize,
    pub dim: usize,
    pub hidden: usize,
}

#[derive(Module, Debug)]
pub struct Mixture {
    pub logits: Param<Tensor<1>>,
    pub means: Param<Tensor<2>>,
    pub log_var: Param<Tensor<1>>,
    pub encoder: Vec<Linear>,
    pub baseline: Vec<Linear>,
}

impl MixtureConfig {
    /// Means start at `k` data points picked greedily far apart (the first at random).
    pub fn init(&self, init_points: &[f64], noise: &mut Noise, device: &Device) -> Mixture {
        let (k, d, h) = (self.components, self.dim, self.hidden);
        let n = init_points.len() / d;
        let point = |i: usize| &init_points[i * d..(i + 1) * d];
        let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
        let mut chosen = vec![((noise.uniform() * n as f64) as usize).min(n - 1)];
        while chosen.len() < k {
            let far = (0..n)
                .max_by(|&a, &b| {
                    let da = chosen.iter().map(|&c| dist(point(a), point(c))).fold(f64::INFINITY, f64::min);
                    let db = chosen.iter().map(|&c| dist(point(b), point(c))).fold(f64::INFINITY, f64::min);
                    da.total_cmp(&db)
                })
                .expect("data");
            chosen.push(far);
        }
        let means: Vec<f64> = chosen.iter().flat_map(|&i| point(i).to_vec()).collect();
        let t1 = |v: Vec<f64>| Param::from_tensor(Tensor::<1>::from_data(TensorData::new(v, [k]), device));
        let encoder = vec![linear(d, h, true, Init::Uniform, noise, device), linear(h, k, true, Init::Uniform, noise, device)];
        let baseline = vec![linear(d, h, true, Init::Uniform, noise, device), linear(h, 1, true, Init::Zeros, noise, device)];
        Mixture {
            logits: t1(vec![0.0; k]),
            means: Param::from_tensor(Tensor::from_data(TensorData::new(means, [k, d]), device)),
            log_var: t1(vec![0.0; k]),
            encoder,
            baseline,
        }
    }
}

fn mlp(layers: &[Linear], x: Tensor<2>) -> Tensor<2> {
    let last = layers.len() - 1;
    layers.iter().enumerate().fold(x, |h, (i, l)| if i < last { l.forward(h).tanh() } else { l.forward(h) })
}

/// One estimate: the loss to minimise and the mean ELBO of the batch it saw.
pub struct MixtureStep {
    pub loss: Tensor<1>,
    pub elbo: f64,
}

impl Mixture {
    /// log p(x, c) for every c, `[B, K]`.
    pub fn log_joint(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, d] = x.dims();
        let k = self.logits.val().dims()[0];
        let sq = (x.reshape([b, 1, d]) - self.means.val().reshape([1, k, d])).square().sum_dim(2).reshape([b, k]);
        let lv = self.log_var.val().reshape([1, k]);
        let log_prior = log_softmax(self.logits.val().reshape([1, k]), 1);
        log_prior - (sq * lv.clone().neg().exp() + lv * d as f64 + d as f64 * LN_2PI) * 0.5
    }

    /// log q(c | x) for every c, `[B, K]`.
    pub fn log_posterior(&self, x: Tensor<2>) -> Tensor<2> {
        log_softmax(mlp(&self.encoder, x), 1)
    }

    /// Exact log p(x), `[B]`.
    pub fn log_marginal(&self, x: Tensor<2>) -> Tensor<1> {
        log_sum_exp(self.log_joint(x), 1).flatten::<1>(0, 1)
    }

    /// The exact ELBO Σ_c q(c|x)[log p(x,c) − log q(c|x)], `[B]`.
    pub fn exact_elbo(&self, x: Tensor<2>) -> Tensor<1> {
        let lq = self.log_posterior(x.clone());
        (lq.clone().exp() * (self.log_joint(x) - lq)).sum_dim(1).flatten::<1>(0, 1)
    }

    /// One gradient estimate of −ELBO (and, for NVIL, of the baseline's regression loss).
    pub fn step(&self, x: Tensor<2>, estimator: GradientEstimator, noise: &mut Noise) -> MixtureStep {
        let b = x.dims()[0];
        if estimator == GradientEstimator::Exact {
            let elbo = self.exact_elbo(x).mean();
            let value = elbo.clone().into_scalar::<f64>();
            return MixtureStep { loss: -elbo, elbo: value };
        }
        if estimator == GradientEstimator::Relaxed {
            return self.relaxed_step(x, noise);
        }
        let lq = self.log_posterior(x.clone());
        let probs = values(lq.clone().detach().exp());
        let k = lq.dims()[1];
        let mut one_hot = vec![0.0; b * k];
        for i in 0..b {
            let c = categorical(&probs[i * k..(i + 1) * k], noise.uniform());
            one_hot[i * k + c] = 1.0;
        }
        let mask = Tensor::<2>::from_data(TensorData::new(one_hot, [b, k]), &x.device());
        let log_q = (lq * mask.clone()).sum_dim(1).flatten::<1>(0, 1);
        let f = (self.log_joint(x.clone()) * mask).sum_dim(1).flatten::<1>(0, 1) - log_q.clone();
        let signal = f.clone().detach();
        let elbo = signal.clone().mean().into_scalar::<f64>();
        let (centred, baseline_loss) = match estimator {
            GradientEstimator::Nvil => {
                let baseline = mlp(&self.baseline, x).flatten::<1>(0, 1);
                let regression = (signal.clone() - baseline.clone()).square().mean();
                (signal - baseline.detach(), Some(regression))
            }
            _ => (signal, None),
        };
        let surrogate = (f + centred * log_q).mean();
        let mut loss = -surrogate;
        if let Some(r) = baseline_loss {
            loss = loss + r;
        }
        MixtureStep { loss, elbo }
    }
}

/// The category c with Σ_{j<c} p_j ≤ u < Σ_{j≤c} p_j (inverse-CDF sampling for u ~ U[0, 1));
/// the last one when rounding leaves Σ p_j ≤ u.
pub fn categorical(probs: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    probs
        .iter()
        .position(|p| {
            acc += p;
            u < acc
        })
        .unwrap_or(probs.len() - 1)
}

impl Mixture {
    /// `n` draws x ~ p(x) = Σ_c π_c N(μ_c, σ_c² I): c ~ π, x = μ_c + σ_c ε; row-major `[n, D]`.
    pub fn sample(&self, n: usize, noise: &mut Noise) -> Vec<f64> {
        let pi = values(burn::tensor::activation::softmax(self.logits.val(), 0));
        let (means, log_var) = (values(self.means.val()), values(self.log_var.val()));
        let d = means.len() / pi.len();
        let mut x = Vec::with_capacity(n * d);
        for _ in 0..n {
            let c = categorical(&pi, noise.uniform());
            let sd = (0.5 * log_var[c]).exp();
            x.extend(noise.standard_normals(d).iter().zip(&means[c * d..(c + 1) * d]).map(|(e, m)| m + sd * e));
        }
        x
    }

    /// The Gumbel-softmax surrogate of −ELBO; `elbo` reports the exact enumerated ELBO.
    fn relaxed_step(&self, x: Tensor<2>, noise: &mut Noise) -> MixtureStep {
        let lq = self.log_posterior(x.clone());
        let [b, k] = lq.dims();
        let gumbel: Vec<f64> = (0..b * k).map(|_| -(-(noise.uniform().max(1e-300)).ln()).ln()).collect();
        let g = Tensor::<2>::from_data(TensorData::new(gumbel, [b, k]), &x.device());
        let y = burn::tensor::activation::softmax((lq.clone() + g) / TEMPERATURE, 1);
        let lj = self.log_joint(x);
        let signal = (y * (lj.clone() - lq.clone())).sum_dim(1).mean();
        let lq = lq.detach();
        let elbo = values((lq.clone().exp() * (lj.detach() - lq)).sum_dim(1).mean())[0];
        MixtureStep { loss: -signal, elbo }
    }
}

/// The encoder's gradient of one estimate, flattened (all encoder weights and biases).
pub fn encoder_gradient(model: &Mixture, x: Tensor<2>, estimator: GradientEstimator, noise: &mut Noise) -> Vec<f64> {
    let step = model.step(x, estimator, noise);
    let grads = GradientsParams::from_grads(step.loss.backward(), model);
    let mut out = Vec::new();
    for layer in &model.encoder {
        let w: Tensor<2> = grads.get(layer.weight.id).expect("encoder weight gradient");
        out.extend(values(w));
        if let Some(bias) = &layer.bias {
            let g: Tensor<1> = grads.get(bias.id).expect("encoder bias gradient");
            out.extend(values(g));
        }
    }
    out
}

/// Mean and variance (per component) of `repeats` gradient estimates.
pub struct GradientMoments {
    pub mean: Vec<f64>,
    pub variance: Vec<f64>,
    pub repeats: usize,
}

impl GradientMoments {
    /// Σ_j Var[g_j]: the trace of the estimator's covariance.
    pub fn total_variance(&self) -> f64 {
        self.variance.iter().sum()
    }
}

/// Moments of the encoder gradient of `estimator` over `repeats` independent estimates on `x`.
pub fn gradient_moments(model: &Mixture, x: &Tensor<2>, estimator: GradientEstimator, repeats: usize, noise: &mut Noise) -> GradientMoments {
    let samples: Vec<Vec<f64>> = (0..repeats).map(|_| encoder_gradient(model, x.clone(), estimator, noise)).collect();
    let n = samples[0].len();
    let r = repeats as f64;
    let mean: Vec<f64> = (0..n).map(|j| samples.iter().map(|s| s[j]).sum::<f64>() / r).collect();
    let variance = (0..n).map(|j| samples.iter().map(|s| (s[j] - mean[j]).powi(2)).sum::<f64>() / (r - 1.0).max(1.0)).collect();
    GradientMoments { mean, variance, repeats }
}

/// Fits only the NVIL baseline b_ψ to the model's current learning signal (model frozen).
pub fn fit_baseline(model: Mixture, x: &Tensor<2>, steps: usize, lr: f64, noise: &mut Noise) -> Mixture {
    let mut optim = burn::optim::AdamConfig::new().init();
    let mut model = model;
    for _ in 0..steps {
        let step = model.step(x.clone(), GradientEstimator::Nvil, noise);
        let grads = GradientsParams::from_grads(step.loss.backward(), &model);
        // Keep only the baseline's gradients.
        let mut only = GradientsParams::new();
        for layer in &model.baseline {
            let w: Tensor<2> = grads.get(layer.weight.id).expect("baseline weight gradient");
            only.register(layer.weight.id, w);
            if let Some(bias) = &layer.bias {
                let g: Tensor<1> = grads.get(bias.id).expect("baseline bias gradient");
                only.register(bias.id, g);
            }
        }
        model = optim.step(lr, model, only);
    }
    model
}
