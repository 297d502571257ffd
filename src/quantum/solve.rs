//! A whole ground-state run from a [`Problem`]: build the drift network, draw walkers, train
//! with the Feynman–Kac loss, evaluate the energy with error bars and dt-extrapolation.
//! Returns results; writing them is [`crate::io`]'s job.

use crate::base::error::{Error, Result};
use crate::stats::Estimate;
use crate::quantum::select::{self, guide_on};
use crate::quantum::walk::{Walk, WalkSettings};
use crate::quantum::trust;
use crate::quantum::evaluate::{EvalSettings, Evaluation, DmcResult, GuidedEnergies, GuidedSettings, evaluate_on, guided_energies_on};
use crate::parallel::{Comm, Single, rank_noise, share};
use crate::quantum::checkpoint::Checkpoint;
use crate::quantum::sample::{DriftSlice, PathSample, PathSampling, drift_slice, sample_paths};
use crate::quantum::nn::{DriftNet, JastrowConfig, MlpConfig, PairNetConfig, Potential};
use crate::base::noise::Noise;
use crate::base::config::EngineChoice;
use crate::quantum::problem::{DriftKind, Estimator, Problem};
use crate::quantum::objective::vmc::VmcEngine;
use crate::base::interrupt::Control;
use crate::io::training::TrainingRow;
use crate::quantum::train::{Distributed, Schedule, TrainStage, Staged, TrainState, train_from};
use crate::quantum::autodiff::full_drift;
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
    /// The iteration limit (`[train] iterations` or `--iterations`); `convergence.iterations_run`
    /// says how many ran.
    pub iterations: usize,
    /// The convergence monitor: whether the energy and log var E_L reached a plateau (`converged`)
    /// and at which iteration, the fitted slopes and the monitor points.
    pub convergence: crate::quantum::train::Convergence,
    pub seed: u64,
    pub integrator: String,
    /// The engine that computed training steps and evaluation paths: "fused" or "autodiff".
    pub engine: String,
    pub dt: f64,
    pub recoveries: usize,
    pub estimator: String,
    /// The energy this run reports, which estimator gave it and why.
    pub headline: Headline,
    pub evaluation: Evaluation,
    /// Local-energy, reweighted and DMC estimates (`[eval] estimators`).
    pub guided: GuidedEnergies,
    pub guided_seconds: f64,
    /// ⟨|c|²⟩_ρ of the drift's non-gradient part c = v − ½∇log ρ (ρ its stationary law): the
    /// average of (V + ½|v|²) − E_L over the local-energy walk (docs/energies.md). It sizes
    /// DMC's second-order bias from a drift that is not exactly a gradient.
    pub non_gradient: Option<Estimate>,
    /// E[ℓ_T]/T in the Stratonovich form ∫v∘dX + ∫E_L dt over the local-energy walk
    /// (`crate::quantum::walk`): the variational energy of the same drift, at the walk's dt.
    pub variational_stratonovich: Option<Estimate>,
    /// Processes the walkers were spread over ([`crate::parallel`]; 1 without MPI).
    pub ranks: usize,
    /// Wall seconds rank 0 spent in collectives (communication and waiting for other ranks).
    pub communication_seconds: f64,
    /// Files written for this run (filled in by the writer).
    pub files: Vec<String>,
}

/// The headline energy of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Headline {
    /// "dmc" or "variational".
    pub estimator: String,
    pub energy: f64,
    pub error: f64,
    /// DMC: the same estimate without the population-control correction (for comparison).
    pub uncorrected: Option<Estimate>,
    /// (energy − reference) in milli-hartree.
    pub difference_mha: Option<f64>,
    pub reason: String,
    /// Whether every check of [`crate::quantum::trust`] passed.
    pub trusted: bool,
    /// The checks that failed, one sentence each.
    pub reasons: Vec<String>,
    /// Set when the run diverged: a non-finite headline energy, or a DMC population that
    /// exploded or died out. The command line then exits with an error (after writing files).
    pub diverged: Option<String>,
}

