//! The training loop: Adam on the Feynman–Kac loss, walkers carried from episode to episode.
//!
//! The computation of one step sits behind [`PathEngine`]: walkers and parameters in; loss,
//! energy estimate, parameter gradients and the final walkers out. [`AutodiffEngine`]
//! differentiates the whole simulated path with burn's reverse-mode autodiff on any backend.
//!
//! Learning rate: lr_k = lr / (1 + k/k_decay). NaN/Inf in the loss, the energy or the walkers
//! restores the last good parameters, optimiser state and walkers, halves the learning rate and
//! goes on; the bad step is never applied or averaged.

use crate::error::{Error, Result};
use crate::integrators::Integrator;
use crate::nn::DriftNet;
use crate::noise::Noise;
use crate::objective::FeynmanKacLoss;
use crate::physics::System;
use crate::sde::simulate;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use std::time::Instant;

/// One row of training.csv.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainingRow {
    pub iteration: usize,
    pub loss: f64,
    pub energy: f64,
    pub learning_rate: f64,
    pub seconds: f64,
}

/// The result of one engine step.
pub struct EngineStep {
    pub loss: f64,
    pub energy: f64,
    pub grads: GradientsParams,
    /// X_T, detached: the next episode's starting walkers.
    pub walkers: Tensor<3>,
}

/// One training computation: walkers and parameters in; loss, energy, gradients out.
pub trait PathEngine {
    fn step(&mut self, net: &DriftNet, walkers: Tensor<3>, noise: &mut Noise) -> EngineStep;
}

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
}

/// Optimiser settings.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub iterations: usize,
    pub lr: f64,
    pub lr_decay: f64,
}

impl Schedule {
    pub fn learning_rate(&self, iteration: usize) -> f64 {
        self.lr / (1.0 + iteration as f64 / self.lr_decay)
    }
}

/// What a training run leaves behind.
pub struct Trained {
    pub net: DriftNet,
    pub walkers: Tensor<3>,
    pub rows: Vec<TrainingRow>,
    pub recoveries: usize,
}

/// Most consecutive non-finite steps tolerated before giving up.
const MAX_RECOVERIES: usize = 20;

/// Trains `net` for `schedule.iterations` steps of `engine`, calling `on_row` after each.
pub fn train(
    engine: &mut dyn PathEngine,
    mut net: DriftNet,
    mut walkers: Tensor<3>,
    schedule: &Schedule,
    noise: &mut Noise,
    on_row: &mut dyn FnMut(&TrainingRow),
) -> Result<Trained> {
    let mut optim: ModuleOptimizer = AdamConfig::new().init();
    let start = Instant::now();
    let mut rows = Vec::with_capacity(schedule.iterations);
    let mut lr_scale = 1.0;
    let mut recoveries = 0;
    let mut consecutive = 0;
    let mut iteration = 0;
    // The state before the last applied update: a non-finite step may come from parameters that
    // the previous update broke (finite loss, non-finite gradient), so recovery rolls back one.
    let mut previous: Option<(DriftNet, ModuleOptimizer, Tensor<3>)> = None;
    while iteration < schedule.iterations {
        let lr = schedule.learning_rate(iteration) * lr_scale;
        let step = engine.step(&net, walkers.clone(), noise);
        let finite_walkers = step.walkers.clone().is_finite().all().into_scalar::<bool>();
        if !(step.loss.is_finite() && step.energy.is_finite() && finite_walkers) {
            recoveries += 1;
            consecutive += 1;
            if consecutive > MAX_RECOVERIES {
                return Err(Error::Diverged(format!(
                    "{consecutive} consecutive non-finite steps at iteration {iteration}"
                )));
            }
            // Nothing of this step is applied. Undo the update before it, lower the learning
            // rate and go on with fresh noise.
            if let Some((n, o, w)) = previous.take() {
                net = n;
                optim = o;
                walkers = w;
                rows.pop();
                iteration -= 1;
            }
            lr_scale *= 0.5;
            continue;
        }
        consecutive = 0;
        previous = Some((net.clone(), optim.clone(), walkers.clone()));
        net = optim.step(lr, net, step.grads);
        walkers = step.walkers;
        let row = TrainingRow {
            iteration,
            loss: step.loss,
            energy: step.energy,
            learning_rate: lr,
            seconds: start.elapsed().as_secs_f64(),
        };
        on_row(&row);
        rows.push(row);
        iteration += 1;
    }
    Ok(Trained { net, walkers, rows, recoveries })
}
