//! Energy evaluation with a trained drift: fresh paths without gradients, after a burn-in.
//!
//! For stationary walkers the Itô path functional gives E[ℓ_T]/T = E[a] with
//! a = (1/T) Σ_n (V + ½|v|²) Δt per walker, because the martingale part b = (1/T) Σ_n v·ΔW_n
//! has mean exactly zero (v(X_n) is independent of ΔW_n). The estimate reported is the
//! batch mean over independent walkers of a − c·b, where b serves as a control variate with
//! the variance-minimising c (c = −1 would give ℓ_T/T itself). Its error bar is the standard
//! error over walkers (independent by construction); a blocking analysis of the walker-averaged
//! time series is reported beside it as a cross-check.
//!
//! With `extrapolate`, the same is done at dt/2 (twice the steps, same T) and the two are
//! combined by Richardson extrapolation with the integrator's weak order.

use crate::quantum::engine::{Guide, PathSimulator};
use crate::quantum::trust::{TimestepCheck, timestep_check};
use crate::stats::{Blocking, Estimate, Extrapolation, blocking, control_variate, richardson};
use crate::quantum::walk::{Walk, WalkSettings, walk_on};
use crate::parallel::{Comm, Single, share};
use crate::base::noise::Noise;
use burn::tensor::Tensor;

/// Evaluation at one time step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnergyAtStep {
    pub dt: f64,
    pub steps: usize,
    pub walkers: usize,
    /// Control-variate batch-means estimate (the headline at this dt).
    pub energy: Estimate,
    /// Plain batch means of ℓ_T/T over walkers.
    pub path_functional: Estimate,
    /// Blocking analysis of the per-step, walker-averaged V + ½|v|².
    pub blocking: Blocking,
    pub control_coefficient: f64,
    /// Per-walker time averages of V + ½|v|² (for outputs).
    #[serde(skip)]
    pub per_walker: Vec<f64>,
}

/// The full evaluation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Evaluation {
    pub at_dt: EnergyAtStep,
    pub at_half_dt: Option<EnergyAtStep>,
    pub extrapolated: Option<Extrapolation>,
    #[serde(skip)]
    pub walkers: Option<Tensor<3>>,
}

/// Settings of an evaluation.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    pub dt: f64,
    pub steps: usize,
    pub burn_in: usize,
    pub extrapolate: bool,
}

/// Runs burn-in and measurement at one dt from `walkers`; returns the result and final walkers.
pub fn energy_at_step(
    simulator: &mut dyn PathSimulator,
    walkers: Tensor<3>,
    dt: f64,
    burn_in: usize,
    steps: usize,
    noise: &mut Noise,
) -> (EnergyAtStep, Tensor<3>) {
    energy_at_step_on(simulator, walkers, dt, burn_in, steps, noise, &Single)
}

/// [`energy_at_step`] with the walkers spread over the ranks of `comm` (this rank's walkers and
/// noise passed): the per-walker time averages a and b of all ranks are gathered (rank order)
/// before the batch means, and the per-step walker averages are combined as Σ_r W_r ā_r / W
/// before blocking. The result is the same on every rank; the returned walkers are this rank's.
pub fn energy_at_step_on(
    simulator: &mut dyn PathSimulator,
    walkers: Tensor<3>,
    dt: f64,
    burn_in: usize,
    steps: usize,
    noise: &mut Noise,
    comm: &dyn Comm,
) -> (EnergyAtStep, Tensor<3>) {
    let local = walkers.dims()[0];
    let walkers = simulator.advance(walkers, burn_in, dt, noise);
    let mut measured = simulator.measure(walkers, steps, dt, noise);
    let t = steps as f64 * dt;
    let w = comm.sum1(local as f64) as usize;
    if comm.size() > 1 {
        let share = local as f64 / w as f64;
        let weighted: Vec<f64> = measured.series.iter().map(|m| share * m).collect();
        measured.series = comm.sum(&weighted);
        measured.running = comm.concat(&measured.running);
        measured.martingale = comm.concat(&measured.martingale);
    }
    let a: Vec<f64> = measured.running.iter().map(|s| s / steps as f64).collect();
    let b: Vec<f64> = measured.martingale.iter().map(|s| s / t).collect();
    let (energy, c) = control_variate(&a, &b);
    let ell: Vec<f64> = a.iter().zip(&b).map(|(a, b)| a + b).collect();
    let result = EnergyAtStep {
        dt,
        steps,
        walkers: w,
        energy,
        path_functional: crate::stats::mean_and_error(&ell),
        blocking: blocking(&measured.series),
        control_coefficient: c,
        per_walker: a,
    };
    (result, measured.walkers.expect("measured paths end in walkers"))
}

