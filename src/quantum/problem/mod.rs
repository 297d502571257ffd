//! The `solve` problem-file format (TOML): the configs a problem file builds ([`Problem`] and
//! one spec per table), and [`parse`] (the file's tables, their defaults and checks). Parsing
//! builds configs; it starts nothing.
//!
//! Every key, its default and its meaning: `problems/reference/solve.toml`, checked against
//! [`accepted_keys`] by tests/reference_files.rs. Every key but `system` has a default. Unknown
//! keys, wrong types and impossible values are errors that name the file, the line and the key.

mod parse;

pub use parse::accepted_keys;

use crate::base::config::{EngineChoice, read_text};
use crate::base::error::Result;
use crate::path::integrators::Tableau;
use crate::quantum::physics::System;
use std::path::{Path, PathBuf};

/// Drift network family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftKind {
    Mlp,
    Pair,
    /// v = ∇S_θ ([`crate::quantum::nn::Potential`]).
    Gradient,
    /// v = ∇S_θ, S_θ permutation-invariant one-body + pair terms ([`crate::quantum::nn::Jastrow`]).
    Jastrow,
}

/// `[drift]`: the network added to the system's prior drift.
#[derive(Debug, Clone)]
pub struct DriftSpec {
    pub kind: DriftKind,
    pub hidden: usize,
    pub layers: usize,
    pub cusps: bool,
    pub skip_init: f64,
    /// `density = M` (jastrow only): M density inputs ρ_iβ of the one-body network, with
    /// β = ½, 1, 2, … doubling ([`crate::quantum::nn::Jastrow`]).
    pub density: usize,
    /// `three_body` (jastrow only): the three-body term W of [`crate::quantum::nn::Jastrow`]: `true` or
    /// `"ordered"` (over the N(N−1)(N−2) ordered triples), `"power_sums"` (over the C(N, 3)
    /// unordered triples, on power sums of their features), `false` (none).
    pub three_body: Option<crate::quantum::nn::ThreeBody>,
}

impl DriftSpec {
    /// The decay rates β of the density inputs.
    pub fn density_rates(&self) -> Vec<f64> {
        (0..self.density).map(|m| 0.5 * f64::powi(2.0, m as i32)).collect()
    }
}

/// `[sde]`: the process used in training.
#[derive(Debug, Clone)]
pub struct SdeSpec {
    pub integrator: &'static Tableau,
    pub dt: f64,
    pub steps: usize,
}

/// `[train]`'s convergence monitor settings ([`crate::quantum::train`] runs the monitor).
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSettings {
    /// Iterations per monitor point.
    pub every: usize,
    /// Monitor points in the plateau test's window (at least 3).
    pub window: usize,
    /// Walkers (the first ones) whose E_L variance is recorded.
    pub walkers: usize,
    /// A slope within `z` of its standard errors is flat.
    pub z: f64,
    /// A slope whose change over the window is below this (relative to |energy|; absolute for
    /// log var E_L) is flat too.
    pub tolerance: f64,
    pub stop_on_plateau: bool,
    /// No plateau is declared before this many iterations.
    pub min_iterations: usize,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings { every: 100, window: 10, walkers: 64, z: 2.0, tolerance: 1e-3, stop_on_plateau: false, min_iterations: 0 }
    }
}

/// `[train]`.
#[derive(Debug, Clone)]
pub struct TrainSpec {
    pub walkers: usize,
    pub iterations: usize,
    pub lr: f64,
    /// lr_k = lr / (1 + k / lr_decay): the learning rate halves after `lr_decay` iterations.
    pub lr_decay: f64,
    pub seed: u64,
    /// Include the boundary correction −mean(v(X_T)·X_T)/T (v detached) in the loss.
    pub boundary: bool,
    /// Standard deviation of the initial walkers around their centres, in units of the
    /// system's length scale.
    pub init_spread: f64,
    pub engine: EngineChoice,
    /// Kernel precision of the fused engine (`--f64` makes it f64 too).
    pub precision: crate::base::device::Precision,
    /// Fused engine: steps whose activations the reverse pass keeps at a time (0: all).
    pub checkpoint_segment: usize,
    /// Iterations of the linear learning-rate ramp (0: none).
    pub warmup: usize,
    /// Largest global gradient norm; `None`: no clipping.
    pub clip_grad: Option<f64>,
    /// The convergence monitor and the plateau test (`monitor_every`, `plateau_window`,
    /// `monitor_walkers`, `plateau_tolerance`, `stop_on_plateau`, `min_iterations`).
    pub monitor: MonitorSettings,
}

