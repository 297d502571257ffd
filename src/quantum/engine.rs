//! The interfaces of the quantum application, below both their users and their two
//! implementations (burn autodiff on any backend, the hand-written fused CPU engine):
//!
//! - [`PathEngine`]: one training computation — walkers and parameters in; the Feynman–Kac
//!   loss, the energy and the gradients out ([`crate::quantum::train`] runs the loop;
//!   implemented by [`crate::quantum::autodiff::AutodiffEngine`], [`crate::quantum::fused::FusedEngine`]
//!   and the VMC engine of [`crate::quantum::objective::vmc`]).
//! - [`PathSimulator`]: paths without gradients for the variational evaluation
//!   ([`crate::quantum::evaluate`]).
//! - [`Guide`]: what the guided walks and DMC ([`crate::quantum::walk`]) need of a drift.
//!
//! Which implementation a run uses is decided in one place,
//! [`crate::base::config::EngineChoice::fused`]; [`crate::quantum::select`] builds it.

use crate::base::noise::Noise;
use crate::path::integrators::Tableau;
use crate::quantum::nn::DriftNet;
use crate::quantum::physics::System;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};

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
    /// E_L of the drift `net` at walkers `x` (f64, walker-major), for the convergence monitor;
    /// `None` where the engine cannot give it.
    fn local_energies(&self, _net: &DriftNet, _x: &[f64]) -> Option<Vec<f64>> {
        None
    }
    /// Called by the loop before each step with the training stage it belongs to (0, or 1 in
    /// the [`TrainStage`] of the schedule): a staged engine picks its engine.
    fn begin(&mut self, _stage: usize) {}
}

/// The pieces of the path functional along `steps` steps of fresh paths.
pub struct Measured {
    /// Per walker Σ_n (V + ½|v|²)(X_n).
    pub running: Vec<f64>,
    /// Per walker Σ_n v(X_n)·ΔW_n.
    pub martingale: Vec<f64>,
    /// Per step the walker average of V + ½|v|².
    pub series: Vec<f64>,
    /// The final walkers.
    pub walkers: Option<Tensor<3>>,
}

/// Simulates paths without gradients: the burn graph ([`crate::quantum::autodiff::BurnSimulator`], any backend) or the
/// fused CPU engine ([`crate::quantum::fused::FusedSimulator`]). Noise is drawn in the same order by both.
pub trait PathSimulator {
    /// X after `steps` steps of size `dt` from `walkers`.
    fn advance(&mut self, walkers: Tensor<3>, steps: usize, dt: f64, noise: &mut Noise) -> Tensor<3>;
    /// The path functional's pieces along `steps` steps from `walkers`.
    fn measure(&mut self, walkers: Tensor<3>, steps: usize, dt: f64, noise: &mut Noise) -> Measured;
}

/// One step of the guiding drift process for a set of walkers.
pub struct Advance {
    /// X_{n+1}, walkers × dim.
    pub next: Vec<f64>,
    /// Per walker (V + ½|v|²)(X_n).
    pub running: Vec<f64>,
    /// Per walker v(X_n)·ΔW_n.
    pub martingale: Vec<f64>,
}

/// The drift, E_L and the exact part ([`Guide::exact_part`]) at a set of walkers.
pub struct GuideValues {
    pub v: Vec<f64>,
    /// E_L per walker; empty from [`Guide::evaluate_drift`], which does not compute it.
    pub e: Vec<f64>,
    pub exact: Option<(Vec<f64>, Vec<f64>)>,
}

/// What the walker loop needs of a guiding drift.
pub trait Guide {
    /// Coordinates per walker (particles · dims).
    fn dim(&self) -> usize;
    /// One step of dX = v dt + dW from `x` (walkers × dim), noise drawn from `noise`.
    fn advance(&self, x: &[f64], dt: f64, noise: &mut Noise) -> Advance;
    /// E_L at every walker.
    fn local_energy(&self, x: &[f64]) -> Vec<f64>;
    /// The drift v (walkers × dim) and E_L at every walker.
    fn drift_and_local_energy(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>);
    /// A reference potential S_e with known gradient (the cusp prior, or a trap's
    /// non-interacting ground state): S_e per walker and ∇S_e (walkers × dim). The Metropolis
    /// ratio takes ΔS_e exactly and applies the trapezoid rule only to u = v − ∇S_e, which is
    /// smooth where ∇S_e is not (and small where S_e is close to log ψ_T).
    fn exact_part(&self, _x: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
        None
    }
    /// [`Self::drift_and_local_energy`] and [`Self::exact_part`] together (a guide that computes
    /// them in one pass overrides this).
    fn evaluate(&self, x: &[f64]) -> GuideValues {
        let (v, e) = self.drift_and_local_energy(x);
        GuideValues { v, e, exact: self.exact_part(x) }
    }
    /// The drift and the exact part without E_L (`e` empty): all that a Metropolis move needs
    /// ([`crate::quantum::walk::metropolis_sample`]). A guide whose E_L costs more than its drift overrides this.
    fn evaluate_drift(&self, x: &[f64]) -> GuideValues {
        let (v, _) = self.drift_and_local_energy(x);
        GuideValues { v, e: Vec::new(), exact: self.exact_part(x) }
    }
    /// What the unbranched walk needs at every walker: the drift, E_L and, if the guide can give
    /// it, a lower-variance integrand for ⟨|c|²⟩_ρ than (V + ½|v|²) − E_L (see the module docs).
    fn walk_terms(&self, x: &[f64]) -> WalkTerms {
        let (v, e) = self.drift_and_local_energy(x);
        WalkTerms { v, e, non_gradient: None }
    }
}

/// The drift (walkers × dim), E_L and the non-gradient integrand at a set of walkers.
pub struct WalkTerms {
    pub v: Vec<f64>,
    pub e: Vec<f64>,
    pub non_gradient: Option<Vec<f64>>,
}

/// Builds the [`Guide`] of a drift on a device (`None` where none exists there): how a user of
/// guides (the VMC engine) gets one without naming an implementation;
/// [`crate::quantum::select::guide_on`] is the one the runs pass.
pub type GuideFactory = for<'a> fn(&'a DriftNet, &'a System, &'static Tableau, &Device) -> Option<Box<dyn Guide + 'a>>;
