//! The training loop: Adam on the Feynman–Kac loss, walkers carried from episode to episode.
//!
//! The computation of one step sits behind [`PathEngine`]: walkers and parameters in; loss,
//! energy estimate, parameter gradients and the final walkers out. [`AutodiffEngine`]
//! differentiates the whole simulated path with burn's reverse-mode autodiff on any backend.
//!
//! Learning rate: lr_k = lr · min(1, (k + 1)/k_warmup) / (1 + k/k_decay) (no ramp without a
//! warm-up). With `clip_grad` = c the gradient is scaled by min(1, c/‖g‖), ‖g‖ its global
//! Euclidean norm over all parameters. NaN/Inf in the loss, the energy or the walkers
//! restores the last good parameters, optimiser state and walkers, halves the learning rate and
//! goes on; the bad step is never applied or averaged.
//!
//! Convergence monitor ([`MonitorSettings`]): every `every` iterations a [`MonitorPoint`] records
//! the mean training energy of those iterations and the variance of E_L over the first
//! `walkers` walkers (exact local energies of the fused CPU kernels, for either engine; no noise
//! is drawn, so training is unchanged by it). At each point with `window` points behind it, the
//! least-squares slopes of the energy and of log var E_L over the window are tested against
//! their own standard errors ([`crate::stats::fit_slope`]): both flat → a plateau. With
//! `stop_on_plateau`, training ends at the first plateau at or after `min_iterations`.

use crate::base::interrupt::Control;
use crate::io::training::TrainingRow;
use crate::quantum::engine::{EngineStep, PathEngine};
pub use crate::quantum::problem::MonitorSettings;
use crate::base::error::{Error, Result};
use crate::quantum::nn::DriftNet;
use crate::base::noise::Noise;
use crate::stats::{Slope, fit_slope};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use crate::parallel::Comm;
use burn::tensor::{Tensor, TensorData};
use std::time::Instant;

/// Two engines one after the other: `first` in stage 0, `second` in stage 1 (the path-space KL,
/// then variational Monte Carlo: [`crate::quantum::objective::vmc`]); the loop says which ([`TrainStage`]).
pub struct Staged<'a> {
    pub first: Box<dyn PathEngine + 'a>,
    pub second: Box<dyn PathEngine + 'a>,
    second_active: bool,
}

impl<'a> Staged<'a> {
    pub fn new(first: Box<dyn PathEngine + 'a>, second: Box<dyn PathEngine + 'a>) -> Self {
        Staged { first, second, second_active: false }
    }

    fn active(&mut self) -> &mut (dyn PathEngine + 'a) {
        if self.second_active { self.second.as_mut() } else { self.first.as_mut() }
    }
}

impl PathEngine for Staged<'_> {
    fn step(&mut self, net: &DriftNet, walkers: Tensor<3>, noise: &mut Noise) -> EngineStep {
        self.active().step(net, walkers, noise)
    }

    fn local_energies(&self, net: &DriftNet, x: &[f64]) -> Option<Vec<f64>> {
        if self.second_active { self.second.local_energies(net, x) } else { self.first.local_energies(net, x) }
    }

    fn begin(&mut self, stage: usize) {
        self.second_active = stage > 0;
        self.active().begin(0);
    }
}

/// One rank's share of a walker-parallel training step ([`crate::parallel`]): the inner engine
/// computes loss, energy and gradients over this rank's W_r walkers; they are combined as
/// Σ_r (W_r/W)·(·)_r, in rank order, so every rank holds the gradient of the mean loss over all
/// W walkers and applies the same Adam step. A rank whose walkers are not finite makes the
/// global loss NaN, so all ranks take the same recovery. With one rank the inner step is
/// returned untouched.
pub struct Distributed<'a> {
    pub inner: Box<dyn PathEngine + 'a>,
    pub comm: &'a dyn Comm,
    /// W, all ranks' walkers together.
    pub total_walkers: usize,
}

impl PathEngine for Distributed<'_> {
    fn step(&mut self, net: &DriftNet, walkers: Tensor<3>, noise: &mut Noise) -> EngineStep {
        let local = walkers.dims()[0];
        let mut step = self.inner.step(net, walkers, noise);
        if self.comm.size() == 1 {
            return step;
        }
        let finite = step.walkers.clone().is_finite().all().into_scalar::<bool>();
        let share = local as f64 / self.total_walkers as f64;
        let (flat, layout) = flatten_gradients(net, &step.grads);
        let mut buffer = vec![share * step.loss, share * step.energy, f64::from(u8::from(!finite))];
        buffer.extend(flat.iter().map(|g| share * g));
        let total = self.comm.sum(&buffer);
        step.loss = if total[2] > 0.0 { f64::NAN } else { total[0] };
        step.energy = total[1];
        step.grads = unflatten_gradients(net, &total[3..], &layout);
        step
    }

    fn begin(&mut self, stage: usize) {
        self.inner.begin(stage);
    }

    /// Every rank's E_L at its own walkers, concatenated in rank order.
    fn local_energies(&self, net: &DriftNet, x: &[f64]) -> Option<Vec<f64>> {
        let e = self.inner.local_energies(net, x)?;
        Some(self.comm.concat(&e))
    }
}

