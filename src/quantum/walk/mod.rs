//! Energies from walkers moved by a guiding drift v: the local-energy estimator, the
//! reweighted path estimator and diffusion Monte Carlo (DMC), all on one walker loop.
//!
//! Each generation moves every walker one step of dX = v(X)dt + dW (the problem's integrator)
//! and evaluates the local energy E_L = V − ½∇·v − ½|v|² at the new point.
//!
//! - **Without branching** the walkers sample the stationary law of the drift process
//!   (|ψ|² for v = ∇log ψ), and `local_energy` is the mean of E_L over walkers and generations.
//!   Along the same paths each walker accumulates the Itô path functional
//!   ℓ_T = Σ_n [(V + ½|v|²)(X_n)Δt + v(X_n)·ΔW_n], and for each requested T
//!   `reweighted` = −(1/T) log mean_w exp(−ℓ_T) (Girsanov: E_v[e^{−ℓ_T}] = E_0[e^{−∫V}], so this
//!   tends to E₀ as T grows, for any drift; REFERENCE.md "Feynman–Kac variational principle").
//!   Its error is the delta-method error of the log of a mean, σ(e^{−ℓ})/(√W mean(e^{−ℓ}) T).
//! - **With branching** (DMC; Reynolds et al., J. Chem. Phys. 77, 5593 (1982); Umrigar, Nightingale
//!   & Runge, J. Chem. Phys. 99, 2865 (1993)), walker i gets the weight
//!   w_i = exp(−Δt [½(E_L(X_n) + E_L(X_{n+1})) − E_R]) and is replaced by ⌊w_i + u_i⌋ copies
//!   (u_i uniform, at most [`MAX_COPIES`]). The reference energy keeps the population near its
//!   target W₀: E_R = Ē − ln(W/W₀)/τ with Ē the running estimate and τ = `feedback_time`.
//!   The local energy in the weight is cut off at E_R ± 2/√Δt (UNR, Sec. III): a guide that
//!   violates a cusp has E_L → ±∞ at the coalescence, and one walker there would otherwise
//!   flood the population; the cut bites only where |E_L − E_R| > 2/√Δt, so its bias vanishes
//!   as Δt → 0 (counted in [`Walk::clipped`]).
//!   The cut-off is UNR's, not the size-consistent α√(N/Δt) (α = 0.2) of Zen, Sorella, Gillan,
//!   Michaelides & Alfè, Phys. Rev. B 93, 241118 (2016): for the few particles here α√N < 2
//!   (N < 100), so Zen's cut is the tighter one and would bite more often at a given Δt. Its
//!   bite is measured instead: [`Walk::clipped_fraction`] and [`Walk::clipped_shift`], the mean
//!   of clamp(ε) − ε over generation-walkers (ε = E_w − E_R), which is the first-order shift of
//!   the growth energy by the cut (the cut adds clamp(ε) − ε to the weight's "potential"); the
//!   mixed estimator's bias is of the same order, not necessarily of the same sign (cutting
//!   high E_L keeps too many walkers where E_L is high, which raises it).
//!   The mixed estimator of generation n is E_n = Σ_i w_i E_L(X_{n+1,i}) / Σ_i w_i; for a guide
//!   v = ∇log ψ_T without nodes it tends to E₀ as Δt → 0 (time-step error, removed by
//!   extrapolation) and W₀ → ∞ (population-control bias, O(1/W₀)).
//! - **Population-control correction** (UNR 1993, Sec. III.D "population control"). Split each
//!   weight as w_i = exp(−τ(E_w,i − Ē₀)) · exp(τ(E_R(n) − Ē₀)), Ē₀ any constant: the second
//!   factor is common to all walkers and is the population control. Without it (a constant
//!   reference, no bias but an unbounded population) the total weight of generation n would be
//!   the controlled one times Π_{k≤n} exp(−τ_k(E_R(k) − Ē₀)). Because E_R(k) is correlated with
//!   the walkers' recent energies, dropping that product biases the average by O(1/W₀); keeping
//!   its last T_p factors restores the uncontrolled weights up to the decorrelated remainder:
//!
//!   ```text
//!   Π_n = Π_{k=n−T_p+1}^{n} exp(−τ_k (E_R(k) − Ē₀)),   E = Σ_n Π_n W_n E_n / Σ_n Π_n W_n,
//!   ```
//!
//!   with W_n = Σ_i w_i the total weight of generation n (UNR Eqs. (29)–(30); a constant Ē₀
//!   cancels in the ratio). T_p Δt = [`CORRECTION_SPAN`] τ_fb. This corrected estimate is
//!   [`Walk::energy`]; the plain blocking mean of E_n is kept as [`Walk::energy_uncorrected`].
//!   Its error bar is the blocking error of the linearised ratio Π_n W_n (E_n − E)/⟨Π W⟩.
//!   (Test: `population_control_correction_removes_the_small_population_bias`, W₀ = 4.)
//!
//! - **Non-gradient part.** Write v = ∇S + c with S = ½ log ρ, ρ the stationary law of the
//!   drift process, so that ∇·(ρc) = 0. Then ⟨c·∇S⟩_ρ = −⟨S ∇·(ρc)⟩ = 0,
//!   ⟨∇·v⟩_ρ = −⟨v·∇log ρ⟩_ρ = −2⟨|∇S|²⟩_ρ and ⟨|v|²⟩_ρ = ⟨|∇S|²⟩_ρ + ⟨|c|²⟩_ρ, so
//!   ⟨(V + ½|v|²) − E_L⟩_ρ = ⟨|v|² + ½∇·v⟩_ρ = ⟨|c|²⟩_ρ, zero exactly when v is a gradient.
//!   The unbranched walk averages it on its own walkers ([`Walk::non_gradient`]); it sizes the
//!   bias of DMC with a non-gradient guide (docs/energies.md). With v = ∇S_e + u, S_e a known
//!   reference potential ([`Guide::exact_part`]), the generator identity
//!   ⟨½ΔS_e + v·∇S_e⟩_ρ = 0 turns the integrand into v·u + ½∇·u, free of the 1/r terms of V
//!   and ΔS_e that make (V + ½|v|²) − E_L noisy, and small where S_e is close to log ψ
//!   ([`Guide::walk_terms`]).
//! - **Stratonovich form.** By Itô's formula with d⟨X^k, X^l⟩ = δ_kl dt,
//!   ∫v∘dX = ∫v·dX + ½∫∇·v dt = ∫v·dW + ∫(|v|² + ½∇·v)dt, so the same path functional is
//!   ℓ_T = ∫v∘dX + ∫E_L dt. The unbranched walk reports E[ℓ_T]/T in this form,
//!   [`Walk::stratonovich`]: the blocking mean of the per-generation walker averages of
//!   ½(v(X_n) + v(X_{n+1}))·(X_{n+1} − X_n)/Δt + ½(E_L(X_n) + E_L(X_{n+1})) (trapezoid rule, the
//!   midpoint sum of a Stratonovich integral). It estimates the same E[ℓ_T]/T as the Itô form
//!   of `variational`, to O(Δt). For v = ∇S the first term telescopes to (S(X_T) − S(X_0))/T,
//!   whose mean is 0 for stationary walkers (its per-step noise cancels over blocks), and the
//!   form equals the local energy; its excess over the local energy is ⟨|c|²⟩_ρ, the
//!   circulation of the drift.
//!
//! The error bar of every time-correlated series is a blocking error ([`crate::stats::blocking`]).
//! With `target_error`, generations continue (in chunks) until the blocking error reaches it or
//! the step / time limit is hit.

