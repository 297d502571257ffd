//! `bench dmc`: throughput of the DMC walker loop ([`crate::quantum::walk::walk`]) guided by the
//! fused engine's gradient drift ([`crate::quantum::fused::FusedSimulator`]), beside the fused training
//! kernel's, in one run and with FLOP rates from the analytic counts of [`super::flops`].
//!
//! 1. Trains the guide of a gradient-drift problem (default benches/h2_gradient.toml) for a few
//!    iterations, timing each (fused engine, the problem's precision): training walker-steps
//!    per second = walkers · steps / (median seconds per iteration).
//! 2. From the trained walkers (repeated to the problem's `[dmc] walkers`), an untimed warm-up
//!    walk, then DMC walks of a fixed number of generations at `[dmc] dt`, with Metropolis moves
//!    and without: walker-generations per second = Σ_generations population / wall seconds.
//!
//! The guide is only briefly trained; its E_L variance changes population sizes, not the cost
//! of a walker-generation. Benchmarks report; they assert nothing.
//!
//! Off the CPU (a GPU build) step 1 is skipped (`training` is null: the fused kernel is
//! CPU-only) and the walks are guided by [`crate::quantum::autodiff::TensorGuide`] on the device, with the untrained
//! network from the problem's seed: the same arithmetic per walker-generation (the zero output
//! layer is multiplied like any other), in the device's precision.

use super::flops::{PassFlops, PotentialShape};
use crate::base::config::EngineChoice;
use crate::base::error::{Error, Result};
use crate::quantum::select::guide_on;
use crate::quantum::walk::{WalkSettings, walk};
use crate::quantum::evaluate::cycle_walkers;
use crate::quantum::fused::{self, FusedEngine};
use crate::base::noise::Noise;
use crate::quantum::problem::{DriftKind, Problem};
use crate::quantum::engine::PathEngine;
use burn::module::Module;
use burn::optim::AdamConfig;
use burn::tensor::Device;
use std::path::PathBuf;
use std::time::Instant;

/// What to run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DmcBenchConfig {
    pub problem: PathBuf,
    /// Timed training iterations (after one untimed warm-up iteration).
    pub train_iterations: usize,
    /// Untimed DMC generations before the timed walks.
    pub warmup_generations: usize,
    /// Timed generations per walk.
    pub generations: usize,
    /// DMC walkers (default: the problem's `[dmc] walkers`).
    pub walkers: Option<usize>,
}

impl DmcBenchConfig {
    /// The default run (about 30 s on 2 cores for benches/h2_gradient.toml).
    pub fn standard() -> Self {
        DmcBenchConfig { problem: PathBuf::from("benches/h2_gradient.toml"), train_iterations: 30, warmup_generations: 20, generations: 300, walkers: None }
    }

    /// Tiny sizes for tests (`--quick`): seconds.
    pub fn quick() -> Self {
        DmcBenchConfig { problem: PathBuf::from("benches/h2_gradient.toml"), train_iterations: 2, warmup_generations: 2, generations: 5, walkers: Some(64) }
    }
}

/// Training kernel rate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainingRate {
    pub walkers: usize,
    pub steps: usize,
    pub integrator: String,
    pub stages: usize,
    pub precision: crate::base::device::Precision,
    pub iterations: usize,
    /// Median seconds per iteration (min, max beside it).
    pub seconds_per_iteration: f64,
    pub min: f64,
    pub max: f64,
    pub walker_steps_per_second: f64,
    /// s (F_v + F_r) + F_v / N.
    pub flops_per_walker_step: f64,
    pub gflops: f64,
}

/// One timed DMC walk.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DmcRate {
    pub metropolis: bool,
    pub dt: f64,
    pub generations: usize,
    /// Σ over generations of the population.
    pub walker_generations: usize,
    pub population_min: usize,
    pub population_max: usize,
    pub seconds: f64,
    pub walker_generations_per_second: f64,
    pub generations_per_second: f64,
    /// F_v + F_Δ with Metropolis moves, s F_v + F_v + F_Δ without.
    pub flops_per_walker_generation: f64,
    pub gflops: f64,
    /// Mean acceptance of the Metropolis moves (1 without).
    pub acceptance: f64,
    /// The walk's energy (a briefly trained guide: not an estimate to quote).
    pub energy: f64,
}