impl Headline {
    /// The DMC headline; `local` is the local-energy walk of the same guide (if it ran), `particles`
    /// the N of the variance check.
    pub fn from_dmc(dmc: &DmcResult, reference: Option<f64>, particles: usize, local: Option<&Walk>) -> Headline {
        let reason = if dmc.extrapolated.is_some() {
            "DMC guided by the trained drift, extrapolated to dt -> 0, population-control corrected: free of the \
             drift's variational bias for a nodeless ground state up to a second-order term in its non-gradient \
             part (docs/energies.md); error bar from blocking, propagated through the extrapolation"
        } else {
            "DMC guided by the trained drift at one dt, population-control corrected (no extrapolation: time-step bias not removed)"
        };
        let value = dmc.energy();
        let mut reasons = Vec::new();
        for w in std::iter::once(&dmc.at_dt).chain(&dmc.at_half_dt) {
            reasons.extend(trust::walk_reasons(w, &format!("dmc dt = {}", w.dt), particles));
        }
        // The local-energy walk (reported with its own diagnostics) enters only as the
        // variational bound, and only where its error bar holds.
        let bound = local.filter(|l| trust::walk_reasons(l, "", particles).is_empty());
        reasons.extend(trust::dmc_reasons(dmc.timestep.as_ref(), value, bound));
        let failed = std::iter::once(&dmc.at_dt).chain(&dmc.at_half_dt).find(|w| w.population_failed());
        let diverged = match failed {
            Some(w) => Some(format!("DMC {} at dt = {} after {} generations", w.stopped_by, w.dt, w.generations)),
            None => (!value.value.is_finite()).then(|| format!("the DMC energy is not finite ({})", value.value)),
        };
        Headline {
            estimator: "dmc".into(),
            energy: value.value,
            error: value.error,
            uncorrected: Some(dmc.energy_uncorrected()),
            difference_mha: reference.map(|r| 1e3 * (value.value - r)),
            reason: reason.into(),
            trusted: reasons.is_empty(),
            reasons,
            diverged,
        }
    }

    /// Marks the headline as diverged when its energy is non-physical for `system`
    /// ([`crate::quantum::physics::System::energy_bounds`]): below a rigorous lower bound, above a
    /// molecule's ionisation threshold, or with an error bar or value far beyond the system's
    /// energy scale. Each by more than 5σ and 10 % of the scale.
    pub fn check_physical(&mut self, system: &crate::quantum::physics::System) {
        if self.diverged.is_some() {
            return;
        }
        let b = system.energy_bounds();
        let (e, s) = (self.energy, self.error);
        let slack = 5.0 * s.abs() + 0.1 * b.scale.abs().max(1e-3);
        let scale = b.scale.abs().max(1e-3);
        self.diverged = if let Some(l) = b.lower.filter(|&l| e < l - slack) {
            Some(format!("non-physical energy {e:.6} ± {s:.2e} Ha: below the system's lower bound {l:.6} Ha (lower [train] lr or the time steps)"))
        } else if let Some(v) = b.ionization.filter(|&v| e > v + slack) {
            Some(format!("non-physical energy {e:.6} ± {s:.2e} Ha: above the bare nuclei's energy {v:.6} Ha (electrons unbound: training failed; lower [train] lr or the time steps)"))
        } else if !(s.abs() <= scale) || e.abs() > 100.0 * scale {
            Some(format!("meaningless energy {e:.6e} ± {s:.2e} Ha for a system whose energy scale is {scale:.3} Ha (training diverged; lower [train] lr)"))
        } else {
            None
        };
    }

