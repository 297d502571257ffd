//! A whole `pathspace fit FILE` run: load data, build the chain (or the mixture), train by
//! minimising the pathwise KL (−ELBO) with Adam, evaluate on the test set (ELBO, IWAE(K),
//! PPCA for digits), write training.csv, summary.json, run.h5 (/training) and the plots.

use super::checkpoint::FitCheckpoint;
use super::bounds::{bits_per_dim, elbo, elbo_per_example, iwae_per_example, mean_and_stderr, mean_elbo, mean_iwae};
use super::record::{FitRecord, Matrix, TestEvaluation};
use super::chain::{Chain, GaussianStage, SdeStage, Stage};
use super::config::{DataKind, FitProblem, ModelKind};
use super::data::{self, DIGIT_LEVELS, Dataset};
use super::kernels::{FlowConfig, GaussianKernel, GaussianKernelConfig, SdeSegmentConfig, Variance};
use super::mixture::{GradientEstimator, Mixture, MixtureConfig, categorical, gradient_moments};
use super::ppca::Ppca;
use super::series::{Gru, SeriesLayout, SeriesStage};
use super::series_data;
use super::diffusion::DiffusionConfig;
use crate::base::layers::{Init, linear};
use super::values;
use crate::base::error::{Error, Result};
use crate::base::noise::Noise;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use crate::base::interrupt::Control;
use burn::tensor::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Kernel width and test points of the σ → 0 check of flow problems.
const GAUSSIAN_LIMIT_SIGMA: f64 = 0.01;
const GAUSSIAN_LIMIT_POINTS: usize = 200;
const GAUSSIAN_LIMIT_PROPOSAL: f64 = 1.0;

/// One row of training.csv. `validation_elbo` is NaN between validations.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CurveRow {
    pub iteration: usize,
    pub train_elbo: f64,
    pub validation_elbo: f64,
    pub learning_rate: f64,
    pub seconds: f64,
}

/// One training method of the mixture problem.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MixtureMethod {
    pub estimator: GradientEstimator,
    pub test_loglik: f64,
    pub test_loglik_stderr: f64,
    /// Mean over test points of log p_model(x) − log p_true(x) (ring data), and its standard error.
    pub test_loglik_minus_true: Option<f64>,
    pub test_loglik_minus_true_stderr: Option<f64>,
    /// Mean over test points of log p_this(x) − log p_exact(x), the model trained by exact
    /// enumeration (paired, so the test set's own spread cancels), and its standard error.
    pub test_loglik_minus_exact: f64,
    pub test_loglik_minus_exact_stderr: f64,
    pub test_elbo: f64,
    pub test_iwae: f64,
    /// Trace of the encoder-gradient covariance (one estimate on a 100-point batch), at the end.
    pub gradient_variance: f64,
    pub train_seconds: f64,
}

/// summary.json of a fit run. Log-likelihoods are nats per test example, higher is better.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FitSummary {
    pub name: String,
    pub model: ModelKind,
    pub data: DataKind,
    pub likelihood: String,
    pub seed: u64,
    pub iterations: usize,
    pub test_examples: usize,
    pub test_elbo: f64,
    pub test_iwae: f64,
    pub iwae_k: usize,
    pub test_bits_per_dim: Option<f64>,
    pub ppca_test_loglik: Option<f64>,
    /// Flow problems: IWAE(K) of the Gaussian-kernel pair around the trained flow with kernel
    /// width σ (the σ → 0 limit of the Gaussian chain) and the flow's exact log-likelihood, both
    /// on the first 200 test points.
    pub gaussian_limit_sigma: Option<f64>,
    pub gaussian_limit_test_iwae: Option<f64>,
    pub gaussian_limit_flow_loglik: Option<f64>,
    /// Mixture problems: the data-generating density's mean test log-likelihood.
    pub true_test_loglik: Option<f64>,
    pub methods: Vec<MixtureMethod>,
    /// Mixture: total variance ratio REINFORCE / NVIL of the encoder gradient.
    pub variance_ratio_reinforce_over_nvil: Option<f64>,
    /// Time series: test ELBO per observed time point (mean over test series) and its standard
    /// error, and the mean number of observed time points per series.
    pub test_elbo_per_observation: Option<f64>,
    pub test_elbo_per_observation_stderr: Option<f64>,
    pub observations_per_series: Option<f64>,
    /// Training wall time per iteration (resumed runs: of this process's part).
    pub seconds_per_iteration: Option<f64>,
    /// What computed the training steps: "fused" ([`crate::latent::fused`]) or "autodiff".
    pub engine: &'static str,
    pub train_seconds: f64,
    pub eval_seconds: f64,
    pub wall_seconds: f64,
    pub files: Vec<String>,
}

