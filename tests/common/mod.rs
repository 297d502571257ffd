//! Shared helpers for the end-to-end tests.
#![allow(dead_code)]

pub mod ranks;

use burn::tensor::Device;
use pathspace::quantum::problem::Problem;
use pathspace::quantum::solve::{Overrides, SolveOutput, solve};
use std::path::Path;

/// The product's default device (Flex CPU, f32).
pub fn device() -> Device {
    Device::flex()
}

pub fn problem(text: &str) -> Problem {
    Problem::parse(Path::new("test.toml"), text).expect("valid test problem")
}

pub fn run(text: &str) -> SolveOutput {
    solve(&problem(text), &device(), &Overrides::default(), &mut |_| {}).expect("solve succeeds")
}

/// `pathspace fit ARGS`.
pub fn fit(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pathspace")).arg("fit").args(args).output().expect("run pathspace")
}

/// Panics with the run's stderr unless it succeeded.
pub fn fit_ok(o: std::process::Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A run directory's summary.json.
pub fn summary_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// The validation ELBOs of a fit's training.csv, in order (rows without one skipped).
pub fn validation_elbos(dir: &Path) -> Vec<f64> {
    let csv = std::fs::read_to_string(dir.join("training.csv")).unwrap();
    csv.lines().skip(1).filter_map(|l| l.split(',').nth(2).filter(|v| !v.is_empty()).map(|v| v.parse().unwrap())).collect()
}

/// Fits `problem` in `dir` once whole and once stopped after `part` iterations and resumed, and
/// asserts that summary.json's `keys` agree bit for bit.
pub fn assert_resume_matches(dir: &Path, problem: &Path, part: usize, keys: &[&str]) {
    let p = problem.to_str().unwrap();
    let (full, stopped) = (dir.join("full"), dir.join("part"));
    fit_ok(fit(&[p, "--out", full.to_str().unwrap()]));
    fit_ok(fit(&[p, "--out", stopped.to_str().unwrap(), "--iterations", &part.to_string()]));
    fit_ok(fit(&[p, "--resume", stopped.to_str().unwrap()]));
    let (a, b) = (summary_json(&full), summary_json(&stopped));
    for key in keys {
        assert_eq!(a[key].as_f64().unwrap().to_bits(), b[key].as_f64().unwrap().to_bits(), "{key}: {} vs {}", a[key], b[key]);
    }
}

/// Panics unless `o` failed cleanly (no panic: exit code not 101) with a one-line error that
/// contains every string of `expected`; `what` names the call in messages.
pub fn assert_one_line_failure(o: &std::process::Output, what: &str, expected: &[&str]) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && o.status.code() != Some(101), "{what}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: not one line: {stderr}");
    for e in expected {
        assert!(stderr.contains(e), "{what}: expected {e:?} in: {stderr}");
    }
}
