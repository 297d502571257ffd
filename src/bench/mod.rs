//! Timings of one training iteration (forward through the whole path, reverse pass, Adam step)
//! for the fused and the autodiff engine. Benchmarks report; they assert nothing.
//!
//! - `fk-mlp`: 1024 walkers, one particle in 3-D, MLP 3→64→64→3 (tanh), Euler–Maruyama, 100
//!   steps of dt = 0.01, V = ½|x|² (the configuration of issue 6).
//! - `h2`: one training iteration of `benches/h2_pair.toml` (H₂, pair network, cusps, SOSRA).
//! - `bosons4`: one training iteration of `benches/bosons4.toml` (4 bosons in a 2-D trap, pair
//!   network, SOSRA).
//! - Each of these (and any problem file) at another walker count ([`run_sized`]), and
//!   `scaling`: all three over a ladder of walker counts, sizes whose reverse pass would not fit
//!   skipped ([`scaling`]).
//! - `dmc`: DMC walker-generations per second with the gradient drift of benches/h2_gradient.toml,
//!   beside the training kernel's walker-steps per second, with analytic FLOP counts
//!   ([`dmc`], [`flops`]).

pub mod dmc;
pub mod flops;
pub mod mpi;
pub mod scaling;

use crate::base::config::EngineChoice;
use crate::base::device::Precision;
use crate::base::error::{Error, Result};
use crate::quantum::fused::{self, FusedEngine};
use crate::path::integrators::{EULER_MARUYAMA, Tableau};
use crate::quantum::nn::{DriftNet, MlpConfig};
use crate::base::noise::Noise;
use crate::quantum::physics::{Harmonic, System};
use crate::quantum::problem::{DriftKind, Problem};
use crate::quantum::autodiff::AutodiffEngine;
use crate::quantum::engine::PathEngine;
use burn::optim::AdamConfig;
use burn::tensor::{Device, Tensor};
use std::path::Path;
use std::time::Instant;

/// Which engine to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchEngine {
    Fused,
    Autodiff,
}

impl BenchEngine {
    /// The name `--engine` takes.
    pub fn name(self) -> &'static str {
        match self {
            BenchEngine::Fused => "fused",
            BenchEngine::Autodiff => "autodiff",
        }
    }
}

/// The result of a benchmark, printed as one JSON object.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchResult {
    pub benchmark: String,
    pub engine: BenchEngine,
    pub backend: String,
    pub walkers: usize,
    pub steps: usize,
    pub dt: f64,
    pub integrator: String,
    pub network: String,
    pub repeats: usize,
    /// Median over `repeats` timed iterations (after one warm-up iteration), seconds.
    pub seconds_per_iteration: f64,
    pub min: f64,
    pub max: f64,
    pub walker_steps_per_second: f64,
    pub threads: usize,
    /// Arithmetic precision of the timed computation (the fused kernels' or the device's).
    pub precision: Precision,
    /// Fused engine: steps whose activations are kept at a time (0: all).
    pub checkpoint_segment: Option<usize>,
    /// Fused engine: bytes of stored activations and stage states per thread.
    pub cache_bytes: Option<usize>,
}

/// What one benchmark trains.
struct Setup {
    name: String,
    system: System,
    integrator: &'static Tableau,
    dt: f64,
    steps: usize,
    net: DriftNet,
    walkers: Tensor<3>,
    network: String,
    lr: f64,
    /// Fused engine kernel precision asked for (f64 also when the device is f64).
    precision: Precision,
    checkpoint_segment: usize,
    /// The network's kind, width and depth, for the memory estimate ([`scaling::bytes_per_walker_step`]).
    drift_kind: DriftKind,
    hidden: usize,
    layers: usize,
}

impl Setup {
    /// Bytes the reverse pass of one iteration would hold with `engine`: walkers × kept steps ×
    /// bytes per walker-step, as `Problem::memory_estimate` counts them (the autodiff engine keeps
    /// every step; the fused engine `segment` + steps/`segment` of them, all for 0).
    fn reverse_pass_bytes(&self, engine: BenchEngine, checkpoint_segment: Option<usize>) -> f64 {
        let segment = match engine {
            BenchEngine::Autodiff => 0,
            BenchEngine::Fused => checkpoint_segment.unwrap_or(self.checkpoint_segment),
        };
        let per = scaling::bytes_per_walker_step(self.system.particles(), self.system.dims(), self.hidden, self.layers, self.drift_kind);
        self.walkers.dims()[0] as f64 * scaling::kept_steps(self.steps, segment) * per
    }
}

fn fk_mlp(walkers: usize, device: &Device) -> Setup {
    let mut noise = Noise::new(1);
    let net = DriftNet::Mlp(MlpConfig { particles: 1, dims: 3, hidden: 64, layers: 2, skip_init: -1.0 }.init(&mut noise, device));
    Setup {
        name: "fk-mlp".into(),
        system: System::Harmonic(Harmonic { particles: 1, dims: 3, omega: 1.0 }),
        integrator: &EULER_MARUYAMA,
        dt: 0.01,
        steps: 100,
        net,
        walkers: noise.gaussian([walkers, 1, 3], 1.0, device),
        network: "mlp 3-64-64-3 tanh".into(),
        lr: 1e-3,
        precision: Precision::F32,
        checkpoint_segment: 0,
        drift_kind: DriftKind::Mlp,
        hidden: 64,
        layers: 2,
    }
}

