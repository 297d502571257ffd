//! A whole ground-state run from a [`Problem`]: build the drift network, draw walkers, train
//! with the Feynman–Kac loss, evaluate the energy with error bars and dt-extrapolation.
//! Returns results; writing them is [`crate::io`]'s job.

use crate::error::{Error, Result};
use crate::evaluate::{BurnSimulator, EvalSettings, Evaluation, PathSimulator, evaluate};
use crate::fused::{FusedEngine, FusedSimulator};
use crate::io::checkpoint::Checkpoint;
use crate::sample::{DriftSlice, PathSample, PathSampling, drift_slice, sample_paths};
use crate::nn::{DriftNet, MlpConfig, PairNetConfig};
use crate::noise::Noise;
use crate::problem::{DriftKind, EngineChoice, Problem};
use crate::train::{AutodiffEngine, Control, PathEngine, Schedule, TrainState, TrainingRow, full_drift, train_from};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use std::path::Path;
use std::time::Instant;

/// Command-line overrides of the problem file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub seed: Option<u64>,
    pub iterations: Option<usize>,
}

/// The numbers of a run, as written to summary.json.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub name: String,
    /// Headline energy: the evaluated variational energy at the training dt.
    pub energy: f64,
    pub energy_error: f64,
    /// Richardson-extrapolated energy (dt → 0) and its error; `null` without extrapolation.
    pub energy_extrapolated: Option<f64>,
    pub energy_extrapolated_error: Option<f64>,
    /// Estimated time-step bias of `energy` (energy − energy_extrapolated).
    pub timestep_bias: Option<f64>,
    pub reference: Option<f64>,
    /// (energy − reference) in milli-hartree.
    pub difference_mha: Option<f64>,
    pub difference_extrapolated_mha: Option<f64>,
    pub wall_seconds: f64,
    pub train_seconds: f64,
    pub eval_seconds: f64,
    pub iterations: usize,
    pub seed: u64,
    pub integrator: String,
    /// The engine that computed training steps and evaluation paths: "fused" or "autodiff".
    pub engine: String,
    pub dt: f64,
    pub recoveries: usize,
    pub estimator: String,
    pub evaluation: Evaluation,
    /// Files written for this run (filled in by the writer).
    pub files: Vec<String>,
}

/// Everything a run produced.
pub struct SolveOutput {
    pub summary: Summary,
    pub rows: Vec<TrainingRow>,
    pub net: DriftNet,
    /// A sample of paths with the trained drift (`[output]` path_walkers, path_steps, path_every).
    pub paths: Option<PathSample>,
    /// The trained drift on a 2-D slice.
    pub slice: Option<DriftSlice>,
}

/// How a run ended.
pub enum Outcome {
    Finished(Box<SolveOutput>),
    /// The observer stopped training before `iteration` (it has checkpointed the state).
    Stopped { iteration: usize },
}

/// Points of the drift-slice grid per axis.
const SLICE_POINTS: usize = 25;

/// Builds the drift network of a problem with weights drawn from `noise`.
pub fn build_net(problem: &Problem, noise: &mut Noise, device: &Device) -> DriftNet {
    let (p, d) = (problem.system.particles(), problem.system.dims());
    let spec = &problem.drift;
    match spec.kind {
        DriftKind::Mlp => DriftNet::Mlp(
            MlpConfig { particles: p, dims: d, hidden: spec.hidden, layers: spec.layers, skip_init: spec.skip_init }
                .init(noise, device),
        ),
        DriftKind::Pair => DriftNet::Pair(PairNetConfig { dims: d, hidden: spec.hidden, skip_init: spec.skip_init }.init(noise, device)),
    }
}

/// Initial walkers: each particle Gaussian around its centre with spread init_spread·length.
pub fn initial_walkers(problem: &Problem, walkers: usize, noise: &mut Noise, device: &Device) -> Tensor<3> {
    let centres = problem.system.initial_centres();
    let (p, d) = (problem.system.particles(), problem.system.dims());
    let scale = problem.train.init_spread * problem.system.length_scale();
    let z = noise.standard_normals(walkers * p * d);
    let values: Vec<f64> = (0..walkers * p * d).map(|k| centres[(k / d) % p][k % d] + scale * z[k]).collect();
    Tensor::from_data(TensorData::new(values, [walkers, p, d]), device)
}

/// Repeats walkers cyclically to `count` (burn-in with independent noise decorrelates them).
fn resize_walkers(walkers: Tensor<3>, count: usize, device: &Device) -> Tensor<3> {
    let [w, p, d] = walkers.dims();
    let values: Vec<f64> = walkers.into_data().try_into_vec_as::<f64>().expect("float data");
    let resized: Vec<f64> = (0..count * p * d).map(|k| values[k % (w * p * d)]).collect();
    Tensor::from_data(TensorData::new(resized, [count, p, d]), device)
}

/// Whether a problem runs on the fused CPU engine on `device` (`[train] engine`, falling back
/// to autodiff where the fused engine does not run).
pub fn use_fused(problem: &Problem, device: &Device) -> bool {
    problem.train.engine != EngineChoice::Autodiff && crate::fused::supported(device)
}

/// Trains and evaluates. `device` is a plain (non-autodiff) device; training runs on its
/// autodiff decorator.
pub fn solve(problem: &Problem, device: &Device, overrides: &Overrides, on_row: &mut dyn FnMut(&TrainingRow)) -> Result<SolveOutput> {
    let mut observe = |row: &TrainingRow, _: &TrainState, _: &Noise| {
        on_row(row);
        Control::Continue
    };
    match solve_with(problem, device, overrides, None, &mut observe)? {
        Outcome::Finished(output) => Ok(*output),
        Outcome::Stopped { iteration } => Err(Error::Other(format!("training stopped at iteration {iteration}"))),
    }
}

