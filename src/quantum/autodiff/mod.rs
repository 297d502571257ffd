//! The burn side of each interface of [`crate::quantum::engine`], on any backend:
//! [`AutodiffEngine`] (reverse-mode autodiff through the whole simulated path),
//! [`simulator::BurnSimulator`] (paths without gradients) and [`guide::TensorGuide`] (the
//! guided walks' drift and local energy in tensor ops). The hand-written CPU side of the same
//! interfaces is [`crate::quantum::fused`]; tests hold the two equal.

pub mod guide;
mod local;
pub mod simulator;

pub use guide::TensorGuide;
pub use simulator::BurnSimulator;

use crate::base::noise::Noise;
use crate::path::integrators::Integrator;
use crate::path::sde::simulate;
use crate::quantum::engine::{EngineStep, PathEngine};
use crate::quantum::nn::DriftNet;
use crate::quantum::objective::FeynmanKacLoss;
use crate::quantum::physics::System;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// The drift of the process: network plus the system's analytic prior.
pub fn full_drift<'a>(net: &'a DriftNet, system: &'a System) -> impl Fn(Tensor<3>) -> Tensor<3> + 'a {
    move |x: Tensor<3>| match system.prior_drift(x.clone()) {
        Some(prior) => net.forward(x) + prior,
        None => net.forward(x),
    }
}

/// Reverse-mode autodiff through the whole path (burn, any backend).
pub struct AutodiffEngine<'a> {
    pub system: &'a System,
    pub integrator: &'static dyn Integrator,
    pub dt: f64,
    pub steps: usize,
    pub boundary: bool,
}

impl PathEngine for AutodiffEngine<'_> {
    fn step(&mut self, net: &DriftNet, walkers: Tensor<3>, noise: &mut Noise) -> EngineStep {
        let drift = full_drift(net, self.system);
        let path = simulate(&drift, self.integrator, walkers.detach(), self.steps, self.dt, noise);
        let potential = |x: Tensor<3>| self.system.potential(x);
        let fk = FeynmanKacLoss::new(&path, &potential, self.boundary);
        let loss = fk.loss.clone().into_scalar::<f64>();
        let energy = fk.energy.into_scalar::<f64>();
        let grads = GradientsParams::from_grads(fk.loss.backward(), net);
        EngineStep { loss, energy, grads, walkers: path.last_state().detach() }
    }

    /// Through the fused CPU kernels (the network's values are read off its device).
    fn local_energies(&self, net: &DriftNet, x: &[f64]) -> Option<Vec<f64>> {
        Some(crate::quantum::fused::local_energies(net, self.system, x))
    }
}

