//! The walker loop of [`super::walk_on`], by phase: where a walk starts ([`Walker::start`]),
//! when it stops ([`Walker::stop_reason`]), one move of every walker ([`Walker::advance`]: a
//! Metropolis move, or an integrator step with the unbranched walk's tallies), the weights
//! ([`Walker::weights`]), the generation's estimator ([`Walker::measure`]), branching and the
//! population over the ranks ([`Walker::branch`]), and the result ([`Walker::finish`]). The
//! module docs of [`super`] hold the equations.

use super::metropolis::metropolis_move;
use super::population::{corrected_energy, correction_generations};
use super::unbranched::Unbranched;
use super::{CHECK_EVERY, MAX_COPIES, POPULATION_LIMIT, Walk, WalkSettings, target_reached};
use crate::base::noise::Noise;
use crate::parallel::{Comm, balance_counted};
use crate::quantum::engine::Guide;
use crate::stats::{Estimate, blocking};
use std::time::Instant;

/// One move of every walker.
pub(super) struct Move {
    next: Vec<f64>,
    e_next: Vec<f64>,
    v_next: Vec<f64>,
    /// The exact part at the new positions (Metropolis moves).
    exact_next: Option<(Vec<f64>, Vec<f64>)>,
    /// The E_L average that enters the weight.
    e_weight: Vec<f64>,
    /// The time step of the weights (the effective one with Metropolis moves).
    tau: f64,
}

/// What [`Walker::measure`] found of one generation.
pub(super) struct Generation {
    /// The mixed estimator Σ w E_L / Σ w.
    energy: f64,
    /// This rank's Σ (E_L − mean)² over finite E_L (0 in burn-in).
    squares: f64,
    /// The number of finite E_L over all ranks.
    finite: f64,
}

/// The state of one walk between generations.
pub(super) struct Walker<'a> {
    guide: &'a dyn Guide,
    settings: &'a WalkSettings,
    comm: &'a dyn Comm,
    started: Instant,
    dim: usize,
    /// W₀, the population the walk started with and controls towards.
    target: usize,
    metropolis: bool,
    /// Whether the drift of the current walkers is carried (Metropolis moves; the Stratonovich
    /// form of the unbranched walk).
    carry_drift: bool,
    /// Umrigar, Nightingale & Runge's cut-off of the weight's local energy, 2/√dt.
    cutoff: f64,
    /// The population over all ranks before this generation's move.
    global_n: usize,
    /// This rank's walkers, their drift, E_L and exact part.
    x: Vec<f64>,
    v: Vec<f64>,
    e: Vec<f64>,
    exact: Option<(Vec<f64>, Vec<f64>)>,
    /// Running sums of p|ΔX|², |ΔX|² (the effective time step) and p; proposals made.
    accepted_r2: f64,
    proposed_r2: f64,
    accept_sum: f64,
    proposals: usize,
    /// E_R, the running estimate Ē and the first estimate Ē₀.
    reference: f64,
    average: f64,
    first_estimate: f64,
    unbranched: Unbranched,
    variance_sum: f64,
    clipped_excess: f64,
    /// Per generation (burn-in included) −τ_n (E_R(n) − Ē₀), the log of the population-control
    /// factor; per measured generation the total weight Σ_i w_i.
    control_log: Vec<f64>,
    total_weights: Vec<f64>,
    pub(super) generation: usize,
    pub(super) out: Walk,
}