/// Where each float parameter's gradient sits in a flat buffer: (offset, shape, the gradient's
/// device where it has one).
type GradLayout = Vec<(usize, Vec<usize>, Option<burn::tensor::Device>)>;

/// The gradients of `net`'s float parameters in visiting order, as one f64 buffer (a parameter
/// without a gradient contributes zeros and is marked absent).
pub fn flatten_gradients(net: &DriftNet, grads: &GradientsParams) -> (Vec<f64>, GradLayout) {
    struct Flatten<'a> {
        grads: &'a GradientsParams,
        flat: Vec<f64>,
        layout: GradLayout,
    }
    impl ModuleVisitor for Flatten<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let shape = param.val().dims().to_vec();
            let offset = self.flat.len();
            match self.grads.get::<D>(param.id) {
                Some(g) => {
                    let device = g.device();
                    self.flat.extend(g.into_data().try_into_vec_as::<f64>().expect("float gradient"));
                    self.layout.push((offset, shape, Some(device)));
                }
                None => {
                    self.flat.extend(std::iter::repeat_n(0.0, shape.iter().product()));
                    self.layout.push((offset, shape, None));
                }
            }
        }
    }
    let mut v = Flatten { grads, flat: Vec::new(), layout: Vec::new() };
    net.visit(&mut v);
    (v.flat, v.layout)
}

/// The inverse of [`flatten_gradients`]: `flat` as gradients of `net`'s parameters (on their
/// gradients' devices), for every parameter that had a gradient.
pub fn unflatten_gradients(net: &DriftNet, flat: &[f64], layout: &GradLayout) -> GradientsParams {
    struct Unflatten<'a> {
        flat: &'a [f64],
        layout: std::slice::Iter<'a, (usize, Vec<usize>, Option<burn::tensor::Device>)>,
        grads: GradientsParams,
    }
    impl ModuleVisitor for Unflatten<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let (offset, shape, device) = self.layout.next().expect("layout of the same network");
            if let Some(device) = device {
                let n: usize = shape.iter().product();
                let dims: [usize; D] = shape.clone().try_into().expect("rank of the parameter");
                let values = self.flat[*offset..offset + n].to_vec();
                self.grads.register(param.id, Tensor::<D>::from_data(TensorData::new(values, dims), device));
            }
        }
    }
    let mut v = Unflatten { flat, layout: layout.iter(), grads: GradientsParams::new() };
    net.visit(&mut v);
    v.grads
}

/// Optimiser settings.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub iterations: usize,
    pub lr: f64,
    pub lr_decay: f64,
    /// Iterations of the linear learning-rate ramp (0: none).
    pub warmup: usize,
    /// Largest global gradient norm (the gradient is scaled down to it); `None`: no clipping.
    pub clip_grad: Option<f64>,
    pub monitor: MonitorSettings,
    /// A second stage; `iterations` stays the limit of both together.
    pub stage: Option<TrainStage>,
}

/// A second training stage of `iterations` iterations. It begins at iteration `start`, or at
/// the first plateau of the monitor before it when `monitor.stop_on_plateau` (the plateau ends
/// the first stage instead of training), with a fresh Adam state and the rate
/// lr_k = lr / (1 + (k − b)/lr_decay), b the iteration it began (no warm-up).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainStage {
    pub start: usize,
    pub iterations: usize,
    pub lr: f64,
    pub lr_decay: f64,
}

impl Schedule {
    /// The schedule without warm-up, clipping or early stopping (the monitor records).
    pub fn new(iterations: usize, lr: f64, lr_decay: f64) -> Self {
        Schedule { iterations, lr, lr_decay, warmup: 0, clip_grad: None, monitor: MonitorSettings::default(), stage: None }
    }

    /// The rate of `iteration` with the second stage begun at its `start`.
    pub fn learning_rate(&self, iteration: usize) -> f64 {
        self.learning_rate_from(iteration, self.stage.as_ref().map(|s| s.start))
    }