    fn choose(evaluation: &Evaluation, guided: &GuidedEnergies, reference: Option<f64>, particles: usize) -> Headline {
        if let Some(dmc) = &guided.dmc {
            return Headline::from_dmc(dmc, reference, particles, guided.local_energy.as_ref());
        }
        let (estimator, value, reason) = match evaluation.extrapolated {
            Some(x) => (
                "variational",
                x.value,
                "variational E[l_T]/T extrapolated to dt -> 0: an upper bound up to statistical error (no DMC requested)",
            ),
            None => ("variational", evaluation.at_dt.energy, "variational E[l_T]/T at the training dt (no DMC requested)"),
        };
        let mut reasons = Vec::new();
        if !(value.value.is_finite() && value.error.is_finite()) {
            reasons.push(format!("variational energy not finite ({} ± {})", value.value, value.error));
        }
        for e in std::iter::once(&evaluation.at_dt).chain(&evaluation.at_half_dt) {
            if !e.blocking.converged {
                reasons.push(format!("variational dt = {}: blocking analysis not converged ({} steps too few for their correlation time)", e.dt, e.steps));
            }
        }
        Headline {
            estimator: estimator.into(),
            energy: value.value,
            error: value.error,
            uncorrected: None,
            difference_mha: reference.map(|r| 1e3 * (value.value - r)),
            reason: reason.into(),
            trusted: reasons.is_empty(),
            reasons,
            diverged: (!value.value.is_finite()).then(|| format!("the variational energy is not finite ({})", value.value)),
        }
    }
}

/// Settings of the guided estimators from a problem.
pub fn guided_settings(problem: &Problem) -> GuidedSettings {
    let e = &problem.eval;
    let wants = |x: Estimator| e.estimators.contains(&x);
    let local = (wants(Estimator::LocalEnergy) || wants(Estimator::Reweighted)).then(|| WalkSettings {
        dt: e.dt,
        burn_in: e.burn_in,
        steps: e.local_steps,
        branching: false,
        metropolis: false,
        feedback_time: 1.0,
        target_error: None,
        target_relative_error: None,
        max_steps: e.local_steps,
        max_seconds: None,
        reweight_times: if wants(Estimator::Reweighted) { e.reweight_times.clone() } else { Vec::new() },
    }).map(|s| (s, e.walkers));
    let d = &problem.dmc;
    let dmc = wants(Estimator::Dmc).then(|| {
        let s = WalkSettings {
            dt: d.dt,
            burn_in: d.burn_in,
            steps: d.steps,
            branching: true,
            metropolis: d.metropolis,
            feedback_time: d.feedback_time,
            target_error: d.target_error,
            target_relative_error: d.target_relative_error,
            max_steps: if d.target_error.is_some() || d.target_relative_error.is_some() { usize::MAX / 4 } else { d.steps },
            max_seconds: d.max_seconds,
            reweight_times: Vec::new(),
        };
        (s, d.walkers)
    });
    GuidedSettings { local, dmc, dmc_extrapolate: d.extrapolate }
}

/// Runs the guided estimators of `problem` with the drift `net` from `walkers` (stationary).
pub fn run_guided(problem: &Problem, net: &DriftNet, walkers: &Tensor<3>, device: &Device, noise: &mut Noise) -> Result<GuidedEnergies> {
    run_guided_on(problem, net, walkers, device, noise, &Single)
}

/// [`run_guided`] over the ranks of `comm` (`walkers` and `noise` this rank's; the problem's
/// walker counts are totals).
pub fn run_guided_on(problem: &Problem, net: &DriftNet, walkers: &Tensor<3>, device: &Device, noise: &mut Noise, comm: &dyn Comm) -> Result<GuidedEnergies> {
    let settings = guided_settings(problem);
    if settings.local.is_none() && settings.dmc.is_none() {
        return Ok(GuidedEnergies::default());
    }
    check_guided_device(problem, &settings, device)?;
    let values: Vec<f64> = walkers.clone().into_data().try_into_vec_as::<f64>().expect("float walkers");
    let guide = guide_on(net, &problem.system, problem.sde.integrator, device).expect("checked by check_guided_device");
    Ok(guided_energies_on(guide.as_ref(), &values, &settings, noise, comm))
}

/// The guided estimators (local energy, reweighting, DMC) need the drift's exact divergence. On
/// the CPU the fused engine gives it for every drift; on another device
/// ([`crate::quantum::autodiff::TensorGuide`]) the tensor form exists for the gradient drifts only
/// (`jastrow`, `gradient`): otherwise an error naming the file and `eval.estimators`.
fn check_guided_device(problem: &Problem, settings: &GuidedSettings, device: &Device) -> Result<()> {
    let gradient = matches!(problem.drift.kind, DriftKind::Gradient | DriftKind::Jastrow);
    if (settings.local.is_some() || settings.dmc.is_some()) && !EngineChoice::Auto.fused(device) && !gradient {
        return Err(Error::Other(format!(
            "{}: eval.estimators: local_energy, reweighted and dmc off the CPU need a gradient drift (drift.kind = \"jastrow\" or \"gradient\"), whose Laplacian has a tensor form; keep [\"variational\"] for this drift on this device",
            problem.path.display()
        )));
    }
    Ok(())
}

