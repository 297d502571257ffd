//! Whether a guided estimate can be trusted: the checks that turn a walk's diagnostics
//! ([`Walk`]: E_L variance, cut-off, capped and killed fractions, population, Metropolis
//! acceptance, blocking) and the time-step extrapolation into reasons for distrust.
//!
//! Each threshold is a named constant with the argument for its value. The checks:
//!
//! - **Cut-off.** A fraction f of weights cut at E_R ± 2/√Δt shifts the growth energy by about
//!   f × (excess beyond the cut) ≳ f × 2/√Δt: f = [`MAX_CLIPPED_FRACTION`] = 10⁻⁴ is 1 mHa at
//!   Δt = 0.04, the error bars the problem files ask for. Independently, the measured first-order
//!   shift ⟨clamp(ε) − ε⟩ ([`Walk::clipped_shift`]) must stay below the walk's error bar.
//! - **Variance.** σ(E_L) ≤ α √(N/Δt), α = [`VARIANCE_ALPHA`] = 0.2: the size-consistent
//!   cut-off of Zen et al., Phys. Rev. B 93, 241118 (2016), the scale beyond which a weight may be
//!   touched without a visible bias. A guide whose typical E_L lies beyond it makes the
//!   weights' log-variance per step τ²σ² large, and the time-step (∝ σ²τ) and population
//!   (∝ σ²/W₀) biases with it.
//! - **Population.** Every measured generation within [W₀/[`POPULATION_BAND`],
//!   W₀·[`POPULATION_BAND`]] and the mean within [`MAX_POPULATION_OFFSET`] of W₀: the feedback
//!   E_R = Ē − ln(W/W₀)/τ_fb holds a population with well-behaved weights much closer; excursions
//!   by a factor 2 mean a few walkers carried most of the weight.
//! - **Metropolis acceptance** at least [`MIN_ACCEPTANCE`] = 0.9: the time-step error of
//!   Metropolis DMC grows with the rejected fraction (UNR 1993 report acceptances ≳ 0.99 at
//!   usable Δt); below 0.9 the effective time step and the extrapolation are not in their
//!   linear regime.
//! - **Blocking converged** ([`crate::stats::Blocking::converged`]): otherwise the error bar is too
//!   small.
//! - **Time step.** With two time steps the line E(h) = E₀ + a h passes through both points, so
//!   agreement with it is no test. What can be judged is the size of the correction: with
//!   E(h) = E₀ + a h + b h², linear extrapolation from h and h/2 is off by −b h²/2. Allowing the
//!   curvature a share of at most 20 % of the bias at h, the extrapolation error is at most 10 %
//!   of |E(h) − E₀|; this stays below the error bar while |E(h) − E₀| ≤ [`MAX_TIMESTEP_SIGMAS`]
//!   σ(E₀) = 10 σ(E₀).
//! - **Above the variational energy.** DMC (extrapolated) more than [`MAX_ABOVE_VARIATIONAL`]
//!   = 3 combined σ above the local energy of its own guide: the projection only lowers the
//!   energy, so something else (cut-off, population, time step) is biasing it.
//! - **Finite** energies and a population that neither exploded nor died out (these are also
//!   errors, see [`Walk::population_failed`]).

use crate::quantum::walk::Walk;
use crate::stats::{Estimate, Extrapolation};

/// Largest fraction of measured generation-walkers whose weight's E_L may be cut off.
pub const MAX_CLIPPED_FRACTION: f64 = 1e-4;
/// Largest fraction of generation-walkers whose copies may be capped at `MAX_COPIES` (the cap
/// removes weight from exactly the walkers the projection wants most; any frequency beyond
/// rare means Δt is too large for the guide).
pub const MAX_CAPPED_FRACTION: f64 = 1e-4;
/// Largest fraction of generation-walkers removed for a non-finite E_L (each removal is weight
/// lost where the guide breaks down).
pub const MAX_KILLED_FRACTION: f64 = 1e-4;
/// The population must stay within [W₀/band, W₀·band] in every measured generation.
pub const POPULATION_BAND: f64 = 2.0;
/// Largest relative offset of the mean population from its target.
pub const MAX_POPULATION_OFFSET: f64 = 0.2;
/// Smallest mean Metropolis acceptance.
pub const MIN_ACCEPTANCE: f64 = 0.9;
/// α of the variance check σ(E_L) ≤ α √(N/Δt) (Zen et al. 2016).
pub const VARIANCE_ALPHA: f64 = 0.2;
/// Largest time-step correction |E(dt) − E(dt → 0)| in units of the extrapolated error bar.
pub const MAX_TIMESTEP_SIGMAS: f64 = 10.0;
/// Largest excess of DMC over the local (variational) energy of its guide, in combined σ.
pub const MAX_ABOVE_VARIATIONAL: f64 = 3.0;

/// The time-step extrapolation's diagnostics, as written to summary.json.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct TimestepCheck {
    /// E(dt) − E(dt/2) and its error.
    pub difference: Estimate,
    /// |E(dt) − E(dt → 0)| / σ(E(dt → 0)): the size of the correction the line applies.
    pub correction_sigmas: f64,
    /// Whether `correction_sigmas` is at most [`MAX_TIMESTEP_SIGMAS`].
    pub linear_regime: bool,
}

