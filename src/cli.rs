//! Subcommands: `solve FILE` trains and evaluates a ground state (`--resume DIR` continues a
//! stopped run from its checkpoint); `fit FILE` trains a latent-variable model (the same
//! `--resume DIR` for chains); `plot DIR` redraws the plots from DIR/run.h5;
//! `export DIR --format csv` writes the content of DIR/run.h5 as CSV; `bench NAME` times
//! training iterations of the fused or autodiff engine (`bench scaling`: over a ladder of walker
//! counts). `solve` and `dmc` print the
//! diagnostics of every guided estimate and a WARNING line when the headline is not trusted;
//! `--strict` turns that into an error exit after all files are written, and a run that
//! diverged (non-finite headline, DMC population exploded or died out) always exits with one.

use pathspace::io::run::RunCheckpoint;
use anyhow::{Context, Result};
use burn::tensor::Device;
use clap::{Parser, Subcommand};
use pathspace::base::device::Precision;
use pathspace::quantum::problem::Problem;
use pathspace::quantum::checkpoint::Checkpoint;
use pathspace::io::hdf5::RunFile;
use std::path::{Path, PathBuf};
use pathspace::base::interrupt::{self, Phase};
use pathspace::io::lock::RunLock;
use pathspace::io::run::{RunOptions, RunOutcome, lock_on_root};
use pathspace::parallel::Comm;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;

/// A line on standard output. A failed write (a closed pipe, a full disk) is an error that
/// ends the command with status 1, not a panic.
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).context("writing to standard output")?
    };
}

/// Text on standard output without a line end added (a table that ends its own lines); a failed
/// write is an error, as with [`say!`].
macro_rules! put {
    ($($arg:tt)*) => {
        write!(std::io::stdout(), $($arg)*).context("writing to standard output")?
    };
}

