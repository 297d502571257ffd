//! Shared helpers for the end-to-end tests.
#![allow(dead_code)]

use burn::tensor::Device;
use pathspace::problem::Problem;
use pathspace::solve::{Overrides, SolveOutput, solve};
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
