//! Metropolis-adjusted Langevin moves of every walker (the DMC moves with `metropolis`, and the
//! VMC sampler): proposals X′ = X + v(X)dt + √dt ξ accepted with the ratio of ψ_T² and of the
//! proposal densities.

use crate::base::noise::Noise;
use crate::quantum::engine::{Guide, GuideValues};

/// The result of one Metropolis move of every walker.
pub struct Moved {
    pub next: Vec<f64>,
    pub e_next: Vec<f64>,
    pub v_next: Vec<f64>,
    /// The exact part at the new positions.
    pub exact_next: Option<(Vec<f64>, Vec<f64>)>,
    /// p·½(E_L(X) + E_L(X′)) + (1 − p)·E_L(X): the expected E_L of the weight.
    pub e_weight: Vec<f64>,
    pub accepted_r2: f64,
    pub proposed_r2: f64,
    pub acceptance_sum: f64,
}

/// Proposes X′ = X + v(X)dt + √dt ξ for every walker and accepts with
/// p = min(1, exp(2ΔS) G(X←X′)/G(X′←X)), G(y←x) = exp(−|y − x − v(x)dt|²/(2dt)), where ΔS
/// stands for log ψ_T(X′) − log ψ_T(X) when v = ∇log ψ_T. With v = ∇S_e + u ([`Guide::exact_part`])
/// ΔS = S_e(X′) − S_e(X) + ½(u(X) + u(X′))·(X′ − X): exact for S_e and the trapezoid line
/// integral, to O(|ΔX|³), for the smooth rest u. (The trapezoid rule on the whole drift is poor
/// across a cusp, where v jumps.)
/// `exact` is the exact part at `x` (carried from the previous move). A proposal whose E_L or
/// acceptance ratio is not a number is rejected.
pub fn metropolis_move(guide: &dyn Guide, x: &[f64], v: &[f64], e: &[f64], exact: Option<&(Vec<f64>, Vec<f64>)>, dt: f64, noise: &mut Noise) -> Moved {
    propose(guide, x, v, e, exact, dt, noise, true)
}

/// `moves` Metropolis moves of every walker from `x` ([`metropolis_move`]: the same noise draws
/// and acceptances) that evaluate only the drift and the exact part on the way
/// ([`Guide::evaluate_drift`]), then E_L once at the final positions: the walkers and their
/// E_L. A VMC step needs E_L only where its moves end, and E_L (a Laplacian) costs several
/// times the drift.
pub fn metropolis_sample(guide: &dyn Guide, x: Vec<f64>, moves: usize, dt: f64, noise: &mut Noise) -> (Vec<f64>, Vec<f64>) {
    let (x, _) = metropolis_acceptance(guide, x, moves, dt, noise);
    let e = guide.local_energy(&x);
    (x, e)
}

/// `moves` Metropolis moves of every walker from `x` that evaluate only the drift and the exact
/// part: the final walkers and the mean acceptance probability over walkers and moves (the moves
/// of [`metropolis_sample`]; the preflight time-step check, [`crate::quantum::preflight`]).
pub fn metropolis_acceptance(guide: &dyn Guide, mut x: Vec<f64>, moves: usize, dt: f64, noise: &mut Noise) -> (Vec<f64>, f64) {
    let n = x.len() / guide.dim();
    let mut at = guide.evaluate_drift(&x);
    let mut sum = 0.0;
    for _ in 0..moves {
        let moved = propose(guide, &x, &at.v, &at.e, at.exact.as_ref(), dt, noise, false);
        sum += moved.acceptance_sum;
        x = moved.next;
        at = GuideValues { v: moved.v_next, e: Vec::new(), exact: moved.exact_next };
    }
    (x, sum / (n * moves).max(1) as f64)
}

/// One Metropolis move ([`metropolis_move`]); `with_energy`: evaluate E_L at the proposals (else
/// `e` is not read and `e_next`, `e_weight` stay empty).
#[allow(clippy::too_many_arguments)]
fn propose(guide: &dyn Guide, x: &[f64], v: &[f64], e: &[f64], exact: Option<&(Vec<f64>, Vec<f64>)>, dt: f64, noise: &mut Noise, with_energy: bool) -> Moved {
    let dim = guide.dim();
    let n = x.len() / dim;
    let xi = noise.standard_normals(x.len());
    let sqrt_dt = dt.sqrt();
    let proposal: Vec<f64> = (0..x.len()).map(|k| x[k] + v[k] * dt + sqrt_dt * xi[k]).collect();
    let GuideValues { v: v_prop, e: e_prop, exact: exact_prop } = if with_energy { guide.evaluate(&proposal) } else { guide.evaluate_drift(&proposal) };
    let mut exact_next = exact_prop.as_ref().map(|_| (Vec::with_capacity(n), Vec::with_capacity(x.len())));
    let mut out = Moved {
        next: Vec::with_capacity(x.len()),
        e_next: Vec::with_capacity(n),
        v_next: Vec::with_capacity(x.len()),
        exact_next: None,
        e_weight: Vec::with_capacity(n),
        accepted_r2: 0.0,
        proposed_r2: 0.0,
        acceptance_sum: 0.0,
    };
    for i in 0..n {
        let r = i * dim..(i + 1) * dim;
        let (mut ds, mut r2, mut forward, mut backward) = (0.0, 0.0, 0.0, 0.0);
        if let (Some((s, _)), Some((s_prop, _))) = (exact, &exact_prop) {
            ds += s_prop[i] - s[i];
        }
        for k in r.clone() {
            let dx = proposal[k] - x[k];
            let (u, u_prop) = match (exact, &exact_prop) {
                (Some((_, g)), Some((_, g_prop))) => (v[k] - g[k], v_prop[k] - g_prop[k]),
                _ => (v[k], v_prop[k]),
            };
            ds += 0.5 * (u + u_prop) * dx;
            r2 += dx * dx;
            forward += xi[k] * xi[k] * 0.5;
            backward += (-dx - v_prop[k] * dt).powi(2) / (2.0 * dt);
        }
        let log_p = 2.0 * ds - backward + forward;
        let valid = !log_p.is_nan() && (!with_energy || e_prop[i].is_finite());
        let p = if valid { log_p.exp().min(1.0) } else { 0.0 };
        let accept = noise.uniform() < p;
        out.accepted_r2 += p * r2;
        out.proposed_r2 += r2;
        out.acceptance_sum += p;
        let (pos, drift): (&[f64], &[f64]) = if accept { (&proposal[r.clone()], &v_prop[r.clone()]) } else { (&x[r.clone()], &v[r.clone()]) };
        out.next.extend_from_slice(pos);
        out.v_next.extend_from_slice(drift);
        if with_energy {
            out.e_weight.push(if p > 0.0 { p * 0.5 * (e[i] + e_prop[i]) + (1.0 - p) * e[i] } else { e[i] });
            out.e_next.push(if accept { e_prop[i] } else { e[i] });
        }
        if let (Some((s_next, g_next)), Some((s, g)), Some((s_prop, g_prop))) = (&mut exact_next, exact, &exact_prop) {
            let (s, g) = if accept { (s_prop, g_prop) } else { (s, g) };
            s_next.push(s[i]);
            g_next.extend_from_slice(&g[r.clone()]);
        }
    }
    out.exact_next = exact_next;
    out
}