/// A line on standard error; a failed write is ignored (there is nowhere left to report it).
macro_rules! note {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

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
        /// Stop after this many training iterations in all (default: [train] iterations plus [vmc] iterations).
        #[arg(long)]
        iterations: Option<usize>,
        /// Compute in double precision.
        #[arg(long)]
        f64: bool,
        /// Continue the run in DIR from DIR/checkpoint.bin (results are written to DIR).
        #[arg(long, value_name = "DIR", conflicts_with = "out")]
        resume: Option<PathBuf>,
        /// Exit with an error (after writing all files) when the headline is not trusted.
        #[arg(long)]
        strict: bool,
    },
    /// Fit a latent-variable model (VAE, flow, Markov-chain VAE, SDE VAE, mixture) from a
    /// problem file and report test ELBO and IWAE (nats per example).
    Fit {
        /// Problem file (TOML), e.g. problems/vae_digits.toml.
        file: PathBuf,
        /// Output directory (default runs/<name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override [train] seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Override [train] iterations.
        #[arg(long)]
        iterations: Option<usize>,
        /// Continue the run in DIR from DIR/checkpoint.bin (results are written to DIR).
        #[arg(long, value_name = "DIR", conflicts_with = "out")]
        resume: Option<PathBuf>,
    },
    /// Diffusion Monte Carlo (and the other guided estimators of `[eval] estimators`) with the drift
    /// trained by `solve` in DIR (its checkpoint.bin); writes DIR/dmc.json.
    Dmc {
        /// Problem file (TOML) of that run; its `[dmc]` table may differ from the run's.
        file: PathBuf,
        /// Run directory written by `solve`.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// Override [dmc] target_error (Ha; drops target_relative_error).
        #[arg(long)]
        target_error: Option<f64>,
        /// Override [dmc] max_seconds.
        #[arg(long)]
        max_seconds: Option<f64>,
        /// Seed of the DMC noise (default: [train] seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Exit with an error (after writing dmc.json) when the headline is not trusted.
        #[arg(long)]
        strict: bool,
    },
    /// Redraw energy.png/.svg, drift.png/.svg and density.png/.svg of a run from DIR/run.h5.
    Plot {
        /// Run directory.
        dir: PathBuf,
    },
    /// Time training iterations: `fk-mlp` (1024 walkers, MLP 3-64-64-3, Euler-Maruyama, 100 steps),
    /// `h2` (benches/h2_pair.toml), `bosons4` (benches/bosons4.toml), or a problem file; `scaling`:
    /// those three benchmarks at each of `--walker-counts` (sizes whose reverse pass is estimated
    /// above `--max-gib` skipped), with `--plot`; `integrators`:
    /// weak error against cost of every integrator on an Ornstein-Uhlenbeck process (f64); `dmc`:
    /// DMC walker-generations per second (with and without Metropolis moves) and the training
    /// kernel's walker-steps per second, with FLOP rates, for the gradient drift of benches/h2_gradient.toml.
    Bench {
        /// Benchmark name or problem file.
        name: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Engine to time.
        #[arg(long, value_enum, default_value = "fused")]
        engine: EngineArg,
        /// Timed iterations (after one warm-up).
        #[arg(long, default_value_t = 10)]
        repeats: usize,
        /// Compute in double precision.
        #[arg(long)]
        f64: bool,
        /// Fused engine: keep the activations of this many steps at a time (0: all).
        #[arg(long)]
        checkpoint_segment: Option<usize>,
        /// `integrators`: write the weak-error against cost plot to FILE; `scaling`: the walker-steps
        /// per second against walkers plot (.png, and .svg beside it).
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
        /// `fk-mlp`, `h2`, `bosons4`, a problem file: training walkers (default 1024 for fk-mlp, the
        /// file's [train] walkers); `integrators`: Monte Carlo walkers; `dmc`: DMC walkers (default:
        /// the problem's [dmc] walkers); `mpi`: walkers per rank.
        #[arg(long)]
        walkers: Option<usize>,
        /// `scaling` only: walker counts, comma-separated (default 1000,10000,100000,1000000).
        #[arg(long, value_name = "N,N,...")]
        walker_counts: Option<String>,
        /// `scaling` only: skip sizes whose reverse pass is estimated above this many GiB
        /// (walkers x kept steps x bytes per walker-step, as problem files are checked).
        #[arg(long, default_value_t = 40.0)]
        max_gib: f64,
        /// `scaling` only: wall-clock budget in seconds; sizes that would not finish in what is left
        /// of it are skipped (predicted linearly in walkers from the benchmark's last size).
        #[arg(long)]
        max_seconds: Option<f64>,
        /// `dmc` only: tiny sizes (2 training iterations, 64 walkers, 5 generations), for tests.
        #[arg(long)]
        quick: bool,
        /// `dmc` only: gradient-drift problem file (default benches/h2_gradient.toml).
        #[arg(long, value_name = "FILE")]
        problem: Option<PathBuf>,
        /// `dmc` only: timed training iterations (default 30).
        #[arg(long)]
        train_iterations: Option<usize>,
        /// `dmc` only: timed DMC generations per walk (default 300).
        #[arg(long)]
        generations: Option<usize>,
    },
    /// Write the content of DIR/run.h5 in another format (into DIR/csv/).
    Export {
        /// Run directory.
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum EngineArg {
    Fused,
    Autodiff,
}

impl From<EngineArg> for pathspace::bench::BenchEngine {
    fn from(engine: EngineArg) -> Self {
        match engine {
            EngineArg::Fused => pathspace::bench::BenchEngine::Fused,
            EngineArg::Autodiff => pathspace::bench::BenchEngine::Autodiff,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Csv,
}

/// The device of this binary: burn's CUDA backend with the `cuda` feature, else its wgpu backend
/// (the default adapter: a GPU where there is one) with the `wgpu` feature, otherwise Flex (CPU).
fn choose_device(precision: Precision) -> Result<Device> {
    #[cfg(feature = "cuda")]
    let mut device = Device::cuda(0);
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    let mut device = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
    let mut device = Device::flex();
    precision.configure(&mut device)?;
    Ok(device)
}

/// Runs the command line. `comm`: the ranks of an MPI run (the `mpi` feature under `mpirun`),
/// or [`pathspace::parallel::Single`]; `solve` spreads its walkers over them.
pub fn run(comm: &dyn Comm) -> Result<()> {
    let cli = Cli::parse();
    crate::signals::install()?;
    match cli.command {
        Command::Solve { file, seed, out, iterations, f64, resume, strict } => solve_command(&file, seed, out, iterations, f64, resume, strict, comm),
        Command::Bench { name, json, walkers, repeats, .. } if name == "mpi" => mpi_bench_command(json, walkers, repeats, comm),
        Command::Bench { name, json, plot, walkers, .. } if name == "integrators" => integrators_command(json, plot, walkers),
        Command::Bench { name, json, walkers, quick, problem, train_iterations, generations, .. } if name == "dmc" => {
            use pathspace::bench::dmc::{DmcBenchConfig, run};
            let mut config = if quick { DmcBenchConfig::quick() } else { DmcBenchConfig::standard() };
            config.problem = problem.unwrap_or(config.problem);
            config.walkers = walkers.or(config.walkers);
            config.train_iterations = train_iterations.unwrap_or(config.train_iterations);
            config.generations = generations.unwrap_or(config.generations);
            let result = run(&config, &choose_device(Precision::F32)?)?;
            if json {
                say!("{}", serde_json::to_string(&result)?);
            } else {
                put!("{}", result.table());
            }
            Ok(())
        }
        Command::Bench { name, json, engine, repeats, f64, checkpoint_segment, plot, walker_counts, max_gib, max_seconds, .. } if name == "scaling" => {
            let mut config = pathspace::bench::scaling::ScalingConfig::standard(engine.into());
            if let Some(text) = walker_counts {
                config.walker_counts = pathspace::bench::scaling::parse_walker_counts(&text)?;
            }
            config.repeats = repeats;
            config.checkpoint_segment = checkpoint_segment;
            config.max_gib = max_gib;
            config.max_seconds = max_seconds;
            scaling_command(&config, json, plot, f64)
        }
        Command::Bench { name, json, engine, repeats, f64, checkpoint_segment, walkers, .. } => {
            let device = choose_device(if f64 { Precision::F64 } else { Precision::F32 })?;
            let result = pathspace::bench::run_sized(&name, engine.into(), repeats, checkpoint_segment, walkers, &device)?;
            if json {
                say!("{}", serde_json::to_string(&result)?);
            } else {
                say!(
                    "{} ({:?}, {}): {:.4} s/iteration (min {:.4}, max {:.4}), {} walkers x {} steps",
                    result.benchmark, result.engine, result.backend, result.seconds_per_iteration, result.min, result.max, result.walkers, result.steps
                );
            }
            Ok(())
        }
        Command::Fit { file, out, seed, iterations, resume } => {
            use pathspace::latent::fit::run_with;
            let device = choose_device(Precision::F32)?;
            let options = RunOptions { out, seed, iterations, resume, show_progress: true };
            let run = match run_with(&file, &options, &device, &|dir, resume| crate::signals::set_run(dir.to_path_buf(), resume))? {
                RunOutcome::Finished(run) => run,
                RunOutcome::Stopped { iteration } => crate::signals::exit_interrupted(interrupt::requested().unwrap_or(2), Some(iteration)),
            };
            crate::signals::finished(&run.dir);
            let (s, files) = (&run.summary, &run.files);
            let iwae = if s.test_iwae.is_finite() {
                format!("IWAE(K = {}) {:.3}", s.iwae_k, s.test_iwae)
            } else if s.test_elbo.is_finite() {
                "no IWAE (continuous time)".to_string()
            } else {
                format!("IWAE(K = {}) {}", s.iwae_k, s.test_iwae)
            };
            let per = s.test_elbo_per_observation.map(|v| format!("; per observed time point {v:.3}")).unwrap_or_default();
            say!("{}  (test ELBO {:.3}, {iwae} nats per example{per}; {:.1} s)", s.name, s.test_elbo, s.wall_seconds);
            // A result that is not a number is an error exit, after the files that show it are
            // written (issue 37: it exited 0).
            if !s.test_elbo.is_finite() {
                anyhow::bail!("{}: fit diverged: the test ELBO is {} (results in {}); lower [train] lr or check the data", file.display(), s.test_elbo, run.dir.join("summary.json").display());
            }
            if let Some(p) = s.ppca_test_loglik {
                say!("  PPCA (same latent dimension) test log-likelihood {p:.3}");
            }
            for f in files {
                say!("  wrote {}", f.display());
            }
            Ok(())
        }
        Command::Dmc { file, from, target_error, max_seconds, seed, strict } => {
            let mut problem = Problem::load(&file)?;
            if target_error.is_some() {
                problem.dmc.target_error = target_error;
                problem.dmc.target_relative_error = None;
            }
            if max_seconds.is_some() {
                problem.dmc.max_seconds = max_seconds;
            }
            let path = Checkpoint::path_in(&from);
            let checkpoint = Checkpoint::read(&path)?;
            pathspace::quantum::solve::check_same_system(&problem, &path, &checkpoint)?;
            // Rank 0 alone takes the run directory and writes dmc.json.
            let _lock = lock_on_root(comm, &from)?;
            let device = choose_device(Precision::F64)?;
            pathspace::quantum::preflight::check_dmc_time_step(&problem, &device)?;
            let out = pathspace::quantum::solve::dmc_from_checkpoint_on(&problem, &path, &checkpoint, &device, seed, comm)?;
            if !comm.is_root() {
                return Ok(());
            }
            interrupt::set_phase(Phase::Writing);
            let json = serde_json::to_string_pretty(&out).context("serialising dmc.json")?;
            let written = from.join("dmc.json");
            pathspace::io::write_atomic(&written, json.as_bytes())?;
            interrupt::set_phase(Phase::Other);
            let report = RefCell::new(String::new());
            print_guided(&report, &out.headline, &out.guided, out.reference);
            say!("{}", report.into_inner().trim_end());
            say!("  wall time {:.1} s\n  wrote {}", out.seconds, written.display());
            judge(&file, &out.headline, strict, &written)
        }
        Command::Plot { dir } => {
            let _lock = RunLock::acquire_existing(&dir)?;
            let run = RunFile::read(&dir.join(pathspace::io::hdf5::FILE_NAME))?;
            for f in pathspace::plot::plot_run(&run, &dir)? {
                say!("wrote {}", f.display());
            }
            Ok(())
        }
        Command::Export { dir, format: ExportFormat::Csv } => {
            let _lock = RunLock::acquire_existing(&dir)?;
            let run = RunFile::read(&dir.join(pathspace::io::hdf5::FILE_NAME))?;
            for f in pathspace::io::export::export_csv(&run, &dir.join("csv"))? {
                say!("wrote {}", f.display());
            }
            Ok(())
        }
    }
}

/// `bench integrators`: the weak-error table (or JSON) on stdout, the plot where asked.
fn integrators_command(json: bool, plot: Option<PathBuf>, walkers: Option<usize>) -> Result<()> {
    use pathspace::path::integrators::weak_error;
    if let Some(file) = &plot {
        pathspace::plot::integrators::check_target(file)?;
    }
    let device = choose_device(Precision::F64)?;
    let mut config = weak_error::WeakErrorConfig::default();
    config.walkers = walkers.unwrap_or(config.walkers);
    let report = weak_error::run(&config, &device, &mut |done, all| {
        let _ = write!(std::io::stderr(), "\r{done}/{all} walkers");
    })?;
    note!();
    if json {
        say!("{}", serde_json::to_string(&report)?);
    } else {
        put!("{}", report.table());
    }
    if let Some(file) = plot {
        for f in pathspace::plot::integrators::plot_to(&report, &file)? {
            note!("wrote {}", f.display());
        }
    }
    Ok(())
}

/// `bench scaling`: a line per size on stderr as it is decided, then the table (or one JSON
/// object) on stdout, and the plot where asked.
fn scaling_command(config: &pathspace::bench::scaling::ScalingConfig, json: bool, plot: Option<PathBuf>, f64: bool) -> Result<()> {
    if let Some(file) = &plot {
        pathspace::plot::integrators::check_target(file)?;
    }
    let device = choose_device(if f64 { Precision::F64 } else { Precision::F32 })?;
    let report = pathspace::bench::scaling::run(config, &device, &mut |p| match (&p.result, &p.skipped, &p.failed) {
        (Some(r), _, _) => note!("{} at {} walkers: {:.4} s/iteration ({} repeats), {:.3e} walker-steps/s", p.benchmark, p.walkers, r.seconds_per_iteration, r.repeats, r.walker_steps_per_second),
        (_, Some(why), _) => note!("{} at {} walkers: skipped ({why})", p.benchmark, p.walkers),
        (_, _, Some(why)) => note!("{} at {} walkers: failed ({why})", p.benchmark, p.walkers),
        _ => {}
    })?;
    if json {
        say!("{}", serde_json::to_string(&report)?);
    } else {
        put!("{}", report.table());
    }
    if let Some(file) = plot {
        for f in pathspace::plot::scaling::plot_to(&report, &file)? {
            note!("wrote {}", f.display());
        }
    }
    Ok(())
}

/// `bench mpi`: weak scaling of training and DMC over the ranks of this run (rank 0 prints).
fn mpi_bench_command(json: bool, walkers: Option<usize>, repeats: usize, comm: &dyn Comm) -> Result<()> {
    use pathspace::bench::mpi::{MpiBenchConfig, run};
    let mut config = MpiBenchConfig::standard();
    config.walkers_per_rank = walkers.unwrap_or(config.walkers_per_rank);
    config.repeats = repeats.max(1);
    let result = run(&config, &choose_device(Precision::F32)?, comm)?;
    if comm.is_root() {
        if json {
            say!("{}", serde_json::to_string(&result)?);
        } else {
            put!("{}", result.table());
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn solve_command(file: &Path, seed: Option<u64>, out: Option<PathBuf>, iterations: Option<usize>, f64: bool, resume: Option<PathBuf>, strict: bool, comm: &dyn Comm) -> Result<()> {
    let device = choose_device(if f64 { Precision::F64 } else { Precision::F32 })?;
    let options = RunOptions { out, seed, iterations, resume, show_progress: true };
    let started = |dir: &Path, resume: String| crate::signals::set_run(dir.to_path_buf(), resume);
    let run = match pathspace::quantum::run::run_with(file, &options, &device, comm, &pathspace::plot::plot_run, &started)? {
        RunOutcome::Finished(Some(run)) => run,
        // The other ranks' work ends with the collectives; rank 0 writes and judges.
        RunOutcome::Finished(None) => return Ok(()),
        RunOutcome::Stopped { iteration } => crate::signals::exit_interrupted(interrupt::requested().unwrap_or(2), Some(iteration)),
    };
    crate::signals::finished(&run.dir);
    let (output, files, out) = (&run.output, &run.files, &run.dir);
    say!("{}", print_table(&output.summary, files).trim_end());
    let c = &output.summary.convergence;
    // No training ran (`--iterations 0`, or a resume past the end): nothing to judge.
    if !c.converged && c.iterations_run > 0 {
        let slope = |s: Option<pathspace::stats::Slope>| s.map_or("not fitted".to_string(), |s| format!("{:.2e} ± {:.2e} per iteration", s.slope, s.error));
        note!(
            "warning: training ran its {} iterations without a plateau (energy slope {}, log var E_L slope {}; window {} × {} iterations); summary.json has convergence.converged = false",
            c.iterations_run,
            slope(c.energy_slope),
            slope(c.log_variance_slope),
            c.window,
            c.every
        );
    }
    judge(file, &output.summary.headline, strict, &out.join("summary.json"))
}

/// After all files are written: an error when the run diverged (always) or, with `--strict`,
/// when its headline is not trusted. Both name the problem file and what was written.
fn judge(file: &Path, headline: &pathspace::quantum::solve::Headline, strict: bool, written: &Path) -> Result<()> {
    if let Some(d) = &headline.diverged {
        anyhow::bail!("{}: run diverged: {d} (results in {})", file.display(), written.display());
    }
    if strict && !headline.trusted {
        anyhow::bail!("{}: headline not trusted (--strict): {} (results in {})", file.display(), headline.reasons.join("; "), written.display());
    }
    Ok(())
}

/// The guided estimates and the headline, as lines of the report `out`.
fn print_guided(out: &RefCell<String>, headline: &pathspace::quantum::solve::Headline, guided: &pathspace::quantum::evaluate::GuidedEnergies, reference: Option<f64>) {
    let line = |k: &str, v: String| report_line(out, k, v);
    let diff = |e: f64| reference.map(|r| format!("   ({:+.3} mHa)", 1e3 * (e - r))).unwrap_or_default();
    if let Some(w) = &guided.local_energy {
        line("local energy", format!("{:.6} ± {:.6} Ha{}   (var E_L {:.2e})", w.energy.value, w.energy.error, diff(w.energy.value), w.local_energy_variance));
        if let Some(v) = w.stratonovich {
            line("variational (Strat.)", format!("{:.6} ± {:.6} Ha{}   (∫v∘dX + ∫E_L dt over the same walk, dt = {})", v.value, v.error, diff(v.value), w.dt));
        }
        for r in &w.reweighted {
            let increment = r.increment.map(|i| format!("   increment {:.6} ± {:.6}{}", i.value, i.error, diff(i.value))).unwrap_or_default();
            line(&format!("reweighted T = {}", r.time), format!("{:.6} ± {:.6} Ha{increment}", r.energy.value, r.energy.error));
        }
    }
    if let Some(w) = &guided.local_energy {
        line("", diagnostics(w));
    }
    if let Some(d) = &guided.dmc {
        for w in std::iter::once(&d.at_dt).chain(&d.at_half_dt) {
            line(
                &format!("dmc (dt = {})", w.dt),
                format!(
                    "{:.6} ± {:.6} Ha{}   (uncorrected {:.6} ± {:.6}; {} generations, {})",
                    w.energy.value, w.energy.error, diff(w.energy.value), w.energy_uncorrected.value, w.energy_uncorrected.error, w.generations, w.stopped_by
                ),
            );
            line("", diagnostics(w));
        }
        if let Some(x) = &d.extrapolated {
            let check = d.timestep.map(|c| format!("   (dt − dt/2 {:+.6} ± {:.6}; correction {:.1} σ)", c.difference.value, c.difference.error, c.correction_sigmas)).unwrap_or_default();
            line("dmc (dt → 0)", format!("{:.6} ± {:.6} Ha{}{check}", x.value.value, x.value.error, diff(x.value.value)));
        }
    }
    let uncorrected = headline.uncorrected.map(|u| format!("   (uncorrected {:.6} ± {:.6})", u.value, u.error)).unwrap_or_default();
    line("headline", format!("{:.6} ± {:.6} Ha{}   [{}]{uncorrected}", headline.energy, headline.error, diff(headline.energy), headline.estimator));
    if headline.trusted {
        line("trusted", "yes (every check of docs/energies.md \"When DMC cannot be trusted\" passed)".into());
    } else {
        let _ = writeln!(out.borrow_mut(), "WARNING: the headline energy cannot be trusted: {}", headline.reasons.join("; "));
    }
}

/// One line of a walk's diagnostics (docs/energies.md, "When DMC cannot be trusted").
fn diagnostics(w: &pathspace::quantum::walk::Walk) -> String {
    let blocking = if w.blocking.converged { "converged" } else { "NOT converged" };
    if !w.branching {
        return format!("var E_L {:.3e}, blocking {blocking}, {} generations", w.local_energy_variance, w.generations);
    }
    let acceptance = if w.metropolis { format!(", acceptance {:.4}", w.acceptance) } else { String::new() };
    format!(
        "var E_L {:.3e}, cut off {:.2e} (shift {:+.1e} Ha), capped {:.2e}, killed {:.2e}, population {}..{} mean {:.1} / {}{acceptance}, blocking {blocking}",
        w.local_energy_variance,
        w.clipped_fraction,
        w.clipped_shift,
        w.capped_fraction,
        w.killed_fraction,
        w.population_min,
        w.population_max,
        w.population_mean,
        w.target_population
    )
}

/// One `key  value` line of a report.
fn report_line(out: &RefCell<String>, key: &str, value: String) {
    let _ = writeln!(out.borrow_mut(), "  {key:<24} {value}");
}

/// The terminal report of a `solve` run.
fn print_table(s: &pathspace::quantum::solve::Summary, files: &[PathBuf]) -> String {
    let out = RefCell::new(String::new());
    let line = |k: &str, v: String| report_line(&out, k, v);
    let _ = writeln!(out.borrow_mut(), "{}", s.name);
    line("energy (dt)", format!("{:.6} ± {:.6} Ha   (dt = {}, {})", s.energy, s.energy_error, s.dt, s.integrator));
    if s.ranks > 1 {
        line("ranks", format!("{} (MPI; walkers spread over them, {:.2} s in collectives on rank 0)", s.ranks, s.communication_seconds));
    }
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
    print_guided(&out, &s.headline, &s.guided, s.reference);
    if let Some(c) = s.non_gradient {
        line("non-gradient <|c|^2>", format!("{:.6} ± {:.6} Ha   (<V + |v|^2/2 − E_L> over the local-energy walk)", c.value, c.error));
    }
    line("wall time", format!("{:.1} s (train {:.1} s, eval {:.1} s)", s.wall_seconds, s.train_seconds, s.eval_seconds));
    if s.recoveries > 0 {
        line("NaN recoveries", s.recoveries.to_string());
    }
    let c = &s.convergence;
    match c.iteration {
        Some(i) if c.stopped_on_plateau => line("converged", format!("plateau at iteration {i} of {} (training stopped)", s.iterations)),
        Some(i) => line("converged", format!("plateau at the last monitor point, iteration {i}")),
        None => line("converged", format!("no (no plateau in {} iterations)", c.iterations_run)),
    }
    if let Some(b) = c.second_stage_from {
        line("vmc stage", format!("iterations {b} to {} (variational Monte Carlo after the path-space KL, [vmc] objective)", c.iterations_run));
    }
    for f in files {
        line("wrote", f.display().to_string());
    }
    out.into_inner()
}