/// Train / validation / test data of a problem, and how to draw a training batch.
pub struct Splits {
    pub train: Dataset,
    pub validation: Dataset,
    pub test: Dataset,
    /// Digits: training rows are raw pixel values, dequantised afresh for every batch.
    pub dequantise_train: bool,
    /// Time series: the observation times and dimension of every row.
    pub layout: Option<SeriesLayout>,
}

/// The problem's `[data] file`, which must exist (digits and series problems have one).
fn existing_data_file(problem: &FitProblem) -> Result<PathBuf> {
    let file = problem.data_file().expect("checked when parsing");
    if !file.exists() {
        return Err(Error::Problem {
            path: problem.path.clone(),
            location: "key `data.file`".into(),
            message: format!("no file {} (looked in the working directory, beside the problem file and one folder up)", file.display()),
        });
    }
    Ok(file)
}

pub fn load_splits(problem: &FitProblem) -> Result<Splits> {
    let d = &problem.data;
    Ok(match d.kind {
        DataKind::Digits => {
            let file = existing_data_file(problem)?;
            let all = data::load_digits(&file)?;
            let (train, valid, test) = data::split_digits(&all);
            Splits { train, validation: data::dequantise_fixed(&valid), test: data::dequantise_fixed(&test), dequantise_train: true, layout: None }
        }
        DataKind::Moons | DataKind::Ring => {
            // Fixed data seeds: the same points whatever the run's seed.
            let make = |n: usize, seed: u64| {
                let mut noise = Noise::new(seed);
                if d.kind == DataKind::Moons { data::two_moons(n, d.noise, &mut noise) } else { data::ring(n, d.modes, d.radius, d.noise, d.dims, &mut noise) }
            };
            Splits { train: make(d.train, 11), validation: make(d.test / 2, 12), test: make(d.test, 13), dequantise_train: false, layout: None }
        }
        DataKind::Lorenz | DataKind::Ou => {
            // Fixed data seeds; Lorenz is standardised by the training paths' moments.
            let times = series_data::uniform_times(d.observations, d.duration);
            let make = |n: usize, seed: u64| {
                let mut noise = Noise::new(seed);
                if d.kind == DataKind::Lorenz { series_data::lorenz(n, &times, &mut noise) } else { series_data::ou(n, &times, &mut noise) }
            };
            let mut sets = [make(d.train, 21), make(d.test / 2, 22), make(d.test, 23)];
            if d.kind == DataKind::Lorenz {
                let moments = sets[0].moments();
                sets.iter_mut().for_each(|s| s.standardise(&moments));
            }
            for (s, seed) in sets.iter_mut().zip([24, 25, 26]) {
                s.observe_with_noise(d.noise, &mut Noise::new(seed));
            }
            let [train, validation, test] = sets;
            Splits { layout: Some(train.layout.clone()), train: train.dataset(), validation: validation.dataset(), test: test.dataset(), dequantise_train: false }
        }
        DataKind::Series => {
            let file = existing_data_file(problem)?;
            let (train, validation, test) = series_data::load_csv(&file)?.split();
            Splits { layout: Some(train.layout.clone()), train: train.dataset(), validation: validation.dataset(), test: test.dataset(), dequantise_train: false }
        }
    })
}