/// What `pathspace dmc FILE --from DIR` produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DmcOutput {
    pub name: String,
    /// The run directory whose checkpoint gave the drift, and its training iteration.
    pub from: String,
    pub iteration: usize,
    pub reference: Option<f64>,
    pub headline: Headline,
    pub guided: GuidedEnergies,
    pub seconds: f64,
    /// Processes the walkers were spread over.
    pub ranks: usize,
}

/// `pathspace dmc FILE --from DIR`: the problem's `[system]` and `[drift]` must be the ones the
/// checkpoint's run trained (its problem text is stored in it); an error naming the checkpoint
/// and the table otherwise.
pub fn check_same_system(problem: &Problem, path: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let mismatch = |field: &str, message: String| Error::Format { path: path.to_path_buf(), field: field.to_string(), message };
    let trained = Problem::parse(&problem.path, &checkpoint.problem_text)
        .map_err(|e| mismatch("problem", format!("the stored problem text no longer parses ({e})")))?;
    if format!("{:?}", trained.system) != format!("{:?}", problem.system) {
        return Err(mismatch("system", format!("trained for another [system] than {} has; use the run's problem file (or change only [dmc] and [eval])", problem.path.display())));
    }
    let spec = |p: &Problem| format!("{:?}", p.drift);
    if spec(&trained) != spec(problem) {
        return Err(mismatch("drift", format!("trained with another [drift] than {} has", problem.path.display())));
    }
    Ok(())
}

/// Runs the guided estimators (DMC always) with the drift stored in `checkpoint` (read from
/// `path`, a run of the same system and network). The walkers start from the checkpoint's.
pub fn dmc_from_checkpoint(problem: &Problem, path: &Path, checkpoint: &Checkpoint, device: &Device, seed: Option<u64>) -> Result<DmcOutput> {
    dmc_from_checkpoint_on(problem, path, checkpoint, device, seed, &Single)
}

/// [`dmc_from_checkpoint`] over the ranks of `comm`: each rank starts from its own walkers when
/// the checkpoint was written over as many ranks, else from rank 0's (its own stream
/// decorrelates the copies in the burn-in); rank r's stream is [`rank_noise`] of the DMC seed.
pub fn dmc_from_checkpoint_on(problem: &Problem, path: &Path, checkpoint: &Checkpoint, device: &Device, seed: Option<u64>, comm: &dyn Comm) -> Result<DmcOutput> {
    let start = Instant::now();
    let train_device = device.clone().autodiff();
    let template = build_net(problem, &mut Noise::new(0), &train_device);
    let (state, _) = if checkpoint.ranks() == comm.size() {
        checkpoint.into_state_of_rank(path, template, &train_device, comm.rank(), comm.size())?
    } else {
        checkpoint.into_state(path, template, &train_device)?
    };
    let mut problem = problem.clone();
    if !problem.eval.estimators.contains(&Estimator::Dmc) {
        problem.eval.estimators.push(Estimator::Dmc);
    }
    // A stream of its own, apart from the training run's (0x646d63 = "dmc").
    let mut noise = rank_noise(seed.unwrap_or(problem.train.seed) ^ 0x646d63, comm.rank());
    let guided = run_guided_on(&problem, &state.net.valid(), &state.walkers.inner(), device, &mut noise, comm)?;
    let dmc = guided.dmc.as_ref().expect("DMC was requested");
    let mut headline = Headline::from_dmc(dmc, problem.reference, problem.system.particles(), guided.local_energy.as_ref());
    headline.check_physical(&problem.system);
    Ok(DmcOutput {
        name: problem.name.clone(),
        from: path.parent().unwrap_or(path).display().to_string(),
        iteration: state.iteration,
        reference: problem.reference,
        headline,
        guided,
        seconds: start.elapsed().as_secs_f64(),
        ranks: comm.size(),
    })
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
        DriftKind::Gradient => DriftNet::Potential(
            Potential::init(&MlpConfig { particles: p, dims: d, hidden: spec.hidden, layers: spec.layers, skip_init: spec.skip_init }, noise, device),
        ),
        DriftKind::Jastrow => DriftNet::Jastrow(
            JastrowConfig {
                particles: p,
                dims: d,
                centres: problem.system.centres(),
                length: problem.system.length_scale(),
                hidden: spec.hidden,
                layers: spec.layers,
                skip_init: spec.skip_init,
                density: spec.density_rates(),
                three_body: spec.three_body,
            }
            .init(noise, device),
        ),
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
    let [_, p, d] = walkers.dims();
    let values: Vec<f64> = walkers.into_data().try_into_vec_as::<f64>().expect("float data");
    let resized = crate::quantum::evaluate::cycle_walkers(&values, count * p * d);
    Tensor::from_data(TensorData::new(resized, [count, p, d]), device)
}

