//! Latent-variable models in the path-space view.
//!
//! A model is a pair of path measures over the states h_0 = x, h_1, …, h_T (h_T next to the
//! prior): the forward (generative) measure p_F = p(h_T) Π_t p_θ(h_{t−1} | h_t) and the backward
//! (inference) measure p_B = p_data(x) Π_t q_φ(h_t | h_{t−1}). Training minimises
//! KL(p_B ‖ p_F) = E_{p_B}[log p_B − log p_F], i.e. maximises the ELBO
//! E_{p_B}[log p_F(x, h_{1:T}) − log q_φ(h_{1:T} | x)] ≤ log p_θ(x), estimated with
//! reparameterised samples (Kingma & Welling 2014; the chain form is Sønderby et al. 2016).
//!
//! One abstraction, [`chain::Chain`], a list of [`chain::Stage`]s, covers the special cases:
//! - one Gaussian stage: the VAE;
//! - only deterministic invertible stages (σ → 0; affine couplings, Dinh et al. 2017): a
//!   normalizing flow, log-weight = log p(z(x)) + log|det ∂z/∂x|;
//! - T Gaussian stages: the Markov-chain (hierarchical) VAE;
//! - an SDE stage: the continuous-time limit, a latent SDE whose pathwise KL for unit diffusion
//!   is E ∫ ½|u − w|² dt (Girsanov; Tzen & Raginsky 2019, Li et al. 2020);
//! - a series stage: a latent SDE observed along a time series ([`series`], [`series_data`]);
//! - a diffusion stage: T Gaussian stages whose backward kernels are fixed (a noising
//!   schedule) and whose forward kernels are learned, a denoising diffusion model ([`diffusion`]).
//!
//! Map:
//! - [`kernels`]: Gaussian kernels, affine coupling layers, the SDE segment.
//! - [`chain`]: stages, the chain, its log-weight log p_F − log p_B and generative sampling.
//! - [`bounds`]: ELBO, IWAE(K), closed-form Gaussian KL, bits per dimension.
//! - [`mixture`]: a discrete-latent mixture trained by exact enumeration, REINFORCE, NVIL and a
//!   Gumbel-softmax relaxation.
//! - [`data`]: the 8×8 digits (vendored CSV.gz), two moons and a ring of Gaussians.
//! - [`ppca`]: probabilistic PCA in closed form, the linear-Gaussian reference.
//! - [`config`]: `fit` problem files; [`fit`]: a whole `pathspace fit` run; [`plot`]: its plots;
//!   [`checkpoint`]: what `fit --resume` continues from; [`record`]: run.h5's /evaluation,
//!   /samples and /latent.
//!
//! Tensor layout: `[batch, features]`.

pub mod bounds;
pub mod chain;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod fused;
pub mod diffusion;
pub mod evaluate;
pub mod fit;
pub mod kernels;
pub mod mixture;
pub mod mixture_fit;
pub mod output;
pub mod plot;
pub mod ppca;
pub mod record;
pub mod series;
pub mod series_data;
pub mod train;

use burn::tensor::Tensor;

/// ln(2π).
pub const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// log N(x; μ, diag exp(log_var)), summed over the last axis: `[B, D]` → `[B]`.
pub fn log_normal(x: Tensor<2>, mean: Tensor<2>, log_var: Tensor<2>) -> Tensor<1> {
    let d = x.dims()[1] as f64;
    let r = (x - mean).square() * log_var.clone().neg().exp();
    let s = (r + log_var).sum_dim(1).flatten::<1>(0, 1);
    (s + d * LN_2PI) * (-0.5)
}

/// log N(x; 0, I), summed over the last axis.
pub fn log_standard_normal(x: Tensor<2>) -> Tensor<1> {
    let d = x.dims()[1] as f64;
    (x.square().sum_dim(1).flatten::<1>(0, 1) + d * LN_2PI) * (-0.5)
}

/// log Σ_k exp(x_k) along `dim`, stabilised by the (detached) maximum.
pub fn log_sum_exp<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let m = x.clone().max_dim(dim).detach();
    (x - m.clone()).exp().sum_dim(dim).log() + m
}

/// tanh x = 2 σ(2x) − 1, the same function through the backend's sigmoid, whose per-element
/// exp is several times cheaper on the CPU backend than its tanh (libm tanhf → expm1f; measured
/// with `perf` on the latent-SDE fit). Absolute error ~1e-7 in f32 near 0.
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    burn::tensor::activation::sigmoid(x * 2.0) * 2.0 - 1.0
}

/// The values of a tensor as f64.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_into_vec_as::<f64>().expect("float tensor")
}