/// The chain a problem describes, for `data_dim`-dimensional data.
pub fn build_chain(problem: &FitProblem, data_dim: usize, layout: Option<&SeriesLayout>, noise: &mut Noise, device: &Device) -> Chain {
    let m = &problem.model;
    let kernel = |d_in, d_out, variance, noise: &mut Noise| {
        GaussianKernelConfig { d_in, d_out, hidden: m.hidden, layers: m.layers, variance, log_var_init: 0.0 }.init(noise, device)
    };
    let decoder = |d_in, noise: &mut Noise| {
        GaussianKernelConfig { d_in, d_out: data_dim, hidden: m.hidden, layers: m.layers, variance: m.decoder_variance.unwrap_or(Variance::Network), log_var_init: -3.0 }.init(noise, device)
    };
    let gaussian = |encoder: GaussianKernel, decoder: GaussianKernel| Stage::Gaussian(GaussianStage { encoder, decoder });
    let stages = match m.kind {
        ModelKind::Vae => vec![gaussian(kernel(data_dim, m.latent, Variance::Network, noise), decoder(m.latent, noise))],
        ModelKind::MarkovVae => {
            let mut s = vec![gaussian(kernel(data_dim, m.latent, Variance::Network, noise), decoder(m.latent, noise))];
            for _ in 1..m.steps.max(1) {
                s.push(gaussian(kernel(m.latent, m.latent, Variance::Network, noise), kernel(m.latent, m.latent, Variance::Network, noise)));
            }
            s
        }
        ModelKind::SdeVae => {
            let encoder = kernel(data_dim, m.latent, Variance::Network, noise);
            let segment = SdeSegmentConfig { dim: m.latent, context: data_dim, hidden: m.hidden, steps: m.steps, horizon: m.horizon }.init(noise, device);
            vec![Stage::Sde(SdeStage { encoder, segment, decoder: decoder(m.latent, noise) })]
        }
        ModelKind::Flow => vec![Stage::Flow(FlowConfig { dim: data_dim, layers: m.flow_layers, hidden: m.hidden }.init(noise, device))],
        ModelKind::LatentSde => {
            let layout = layout.expect("latent_sde problems have series data");
            let (h, c, l, d) = (m.hidden, m.context, m.latent, layout.dim);
            let gru = Gru { input: linear(d + 1, 3 * h, true, Init::Uniform, noise, device), hidden: linear(h, 3 * h, true, Init::Uniform, noise, device) };
            let context = linear(h, c, true, Init::Uniform, noise, device);
            let initial = GaussianKernelConfig { d_in: c, d_out: l, hidden: 0, layers: 0, variance: Variance::Network, log_var_init: 0.0 }.init(noise, device);
            // Time enters the drifts as (t − t_0)/(t_{K−1} − t_0): the segment's own horizon is 1.
            let segment = SdeSegmentConfig { dim: l, context: c, hidden: h, steps: 1, horizon: 1.0 }.init(noise, device);
            let decoder = GaussianKernelConfig { d_in: l, d_out: d, hidden: 0, layers: 0, variance: m.decoder_variance.unwrap_or(Variance::PerDim), log_var_init: -2.0 }.init(noise, device);
            vec![Stage::Series(SeriesStage { gru, context, initial, segment, decoder, times: layout.times.clone(), dim: d, dt: m.dt })]
        }
        ModelKind::Diffusion => {
            // Pixels in [0, 1] are modelled as y = 2x − 1 ∈ [−1, 1] (Ho et al. 2020); 2-D data as is.
            let (shift, scale) = if problem.data.kind == DataKind::Digits { (0.5, 0.5) } else { (0.0, 1.0) };
            let config = DiffusionConfig { dim: data_dim, steps: m.steps, hidden: m.hidden, layers: m.layers, shift, scale, train_terms: m.train_terms, continuous: m.continuous };
            vec![Stage::Diffusion(config.init(noise, device))]
        }
        ModelKind::Mixture => unreachable!("mixtures are not chains"),
    };
    Chain { stages }
}

/// Indices of a random minibatch.
fn batch_indices(n: usize, batch: usize, noise: &mut Noise) -> Vec<usize> {
    (0..batch.min(n)).map(|_| ((noise.uniform() * n as f64) as usize).min(n - 1)).collect()
}

fn training_batch(splits: &Splits, batch: usize, noise: &mut Noise, device: &Device) -> Tensor<2> {
    let idx = batch_indices(splits.train.rows, batch, noise);
    if splits.dequantise_train {
        let raw = splits.train.tensor(&idx, device);
        // The dequantisation noise comes from the run's stream too, so a seed fixes the run.
        let u = noise_uniform(raw.dims(), noise, device);
        (raw + u) / DIGIT_LEVELS as f64
    } else {
        splits.train.tensor(&idx, device)
    }
}

fn noise_uniform(shape: [usize; 2], noise: &mut Noise, device: &Device) -> Tensor<2> {
    let v: Vec<f64> = (0..shape[0] * shape[1]).map(|_| noise.uniform()).collect();
    Tensor::from_data(burn::tensor::TensorData::new(v, shape), device)
}

fn progress_bar(total: usize, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} it  {msg}  [{elapsed_precise} < {eta_precise}]").expect("valid template"));
    bar
}

/// A chain's training between two iterations: what a checkpoint holds.
pub struct ChainTraining {
    /// On the autodiff device.
    pub chain: Chain,
    pub optim: ModuleOptimizer,
    /// The training stream: initial weights (drawn before), minibatches, dequantisation, ε.
    pub noise: Noise,
    /// Next iteration to run.
    pub iteration: usize,
    /// Iterations skipped because the ELBO was not finite.
    pub bad_steps: usize,
    pub rows: Vec<CurveRow>,
}

