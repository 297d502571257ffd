//! The problem-file format (TOML). Parsing builds configs; it starts nothing.
//!
//! ```toml
//! name = "h2"
//! reference = -1.1744759            # optional; the report compares against it
//! [system]
//! kind = "molecule"                 # or "harmonic", "harmonic_trap"
//! electrons = 2
//! nuclei = [ { charge = 1.0, position = [0.0, 0.0, 0.7005] },
//!            { charge = 1.0, position = [0.0, 0.0, -0.7005] } ]
//! [drift]   kind = "pair"  hidden = 64  cusps = true     # or "mlp", "gradient" (v = ∇S_θ)
//! [sde]     integrator = "sosra"  dt = 0.01  steps = 128
//! [train]   walkers = 256  iterations = 2000  lr = 1e-3  seed = 7  engine = "fused"  # or "autodiff"
//!           precision = "f32"  checkpoint_segment = 0      # fused engine: "f64"; steps kept (0: all)
//!           warmup = 0  clip_grad = 10.0                   # lr ramp (iterations); max gradient norm (default none)
//!           monitor_every = 100  plateau_window = 10  monitor_walkers = 64  plateau_tolerance = 1e-3
//!           stop_on_plateau = false  min_iterations = 0    # end training on a measured plateau
//! [eval]    walkers = 1024  steps = 1024  burn_in = 512  extrapolate = true
//! [output]  path_walkers = 64  path_steps = 256  path_every = 4  checkpoint_every = 100
//! [vmc]     iterations = 0  lr = 1e-3  moves = 5  dt = 0.05  clip = 5   # energy minimisation after [train]
//! ```
//!
//! Every key but `system` has a default. Unknown keys, wrong types and impossible values are
//! errors that name the file, the line and the key.