/// The result, printed as one JSON object.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DmcBenchResult {
    pub benchmark: String,
    pub problem: String,
    pub network: PotentialShape,
    pub pass_flops: PassFlops,
    pub threads: usize,
    pub config: DmcBenchConfig,
    pub dmc_walkers: usize,
    /// Precision of the local-energy arithmetic: f64 on the CPU (the fused kernel), the
    /// device's otherwise.
    pub dmc_precision: crate::base::device::Precision,
    /// The fused training kernel's rate (CPU only; null on another device).
    pub training: Option<TrainingRate>,
    pub dmc: Vec<DmcRate>,
    pub seconds: f64,
}

/// Runs the benchmark on `device` (the plain CPU device; training uses its autodiff decorator).
pub fn run(config: &DmcBenchConfig, device: &Device) -> Result<DmcBenchResult> {
    let start = Instant::now();
    let cpu = EngineChoice::Fused.fused(device);
    if config.train_iterations == 0 || config.generations == 0 || config.walkers == Some(0) {
        return Err(Error::Other("bench dmc: --train-iterations, --generations and --walkers must be positive".into()));
    }
    let problem = Problem::load(&config.problem)?;
    if problem.drift.kind != DriftKind::Gradient {
        return Err(Error::Other(format!(
            "bench dmc: {} has [drift] kind = {:?}; the FLOP counts are for the gradient network (kind = \"gradient\")",
            config.problem.display(),
            problem.drift.kind
        )));
    }
    let shape = PotentialShape { inputs: problem.system.particles() * problem.system.dims(), widths: vec![problem.drift.hidden; problem.drift.layers] };
    let pass = shape.flops();
    let (training, net, walkers) = if cpu {
        let (rate, net, walkers) = time_training(&problem, config.train_iterations, pass, device)?;
        (Some(rate), net, walkers)
    } else {
        let mut init = Noise::new(problem.train.seed);
        let net = crate::quantum::solve::build_net(&problem, &mut init, device);
        let walkers = crate::quantum::solve::initial_walkers(&problem, problem.train.walkers, &mut init, device);
        (None, net, fused::walker_values(&walkers))
    };
    let guide = guide_on(&net, &problem.system, problem.sde.integrator, device).expect("a gradient drift (checked above)");
    let guide = guide.as_ref();
    let dim = shape.inputs;
    let count = config.walkers.unwrap_or(problem.dmc.walkers);
    let stages = problem.sde.integrator.alpha.len();
    let mut noise = Noise::new(problem.train.seed ^ 0x62656e6368);
    let settings = |metropolis: bool, steps: usize| WalkSettings::dmc(problem.dmc.dt, 0, steps, metropolis, problem.dmc.feedback_time);
    let mut x = cycle_walkers(&walkers, count * dim);
    if config.warmup_generations > 0 {
        x = walk(guide, x, &settings(problem.dmc.metropolis, config.warmup_generations), &mut noise).walkers;
    }
    let mut dmc = Vec::new();
    for metropolis in [true, false] {
        let w = walk(guide, cycle_walkers(&x, count * dim), &settings(metropolis, config.generations), &mut noise);
        let walker_generations = w.walker_steps;
        let per_second = walker_generations as f64 / w.seconds;
        let flops = pass.dmc_generation(metropolis, stages);
        dmc.push(DmcRate {
            metropolis,
            dt: w.dt,
            generations: w.generations,
            walker_generations,
            population_min: w.population_min,
            population_max: w.population_max,
            seconds: w.seconds,
            walker_generations_per_second: per_second,
            generations_per_second: w.generations as f64 / w.seconds,
            flops_per_walker_generation: flops,
            gflops: flops * per_second / 1e9,
            acceptance: w.acceptance,
            energy: w.energy.value,
        });
    }
    Ok(DmcBenchResult {
        benchmark: "dmc".into(),
        problem: config.problem.display().to_string(),
        network: shape,
        pass_flops: pass,
        threads: crate::simd::threads(),
        config: config.clone(),
        dmc_walkers: count,
        dmc_precision: if cpu || device.settings().float_dtype == burn::tensor::FloatDType::F64 { crate::base::device::Precision::F64 } else { crate::base::device::Precision::F32 },
        training,
        dmc,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Trains `iterations` + 1 iterations of the fused engine (the first untimed); returns the rate,
/// the trained network (plain device) and the final walkers (f64, walker-major).
fn time_training(problem: &Problem, iterations: usize, pass: PassFlops, device: &Device) -> Result<(TrainingRate, crate::quantum::nn::DriftNet, Vec<f64>)> {
    let train_device = device.clone().autodiff();
    let mut init = Noise::new(problem.train.seed);
    let mut net = crate::quantum::solve::build_net(problem, &mut init, &train_device);
    let mut walkers = crate::quantum::solve::initial_walkers(problem, problem.train.walkers, &mut init, &train_device);
    let (dt, steps, integrator) = (problem.sde.dt, problem.sde.steps, problem.sde.integrator);
    let precision = fused::precision_for(problem.train.precision, device);
    let mut engine = FusedEngine::new(&problem.system, integrator, dt, steps, problem.train.boundary)
        .with_precision(precision)
        .with_checkpoint_segment(problem.train.checkpoint_segment);
    let mut optim = AdamConfig::new().init();
    let mut noise = Noise::new(2);
    let mut times = Vec::with_capacity(iterations);
    for i in 0..=iterations {
        let t = Instant::now();
        let step = engine.step(&net, walkers, &mut noise);
        net = optim.step(problem.train.lr, net, step.grads);
        walkers = step.walkers;
        if !step.loss.is_finite() {
            return Err(Error::Diverged(format!("bench dmc: non-finite training loss at iteration {i}")));
        }
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let count = problem.train.walkers;
    let rate = (count * steps) as f64 / median;
    let stages = integrator.alpha.len();
    let flops = pass.training_step(stages, steps);
    let training = TrainingRate {
        walkers: count,
        steps,
        integrator: integrator.name.to_string(),
        stages,
        precision,
        iterations: times.len(),
        seconds_per_iteration: median,
        min: times[0],
        max: times[times.len() - 1],
        walker_steps_per_second: rate,
        flops_per_walker_step: flops,
        gflops: flops * rate / 1e9,
    };
    let values = walkers.into_data().try_into_vec_as::<f64>().map_err(|e| Error::Other(format!("{e:?}")))?;
    Ok((training, net.valid(), values))
}

impl DmcBenchResult {
    /// The terminal table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "bench dmc: {} (gradient network {} → {:?} → 1), {} threads, {:.1} s\n",
            self.problem, self.network.inputs, self.network.widths, self.threads, self.seconds
        );
        s += &format!(
            "  FLOPs per walker: drift F_v {:.0}, Laplacian F_Δ {:.0}, reverse F_r {:.0} (src/bench/flops.rs)\n",
            self.pass_flops.drift, self.pass_flops.laplacian, self.pass_flops.reverse
        );
        s += &format!("  {:<44} {:>14} {:>14} {:>10} {:>9}\n", "", "walker-steps/s", "FLOPs/w-step", "GFLOP/s", "s");
        if let Some(t) = &self.training {
            s += &format!(
                "  {:<44} {:>14.4e} {:>14.0} {:>10.2} {:>9.3}\n",
                format!("training ({} × {} {}, {:?})", t.walkers, t.steps, t.integrator, t.precision).to_lowercase(),
                t.walker_steps_per_second,
                t.flops_per_walker_step,
                t.gflops,
                t.seconds_per_iteration
            );
        }
        for d in &self.dmc {
            let precision = format!("{:?}", self.dmc_precision).to_lowercase();
            let label = format!("dmc {} ({} walkers, dt {}, {precision})", if d.metropolis { "metropolis" } else { "plain" }, self.dmc_walkers, d.dt);
            s += &format!(
                "  {:<44} {:>14.4e} {:>14.0} {:>10.2} {:>9.3}\n",
                label, d.walker_generations_per_second, d.flops_per_walker_generation, d.gflops, d.seconds
            );
        }
        s += &format!(
            "  (training: median s/iteration over {}; dmc: s for {} generations, {:.1} generations/s with Metropolis)\n",
            self.training.as_ref().map_or("none (not on the CPU)".to_string(), |t| t.iterations.to_string()),
            self.config.generations,
            self.dmc.first().map_or(0.0, |d| d.generations_per_second)
        );
        s
    }
}