mod metropolis;
mod population;
mod run;
mod unbranched;

pub use metropolis::{Moved, metropolis_acceptance, metropolis_move, metropolis_sample};
pub use population::{CORRECTION_SPAN, correction_generations};

use crate::base::noise::Noise;
use crate::parallel::{Comm, Single};
use crate::quantum::engine::Guide;
use crate::stats::{Blocking, Estimate};
use run::Walker;

/// Most copies one walker may make in one generation (a guard against a rare huge weight; how
/// often it bites is reported in [`Walk::capped`]).
pub const MAX_COPIES: usize = 4;

/// Settings of one walk at one time step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WalkSettings {
    pub dt: f64,
    /// Generations before measuring (not recorded).
    pub burn_in: usize,
    /// Measured generations (the minimum when `target_error` is set).
    pub steps: usize,
    /// DMC (branching) or the plain drift process.
    pub branching: bool,
    /// DMC moves: Euler–Maruyama proposals with a Metropolis accept/reject step (see the module
    /// docs) instead of plain integrator steps.
    pub metropolis: bool,
    /// τ of the population control (atomic time units).
    pub feedback_time: f64,
    /// Continue until the blocking error of the energy is at most this.
    pub target_error: Option<f64>,
    /// Continue until the blocking error is at most this fraction of |energy| (with
    /// `target_error` too: until either is reached).
    pub target_relative_error: Option<f64>,
    /// Upper limit on measured generations with `target_error`.
    pub max_steps: usize,
    /// Upper limit on wall seconds with `target_error`.
    pub max_seconds: Option<f64>,
    /// Path lengths T for the reweighted estimator (without branching only).
    pub reweight_times: Vec<f64>,
}

