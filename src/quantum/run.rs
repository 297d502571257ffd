//! A whole `pathspace solve FILE` run with its files: the shared run driver
//! ([`crate::io::run`]: run directory, resume check, lock, checkpoint cadence) around
//! [`solve_with`] (train, evaluate), then every output written ([`crate::quantum::output`]).
//! `fit`'s counterpart is [`crate::latent::fit::run_with`].

use crate::base::error::Result;
use crate::base::interrupt::{self, Phase};
use crate::base::noise::Noise;
use crate::io::run::{RunCheckpoint, RunOptions, RunOutcome, Saver, lock_on_root, run_directory};
use crate::io::training::TrainingRow;
use crate::parallel::Comm;
use crate::quantum::checkpoint::Checkpoint;
use crate::quantum::output::{run_attributes, write_outputs, write_progress};
use crate::quantum::problem::Problem;
use crate::quantum::solve::{Outcome, Overrides, SolveOutput, solve_with};
use crate::quantum::train::TrainState;
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A finished run as rank 0 sees it: the results, the files written and where.
pub struct SolveRun {
    pub output: SolveOutput,
    pub files: Vec<PathBuf>,
    pub dir: PathBuf,
}

/// Runs `file` into its run directory: a checkpoint every `[output] checkpoint_every`
/// iterations, at the end of training and when a stop is requested ([`interrupt::requested`]),
/// the training curve every two seconds, then evaluation and every output file, drawn by
/// `plot` from run.h5's content. `started` is called on rank 0 once the run directory is
/// locked, with it and the command that resumes the run. Every rank runs this; rank 0 alone
/// writes, and only its outcome carries the [`SolveRun`].
pub fn run_with(
    file: &Path,
    options: &RunOptions,
    device: &Device,
    comm: &dyn Comm,
    plot: &dyn Fn(&crate::io::hdf5::RunFile, &Path) -> Result<Vec<PathBuf>>,
    started: &dyn Fn(&Path, String),
) -> Result<RunOutcome<Option<Box<SolveRun>>>> {
    let root = comm.is_root();
    let problem = Problem::load(file)?;
    // Settings that cannot give a trusted headline for this system are refused before training.
    crate::quantum::preflight::check_dmc_time_step(&problem, device)?;
    // A damaged checkpoint is reported before anything in the run directory is touched.
    let checkpoint = match &options.resume {
        Some(dir) => {
            let path = Checkpoint::path_in(dir);
            Some((Checkpoint::read(&path)?, path))
        }
        None => None,
    };
    let out = run_directory(options.resume.as_deref(), options.out.as_deref(), &problem.name);
    let seed = options.seed.unwrap_or(problem.train.seed);
    let total = options.iterations.unwrap_or(problem.train.iterations + problem.vmc.iterations);
    let attributes = run_attributes(&problem, seed);
    let checkpoint_path = Checkpoint::path_in(&out);

    let bar = if root && options.show_progress { ProgressBar::new(total as u64) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} it  E = {msg}  [{elapsed_precise} < {eta_precise}]").expect("valid template"));
    let mut saver = Saver::new(problem.output.checkpoint_every, Some(Duration::from_secs(2)), comm);
    let mut observe = |row: &TrainingRow, state: &TrainState, noise: &Noise| {
        bar.set_position(row.iteration as u64 + 1);
        bar.set_message(format!("{:.5}", row.energy));
        saver.after(
            state.iteration,
            state.last,
            interrupt::requested().is_some(),
            &mut || match Checkpoint::capture_on(comm, &problem.text, seed, state, noise)? {
                Some(c) => c.write(&checkpoint_path),
                None => Ok(()),
            },
            &mut || write_progress(&out, &attributes, &state.rows),
        )
    };
    let _lock = lock_on_root(comm, &out)?;
    if root {
        started(&out, format!("pathspace solve {} --resume {}", file.display(), out.display()));
    }
    interrupt::set_phase(Phase::Training);
    let overrides = Overrides { seed: Some(seed), iterations: options.iterations };
    let resume_from = checkpoint.as_ref().map(|(c, p)| (p.as_path(), c));
    let outcome = solve_with(&problem, device, &overrides, resume_from, &mut observe, comm);
    bar.finish_and_clear();
    if let Some(e) = saver.into_error() {
        return Err(e.context(format!("writing progress to {}", out.display())));
    }
    let mut output = match outcome.map_err(|e| e.context(file.display().to_string()))? {
        Outcome::Stopped { iteration } => return Ok(RunOutcome::Stopped { iteration }),
        // The other ranks' work ends with the collectives; rank 0 writes.
        Outcome::Finished(_) if !root => return Ok(RunOutcome::Finished(None)),
        Outcome::Finished(output) => output,
    };
    // No checkpoint exists when no iteration ran (e.g. --iterations 0).
    let extra: Vec<PathBuf> = std::iter::once(checkpoint_path.clone()).filter(|p| p.exists()).collect();
    interrupt::set_phase(Phase::Writing);
    let files = write_outputs(&out, &attributes, &mut output, &extra, plot).map_err(|e| e.context(format!("writing results to {}", out.display())))?;
    interrupt::set_phase(Phase::Other);
    Ok(RunOutcome::Finished(Some(Box::new(SolveRun { output: *output, files, dir: out }))))
}
