//! The same problem file and seed give the same training history (bit for bit, on one machine).

mod common;
use common::run;

const PROBLEM: &str = r#"
    [system]
    kind = "harmonic_trap"
    particles = 2
    dims = 2
    [system.interaction]
    kind = "gaussian"
    g = 1.0
    s = 0.5
    [drift]
    kind = "pair"
    hidden = 8
    [sde]
    integrator = "sosra"
    dt = 0.02
    steps = 10
    [train]
    walkers = 32
    iterations = 8
    seed = 21
    [eval]
    walkers = 32
    steps = 20
    burn_in = 5
"#;

#[test]
fn same_seed_gives_identical_training_csv() {
    let a = run(PROBLEM);
    let b = run(PROBLEM);
    // Every column but the wall-clock `seconds`.
    let strip = |rows: &[pathspace::io::training::TrainingRow]| -> Vec<(usize, u64, u64, u64)> {
        rows.iter().map(|r| (r.iteration, r.loss.to_bits(), r.energy.to_bits(), r.learning_rate.to_bits())).collect()
    };
    assert_eq!(a.rows.len(), 8);
    assert_eq!(strip(&a.rows), strip(&b.rows));
    assert_eq!(a.summary.energy.to_bits(), b.summary.energy.to_bits());
    let c = pathspace::quantum::solve::solve(
        &common::problem(PROBLEM),
        &common::device(),
        &pathspace::quantum::solve::Overrides { seed: Some(22), iterations: None },
        &mut |_| {},
    )
    .unwrap();
    assert_ne!(strip(&a.rows), strip(&c.rows), "a different seed must change the run");
}