impl WalkSettings {
    /// A DMC walk (branching) of exactly `steps` measured generations after `burn_in`: no
    /// target error, no time limit, no reweighting (benchmarks, tests and examples).
    pub fn dmc(dt: f64, burn_in: usize, steps: usize, metropolis: bool, feedback_time: f64) -> Self {
        WalkSettings {
            dt,
            burn_in,
            steps,
            branching: true,
            metropolis,
            feedback_time,
            target_error: None,
            target_relative_error: None,
            max_steps: steps,
            max_seconds: None,
            reweight_times: Vec::new(),
        }
    }
}

/// The reweighted estimate at one path length.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Reweighted {
    pub time: f64,
    /// −(1/T) log mean exp(−ℓ_T): E₀ + O(1/T) (the log-overlap of the start with ψ₀).
    pub energy: Estimate,
    /// −log(Z_T / Z_T′)/(T − T′) with Z_T = mean exp(−ℓ_T) and T′ the previous time: the
    /// overlap term cancels, leaving E₀ + O(e^{−(E₁−E₀)T′}).
    pub increment: Option<Estimate>,
}

/// Result of one walk.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Walk {
    pub dt: f64,
    pub branching: bool,
    /// Whether Metropolis moves ran (asked for, and branching).
    pub metropolis: bool,
    /// Mean acceptance probability of the Metropolis moves (1 without them).
    pub acceptance: f64,
    /// Effective time step of the weights, dt · ⟨p|ΔX|²⟩/⟨|ΔX|²⟩ (dt without Metropolis).
    pub effective_dt: f64,
    /// The energy of the walk. Without branching the blocking mean of the per-generation
    /// energies; with branching the population-control-corrected estimate (see the module docs).
    pub energy: Estimate,
    /// Blocking estimate of the mean of the per-generation energies, without the
    /// population-control correction (kept for comparison; equal to `energy` without branching).
    pub energy_uncorrected: Estimate,
    /// Generations T_p of the population-control correction factors (0 without branching).
    pub correction_generations: usize,
    pub blocking: Blocking,
    /// Measured generations.
    pub generations: usize,
    /// Walker moves made (burn-in included).
    pub walker_steps: usize,
    pub seconds: f64,
    /// Why measuring stopped: "steps", "target_error", "max_steps" or "max_seconds".
    pub stopped_by: String,
    /// Variance of E_L over walkers, averaged over measured generations.
    pub local_energy_variance: f64,
    pub population_min: usize,
    pub population_max: usize,
    pub population_mean: f64,
    /// The population the walk was started with and controls towards (W₀).
    pub target_population: usize,
    /// Walker moves made in measured generations (the denominator of the fractions below).
    pub measured_walker_steps: usize,
    /// Walkers removed in measured generations because E_L was not finite.
    pub killed: usize,
    /// Measured generation-walkers whose copies were capped at [`MAX_COPIES`].
    pub capped: usize,
    /// Measured generation-walkers whose weight's local energy was cut off at E_R ± 2/√dt.
    pub clipped: usize,
    /// Walkers sent to another rank to balance the populations (0 on one rank).
    pub exchanged: usize,
    /// `killed`, `capped` and `clipped` over `measured_walker_steps`.
    pub killed_fraction: f64,
    pub capped_fraction: f64,
    pub clipped_fraction: f64,
    /// Mean over measured generation-walkers of clamp(ε) − ε, ε = E_w − E_R the excess of the
    /// weight's local energy: the first-order shift of the growth energy by the cut-off (Ha).
    pub clipped_shift: f64,
    pub reweighted: Vec<Reweighted>,
    /// Without branching: ⟨|c|²⟩_ρ of the drift's non-gradient part (see the module docs), the
    /// blocking mean of the per-generation walker averages of (V + ½|v|²) − E_L, or of the
    /// guide's lower-variance integrand where it gives one.
    pub non_gradient: Option<Estimate>,
    /// Without branching: E[ℓ_T]/T in the Stratonovich form ∫v∘dX + ∫E_L dt (see the module
    /// docs), the blocking mean of its per-generation walker averages.
    pub stratonovich: Option<Estimate>,
    /// Per measured generation: energy and population.
    #[serde(skip)]
    pub series: Vec<f64>,
    #[serde(skip)]
    pub population: Vec<usize>,
    /// Final walkers.
    #[serde(skip)]
    pub walkers: Vec<f64>,
}

