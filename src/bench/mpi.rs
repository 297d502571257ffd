//! `bench mpi`: weak scaling over the ranks of an MPI run (constant walkers per rank), with the
//! time spent in communication. Run it under `mpirun -n R` for each R; with one process it
//! times the single-rank baseline. Benchmarks report; they assert nothing.
//!
//! 1. Training: `repeats` timed iterations (after one untimed) of benches/h2_gradient.toml's fused
//!    training step on W_r walkers per rank, gradients combined over the ranks
//!    ([`crate::quantum::train::Distributed`]) and one Adam step. Walker-steps per second =
//!    R · W_r · steps / (median seconds per iteration, slowest rank).
//! 2. DMC: a walk of `generations` generations (after `warmup` untimed ones) with the same guide,
//!    R · W_r walkers in all, Metropolis moves ([`crate::quantum::walk::walk_on`]): walker-generations
//!    per second over all ranks.
//!
//! Communication time is what rank 0 spends inside the collectives ([`crate::parallel::Comm::seconds`]),
//! which includes waiting for slower ranks; it is reported per training step and per DMC
//! generation. Every rank runs every collective of a step, so this is the cost that more ranks add.

use crate::base::config::EngineChoice;
use crate::base::error::{Error, Result};
use crate::quantum::walk::{WalkSettings, walk_on};
use crate::quantum::evaluate::cycle_walkers;
use crate::quantum::fused::{self, FusedEngine, FusedSimulator};
use crate::parallel::{Comm, rank_noise};
use crate::quantum::problem::Problem;
use crate::quantum::train::Distributed;
use crate::quantum::engine::PathEngine;
use burn::module::Module;
use burn::optim::AdamConfig;
use burn::tensor::Device;
use std::path::PathBuf;
use std::time::Instant;

/// What to run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MpiBenchConfig {
    pub problem: PathBuf,
    /// Walkers per rank, for training and DMC alike.
    pub walkers_per_rank: usize,
    /// Timed training iterations.
    pub repeats: usize,
    pub warmup_generations: usize,
    pub generations: usize,
}

impl MpiBenchConfig {
    /// The default run (about 30 s per rank count on 2 cores).
    pub fn standard() -> Self {
        MpiBenchConfig { problem: PathBuf::from("benches/h2_gradient.toml"), walkers_per_rank: 256, repeats: 10, warmup_generations: 20, generations: 200 }
    }
}

/// The result, printed as one JSON object.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MpiBenchResult {
    pub benchmark: String,
    pub ranks: usize,
    /// Threads of each rank's fused engine.
    pub threads_per_rank: usize,
    pub config: MpiBenchConfig,
    pub steps: usize,
    /// Median over the timed iterations of the slowest rank's seconds per iteration.
    pub train_seconds_per_iteration: f64,
    pub train_walker_steps_per_second: f64,
    /// Rank 0's seconds in collectives per training step (the gradient sum: one gather of
    /// all parameters' gradients).
    pub train_communication_per_step: f64,
    pub parameters: usize,
    /// The gradient sum alone (one all-gather of every rank's gradient buffer, summed in rank
    /// order), timed after a barrier so that no waiting is included; mean of 50.
    pub gradient_sum_seconds: f64,
    /// One sum of 4 numbers over the ranks (the unit of DMC's per-generation gathers), timed
    /// after a barrier; mean of 200.
    pub small_sum_seconds: f64,
    pub dmc_walkers: usize,
    pub dmc_seconds: f64,
    pub dmc_walker_generations_per_second: f64,
    /// Rank 0's seconds in collectives per DMC generation (gathers of the sums, the walker
    /// exchange).
    pub dmc_communication_per_generation: f64,
    /// Walkers moved between ranks per generation, on average.
    pub dmc_exchanged_per_generation: f64,
    pub population_min: usize,
    pub population_max: usize,
    pub seconds: f64,
}