    /// The rate of `iteration` with the second stage begun at `begun`.
    pub fn learning_rate_from(&self, iteration: usize, begun: Option<usize>) -> f64 {
        if let (Some(stage), Some(b)) = (&self.stage, begun.filter(|&b| iteration >= b)) {
            return stage.lr / (1.0 + (iteration - b) as f64 / stage.lr_decay);
        }
        let lr = self.lr / (1.0 + iteration as f64 / self.lr_decay);
        if iteration < self.warmup { lr * (iteration + 1) as f64 / self.warmup as f64 } else { lr }
    }
}

/// One point of the convergence monitor.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MonitorPoint {
    /// Iterations completed.
    pub iteration: usize,
    /// Mean training energy over the last `every` iterations, and its standard error.
    pub energy: f64,
    pub energy_error: f64,
    /// Variance of E_L over the monitored walkers (`None`: the engine gives no E_L).
    pub local_energy_variance: Option<f64>,
}

/// The plateau test at the last monitor point, and the whole monitor record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Convergence {
    /// The plateau test passed at the last monitor point (at or after `min_iterations`).
    pub converged: bool,
    /// With `converged`: the iterations completed at that point (where training stopped, with
    /// `stop_on_plateau`).
    pub iteration: Option<usize>,
    pub stopped_on_plateau: bool,
    pub iterations_run: usize,
    /// With a second stage ([`TrainStage`], `[vmc]`): the iteration it began (a plateau of the first
    /// stage with `stop_on_plateau`, else its `start`); `None` without one or before it began.
    pub second_stage_from: Option<usize>,
    /// Slopes per iteration over the last window (`None` before `window` points).
    pub energy_slope: Option<Slope>,
    pub log_variance_slope: Option<Slope>,
    pub window: usize,
    pub every: usize,
    pub monitor: Vec<MonitorPoint>,
}

impl MonitorSettings {
    /// The slopes of energy and log var E_L over the last window of `points` (`None` before
    /// `window` points).
    fn slopes(&self, points: &[MonitorPoint]) -> Option<(Slope, Option<Slope>)> {
        if points.len() < self.window.max(3) {
            return None;
        }
        let last = &points[points.len() - self.window.max(3)..];
        let t: Vec<f64> = last.iter().map(|p| p.iteration as f64).collect();
        let energy = fit_slope(&t, &last.iter().map(|p| p.energy).collect::<Vec<_>>())?;
        let log_var: Option<Vec<f64>> = last.iter().map(|p| p.local_energy_variance.filter(|v| *v > 0.0).map(f64::ln)).collect();
        Some((energy, log_var.and_then(|y| fit_slope(&t, &y))))
    }

    /// Whether the last point of `points` is a plateau.
    pub fn plateau(&self, points: &[MonitorPoint]) -> bool {
        let Some(last) = points.last() else { return false };
        if last.iteration < self.min_iterations {
            return false;
        }
        let Some((energy, log_var)) = self.slopes(points) else { return false };
        let scale = points[points.len() - self.window.max(3)..].iter().map(|p| p.energy.abs()).sum::<f64>() / self.window.max(3) as f64;
        energy.is_flat(self.z, self.tolerance, scale) && log_var.is_none_or(|s| s.is_flat(self.z, self.tolerance, 1.0))
    }

    /// Where `stage` begins given the monitor `points` so far: its start, or the first plateau
    /// before it with `stop_on_plateau`.
    pub fn stage_begins(&self, points: &[MonitorPoint], stage: &TrainStage) -> usize {
        if self.stop_on_plateau { self.first_plateau(points, stage.start).unwrap_or(stage.start).min(stage.start) } else { stage.start }
    }

    /// The iteration of the first monitor point at or before `until` where [`Self::plateau`]
    /// held over the points up to it.
    pub fn first_plateau(&self, points: &[MonitorPoint], until: usize) -> Option<usize> {
        (0..points.len()).take_while(|&k| points[k].iteration <= until).find(|&k| self.plateau(&points[..=k])).map(|k| points[k].iteration)
    }

    /// The record of a finished loop.
    pub fn convergence(&self, state: &TrainState) -> Convergence {
        self.convergence_with(state, None)
    }

    /// [`Self::convergence`] of a loop with the second stage `stage`: the test applies to the
    /// last window as always, and training stopped on a plateau only without a stage.
    pub fn convergence_with(&self, state: &TrainState, stage: Option<&TrainStage>) -> Convergence {
        let second_stage_from = stage.map(|s| self.stage_begins(&state.monitor, s)).filter(|&b| state.iteration > b);
        let converged = self.plateau(&state.monitor);
        let slopes = self.slopes(&state.monitor);
        Convergence {
            converged,
            iteration: converged.then(|| state.monitor.last().map(|p| p.iteration)).flatten(),
            stopped_on_plateau: converged && self.stop_on_plateau && stage.is_none(),
            iterations_run: state.iteration,
            second_stage_from,
            energy_slope: slopes.map(|s| s.0),
            log_variance_slope: slopes.and_then(|s| s.1),
            window: self.window,
            every: self.every,
            monitor: state.monitor.clone(),
        }
    }