/// The autodiff decorator of `device`, in the same precision.
fn autodiff(device: &Device) -> Device {
    let mut ad = device.clone().autodiff();
    let _ = ad.configure(device.settings().float_dtype);
    ad
}

/// Streams of a run with `seed`: the validation stream (cloned afresh for every validation, so
/// that validations are comparable and do not depend on when they happen) and the training one.
fn streams(seed: u64) -> (Noise, Noise) {
    let mut noise = Noise::new(seed);
    let validation = noise.split();
    (validation, noise)
}

/// The chain of `problem` and a fresh optimiser before iteration 0.
pub fn start_chain(problem: &FitProblem, splits: &Splits, seed: u64, device: &Device) -> ChainTraining {
    let mut noise = streams(seed).1;
    let chain = build_chain(problem, splits.train.dim, splits.layout.as_ref(), &mut noise, &autodiff(device));
    ChainTraining { chain, optim: AdamConfig::new().init(), noise, iteration: 0, bad_steps: 0, rows: Vec::new() }
}

/// A freshly initialised chain of `problem` (the template a checkpoint is loaded into).
pub fn chain_template(problem: &FitProblem, splits: &Splits, device: &Device) -> Chain {
    build_chain(problem, splits.train.dim, splits.layout.as_ref(), &mut Noise::new(0), &autodiff(device))
}

/// Trains a chain; returns it and the curve.
pub fn train_chain(problem: &FitProblem, splits: &Splits, seed: u64, device: &Device, show: bool) -> Result<(Chain, Vec<CurveRow>)> {
    let state = start_chain(problem, splits, seed, device);
    let (state, _) = train_chain_from(problem, splits, seed, state, problem.train.iterations, device, show, &mut |_| Control::Continue)?;
    Ok((state.chain.valid(), state.rows))
}

/// Whether training steps run on the fused CPU engine ([`crate::latent::fused`]): latent SDEs on
/// series, on the CPU, unless `[train] engine = "autodiff"`.
pub fn uses_fused_engine(problem: &FitProblem, device: &Device) -> bool {
    problem.model.kind == ModelKind::LatentSde && problem.train.engine.fused(device)
}

/// Runs iterations `state.iteration..total` of Adam on −ELBO. After every iteration `observe`
/// sees the state (to checkpoint it) and may stop training; returns the state and whether it
/// was stopped. Validation every `validate_every` iterations and at `total`.
#[allow(clippy::too_many_arguments)]
pub fn train_chain_from(
    problem: &FitProblem,
    splits: &Splits,
    seed: u64,
    mut state: ChainTraining,
    total: usize,
    device: &Device,
    show: bool,
    observe: &mut dyn FnMut(&ChainTraining) -> Control,
) -> Result<(ChainTraining, Control)> {
    let t = &problem.train;
    let ad = autodiff(device);
    let validation_noise = streams(seed).0;
    let closed_form = t.closed_form_kl && problem.model.kind == ModelKind::Vae;
    let fused = uses_fused_engine(problem, device);
    let f64_kernels = device.settings().float_dtype == burn::tensor::FloatDType::F64;
    let validation = splits.validation.all(device);
    let bar = progress_bar(total, show);
    bar.set_position(state.iteration as u64);
    let start = Instant::now();
    let offset = state.rows.last().map_or(0.0, |r| r.seconds);
    while state.iteration < total {
        let it = state.iteration;
        state.iteration += 1;
        let lr = t.lr / (1.0 + it as f64 / t.lr_decay);
        let (value, grads) = match (fused, state.chain.stages.as_slice()) {
            (true, [Stage::Series(stage)]) => {
                let x = training_batch(splits, t.batch, &mut state.noise, device);
                let b = x.dims()[0];
                let step = crate::latent::fused::elbo_step(stage, &values(x), b, &mut state.noise, f64_kernels, device);
                (step.log_weights.iter().sum::<f64>() / b as f64, Some(step.grads))
            }
            _ => {
                let x = training_batch(splits, t.batch, &mut state.noise, &ad);
                let objective = elbo(&state.chain, x, &mut state.noise, closed_form).mean();
                let value = objective.clone().into_scalar::<f64>();
                (value, value.is_finite().then(|| GradientsParams::from_grads((-objective).backward(), &state.chain)))
            }
        };
        if let Some(grads) = grads.filter(|_| value.is_finite()) {
            state.chain = state.optim.step(lr, state.chain, grads);
            let validate = (it + 1) % t.validate_every.max(1) == 0 || it + 1 == total;
            let validation_elbo = if validate { mean_elbo(&state.chain.valid(), &validation, 500, &mut validation_noise.clone()) } else { f64::NAN };
            state.rows.push(CurveRow { iteration: it, train_elbo: value, validation_elbo, learning_rate: lr, seconds: offset + start.elapsed().as_secs_f64() });
            if validate {
                bar.set_message(format!("ELBO train {value:.2}  valid {validation_elbo:.2}"));
            }
        } else {
            state.bad_steps += 1;
            if state.bad_steps > 50 {
                return Err(Error::Diverged(format!("{} non-finite ELBO values by iteration {it}", state.bad_steps)));
            }
        }
        bar.set_position(it as u64 + 1);
        if observe(&state) == Control::Stop {
            bar.finish_and_clear();
            return Ok((state, Control::Stop));
        }
    }
    bar.finish_and_clear();
    Ok((state, Control::Continue))
}