/// Runs the benchmark on `device` (the CPU device) over the ranks of `comm` (collective).
pub fn run(config: &MpiBenchConfig, device: &Device, comm: &dyn Comm) -> Result<MpiBenchResult> {
    let start = Instant::now();
    if !EngineChoice::Fused.fused(device) {
        return Err(Error::Other("bench mpi: the fused engine runs on the CPU device only".into()));
    }
    if config.walkers_per_rank == 0 || config.generations == 0 {
        return Err(Error::Other("bench mpi: --walkers and the generations must be positive".into()));
    }
    let problem = Problem::load(&config.problem)?;
    let (ranks, w) = (comm.size(), config.walkers_per_rank);
    let train_device = device.clone().autodiff();
    let seed = problem.train.seed;
    let mut mine = rank_noise(seed, comm.rank()).split();
    let mut net = crate::quantum::solve::build_net(&problem, &mut rank_noise(seed, 0).split(), &train_device);
    let mut walkers = crate::quantum::solve::initial_walkers(&problem, w, &mut mine, &train_device);
    let (dt, steps, integrator) = (problem.sde.dt, problem.sde.steps, problem.sde.integrator);
    let precision = fused::precision_for(problem.train.precision, device);
    let inner = FusedEngine::new(&problem.system, integrator, dt, steps, problem.train.boundary).with_precision(precision);
    let mut engine = Distributed { inner: Box::new(inner), comm, total_walkers: ranks * w };
    let mut optim = AdamConfig::new().init();
    let mut noise = mine.split();
    let mut times = Vec::with_capacity(config.repeats);
    let mut communication = 0.0;
    for i in 0..=config.repeats {
        let (t, c) = (Instant::now(), comm.seconds());
        let step = engine.step(&net, walkers, &mut noise);
        net = optim.step(problem.train.lr, net, step.grads);
        walkers = step.walkers;
        if !step.loss.is_finite() {
            return Err(Error::Diverged(format!("bench mpi: non-finite training loss at iteration {i}")));
        }
        let elapsed = comm.max(t.elapsed().as_secs_f64());
        if i > 0 {
            times.push(elapsed);
            communication += comm.seconds() - c;
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let parameters = net.num_params();
    // Pure collective costs: a barrier (an all-gather) first, then the timed collective.
    let timed = |repeats: usize, len: usize| {
        let buffer = vec![1.0; len];
        let mut total = 0.0;
        for _ in 0..repeats {
            comm.any(false);
            let t = Instant::now();
            std::hint::black_box(comm.sum(&buffer));
            total += t.elapsed().as_secs_f64();
        }
        comm.max(total / repeats as f64)
    };
    let gradient_sum_seconds = timed(50, parameters + 3);
    let small_sum_seconds = timed(200, 4);

    let eval_net = net.valid();
    let guide = FusedSimulator::new(&eval_net, &problem.system, integrator);
    let dim = problem.system.particles() * problem.system.dims();
    let x: Vec<f64> = walkers.inner().into_data().try_into_vec_as::<f64>().map_err(|e| Error::Other(format!("{e:?}")))?;
    let settings = |steps: usize| WalkSettings::dmc(problem.dmc.dt, 0, steps, problem.dmc.metropolis, problem.dmc.feedback_time);
    let mut dmc_noise = mine.split();
    let mut x = cycle_walkers(&x, w * dim);
    if config.warmup_generations > 0 {
        x = walk_on(&guide, x, &settings(config.warmup_generations), &mut dmc_noise, comm).walkers;
    }
    let before = comm.seconds();
    let walk = walk_on(&guide, cycle_walkers(&x, w * dim), &settings(config.generations), &mut dmc_noise, comm);
    let dmc_communication = comm.seconds() - before;
    let dmc_seconds = comm.max(walk.seconds);
    let generations = walk.generations.max(1) as f64;
    Ok(MpiBenchResult {
        benchmark: "mpi".into(),
        ranks,
        threads_per_rank: crate::simd::threads(),
        config: config.clone(),
        steps,
        train_seconds_per_iteration: median,
        train_walker_steps_per_second: (ranks * w * steps) as f64 / median,
        train_communication_per_step: communication / times.len() as f64,
        parameters,
        gradient_sum_seconds,
        small_sum_seconds,
        dmc_walkers: ranks * w,
        dmc_seconds,
        dmc_walker_generations_per_second: walk.walker_steps as f64 / dmc_seconds,
        dmc_communication_per_generation: dmc_communication / generations,
        dmc_exchanged_per_generation: walk.exchanged as f64 / generations,
        population_min: walk.population_min,
        population_max: walk.population_max,
        seconds: start.elapsed().as_secs_f64(),
    })
}

impl MpiBenchResult {
    /// The terminal table.
    pub fn table(&self) -> String {
        let mut s = format!("bench mpi: {} over {} rank(s), {} walkers per rank, {:.1} s\n", self.config.problem.display(), self.ranks, self.config.walkers_per_rank, self.seconds);
        s += &format!(
            "  training  {:.4} s/iteration, {:.4e} walker-steps/s, communication {:.3} ms/step ({} parameters)\n",
            self.train_seconds_per_iteration,
            self.train_walker_steps_per_second,
            1e3 * self.train_communication_per_step,
            self.parameters
        );
        s += &format!(
            "  pure collectives: gradient sum ({} numbers) {:.1} µs, sum of 4 numbers {:.1} µs (after a barrier)\n",
            self.parameters + 3,
            1e6 * self.gradient_sum_seconds,
            1e6 * self.small_sum_seconds
        );
        s += &format!(
            "  dmc       {:.4e} walker-generations/s ({} walkers), communication {:.3} ms/generation, {:.1} walkers exchanged/generation\n",
            self.dmc_walker_generations_per_second,
            self.dmc_walkers,
            1e3 * self.dmc_communication_per_generation,
            self.dmc_exchanged_per_generation
        );
        s
    }
}
