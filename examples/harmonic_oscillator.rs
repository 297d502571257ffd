//! The smallest ground-state run, using the library directly: a 3-D harmonic oscillator
//! (E₀ = 1.5, optimal drift v* = −x) defined in code, trained and evaluated on the CPU.
//!
//! `cargo run --release --example harmonic_oscillator`

use burn::tensor::Device;
use pathspace::quantum::problem::Problem;
use pathspace::quantum::solve::{Overrides, solve};
use std::path::Path;

const PROBLEM: &str = r#"
name = "harmonic_example"
reference = 1.5
[system]
kind = "harmonic"
particles = 1
dims = 3
[drift]
kind = "mlp"
hidden = 32
[sde]
integrator = "sosra"
dt = 0.01
steps = 100
[train]
walkers = 256
iterations = 100
lr = 3e-3
[eval]
walkers = 512
steps = 512
burn_in = 128
"#;

fn main() -> pathspace::Result<()> {
    let problem = Problem::parse(Path::new("harmonic_example.toml"), PROBLEM)?;
    let out = solve(&problem, &Device::flex(), &Overrides::default(), &mut |row| {
        if row.iteration % 20 == 0 {
            println!("iteration {:4}  training energy {:.4}", row.iteration, row.energy);
        }
    })?;
    let s = &out.summary;
    println!("E = {:.5} ± {:.5} (exact 1.5)", s.energy, s.energy_error);
    Ok(())
}
