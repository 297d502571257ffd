//! Population control's bias and its correction (Umrigar, Nightingale & Runge 1993, Sec. III.D;
//! see [`super`]'s module docs): the span of the correction factors and the corrected mixed
//! estimator.

use crate::stats::{Estimate, blocking};

/// Span of the population-control correction in feedback times τ_fb: T_p Δt = 10 τ_fb. The
/// reference energy relaxes towards Ē on the time scale τ_fb, so the population is
/// decorrelated from its control factors after a few τ_fb; a longer span adds variance only
/// (the correction's log-weight is a sum of T_p terms).
pub const CORRECTION_SPAN: f64 = 10.0;

/// T_p = ⌈[`CORRECTION_SPAN`] τ_fb / τ⌉ generations at the time step τ of the weights.
pub fn correction_generations(feedback_time: f64, tau: f64) -> usize {
    ((CORRECTION_SPAN * feedback_time / tau).ceil() as usize).max(1)
}

/// The population-control-corrected mixed estimator (module docs):
/// E = Σ_n Π_n W_n E_n / Σ_n Π_n W_n, log Π_n = Σ_{k = n−T_p+1}^{n} −τ_k (E_R(k) − Ē₀),
/// with the error of the ratio by blocking its linearisation Π_n W_n (E_n − E)/⟨Π W⟩.
/// `control_log[k]` is −τ_k (E_R(k) − Ē₀) of generation k (burn-in included), `series` and
/// `weights` the E_n and W_n of the measured generations, which start at generation `first`.
pub(super) fn corrected_energy(series: &[f64], weights: &[f64], control_log: &[f64], first: usize, span: usize) -> Estimate {
    let mut prefix = vec![0.0; control_log.len() + 1];
    for (k, c) in control_log.iter().enumerate() {
        prefix[k + 1] = prefix[k] + c;
    }
    let log_factor: Vec<f64> = (0..series.len())
        .map(|m| {
            let n = first + m;
            prefix[n + 1] - prefix[(n + 1).saturating_sub(span)]
        })
        .collect();
    let shift = log_factor.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let g: Vec<f64> = log_factor.iter().zip(weights).map(|(l, w)| (l - shift).exp() * w).collect();
    let norm = g.iter().sum::<f64>();
    let value = g.iter().zip(series).map(|(g, e)| g * e).sum::<f64>() / norm;
    let mean_g = norm / g.len() as f64;
    let linear: Vec<f64> = g.iter().zip(series).map(|(g, e)| g * (e - value) / mean_g).collect();
    Estimate { value, error: blocking(&linear).error }
}

