//! `[train] engine`: the fused CPU engine is the default on the CPU, `engine = "autodiff"`
//! selects burn's autodiff, summary.json says which ran, and both train alike.

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
    iterations = 4
    seed = 21
    [eval]
    walkers = 32
    steps = 20
    burn_in = 5
"#;

#[test]
fn engine_is_chosen_recorded_and_both_agree() {
    let fused = run(PROBLEM);
    assert_eq!(fused.summary.engine, "fused");
    let explicit = run(&PROBLEM.replace("seed = 21", "seed = 21\n    engine = \"fused\""));
    assert_eq!(explicit.summary.engine, "fused");
    let autodiff = run(&PROBLEM.replace("seed = 21", "seed = 21\n    engine = \"autodiff\""));
    assert_eq!(autodiff.summary.engine, "autodiff");
    // Same noise, same parameters: the first step agrees up to f32 rounding (both compute in
    // f32 by default, in different orders).
    let (a, b) = (fused.rows[0], autodiff.rows[0]);
    assert!((a.loss - b.loss).abs() < 1e-4 * (1.0 + b.loss.abs()), "loss {} vs {}", a.loss, b.loss);
    assert!((a.energy - b.energy).abs() < 1e-4 * (1.0 + b.energy.abs()), "energy {} vs {}", a.energy, b.energy);
    let json = serde_json::to_value(&fused.summary).unwrap();
    assert_eq!(json["engine"], "fused");
}

#[test]
fn unknown_engine_is_an_error_naming_the_key() {
    let text = PROBLEM.replace("seed = 21", "seed = 21\n    engine = \"gpu\"");
    let err = pathspace::quantum::problem::Problem::parse(std::path::Path::new("test.toml"), &text).unwrap_err().to_string();
    assert!(err.contains("train.engine"), "{err}");
}

#[test]
fn unknown_precision_is_an_error_naming_the_key() {
    let text = PROBLEM.replace("seed = 21", "seed = 21\n    precision = \"f16\"");
    let err = pathspace::quantum::problem::Problem::parse(std::path::Path::new("test.toml"), &text).unwrap_err().to_string();
    assert!(err.contains("test.toml") && err.contains("train.precision") && err.contains("f16"), "{err}");
    let text = PROBLEM.replace("seed = 21", "seed = 21\n    checkpoint_segment = -1");
    let err = pathspace::quantum::problem::Problem::parse(std::path::Path::new("test.toml"), &text).unwrap_err().to_string();
    assert!(err.contains("test.toml") && err.contains("checkpoint_segment"), "{err}");
}

#[test]
fn precision_and_checkpoint_segment_are_read() {
    let text = PROBLEM.replace("seed = 21", "seed = 21\n    precision = \"f64\"\n    checkpoint_segment = 4");
    let problem = pathspace::quantum::problem::Problem::parse(std::path::Path::new("test.toml"), &text).unwrap();
    assert_eq!(problem.train.precision, pathspace::base::device::Precision::F64);
    assert_eq!(problem.train.checkpoint_segment, 4);
    let defaults = pathspace::quantum::problem::Problem::parse(std::path::Path::new("test.toml"), PROBLEM).unwrap();
    assert_eq!(defaults.train.precision, pathspace::base::device::Precision::F32);
    assert_eq!(defaults.train.checkpoint_segment, 0);
    // A checkpointed f64 run trains like the default one up to f32 rounding.
    let segmented = run(&text);
    let plain = run(PROBLEM);
    let (a, b) = (segmented.rows[0], plain.rows[0]);
    assert!((a.loss - b.loss).abs() < 1e-4 * (1.0 + b.loss.abs()), "loss {} vs {}", a.loss, b.loss);
}
