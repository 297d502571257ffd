//! Drift networks v_θ: [walkers, particles, dims] → [walkers, particles, dims].
//!
//! - [`Mlp`]: a tanh multilayer perceptron on the flattened configuration plus a learnable
//!   linear skip initialised to `skip_init`·x (−x: a restoring drift, the exact answer for the
//!   unit harmonic oscillator).
//! - [`PairNet`]: a permutation-equivariant network for identical particles: one-body features
//!   of r_i and summed pair features of (r_i − r_j, |r_i − r_j|), a zero-initialised output
//!   layer, and a per-particle skip.
//! - [`Potential`]: a gradient drift v = ∇S_θ, S_θ a scalar tanh network on the flattened
//!   configuration (v = ∇log ψ_T for some ψ_T by construction).
//! - [`Jastrow`]: a gradient drift v = ∇S_θ with S_θ a sum of learned one-body and pair terms
//!   on distance features: exactly invariant under exchange of identical particles.
//!
//! Networks know no physics: analytic prior drifts (cusps) are added by the caller.
//! Weights are initialised from the run's [`Noise`] stream so that a seed fixes them.

mod jastrow;
mod mlp;
mod pair;
mod potential;

pub use jastrow::{Jastrow, JastrowConfig, JastrowGeometry, ThreeBody};
pub use mlp::{Mlp, MlpConfig};
pub use pair::{PairNet, PairNetConfig};
pub use potential::Potential;

pub(crate) use crate::base::layers::{Init, linear, scalar};
use burn::module::Module;
use burn::tensor::Tensor;

/// Any drift network of the crate.
#[derive(Module, Debug)]
pub enum DriftNet {
    Mlp(Mlp),
    Pair(PairNet),
    Potential(Potential),
    Jastrow(Jastrow),
}

impl DriftNet {
    /// v_θ(x), same shape as `x`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            DriftNet::Mlp(m) => m.forward(x),
            DriftNet::Pair(p) => p.forward(x),
            DriftNet::Potential(p) => p.forward(x),
            DriftNet::Jastrow(j) => j.forward(x),
        }
    }

    /// S_θ(x) per walker ([walkers]) for the gradient drifts v = ∇S_θ (the learned part of
    /// log ψ_T; the caller's prior is not included); `None` for drifts that are not gradients.
    pub fn log_psi(&self, x: Tensor<3>) -> Option<Tensor<1>> {
        match self {
            DriftNet::Potential(p) => {
                let [w, n, d] = x.dims();
                Some(p.value(x.reshape([w, n * d])).reshape([w]))
            }
            DriftNet::Jastrow(j) => Some(j.log_psi(x)),
            DriftNet::Mlp(_) | DriftNet::Pair(_) => None,
        }
    }
}

impl DriftNet {
    /// ΔS_θ(x) per walker ([walkers]) for the gradient drifts, in burn ops (an explicit
    /// forward-mode pass: [`Potential::curvature_along`], [`Jastrow::laplacian`]); `None` for
    /// drifts that are not gradients.
    pub fn laplacian(&self, x: Tensor<3>) -> Option<Tensor<1>> {
        match self {
            DriftNet::Potential(p) => Some(p.laplacian(x)),
            DriftNet::Jastrow(j) => Some(j.laplacian(x)),
            DriftNet::Mlp(_) | DriftNet::Pair(_) => None,
        }
    }
}