/// Evaluates at `dt` and, if asked, at dt/2 with Richardson extrapolation.
/// `weak_order` is the integrator's (for the extrapolation).
pub fn evaluate(
    simulator: &mut dyn PathSimulator,
    weak_order: u32,
    walkers: Tensor<3>,
    settings: &EvalSettings,
    noise: &mut Noise,
) -> Evaluation {
    evaluate_on(simulator, weak_order, walkers, settings, noise, &Single)
}

/// [`evaluate`] over the ranks of `comm` ([`energy_at_step_on`]).
pub fn evaluate_on(
    simulator: &mut dyn PathSimulator,
    weak_order: u32,
    walkers: Tensor<3>,
    settings: &EvalSettings,
    noise: &mut Noise,
    comm: &dyn Comm,
) -> Evaluation {
    let (at_dt, walkers) = energy_at_step_on(simulator, walkers, settings.dt, settings.burn_in, settings.steps, noise, comm);
    if !settings.extrapolate {
        return Evaluation { at_dt, at_half_dt: None, extrapolated: None, walkers: Some(walkers) };
    }
    let (at_half, walkers) = energy_at_step_on(
        simulator,
        walkers,
        settings.dt / 2.0,
        2 * settings.burn_in,
        2 * settings.steps,
        noise,
        comm,
    );
    let extrapolated = richardson(at_dt.energy, at_half.energy, weak_order);
    Evaluation { at_dt, at_half_dt: Some(at_half), extrapolated: Some(extrapolated), walkers: Some(walkers) }
}

/// Results of the estimators that use the drift's local energy (`[eval] estimators`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GuidedEnergies {
    /// The plain drift process: mean local energy, and the reweighted estimates along it.
    pub local_energy: Option<Walk>,
    pub dmc: Option<DmcResult>,
}

/// DMC at dt and (optionally) dt/2 with the extrapolation dt → 0.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DmcResult {
    pub at_dt: Walk,
    pub at_half_dt: Option<Walk>,
    pub extrapolated: Option<Extrapolation>,
    /// How large the extrapolation's correction is against its error bar ([`crate::quantum::trust`]).
    pub timestep: Option<TimestepCheck>,
    /// Weak order assumed in the extrapolation (1: the DMC time-step error is O(dt) without an
    /// accept/reject step).
    pub order: u32,
}

impl DmcResult {
    /// The DMC energy at dt → 0 (or at dt without extrapolation).
    pub fn energy(&self) -> Estimate {
        self.extrapolated.map(|x| x.value).unwrap_or(self.at_dt.energy)
    }

    /// [`Self::energy`] from the walks' energies without the population-control correction.
    pub fn energy_uncorrected(&self) -> Estimate {
        match &self.at_half_dt {
            Some(fine) if self.extrapolated.is_some() => richardson(self.at_dt.energy_uncorrected, fine.energy_uncorrected, self.order).value,
            _ => self.at_dt.energy_uncorrected,
        }
    }
}

/// Settings of the guided estimators.
#[derive(Debug, Clone)]
pub struct GuidedSettings {
    /// Unbranched walk (local energy and reweighting), if wanted: dt, burn-in, steps, times,
    /// with walkers.
    pub local: Option<(WalkSettings, usize)>,
    /// DMC settings at the coarse dt (dt/2 doubles burn-in and steps), with walkers.
    pub dmc: Option<(WalkSettings, usize)>,
    pub dmc_extrapolate: bool,
}