/// Trains and evaluates. `device` is a plain (non-autodiff) device; training runs on its
/// autodiff decorator.
pub fn solve(problem: &Problem, device: &Device, overrides: &Overrides, on_row: &mut dyn FnMut(&TrainingRow)) -> Result<SolveOutput> {
    let mut observe = |row: &TrainingRow, _: &TrainState, _: &Noise| {
        on_row(row);
        Control::Continue
    };
    match solve_with(problem, device, overrides, None, &mut observe, &Single)? {
        Outcome::Finished(output) => Ok(*output),
        Outcome::Stopped { iteration } => Err(Error::Other(format!("training stopped at iteration {iteration}"))),
    }
}

/// [`solve`], optionally continuing from a checkpoint (read from the file `resume.0`), with an
/// observer that sees every applied iteration's row, state and noise stream (to checkpoint them)
/// and may stop training.
///
/// Over the ranks of `comm` ([`crate::parallel`]) every rank runs this with its own noise
/// streams ([`rank_noise`]) and its [`share`] of every walker count (`[train]`, `[eval]` and
/// `[dmc] walkers` are totals); the network is initialised from rank 0's stream on every rank,
/// gradients and estimates are combined over the ranks, and the returned summary is the same
/// on every rank (timings aside). A checkpoint to resume from must hold as many ranks' walkers
/// and streams as `comm` has ranks. With [`Single`] this is the plain run.
pub fn solve_with(
    problem: &Problem,
    device: &Device,
    overrides: &Overrides,
    resume: Option<(&Path, &Checkpoint)>,
    observe: &mut dyn FnMut(&TrainingRow, &TrainState, &Noise) -> Control,
    comm: &dyn Comm,
) -> Result<Outcome> {
    let start = Instant::now();
    // Refused before training rather than after it.
    check_guided_device(problem, &guided_settings(problem), device)?;
    let seed = overrides.seed.unwrap_or(problem.train.seed);
    // `--iterations` limits the iterations in all; the VMC stage starts at train.iterations (or
    // at the first plateau before it with stop_on_plateau).
    let iterations = overrides.iterations.unwrap_or(problem.train.iterations + problem.vmc.iterations);
    let (rank, ranks) = (comm.rank(), comm.size());
    let mut root = rank_noise(seed, rank);
    let mut init_noise = root.split();
    let mut train_noise = root.split();
    let mut eval_noise = root.split();
    let mut sample_noise = root.split();

    let train_device = device.clone().autodiff();
    let mut net = build_net(problem, &mut init_noise, &train_device);
    if rank > 0 {
        // The same initial network on every rank: rank 0's (its walkers stay this rank's own).
        net = build_net(problem, &mut rank_noise(seed, 0).split(), &train_device);
    }
    let train_walkers = share(problem.train.walkers, ranks, rank).1;
    if train_walkers == 0 {
        return Err(Error::Other(format!("[train] walkers = {} is fewer than the {ranks} ranks of this run", problem.train.walkers)));
    }
    let state = match resume {
        None => TrainState::new(net, initial_walkers(problem, train_walkers, &mut init_noise, &train_device)),
        Some((path, checkpoint)) => {
            crate::io::run::check_checkpoint(path, checkpoint, &problem.path, &problem.text, seed)?;
            let (state, noise) = checkpoint.into_state_of_rank(path, net, &train_device, rank, ranks)?;
            train_noise = noise;
            state
        }
    };
    let system = &problem.system;
    let mut engine = select::training_engine(problem, device);
    let v = &problem.vmc;
    // The variational Monte Carlo stage follows the path-space KL ([`crate::quantum::objective::vmc`]).
    let stage = (v.iterations > 0).then(|| TrainStage { start: problem.train.iterations, iterations: v.iterations, lr: v.lr, lr_decay: v.lr_decay });
    if stage.is_some() {
        engine = Box::new(Staged::new(engine, Box::new(VmcEngine { system, moves: v.moves, dt: v.dt, clip: v.clip, objective: v.objective, guide: guide_on })));
    }
    if ranks > 1 {
        engine = Box::new(Distributed { inner: engine, comm, total_walkers: problem.train.walkers });
    }
    let t = &problem.train;
    let schedule = Schedule { iterations, lr: t.lr, lr_decay: t.lr_decay, warmup: t.warmup, clip_grad: t.clip_grad, monitor: t.monitor.clone(), stage };
    let (trained, control) = train_from(engine.as_mut(), state, &schedule, &mut train_noise, observe)?;
    if control == Control::Stop {
        return Ok(Outcome::Stopped { iteration: trained.iteration });
    }
    crate::base::interrupt::set_phase(crate::base::interrupt::Phase::Evaluation);
    let train_seconds = start.elapsed().as_secs_f64();
    let convergence = schedule.monitor.convergence_with(&trained, schedule.stage.as_ref());

    let eval_start = Instant::now();
    let eval_net = trained.net.valid();
    let drift = full_drift(&eval_net, &problem.system);
    let potential = |x: Tensor<3>| problem.system.potential(x);
    let walkers = resize_walkers(trained.walkers.clone(), share(problem.eval.walkers, ranks, rank).1, device);
    let settings = EvalSettings {
        dt: problem.eval.dt,
        steps: problem.eval.steps,
        burn_in: problem.eval.burn_in,
        extrapolate: problem.eval.extrapolate,
    };
    let mut simulator = select::simulator(problem, &eval_net, &drift, &potential, device);
    let weak_order = problem.sde.integrator.weak_order;
    let evaluation = evaluate_on(simulator.as_mut(), weak_order, walkers, &settings, &mut eval_noise, comm);
    drop(simulator);
    let guided_start = Instant::now();
    let guided = match &evaluation.walkers {
        Some(w) => run_guided_on(problem, &eval_net, w, device, &mut root.split(), comm)?,
        None => GuidedEnergies::default(),
    };
    let guided_seconds = guided_start.elapsed().as_secs_f64();
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
        convergence,
        seed,
        integrator: problem.sde.integrator.name.to_string(),
        engine: if select::use_fused(problem, device) { "fused" } else { "autodiff" }.to_string(),
        dt: problem.eval.dt,
        recoveries: trained.recoveries,
        estimator: "variational: E[l_T]/T of fresh stationary paths (Ito), batch means over independent walkers \
                    with the martingale term as control variate"
            .to_string(),
        headline: {
            let mut h = Headline::choose(&evaluation, &guided, reference, problem.system.particles());
            h.check_physical(&problem.system);
            h
        },
        non_gradient: guided.local_energy.as_ref().and_then(|l| l.non_gradient),
        variational_stratonovich: guided.local_energy.as_ref().and_then(|l| l.stratonovich),
        evaluation,
        guided,
        guided_seconds,
        ranks,
        communication_seconds: comm.seconds(),
        files: Vec::new(),
    };
    Ok(Outcome::Finished(Box::new(SolveOutput { summary, rows: trained.rows, net: trained.net, paths, slice })))
}
