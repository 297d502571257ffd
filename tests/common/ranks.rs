//! Checks of walker-parallel runs, written once for any communicator: thread ranks in the
//! default build (tests/parallel.rs) and MPI ranks under `mpirun -n 2` (tests/mpi.rs).

use pathspace::io::run::RunCheckpoint;
use burn::tensor::{Device, Tensor};
use pathspace::quantum::walk::{Walk, WalkSettings, walk_on};
use pathspace::quantum::engine::{Advance, Guide};
use pathspace::quantum::fused::FusedEngine;
use pathspace::quantum::checkpoint::Checkpoint;
use pathspace::base::noise::Noise;
use pathspace::quantum::nn::DriftNet;
use pathspace::parallel::{Comm, rank_noise, share};
use pathspace::quantum::problem::Problem;
use pathspace::quantum::solve::{Outcome, Overrides, SolveOutput, build_net, initial_walkers, solve_with};
use pathspace::base::interrupt::Control;
use pathspace::quantum::train::{Schedule, TrainState, flatten_gradients, train_from, unflatten_gradients};
use pathspace::quantum::engine::{EngineStep, PathEngine};
use std::path::Path;

/// A small interacting problem on the fused engine, with every estimator (DMC included).
pub const PROBLEM: &str = r#"
    name = "ranks"
    [system]
    kind = "harmonic_trap"
    particles = 2
    dims = 2
    [system.interaction]
    kind = "gaussian"
    g = 1.0
    s = 0.5
    [drift]
    kind = "pair"
    hidden = 8
    [sde]
    integrator = "sosra"
    dt = 0.02
    steps = 10
    [train]
    walkers = 32
    iterations = 12
    seed = 21
    [eval]
    walkers = 64
    steps = 40
    burn_in = 10
    extrapolate = true
    estimators = ["variational", "local_energy", "dmc"]
    local_steps = 40
    [dmc]
    walkers = 64
    dt = 0.05
    steps = 60
    burn_in = 10
    metropolis = true
    [output]
    path_walkers = 0
"#;

pub fn problem() -> Problem {
    Problem::parse(Path::new("ranks.toml"), PROBLEM).expect("valid test problem")
}

/// (loss, energy) bits of every training row.
pub fn row_bits(out: &SolveOutput) -> Vec<(u64, u64)> {
    out.rows.iter().map(|r| (r.loss.to_bits(), r.energy.to_bits())).collect()
}

/// A whole `solve` over the ranks of `comm`.
pub fn solve_on(comm: &dyn Comm, iterations: Option<usize>) -> SolveOutput {
    let overrides = Overrides { seed: None, iterations };
    match solve_with(&problem(), &Device::flex(), &overrides, None, &mut |_, _, _| Control::Continue, comm).expect("solve succeeds") {
        Outcome::Finished(out) => *out,
        Outcome::Stopped { .. } => panic!("not stopped"),
    }
}

/// `ranks` ranks' training computed in one process, one rank after the other with each rank's
/// own walkers and noise stream, combined as Σ_r (W_r/W)·(·)_r in rank order: what a run over
/// `ranks` ranks must reproduce bit for bit.
struct Shards<'a> {
    engine: FusedEngine<'a>,
    noises: Vec<Noise>,
    total: usize,
}

impl PathEngine for Shards<'_> {
    fn step(&mut self, net: &DriftNet, walkers: Tensor<3>, _noise: &mut Noise) -> EngineStep {
        let ranks = self.noises.len();
        let [_, p, d] = walkers.dims();
        let mut sum: Option<Vec<f64>> = None;
        let (mut layout, mut finals) = (None, Vec::new());
        for r in 0..ranks {
            let (offset, count) = share(self.total, ranks, r);
            let mine = walkers.clone().slice([offset..offset + count, 0..p, 0..d]);
            let step = self.engine.step(net, mine, &mut self.noises[r]);
            let share = count as f64 / self.total as f64;
            let (flat, l) = flatten_gradients(net, &step.grads);
            let mut buffer = vec![share * step.loss, share * step.energy];
            buffer.extend(flat.iter().map(|g| share * g));
            sum = Some(match sum {
                None => buffer,
                Some(mut s) => {
                    s.iter_mut().zip(&buffer).for_each(|(a, b)| *a += b);
                    s
                }
            });
            layout = Some(l);
            finals.push(step.walkers);
        }
        let total = sum.unwrap();
        EngineStep {
            loss: total[0],
            energy: total[1],
            grads: unflatten_gradients(net, &total[2..], layout.as_ref().unwrap()),
            walkers: Tensor::cat(finals, 0),
        }
    }
}