    /// The point after iteration `state.iteration` (a multiple of `every`).
    fn point(&self, engine: &dyn PathEngine, state: &TrainState) -> MonitorPoint {
        let rows = &state.rows[state.rows.len().saturating_sub(self.every)..];
        let energies: Vec<f64> = rows.iter().map(|r| r.energy).collect();
        let e = crate::stats::mean_and_error(&energies);
        let [w, p, d] = state.walkers.dims();
        let count = self.walkers.min(w);
        let x: Vec<f64> = state.walkers.clone().slice([0..count, 0..p, 0..d]).into_data().try_into_vec_as::<f64>().expect("float walkers");
        let variance = engine.local_energies(&state.net, &x).map(|e_l| {
            let finite: Vec<f64> = e_l.into_iter().filter(|e| e.is_finite()).collect();
            let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
            finite.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / finite.len().max(1) as f64
        });
        MonitorPoint { iteration: state.iteration, energy: e.value, energy_error: e.error, local_energy_variance: variance }
    }
}

/// Scales `grads` of `net` to a global norm of at most `max_norm`; returns the norm before.
pub fn clip_gradient(net: &DriftNet, grads: GradientsParams, max_norm: f64) -> (GradientsParams, f64) {
    struct Norm {
        grads: GradientsParams,
        scale: Option<f64>,
        sum_sq: f64,
    }
    impl ModuleVisitor for Norm {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            match self.scale {
                None => {
                    if let Some(g) = self.grads.get::<D>(param.id) {
                        self.sum_sq += (g.clone() * g).sum().into_scalar::<f64>();
                    }
                }
                Some(s) => {
                    if let Some(g) = self.grads.remove::<D>(param.id) {
                        self.grads.register(param.id, g.mul_scalar(s));
                    }
                }
            }
        }
    }
    let mut v = Norm { grads, scale: None, sum_sq: 0.0 };
    net.visit(&mut v);
    let norm = v.sum_sq.sqrt();
    if norm > max_norm {
        v.scale = Some(max_norm / norm);
        net.visit(&mut v);
    }
    (v.grads, norm)
}

/// What a training run leaves behind.
pub struct Trained {
    pub net: DriftNet,
    pub walkers: Tensor<3>,
    pub rows: Vec<TrainingRow>,
    pub recoveries: usize,
}

/// Smallest learning-rate factor that recoveries may reach before training gives up.
const MIN_LR_SCALE: f64 = 1e-6;

/// Most consecutive non-finite steps tolerated before giving up.
const MAX_RECOVERIES: usize = 20;

/// The complete state of the loop between two iterations: what a checkpoint must hold for a
/// resumed run to continue bit for bit (together with the noise stream).
#[derive(Clone)]
pub struct TrainState {
    pub net: DriftNet,
    pub optim: ModuleOptimizer,
    pub walkers: Tensor<3>,
    /// Next iteration to run.
    pub iteration: usize,
    pub lr_scale: f64,
    pub recoveries: usize,
    pub rows: Vec<TrainingRow>,
    /// The state before the last applied update (the NaN-recovery rollback target).
    pub previous: Option<(DriftNet, ModuleOptimizer, Tensor<3>)>,
    /// Training seconds already spent before this process (a resumed run).
    pub seconds_offset: f64,
    /// The convergence monitor's points so far.
    pub monitor: Vec<MonitorPoint>,
    /// Set when the loop ends on a plateau (`stop_on_plateau`), before the observer sees the
    /// last iteration: the iterations completed.
    pub plateau: Option<usize>,
    /// Set before the observer sees the loop's last iteration (its limit, the end of the second
    /// stage, or a plateau), so that it checkpoints there; not itself checkpointed.
    pub last: bool,
}

impl TrainState {
    /// The state before the first iteration.
    pub fn new(net: DriftNet, walkers: Tensor<3>) -> Self {
        TrainState {
            net,
            optim: AdamConfig::new().init(),
            walkers,
            iteration: 0,
            lr_scale: 1.0,
            recoveries: 0,
            rows: Vec::new(),
            previous: None,
            seconds_offset: 0.0,
            monitor: Vec::new(),
            plateau: None,
            last: false,
        }
    }
}

