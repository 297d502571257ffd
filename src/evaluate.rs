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

use crate::estimate::{Blocking, Estimate, Extrapolation, blocking, control_variate, richardson};
use crate::integrators::Integrator;
use crate::noise::Noise;
use crate::objective::PathFunctional;
use crate::sde::simulate;
use burn::tensor::Tensor;

/// Steps simulated per chunk (bounds memory for long evaluations).
const CHUNK: usize = 64;

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

/// The pieces of the path functional along `steps` steps of fresh paths.
pub struct Measured {
    /// Per walker Σ_n (V + ½|v|²)(X_n).
    pub running: Vec<f64>,
    /// Per walker Σ_n v(X_n)·ΔW_n.
    pub martingale: Vec<f64>,
    /// Per step the walker average of V + ½|v|².
    pub series: Vec<f64>,
    /// The final walkers.
    pub walkers: Option<Tensor<3>>,
}

/// Simulates paths without gradients: the burn graph ([`BurnSimulator`], any backend) or the
/// fused CPU engine ([`crate::fused::FusedSimulator`]). Noise is drawn in the same order by both.
pub trait PathSimulator {
    /// X after `steps` steps of size `dt` from `walkers`.
    fn advance(&mut self, walkers: Tensor<3>, steps: usize, dt: f64, noise: &mut Noise) -> Tensor<3>;
    /// The path functional's pieces along `steps` steps from `walkers`.
    fn measure(&mut self, walkers: Tensor<3>, steps: usize, dt: f64, noise: &mut Noise) -> Measured;
}

/// [`PathSimulator`] on burn tensors: any drift closure, any backend.
pub struct BurnSimulator<'a> {
    pub drift: &'a dyn Fn(Tensor<3>) -> Tensor<3>,
    pub potential: &'a dyn Fn(Tensor<3>) -> Tensor<1>,
    pub integrator: &'a dyn Integrator,
}

impl PathSimulator for BurnSimulator<'_> {
    fn advance(&mut self, mut walkers: Tensor<3>, steps: usize, dt: f64, noise: &mut Noise) -> Tensor<3> {
        let mut remaining = steps;
        while remaining > 0 {
            let n = remaining.min(CHUNK);
            walkers = simulate(self.drift, self.integrator, walkers, n, dt, noise).last_state();
            remaining -= n;
        }
        walkers
    }

    fn measure(&mut self, mut walkers: Tensor<3>, steps: usize, dt: f64, noise: &mut Noise) -> Measured {
        let w = walkers.dims()[0];
        let mut running_sum = vec![0.0; w];
        let mut martingale_sum = vec![0.0; w];
        let mut series = Vec::with_capacity(steps);
        let mut remaining = steps;
        while remaining > 0 {
            let n = remaining.min(CHUNK);
            let path = simulate(self.drift, self.integrator, walkers, n, dt, noise);
            let f = PathFunctional::new(&path, self.potential);
            let running: Vec<f64> = f.running.into_data().try_into_vec_as::<f64>().expect("float data");
            let martingale: Vec<f64> = f.martingale.into_data().try_into_vec_as::<f64>().expect("float data");
            for step in 0..n {
                let row = &running[step * w..(step + 1) * w];
                series.push(row.iter().sum::<f64>() / w as f64);
                for k in 0..w {
                    running_sum[k] += row[k];
                    martingale_sum[k] += martingale[step * w + k];
                }
            }
            walkers = path.last_state();
            remaining -= n;
        }
        Measured { running: running_sum, martingale: martingale_sum, series, walkers: Some(walkers) }
    }
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
    let w = walkers.dims()[0];
    let walkers = simulator.advance(walkers, burn_in, dt, noise);
    let measured = simulator.measure(walkers, steps, dt, noise);
    let t = steps as f64 * dt;
    let a: Vec<f64> = measured.running.iter().map(|s| s / steps as f64).collect();
    let b: Vec<f64> = measured.martingale.iter().map(|s| s / t).collect();
    let (energy, c) = control_variate(&a, &b);
    let ell: Vec<f64> = a.iter().zip(&b).map(|(a, b)| a + b).collect();
    let result = EnergyAtStep {
        dt,
        steps,
        walkers: w,
        energy,
        path_functional: crate::estimate::mean_and_error(&ell),
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
    let (at_dt, walkers) = energy_at_step(simulator, walkers, settings.dt, settings.burn_in, settings.steps, noise);
    if !settings.extrapolate {
        return Evaluation { at_dt, at_half_dt: None, extrapolated: None, walkers: Some(walkers) };
    }
    let (at_half, walkers) = energy_at_step(
        simulator,
        walkers,
        settings.dt / 2.0,
        2 * settings.burn_in,
        2 * settings.steps,
        noise,
    );
    let extrapolated = richardson(at_dt.energy, at_half.energy, weak_order);
    Evaluation { at_dt, at_half_dt: Some(at_half), extrapolated: Some(extrapolated), walkers: Some(walkers) }
}