/// The training rows of [`PROBLEM`] over `ranks` ranks, computed in one process by [`Shards`]
/// with the streams and initial walkers a rank of `solve` uses.
pub fn shard_rows(ranks: usize, iterations: usize) -> Vec<(u64, u64)> {
    let problem = problem();
    let device = Device::flex().autodiff();
    let seed = problem.train.seed;
    let mut walkers = Vec::new();
    let mut noises = Vec::new();
    let mut net = None;
    for r in 0..ranks {
        let mut root = rank_noise(seed, r);
        let mut init = root.split();
        let n = build_net(&problem, &mut init, &device);
        net.get_or_insert(n);
        walkers.push(initial_walkers(&problem, share(problem.train.walkers, ranks, r).1, &mut init, &device));
        noises.push(root.split());
    }
    let t = &problem.train;
    let engine = FusedEngine::new(&problem.system, problem.sde.integrator, problem.sde.dt, problem.sde.steps, t.boundary)
        .with_precision(pathspace::quantum::fused::precision_for(t.precision, &Device::flex()));
    let mut shards = Shards { engine, noises, total: t.walkers };
    let schedule = Schedule { iterations, lr: t.lr, lr_decay: t.lr_decay, warmup: t.warmup, clip_grad: t.clip_grad, monitor: t.monitor.clone(), stage: None };
    let state = TrainState::new(net.unwrap(), Tensor::cat(walkers, 0));
    let (state, _) = train_from(&mut shards, state, &schedule, &mut Noise::new(0), &mut |_, _, _| Control::Continue).expect("trains");
    state.rows.iter().map(|r| (r.loss.to_bits(), r.energy.to_bits())).collect()
}

/// Trains over `comm` for `part` iterations, checkpoints (rank 0 writes `dir`/checkpoint.bin),
/// then resumes from the file to the end; returns the resumed run.
pub fn stop_and_resume(comm: &dyn Comm, dir: &Path, part: usize) -> SolveOutput {
    let problem = problem();
    let path = Checkpoint::path_in(dir);
    let seed = problem.train.seed;
    let mut observe = |_: &pathspace::io::training::TrainingRow, state: &TrainState, noise: &Noise| {
        if state.iteration < part {
            return Control::Continue;
        }
        if let Some(c) = Checkpoint::capture_on(comm, &problem.text, seed, state, noise).expect("capture") {
            c.write(&path).expect("write checkpoint");
        }
        Control::Stop
    };
    let device = Device::flex();
    match solve_with(&problem, &device, &Overrides::default(), None, &mut observe, comm).expect("first part") {
        Outcome::Stopped { iteration } => assert_eq!(iteration, part),
        Outcome::Finished(_) => panic!("expected a stop"),
    }
    // Every rank reads the file once rank 0 has written it.
    comm.any(false);
    let checkpoint = Checkpoint::read(&path).expect("read checkpoint");
    assert_eq!(checkpoint.ranks(), comm.size());
    match solve_with(&problem, &device, &Overrides::default(), Some((&path, &checkpoint)), &mut |_, _, _| Control::Continue, comm).expect("resume") {
        Outcome::Finished(out) => *out,
        Outcome::Stopped { .. } => panic!("not stopped"),
    }
}