use crate::base::config::{EngineChoice, check_memory, check_name, clip, default_name, floor_boundary, friendly_toml_message, read_text};
use crate::base::error::{Error, Result};
use crate::path::integrators::{self, Tableau};
use crate::quantum::physics::{GaussianInteraction, Harmonic, HarmonicTrap, Molecule, Nucleus, System};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProblem {
    name: Option<String>,
    reference: Option<f64>,
    system: RawSystem,
    #[serde(default)]
    drift: RawDrift,
    #[serde(default)]
    sde: RawSde,
    #[serde(default)]
    train: RawTrain,
    #[serde(default)]
    eval: RawEval,
    #[serde(default)]
    output: RawOutput,
    #[serde(default)]
    dmc: RawDmc,
    #[serde(default)]
    vmc: RawVmc,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVmc {
    iterations: Option<usize>,
    lr: Option<f64>,
    lr_decay: Option<f64>,
    moves: Option<usize>,
    dt: Option<f64>,
    clip: Option<f64>,
    objective: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystem {
    kind: String,
    electrons: Option<usize>,
    nuclei: Option<Vec<RawNucleus>>,
    particles: Option<usize>,
    dims: Option<usize>,
    omega: Option<f64>,
    interaction: Option<RawInteraction>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNucleus {
    charge: f64,
    /// Checked to hold 3 coordinates (a fixed-size array would ignore extra ones).
    position: Vec<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInteraction {
    kind: String,
    g: f64,
    s: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrift {
    kind: Option<String>,
    hidden: Option<usize>,
    layers: Option<usize>,
    cusps: Option<bool>,
    skip_init: Option<f64>,
    density: Option<usize>,
    three_body: Option<toml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSde {
    integrator: Option<String>,
    dt: Option<f64>,
    steps: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrain {
    walkers: Option<usize>,
    iterations: Option<usize>,
    lr: Option<f64>,
    lr_decay: Option<f64>,
    seed: Option<u64>,
    boundary: Option<bool>,
    init_spread: Option<f64>,
    engine: Option<String>,
    precision: Option<String>,
    checkpoint_segment: Option<usize>,
    warmup: Option<usize>,
    clip_grad: Option<f64>,
    monitor_every: Option<usize>,
    plateau_window: Option<usize>,
    monitor_walkers: Option<usize>,
    plateau_tolerance: Option<f64>,
    stop_on_plateau: Option<bool>,
    min_iterations: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEval {
    walkers: Option<usize>,
    steps: Option<usize>,
    burn_in: Option<usize>,
    extrapolate: Option<bool>,
    dt: Option<f64>,
    estimators: Option<Vec<String>>,
    local_steps: Option<usize>,
    reweight_times: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDmc {
    walkers: Option<usize>,
    dt: Option<f64>,
    steps: Option<usize>,
    burn_in: Option<usize>,
    feedback_time: Option<f64>,
    extrapolate: Option<bool>,
    metropolis: Option<bool>,
    target_error: Option<f64>,
    target_relative_error: Option<f64>,
    max_seconds: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    path_walkers: Option<usize>,
    path_steps: Option<usize>,
    path_every: Option<usize>,
    checkpoint_every: Option<usize>,
}

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

/// An energy estimator (see [`crate::estimate`] and the README's "Energies" section).
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

    /// Validates problem text; `path` is used in messages only.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let ctx = Ctx { path, text };
        let raw: RawProblem = toml::from_str(text).map_err(|e| ctx.toml_error(&e))?;
        let system = ctx.system(&raw.system)?;
        let default_name = default_name(path);
        if let Some(name) = &raw.name {
            check_name(name).map_err(|m| ctx.invalid("", "name", &m))?;
        }

        let d = &raw.drift;
        let kind = match d.kind.as_deref().unwrap_or("pair") {
            "mlp" => DriftKind::Mlp,
            "pair" => DriftKind::Pair,
            "gradient" => DriftKind::Gradient,
            "jastrow" => DriftKind::Jastrow,
            other => return Err(ctx.invalid("drift", "kind", &format!("unknown drift kind \"{}\" (expected \"jastrow\", \"gradient\", \"pair\" or \"mlp\")", clip(other, 60)))),
        };
        let is_molecule = matches!(system, System::Molecule(_));
        let cusps = d.cusps.unwrap_or(is_molecule);
        if cusps && !is_molecule {
            return Err(ctx.invalid("drift", "cusps", "cusp terms need a Coulomb system (system.kind = \"molecule\")"));
        }
        if let Some(c) = d.skip_init.filter(|c| !c.is_finite()) {
            return Err(ctx.invalid("drift", "skip_init", &format!("must be a finite number, got {c}")));
        }
        if matches!(kind, DriftKind::Gradient | DriftKind::Jastrow) && d.skip_init.is_some_and(|c| c > 0.0) {
            return Err(ctx.invalid("drift", "skip_init", "must be ≤ 0 for kind = \"gradient\" or \"jastrow\" (ψ_T = e^S must be normalisable)"));
        }
        let density = d.density.unwrap_or(0);
        if density > 0 && kind != DriftKind::Jastrow {
            return Err(ctx.invalid("drift", "density", "density inputs need kind = \"jastrow\""));
        }
        if density > 8 {
            return Err(ctx.invalid("drift", "density", &format!("at most 8 density inputs (β = ½ … 64), got {density}")));
        }
        let three_body = match &d.three_body {
            None | Some(toml::Value::Boolean(false)) => None,
            Some(toml::Value::Boolean(true)) => Some(crate::quantum::nn::ThreeBody::Ordered),
            Some(toml::Value::String(form)) if form == "ordered" => Some(crate::quantum::nn::ThreeBody::Ordered),
            Some(toml::Value::String(form)) if form == "power_sums" => Some(crate::quantum::nn::ThreeBody::PowerSums),
            Some(other) => {
                // (A string's escapes keep the message on one line; any other value by its type.)
                let got = if let toml::Value::String(text) = other { format!("{text:?}") } else { format!("a {}", other.type_str()) };
                return Err(ctx.invalid("drift", "three_body", &format!("expected true, false, \"ordered\" or \"power_sums\", got {got}")));
            }
        };
        if three_body.is_some() && kind != DriftKind::Jastrow {
            return Err(ctx.invalid("drift", "three_body", "the three-body term needs kind = \"jastrow\""));
        }
        let drift = DriftSpec {
            density,
            three_body,
            kind,
            hidden: ctx.positive("drift", "hidden", d.hidden.unwrap_or(64))?,
            layers: ctx.positive("drift", "layers", d.layers.unwrap_or(2))?,
            cusps,
            // Cusp terms already confine electrons; otherwise start from the restoring −x.
            skip_init: d.skip_init.unwrap_or(if cusps { 0.0 } else { -1.0 }),
        };
        let system = match system {
            System::Molecule(mut m) => {
                m.cusps = cusps;
                System::Molecule(m)
            }
            other => other,
        };

        let s = &raw.sde;
        let integrator_name = s.integrator.as_deref().unwrap_or("sosra");
        let integrator = integrators::by_name(integrator_name).ok_or_else(|| {
            let names: Vec<_> = integrators::ALL.iter().map(|t| t.name).collect();
            ctx.invalid("sde", "integrator", &format!("unknown integrator \"{integrator_name}\" (expected one of {})", names.join(", ")))
        })?;
        let sde = SdeSpec {
            integrator,
            dt: ctx.time_step("sde", "dt", s.dt.unwrap_or(0.01), &system)?,
            steps: ctx.positive("sde", "steps", s.steps.unwrap_or(128))?,
        };

        let t = &raw.train;
        let iterations = t.iterations.unwrap_or(1000);
        let train = TrainSpec {
            walkers: ctx.positive("train", "walkers", t.walkers.unwrap_or(256))?,
            iterations,
            lr: ctx.positive_f("train", "lr", t.lr.unwrap_or(1e-3))?,
            lr_decay: ctx.positive_f("train", "lr_decay", t.lr_decay.unwrap_or((iterations as f64 / 4.0).max(1.0)))?,
            seed: t.seed.unwrap_or(0),
            boundary: t.boundary.unwrap_or(true),
            init_spread: ctx.positive_f("train", "init_spread", t.init_spread.unwrap_or(1.0))?,
            engine: match t.engine.as_deref() {
                None | Some("auto") => EngineChoice::Auto,
                Some("fused") => EngineChoice::Fused,
                Some("autodiff") => EngineChoice::Autodiff,
                Some(other) => {
                    return Err(ctx.invalid("train", "engine", &format!("unknown engine \"{other}\" (expected \"fused\", \"autodiff\" or \"auto\")")));
                }
            },
            precision: match t.precision.as_deref() {
                None | Some("f32") => crate::base::device::Precision::F32,
                Some("f64") => crate::base::device::Precision::F64,
                Some(other) => return Err(ctx.invalid("train", "precision", &format!("unknown precision \"{other}\" (expected \"f32\" or \"f64\")"))),
            },
            checkpoint_segment: t.checkpoint_segment.unwrap_or(0),
            warmup: t.warmup.unwrap_or(0),
            clip_grad: t.clip_grad.map(|c| ctx.positive_f("train", "clip_grad", c)).transpose()?,
            monitor: ctx.monitor(t, iterations)?,
        };

        let e = &raw.eval;
        let eval = EvalSpec {
            walkers: ctx.positive("eval", "walkers", e.walkers.unwrap_or(1024))?,
            steps: ctx.positive("eval", "steps", e.steps.unwrap_or(1024))?,
            burn_in: e.burn_in.unwrap_or(512),
            extrapolate: e.extrapolate.unwrap_or(true),
            dt: ctx.time_step("eval", "dt", e.dt.unwrap_or(sde.dt), &system)?,
            estimators: match &e.estimators {
                None => vec![Estimator::Variational],
                Some(names) => {
                    let mut list = Vec::new();
                    for name in names {
                        let estimator = match name.as_str() {
                            "variational" => Estimator::Variational,
                            "local_energy" => Estimator::LocalEnergy,
                            "reweighted" => Estimator::Reweighted,
                            "dmc" => Estimator::Dmc,
                            other => {
                                return Err(ctx.invalid(
                                    "eval",
                                    "estimators",
                                    &format!("unknown estimator \"{other}\" (expected \"variational\", \"local_energy\", \"reweighted\" or \"dmc\")"),
                                ));
                            }
                        };
                        if !list.contains(&estimator) {
                            list.push(estimator);
                        }
                    }
                    if !list.contains(&Estimator::Variational) {
                        return Err(ctx.invalid("eval", "estimators", "must include \"variational\" (its walkers start the others)"));
                    }
                    list
                }
            },
            local_steps: ctx.positive("eval", "local_steps", e.local_steps.or(e.steps).unwrap_or(1024))?,
            reweight_times: match &e.reweight_times {
                None => vec![0.5, 1.0, 2.0, 4.0, 8.0],
                Some(times) => {
                    if times.is_empty() && e.estimators.as_ref().is_some_and(|n| n.iter().any(|n| n == "reweighted")) {
                        return Err(ctx.invalid("eval", "reweight_times", "is empty: the reweighted estimator needs at least one path length T"));
                    }
                    for t in times {
                        ctx.positive_f("eval", "reweight_times", *t)?;
                    }
                    times.clone()
                }
            },
        };
        let m = &raw.dmc;
        let dmc = DmcSpec {
            walkers: ctx.positive("dmc", "walkers", m.walkers.unwrap_or(eval.walkers))?,
            dt: ctx.time_step("dmc", "dt", m.dt.unwrap_or(eval.dt), &system)?,
            steps: ctx.positive("dmc", "steps", m.steps.unwrap_or(2000))?,
            burn_in: m.burn_in.unwrap_or(500),
            feedback_time: ctx.positive_f("dmc", "feedback_time", m.feedback_time.unwrap_or(1.0))?,
            extrapolate: m.extrapolate.unwrap_or(true),
            metropolis: m.metropolis.unwrap_or(false),
            target_error: m.target_error.map(|t| ctx.positive_f("dmc", "target_error", t)).transpose()?,
            target_relative_error: m
                .target_relative_error
                .map(|t| match ctx.positive_f("dmc", "target_relative_error", t)? {
                    t if t < 1.0 => Ok(t),
                    _ => Err(ctx.invalid("dmc", "target_relative_error", "must be a fraction below 1 (e.g. 1.5e-4 for 0.015 %)")),
                })
                .transpose()?,
            max_seconds: m.max_seconds.map(|t| ctx.positive_f("dmc", "max_seconds", t)).transpose()?,
        };
        if let Some(r) = raw.reference {
            if !r.is_finite() {
                return Err(ctx.invalid("", "reference", "must be a finite number"));
            }
        }
        let o = &raw.output;
        let output = OutputSpec {
            path_walkers: o.path_walkers.unwrap_or(64),
            path_steps: ctx.positive("output", "path_steps", o.path_steps.unwrap_or(256))?,
            path_every: ctx.positive("output", "path_every", o.path_every.unwrap_or(4))?,
            checkpoint_every: ctx.positive("output", "checkpoint_every", o.checkpoint_every.unwrap_or(100))?,
        };
        let v = &raw.vmc;
        let vmc_iterations = v.iterations.unwrap_or(0);
        if vmc_iterations > 0 && !matches!(drift.kind, DriftKind::Gradient | DriftKind::Jastrow) {
            return Err(ctx.invalid("vmc", "iterations", "variational Monte Carlo needs a gradient drift (drift.kind = \"jastrow\" or \"gradient\")"));
        }
        let default_move = time_scale(&system).0.min(0.05);
        let vmc = VmcSpec {
            iterations: vmc_iterations,
            lr: ctx.positive_f("vmc", "lr", v.lr.unwrap_or(train.lr))?,
            lr_decay: ctx.positive_f("vmc", "lr_decay", v.lr_decay.unwrap_or((vmc_iterations as f64 / 4.0).max(1.0)))?,
            moves: ctx.positive("vmc", "moves", v.moves.unwrap_or(5))?,
            dt: ctx.time_step("vmc", "dt", v.dt.unwrap_or(default_move), &system)?,
            clip: ctx.positive_f("vmc", "clip", v.clip.unwrap_or(5.0))?,
            objective: match v.objective.as_deref() {
                None | Some("energy") => VmcObjective::Energy,
                Some("variance") => VmcObjective::Variance,
                Some(other) => return Err(ctx.invalid("vmc", "objective", &format!("is \"{other}\"; expected \"energy\" or \"variance\""))),
            },
        };
        let problem = Problem {
            path: path.to_path_buf(),
            text: text.to_string(),
            name: raw.name.unwrap_or(default_name),
            reference: raw.reference.or_else(|| system.exact_energy()),
            system,
            drift,
            sde,
            train,
            eval,
            output,
            dmc,
            vmc,
        };
        ctx.fits_in_memory(&problem)?;
        Ok(problem)
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

/// Largest number of particles and of dimensions of a system.
const MAX_PARTICLES: usize = 10_000;
const MAX_DIMS: usize = 1_000;

/// Nuclei closer than this (bohr) coincide: the Coulomb potential between them is unbounded.
const MIN_NUCLEAR_DISTANCE: f64 = 1e-3;
/// Nuclear coordinates beyond this (bohr) are refused.
const MAX_COORDINATE: f64 = 1e3;

/// The time scale of a system and what sets it: 1/ω for traps, 1/Z² (the inverse energy scale
/// of the innermost orbital) for molecules.
fn time_scale(system: &System) -> (f64, String) {
    match system {
        System::Harmonic(s) => (1.0 / s.omega, format!("1/omega, omega = {}", s.omega)),
        System::HarmonicTrap(s) => (1.0 / s.omega, format!("1/omega, omega = {}", s.omega)),
        System::Molecule(m) => {
            let z = m.nuclei.iter().map(|n| n.charge).fold(0.0, f64::max);
            (1.0 / (z * z), format!("1/Z^2, largest nuclear charge Z = {z}"))
        }
    }
}

/// Error construction with file, line and key.
struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn toml_error(&self, e: &toml::de::Error) -> Error {
        let mut message = friendly_toml_message(e.message());
        let location = match e.span() {
            Some(span) => {
                let start = floor_boundary(self.text, span.start);
                let line = self.text[..start].matches('\n').count() + 1;
                if self.text.lines().nth(line - 1).is_some_and(|l| l.trim_end().ends_with('=')) {
                    message = "has no value after `=`: write one (a number, a quoted string, true or false, an array)".into();
                }
                match self.key_at_line(line) {
                    Some(key) => format!("line {line}, key `{}`", clip(&key, 60)),
                    None => format!("line {line}"),
                }
            }
            None => "whole file".to_string(),
        };
        Error::Problem { path: self.path.to_path_buf(), location, message }
    }

    /// The dotted key defined on `line` (1-based): its table header plus the key before `=`.
    fn key_at_line(&self, line: usize) -> Option<String> {
        let lines: Vec<&str> = self.text.lines().collect();
        let current = lines.get(line - 1)?.trim();
        let key = current.split('=').next().map(str::trim).filter(|k| !k.is_empty() && !current.starts_with('['));
        let section = lines[..line]
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        match (section, key) {
            (Some(s), Some(k)) => Some(format!("{s}.{k}")),
            (None, Some(k)) => Some(k.to_string()),
            (Some(s), None) => Some(s),
            (None, None) => None,
        }
    }

    /// The 1-based line where `section.key` is set, if it is written out in the file.
    fn line_of(&self, section: &str, key: &str) -> Option<usize> {
        let mut in_section = section.is_empty();
        for (i, raw) in self.text.lines().enumerate() {
            let l = raw.trim();
            if l.starts_with('[') {
                in_section = l.trim_matches(|c| c == '[' || c == ']').trim() == section;
                continue;
            }
            if in_section && l.split('=').next().map(str::trim) == Some(key) {
                return Some(i + 1);
            }
        }
        None
    }

    /// A time step: positive, and within the system's time scale (larger steps jump over the
    /// potential's structure: the walk diverges or its bias is of order one).
    fn time_step(&self, section: &str, key: &str, value: f64, system: &System) -> Result<f64> {
        let dt = self.positive_f(section, key, value)?;
        let (scale, why) = time_scale(system);
        if dt > scale {
            let scale = if scale >= 1e-3 { format!("{scale:.4}") } else { format!("{scale:.3e}") };
            return Err(self.invalid(section, key, &format!("{dt} is larger than the system's time scale {scale} ({why}); use a smaller dt")));
        }
        Ok(dt)
    }

    fn fits_in_memory(&self, problem: &Problem) -> Result<()> {
        check_memory(&problem.memory_estimate(), |key, message| {
            let (section, key) = key.split_once('.').unwrap_or(("", key));
            self.invalid(section, key, &message)
        })
    }

    fn invalid(&self, section: &str, key: &str, message: &str) -> Error {
        let dotted = if section.is_empty() { key.to_string() } else { format!("{section}.{key}") };
        let location = match self.line_of(section, key) {
            Some(line) => format!("line {line}, key `{dotted}`"),
            None => format!("key `{dotted}`"),
        };
        Error::Problem { path: self.path.to_path_buf(), location, message: clip(message, 240) }
    }

    fn positive(&self, section: &str, key: &str, value: usize) -> Result<usize> {
        if value == 0 { Err(self.invalid(section, key, "must be positive")) } else { Ok(value) }
    }

    /// A positive count of at most `max`.
    fn count(&self, section: &str, key: &str, value: usize, max: usize) -> Result<usize> {
        let v = self.positive(section, key, value)?;
        if v > max { Err(self.invalid(section, key, &format!("{v} is more than the {max} supported"))) } else { Ok(v) }
    }

    fn positive_f(&self, section: &str, key: &str, value: f64) -> Result<f64> {
        if value.is_finite() && value > 0.0 { Ok(value) } else { Err(self.invalid(section, key, &format!("must be a positive number, got {value}"))) }
    }

    /// `[train]`'s convergence-monitor keys.
    fn monitor(&self, t: &RawTrain, iterations: usize) -> Result<MonitorSettings> {
        let d = MonitorSettings::default();
        let window = t.plateau_window.unwrap_or(d.window);
        if window < 3 {
            return Err(self.invalid("train", "plateau_window", &format!("must be at least 3 (monitor points in the fitted window), got {window}")));
        }
        let tolerance = t.plateau_tolerance.unwrap_or(d.tolerance);
        if !(tolerance.is_finite() && tolerance >= 0.0) {
            return Err(self.invalid("train", "plateau_tolerance", &format!("must be a number ≥ 0, got {tolerance}")));
        }
        let stop_on_plateau = t.stop_on_plateau.unwrap_or(false);
        let min_iterations = t.min_iterations.unwrap_or(0);
        if t.min_iterations.is_some() && !stop_on_plateau {
            return Err(self.invalid("train", "min_iterations", "only used with stop_on_plateau = true"));
        }
        if min_iterations > iterations {
            return Err(self.invalid("train", "min_iterations", &format!("{min_iterations} is more than train.iterations = {iterations}")));
        }
        Ok(MonitorSettings {
            every: self.positive("train", "monitor_every", t.monitor_every.unwrap_or(d.every))?,
            window,
            walkers: self.positive("train", "monitor_walkers", t.monitor_walkers.unwrap_or(d.walkers))?,
            z: d.z,
            tolerance,
            stop_on_plateau,
            min_iterations,
        })
    }

    fn unused(&self, s: &RawSystem, keys: &[(&str, bool)]) -> Result<()> {
        for (key, present) in keys {
            if *present {
                return Err(self.invalid("system", key, &format!("not used by system.kind = \"{}\"", s.kind)));
            }
        }
        Ok(())
    }

    fn system(&self, s: &RawSystem) -> Result<System> {
        match s.kind.as_str() {
            "harmonic" => {
                self.unused(s, &[("electrons", s.electrons.is_some()), ("nuclei", s.nuclei.is_some()), ("interaction", s.interaction.is_some())])?;
                Ok(System::Harmonic(Harmonic {
                    particles: self.count("system", "particles", s.particles.unwrap_or(1), MAX_PARTICLES)?,
                    dims: self.count("system", "dims", s.dims.unwrap_or(3), MAX_DIMS)?,
                    omega: self.positive_f("system", "omega", s.omega.unwrap_or(1.0))?,
                }))
            }
            "harmonic_trap" => {
                self.unused(s, &[("electrons", s.electrons.is_some()), ("nuclei", s.nuclei.is_some())])?;
                let interaction = match &s.interaction {
                    None => None,
                    Some(i) if i.kind == "gaussian" => {
                        if !i.g.is_finite() {
                            return Err(self.invalid("system.interaction", "g", "must be a finite number"));
                        }
                        Some(GaussianInteraction { g: i.g, s: self.positive_f("system.interaction", "s", i.s)? })
                    }
                    Some(i) => return Err(self.invalid("system.interaction", "kind", &format!("unknown interaction \"{}\" (expected \"gaussian\")", i.kind))),
                };
                Ok(System::HarmonicTrap(HarmonicTrap {
                    particles: self.count("system", "particles", s.particles.unwrap_or(2), MAX_PARTICLES)?,
                    dims: self.count("system", "dims", s.dims.unwrap_or(2), MAX_DIMS)?,
                    omega: self.positive_f("system", "omega", s.omega.unwrap_or(1.0))?,
                    interaction,
                }))
            }
            "molecule" => {
                self.unused(s, &[("particles", s.particles.is_some()), ("dims", s.dims.is_some()), ("omega", s.omega.is_some()), ("interaction", s.interaction.is_some())])?;
                let electrons = self.positive("system", "electrons", s.electrons.unwrap_or(2))?;
                if electrons > 2 {
                    return Err(self.invalid("system", "electrons", &format!("{electrons} electrons need fermionic antisymmetry, which is not supported yet; at most 2 (a spin singlet)")));
                }
                let nuclei = s.nuclei.as_ref().filter(|n| !n.is_empty()).ok_or_else(|| self.invalid("system", "nuclei", "a molecule needs at least one nucleus"))?;
                if let Some((i, n)) = nuclei.iter().enumerate().find(|(_, n)| n.position.len() != 3) {
                    return Err(self.invalid("system", "nuclei", &format!("nucleus {} has {} coordinates in position; it needs 3 (x, y, z)", i + 1, n.position.len())));
                }
                for (i, n) in nuclei.iter().enumerate() {
                    if !(n.charge.is_finite() && n.charge > 0.0) || n.position.iter().any(|p| !p.is_finite()) {
                        return Err(self.invalid("system", "nuclei", "each nucleus needs a positive charge and a finite position"));
                    }
                    if n.position.iter().any(|p| p.abs() > MAX_COORDINATE) {
                        return Err(self.invalid("system", "nuclei", &format!("nucleus {} lies beyond {MAX_COORDINATE} bohr of the origin", i + 1)));
                    }
                    for (j, m) in nuclei[..i].iter().enumerate() {
                        let r = n.position.iter().zip(&m.position).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
                        if r < MIN_NUCLEAR_DISTANCE {
                            return Err(self.invalid("system", "nuclei", &format!("nuclei {} and {} are {r:.1e} bohr apart: nuclei must not coincide (at least {MIN_NUCLEAR_DISTANCE} bohr)", j + 1, i + 1)));
                        }
                    }
                }
                Ok(System::Molecule(Molecule {
                    electrons,
                    nuclei: nuclei.iter().map(|n| Nucleus { charge: n.charge, position: [n.position[0], n.position[1], n.position[2]] }).collect(),
                    cusps: true,
                }))
            }
            other => Err(self.invalid("system", "kind", &format!("unknown system kind \"{other}\" (expected \"harmonic\", \"harmonic_trap\" or \"molecule\")"))),
        }
    }
}

/// Every key a `solve` problem file accepts, as dotted names (`"name"`, `"train.walkers"`,
/// `"system.interaction.g"`, `"system.nuclei.charge"`). The field names come from the serde
/// derives of the `Raw*` structs (what `deny_unknown_fields` checks against), so the list cannot
/// drift from the parser; only which struct a table holds is written here. A field that is a
/// table of its own (`[drift]`, `[system.interaction]`, the `[[system.nuclei]]` array of tables)
/// is listed by its keys, not by itself. problems/reference/solve.toml documents every key, and
/// tests/reference_files.rs checks that it does.
pub fn accepted_keys() -> Vec<String> {
    let tables: &[(&str, &'static [&'static str])] = &[
        ("", struct_fields::<RawProblem>()),
        ("system", struct_fields::<RawSystem>()),
        ("system.nuclei", struct_fields::<RawNucleus>()),
        ("system.interaction", struct_fields::<RawInteraction>()),
        ("drift", struct_fields::<RawDrift>()),
        ("sde", struct_fields::<RawSde>()),
        ("train", struct_fields::<RawTrain>()),
        ("vmc", struct_fields::<RawVmc>()),
        ("eval", struct_fields::<RawEval>()),
        ("dmc", struct_fields::<RawDmc>()),
        ("output", struct_fields::<RawOutput>()),
    ];
    dotted_keys(tables)
}

/// The dotted keys of `tables` (table name, its struct's fields), a field that names a table
/// being expanded into that table's keys. Panics if a table is not a field of its parent (the
/// hand-written nesting would be wrong).
fn dotted_keys(tables: &[(&str, &'static [&'static str])]) -> Vec<String> {
    let dotted = |table: &str, field: &str| if table.is_empty() { field.to_string() } else { format!("{table}.{field}") };
    let mut keys = Vec::new();
    for (table, fields) in tables {
        if !table.is_empty() {
            let (parent, field) = table.rsplit_once('.').unwrap_or(("", table));
            let known = tables.iter().any(|(t, f)| *t == parent && f.contains(&field));
            assert!(known, "table `{table}` is not a field of `{}`", if parent.is_empty() { "the top level" } else { parent });
        }
        for field in fields.iter() {
            let key = dotted(table, field);
            if !tables.iter().any(|(t, _)| *t == key) && !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// The field names serde's derive passes to `deserialize_struct` for `T`.
fn struct_fields<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields = None;
    // The recorder refuses everything: only the call to `deserialize_struct` matters.
    let _ = T::deserialize(FieldRecorder(&mut fields));
    fields.unwrap_or_else(|| panic!("{} does not deserialise as a struct", std::any::type_name::<T>()))
}

/// A `serde::Deserializer` that records the field names of the struct asked of it and fails.
struct FieldRecorder<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for FieldRecorder<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> std::result::Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only the field names of a struct are recorded"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> std::result::Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(serde::de::Error::custom("field names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
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