/// Trains `net` for `schedule.iterations` steps of `engine`, calling `on_row` after each.
pub fn train(
    engine: &mut dyn PathEngine,
    net: DriftNet,
    walkers: Tensor<3>,
    schedule: &Schedule,
    noise: &mut Noise,
    on_row: &mut dyn FnMut(&TrainingRow),
) -> Result<Trained> {
    let mut observe = |row: &TrainingRow, _: &TrainState, _: &Noise| {
        on_row(row);
        Control::Continue
    };
    let (state, _) = train_from(engine, TrainState::new(net, walkers), schedule, noise, &mut observe)?;
    Ok(Trained { net: state.net, walkers: state.walkers, rows: state.rows, recoveries: state.recoveries })
}

/// Runs the loop from `state` up to `schedule.iterations`. After every applied iteration
/// `observe` sees the new row, the state and the noise stream (as they would be checkpointed)
/// and may stop the loop. Returns the final state and the control that ended it.
pub fn train_from(
    engine: &mut dyn PathEngine,
    mut state: TrainState,
    schedule: &Schedule,
    noise: &mut Noise,
    observe: &mut dyn FnMut(&TrainingRow, &TrainState, &Noise) -> Control,
) -> Result<(TrainState, Control)> {
    let start = Instant::now();
    let mut consecutive = 0;
    let monitor = &schedule.monitor;
    // A resumed run that was checkpointed on its plateau stops where the uninterrupted run did
    // (without a second stage: with one, the plateau ends the first stage).
    let on_plateau = |state: &TrainState| {
        schedule.stage.is_none()
            && monitor.stop_on_plateau
            && state.monitor.last().is_some_and(|p| p.iteration == state.iteration)
            && monitor.plateau(&state.monitor)
    };
    // Where the second stage begins: recomputed from the monitor points, so a resumed run (whose
    // points come from its checkpoint) begins it where the uninterrupted run did.
    let stage_begins = |state: &TrainState| schedule.stage.as_ref().map(|s| monitor.stage_begins(&state.monitor, s));
    // The loop's last iteration: the limit, or the end of the second stage once it has begun.
    let end = |begun: Option<usize>| match (&schedule.stage, begun) {
        (Some(s), Some(b)) => schedule.iterations.min(b + s.iterations),
        _ => schedule.iterations,
    };
    // `state.previous`: the state before the last applied update. A non-finite step may come
    // from parameters that the previous update broke (finite loss, non-finite gradient), so
    // recovery rolls back one.
    loop {
        let begun = stage_begins(&state);
        if state.iteration >= end(begun) {
            break;
        }
        if on_plateau(&state) {
            state.plateau = Some(state.iteration);
            break;
        }
        // The second stage starts with a fresh Adam state: the first stage's moment estimates
        // belong to another objective. (A rollback to this iteration resets it again, as does a
        // resume from a checkpoint written here.)
        if begun == Some(state.iteration) {
            state.optim = AdamConfig::new().init();
        }
        let lr = schedule.learning_rate_from(state.iteration, begun) * state.lr_scale;
        engine.begin(usize::from(begun.is_some_and(|b| state.iteration >= b)));
        let step = engine.step(&state.net, state.walkers.clone(), noise);
        let finite_walkers = step.walkers.clone().is_finite().all().into_scalar::<bool>();
        if !(step.loss.is_finite() && step.energy.is_finite() && finite_walkers) {
            state.recoveries += 1;
            consecutive += 1;
            if consecutive > MAX_RECOVERIES {
                return Err(Error::Diverged(format!(
                    "{consecutive} consecutive non-finite steps at iteration {}",
                    state.iteration
                )));
            }
            // Nothing of this step is applied. Undo the update before it, lower the learning
            // rate and go on with fresh noise.
            if let Some((n, o, w)) = state.previous.take() {
                state.net = n;
                state.optim = o;
                state.walkers = w;
                state.rows.pop();
                state.iteration -= 1;
                if state.monitor.last().is_some_and(|p| p.iteration > state.iteration) {
                    state.monitor.pop();
                }
            }
            state.lr_scale *= 0.5;
            // Steps that alternate finite and non-finite never trip the consecutive count; with
            // the rate halved this often, training is not recovering.
            if state.lr_scale < MIN_LR_SCALE {
                return Err(Error::Diverged(format!(
                    "{} recoveries (learning rate halved to {:.1e} of its schedule) at iteration {}",
                    state.recoveries, state.lr_scale, state.iteration
                )));
            }
            continue;
        }
        consecutive = 0;
        state.previous = Some((state.net.clone(), state.optim.clone(), state.walkers.clone()));
        let grads = match schedule.clip_grad {
            Some(c) => clip_gradient(&state.net, step.grads, c).0,
            None => step.grads,
        };
        state.net = state.optim.step(lr, state.net, grads);
        state.walkers = step.walkers;
        let row = TrainingRow {
            iteration: state.iteration,
            loss: step.loss,
            energy: step.energy,
            learning_rate: lr,
            seconds: state.seconds_offset + start.elapsed().as_secs_f64(),
        };
        state.rows.push(row);
        state.iteration += 1;
        if state.iteration.is_multiple_of(monitor.every) {
            let point = monitor.point(engine, &state);
            state.monitor.push(point);
            if on_plateau(&state) {
                state.plateau = Some(state.iteration);
            }
        }
        state.last = state.plateau.is_some() || state.iteration >= end(stage_begins(&state));
        if observe(&row, &state, noise) == Control::Stop {
            return Ok((state, Control::Stop));
        }
        if state.plateau.is_some() {
            break;
        }
    }
    Ok((state, Control::Continue))
}