impl Walk {
    /// Whether the walk stopped because its population exploded or died out.
    pub fn population_failed(&self) -> bool {
        self.stopped_by.starts_with("population")
    }
}

/// A walk stops ("population exploded") when the population exceeds this many times its target.
pub const POPULATION_LIMIT: usize = 20;

/// Whether the blocking error `b` meets `target_error` (Ha) or `target_relative_error` (a fraction
/// of |b.mean|), whichever is set; either suffices when both are.
pub(super) fn target_reached(b: &Blocking, settings: &WalkSettings) -> bool {
    let absolute = settings.target_error.is_some_and(|t| b.error <= t);
    let relative = settings.target_relative_error.is_some_and(|r| b.error <= r * b.mean.abs());
    absolute || relative
}

/// Generations between checks of `target_error`.
pub(super) const CHECK_EVERY: usize = 256;

/// Runs burn-in and measurement from `walkers` (walkers × dim).
pub fn walk(guide: &dyn Guide, walkers: Vec<f64>, settings: &WalkSettings, noise: &mut Noise) -> Walk {
    walk_on(guide, walkers, settings, noise, &Single)
}

/// [`walk`] of one population spread over the ranks of `comm` ([`crate::parallel`]): `walkers`
/// and `noise` are this rank's. The population, the weights' sums, the mixed estimator, the
/// variance of E_L, the Metropolis sums and every count are global (summed in rank order), so
/// E_R, the stopping decisions and the whole returned [`Walk`] are the same on every rank, except
/// `walkers` (this rank's final share). With branching, walkers are rebalanced over the ranks
/// every generation ([`crate::parallel::balance`]). Collectives per generation: two gathers of a
/// few numbers and one exchange of walkers (plus one gather with Metropolis moves).
pub fn walk_on(guide: &dyn Guide, walkers: Vec<f64>, settings: &WalkSettings, noise: &mut Noise, comm: &dyn Comm) -> Walk {
    let mut walker = Walker::start(guide, walkers, settings, comm);
    loop {
        let measuring = walker.generation >= settings.burn_in;
        if let Some(reason) = walker.stop_reason() {
            walker.out.stopped_by = reason.into();
            break;
        }
        let moved = walker.advance(measuring, noise);
        let weights = walker.weights(&moved, measuring);
        let generation = walker.measure(&moved, &weights, measuring);
        if !walker.branch(moved, &weights, generation, measuring, noise) {
            break;
        }
        walker.generation += 1;
    }
    walker.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantum::engine::Advance;

    /// Ornstein–Uhlenbeck guide v = −a x for H = Σ_k (−½∂_k² + ½x_k²) (E₀ = d/2), Euler–Maruyama:
    /// E_L = ½|x|²(1 − a²) + ½ a d; exact for a = 1.
    struct Oscillator {
        a: f64,
        dims: usize,
    }

    impl Guide for Oscillator {
        fn dim(&self) -> usize {
            self.dims
        }
        fn advance(&self, x: &[f64], dt: f64, noise: &mut Noise) -> Advance {
            let xi = noise.standard_normals(x.len());
            let dw: Vec<f64> = xi.iter().map(|z| z * dt.sqrt()).collect();
            let next = x.iter().zip(&dw).map(|(x, w)| x - self.a * x * dt + w).collect();
            let rows = |f: &dyn Fn(usize) -> f64| (0..x.len() / self.dims).map(|w| (0..self.dims).map(|k| f(w * self.dims + k)).sum()).collect();
            let running = rows(&|i| 0.5 * x[i] * x[i] * (1.0 + self.a * self.a));
            let martingale = rows(&|i| -self.a * x[i] * dw[i]);
            Advance { next, running, martingale }
        }
        fn drift_and_local_energy(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
            (x.iter().map(|c| -self.a * c).collect(), self.local_energy(x))
        }
        fn local_energy(&self, x: &[f64]) -> Vec<f64> {
            x.chunks(self.dims).map(|r| 0.5 * (1.0 - self.a * self.a) * r.iter().map(|c| c * c).sum::<f64>() + 0.5 * self.a * self.dims as f64).collect()
        }
    }

    fn settings(dt: f64, steps: usize, branching: bool) -> WalkSettings {
        WalkSettings {
            dt,
            burn_in: (3.0 / dt) as usize,
            steps,
            branching,
            metropolis: false,
            feedback_time: 1.0,
            target_error: None,
            target_relative_error: None,
            max_steps: steps,
            max_seconds: None,
            reweight_times: Vec::new(),
        }
    }

    fn start(walkers: usize, dims: usize, noise: &mut Noise) -> Vec<f64> {
        noise.standard_normals(walkers * dims)
    }

    #[test]
    fn exact_guide_has_zero_variance() {
        let mut noise = Noise::new(1);
        let guide = Oscillator { a: 1.0, dims: 3 };
        for branching in [false, true] {
            let w = walk(&guide, start(200, 3, &mut noise), &settings(0.05, 100, branching), &mut noise);
            assert!((w.energy.value - 1.5).abs() < 1e-12 && w.energy.error < 1e-12, "{:?}", w.energy);
            assert!(w.local_energy_variance < 1e-20);
        }
    }

    /// A wrong drift (a = 0.7): the local-energy average is the variational a/4 + 1/(4a) per
    /// dimension; DMC removes the bias (dt → 0 by Richardson extrapolation, weak order 1).
    #[test]
    fn dmc_corrects_a_wrong_guide() {
        let mut noise = Noise::new(2);
        let guide = Oscillator { a: 0.7, dims: 1 };
        let plain = walk(&guide, start(1000, 1, &mut noise), &settings(0.01, 4000, false), &mut noise);
        let variational = 0.7 / 4.0 + 1.0 / 2.8;
        assert!((plain.energy.value - variational).abs() < 4.0 * plain.energy.error + 0.005, "{:?} vs {variational}", plain.energy);
        let coarse = walk(&guide, start(2000, 1, &mut noise), &settings(0.02, 4000, true), &mut noise);
        let fine = walk(&guide, start(2000, 1, &mut noise), &settings(0.01, 8000, true), &mut noise);
        let zero = crate::stats::richardson(coarse.energy, fine.energy, 1).value;
        assert!((zero.value - 0.5).abs() < 4.0 * zero.error, "DMC dt → 0: {zero:?}");
        assert!(variational - zero.value > 10.0 * zero.error, "DMC must differ from the variational value");
    }

    /// With the Metropolis step the sampled density is ψ_T² at any dt (exact here: the trapezoid
    /// line integral of a linear drift is exact), so DMC at a single, large dt is already close.
    #[test]
    fn metropolis_dmc_has_a_small_time_step_error() {
        let mut noise = Noise::new(6);
        let guide = Oscillator { a: 0.7, dims: 1 };
        let mut s = settings(0.05, 8000, true);
        s.metropolis = true;
        let w = walk(&guide, start(2000, 1, &mut noise), &s, &mut noise);
        assert!(w.acceptance > 0.9 && w.acceptance < 1.0, "acceptance {}", w.acceptance);
        assert!((w.energy.value - 0.5).abs() < 4.0 * w.energy.error, "Metropolis DMC at dt = 0.05: {:?}", w.energy);
        let mut plain = settings(0.05, 8000, true);
        plain.metropolis = false;
        let p = walk(&guide, start(2000, 1, &mut noise), &plain, &mut noise);
        assert!((p.energy.value - w.energy.value).abs() > 4.0 * (p.energy.error.powi(2) + w.energy.error.powi(2)).sqrt(), "plain DMC at dt = 0.05 {:?} should show its time-step error", p.energy);
    }

    /// Hydrogen-like guide ψ = e^{−a r} in 3-D: v = −a r̂ (a cusp: v jumps across the nucleus),
    /// E_L = −a²/2 + (a − 1)/r, exact E₀ = −½. With `exact` the whole drift is declared the
    /// gradient of S = −a r ([`Guide::exact_part`]); without it the Metropolis ratio falls back
    /// to the trapezoid rule on v.
    struct Cusp {
        a: f64,
        exact: bool,
    }

    impl Guide for Cusp {
        fn dim(&self) -> usize {
            3
        }
        fn advance(&self, _x: &[f64], _dt: f64, _noise: &mut Noise) -> Advance {
            unreachable!("Metropolis moves only")
        }
        fn drift_and_local_energy(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
            let v = x.chunks(3).flat_map(|p| {
                let r = p.iter().map(|c| c * c).sum::<f64>().sqrt();
                p.iter().map(move |c| -self.a * c / r)
            });
            (v.collect(), self.local_energy(x))
        }
        fn local_energy(&self, x: &[f64]) -> Vec<f64> {
            x.chunks(3).map(|p| -0.5 * self.a * self.a + (self.a - 1.0) / p.iter().map(|c| c * c).sum::<f64>().sqrt()).collect()
        }
        fn exact_part(&self, x: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
            self.exact.then(|| (x.chunks(3).map(|p| -self.a * p.iter().map(|c| c * c).sum::<f64>().sqrt()).collect(), self.drift_and_local_energy(x).0))
        }
    }

    /// Across a cusp the trapezoid rule misjudges log ψ(X′) − log ψ(X) (here it accepts every
    /// move: |v| is constant); with the exact part of the drift, Metropolis DMC at a large dt
    /// (0.1) has a small fraction of the time-step error. The guide violates the cusp condition,
    /// E_L → −∞ at the nucleus: the weight cutoff keeps the population bounded.
    #[test]
    fn metropolis_uses_the_exact_part_of_the_drift() {
        let mut noise = Noise::new(7);
        let mut s = settings(0.1, 6000, true);
        s.metropolis = true;
        let mut energies = Vec::new();
        for exact in [true, false] {
            let w = walk(&Cusp { a: 0.8, exact }, start(1000, 3, &mut noise), &s, &mut noise);
            assert!(w.population_max < 2000 && w.stopped_by == "steps", "population {}..{}, stopped by {}", w.population_min, w.population_max, w.stopped_by);
            energies.push(w.energy);
        }
        let (exact, trapezoid) = (energies[0], energies[1]);
        let (bias, trapezoid_bias) = (exact.value + 0.5, trapezoid.value + 0.5);
        assert!(trapezoid_bias.abs() > 10.0 * trapezoid.error, "trapezoid only: {trapezoid:?} should be biased");
        assert!(bias.abs() + 2.0 * exact.error < 0.25 * trapezoid_bias.abs(), "with the exact part: {exact:?}, trapezoid only {trapezoid:?}");
    }

    /// Rotating drift v = −x + ω J x for H = −½Δ + ½|x|² in 2-D (E₀ = 1), Euler–Maruyama.
    struct Rotating {
        omega: f64,
    }
    impl Guide for Rotating {
        fn dim(&self) -> usize {
            2
        }
        fn advance(&self, x: &[f64], dt: f64, noise: &mut Noise) -> Advance {
            let xi = noise.standard_normals(x.len());
            let (v, _) = self.drift_and_local_energy(x);
            let next = (0..x.len()).map(|k| x[k] + v[k] * dt + xi[k] * dt.sqrt()).collect();
            let running = x.chunks(2).zip(v.chunks(2)).map(|(p, q)| 0.5 * (p[0] * p[0] + p[1] * p[1]) + 0.5 * (q[0] * q[0] + q[1] * q[1])).collect();
            Advance { next, running, martingale: vec![0.0; x.len() / 2] }
        }
        fn drift_and_local_energy(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
            let v = x.chunks(2).flat_map(|p| [-p[0] - self.omega * p[1], -p[1] + self.omega * p[0]]).collect();
            (v, self.local_energy(x))
        }
        /// V = ½|x|², ∇·v = −2, |v|² = (1 + ω²)|x|²: E_L = 1 − ½ω²|x|².
        fn local_energy(&self, x: &[f64]) -> Vec<f64> {
            x.chunks(2).map(|p| 1.0 - 0.5 * self.omega * self.omega * (p[0] * p[0] + p[1] * p[1])).collect()
        }
    }

    /// A drift with a rotation, v = −x + ω J x in 2-D (J the quarter turn), has the stationary
    /// law N(0, ½I) of v = −x (J x is tangent to its level sets), so c = ω J x and
    /// ⟨|c|²⟩_ρ = ω² ⟨|x|²⟩ = ω². The unbranched walk recovers it; for ω = 0 it is zero.
    #[test]
    fn non_gradient_part_is_measured() {
        let mut noise = Noise::new(8);
        for omega in [0.0, 0.5] {
            let w = walk(&Rotating { omega }, start(500, 2, &mut noise).iter().map(|x| x * 0.5f64.sqrt()).collect(), &settings(0.01, 4000, false), &mut noise);
            let c = w.non_gradient.expect("unbranched walk");
            let exact = omega * omega;
            assert!((c.value - exact).abs() < 4.0 * c.error + 0.01 * exact.max(0.01), "ω = {omega}: {c:?} vs {exact}");
        }
    }

    /// The Stratonovich form ∫v∘dX + ∫E_L dt of E[ℓ_T]/T. For the gradient guide v = −a x it is
    /// the variational a/4 + 1/(4a), which the local energy also gives. For the rotating guide
    /// it is ⟨V + ½|v|²⟩ = 1 + ½ω² under N(0, ½I), above the local energy 1 − ½ω² by
    /// ⟨|c|²⟩ = ω²: the circulation term carries it. (1 % allows for the Euler–Maruyama
    /// time-step error of the stationary law at dt = 0.01, 0.35 % for a = 0.7.)
    #[test]
    fn stratonovich_form_gives_the_variational_energy() {
        let mut noise = Noise::new(10);
        let a = 0.7;
        let w = walk(&Oscillator { a, dims: 1 }, start(1000, 1, &mut noise), &settings(0.01, 4000, false), &mut noise);
        let s = w.stratonovich.expect("unbranched walk");
        let exact = a / 4.0 + 1.0 / (4.0 * a);
        assert!((s.value - exact).abs() < 4.0 * s.error + 0.01 * exact && s.error < 0.01, "a = {a}: {s:?} vs {exact}");
        for omega in [0.0, 0.5] {
            let w = walk(&Rotating { omega }, start(500, 2, &mut noise).iter().map(|x| x * 0.5f64.sqrt()).collect(), &settings(0.01, 4000, false), &mut noise);
            let s = w.stratonovich.expect("unbranched walk");
            let exact = 1.0 + 0.5 * omega * omega;
            assert!((s.value - exact).abs() < 4.0 * s.error + 0.01 * exact && s.error < 0.02, "ω = {omega}: {s:?} vs {exact}");
            let local = 1.0 - 0.5 * omega * omega;
            assert!((w.energy.value - local).abs() < 4.0 * w.energy.error + 0.01, "ω = {omega}: local energy {:?} vs {local}", w.energy);
        }
        // Branching walks do not report it.
        let d = walk(&Oscillator { a, dims: 1 }, start(200, 1, &mut noise), &settings(0.01, 100, true), &mut noise);
        assert!(d.stratonovich.is_none());
    }

    /// DMC with a non-gradient guide converges to a shifted eigenvalue. For the rotating drift,
    /// f = e^{−α|x|²} solves ½Δf − ∇·(vf) − (E_L − E)f = 0 with 2α² − 2α + ½ω² = 0, so
    /// E = 2α − 1 = √(1 − ω²): below E₀ = 1 by ½ω² + O(ω⁴) = ½⟨|c|²⟩ (docs/energies.md). The
    /// extrapolated DMC energy matches √(1 − ω²), not 1.
    #[test]
    fn dmc_with_a_rotating_guide_converges_to_the_shifted_eigenvalue() {
        let mut noise = Noise::new(9);
        let omega: f64 = 0.5;
        let guide = Rotating { omega };
        let start_walkers = |noise: &mut Noise| start(2000, 2, noise).iter().map(|x| x * 0.5f64.sqrt()).collect::<Vec<f64>>();
        let coarse = walk(&guide, start_walkers(&mut noise), &settings(0.02, 4000, true), &mut noise);
        let fine = walk(&guide, start_walkers(&mut noise), &settings(0.01, 8000, true), &mut noise);
        let zero = crate::stats::richardson(coarse.energy, fine.energy, 1).value;
        let shifted = (1.0 - omega * omega).sqrt();
        assert!((zero.value - shifted).abs() < 4.0 * zero.error, "DMC dt → 0 {zero:?} vs √(1 − ω²) = {shifted}");
        assert!(1.0 - zero.value > 10.0 * zero.error, "DMC {zero:?} should sit below E₀ = 1");
    }

    /// Population control: the population stays within a band around its target and the energy
    /// does not depend on the feedback time within error bars.
    #[test]
    fn dmc_population_is_bounded_and_feedback_independent() {
        let mut noise = Noise::new(3);
        let guide = Oscillator { a: 0.6, dims: 2 };
        let mut runs = Vec::new();
        for tau in [0.2, 5.0] {
            let mut s = settings(0.01, 6000, true);
            s.feedback_time = tau;
            let w = walk(&guide, start(1000, 2, &mut noise), &s, &mut noise);
            assert!(w.population_min > 500 && w.population_max < 2000, "τ = {tau}: population {}..{}", w.population_min, w.population_max);
            assert_eq!(w.capped, 0);
            runs.push(w.energy);
        }
        let (a, b) = (runs[0], runs[1]);
        assert!((a.value - b.value).abs() < 4.0 * (a.error.powi(2) + b.error.powi(2)).sqrt(), "{a:?} vs {b:?}");
    }

    /// Population-control bias (UNR 1993, Sec. on population control): with a tiny target
    /// population the feedback E_R = Ē − ln(W/W₀)/τ_fb correlates the reference energy with the
    /// energy and biases the plain mixed estimator by O(1/W₀). The corrected estimate agrees
    /// with a large population at the same dt; the uncorrected one does not.
    #[test]
    fn population_control_correction_removes_the_small_population_bias() {
        let guide = Oscillator { a: 0.4, dims: 1 };
        let dt = 0.02;
        let mut noise = Noise::new(21);
        let large = walk(&guide, start(2000, 1, &mut noise), &settings(dt, 3000, true), &mut noise).energy;
        let mut s = settings(dt, 600_000, true);
        s.feedback_time = 0.5;
        let small = walk(&guide, start(4, 1, &mut noise), &s, &mut noise);
        assert_eq!(small.correction_generations, 250);
        let sigma = |e: Estimate| (e.error.powi(2) + large.error.powi(2)).sqrt();
        let (corrected, plain) = (small.energy, small.energy_uncorrected);
        eprintln!("W₀ = 2000: {large:?}; W₀ = 4: corrected {corrected:?}, uncorrected {plain:?}");
        assert!(plain.value - large.value > 4.0 * sigma(plain), "uncorrected {plain:?} should show the bias against {large:?}");
        assert!((corrected.value - large.value).abs() < 3.0 * sigma(corrected), "corrected {corrected:?} vs {large:?}");
        assert!((corrected.value - large.value).abs() < 0.4 * (plain.value - large.value), "the correction removes most of the bias");
    }

    /// The reweighted estimator against its closed form for the oscillator started in the
    /// guide's stationary law N(0, 1/(2a)):
    /// −(1/T) log E[e^{−ℓ_T}] = (1/2T) [log cosh T + log(1 + tanh T / (2a))] → ½.
    #[test]
    fn reweighted_matches_closed_form() {
        let mut noise = Noise::new(4);
        let a = 0.8;
        let guide = Oscillator { a, dims: 1 };
        let mut s = settings(0.005, 800, false);
        s.reweight_times = vec![1.0, 4.0];
        let w = walk(&guide, start(20000, 1, &mut noise), &s, &mut noise);
        assert_eq!(w.reweighted.len(), 2);
        for r in &w.reweighted {
            let t = r.time;
            let exact = (t.cosh().ln() + (1.0 + t.tanh() / (2.0 * a)).ln()) / (2.0 * t);
            assert!((r.energy.value - exact).abs() < 4.0 * r.energy.error + 0.003, "T = {t}: {:?} vs {exact}", r.energy);
        }
        // The increment between T = 1 and 4: T log-partition differences of the closed form.
        let log_z = |t: f64| -(t.cosh().ln() + (1.0 + t.tanh() / (2.0 * a)).ln()) / 2.0;
        let exact = -(log_z(4.0) - log_z(1.0)) / 3.0;
        let inc = w.reweighted[1].increment.expect("increment after the first time");
        assert!((inc.value - exact).abs() < 4.0 * inc.error + 0.003, "increment {inc:?} vs {exact}");
        assert!((exact - 0.5).abs() < 0.01 && (w.reweighted[1].energy.value - 0.5).abs() > 0.02, "the increment removes the overlap term");
    }

    #[test]
    fn target_error_stops_when_reached() {
        let mut noise = Noise::new(5);
        let guide = Oscillator { a: 0.8, dims: 1 };
        let mut s = settings(0.02, 256, false);
        s.target_error = Some(5e-4);
        s.max_steps = 1 << 16;
        let w = walk(&guide, start(200, 1, &mut noise), &s, &mut noise);
        assert_eq!(w.stopped_by, "target_error");
        assert!(w.energy.error <= 5e-4 && w.generations > 256, "{:?} after {} generations", w.energy, w.generations);
    }

    #[test]
    fn relative_target_error_scales_with_the_energy() {
        // E ≈ 0.5 here: a relative target of 1e-3 is an absolute one of about 5e-4.
        let mut noise = Noise::new(5);
        let guide = Oscillator { a: 0.8, dims: 1 };
        let mut s = settings(0.02, 256, false);
        s.target_relative_error = Some(1e-3);
        s.max_steps = 1 << 16;
        let w = walk(&guide, start(200, 1, &mut noise), &s, &mut noise);
        assert_eq!(w.stopped_by, "target_error");
        assert!(w.energy.error <= 1e-3 * w.energy.value.abs() && w.generations > 256, "{:?} after {} generations", w.energy, w.generations);
        assert!(w.energy.error > 0.5 * 1e-3 * w.energy.value.abs(), "stopped soon after the target: {:?}", w.energy);
    }
}
