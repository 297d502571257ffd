//! The unbranched walk's tallies along its generations (see [`super`]'s module docs): the
//! Stratonovich form of E[ℓ_T]/T and the non-gradient part ⟨|c|²⟩_ρ per generation, and the
//! reweighted estimator −(1/T) log E[e^{−ℓ_T}] at each requested path length.

use super::{Reweighted, WalkSettings};
use crate::parallel::Comm;
use crate::quantum::engine::Advance;
use crate::stats::Estimate;

/// What the unbranched walk accumulates.
pub(super) struct Unbranched {
    /// Per walker ℓ_T so far (this rank's walkers).
    ell: Vec<f64>,
    /// The previous reweighting time and all ranks' ℓ there.
    previous: Option<(f64, Vec<f64>)>,
    /// (step, T) of the reweighting times still to come, in order.
    reweight_steps: Vec<(usize, f64)>,
    /// Per measured generation: the walker averages of the non-gradient integrand and of the
    /// Stratonovich terms.
    pub(super) non_gradient: Vec<f64>,
    pub(super) stratonovich: Vec<f64>,
}

impl Unbranched {
    pub(super) fn new(settings: &WalkSettings) -> Self {
        let mut reweight_steps: Vec<(usize, f64)> = settings.reweight_times.iter().map(|t| ((t / settings.dt).round().max(1.0) as usize, *t)).collect();
        reweight_steps.sort_by_key(|s| s.0);
        Unbranched { ell: Vec::new(), previous: None, reweight_steps, non_gradient: Vec::new(), stratonovich: Vec::new() }
    }

    /// One measured generation (the `measured`-th) of the step `step` from `x` (drift `v`, E_L
    /// `e`) to `step.next` (drift `v_next`, E_L `e_next`); `integrand` is the guide's
    /// lower-variance non-gradient integrand where it gives one. Reweighted estimates whose
    /// time has come go to `reweighted`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tally(
        &mut self,
        x: &[f64],
        v: &[f64],
        e: &[f64],
        step: &Advance,
        e_next: &[f64],
        v_next: &[f64],
        integrand: Option<Vec<f64>>,
        dim: usize,
        dt: f64,
        measured: usize,
        comm: &dyn Comm,
        reweighted: &mut Vec<Reweighted>,
    ) {
        let n = x.len() / dim;
        let integrand: Vec<f64> = integrand.unwrap_or_else(|| step.running.iter().zip(e).map(|(r, e)| r - e).collect());
        // ½(v_n + v_{n+1})·ΔX/Δt + ½(E_n + E_{n+1}) per walker.
        let terms: Vec<f64> = (0..n)
            .map(|i| {
                let r = i * dim..(i + 1) * dim;
                let circulation: f64 = (v[r.clone()].iter().zip(&v_next[r.clone()]))
                    .zip(x[r.clone()].iter().zip(&step.next[r]))
                    .map(|((a, b), (x0, x1))| 0.5 * (a + b) * (x1 - x0))
                    .sum();
                circulation / dt + 0.5 * (e[i] + e_next[i])
            })
            .collect();
        let (g, s) = (finite_sum(&integrand), finite_sum(&terms));
        let sums = comm.sum(&[g.0, g.1, s.0, s.1]);
        self.non_gradient.push(sums[0] / sums[1].max(1.0));
        self.stratonovich.push(sums[2] / sums[3].max(1.0));
        if self.reweight_steps.is_empty() {
            return;
        }
        if self.ell.is_empty() {
            self.ell = vec![0.0; n];
        }
        for (l, (r, m)) in self.ell.iter_mut().zip(step.running.iter().zip(&step.martingale)) {
            *l += r * dt + m;
        }
        while let Some(&(k, t)) = self.reweight_steps.first() {
            if measured + 1 < k {
                break;
            }
            let all = comm.concat(&self.ell);
            let increment = self.previous.as_ref().map(|(t0, ell0)| growth(ell0, &all, t - t0));
            reweighted.push(Reweighted { time: t, energy: reweighted_energy(&all, t), increment });
            self.previous = Some((t, all));
            self.reweight_steps.remove(0);
        }
    }
}

/// The sum and the number of the finite values.
fn finite_sum(values: &[f64]) -> (f64, f64) {
    let (sum, count) = values.iter().filter(|g| g.is_finite()).fold((0.0, 0usize), |(s, c), g| (s + g, c + 1));
    (sum, count as f64)
}

/// −(1/T) log mean exp(−ℓ) with its delta-method error.
fn reweighted_energy(ell: &[f64], time: f64) -> Estimate {
    let shift = ell.iter().copied().fold(f64::INFINITY, f64::min);
    let e: Vec<f64> = ell.iter().map(|l| (-(l - shift)).exp()).collect();
    let m = crate::stats::mean_and_error(&e);
    Estimate { value: (shift - m.value.ln()) / time, error: m.error / m.value / time }
}

/// −log(mean e^{−ℓ₁} / mean e^{−ℓ₀})/ΔT over the same walkers, with the delta-method error
/// of the log of a ratio of correlated means.
fn growth(ell0: &[f64], ell1: &[f64], span: f64) -> Estimate {
    let shift = ell0.iter().chain(ell1).copied().fold(f64::INFINITY, f64::min);
    let a: Vec<f64> = ell1.iter().map(|l| (-(l - shift)).exp()).collect();
    let b: Vec<f64> = ell0.iter().map(|l| (-(l - shift)).exp()).collect();
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let influence: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x / ma - y / mb).collect();
    let spread = crate::stats::mean_and_error(&influence).error;
    Estimate { value: -(ma / mb).ln() / span, error: spread / span }
}

