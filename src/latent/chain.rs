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
//!
//! Inference runs stages data → prior; generation runs them prior → data.

use super::kernels::{Flow, GaussianKernel, SdeSegment};
use super::log_standard_normal;
use crate::noise::Noise;
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
            };
            lw = lw + part;
            h = z;
        }
        LogWeight { log_weight: lw + log_standard_normal(h.clone()), latent: h }
    }

    /// Dimension of the prior-side state h_T (the dimension of a Flow stage is its input's).
    pub fn prior_dim(&self, data_dim: usize) -> usize {
        self.stages.iter().fold(data_dim, |d, s| match s {
            Stage::Gaussian(g) => g.encoder.mean_dim().unwrap_or(d),
            Stage::Flow(_) => d,
            Stage::Sde(s) => s.encoder.mean_dim().unwrap_or(d),
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
            };
        }
        h
    }
}

impl GaussianKernel {
    /// Output dimension when the kernel has its own mean layer.
    pub fn mean_dim(&self) -> Option<usize> {
        match &self.mean_flow {
            Some(_) => None,
            None => Some(self.mean.weight.val().dims()[1]),
        }
    }
}