/// `walkers`: None for the problem's `[train] walkers`.
fn from_problem(file: &Path, walkers: Option<usize>, device: &Device) -> Result<Setup> {
    let problem = Problem::load(file)?;
    let mut noise = Noise::new(problem.train.seed);
    let net = crate::quantum::solve::build_net(&problem, &mut noise, device);
    let walkers = crate::quantum::solve::initial_walkers(&problem, walkers.unwrap_or(problem.train.walkers), &mut noise, device);
    let d = &problem.drift;
    Ok(Setup {
        name: problem.name.clone(),
        network: format!("{:?} hidden {} cusps {}", d.kind, d.hidden, d.cusps).to_lowercase(),
        system: problem.system,
        integrator: problem.sde.integrator,
        dt: problem.sde.dt,
        steps: problem.sde.steps,
        net,
        walkers,
        lr: problem.train.lr,
        precision: problem.train.precision,
        checkpoint_segment: problem.train.checkpoint_segment,
        drift_kind: d.kind,
        hidden: d.hidden,
        layers: d.layers,
    })
}

/// Runs benchmark `name` ("fk-mlp", "h2" = benches/h2_pair.toml, "bosons4" = benches/bosons4.toml, or
/// the path of a problem file) at its own walker count (1024 for fk-mlp, `[train] walkers` of a
/// problem file) on `device` (a plain device; training uses its autodiff decorator).
/// `checkpoint_segment` overrides the benchmark's own setting.
pub fn run(name: &str, engine: BenchEngine, repeats: usize, checkpoint_segment: Option<usize>, device: &Device) -> Result<BenchResult> {
    run_sized(name, engine, repeats, checkpoint_segment, None, device)
}

/// [`run`] with `walkers` walkers (None: the benchmark's own count).
pub fn run_sized(name: &str, engine: BenchEngine, repeats: usize, checkpoint_segment: Option<usize>, walkers: Option<usize>, device: &Device) -> Result<BenchResult> {
    check_engine(engine, device)?;
    let setup = setup(name, walkers, &device.clone().autodiff())?;
    time(setup, engine, repeats, checkpoint_segment, device)
}

/// The fused engine runs on the CPU device only.
fn check_engine(engine: BenchEngine, device: &Device) -> Result<()> {
    if engine == BenchEngine::Fused && !EngineChoice::Fused.fused(device) {
        return Err(Error::Other("the fused engine runs on the CPU device only (--engine autodiff runs on any device)".into()));
    }
    Ok(())
}

/// The setup of benchmark `name` with `walkers` walkers (None: its own count) on `train_device`.
fn setup(name: &str, walkers: Option<usize>, train_device: &Device) -> Result<Setup> {
    if walkers == Some(0) {
        return Err(Error::Other(format!("bench {name}: --walkers must be at least 1")));
    }
    match name {
        "fk-mlp" => Ok(fk_mlp(walkers.unwrap_or(1024), train_device)),
        "h2" => from_problem(Path::new("benches/h2_pair.toml"), walkers, train_device),
        "bosons4" => from_problem(Path::new("benches/bosons4.toml"), walkers, train_device),
        other => from_problem(Path::new(other), walkers, train_device),
    }
}

/// Backend and float type of `device`, e.g. "flex f32" or "wgpu f32".
pub fn backend_label(device: &Device) -> String {
    let backend = if EngineChoice::Fused.fused(device) {
        "flex"
    } else if cfg!(feature = "cuda") {
        "cuda"
    } else {
        "wgpu"
    };
    format!("{backend} {:?}", device.settings().float_dtype).to_lowercase()
}

/// One warm-up and `repeats` timed training iterations of `setup` with `engine`.
fn time(setup: Setup, engine: BenchEngine, repeats: usize, checkpoint_segment: Option<usize>, device: &Device) -> Result<BenchResult> {
    check_engine(engine, device)?;
    let (system, integrator, dt, steps) = (&setup.system, setup.integrator, setup.dt, setup.steps);
    let precision = fused::precision_for(setup.precision, device);
    let segment = checkpoint_segment.unwrap_or(setup.checkpoint_segment);
    let mut fused_engine = FusedEngine::new(system, integrator, dt, steps, true).with_precision(precision).with_checkpoint_segment(segment);
    let mut autodiff_engine = AutodiffEngine { system, integrator, dt, steps, boundary: true };
    let path_engine: &mut dyn PathEngine = match engine {
        BenchEngine::Fused => &mut fused_engine,
        BenchEngine::Autodiff => &mut autodiff_engine,
    };
    let mut optim = AdamConfig::new().init();
    let mut net = setup.net.clone();
    let mut walkers = setup.walkers.clone();
    let walker_count = walkers.dims()[0];
    let mut noise = Noise::new(2);
    let mut times = Vec::with_capacity(repeats);
    for i in 0..repeats.max(1) + 1 {
        let start = Instant::now();
        let step = path_engine.step(&net, walkers, &mut noise);
        net = optim.step(setup.lr, net, step.grads);
        walkers = step.walkers;
        // Wait for the device (lazy backends) before stopping the clock.
        let _ = step.loss;
        let seconds = start.elapsed().as_secs_f64();
        if i > 0 {
            times.push(seconds);
        }
    }
    let fused_run = engine == BenchEngine::Fused;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(BenchResult {
        benchmark: setup.name,
        engine,
        backend: backend_label(device),
        walkers: walker_count,
        steps,
        dt,
        integrator: integrator.name.to_string(),
        network: setup.network,
        repeats: times.len(),
        seconds_per_iteration: median,
        min: times[0],
        max: times[times.len() - 1],
        walker_steps_per_second: (walker_count * steps) as f64 / median,
        precision: if fused_run { precision } else if device.settings().float_dtype == burn::tensor::FloatDType::F64 { Precision::F64 } else { Precision::F32 },
        checkpoint_segment: fused_run.then_some(segment),
        cache_bytes: fused_run.then(|| fused_engine.cache_bytes()),
        threads: crate::simd::threads(),
    })
}
