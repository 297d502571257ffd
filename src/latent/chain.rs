//! The chain: stages between the data x = h_0 and the prior end h_T ~ N(0, I).
//!
//! Each stage links a data-side state h (known when inference reaches it) to a prior-side
//! state z and adds its part to the log-weight
//!
//! ```text
//! log w = log p(h_T) + Σ_stages [log p_F(stage) − log p_B(stage)],   E_{p_B}[log w] = ELBO
//! ```
//!
//! - [`Stage::Gaussian`]: z ~ q(z | h), adds log p(h | z) − log q(z | h).
//! - [`Stage::Flow`]: z = f(h) deterministic (σ → 0), adds log|det ∂f/∂h|.
//! - [`Stage::Sde`]: z₀ ~ q(z₀ | h); a posterior path z₀ → z_τ with drift u(z, h); adds
//!   log p(h | z_τ) + log dP_w/dQ_u − log q(z₀ | h); z = z₀ goes on towards the prior.
//! - [`Stage::Series`]: h a time series (x_k, m_k)_{k<K}; z₀ ~ q(z₀ | c₀) from a backward GRU;
//!   a posterior path through the observation times; adds Σ_k m_k log p(x_k | z_{t_k}) +
//!   log dP_w/dQ_u − log q(z₀ | h); z = z₀ goes on towards the prior ([`super::series`]).
//! - [`Stage::Diffusion`]: T fixed noising kernels q(y_t | y_{t−1}) and learned denoising ones
//!   p_θ(y_{t−1} | y_t); adds their log-ratio along the path (or its Rao–Blackwellised
//!   expectation); z = y_T goes on to the prior ([`super::diffusion`]).
//!
//! Inference runs stages data → prior; generation runs them prior → data.

use super::kernels::{Flow, GaussianKernel, SdeSegment};
use super::log_standard_normal;
use super::diffusion::DiffusionStage;
use super::series::SeriesStage;
use crate::base::noise::Noise;
use burn::module::Module;
use burn::tensor::Tensor;

/// A Gaussian kernel pair: q(z | h) (inference) and p(h | z) (generation).
#[derive(Module, Debug)]
pub struct GaussianStage {
    pub encoder: GaussianKernel,
    pub decoder: GaussianKernel,
}

/// A latent SDE between an encoder q(z₀ | h) and a decoder p(h | z_τ).
#[derive(Module, Debug)]
pub struct SdeStage {
    pub encoder: GaussianKernel,
    pub segment: SdeSegment,
    pub decoder: GaussianKernel,
}

/// One link of the chain.
#[derive(Module, Debug)]
pub enum Stage {
    Gaussian(GaussianStage),
    Flow(Flow),
    Sde(SdeStage),
    Series(SeriesStage),
    Diffusion(DiffusionStage),
}

/// Stages in order from the data (index 0) to the prior.
#[derive(Module, Debug)]
pub struct Chain {
    pub stages: Vec<Stage>,
}

/// How the log-weight treats the zero-mean Girsanov term Σ −(u − w)·ΔW.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathTerm {
    /// Include it: log w is the exact log-ratio (needed by IWAE).
    Exact,
    /// Drop it: same expectation, lower variance (training the ELBO).
    Expected,
}

/// The log-weight of one backward sample and the state that reached the prior.
pub struct LogWeight {
    /// log p_F(x, h_{1:T}) − log p_B(h_{1:T} | x), `[B]`.
    pub log_weight: Tensor<1>,
    /// h_T, `[B, d_T]`.
    pub latent: Tensor<2>,
}

impl Chain {
    /// One reparameterised backward sample per row of `x` and its log-weight.
    pub fn log_weight(&self, x: Tensor<2>, noise: &mut Noise, term: PathTerm) -> LogWeight {
        let b = x.dims()[0];
        let mut lw = Tensor::<1>::zeros([b], &x.device());
        let mut h = x;
        for stage in &self.stages {
            let (z, part) = match stage {
                Stage::Gaussian(g) => {
                    let (z, log_q) = g.encoder.sample(h.clone(), noise);
                    let log_p = g.decoder.log_prob(h, z.clone());
                    (z, log_p - log_q)
                }
                Stage::Flow(f) => f.forward(h),
                Stage::Sde(s) => {
                    let (z0, log_q) = s.encoder.sample(h.clone(), noise);
                    let path = s.segment.posterior_path(z0.clone(), h.clone(), noise);
                    let log_p = s.decoder.log_prob(h, path.end);
                    let mut part = log_p - log_q + path.log_ratio_mean;
                    if term == PathTerm::Exact {
                        part = part + path.log_ratio_martingale;
                    }
                    (z0, part)
                }
                Stage::Series(s) => {
                    let p = s.log_weight_part(h, noise, term == PathTerm::Exact);
                    (p.z0, p.part)
                }
                Stage::Diffusion(s) => s.log_weight_part(h, noise, term == PathTerm::Exact),
            };
            lw = lw + part;
            h = z;
        }
        LogWeight { log_weight: lw + log_standard_normal(h.clone()), latent: h }
    }

    /// Dimension of the prior-side state h_T (the dimension of a Flow stage is its input's).
    pub fn prior_dim(&self, data_dim: usize) -> usize {
        self.stages.iter().fold(data_dim, |d, s| match s {
            Stage::Gaussian(g) => g.encoder.mean_dim(),
            Stage::Flow(_) => d,
            Stage::Sde(s) => s.encoder.mean_dim(),
            Stage::Series(s) => s.initial.mean_dim(),
            Stage::Diffusion(_) => d,
        })
    }