#[cfg(test)]
mod tests {
    //! The autodiff gradient of the Feynman–Kac loss against central finite differences, in
    //! double precision, with the same noise for every evaluation.
    use super::*;
    use crate::quantum::autodiff::{AutodiffEngine, full_drift};
    use crate::quantum::physics::System;
    use crate::base::device::Precision;
    use crate::path::integrators::{EULER_MARUYAMA, SOSRA};
    use crate::quantum::nn::{Mlp, MlpConfig, PairNet, PairNetConfig};
    use crate::quantum::physics::{GaussianInteraction, HarmonicTrap, Molecule, Nucleus};
    use burn::module::Param;
    use burn::nn::Linear;
    use burn::tensor::{Device, TensorData};

    fn f64_devices() -> (Device, Device) {
        let mut plain = Device::flex();
        Precision::F64.configure(&mut plain).unwrap();
        let mut ad = plain.clone().autodiff();
        Precision::F64.configure(&mut ad).unwrap();
        (plain, ad)
    }

    /// Copy of `layer` with weight (i, j) shifted by `delta`.
    fn perturbed(layer: &Linear, i: usize, j: usize, delta: f64) -> Linear {
        let w = layer.weight.val();
        let [r, c] = w.dims();
        let mut values = w.into_data().try_into_vec_as::<f64>().unwrap();
        values[i * c + j] += delta;
        let weight = Tensor::<2>::from_data(TensorData::new(values, [r, c]), &layer.weight.val().device());
        Linear { weight: Param::from_tensor(weight), bias: layer.bias.as_ref().map(|b| Param::from_tensor(b.val())) }
    }

    fn loss_of(engine: &mut AutodiffEngine, net: &DriftNet, walkers: &Tensor<3>) -> EngineStep {
        engine.step(net, walkers.clone(), &mut Noise::new(99))
    }

    /// Without the boundary term the loss is an ordinary function of θ (the noise is fixed), so
    /// its gradient must match a central difference of its value. With it, the extra gradient is
    /// −mean_w[sg(v(X_T))·∂X_T/∂θ]/T, checked against a central difference of X_T.
    fn check(engine: &mut AutodiffEngine, system: &System, net: DriftNet, walkers: Tensor<3>, pick: &dyn Fn(&DriftNet, f64) -> (DriftNet, burn::module::ParamId, usize)) {
        let (_, id, flat) = pick(&net, 0.0);
        let component = |step: &EngineStep| -> f64 {
            let grad: Tensor<2> = step.grads.get(id).expect("gradient for the weight");
            grad.into_data().try_into_vec_as::<f64>().unwrap()[flat]
        };
        let eps = 1e-5;
        engine.boundary = false;
        let analytic = component(&loss_of(engine, &net, &walkers));
        let plus = loss_of(engine, &pick(&net, eps).0, &walkers);
        let minus = loss_of(engine, &pick(&net, -eps).0, &walkers);
        let numeric = (plus.loss - minus.loss) / (2.0 * eps);
        assert!(analytic.abs() > 1e-6, "gradient too small to test: {analytic}");
        assert!(
            (analytic - numeric).abs() <= 1e-6 * (1.0 + numeric.abs()),
            "autodiff {analytic} vs finite difference {numeric}"
        );

        engine.boundary = true;
        let with_boundary = loss_of(engine, &net, &walkers);
        let boundary_analytic = component(&with_boundary) - analytic;
        let v_t = full_drift(&net, system)(with_boundary.walkers.clone());
        let [w, p, d] = v_t.dims();
        let dx = (plus.walkers - minus.walkers) / (2.0 * eps);
        let horizon = engine.steps as f64 * engine.dt;
        let boundary_numeric = -(v_t * dx).reshape([w, p * d]).sum_dim(1).mean().into_scalar::<f64>() / horizon;
        assert!(boundary_analytic.abs() > 1e-8, "boundary gradient too small to test: {boundary_analytic}");
        assert!(
            (boundary_analytic - boundary_numeric).abs() <= 1e-6 * (1.0 + boundary_numeric.abs()),
            "boundary gradient {boundary_analytic} vs finite difference {boundary_numeric}"
        );
    }

