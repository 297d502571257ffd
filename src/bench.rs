//! Timings of one training iteration (forward through the whole path, reverse pass, Adam step)
//! for the fused and the autodiff engine. Benchmarks report; they assert nothing.
//!
//! - `fk-mlp`: 1024 walkers, one particle in 3-D, MLP 3→64→64→3 (tanh), Euler–Maruyama, 100
//!   steps of dt = 0.01, V = ½|x|² (the configuration of issue 6).
//! - `h2`: one training iteration of `benches/h2_pair.toml` (H₂, pair network, cusps, SOSRA).
//! - `bosons4`: one training iteration of `benches/bosons4.toml` (4 bosons in a 2-D trap, pair
//!   network, SOSRA).
//! - `dmc`: DMC walker-generations per second with the gradient drift of problems/h2.toml,
//!   beside the training kernel's walker-steps per second, with analytic FLOP counts
//!   ([`dmc`], [`flops`]).

pub mod dmc;
pub mod flops;
pub mod mpi;

use crate::device::Precision;
use crate::error::{Error, Result};
use crate::fused::{self, FusedEngine};
use crate::integrators::{EULER_MARUYAMA, Tableau};
use crate::nn::{DriftNet, MlpConfig};
use crate::noise::Noise;
use crate::physics::{Harmonic, System};
use crate::problem::Problem;
use crate::train::{AutodiffEngine, PathEngine};
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
}

fn fk_mlp(device: &Device) -> Setup {
    let mut noise = Noise::new(1);
    let net = DriftNet::Mlp(MlpConfig { particles: 1, dims: 3, hidden: 64, layers: 2, skip_init: -1.0 }.init(&mut noise, device));
    Setup {
        name: "fk-mlp".into(),
        system: System::Harmonic(Harmonic { particles: 1, dims: 3, omega: 1.0 }),
        integrator: &EULER_MARUYAMA,
        dt: 0.01,
        steps: 100,
        net,
        walkers: noise.gaussian([1024, 1, 3], 1.0, device),
        network: "mlp 3-64-64-3 tanh".into(),
        lr: 1e-3,
        precision: Precision::F32,
        checkpoint_segment: 0,
    }
}

fn from_problem(file: &Path, device: &Device) -> Result<Setup> {
    let problem = Problem::load(file)?;
    let mut noise = Noise::new(problem.train.seed);
    let net = crate::solve::build_net(&problem, &mut noise, device);
    let walkers = crate::solve::initial_walkers(&problem, problem.train.walkers, &mut noise, device);
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
    })
}

/// Runs benchmark `name` ("fk-mlp", "h2" = benches/h2_pair.toml, "bosons4" = benches/bosons4.toml, or
/// the path of a problem file)
/// on `device` (a plain device; training uses its autodiff decorator). `checkpoint_segment`
/// overrides the benchmark's own setting.
pub fn run(name: &str, engine: BenchEngine, repeats: usize, checkpoint_segment: Option<usize>, device: &Device) -> Result<BenchResult> {
    let train_device = device.clone().autodiff();
    let setup = match name {
        "fk-mlp" => fk_mlp(&train_device),
        "h2" => from_problem(Path::new("benches/h2_pair.toml"), &train_device)?,
        "bosons4" => from_problem(Path::new("benches/bosons4.toml"), &train_device)?,
        other => from_problem(Path::new(other), &train_device)?,
    };
    if engine == BenchEngine::Fused && !fused::supported(device) {
        return Err(Error::Other("the fused engine runs on the CPU device only".into()));
    }
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
        backend: format!("{} {:?}", if fused::supported(device) { "flex" } else if cfg!(feature = "cuda") { "cuda" } else { "wgpu" }, device.settings().float_dtype).to_lowercase(),
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
        threads: crate::fused::threads(),
    })
}