/// The extrapolation check of DMC at dt and dt/2.
pub fn timestep_check(coarse: &Walk, fine: &Walk, extrapolated: &Extrapolation) -> TimestepCheck {
    let difference = Estimate {
        value: coarse.energy.value - fine.energy.value,
        error: (coarse.energy.error.powi(2) + fine.energy.error.powi(2)).sqrt(),
    };
    let correction_sigmas = extrapolated.bias.abs() / extrapolated.value.error;
    TimestepCheck { difference, correction_sigmas, linear_regime: correction_sigmas <= MAX_TIMESTEP_SIGMAS }
}

/// Reasons to distrust one walk (`label` names it in the messages, e.g. "dmc dt = 0.04");
/// `particles` is N of the variance check. Empty when every check passes.
pub fn walk_reasons(w: &Walk, label: &str, particles: usize) -> Vec<String> {
    let mut reasons = Vec::new();
    let mut flag = |r: String| reasons.push(format!("{label}: {r}"));
    if !(w.energy.value.is_finite() && w.energy.error.is_finite()) {
        flag(format!("energy not finite ({} ± {})", w.energy.value, w.energy.error));
    }
    if w.population_failed() {
        flag(format!("{} after {} generations", w.stopped_by, w.generations));
    }
    if !w.blocking.converged {
        flag(format!("blocking analysis not converged ({} generations too few for their correlation time)", w.generations));
    }
    if !w.branching {
        return reasons;
    }
    if w.clipped_fraction > MAX_CLIPPED_FRACTION {
        flag(format!("{:.2e} of local energies cut off (> {MAX_CLIPPED_FRACTION:.0e}): the guide has E_L tails beyond 2/sqrt(dt)", w.clipped_fraction));
    }
    if w.clipped_shift.abs() > w.energy.error {
        flag(format!("the cut-off changes the weights' energy by {:+.2e} Ha per walker step, more than the error bar {:.1e}", w.clipped_shift, w.energy.error));
    }
    if w.capped_fraction > MAX_CAPPED_FRACTION {
        flag(format!("{:.2e} of branchings capped (> {MAX_CAPPED_FRACTION:.0e}): dt too large for the guide", w.capped_fraction));
    }
    if w.killed_fraction > MAX_KILLED_FRACTION {
        flag(format!("{:.2e} of walkers killed for a non-finite E_L (> {MAX_KILLED_FRACTION:.0e})", w.killed_fraction));
    }
    let target = w.target_population as f64;
    if (w.population_min as f64) < target / POPULATION_BAND || w.population_max as f64 > target * POPULATION_BAND {
        flag(format!("population {}..{} leaves [{:.0}, {:.0}] (target {})", w.population_min, w.population_max, target / POPULATION_BAND, target * POPULATION_BAND, w.target_population));
    }
    if (w.population_mean / target - 1.0).abs() > MAX_POPULATION_OFFSET {
        flag(format!("mean population {:.1} is off its target {} by more than {:.0} %", w.population_mean, w.target_population, 100.0 * MAX_POPULATION_OFFSET));
    }
    if w.metropolis && w.acceptance < MIN_ACCEPTANCE {
        flag(format!("Metropolis acceptance {:.3} < {MIN_ACCEPTANCE}", w.acceptance));
    }
    let limit = VARIANCE_ALPHA * (particles as f64 / w.dt).sqrt();
    if !(w.local_energy_variance.sqrt() <= limit) {
        flag(format!("sigma(E_L) = {:.3} Ha exceeds {VARIANCE_ALPHA} sqrt(N/dt) = {limit:.3} Ha: the guide is too poor for DMC at this dt", w.local_energy_variance.sqrt()));
    }
    reasons
}

/// Reasons to distrust the extrapolation and the DMC energy `dmc` against the local energy of
/// the same guide (when it was computed).
pub fn dmc_reasons(check: Option<&TimestepCheck>, dmc: Estimate, local: Option<&Walk>) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(c) = check.filter(|c| !c.linear_regime) {
        reasons.push(format!(
            "dmc dt -> 0: the linear extrapolation corrects E(dt) by {:.1} sigma (> {MAX_TIMESTEP_SIGMAS}): an O(dt^2) term of 10 % would exceed the error bar",
            c.correction_sigmas
        ));
    }
    if let Some(l) = local {
        let sigma = (dmc.error.powi(2) + l.energy.error.powi(2)).sqrt();
        if dmc.value - l.energy.value > MAX_ABOVE_VARIATIONAL * sigma {
            reasons.push(format!(
                "dmc {:.6} lies {:.1} sigma above the local (variational) energy {:.6} of its own guide",
                dmc.value,
                (dmc.value - l.energy.value) / sigma,
                l.energy.value
            ));
        }
    }
    if !(dmc.value.is_finite() && dmc.error.is_finite()) {
        reasons.push(format!("dmc energy not finite ({} ± {})", dmc.value, dmc.error));
    }
    reasons
}
