//! Training a chain by minimising the pathwise KL (−ELBO) with Adam: the data splits and
//! batches, the chain a problem describes, the training state ([`ChainTraining`]) and its loop
//! ([`train_chain_from`]), on burn autodiff or the fused latent-SDE engine ([`super::fused`]).

use super::bounds::{elbo, mean_elbo};
use super::chain::{Chain, GaussianStage, SdeStage, Stage};
use super::config::{DataKind, FitProblem, ModelKind};
use super::data::{self, DIGIT_LEVELS, Dataset};
use super::kernels::{FlowConfig, GaussianKernel, GaussianKernelConfig, SdeSegmentConfig, Variance};
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
use std::path::PathBuf;
use std::time::Instant;


/// One row of training.csv. `validation_elbo` is NaN between validations.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CurveRow {
    pub iteration: usize,
    pub train_elbo: f64,
    pub validation_elbo: f64,
    pub learning_rate: f64,
    pub seconds: f64,
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
pub(crate) fn existing_data_file(problem: &FitProblem) -> Result<PathBuf> {
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
pub(crate) fn batch_indices(n: usize, batch: usize, noise: &mut Noise) -> Vec<usize> {
    (0..batch.min(n)).map(|_| ((noise.uniform() * n as f64) as usize).min(n - 1)).collect()
}

pub(crate) fn training_batch(splits: &Splits, batch: usize, noise: &mut Noise, device: &Device) -> Tensor<2> {
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

pub(crate) fn noise_uniform(shape: [usize; 2], noise: &mut Noise, device: &Device) -> Tensor<2> {
    let v: Vec<f64> = (0..shape[0] * shape[1]).map(|_| noise.uniform()).collect();
    Tensor::from_data(burn::tensor::TensorData::new(v, shape), device)
}

pub(crate) fn progress_bar(total: usize, show: bool) -> ProgressBar {
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
pub(crate) fn autodiff(device: &Device) -> Device {
    let mut ad = device.clone().autodiff();
    let _ = ad.configure(device.settings().float_dtype);
    ad
}

/// Streams of a run with `seed`: the validation stream (cloned afresh for every validation, so
/// that validations are comparable and do not depend on when they happen) and the training one.
pub(crate) fn streams(seed: u64) -> (Noise, Noise) {
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

