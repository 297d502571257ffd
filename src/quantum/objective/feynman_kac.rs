//! The Feynman–Kac (Holland) path functional and its training loss.
//!
//! For H = −½∇² + V and the controlled diffusion dX = v(X) dt + dW (Itô, left-point sums),
//!
//! ```text
//! ℓ_T = Σ_n [ v(X_n)·ΔW_n + (½|v(X_n)|² + V(X_n)) Δt ]
//! log dP_v/dP_FK = ℓ_T − E₀T + log φ₀(X₀)/φ₀(X_T)
//! ```
//!
//! so KL(P_v‖P_FK) ≥ 0 gives E[ℓ_T]/T ≥ E₀ up to the boundary term, with equality for the optimal
//! drift v* = ∇log φ₀ (Holland 1977; Barr, Gispen & Lamacraft, MSML 2020). The training loss is
//!
//! ```text
//! L = mean_{n,walkers}[ V + ½|v|² + v·ΔW/Δt ] − mean_walkers[ sg(v(X_T))·X_T ] / T
//! ```
//!
//! where sg is stop-gradient. The second term is the boundary correction: its gradient,
//! −sg(v(X_T))·∂X_T/∂θ / T, is the gradient of −log φ(X_T)/T through the end point when
//! v ≈ ∇log φ, the part of the KL that a loss without it ignores (REFERENCE.md, "The path
//! length matters").

use crate::path::sde::PathRecord;
use burn::tensor::Tensor;

/// The per-step, per-walker pieces of ℓ_T.
///
/// `running[n, w]` = V(X_n) + ½|v(X_n)|²  and  `martingale[n, w]` = v(X_n)·ΔW_n, so that
/// ℓ_T(w) = Σ_n (running[n, w] Δt + martingale[n, w]).
#[derive(Debug, Clone)]
pub struct PathFunctional {
    pub dt: f64,
    pub running: Tensor<2>,
    pub martingale: Tensor<2>,
}

impl PathFunctional {
    /// Evaluates V along the path (all steps in one batched call) and assembles the pieces.
    pub fn new(path: &PathRecord, potential: &dyn Fn(Tensor<3>) -> Tensor<1>) -> Self {
        let n = path.steps();
        let [w, p, d] = path.states[0].dims();
        let states = Tensor::cat(path.states[..n].to_vec(), 0); // [n·w, p, d]
        let drifts = Tensor::cat(path.drifts[..n].to_vec(), 0).reshape([n * w, p * d]);
        let increments = Tensor::cat(path.increments.clone(), 0).reshape([n * w, p * d]);
        let v = potential(states).reshape([n, w]);
        let kinetic = (drifts.clone() * drifts.clone()).sum_dim(1).reshape([n, w]) * 0.5;
        let martingale = (drifts * increments).sum_dim(1).reshape([n, w]);
        Self { dt: path.dt, running: v + kinetic, martingale }
    }

    /// ℓ_T/T for each walker, [walkers].
    pub fn per_walker_energy(&self) -> Tensor<1> {
        let [n, w] = self.running.dims();
        let t = n as f64 * self.dt;
        ((self.running.clone() * self.dt + self.martingale.clone()).sum_dim(0) / t).reshape([w])
    }
}

/// Scalar outputs of the loss (shape [1] tensors, tracked when the path is).
#[derive(Debug, Clone)]
pub struct FeynmanKacLoss {
    /// The quantity differentiated.
    pub loss: Tensor<1>,
    /// E[ℓ_T]/T, the variational energy estimate of these paths.
    pub energy: Tensor<1>,
}

impl FeynmanKacLoss {
    /// Builds the loss from a path; `boundary` adds the end-point correction.
    pub fn new(path: &PathRecord, potential: &dyn Fn(Tensor<3>) -> Tensor<1>, boundary: bool) -> Self {
        let functional = PathFunctional::new(path, potential);
        let energy = functional.per_walker_energy().mean();
        let loss = if boundary {
            let x_t = path.last_state();
            let [w, p, d] = x_t.dims();
            let v_t = path.drifts.last().expect("path has a final drift").clone().detach();
            let end = (v_t * x_t).reshape([w, p * d]).sum_dim(1).mean().reshape([1]);
            energy.clone() - end / path.horizon()
        } else {
            energy.clone()
        };
        Self { loss, energy }
    }
}