/// The Gaussian-kernel model around the flow f of `chain`, as a chain of two stages, data side
/// first: a Gaussian stage y ↔ x with identity means, then the flow stage y ↔ z = f(y).
///
/// Generation: z ~ N(0, I), y = f⁻¹(z), x ~ N(y, σ²I), i.e. the Gaussian kernel
/// p(x | z) = N(x; f⁻¹(z), σ²I), whose likelihood p_σ(x) = ∫ N(x; y, σ²I) p_f(y) dy → p_f(x) as
/// σ → 0 (the flow's density smoothed by a Gaussian of width σ).
/// Inference: y ~ N(x, (cσ)²I), z = f(y): the backward kernel q(z | x) = f_# N(x, (cσ)²I), which
/// for c = 1 is the exact posterior to first order in σ (≈ N(f(x), σ² J Jᵀ), J = ∂f/∂x). Then
/// log w = log p_f(y) exactly, and IWAE(K) = log (1/K) Σ_k p_f(x + σ ε_k) → log p_σ(x) with
/// importance weights whose spread vanishes with σ. (A proposal N(f(x), (cσ)²I) in z-space
/// ignores J: with c ≫ 1 or anisotropic J its weights vary strongly, and IWAE(1000) then stays
/// visibly below log p_σ — see docs/latent.md.)
pub fn gaussian_limit(chain: &Chain, sigma: f64, proposal_scale: f64, dim: usize, device: &Device) -> Option<Chain> {
    match chain.stages.as_slice() {
        [Stage::Flow(f)] => Some(Chain {
            stages: vec![
                Stage::Gaussian(GaussianStage {
                    encoder: GaussianKernel::identity(dim, proposal_scale * sigma, device),
                    decoder: GaussianKernel::identity(dim, sigma, device),
                }),
                Stage::Flow(f.clone()),
            ],
        }),
        _ => None,
    }
}

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

/// The training curve as CSV (`training.csv`, or one file per mixture method).
fn write_curves(out: &Path, file_name: &str, rows: &[CurveRow]) -> Result<Vec<PathBuf>> {
    let mut s = String::from("iteration,train_elbo,validation_elbo,learning_rate,seconds\n");
    for r in rows {
        let v = if r.validation_elbo.is_finite() { format!("{:.6}", r.validation_elbo) } else { String::new() };
        s.push_str(&format!("{},{:.6},{},{:.3e},{:.3}\n", r.iteration, r.train_elbo, v, r.learning_rate, r.seconds));
    }
    let path = out.join(file_name);
    crate::io::write_atomic(&path, s.as_bytes())?;
    Ok(vec![path])
}

/// Generated samples (digits: 100 decoder means of p(x | z); 2-D data: 2000 draws) and the test
/// points in latent space (encoder means of the first stage; a flow: z = f(x)).
fn chain_record(chain: &Chain, splits: &Splits, evaluation: TestEvaluation, elbo_per_observation: Option<(f64, f64)>, noise: &mut Noise, device: &Device) -> FitRecord {
    let dim = splits.test.dim;
    let test = splits.test.all(device);
    let matrix = |t: Tensor<2>| {
        let [rows, cols] = t.dims();
        Matrix { rows, cols, values: values(t) }
    };
    let digits = splits.dequantise_train;
    let n = if digits { 100 } else if splits.layout.is_some() { 256 } else { 2000 };
    let samples = matrix(chain.sample(n, dim, digits, noise, device));
    let samples_description = if digits {
        "decoder means E[x | z] of p(x | z), z from the generative chain; pixels on the dequantised [0, 1] scale"
    } else if splits.layout.is_some() {
        "series x ~ p(x) from the prior SDE and the decoder, in the data layout (x_k, m_k = 1) per observation time"
    } else {
        "draws x ~ p(x) from the generative chain (flow: x = f⁻¹(z), z ~ N(0, I))"
    };
    let (latent, latent_description) = match &chain.stages[0] {
        Stage::Gaussian(GaussianStage { encoder, .. }) | Stage::Sde(SdeStage { encoder, .. }) => (matrix(encoder.forward(test.clone()).0), "encoder means μ_q(x) of the test points (first stage)"),
        Stage::Flow(f) => (matrix(f.forward(test.clone()).0), "z = f(x) of the test points"),
        Stage::Series(s) => (matrix(s.initial.forward(s.contexts(&test)[0].clone()).0), "means of q(z_0 | x) of the test series"),
        Stage::Diffusion(d) => (matrix(d.to_model(test.clone())), "the test points on the model scale y_0 = (x − shift)/scale (a diffusion's latent path starts there)"),
    };
    let series = match &chain.stages[0] {
        Stage::Series(s) => Some(s.record(&test, 8, 16, 64, elbo_per_observation.unwrap_or((f64::NAN, f64::NAN)), noise)),
        _ => None,
    };
    FitRecord { evaluation, samples, samples_description: samples_description.into(), latent, latent_description: latent_description.into(), labels: splits.test.labels.clone(), series }
}