/// Weak order of DMC's time-step error assumed in its extrapolation.
pub const DMC_ORDER: u32 = 1;

/// The first `len` values of `walkers` repeated cyclically (walker-major: whole walkers are
/// repeated when `len` is a multiple of the walker size); burn-in with independent noise
/// decorrelates the copies.
pub fn cycle_walkers(walkers: &[f64], len: usize) -> Vec<f64> {
    (0..len).map(|k| walkers[k % walkers.len()]).collect()
}

/// Runs the local-energy walk and DMC from `walkers` (walkers × dim, stationary for the drift).
pub fn guided_energies(guide: &dyn Guide, walkers: &[f64], settings: &GuidedSettings, noise: &mut Noise) -> GuidedEnergies {
    guided_energies_on(guide, walkers, settings, noise, &Single)
}

/// [`guided_energies`] over the ranks of `comm`: `walkers` and `noise` are this rank's, and the
/// walker counts of `settings` are totals over all ranks (each rank starts with its [`share`]).
pub fn guided_energies_on(guide: &dyn Guide, walkers: &[f64], settings: &GuidedSettings, noise: &mut Noise, comm: &dyn Comm) -> GuidedEnergies {
    let dim = guide.dim();
    let walk = |guide: &dyn Guide, walkers: Vec<f64>, settings: &WalkSettings, noise: &mut Noise| walk_on(guide, walkers, settings, noise, comm);
    let mine = |count: usize| share(count, comm.size(), comm.rank()).1;
    let local_energy = settings.local.as_ref().map(|(s, count)| walk(guide, cycle_walkers(walkers, mine(*count) * dim), s, noise));
    let dmc = settings.dmc.as_ref().map(|(coarse, count)| {
        let mut coarse = coarse.clone();
        let mut fine = coarse.clone();
        fine.dt /= 2.0;
        fine.burn_in *= 2;
        fine.steps *= 2;
        fine.max_steps *= 2;
        if settings.dmc_extrapolate {
            // σ(dt → 0)² = (4^p σ_fine² + σ_coarse²)/(2^p − 1)²: equal shares for both runs, and the
            // time limit split in the ratio of their cost (the fine run takes twice as many steps).
            let f = 2f64.powi(DMC_ORDER as i32);
            let share = (f - 1.0) / (f * f + 1.0).sqrt();
            coarse.target_error = coarse.target_error.map(|t| t * share);
            fine.target_error = fine.target_error.map(|t| t * share);
            coarse.target_relative_error = coarse.target_relative_error.map(|t| t * share);
            fine.target_relative_error = fine.target_relative_error.map(|t| t * share);
            coarse.max_seconds = coarse.max_seconds.map(|s| s / 3.0);
            fine.max_seconds = fine.max_seconds.map(|s| 2.0 * s / 3.0);
        }
        crate::base::interrupt::set_phase(crate::base::interrupt::Phase::Dmc);
        let at_dt = walk(guide, cycle_walkers(walkers, mine(*count) * dim), &coarse, noise);
        // A population that exploded or died out leaves nothing to continue from (an error
        // for the caller, `Walk::population_failed`).
        if !settings.dmc_extrapolate || at_dt.population_failed() {
            return DmcResult { at_dt, at_half_dt: None, extrapolated: None, timestep: None, order: DMC_ORDER };
        }
        let at_half = walk(guide, cycle_walkers(&at_dt.walkers, mine(*count) * dim), &fine, noise);
        let extrapolated = richardson(at_dt.energy, at_half.energy, DMC_ORDER);
        let timestep = Some(timestep_check(&at_dt, &at_half, &extrapolated));
        DmcResult { at_dt, at_half_dt: Some(at_half), extrapolated: Some(extrapolated), timestep, order: DMC_ORDER }
    });
    if dmc.is_some() {
        crate::base::interrupt::set_phase(crate::base::interrupt::Phase::Evaluation);
    }
    GuidedEnergies { local_energy, dmc }
}
