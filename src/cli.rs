//! Subcommands: `solve FILE` trains and evaluates a ground state.

use anyhow::{Context, Result};
use burn::tensor::Device;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pathspace::device::Precision;
use pathspace::problem::Problem;
use pathspace::solve::{Overrides, solve};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "pathspace", version, about = "Path-space variational methods: Feynman–Kac ground states")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a neural drift for the ground state of a problem file and evaluate its energy.
    Solve {
        /// Problem file (TOML).
        file: PathBuf,
        /// Override [train] seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Output directory (default runs/<name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override [train] iterations.
        #[arg(long)]
        iterations: Option<usize>,
        /// Compute in double precision.
        #[arg(long)]
        f64: bool,
    },
}

/// The device of this binary: burn's CUDA backend with the `cuda` feature, otherwise Flex (CPU).
fn choose_device(precision: Precision) -> Result<Device> {
    #[cfg(feature = "cuda")]
    let mut device = Device::cuda(0);
    #[cfg(not(feature = "cuda"))]
    let mut device = Device::flex();
    precision.configure(&mut device)?;
    Ok(device)
}

pub fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Solve { file, seed, out, iterations, f64 } => {
            let problem = Problem::load(&file)?;
            let device = choose_device(if f64 { Precision::F64 } else { Precision::F32 })?;
            let out = out.unwrap_or_else(|| PathBuf::from("runs").join(&problem.name));
            let total = iterations.unwrap_or(problem.train.iterations) as u64;
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} it  E = {msg}  [{elapsed_precise} < {eta_precise}]")
                    .expect("valid template"),
            );
            let mut on_row = |row: &pathspace::train::TrainingRow| {
                bar.set_position(row.iteration as u64 + 1);
                bar.set_message(format!("{:.5}", row.energy));
            };
            let overrides = Overrides { seed, iterations };
            let mut output = solve(&problem, &device, &overrides, &mut on_row)?;
            bar.finish_and_clear();
            let files = pathspace::io::write_run(&out, &mut output.summary, &output.rows)
                .with_context(|| format!("writing results to {}", out.display()))?;
            print_table(&output.summary, &files);
            Ok(())
        }
    }
}

fn print_table(s: &pathspace::solve::Summary, files: &[PathBuf]) {
    let line = |k: &str, v: String| println!("  {k:<24} {v}");
    println!("{}", s.name);
    line("energy (dt)", format!("{:.6} ± {:.6} Ha   (dt = {}, {})", s.energy, s.energy_error, s.dt, s.integrator));
    if let (Some(e), Some(err), Some(b)) = (s.energy_extrapolated, s.energy_extrapolated_error, s.timestep_bias) {
        line("energy (dt → 0)", format!("{e:.6} ± {err:.6} Ha   (time-step bias {b:+.6})"));
    }
    if let Some(r) = s.reference {
        line("reference", format!("{r:.7} Ha"));
        if let Some(d) = s.difference_mha {
            line("difference", format!("{d:+.3} mHa"));
        }
        if let Some(d) = s.difference_extrapolated_mha {
            line("difference (dt → 0)", format!("{d:+.3} mHa"));
        }
    }
    line("wall time", format!("{:.1} s (train {:.1} s, eval {:.1} s)", s.wall_seconds, s.train_seconds, s.eval_seconds));
    if s.recoveries > 0 {
        line("NaN recoveries", s.recoveries.to_string());
    }
    for f in files {
        line("wrote", f.display().to_string());
    }
}