    #[test]
    fn pair_net_gradient_matches_finite_difference() {
        let (_, ad) = f64_devices();
        let system = System::HarmonicTrap(HarmonicTrap {
            particles: 3,
            dims: 2,
            omega: 1.0,
            interaction: Some(GaussianInteraction { g: 1.0, s: 0.7 }),
        });
        let mut noise = Noise::new(1);
        let mut pair = PairNetConfig { dims: 2, hidden: 8, skip_init: -0.8 }.init(&mut noise, &ad);
        // Give the zero-initialised output layers values so every path carries gradient.
        pair.output = crate::quantum::nn::linear(8, 2, true, crate::quantum::nn::Init::Uniform, &mut noise, &ad);
        pair.pair_weight = crate::quantum::nn::linear(8, 1, true, crate::quantum::nn::Init::Uniform, &mut noise, &ad);
        let walkers = noise.gaussian([4, 3, 2], 1.0, &ad);
        let mut engine = AutodiffEngine { system: &system, integrator: &SOSRA, dt: 0.05, steps: 6, boundary: true };
        let pick = |net: &DriftNet, delta: f64| match net {
            DriftNet::Pair(p) => {
                let two_body = perturbed(&p.two_body, 1, 3, delta);
                let id = p.two_body.weight.id;
                let net = DriftNet::Pair(PairNet { two_body, ..p.clone() });
                (net, id, 3 + 8)
            }
            _ => unreachable!(),
        };
        check(&mut engine, &system, DriftNet::Pair(pair), walkers, &pick);
    }

    #[test]
    fn mlp_gradient_through_cusps_matches_finite_difference() {
        let (_, ad) = f64_devices();
        let system = System::Molecule(Molecule {
            electrons: 2,
            nuclei: vec![
                Nucleus { charge: 1.0, position: [0.0, 0.0, 0.7] },
                Nucleus { charge: 1.0, position: [0.0, 0.0, -0.7] },
            ],
            cusps: true,
        });
        let mut noise = Noise::new(2);
        let mut mlp = MlpConfig { particles: 2, dims: 3, hidden: 8, layers: 2, skip_init: -0.2 }.init(&mut noise, &ad);
        mlp.output = crate::quantum::nn::linear(8, 6, true, crate::quantum::nn::Init::Uniform, &mut noise, &ad);
        let walkers = noise.gaussian([4, 2, 3], 1.0, &ad);
        let mut engine = AutodiffEngine { system: &system, integrator: &EULER_MARUYAMA, dt: 0.02, steps: 8, boundary: true };
        let pick = |net: &DriftNet, delta: f64| match net {
            DriftNet::Mlp(m) => {
                let mut hidden = m.hidden.clone();
                hidden[0] = perturbed(&m.hidden[0], 2, 5, delta);
                let id = m.hidden[0].weight.id;
                (DriftNet::Mlp(Mlp { hidden, ..m.clone() }), id, 2 * 8 + 5)
            }
            _ => unreachable!(),
        };
        check(&mut engine, &system, DriftNet::Mlp(mlp), walkers, &pick);
    }