/// v = −a x for H = Σ_k (−½∂_k² + ½x_k²) in `dims` dimensions (E₀ = dims/2):
/// E_L = ½|x|²(1 − a²) + ½ a·dims.
pub struct Oscillator {
    pub a: f64,
    pub dims: usize,
}

/// v = −α x/|x| for hydrogen (ψ = e^{−α r}, E₀ = −½): E_L = −α²/2 + (α − 1)/r.
pub struct Hydrogen {
    pub alpha: f64,
}

fn euler(x: &[f64], v: &[f64], running: Vec<f64>, dim: usize, dt: f64, noise: &mut Noise) -> Advance {
    let dw: Vec<f64> = noise.standard_normals(x.len()).into_iter().map(|z| z * dt.sqrt()).collect();
    let next = x.iter().zip(v).zip(&dw).map(|((x, v), w)| x + v * dt + w).collect();
    let martingale = (0..x.len() / dim).map(|i| (i * dim..(i + 1) * dim).map(|k| v[k] * dw[k]).sum()).collect();
    Advance { next, running, martingale }
}

impl Guide for Oscillator {
    fn dim(&self) -> usize {
        self.dims
    }
    fn advance(&self, x: &[f64], dt: f64, noise: &mut Noise) -> Advance {
        let (v, _) = self.drift_and_local_energy(x);
        let running = x.chunks(self.dims).map(|w| 0.5 * w.iter().map(|y| y * y).sum::<f64>() * (1.0 + self.a * self.a)).collect();
        euler(x, &v, running, self.dims, dt, noise)
    }
    fn drift_and_local_energy(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        (x.iter().map(|y| -self.a * y).collect(), self.local_energy(x))
    }
    fn local_energy(&self, x: &[f64]) -> Vec<f64> {
        x.chunks(self.dims).map(|w| 0.5 * w.iter().map(|y| y * y).sum::<f64>() * (1.0 - self.a * self.a) + 0.5 * self.a * self.dims as f64).collect()
    }
}

impl Guide for Hydrogen {
    fn dim(&self) -> usize {
        3
    }
    fn advance(&self, x: &[f64], dt: f64, noise: &mut Noise) -> Advance {
        let (v, _) = self.drift_and_local_energy(x);
        let running = x.chunks(3).map(|w| -1.0 / norm(w) + 0.5 * self.alpha * self.alpha).collect();
        euler(x, &v, running, 3, dt, noise)
    }
    fn drift_and_local_energy(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let v = x.chunks(3).flat_map(|w| {
            let r = norm(w);
            w.iter().map(move |y| -self.alpha * y / r).collect::<Vec<_>>()
        });
        (v.collect(), self.local_energy(x))
    }
    fn local_energy(&self, x: &[f64]) -> Vec<f64> {
        x.chunks(3).map(|w| -0.5 * self.alpha * self.alpha + (self.alpha - 1.0) / norm(w)).collect()
    }
}

fn norm(w: &[f64]) -> f64 {
    w.iter().map(|y| y * y).sum::<f64>().sqrt()
}

/// DMC with `guide` over `comm`: `walkers` in all, each rank starting from its share of one
/// seeded start and its own stream.
pub fn dmc(comm: &dyn Comm, guide: &dyn Guide, walkers: usize, dt: f64, steps: usize, metropolis: bool, seed: u64) -> Walk {
    let dim = guide.dim();
    let (_, count) = share(walkers, comm.size(), comm.rank());
    let mut noise = rank_noise(seed, comm.rank());
    let start: Vec<f64> = noise.standard_normals(count * dim);
    let settings = WalkSettings::dmc(dt, 200, steps, metropolis, 1.0);
    walk_on(guide, start, &settings, &mut noise, comm)
}

/// |a − b| within `z` combined standard errors.
pub fn agree(a: pathspace::stats::Estimate, b: pathspace::stats::Estimate, z: f64) -> bool {
    (a.value - b.value).abs() <= z * (a.error.powi(2) + b.error.powi(2)).sqrt()
}