impl<'a> Walker<'a> {
    /// The walkers `walkers` (this rank's) with their drift and E_L, E_R at their mean E_L.
    pub(super) fn start(guide: &'a dyn Guide, walkers: Vec<f64>, settings: &'a WalkSettings, comm: &'a dyn Comm) -> Self {
        let started = Instant::now();
        let dim = guide.dim();
        let dt = settings.dt;
        let target = comm.sum1((walkers.len() / dim) as f64) as usize;
        let metropolis = settings.metropolis && settings.branching;
        // Metropolis moves carry v, E_L and the exact part of the current walkers; the unbranched
        // walk carries v for the Stratonovich form.
        let carry_drift = metropolis || !settings.branching;
        let (v, e, exact) = if metropolis {
            let first = guide.evaluate(&walkers);
            (first.v, first.e, first.exact)
        } else if carry_drift {
            let first = guide.walk_terms(&walkers);
            (first.v, first.e, None)
        } else {
            (Vec::new(), guide.local_energy(&walkers), None)
        };
        let reference = comm.sum1(e.iter().sum::<f64>()) / target as f64;
        let nan = Estimate { value: f64::NAN, error: f64::NAN };
        let out = Walk {
            dt,
            branching: settings.branching,
            metropolis,
            acceptance: 1.0,
            effective_dt: dt,
            energy: nan,
            energy_uncorrected: nan,
            correction_generations: 0,
            blocking: blocking(&[]),
            generations: 0,
            walker_steps: 0,
            seconds: 0.0,
            stopped_by: "steps".into(),
            local_energy_variance: 0.0,
            population_min: target,
            population_max: target,
            population_mean: 0.0,
            target_population: target,
            measured_walker_steps: 0,
            killed: 0,
            capped: 0,
            clipped: 0,
            exchanged: 0,
            killed_fraction: 0.0,
            capped_fraction: 0.0,
            clipped_fraction: 0.0,
            clipped_shift: 0.0,
            reweighted: Vec::new(),
            non_gradient: None,
            stratonovich: None,
            series: Vec::new(),
            population: Vec::new(),
            walkers: Vec::new(),
        };
        Walker {
            guide,
            settings,
            comm,
            started,
            dim,
            target,
            metropolis,
            carry_drift,
            cutoff: 2.0 / dt.sqrt(),
            global_n: target,
            x: walkers,
            v,
            e,
            exact,
            accepted_r2: 0.0,
            proposed_r2: 0.0,
            accept_sum: 0.0,
            proposals: 0,
            reference,
            average: reference,
            first_estimate: reference,
            unbranched: Unbranched::new(settings),
            variance_sum: 0.0,
            clipped_excess: 0.0,
            control_log: Vec::new(),
            total_weights: Vec::new(),
            generation: 0,
            out,
        }
    }