    /// The fused engine on a 1-D oscillator, with the loss of chosen calls made NaN.
    struct Poisoned<'a> {
        inner: crate::quantum::fused::FusedEngine<'a>,
        calls: usize,
        bad: &'a dyn Fn(usize) -> bool,
    }

    impl PathEngine for Poisoned<'_> {
        fn step(&mut self, net: &DriftNet, walkers: Tensor<3>, noise: &mut Noise) -> EngineStep {
            let mut step = self.inner.step(net, walkers, noise);
            if (self.bad)(self.calls) {
                step.loss = f64::NAN;
            }
            self.calls += 1;
            step
        }
    }

    fn poisoned_run(bad: &dyn Fn(usize) -> bool, iterations: usize) -> Result<TrainState> {
        let system = System::Harmonic(crate::quantum::physics::Harmonic { particles: 1, dims: 1, omega: 1.0 });
        let device = Device::flex().autodiff();
        let mut noise = Noise::new(3);
        let net = DriftNet::Mlp(MlpConfig { particles: 1, dims: 1, hidden: 4, layers: 1, skip_init: -0.5 }.init(&mut noise, &device));
        let walkers = noise.gaussian([16, 1, 1], 1.0, &device);
        let mut engine = Poisoned { inner: crate::quantum::fused::FusedEngine::new(&system, &EULER_MARUYAMA, 0.05, 4, true), calls: 0, bad };
        let schedule = Schedule::new(iterations, 1e-2, 1e9);
        train_from(&mut engine, TrainState::new(net, walkers), &schedule, &mut noise, &mut |_, _, _| Control::Continue).map(|r| r.0)
    }

    #[test]
    fn a_second_stage_has_its_own_learning_rate_from_its_start() {
        let mut s = Schedule::new(100, 1e-3, 50.0);
        s.warmup = 10;
        s.stage = Some(TrainStage { start: 100, iterations: 50, lr: 4e-3, lr_decay: 20.0 });
        assert_eq!(s.learning_rate(99), 1e-3 / (1.0 + 99.0 / 50.0));
        assert_eq!(s.learning_rate(100), 4e-3);
        assert_eq!(s.learning_rate(120), 2e-3);
        assert_eq!(s.learning_rate_from(60, Some(40)), 2e-3);
    }

    #[test]
    fn warmup_ramps_the_learning_rate_linearly() {
        let mut s = Schedule::new(100, 1e-2, 1e9);
        assert_eq!(s.learning_rate(0), 1e-2);
        s.warmup = 4;
        let lr: Vec<f64> = (0..6).map(|k| s.learning_rate(k) / 1e-2).collect();
        for (got, want) in lr.iter().zip([0.25, 0.5, 0.75, 1.0, 1.0, 1.0]) {
            assert!((got - want).abs() < 1e-8, "{lr:?}");
        }
    }

    /// Clipping scales every parameter's gradient by one factor, to the global norm asked for.
    #[test]
    fn gradient_clipping_bounds_the_global_norm() {
        let system = System::Harmonic(crate::quantum::physics::Harmonic { particles: 1, dims: 2, omega: 1.0 });
        // f64 like the other tests of this process (the plain device's precision is set once).
        let (_, device) = f64_devices();
        let mut noise = Noise::new(4);
        let mut mlp = MlpConfig { particles: 1, dims: 2, hidden: 4, layers: 1, skip_init: -0.3 }.init(&mut noise, &device);
        mlp.output = crate::quantum::nn::linear(4, 2, true, crate::quantum::nn::Init::Uniform, &mut noise, &device);
        let net = DriftNet::Mlp(mlp);
        let walkers = noise.gaussian([8, 1, 2], 1.0, &device);
        let mut engine = crate::quantum::fused::FusedEngine::new(&system, &EULER_MARUYAMA, 0.05, 4, true);
        let mut grads = || engine.step(&net, walkers.clone(), &mut Noise::new(5)).grads;
        let (unclipped, norm) = clip_gradient(&net, grads(), f64::INFINITY);
        assert!(norm > 0.0);
        let (clipped, before) = clip_gradient(&net, grads(), 0.5 * norm);
        assert_eq!(before, norm);
        let (_, after) = clip_gradient(&net, clipped, f64::INFINITY);
        assert!((after - 0.5 * norm).abs() < 1e-6 * norm, "{after} vs {}", 0.5 * norm);
        let (_, same) = clip_gradient(&net, unclipped, 2.0 * norm);
        assert_eq!(same, norm);
    }

    /// A non-finite step is never applied or recorded: the update before it is undone, the
    /// learning rate halved, and the run completes its iterations with finite rows.
    #[test]
    fn non_finite_steps_are_rolled_back() {
        let state = poisoned_run(&|call| call == 3 || call == 7, 10).expect("recovers");
        assert_eq!(state.recoveries, 2);
        assert_eq!(state.rows.len(), 10);
        assert!(state.rows.iter().all(|r| r.loss.is_finite() && r.energy.is_finite()));
        assert_eq!(state.lr_scale, 0.25);
        assert!((state.rows.last().unwrap().learning_rate - 0.25e-2).abs() < 1e-10);
    }

    /// Steps that alternate finite and non-finite never make many in a row; the loop stops with
    /// an error once the learning rate has been halved below its floor, instead of cycling on.
    #[test]
    fn alternating_non_finite_steps_end_in_an_error() {
        match poisoned_run(&|call| call >= 2 && call % 2 == 0, 1000) {
            Err(Error::Diverged(message)) => assert!(message.contains("recoveries"), "{message}"),
            other => panic!("expected a divergence error, got {:?}", other.map(|s| s.iteration)),
        }
    }
}