/// run.h5 with the crate's layout: root attributes and /training (loss = −train ELBO,
/// energy = validation ELBO where measured, else NaN), and the record's groups.
fn write_h5(out: &Path, problem: &FitProblem, seed: u64, rows: &[CurveRow], record: Option<&FitRecord>) -> Result<PathBuf> {
    let attributes = crate::io::hdf5::RunAttributes {
        problem: problem.text.clone(),
        seed,
        pathspace_version: env!("CARGO_PKG_VERSION").to_string(),
        integrator: if problem.model.kind == ModelKind::SdeVae { "euler_maruyama".into() } else { "none".into() },
        dt: if problem.model.kind == ModelKind::SdeVae { problem.model.horizon / problem.model.steps.max(1) as f64 } else { 0.0 },
        created: crate::io::hdf5::iso_now(),
    };
    let training = rows
        .iter()
        .map(|r| crate::io::training::TrainingRow { iteration: r.iteration, loss: -r.train_elbo, energy: r.validation_elbo, learning_rate: r.learning_rate, seconds: r.seconds })
        .collect();
    let run = crate::io::hdf5::RunFile { attributes, training, paths: None, evaluation: None, estimates: None, slice: None };
    let path = out.join(crate::io::hdf5::FILE_NAME);
    run.write_with(&path, &|b| {
        if let Some(r) = record {
            r.add_to(b);
        }
    })?;
    Ok(path)
}

fn write_summary(out: &Path, summary: &mut FitSummary, files: &[PathBuf]) -> Result<PathBuf> {
    let json = out.join("summary.json");
    summary.files = files.iter().chain(std::iter::once(&json)).map(|p| p.display().to_string()).collect();
    let text = serde_json::to_string_pretty(summary).map_err(|e| Error::Write { path: json.clone(), message: e.to_string() })?;
    crate::io::write_atomic(&json, text.as_bytes())?;
    Ok(json)
}

/// Log-density of the ring's generating mixture (uniform weights, isotropic sd, any dimension).
fn ring_log_density(x: &[f64], modes: usize, radius: f64, sd: f64) -> f64 {
    let rest: f64 = x[2..].iter().map(|v| v * v).sum();
    let norm = 0.5 * x.len() as f64 * (2.0 * std::f64::consts::PI * sd * sd).ln();
    let terms: Vec<f64> = (0..modes)
        .map(|c| {
            let a = 2.0 * std::f64::consts::PI * c as f64 / modes as f64;
            let r2 = (x[0] - radius * a.cos()).powi(2) + (x[1] - radius * a.sin()).powi(2) + rest;
            -(modes as f64).ln() - r2 / (2.0 * sd * sd) - norm
        })
        .collect();
    let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()
}