/// `[eval]`.
#[derive(Debug, Clone)]
pub struct EvalSpec {
    pub walkers: usize,
    pub steps: usize,
    pub burn_in: usize,
    pub extrapolate: bool,
    /// Time step of the evaluation paths (default: the training dt).
    pub dt: f64,
    /// Estimators to run and report side by side (`[eval] estimators`).
    pub estimators: Vec<Estimator>,
    /// Measured steps of the local-energy / reweighted walk (default: `steps`).
    pub local_steps: usize,
    /// Path lengths T of the reweighted estimator.
    pub reweight_times: Vec<f64>,
}

/// An energy estimator (see [`crate::quantum::walk`] and docs/energies.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    /// E[ℓ_T]/T of fresh paths (Itô), with the martingale control variate.
    Variational,
    /// Mean of E_L = V − ½∇·v − ½|v|² over stationary walkers.
    LocalEnergy,
    /// −(1/T) log E[exp(−ℓ_T)].
    Reweighted,
    /// Diffusion Monte Carlo guided by the drift.
    Dmc,
}

/// `[dmc]`: diffusion Monte Carlo with the trained drift as guide.
#[derive(Debug, Clone)]
pub struct DmcSpec {
    pub walkers: usize,
    pub dt: f64,
    /// Measured generations at `dt` (twice as many at dt/2); the minimum with `target_error`.
    pub steps: usize,
    pub burn_in: usize,
    pub feedback_time: f64,
    /// Also run at dt/2 and extrapolate dt → 0.
    pub extrapolate: bool,
    /// Euler–Maruyama proposals with a Metropolis accept/reject step instead of plain integrator
    /// steps (default off; see docs/energies.md for why).
    pub metropolis: bool,
    /// Sample until the headline (extrapolated) error bar is at most this.
    pub target_error: Option<f64>,
    /// Sample until the headline error bar is at most this fraction of |energy| (either target
    /// suffices when both are set).
    pub target_relative_error: Option<f64>,
    /// Wall-time limit of the DMC runs together (with `target_error`).
    pub max_seconds: Option<f64>,
}

/// `[vmc]`: variational Monte Carlo energy minimisation after the path-space training
/// ([`crate::quantum::objective::vmc`]); gradient drifts only. It begins after `[train] iterations`, or at
/// the first plateau with `stop_on_plateau` ([`crate::quantum::train::TrainStage`]).
#[derive(Debug, Clone, PartialEq)]
pub struct VmcSpec {
    /// Iterations of the stage (0: none).
    pub iterations: usize,
    pub lr: f64,
    /// lr_k = lr / (1 + k/lr_decay), k counted from the stage's start.
    pub lr_decay: f64,
    /// Metropolis-adjusted Langevin moves of every training walker per iteration.
    pub moves: usize,
    /// Time step of the moves.
    pub dt: f64,
    /// E_L clipping window: median ± clip · mean absolute deviation.
    pub clip: f64,
    /// What the stage minimises.
    pub objective: VmcObjective,
}

/// `[vmc] objective`: the variational energy (`"energy"`, the default) or the variance of the
/// local energy (`"variance"`), both over ψ_T² ([`crate::quantum::objective::vmc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmcObjective {
    Energy,
    Variance,
}

/// `[output]`: what a run records besides its numbers.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    /// Walkers whose paths are stored in run.h5 `/paths` (0: none).
    pub path_walkers: usize,
    /// Steps simulated for the stored path sample (at the evaluation dt).
    pub path_steps: usize,
    /// Store every `path_every`-th state of the sample.
    pub path_every: usize,
    /// Write a checkpoint every this many training iterations (and at the end, and on SIGINT/SIGTERM).
    pub checkpoint_every: usize,
}

/// A validated problem.
#[derive(Debug, Clone)]
pub struct Problem {
    pub path: PathBuf,
    pub text: String,
    pub name: String,
    pub reference: Option<f64>,
    pub system: System,
    pub drift: DriftSpec,
    pub sde: SdeSpec,
    pub train: TrainSpec,
    pub eval: EvalSpec,
    pub output: OutputSpec,
    pub dmc: DmcSpec,
    pub vmc: VmcSpec,
}

