//! Parsing a `solve` problem file: the raw tables as serde reads them (unknown keys refused),
//! then one checked spec per table, in the file's order of dependence (system, drift, sde,
//! train, eval, dmc, output, vmc). Every error names the file, the line and the key.

use super::*;
use crate::base::config::{check_memory, check_name, clip, default_name, dotted_keys, floor_boundary, friendly_toml_message, struct_fields};
use crate::base::error::Error;
use crate::path::integrators;
use crate::quantum::physics::{GaussianInteraction, Harmonic, HarmonicTrap, Molecule, Nucleus};
use serde::Deserialize;


/// Most iterations `[train] iterations` and `[vmc] iterations` may ask for: 10⁹ iterations of at
/// least a millisecond are eleven days, and their training curve tens of GB in memory. A larger
/// count (i64::MAX from a crafted file) is refused rather than run forever.
pub const MAX_ITERATIONS: usize = 1_000_000_000;
/// Most Metropolis moves per VMC iteration (`[vmc] moves`; 5 by default): a million moves make one
/// iteration take minutes even for one walker.
pub const MAX_VMC_MOVES: usize = 1_000_000;

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

impl Problem {
    /// Validates problem text; `path` is used in messages only.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let ctx = Ctx { path, text };
        let raw: RawProblem = toml::from_str(text).map_err(|e| ctx.toml_error(&e))?;
        let system = ctx.system(&raw.system)?;
        let default_name = default_name(path);
        if let Some(name) = &raw.name {
            check_name(name).map_err(|m| ctx.invalid("", "name", &m))?;
        }
        let drift = ctx.drift(&raw.drift, &system)?;
        let system = match system {
            System::Molecule(mut m) => {
                m.cusps = drift.cusps;
                System::Molecule(m)
            }
            other => other,
        };
        let sde = ctx.sde(&raw.sde, &system)?;
        let train = ctx.train(&raw.train)?;
        let eval = ctx.eval(&raw.eval, &sde, &system)?;
        let dmc = ctx.dmc(&raw.dmc, &eval, &system)?;
        if let Some(r) = raw.reference {
            if !r.is_finite() {
                return Err(ctx.invalid("", "reference", "must be a finite number"));
            }
        }
        let output = ctx.output(&raw.output)?;
        let vmc = ctx.vmc(&raw.vmc, &drift, &train, &system)?;
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
    /// `[drift]`, for `system` (cusp terms need a molecule).
    fn drift(&self, d: &RawDrift, system: &System) -> Result<DriftSpec> {
        let kind = match d.kind.as_deref().unwrap_or("pair") {
            "mlp" => DriftKind::Mlp,
            "pair" => DriftKind::Pair,
            "gradient" => DriftKind::Gradient,
            "jastrow" => DriftKind::Jastrow,
            other => return Err(self.invalid("drift", "kind", &format!("unknown drift kind \"{}\" (expected \"jastrow\", \"gradient\", \"pair\" or \"mlp\")", clip(other, 60)))),
        };
        let is_molecule = matches!(system, System::Molecule(_));
        let cusps = d.cusps.unwrap_or(is_molecule);
        if cusps && !is_molecule {
            return Err(self.invalid("drift", "cusps", "cusp terms need a Coulomb system (system.kind = \"molecule\")"));
        }
        if let Some(c) = d.skip_init.filter(|c| !c.is_finite()) {
            return Err(self.invalid("drift", "skip_init", &format!("must be a finite number, got {c}")));
        }
        if matches!(kind, DriftKind::Gradient | DriftKind::Jastrow) && d.skip_init.is_some_and(|c| c > 0.0) {
            return Err(self.invalid("drift", "skip_init", "must be ≤ 0 for kind = \"gradient\" or \"jastrow\" (ψ_T = e^S must be normalisable)"));
        }
        let density = d.density.unwrap_or(0);
        if density > 0 && kind != DriftKind::Jastrow {
            return Err(self.invalid("drift", "density", "density inputs need kind = \"jastrow\""));
        }
        if density > 8 {
            return Err(self.invalid("drift", "density", &format!("at most 8 density inputs (β = ½ … 64), got {density}")));
        }
        let three_body = match &d.three_body {
            None | Some(toml::Value::Boolean(false)) => None,
            Some(toml::Value::Boolean(true)) => Some(crate::quantum::nn::ThreeBody::Ordered),
            Some(toml::Value::String(form)) if form == "ordered" => Some(crate::quantum::nn::ThreeBody::Ordered),
            Some(toml::Value::String(form)) if form == "power_sums" => Some(crate::quantum::nn::ThreeBody::PowerSums),
            Some(other) => {
                // (A string's escapes keep the message on one line; any other value by its type.)
                let got = if let toml::Value::String(text) = other { format!("{text:?}") } else { format!("a {}", other.type_str()) };
                return Err(self.invalid("drift", "three_body", &format!("expected true, false, \"ordered\" or \"power_sums\", got {got}")));
            }
        };
        if three_body.is_some() && kind != DriftKind::Jastrow {
            return Err(self.invalid("drift", "three_body", "the three-body term needs kind = \"jastrow\""));
        }
        let drift = DriftSpec {
            density,
            three_body,
            kind,
            hidden: self.positive("drift", "hidden", d.hidden.unwrap_or(64))?,
            layers: self.positive("drift", "layers", d.layers.unwrap_or(2))?,
            cusps,
            // Cusp terms already confine electrons; otherwise start from the restoring −x.
            skip_init: d.skip_init.unwrap_or(if cusps { 0.0 } else { -1.0 }),
        };
        Ok(drift)
    }

