//! Training that stops on a measured plateau (`[train] stop_on_plateau`), and the convergence
//! record of summary.json, on a reduced problems/harmonic.toml (3-D oscillator, gradient drift,
//! E₀ = 1.5).

mod common;

/// problems/harmonic.toml with fewer walkers, shorter paths, a drift that starts off the exact
/// −x (c = −0.25 instead of −1) and a cheap evaluation.
fn oscillator(train: &str) -> String {
    format!(
        r#"
name = "harmonic-plateau"
[system]
kind = "harmonic"
particles = 1
dims = 3
[drift]
kind = "gradient"
hidden = 16
skip_init = -0.5
[sde]
dt = 0.02
steps = 25
[train]
walkers = 64
lr = 3e-3
lr_decay = 200
seed = 1
{train}
[eval]
walkers = 64
steps = 16
burn_in = 8
extrapolate = false
[output]
path_walkers = 0
"#
    )
}

#[test]
fn plateau_stops_training_before_its_limit() {
    let out = common::run(&oscillator("iterations = 3000\nmonitor_every = 20\nplateau_window = 8\nstop_on_plateau = true\nmin_iterations = 200"));
    let c = &out.summary.convergence;
    assert!(c.converged && c.stopped_on_plateau, "{c:?}");
    let at = c.iteration.expect("plateau iteration");
    assert!((200..3000).contains(&at) && at % 20 == 0, "stopped at {at}");
    assert_eq!(c.iterations_run, at);
    assert_eq!(out.rows.len(), at);
    assert_eq!(c.monitor.len(), at / 20);
    assert!(c.monitor.iter().all(|p| p.local_energy_variance.is_some_and(|v| v >= 0.0)));
    // Training moved the energy down towards E₀ = 1.5 and the E_L variance with it.
    let (first, last) = (c.monitor[0], c.monitor[c.monitor.len() - 1]);
    assert!(last.energy < first.energy && (last.energy - 1.5).abs() < 0.05, "{first:?} → {last:?}");
    assert!(last.local_energy_variance < first.local_energy_variance, "{first:?} → {last:?}");
    let json = serde_json::to_value(&out.summary).unwrap();
    assert_eq!(json["convergence"]["converged"], true);
    assert_eq!(json["convergence"]["iteration"].as_u64(), Some(at as u64));
}

#[test]
fn too_few_iterations_is_not_converged() {
    let out = common::run(&oscillator("iterations = 60\nmonitor_every = 20\nstop_on_plateau = true"));
    let c = &out.summary.convergence;
    assert!(!c.converged && !c.stopped_on_plateau && c.iteration.is_none(), "{c:?}");
    assert_eq!((c.iterations_run, out.rows.len(), c.monitor.len()), (60, 60, 3));
    assert!(c.energy_slope.is_none(), "3 points < window 10: no fit");
    assert_eq!(serde_json::to_value(&out.summary).unwrap()["convergence"]["converged"], false);
}