impl Problem {
    /// Reads and validates a problem file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        Self::parse(path, &text)
    }

    /// Rough bytes each part of a run of this problem holds at once, with the key that sizes it:
    /// training paths (walkers × kept steps × states and network activations), the network with
    /// its gradients and Adam moments, the evaluation and guided walks, the stored path sample
    /// and the training curve. Computed in f64, so absurd sizes cannot overflow.
    pub fn memory_estimate(&self) -> Vec<(&'static str, f64)> {
        let (p, d) = (self.system.particles() as f64, self.system.dims() as f64);
        let (hidden, layers) = (self.drift.hidden as f64, self.drift.layers as f64);
        let per_state = bytes_per_walker_step(self.system.particles(), self.system.dims(), self.drift.hidden, self.drift.layers, self.drift.kind);
        let kept = kept_steps(self.sde.steps, self.train.checkpoint_segment);
        let walkers = self.train.walkers as f64;
        let train_key = if walkers >= kept { "train.walkers" } else { "sde.steps" };
        let mut terms = vec![
            (train_key, walkers * kept * per_state),
            (if layers > hidden { "drift.layers" } else { "drift.hidden" }, 8.0 * 8.0 * hidden * (hidden * layers + 2.0 * p * d + 2.0)),
            ("train.iterations", 128.0 * self.train.iterations as f64),
        ];
        let e = &self.eval;
        let eval_key = if e.walkers as f64 >= e.steps as f64 { "eval.walkers" } else { "eval.steps" };
        terms.push((eval_key, 4.0 * e.walkers as f64 * per_state / kept.max(1.0) * 4.0 + 16.0 * (e.steps + e.burn_in) as f64));
        if e.estimators.iter().any(|x| matches!(x, Estimator::LocalEnergy | Estimator::Reweighted)) {
            terms.push(("eval.local_steps", 4.0 * e.walkers as f64 * per_state + 64.0 * (e.local_steps + e.burn_in) as f64));
        }
        if e.estimators.contains(&Estimator::Dmc) {
            let m = &self.dmc;
            let key = if m.walkers as f64 >= m.steps as f64 { "dmc.walkers" } else { "dmc.steps" };
            terms.push((key, 16.0 * m.walkers as f64 * per_state + 64.0 * 3.0 * (m.steps + m.burn_in) as f64));
        }
        let o = &self.output;
        let saved = (o.path_steps / o.path_every) as f64 + 1.0;
        let key = if o.path_walkers as f64 >= saved { "output.path_walkers" } else { "output.path_steps" };
        terms.push((key, o.path_walkers as f64 * (16.0 * saved * p * d + per_state)));
        terms
    }
}

/// Bytes the training reverse pass holds per walker and kept step: the states and integrator
/// stages (8·p·d numbers) and the network's activations (4·hidden·layers numbers per row, rows = 1
/// for mlp and gradient drifts, particles² for pair and jastrow drifts), 8 bytes a number (an
/// upper bound for f32). Used by [`Problem::memory_estimate`] and `bench scaling`.
pub fn bytes_per_walker_step(particles: usize, dims: usize, hidden: usize, layers: usize, kind: DriftKind) -> f64 {
    let (p, d) = (particles as f64, dims as f64);
    let rows = match kind {
        DriftKind::Mlp | DriftKind::Gradient => 1.0,
        DriftKind::Pair | DriftKind::Jastrow => p * p,
    };
    8.0 * (8.0 * p * d + 4.0 * hidden as f64 * layers as f64 * rows)
}

/// Steps whose states the reverse pass keeps at once: all for segment 0, else the segment's own
/// steps and one boundary state per segment (segment + steps/segment).
pub fn kept_steps(steps: usize, segment: usize) -> f64 {
    let steps = steps as f64;
    match segment {
        0 => steps,
        k => (k as f64).min(steps) + steps / k as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_estimate_names_the_key_that_does_not_fit() {
        let text = "[system]\nkind = \"harmonic\"\n[train]\nwalkers = 10000000000\n";
        let e = Problem::parse(Path::new("w.toml"), text).unwrap_err().to_string();
        assert!(e.contains("line 4, key `train.walkers`") && e.contains("more than this machine's"), "{e}");
        let shipped = Problem::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("problems/h2.toml")).unwrap();
        let total: f64 = shipped.memory_estimate().iter().map(|t| t.1).sum();
        assert!(total < 4e9, "h2.toml is estimated at {} bytes", total);
    }
}