/// Trains a mixture with one estimator.
pub fn train_mixture(problem: &FitProblem, splits: &Splits, estimator: GradientEstimator, seed: u64, device: &Device, show: bool) -> (Mixture, Vec<CurveRow>) {
    let t = &problem.train;
    let mut ad = device.clone().autodiff();
    let _ = ad.configure(device.settings().float_dtype);
    let mut noise = Noise::new(seed);
    let cfg = MixtureConfig { components: problem.model.components, dim: splits.train.dim, hidden: problem.model.hidden };
    let mut model = cfg.init(&splits.train.values, &mut noise, &ad);
    let mut optim = AdamConfig::new().init();
    let validation = splits.validation.all(device);
    let bar = progress_bar(t.iterations, show);
    bar.set_prefix(estimator.name());
    let start = Instant::now();
    let mut rows = Vec::new();
    for it in 0..t.iterations {
        let lr = t.lr / (1.0 + it as f64 / t.lr_decay);
        let x = splits.train.tensor(&batch_indices(splits.train.rows, t.batch, &mut noise), &ad);
        let step = model.step(x, estimator, &mut noise);
        let grads = GradientsParams::from_grads(step.loss.backward(), &model);
        model = optim.step(lr, model, grads);
        let validate = (it + 1) % t.validate_every.max(1) == 0 || it + 1 == t.iterations;
        let validation_elbo = if validate { values(model.valid().exact_elbo(validation.clone())).iter().sum::<f64>() / validation.dims()[0] as f64 } else { f64::NAN };
        rows.push(CurveRow { iteration: it, train_elbo: step.elbo, validation_elbo, learning_rate: lr, seconds: start.elapsed().as_secs_f64() });
        bar.set_position(it as u64 + 1);
        if validate {
            bar.set_message(format!("{}: ELBO valid {validation_elbo:.3}", estimator.name()));
        }
    }
    bar.finish_and_clear();
    (model, rows)
}

/// IWAE(K) of a mixture with q(c|x) as proposal, per example.
fn mixture_iwae(model: &Mixture, x: Tensor<2>, k: usize, noise: &mut Noise) -> Vec<f64> {
    let lj = values(model.log_joint(x.clone()));
    let lq = values(model.log_posterior(x));
    let c = model.logits.val().dims()[0];
    lj.chunks(c)
        .zip(lq.chunks(c))
        .map(|(lj, lq)| {
            let probs: Vec<f64> = lq.iter().map(|l| l.exp()).collect();
            let lw: Vec<f64> = (0..k)
                .map(|_| {
                    let j = categorical(&probs, noise.uniform());
                    lj[j] - lq[j]
                })
                .collect();
            let m = lw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            m + (lw.iter().map(|v| (v - m).exp()).sum::<f64>() / k as f64).ln()
        })
        .collect()
}