/// [`solve`], optionally continuing from a checkpoint (read from the file `resume.0`), with an
/// observer that sees every applied iteration's row, state and noise stream (to checkpoint them)
/// and may stop training.
pub fn solve_with(
    problem: &Problem,
    device: &Device,
    overrides: &Overrides,
    resume: Option<(&Path, &Checkpoint)>,
    observe: &mut dyn FnMut(&TrainingRow, &TrainState, &Noise) -> Control,
) -> Result<Outcome> {
    let start = Instant::now();
    let seed = overrides.seed.unwrap_or(problem.train.seed);
    let iterations = overrides.iterations.unwrap_or(problem.train.iterations);
    let mut root = Noise::new(seed);
    let mut init_noise = root.split();
    let mut train_noise = root.split();
    let mut eval_noise = root.split();
    let mut sample_noise = root.split();

    let train_device = device.clone().autodiff();
    let net = build_net(problem, &mut init_noise, &train_device);
    let state = match resume {
        None => TrainState::new(net, initial_walkers(problem, problem.train.walkers, &mut init_noise, &train_device)),
        Some((path, checkpoint)) => {
            let mismatch = |field: &str, message: String| Error::Format { path: path.to_path_buf(), field: field.to_string(), message };
            if checkpoint.problem_text != problem.text {
                return Err(mismatch("problem", format!("written for a different problem file than {}", problem.path.display())));
            }
            if checkpoint.seed != seed {
                return Err(mismatch("seed", format!("written with seed {}, this run uses seed {seed}", checkpoint.seed)));
            }
            let (state, noise) = checkpoint.into_state(path, net, &train_device)?;
            train_noise = noise;
            state
        }
    };
    let fused = use_fused(problem, device);
    let (system, integrator) = (&problem.system, problem.sde.integrator);
    let (dt, steps, boundary) = (problem.sde.dt, problem.sde.steps, problem.train.boundary);
    let mut engine: Box<dyn PathEngine + '_> = if fused {
        let precision = crate::fused::precision_for(problem.train.precision, device);
        Box::new(FusedEngine::new(system, integrator, dt, steps, boundary).with_precision(precision).with_checkpoint_segment(problem.train.checkpoint_segment))
    } else {
        Box::new(AutodiffEngine { system, integrator, dt, steps, boundary })
    };
    let schedule = Schedule { iterations, lr: problem.train.lr, lr_decay: problem.train.lr_decay };
    let (trained, control) = train_from(engine.as_mut(), state, &schedule, &mut train_noise, observe)?;
    if control == Control::Stop {
        return Ok(Outcome::Stopped { iteration: trained.iteration });
    }
    let train_seconds = start.elapsed().as_secs_f64();

    let eval_start = Instant::now();
    let eval_net = trained.net.valid();
    let drift = full_drift(&eval_net, &problem.system);
    let potential = |x: Tensor<3>| problem.system.potential(x);
    let walkers = resize_walkers(trained.walkers.clone(), problem.eval.walkers, device);
    let settings = EvalSettings {
        dt: problem.eval.dt,
        steps: problem.eval.steps,
        burn_in: problem.eval.burn_in,
        extrapolate: problem.eval.extrapolate,
    };
    let mut simulator: Box<dyn PathSimulator + '_> = if fused {
        Box::new(FusedSimulator::new(&eval_net, &problem.system, problem.sde.integrator))
    } else {
        Box::new(BurnSimulator { drift: &drift, potential: &potential, integrator: problem.sde.integrator })
    };
    let weak_order = problem.sde.integrator.weak_order;
    let evaluation = evaluate(simulator.as_mut(), weak_order, walkers, &settings, &mut eval_noise);
    drop(simulator);
    let out = &problem.output;
    let paths = match (&evaluation.walkers, out.path_walkers) {
        (Some(w), k) if k > 0 => Some(sample_paths(
            &drift,
            problem.sde.integrator,
            w.clone(),
            PathSampling { walkers: k, steps: out.path_steps, every: out.path_every, dt: problem.eval.dt },
            &mut sample_noise,
        )),
        _ => None,
    };
    let slice = drift_slice(&drift, &problem.system, SLICE_POINTS, device);
    let eval_seconds = eval_start.elapsed().as_secs_f64();

    let energy = evaluation.at_dt.energy;
    let extrapolated = evaluation.extrapolated;
    let reference = problem.reference;
    let summary = Summary {
        name: problem.name.clone(),
        energy: energy.value,
        energy_error: energy.error,
        energy_extrapolated: extrapolated.map(|x| x.value.value),
        energy_extrapolated_error: extrapolated.map(|x| x.value.error),
        timestep_bias: extrapolated.map(|x| x.bias),
        reference,
        difference_mha: reference.map(|r| 1e3 * (energy.value - r)),
        difference_extrapolated_mha: reference.zip(extrapolated).map(|(r, x)| 1e3 * (x.value.value - r)),
        wall_seconds: start.elapsed().as_secs_f64(),
        train_seconds,
        eval_seconds,
        iterations,
        seed,
        integrator: problem.sde.integrator.name.to_string(),
        engine: if fused { "fused" } else { "autodiff" }.to_string(),
        dt: problem.eval.dt,
        recoveries: trained.recoveries,
        estimator: "variational: E[l_T]/T of fresh stationary paths (Ito), batch means over independent walkers \
                    with the martingale term as control variate"
            .to_string(),
        evaluation,
        files: Vec::new(),
    };
    Ok(Outcome::Finished(Box::new(SolveOutput { summary, rows: trained.rows, net: trained.net, paths, slice })))
}