    /// `[sde]`.
    fn sde(&self, s: &RawSde, system: &System) -> Result<SdeSpec> {
        let integrator_name = s.integrator.as_deref().unwrap_or("sosra");
        let integrator = integrators::by_name(integrator_name).ok_or_else(|| {
            let names: Vec<_> = integrators::ALL.iter().map(|t| t.name).collect();
            self.invalid("sde", "integrator", &format!("unknown integrator \"{integrator_name}\" (expected one of {})", names.join(", ")))
        })?;
        let sde = SdeSpec {
            integrator,
            dt: self.time_step("sde", "dt", s.dt.unwrap_or(0.01), system)?,
            steps: self.positive("sde", "steps", s.steps.unwrap_or(128))?,
        };
        Ok(sde)
    }

    /// `[train]`.
    fn train(&self, t: &RawTrain) -> Result<TrainSpec> {
        let iterations = self.iterations("train", "iterations", t.iterations.unwrap_or(1000))?;
        let train = TrainSpec {
            walkers: self.positive("train", "walkers", t.walkers.unwrap_or(256))?,
            iterations,
            lr: self.positive_f("train", "lr", t.lr.unwrap_or(1e-3))?,
            lr_decay: self.positive_f("train", "lr_decay", t.lr_decay.unwrap_or((iterations as f64 / 4.0).max(1.0)))?,
            seed: t.seed.unwrap_or(0),
            boundary: t.boundary.unwrap_or(true),
            init_spread: self.positive_f("train", "init_spread", t.init_spread.unwrap_or(1.0))?,
            engine: match t.engine.as_deref() {
                None | Some("auto") => EngineChoice::Auto,
                Some("fused") => EngineChoice::Fused,
                Some("autodiff") => EngineChoice::Autodiff,
                Some(other) => {
                    return Err(self.invalid("train", "engine", &format!("unknown engine \"{other}\" (expected \"fused\", \"autodiff\" or \"auto\")")));
                }
            },
            precision: match t.precision.as_deref() {
                None | Some("f32") => crate::base::device::Precision::F32,
                Some("f64") => crate::base::device::Precision::F64,
                Some(other) => return Err(self.invalid("train", "precision", &format!("unknown precision \"{other}\" (expected \"f32\" or \"f64\")"))),
            },
            checkpoint_segment: t.checkpoint_segment.unwrap_or(0),
            warmup: t.warmup.unwrap_or(0),
            clip_grad: t.clip_grad.map(|c| self.positive_f("train", "clip_grad", c)).transpose()?,
            monitor: self.monitor(t, iterations)?,
        };
        Ok(train)
    }