    /// Why the walk ends before this generation, if it does: enough measured generations (at
    /// least `steps`; with a target error, until the blocking error meets it, checked every
    /// [`CHECK_EVERY`] generations, or a step or time limit), or a population beyond
    /// [`POPULATION_LIMIT`] times its target. The same on every rank.
    pub(super) fn stop_reason(&self) -> Option<&'static str> {
        let s = self.settings;
        let measured = self.out.series.len();
        if measured >= s.steps {
            let targeted = s.target_error.is_some() || s.target_relative_error.is_some();
            let reason = if !targeted {
                Some("steps")
            } else if measured >= s.max_steps {
                Some("max_steps")
            } else if !(measured - s.steps).is_multiple_of(CHECK_EVERY) {
                None
            } else if target_reached(&blocking(&self.out.series), s) {
                Some("target_error")
            } else if s.max_seconds.is_some_and(|t| self.comm.max(self.started.elapsed().as_secs_f64()) >= t) {
                Some("max_seconds")
            } else {
                None
            };
            if reason.is_some() {
                return reason;
            }
        }
        (self.global_n > POPULATION_LIMIT * self.target).then_some("population exploded")
    }

    /// One move of every walker: new positions, E_L there, (the drift there), and the E_L
    /// average of the weight.
    pub(super) fn advance(&mut self, measuring: bool, noise: &mut Noise) -> Move {
        let moved = if self.metropolis { self.metropolis_step(noise) } else { self.integrator_step(measuring, noise) };
        self.out.walker_steps += self.global_n;
        if measuring {
            self.out.measured_walker_steps += self.global_n;
        }
        moved
    }

    fn metropolis_step(&mut self, noise: &mut Noise) -> Move {
        let dt = self.settings.dt;
        let m = metropolis_move(self.guide, &self.x, &self.v, &self.e, self.exact.as_ref(), dt, noise);
        let sums = self.comm.sum(&[m.accepted_r2, m.proposed_r2, m.acceptance_sum]);
        self.accepted_r2 += sums[0];
        self.proposed_r2 += sums[1];
        self.accept_sum += sums[2];
        self.proposals += self.global_n;
        let tau = if self.proposed_r2 > 0.0 { dt * self.accepted_r2 / self.proposed_r2 } else { dt };
        Move { next: m.next, e_next: m.e_next, v_next: m.v_next, exact_next: m.exact_next, e_weight: m.e_weight, tau }
    }

    /// One step of the guide's integrator; without branching, the measured generations also
    /// feed the Stratonovich form, ⟨|c|²⟩_ρ and the reweighted estimator ([`Unbranched`]).
    fn integrator_step(&mut self, measuring: bool, noise: &mut Noise) -> Move {
        let dt = self.settings.dt;
        let step = self.guide.advance(&self.x, dt, noise);
        let (e_next, v_next, integrand) = if self.settings.branching {
            (self.guide.local_energy(&step.next), Vec::new(), None)
        } else {
            let t = self.guide.walk_terms(&step.next);
            (t.e, t.v, t.non_gradient)
        };
        if measuring && !self.settings.branching {
            let measured = self.out.series.len();
            self.unbranched.tally(&self.x, &self.v, &self.e, &step, &e_next, &v_next, integrand, self.dim, dt, measured, self.comm, &mut self.out.reweighted);
        }
        let e_weight = self.e.iter().zip(&e_next).map(|(a, b)| 0.5 * (a + b)).collect();
        Move { next: step.next, e_next, v_next, exact_next: None, e_weight, tau: dt }
    }

    /// The walkers' weights (1 without branching; 0 where E_L is not finite, which removes the
    /// walker), the weight's E_L cut off at E_R ± 2/√dt; counts the cut and removed ones.
    pub(super) fn weights(&mut self, m: &Move, measuring: bool) -> Vec<f64> {
        let n = self.x.len() / self.dim;
        let branching = self.settings.branching;
        let weights: Vec<f64> = (0..n)
            .map(|i| {
                if !m.e_next[i].is_finite() || !m.e_weight[i].is_finite() {
                    0.0
                } else if branching {
                    let excess = m.e_weight[i] - self.reference;
                    let cut = excess.clamp(-self.cutoff, self.cutoff);
                    if measuring && excess.abs() > self.cutoff {
                        self.out.clipped += 1;
                        self.clipped_excess += cut - excess;
                    }
                    (-m.tau * cut).exp()
                } else {
                    1.0
                }
            })
            .collect();
        if measuring {
            self.out.killed += weights.iter().filter(|w| **w == 0.0).count();
        }
        weights
    }

    /// The generation's mixed estimator over all ranks (recorded when measuring, with the
    /// population and the total weight) and this rank's share of the E_L variance.
    pub(super) fn measure(&mut self, m: &Move, weights: &[f64], measuring: bool) -> Generation {
        let local_total: f64 = weights.iter().sum();
        let weighted = weights.iter().zip(&m.e_next).filter(|(w, _)| **w > 0.0).map(|(w, e)| w * e).sum::<f64>();
        let finite: Vec<f64> = m.e_next.iter().copied().filter(|e| e.is_finite()).collect();
        let sums = self.comm.sum(&[local_total, weighted, finite.iter().sum::<f64>(), finite.len() as f64]);
        let total = sums[0];
        if self.settings.branching {
            self.control_log.push(-m.tau * (self.reference - self.first_estimate));
        }
        let energy = sums[1] / total;
        // The mean of the finite E_L over all ranks; Σ(E_L − mean)² is summed with the
        // population in `branch`.
        let mean = sums[2] / sums[3];
        let squares = if measuring { finite.iter().map(|e| (e - mean).powi(2)).sum::<f64>() } else { 0.0 };
        if measuring {
            self.out.series.push(energy);
            self.out.population.push(self.global_n);
            self.total_weights.push(total);
        }
        Generation { energy, squares, finite: sums[3] }
    }

    /// Branching (or only removing dead walkers): ⌊w + u⌋ copies, at most [`MAX_COPIES`]; the
    /// populations rebalanced over the ranks; E_R fed back towards the target population.
    /// `false` when the population died out.
    pub(super) fn branch(&mut self, m: Move, weights: &[f64], g: Generation, measuring: bool, noise: &mut Noise) -> bool {
        let (dim, branching, comm) = (self.dim, self.settings.branching, self.comm);
        let copies: Vec<usize> = weights
            .iter()
            .map(|&w| {
                if !branching {
                    return usize::from(w > 0.0);
                }
                let c = (w + noise.uniform()).floor() as usize;
                if measuring && c > MAX_COPIES {
                    self.out.capped += 1;
                }
                c.min(MAX_COPIES)
            })
            .collect();
        let local_population: usize = copies.iter().sum();
        let gathered = comm.all_gather(&[g.squares, local_population as f64]);
        let counts: Vec<usize> = gathered.iter().map(|r| r[1] as usize).collect();
        let population: usize = counts.iter().sum();
        if measuring {
            let squares = gathered.iter().skip(1).fold(gathered[0][0], |acc, r| acc + r[0]);
            self.variance_sum += squares / g.finite;
        }
        let carry_drift = self.carry_drift;
        let mut kept = Vec::with_capacity(local_population * dim);
        let mut kept_drift = Vec::with_capacity(if carry_drift { local_population * dim } else { 0 });
        let mut next_local = Vec::with_capacity(local_population);
        let mut kept_exact = m.exact_next.as_ref().map(|_| (Vec::with_capacity(local_population), Vec::with_capacity(local_population * dim)));
        for (i, &c) in copies.iter().enumerate() {
            for _ in 0..c {
                kept.extend_from_slice(&m.next[i * dim..(i + 1) * dim]);
                if carry_drift {
                    kept_drift.extend_from_slice(&m.v_next[i * dim..(i + 1) * dim]);
                }
                if let (Some((s, g)), Some((s_next, g_next))) = (&mut kept_exact, &m.exact_next) {
                    s.push(s_next[i]);
                    g.extend_from_slice(&g_next[i * dim..(i + 1) * dim]);
                }
                next_local.push(m.e_next[i]);
            }
        }
        if population == 0 {
            self.out.stopped_by = "population died out".into();
            return false;
        }
        if branching && comm.size() > 1 {
            // The arrays carried per walker move together; their widths (0 for an array not
            // carried) are the same on every rank.
            let (s, g) = kept_exact.unwrap_or_default();
            let exact_width = if m.exact_next.is_some() { 1 } else { 0 };
            let rows = vec![(kept, dim), (kept_drift, if carry_drift { dim } else { 0 }), (next_local, 1), (s, exact_width), (g, exact_width * dim)];
            let (mut moved, sent) = balance_counted(comm, &counts, rows);
            self.out.exchanged += sent;
            let g = moved.pop().unwrap_or_default();
            let s = moved.pop().unwrap_or_default();
            kept_exact = m.exact_next.as_ref().map(|_| (s, g));
            next_local = moved.pop().unwrap_or_default();
            kept_drift = moved.pop().unwrap_or_default();
            kept = moved.pop().unwrap_or_default();
        }
        self.x = kept;
        self.v = kept_drift;
        self.e = next_local;
        self.exact = kept_exact;
        self.global_n = population;
        if measuring {
            self.out.population_min = self.out.population_min.min(population);
            self.out.population_max = self.out.population_max.max(population);
        }
        if branching {
            // Ē: exponential average over ~1 time unit in burn-in, the running mean after.
            let dt = self.settings.dt;
            self.average = if measuring { self.out.series.iter().sum::<f64>() / self.out.series.len() as f64 } else { self.average + (g.energy - self.average) * dt.min(1.0) };
            self.reference = self.average - (population as f64 / self.target as f64).ln() / self.settings.feedback_time;
            self.out.effective_dt = m.tau;
        }
        true
    }

    /// The walk's result: global counts and fractions, the blocking estimate and, with
    /// branching, the population-control-corrected energy.
    pub(super) fn finish(self) -> Walk {
        let Walker { settings, comm, started, x, proposals, accept_sum, clipped_excess, control_log, total_weights, variance_sum, unbranched, mut out, .. } = self;
        if proposals > 0 {
            out.acceptance = accept_sum / proposals as f64;
        }
        let counts = comm.sum(&[out.killed as f64, out.capped as f64, out.clipped as f64, clipped_excess, out.exchanged as f64]);
        (out.killed, out.capped, out.clipped, out.exchanged) = (counts[0] as usize, counts[1] as usize, counts[2] as usize, counts[4] as usize);
        let clipped_excess = counts[3];
        out.generations = out.series.len();
        out.blocking = blocking(&out.series);
        out.energy_uncorrected = out.blocking.estimate();
        out.energy = out.energy_uncorrected;
        if settings.branching && !out.series.is_empty() {
            let span = correction_generations(settings.feedback_time, out.effective_dt);
            let first = control_log.len() - out.series.len();
            out.energy = corrected_energy(&out.series, &total_weights, &control_log, first, span);
            out.correction_generations = span;
        }
        let steps = out.measured_walker_steps.max(1) as f64;
        out.killed_fraction = out.killed as f64 / steps;
        out.capped_fraction = out.capped as f64 / steps;
        out.clipped_fraction = out.clipped as f64 / steps;
        out.clipped_shift = clipped_excess / steps;
        if !unbranched.non_gradient.is_empty() {
            out.non_gradient = Some(blocking(&unbranched.non_gradient).estimate());
            out.stratonovich = Some(blocking(&unbranched.stratonovich).estimate());
        }
        out.local_energy_variance = variance_sum / out.generations.max(1) as f64;
        out.population_mean = out.population.iter().sum::<usize>() as f64 / out.population.len().max(1) as f64;
        out.seconds = started.elapsed().as_secs_f64();
        out.walkers = x;
        out
    }
}