    /// `n` draws from the generative chain, prior → data. With `mean_last`, the last step
    /// (p(x | h_1)) returns its mean instead of a draw (cleaner images).
    pub fn sample(&self, n: usize, data_dim: usize, mean_last: bool, noise: &mut Noise, device: &burn::tensor::Device) -> Tensor<2> {
        let mut h = noise.gaussian([n, self.prior_dim(data_dim)], 1.0, device);
        for (i, stage) in self.stages.iter().enumerate().rev() {
            let draw = |k: &GaussianKernel, z: Tensor<2>, noise: &mut Noise| {
                if mean_last && i == 0 { k.forward(z).0 } else { k.sample(z, noise).0 }
            };
            h = match stage {
                Stage::Gaussian(g) => draw(&g.decoder, h, noise),
                Stage::Flow(f) => f.inverse(h),
                Stage::Sde(s) => {
                    let end = s.segment.prior_path(h, noise);
                    draw(&s.decoder, end, noise)
                }
                Stage::Series(s) => {
                    // Rows in the data layout: (x_k, m_k = 1) at every observation time.
                    let path = s.prior(h, false, noise);
                    let ones = Tensor::<2>::ones([n, 1], &path.at_observations[0].device());
                    let slots = path.at_observations.into_iter().map(|z| Tensor::cat(vec![draw(&s.decoder, z, noise), ones.clone()], 1)).collect();
                    Tensor::cat(slots, 1)
                }
                Stage::Diffusion(s) => s.sample_from(h, mean_last && i == 0, noise),
            };
        }
        h
    }
}

impl GaussianKernel {
    /// Output dimension.
    pub fn mean_dim(&self) -> usize {
        self.mean.weight.val().dims()[1]
    }
}

#[cfg(test)]
mod tests {
    //! With the exact backward kernels of a linear-Gaussian Markov chain h₂ → h₁ → x, every
    //! backward sample has log w = log p(x) (Bayes' rule, stage by stage): the chain's
    //! bookkeeping of forward and backward densities is exact.
    use super::*;
    use crate::latent::kernels::{GaussianKernelConfig, Variance};
    use crate::latent::{LN_2PI, values};
    use burn::module::Param;
    use burn::nn::Linear;
    use burn::tensor::{Device, FloatDType, TensorData};

    fn kernel(weight: Vec<f64>, bias: Vec<f64>, var: f64, d_in: usize, d_out: usize, device: &Device) -> GaussianKernel {
        let mut k = GaussianKernelConfig { d_in, d_out, hidden: 0, layers: 0, variance: Variance::Shared, log_var_init: var.ln() }.init(&mut Noise::new(0), device);
        k.mean = Linear {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(weight, [d_in, d_out]), device)),
            bias: Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [d_out]), device))),
        };
        k
    }

    #[test]
    fn exact_backward_kernels_give_a_constant_log_weight_equal_to_log_p() {
        let mut device = Device::flex();
        let _ = device.configure(FloatDType::F64);
        // h₂ ~ N(0, 1); h₁ | h₂ ~ N(a h₂ + b, s²); x | h₁ ~ N(c h₁ + e, t² I₂).
        let (a, b, s2) = (0.8, 0.3, 0.5);
        let (c, e, t2) = ([1.2, -0.7], [0.1, 0.4], 0.2);
        let (m1, v1) = (b, a * a + s2);
        let cc = c[0] * c[0] + c[1] * c[1];
        let post = 1.0 / (1.0 / v1 + cc / t2);
        let ce = c[0] * e[0] + c[1] * e[1];
        let q1 = kernel(vec![post * c[0] / t2, post * c[1] / t2], vec![post * (m1 / v1 - ce / t2)], post, 2, 1, &device);
        let p1 = kernel(c.to_vec(), e.to_vec(), t2, 1, 2, &device);
        let post2 = 1.0 / (1.0 + a * a / s2);
        let q2 = kernel(vec![post2 * a / s2], vec![-post2 * a * b / s2], post2, 1, 1, &device);
        let p2 = kernel(vec![a], vec![b], s2, 1, 1, &device);
        let chain = Chain {
            stages: vec![Stage::Gaussian(GaussianStage { encoder: q1, decoder: p1 }), Stage::Gaussian(GaussianStage { encoder: q2, decoder: p2 })],
        };
        let xs = [[0.3, -0.2], [1.5, 0.7], [-2.0, 1.1]];
        let x = Tensor::<2>::from_data(TensorData::new(xs.concat(), [3, 2]), &device);
        // log p(x) = log N(x; c m₁ + e, v₁ c cᵀ + t² I).
        let (s00, s01, s11) = (v1 * c[0] * c[0] + t2, v1 * c[0] * c[1], v1 * c[1] * c[1] + t2);
        let det = s00 * s11 - s01 * s01;
        let exact: Vec<f64> = xs
            .iter()
            .map(|x| {
                let r = [x[0] - c[0] * m1 - e[0], x[1] - c[1] * m1 - e[1]];
                let quad = (s11 * r[0] * r[0] - 2.0 * s01 * r[0] * r[1] + s00 * r[1] * r[1]) / det;
                -0.5 * (2.0 * LN_2PI + det.ln() + quad)
            })
            .collect();
        let mut noise = Noise::new(5);
        for _ in 0..3 {
            let lw = values(chain.log_weight(x.clone(), &mut noise, PathTerm::Exact).log_weight);
            for (w, p) in lw.iter().zip(&exact) {
                assert!((w - p).abs() < 1e-9, "log w {w} vs log p(x) {p}");
            }
        }
    }
}
