//! The one place a `solve` run's engines are built. Whether the hand-written fused CPU engine
//! or burn's autodiff computes is decided by [`EngineChoice::fused`] (`[train] engine` and the
//! device); this file turns that decision into the training engine ([`PathEngine`]), the
//! evaluation's path simulator ([`PathSimulator`]) and the guide of the guided walks
//! ([`Guide`]).

use crate::base::config::EngineChoice;
use crate::path::integrators::{Integrator, Tableau};
use crate::quantum::engine::{Guide, PathEngine, PathSimulator};
use crate::quantum::autodiff::BurnSimulator;
use crate::quantum::fused::{FusedEngine, FusedSimulator};
use crate::quantum::nn::DriftNet;
use crate::quantum::physics::System;
use crate::quantum::problem::Problem;
use crate::quantum::autodiff::AutodiffEngine;
use crate::quantum::autodiff::TensorGuide;
use burn::tensor::{Device, Tensor};

/// Whether `problem` runs on the fused CPU engine on `device` (`[train] engine`, falling back
/// to autodiff where the fused engine does not run).
pub fn use_fused(problem: &Problem, device: &Device) -> bool {
    problem.train.engine.fused(device)
}

/// The Feynman–Kac training step of `problem` on `device`: [`FusedEngine`] (in the problem's
/// precision, with its step-level checkpointing) or [`AutodiffEngine`].
pub fn training_engine<'a>(problem: &'a Problem, device: &Device) -> Box<dyn PathEngine + 'a> {
    let (system, integrator) = (&problem.system, problem.sde.integrator);
    let (dt, steps, boundary) = (problem.sde.dt, problem.sde.steps, problem.train.boundary);
    if use_fused(problem, device) {
        let precision = crate::quantum::fused::precision_for(problem.train.precision, device);
        Box::new(FusedEngine::new(system, integrator, dt, steps, boundary).with_precision(precision).with_checkpoint_segment(problem.train.checkpoint_segment))
    } else {
        Box::new(AutodiffEngine { system, integrator, dt, steps, boundary })
    }
}

/// The evaluation's path simulator for the trained `net`: [`FusedSimulator`] on the fused
/// engine, else [`BurnSimulator`] over `drift` and `potential` (the same drift and potential
/// as burn closures).
pub fn simulator<'a>(
    problem: &'a Problem,
    net: &'a DriftNet,
    drift: &'a dyn Fn(Tensor<3>) -> Tensor<3>,
    potential: &'a dyn Fn(Tensor<3>) -> Tensor<1>,
    device: &Device,
) -> Box<dyn PathSimulator + 'a> {
    if use_fused(problem, device) {
        Box::new(FusedSimulator::new(net, &problem.system, problem.sde.integrator))
    } else {
        let integrator: &'a dyn Integrator = problem.sde.integrator;
        Box::new(BurnSimulator { drift, potential, integrator })
    }
}

/// The guide of `net` on `device`: the fused engine on the CPU (every drift), [`TensorGuide`]
/// on any other device (gradient drifts; `None` for the others).
pub fn guide_on<'a>(net: &'a DriftNet, system: &'a System, integrator: &'static Tableau, device: &Device) -> Option<Box<dyn Guide + 'a>> {
    if EngineChoice::Auto.fused(device) {
        return Some(Box::new(FusedSimulator::new(net, system, integrator)));
    }
    TensorGuide::new(net, system, integrator, device).map(|g| Box::new(g) as Box<dyn Guide + 'a>)
}

