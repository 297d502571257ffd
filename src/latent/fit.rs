//! A whole `pathspace fit FILE` run: load data, build the chain (or the mixture), train by
//! minimising the pathwise KL (−ELBO) with Adam, evaluate on the test set (ELBO, IWAE(K),
//! PPCA for digits), write training.csv, summary.json, run.h5 (/training) and the plots.

use super::checkpoint::FitCheckpoint;
use super::bounds::{bits_per_dim, elbo_per_example, iwae_per_example, mean_and_stderr, mean_elbo, mean_iwae};
use super::record::TestEvaluation;
use super::chain::Stage;
use super::config::{DataKind, FitProblem, ModelKind};
use super::data::{self, DIGIT_LEVELS};
use super::ppca::Ppca;
use super::series_data;
use super::values;
use crate::base::error::{Error, Result};
use crate::base::noise::Noise;
use burn::module::Module;
use crate::base::interrupt::Control;
use burn::tensor::Device;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::train::*;
use super::output::*;
use super::mixture_fit::run_mixture;

/// Kernel width and test points of the σ → 0 check of flow problems.
pub(crate) const GAUSSIAN_LIMIT_SIGMA: f64 = 0.01;
pub(crate) const GAUSSIAN_LIMIT_POINTS: usize = 200;
pub(crate) const GAUSSIAN_LIMIT_PROPOSAL: f64 = 1.0;

/// Command-line choices of a `fit` run.
#[derive(Debug, Clone, Default)]
pub struct FitOptions {
    /// Output directory (default runs/<name>/; with `resume`, the resumed directory).
    pub out: Option<PathBuf>,
    pub seed: Option<u64>,
    /// Train this many iterations in all instead of `[train] iterations`.
    pub iterations: Option<usize>,
    /// Continue the run in this directory from its checkpoint.bin.
    pub resume: Option<PathBuf>,
    pub show_progress: bool,
}

/// How a `fit` run ended.
pub enum FitOutcome {
    Finished(Box<FitSummary>, Vec<PathBuf>),
    /// `stop` asked training to stop before `iteration`; the checkpoint is written.
    Stopped { iteration: usize, checkpoint: PathBuf },
}

/// Runs a problem file end to end into `out` (default runs/<name>/).
pub fn run(file: &Path, out: Option<PathBuf>, seed: Option<u64>, device: &Device, show_progress: bool) -> Result<(FitSummary, Vec<PathBuf>)> {
    let options = FitOptions { out, seed, show_progress, ..FitOptions::default() };
    match run_with(file, &options, device, &|| false, &|| {})? {
        FitOutcome::Finished(summary, files) => Ok((*summary, files)),
        FitOutcome::Stopped { iteration, .. } => Err(Error::Other(format!("training stopped at iteration {iteration}"))),
    }
}

