//! A whole `pathspace fit FILE` run: the shared run driver ([`crate::io::run`]: run
//! directory, resume check, lock, checkpoint cadence) around training a chain
//! ([`super::train`]) or the mixture methods ([`super::mixture_fit`]), the test-set evaluation
//! ([`super::evaluate`]), then training.csv, summary.json, run.h5 and the plots
//! ([`super::output`], [`super::plot`]). `solve`'s counterpart is [`crate::quantum::run`].

use super::checkpoint::FitCheckpoint;
use super::config::{FitProblem, ModelKind};
use super::evaluate::evaluate;
use super::mixture_fit::run_mixture;
use super::output::{FitSummary, write_curves, write_h5, write_summary};
use super::series_data;
use super::train::{chain_template, load_splits, start_chain, train_chain_from};
use crate::base::error::{Error, Result};
use crate::base::interrupt::{self, Phase};
use crate::io::run::{RunCheckpoint, RunOptions, RunOutcome, Saver, check_checkpoint, lock_on_root, run_directory};
use crate::parallel::Single;
use burn::module::Module;
use burn::tensor::Device;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A finished `fit` run: its summary, the files written and where.
pub struct FitRun {
    pub summary: FitSummary,
    pub files: Vec<PathBuf>,
    pub dir: PathBuf,
}

/// Runs a problem file end to end into `out` (default runs/<name>/).
pub fn run(file: &Path, out: Option<PathBuf>, seed: Option<u64>, device: &Device, show_progress: bool) -> Result<(FitSummary, Vec<PathBuf>)> {
    let options = RunOptions { out, seed, show_progress, ..RunOptions::default() };
    match run_with(file, &options, device, &|_, _| {})? {
        RunOutcome::Finished(run) => Ok((run.summary, run.files)),
        RunOutcome::Stopped { iteration } => Err(Error::Other(format!("training stopped at iteration {iteration}"))),
    }
}

/// [`run`] with a checkpoint every `[train] checkpoint_every` iterations (chains), resuming from
/// one, and a stop when one is requested ([`interrupt::requested`], polled after every
/// iteration: a stopped run writes its checkpoint and training.csv and returns
/// [`RunOutcome::Stopped`]). `started` is called once the run directory is locked, with it and
/// the command that resumes the run.
pub fn run_with(file: &Path, options: &RunOptions, device: &Device, started: &dyn Fn(&Path, String)) -> Result<RunOutcome<Box<FitRun>>> {
    let wall = Instant::now();
    interrupt::set_phase(Phase::Training);
    let problem = FitProblem::load(file)?;
    let seed = options.seed.unwrap_or(problem.train.seed);
    // A damaged or mismatched checkpoint is reported before anything is trained or written.
    let checkpoint = match &options.resume {
        Some(dir) => {
            let path = FitCheckpoint::path_in(dir);
            if problem.model.kind == ModelKind::Mixture {
                return Err(Error::Problem { path: problem.path.clone(), location: "model.kind".into(), message: "mixture runs keep no checkpoint (they train in seconds); run them again without --resume".into() });
            }
            let c = FitCheckpoint::read(&path)?;
            check_checkpoint(&path, &c, file, &problem.text, seed)?;
            Some((c, path))
        }
        None => None,
    };
    let splits = load_splits(&problem)?;
    let out = run_directory(options.resume.as_deref(), options.out.as_deref(), &problem.name);
    let _lock = lock_on_root(&Single, &out)?;
    started(&out, format!("pathspace fit {} --resume {}", file.display(), out.display()));
    if problem.model.kind == ModelKind::Mixture {
        interrupt::set_phase(Phase::Evaluation);
        let (summary, files) = run_mixture(&problem, &splits, &out, seed, device, options.show_progress, wall)?;
        interrupt::set_phase(Phase::Other);
        return Ok(RunOutcome::Finished(Box::new(FitRun { summary, files, dir: out })));
    }
    let train_start = Instant::now();
    let total = options.iterations.unwrap_or(problem.train.iterations);
    let state = match &checkpoint {
        Some((c, path)) => c.into_training(path, chain_template(&problem, &splits, device))?,
        None => start_chain(&problem, &splits, seed, device),
    };
    let checkpoint_path = FitCheckpoint::path_in(&out);
    let mut saver = Saver::new(problem.train.checkpoint_every, None, &Single);
    let mut observe = |state: &super::train::ChainTraining| {
        saver.after(
            state.iteration,
            state.iteration >= total,
            interrupt::requested().is_some(),
            &mut || FitCheckpoint::capture(&problem.text, seed, state).and_then(|c| c.write(&checkpoint_path)),
            &mut || write_curves(&out, "training.csv", &state.rows).map(|_| ()),
        )
    };
    let trained = train_chain_from(&problem, &splits, seed, state, total, device, options.show_progress, &mut observe);
    if let Some(e) = saver.into_error() {
        return Err(e);
    }
    let (state, control) = trained?;
    if control == crate::base::interrupt::Control::Stop {
        // Still in the training phase: the interruption is reported as one during training.
        return Ok(RunOutcome::Stopped { iteration: state.iteration });
    }
    interrupt::set_phase(Phase::Evaluation);
    let (chain, rows) = (state.chain.valid(), state.rows);
    let train_seconds = train_start.elapsed().as_secs_f64();
    let (mut summary, record) = evaluate(&problem, &splits, &chain, rows.len(), train_seconds, seed, device);
    let mut files = write_curves(&out, "training.csv", &rows)?;
    if let Some(layout) = &splits.layout {
        // The series as fitted (generated ones standardised and noisy), for peers and analysis.
        for (name, set) in [("series_train.csv", &splits.train), ("series_test.csv", &splits.test)] {
            let path = out.join(name);
            crate::io::write_atomic(&path, series_data::to_csv(&series_data::from_dataset(set, layout)).as_bytes())?;
            files.push(path);
        }
    }
    files.push(write_h5(&out, &problem, seed, &rows, Some(&record))?);
    files.push(super::plot::curves(&out, &rows)?);
    files.extend(super::plot::chain_plots(&out, &record, &splits, &problem)?);
    if checkpoint_path.exists() {
        files.push(checkpoint_path);
    }
    summary.wall_seconds = wall.elapsed().as_secs_f64();
    files.push(write_summary(&out, &mut summary, &files)?);
    interrupt::set_phase(Phase::Other);
    Ok(RunOutcome::Finished(Box::new(FitRun { summary, files, dir: out })))
}

