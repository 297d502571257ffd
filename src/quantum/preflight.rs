//! Checks made before any time is spent on a run: settings that cannot give a trusted headline
//! for this system, found in a second, with the key to change.
//!
//! **The DMC time step.** Metropolis DMC is trusted only when its moves are accepted at least
//! [`MIN_ACCEPTANCE`] of the time ([`crate::quantum::trust`]): the time-step error grows with the
//! rejected fraction. The rejected fraction is set by the system's shortest length, which a
//! copied file does not follow: near a nucleus of charge Z the guide changes on the length 1/Z,
//! so at a fixed dt the rejections grow roughly as (Z²dt)^{3/2} (a file tuned for H₂ at
//! dt = 0.04 is accepted 0.99 of the time there, and 0.88 for a Z = 3 ion). [`check_dmc_time_step`]
//! runs [`PREFLIGHT_MOVES`] Metropolis moves of [`PREFLIGHT_WALKERS`] walkers with the untrained
//! guide, whose nuclear cusps and trap confinement are those of the trained one (the network
//! adds a smooth correction), at the file's `[dmc] dt`. Below [`MIN_ACCEPTANCE`] the run is
//! refused, naming `dmc.dt` and the largest of dt/2, dt/4, … whose acceptance clears
//! [`SUGGESTED_ACCEPTANCE`].

use crate::base::error::{Error, Result};
use crate::base::noise::Noise;
use crate::quantum::problem::{Estimator, Problem};
use crate::quantum::select::guide_on;
use crate::quantum::solve::{build_net, initial_walkers};
use crate::quantum::trust::MIN_ACCEPTANCE;
use crate::quantum::walk::metropolis_acceptance;
use burn::tensor::Device;

/// Walkers of the time-step check.
pub const PREFLIGHT_WALKERS: usize = 256;
/// Moves of the time-step check: the first half brings the walkers from their start to |ψ_T|²
/// (half of 100 moves of dt ≥ 0.005 a.u. is a few 1/Z² relaxation times), the second measures.
pub const PREFLIGHT_MOVES: usize = 100;
/// The acceptance a suggested time step must reach: a margin over [`MIN_ACCEPTANCE`] for the
/// trained guide, whose acceptance differs from the untrained one's by a few 0.01.
pub const SUGGESTED_ACCEPTANCE: f64 = 0.95;

/// The Metropolis acceptance of the untrained guide of `problem` at the time step `dt`
/// ([`PREFLIGHT_MOVES`] moves of [`PREFLIGHT_WALKERS`] walkers, the second half measured).
/// `None` where no guide runs on `device`.
pub fn untrained_acceptance(problem: &Problem, dt: f64, device: &Device) -> Option<f64> {
    with_untrained_guide(problem, device, |acceptance| acceptance(dt))
}

/// Calls `f` with the acceptance at a time step of the untrained guide of `problem` (its
/// network, guide and starting walkers built once; every time step starts from the same walkers
/// and noise). `None` where no guide runs on `device`.
fn with_untrained_guide<T>(problem: &Problem, device: &Device, f: impl FnOnce(&dyn Fn(f64) -> f64) -> T) -> Option<T> {
    let mut noise = Noise::new(problem.train.seed ^ 0x7072_6566); // "pref"
    let net = build_net(problem, &mut noise, device);
    let guide = guide_on(&net, &problem.system, problem.sde.integrator, device)?;
    let walkers = initial_walkers(problem, PREFLIGHT_WALKERS, &mut noise, device);
    let start: Vec<f64> = walkers.into_data().try_into_vec_as::<f64>().expect("float walkers");
    let acceptance = |dt: f64| {
        let mut noise = noise.clone();
        let half = PREFLIGHT_MOVES / 2;
        let (x, _) = metropolis_acceptance(guide.as_ref(), start.clone(), half, dt, &mut noise);
        metropolis_acceptance(guide.as_ref(), x, PREFLIGHT_MOVES - half, dt, &mut noise).1
    };
    Some(f(&acceptance))
}

/// Refuses a Metropolis DMC whose `[dmc] dt` is too coarse for the system (module docs): an
/// error naming the file, `dmc.dt`, the acceptance found and a time step that clears
/// [`SUGGESTED_ACCEPTANCE`]. Nothing is checked without DMC or without Metropolis moves.
pub fn check_dmc_time_step(problem: &Problem, device: &Device) -> Result<()> {
    let dmc = &problem.dmc;
    if !problem.eval.estimators.contains(&Estimator::Dmc) || !dmc.metropolis {
        return Ok(());
    }
    let refusal = with_untrained_guide(problem, device, |acceptance| {
        let at_dt = acceptance(dmc.dt);
        if at_dt >= MIN_ACCEPTANCE {
            return None;
        }
        // The largest of dt/2, dt/4, … (at most 8 halvings) that clears the margin.
        let mut suggestion = dmc.dt;
        let found = (0..8).find_map(|_| {
            suggestion /= 2.0;
            let a = acceptance(suggestion);
            (a >= SUGGESTED_ACCEPTANCE).then_some((suggestion, a))
        });
        Some((at_dt, found, suggestion))
    });
    let Some(Some((at_dt, found, smallest))) = refusal else { return Ok(()) };
    let advice = match found {
        Some((dt, a)) => format!("set [dmc] dt = {} (accepted {a:.3}) or smaller", round_down(dt)),
        None => format!("no dt down to {smallest:.2e} is accepted {SUGGESTED_ACCEPTANCE} of the time; check the [system] scales"),
    };
    Err(Error::Format {
        path: problem.path.clone(),
        field: "dmc.dt".into(),
        message: format!(
            "dt = {} is too coarse for this system: Metropolis moves of the untrained guide are accepted {at_dt:.3} of the time, and DMC is trusted only above {MIN_ACCEPTANCE} (docs/energies.md, \"A time step that fits the system\"); {advice}",
            dmc.dt
        ),
    })
}

/// `x` rounded down to one significant digit (0.0123 → 0.01), for a time step to type.
fn round_down(x: f64) -> f64 {
    let scale = 10f64.powf(x.log10().floor());
    // 0.3/0.1 is 2.9999999999999996 in binary: nudge by a few ulps before flooring.
    let digit = (x / scale * (1.0 + 1e-12)).floor();
    // Printing 0.1·3 gives 0.30000000000000004: parse the shortest decimal back.
    format!("{:.*}", (-scale.log10()).max(0.0) as usize, digit * scale).parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::round_down;

    #[test]
    fn suggested_time_steps_are_short_decimals() {
        assert_eq!(round_down(0.0123), 0.01);
        assert_eq!(round_down(0.02), 0.02);
        assert_eq!(round_down(0.0399), 0.03);
        assert_eq!(round_down(0.005), 0.005);
        assert_eq!(round_down(0.3), 0.3);
    }
}