/// [`run`] with a checkpoint every `[train] checkpoint_every` iterations (chains), resuming from
/// one, and a `stop` flag polled after every iteration (a stopped run writes its checkpoint and
/// training.csv and returns [`FitOutcome::Stopped`]). `training_over` is called when no more
/// training iteration will run (a signal handler may then end the process at once).
pub fn run_with(file: &Path, options: &FitOptions, device: &Device, stop: &dyn Fn() -> bool, training_over: &dyn Fn()) -> Result<FitOutcome> {
    let wall = Instant::now();
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
            let mismatch = |field: &str, message: String| Error::Format { path: path.clone(), field: field.into(), message };
            if c.problem_text != problem.text {
                return Err(mismatch("problem", format!("written for a different problem file than {}", file.display())));
            }
            if c.seed != seed {
                return Err(mismatch("seed", format!("written with seed {}, this run uses seed {seed}", c.seed)));
            }
            Some((c, path))
        }
        None => None,
    };
    let splits = load_splits(&problem)?;
    let out = options.resume.clone().or(options.out.clone()).unwrap_or_else(|| PathBuf::from("runs").join(&problem.name));
    let _lock = crate::io::lock::RunLock::acquire(&out)?;
    if problem.model.kind == ModelKind::Mixture {
        training_over();
        let (summary, files) = run_mixture(&problem, &splits, &out, seed, device, options.show_progress, wall)?;
        return Ok(FitOutcome::Finished(Box::new(summary), files));
    }
    let train_start = Instant::now();
    let total = options.iterations.unwrap_or(problem.train.iterations);
    let state = match &checkpoint {
        Some((c, path)) => c.into_training(path, chain_template(&problem, &splits, device))?,
        None => start_chain(&problem, &splits, seed, device),
    };
    let checkpoint_path = FitCheckpoint::path_in(&out);
    let every = problem.train.checkpoint_every;
    let mut write_error = None;
    let mut observe = |state: &ChainTraining| {
        let stopping = stop();
        if state.iteration.is_multiple_of(every) || state.iteration >= total || stopping {
            let written = FitCheckpoint::capture(&problem.text, seed, state)
                .and_then(|c| c.write(&checkpoint_path))
                .and_then(|_| write_curves(&out, "training.csv", &state.rows));
            if let Err(e) = written {
                write_error = Some(e);
                return Control::Stop;
            }
        }
        if stopping { Control::Stop } else { Control::Continue }
    };
    let trained = train_chain_from(&problem, &splits, seed, state, total, device, options.show_progress, &mut observe);
    training_over();
    if let Some(e) = write_error {
        return Err(e);
    }
    let (state, control) = trained?;
    if control == Control::Stop {
        return Ok(FitOutcome::Stopped { iteration: state.iteration, checkpoint: checkpoint_path });
    }
    let (chain, rows) = (state.chain.valid(), state.rows);
    let train_seconds = train_start.elapsed().as_secs_f64();
    let eval_start = Instant::now();
    let mut noise = Noise::new(seed ^ 0xE7A1);
    let test = splits.test.all(device);
    let k = problem.eval.iwae_k;
    let elbos = elbo_per_example(&chain, &test, 500, &mut noise);
    // A deterministic chain has one possible latent per x: every importance weight is the same
    // and IWAE(K) equals the exact log-likelihood, so it is not resampled.
    let deterministic = chain.stages.iter().all(|s| matches!(s, Stage::Flow(_)));
    // A continuous-time diffusion has no exact path log-ratio: no IWAE (NaN, null in JSON).
    let continuous = matches!(chain.stages.as_slice(), [Stage::Diffusion(d)] if d.continuous);
    let iwaes = if deterministic {
        elbos.clone()
    } else if continuous {
        vec![f64::NAN; elbos.len()]
    } else {
        iwae_per_example(&chain, &test, k, 40, &mut noise)
    };
    let (test_elbo, test_iwae) = (mean_and_stderr(&elbos).0, mean_and_stderr(&iwaes).0);
    // Time series: ELBO per observed time point of each test series, then its mean and error.
    let per_observation = match &chain.stages[0] {
        Stage::Series(stage) => {
            let counts = values(stage.observed(&test));
            let per: Vec<f64> = elbos.iter().zip(&counts).map(|(e, n)| e / n.max(1.0)).collect();
            Some((mean_and_stderr(&per), counts.iter().sum::<f64>() / counts.len() as f64))
        }
        _ => None,
    };
    let digits = problem.data.kind == DataKind::Digits;
    let ppca_test_loglik = digits.then(|| Ppca::fit(&data::dequantise_fixed(&splits.train), problem.model.latent).mean_log_likelihood(&splits.test));
    // The σ → 0 check on the first GAUSSIAN_LIMIT_POINTS test points (IWAE(K) is K flow passes).
    let subset = test.clone().narrow(0, 0, GAUSSIAN_LIMIT_POINTS.min(splits.test.rows));
    let gaussian_limit_test_iwae = gaussian_limit(&chain, GAUSSIAN_LIMIT_SIGMA, GAUSSIAN_LIMIT_PROPOSAL, splits.test.dim, device).map(|g| mean_iwae(&g, &subset, k, 50, &mut noise));
    let gaussian_limit_flow_loglik = gaussian_limit_test_iwae.map(|_| mean_elbo(&chain, &subset, 500, &mut noise));
    let eval_seconds = eval_start.elapsed().as_secs_f64();
    let mut summary = FitSummary {
        name: problem.name.clone(),
        model: problem.model.kind,
        data: problem.data.kind,
        likelihood: if digits {
            "Gaussian p(x|z) on uniformly dequantised pixels x = (v + u)/17, u ~ U[0,1); nats per example".into()
        } else if problem.model.kind == ModelKind::Diffusion {
            "ELBO of the denoising chain (T Gaussian steps, fixed cosine noising); test_elbo sums all T Rao–Blackwellised terms, test_iwae uses whole backward paths".into()
        } else if problem.model.kind == ModelKind::Flow {
            "exact flow density; test_elbo and test_iwae equal the exact log-likelihood (deterministic chain)".into()
        } else {
            "Gaussian".into()
        },
        seed,
        iterations: rows.len(),
        test_examples: splits.test.rows,
        test_elbo,
        test_iwae,
        iwae_k: k,
        test_bits_per_dim: digits.then(|| bits_per_dim(test_iwae, splits.test.dim, DIGIT_LEVELS)),
        ppca_test_loglik,
        gaussian_limit_sigma: gaussian_limit_test_iwae.map(|_| GAUSSIAN_LIMIT_SIGMA),
        gaussian_limit_test_iwae,
        gaussian_limit_flow_loglik,
        true_test_loglik: None,
        methods: Vec::new(),
        variance_ratio_reinforce_over_nvil: None,
        test_elbo_per_observation: per_observation.map(|p| p.0.0),
        test_elbo_per_observation_stderr: per_observation.map(|p| p.0.1),
        observations_per_series: per_observation.map(|p| p.1),
        seconds_per_iteration: Some(train_seconds / rows.len().max(1) as f64),
        engine: if uses_fused_engine(&problem, device) { "fused" } else { "autodiff" },
        train_seconds,
        eval_seconds,
        wall_seconds: 0.0,
        files: Vec::new(),
    };
    let extra: Vec<(String, f64)> = [
        ("ppca_test_loglik", summary.ppca_test_loglik),
        ("test_bits_per_dim", summary.test_bits_per_dim),
        ("gaussian_limit_sigma", summary.gaussian_limit_sigma),
        ("gaussian_limit_test_iwae", summary.gaussian_limit_test_iwae),
        ("gaussian_limit_flow_loglik", summary.gaussian_limit_flow_loglik),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.map(|v| (name.to_string(), v)))
    .collect();
    let record = chain_record(&chain, &splits, TestEvaluation { elbo: elbos, iwae: iwaes, iwae_k: k, extra }, per_observation.map(|p| p.0), &mut noise, device);
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
    Ok(FitOutcome::Finished(Box::new(summary), files))
}