fn run_mixture(problem: &FitProblem, splits: &Splits, out: &Path, seed: u64, device: &Device, show: bool, wall: Instant) -> Result<(FitSummary, Vec<PathBuf>)> {
    let test = splits.test.all(device);
    let k = problem.eval.iwae_k;
    let d = &problem.data;
    let true_ll: Option<Vec<f64>> = (d.kind == DataKind::Ring).then(|| (0..splits.test.rows).map(|i| ring_log_density(splits.test.row(i), d.modes, d.radius, d.noise)).collect());
    let mut methods = Vec::new();
    let mut files = Vec::new();
    let mut noise = Noise::new(seed ^ 0xE7A1);
    let mut trained = Vec::new();
    // GradientEstimator::ALL starts with Exact: its per-point log-likelihoods are the paired reference,
    // its per-point bounds and curve go to run.h5.
    let mut exact_per_point: Option<Vec<f64>> = None;
    let mut exact_record: Option<(Vec<f64>, Vec<f64>, Vec<CurveRow>)> = None;
    let (mut train_seconds, mut eval_seconds) = (0.0, 0.0);
    for estimator in GradientEstimator::ALL {
        let t0 = Instant::now();
        let (trained_model, rows) = train_mixture(problem, splits, estimator, seed, device, show);
        let seconds = t0.elapsed().as_secs_f64();
        let model = trained_model.valid();
        train_seconds += seconds;
        let e0 = Instant::now();
        let per_point = values(model.log_marginal(test.clone()));
        let (test_loglik, test_loglik_stderr) = mean_and_stderr(&per_point);
        let paired = |reference: &[f64]| mean_and_stderr(&per_point.iter().zip(reference).map(|(a, b)| a - b).collect::<Vec<_>>());
        let difference = true_ll.as_deref().map(paired);
        let exact_per_point = exact_per_point.get_or_insert_with(|| per_point.clone());
        let versus_exact = paired(exact_per_point);
        let elbo_points = values(model.exact_elbo(test.clone()));
        let iwae_points = mixture_iwae(&model, test.clone(), k, &mut noise);
        let (test_elbo, test_iwae) = (mean_and_stderr(&elbo_points).0, mean_and_stderr(&iwae_points).0);
        if estimator == GradientEstimator::Exact {
            exact_record = Some((elbo_points, iwae_points, rows.clone()));
        }
        methods.push(MixtureMethod {
            estimator,
            test_loglik,
            test_loglik_stderr,
            test_loglik_minus_true: difference.map(|d| d.0),
            test_loglik_minus_true_stderr: difference.map(|d| d.1),
            test_loglik_minus_exact: versus_exact.0,
            test_loglik_minus_exact_stderr: versus_exact.1,
            test_elbo, test_iwae, gradient_variance: f64::NAN, train_seconds: seconds });
        eval_seconds += e0.elapsed().as_secs_f64();
        files.extend(write_curves(out, &format!("training_{}.csv", estimator.name()), &rows)?);
        trained.push(trained_model);
    }
    // Gradient variance of the three estimators at the NVIL-trained model (its baseline fitted).
    let e0 = Instant::now();
    let ad = {
        let mut d = device.clone().autodiff();
        let _ = d.configure(device.settings().float_dtype);
        d
    };
    let nvil_model = trained[2].clone();
    let idx: Vec<usize> = (0..100.min(splits.test.rows)).collect();
    let xb = splits.test.tensor(&idx, &ad);
    let nvil_model = super::mixture::fit_baseline(nvil_model, &xb, 200, 1e-2, &mut noise);
    for (i, estimator) in GradientEstimator::ALL.iter().enumerate() {
        methods[i].gradient_variance = gradient_moments(&nvil_model, &xb, *estimator, problem.eval.gradient_repeats, &mut noise).total_variance();
    }
    eval_seconds += e0.elapsed().as_secs_f64();
    let true_ll = true_ll.map(|t| t.iter().sum::<f64>() / t.len() as f64);
    files.extend(super::plot::mixture_plots(out, &trained[2].valid(), splits, device)?);
    let mut summary = FitSummary {
        name: problem.name.clone(),
        model: ModelKind::Mixture,
        data: problem.data.kind,
        likelihood: "Gaussian mixture; test_elbo/test_iwae of the exactly trained model, per-method values in `methods`".into(),
        seed,
        iterations: problem.train.iterations,
        test_examples: splits.test.rows,
        test_elbo: methods[0].test_elbo,
        test_iwae: methods[0].test_iwae,
        iwae_k: k,
        test_bits_per_dim: None,
        ppca_test_loglik: None,
        gaussian_limit_sigma: None,
        gaussian_limit_test_iwae: None,
        gaussian_limit_flow_loglik: None,
        true_test_loglik: true_ll,
        variance_ratio_reinforce_over_nvil: Some(methods[1].gradient_variance / methods[2].gradient_variance),
        methods,
        test_elbo_per_observation: None,
        test_elbo_per_observation_stderr: None,
        observations_per_series: None,
        seconds_per_iteration: None,
        engine: "autodiff",
        train_seconds,
        eval_seconds,
        wall_seconds: 0.0,
        files: Vec::new(),
    };
    let (elbo, iwae, rows) = exact_record.expect("GradientEstimator::ALL starts with Exact");
    let mut extra: Vec<(String, f64)> = summary.true_test_loglik.map(|t| ("true_test_loglik".to_string(), t)).into_iter().collect();
    extra.extend(summary.variance_ratio_reinforce_over_nvil.map(|r| ("variance_ratio_reinforce_over_nvil".to_string(), r)));
    for m in &summary.methods {
        let name = m.estimator.name();
        for (what, v) in [
            ("test_loglik", m.test_loglik),
            ("test_loglik_error", m.test_loglik_stderr),
            ("test_loglik_minus_exact", m.test_loglik_minus_exact),
            ("test_loglik_minus_exact_error", m.test_loglik_minus_exact_stderr),
            ("gradient_variance", m.gradient_variance),
        ] {
            extra.push((format!("{name}_{what}"), v));
        }
    }
    let exact = trained[0].valid();
    let posterior = exact.log_posterior(test).exp();
    let [rows_q, components] = posterior.dims();
    let record = FitRecord {
        evaluation: TestEvaluation { elbo, iwae, iwae_k: k, extra },
        samples: Matrix { rows: 2000, cols: splits.test.dim, values: exact.sample(2000, &mut Noise::new(seed ^ 0x5A3F)) },
        samples_description: "draws x ~ p(x) of the mixture trained by exact enumeration".into(),
        latent: Matrix { rows: rows_q, cols: components, values: values(posterior) },
        latent_description: "E_q[one-hot c] = q(c | x) of the test points, model trained by exact enumeration".into(),
        labels: splits.test.labels.clone(),
        series: None,
    };
    files.push(write_h5(out, problem, seed, &rows, Some(&record))?);
    summary.wall_seconds = wall.elapsed().as_secs_f64();
    files.push(write_summary(out, &mut summary, &files)?);
    Ok((summary, files))
}