    /// `[eval]`; its time step defaults to the training one.
    fn eval(&self, e: &RawEval, sde: &SdeSpec, system: &System) -> Result<EvalSpec> {
        let eval = EvalSpec {
            walkers: self.positive("eval", "walkers", e.walkers.unwrap_or(1024))?,
            steps: self.positive("eval", "steps", e.steps.unwrap_or(1024))?,
            burn_in: e.burn_in.unwrap_or(512),
            extrapolate: e.extrapolate.unwrap_or(true),
            dt: self.time_step("eval", "dt", e.dt.unwrap_or(sde.dt), system)?,
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
                                return Err(self.invalid(
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
                        return Err(self.invalid("eval", "estimators", "must include \"variational\" (its walkers start the others)"));
                    }
                    list
                }
            },
            local_steps: self.positive("eval", "local_steps", e.local_steps.or(e.steps).unwrap_or(1024))?,
            reweight_times: match &e.reweight_times {
                None => vec![0.5, 1.0, 2.0, 4.0, 8.0],
                Some(times) => {
                    if times.is_empty() && e.estimators.as_ref().is_some_and(|n| n.iter().any(|n| n == "reweighted")) {
                        return Err(self.invalid("eval", "reweight_times", "is empty: the reweighted estimator needs at least one path length T"));
                    }
                    for t in times {
                        self.positive_f("eval", "reweight_times", *t)?;
                    }
                    times.clone()
                }
            },
        };
        Ok(eval)
    }

    /// `[dmc]`; walkers and time step default to the evaluation's.
    fn dmc(&self, m: &RawDmc, eval: &EvalSpec, system: &System) -> Result<DmcSpec> {
        let dmc = DmcSpec {
            walkers: self.positive("dmc", "walkers", m.walkers.unwrap_or(eval.walkers))?,
            dt: self.time_step("dmc", "dt", m.dt.unwrap_or(eval.dt), system)?,
            steps: self.positive("dmc", "steps", m.steps.unwrap_or(2000))?,
            burn_in: m.burn_in.unwrap_or(500),
            feedback_time: self.positive_f("dmc", "feedback_time", m.feedback_time.unwrap_or(1.0))?,
            extrapolate: m.extrapolate.unwrap_or(true),
            metropolis: m.metropolis.unwrap_or(false),
            target_error: m.target_error.map(|t| self.positive_f("dmc", "target_error", t)).transpose()?,
            target_relative_error: m
                .target_relative_error
                .map(|t| match self.positive_f("dmc", "target_relative_error", t)? {
                    t if t < 1.0 => Ok(t),
                    _ => Err(self.invalid("dmc", "target_relative_error", "must be a fraction below 1 (e.g. 1.5e-4 for 0.015 %)")),
                })
                .transpose()?,
            max_seconds: m.max_seconds.map(|t| self.positive_f("dmc", "max_seconds", t)).transpose()?,
        };
        Ok(dmc)
    }

    /// `[output]`.
    fn output(&self, o: &RawOutput) -> Result<OutputSpec> {
        let output = OutputSpec {
            path_walkers: o.path_walkers.unwrap_or(64),
            path_steps: self.positive("output", "path_steps", o.path_steps.unwrap_or(256))?,
            path_every: self.positive("output", "path_every", o.path_every.unwrap_or(4))?,
            checkpoint_every: self.positive("output", "checkpoint_every", o.checkpoint_every.unwrap_or(100))?,
        };
        Ok(output)
    }

    /// `[vmc]`: needs a gradient drift; its learning rate defaults to training's.
    fn vmc(&self, v: &RawVmc, drift: &DriftSpec, train: &TrainSpec, system: &System) -> Result<VmcSpec> {
        let vmc_iterations = self.iterations("vmc", "iterations", v.iterations.unwrap_or(0))?;
        if vmc_iterations > 0 && !matches!(drift.kind, DriftKind::Gradient | DriftKind::Jastrow) {
            return Err(self.invalid("vmc", "iterations", "variational Monte Carlo needs a gradient drift (drift.kind = \"jastrow\" or \"gradient\")"));
        }
        let default_move = time_scale(system).0.min(0.05);
        let vmc = VmcSpec {
            iterations: vmc_iterations,
            lr: self.positive_f("vmc", "lr", v.lr.unwrap_or(train.lr))?,
            lr_decay: self.positive_f("vmc", "lr_decay", v.lr_decay.unwrap_or((vmc_iterations as f64 / 4.0).max(1.0)))?,
            moves: self.count("vmc", "moves", v.moves.unwrap_or(5), MAX_VMC_MOVES)?,
            dt: self.time_step("vmc", "dt", v.dt.unwrap_or(default_move), system)?,
            clip: self.positive_f("vmc", "clip", v.clip.unwrap_or(5.0))?,
            objective: match v.objective.as_deref() {
                None | Some("energy") => VmcObjective::Energy,
                Some("variance") => VmcObjective::Variance,
                Some(other) => return Err(self.invalid("vmc", "objective", &format!("is \"{other}\"; expected \"energy\" or \"variance\""))),
            },
        };
        Ok(vmc)
    }

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

    /// A count (0 allowed) of at most [`MAX_ITERATIONS`]: iteration counts, whose training curve
    /// is kept in memory row by row.
    fn iterations(&self, section: &str, key: &str, value: usize) -> Result<usize> {
        if value > MAX_ITERATIONS {
            Err(self.invalid(section, key, &format!("{value} is more than the {MAX_ITERATIONS} supported (a row of the training curve per iteration is kept in memory)")))
        } else {
            Ok(value)
        }
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

