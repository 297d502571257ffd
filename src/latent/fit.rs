//! A whole `pathspace fit FILE` run: load data, build the chain (or the mixture), train by
//! minimising the pathwise KL (−ELBO) with Adam, evaluate on the test set (ELBO, IWAE(K),
//! PPCA for digits), write training.csv, summary.json, run.h5 (/training) and the plots.

use super::bounds::{bits_per_dim, elbo, mean_elbo, mean_iwae};
use super::chain::{Chain, GaussianStage, SdeStage, Stage};
use super::config::{DataKind, FitProblem, ModelKind};
use super::data::{self, DIGIT_LEVELS, Dataset};
use super::kernels::{FlowConfig, GaussianKernel, GaussianKernelConfig, SdeSegmentConfig, Variance};
use super::mixture::{Estimator, Mixture, MixtureConfig, gradient_moments};
use super::ppca::Ppca;
use super::values;
use crate::error::{Error, Result};
use crate::noise::Noise;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Kernel width and test points of the σ → 0 check of flow problems.
const GAUSSIAN_LIMIT_SIGMA: f64 = 0.01;
const GAUSSIAN_LIMIT_POINTS: usize = 200;
const GAUSSIAN_LIMIT_PROPOSAL: f64 = 10.0;

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
    pub estimator: Estimator,
    pub test_loglik: f64,
    pub test_loglik_stderr: f64,
    /// Mean over test points of log p_model(x) − log p_true(x) (ring data), and its standard error.
    pub test_loglik_minus_true: Option<f64>,
    pub test_loglik_minus_true_stderr: Option<f64>,
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
}

pub fn load_splits(problem: &FitProblem) -> Result<Splits> {
    let d = &problem.data;
    Ok(match d.kind {
        DataKind::Digits => {
            let file = problem.data_file().expect("checked when parsing");
            let all = data::load_digits(&file)?;
            let (train, valid, test) = data::split_digits(&all);
            Splits { train, validation: data::dequantise_fixed(&valid), test: data::dequantise_fixed(&test), dequantise_train: true }
        }
        DataKind::Moons | DataKind::Ring => {
            // Fixed data seeds: the same points whatever the run's seed.
            let make = |n: usize, seed: u64| {
                let mut noise = Noise::new(seed);
                if d.kind == DataKind::Moons { data::two_moons(n, d.noise, &mut noise) } else { data::ring(n, d.modes, d.radius, d.noise, d.dims, &mut noise) }
            };
            Splits { train: make(d.train, 11), validation: make(d.test / 2, 12), test: make(d.test, 13), dequantise_train: false }
        }
    })
}

/// The chain a problem describes, for `data_dim`-dimensional data.
pub fn build_chain(problem: &FitProblem, data_dim: usize, noise: &mut Noise, device: &Device) -> Chain {
    let m = &problem.model;
    let kernel = |d_in, d_out, variance, noise: &mut Noise| {
        GaussianKernelConfig { d_in, d_out, hidden: m.hidden, layers: m.layers, variance, log_var_init: 0.0 }.init(noise, device)
    };
    let decoder = |d_in, noise: &mut Noise| {
        GaussianKernelConfig { d_in, d_out: data_dim, hidden: m.hidden, layers: m.layers, variance: m.decoder_variance, log_var_init: -3.0 }.init(noise, device)
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

/// Trains a chain; returns it and the curve.
pub fn train_chain(problem: &FitProblem, splits: &Splits, seed: u64, device: &Device, show: bool) -> Result<(Chain, Vec<CurveRow>)> {
    let t = &problem.train;
    let mut ad = device.clone().autodiff();
    let _ = ad.configure(device.settings().float_dtype);
    let mut noise = Noise::new(seed);
    let mut eval_noise = noise.split();
    let mut chain = build_chain(problem, splits.train.dim, &mut noise, &ad);
    let mut optim = AdamConfig::new().init();
    let closed_form = t.closed_form_kl && problem.model.kind == ModelKind::Vae;
    let validation = splits.validation.all(device);
    let bar = progress_bar(t.iterations, show);
    let start = Instant::now();
    let mut rows = Vec::with_capacity(t.iterations);
    let mut bad_steps = 0;
    for it in 0..t.iterations {
        let lr = t.lr / (1.0 + it as f64 / t.lr_decay);
        let x = training_batch(splits, t.batch, &mut noise, &ad);
        let objective = elbo(&chain, x, &mut noise, closed_form).mean();
        let value = objective.clone().into_scalar::<f64>();
        if !value.is_finite() {
            bad_steps += 1;
            if bad_steps > 50 {
                return Err(Error::Diverged(format!("{bad_steps} non-finite ELBO values by iteration {it}")));
            }
            continue;
        }
        let grads = GradientsParams::from_grads((-objective).backward(), &chain);
        chain = optim.step(lr, chain, grads);
        let validate = (it + 1) % t.validate_every.max(1) == 0 || it + 1 == t.iterations;
        let validation_elbo = if validate { mean_elbo(&chain.valid(), &validation, 500, &mut eval_noise) } else { f64::NAN };
        rows.push(CurveRow { iteration: it, train_elbo: value, validation_elbo, learning_rate: lr, seconds: start.elapsed().as_secs_f64() });
        bar.set_position(it as u64 + 1);
        if validate {
            bar.set_message(format!("ELBO train {value:.2}  valid {validation_elbo:.2}"));
        }
    }
    bar.finish_and_clear();
    Ok((chain.valid(), rows))
}

/// The Gaussian-kernel chain around the flow of `chain`: p(x|z) = N(f⁻¹(z), σ²I) (this fixes the
/// model, whose likelihood → the flow's as σ → 0) and the proposal q(z|x) = N(f(x), (cσ)²I).
/// Any c gives a valid bound; c > 1 keeps the importance weights' variance finite where the
/// flow stretches space by more than √2 (the posterior of z is ≈ N(f(x), σ² J Jᵀ)).
pub fn gaussian_limit(chain: &Chain, sigma: f64, proposal_scale: f64, dim: usize, device: &Device) -> Option<Chain> {
    match chain.stages.as_slice() {
        [Stage::Flow(f)] => Some(Chain {
            stages: vec![Stage::Gaussian(GaussianStage {
                encoder: GaussianKernel::around_flow(f.clone(), false, dim, proposal_scale * sigma, device),
                decoder: GaussianKernel::around_flow(f.clone(), true, dim, sigma, device),
            })],
        }),
        _ => None,
    }
}

/// Runs a problem file end to end into `out` (default runs/<name>/).
pub fn run(file: &Path, out: Option<PathBuf>, seed: Option<u64>, device: &Device, show_progress: bool) -> Result<(FitSummary, Vec<PathBuf>)> {
    let wall = Instant::now();
    let problem = FitProblem::load(file)?;
    let splits = load_splits(&problem)?;
    let out = out.unwrap_or_else(|| PathBuf::from("runs").join(&problem.name));
    std::fs::create_dir_all(&out).map_err(|e| Error::Write { path: out.clone(), message: e.to_string() })?;
    let seed = seed.unwrap_or(problem.train.seed);
    if problem.model.kind == ModelKind::Mixture {
        return run_mixture(&problem, &splits, &out, seed, device, show_progress, wall);
    }
    let train_start = Instant::now();
    let (chain, rows) = train_chain(&problem, &splits, seed, device, show_progress)?;
    let train_seconds = train_start.elapsed().as_secs_f64();
    let eval_start = Instant::now();
    let mut noise = Noise::new(seed ^ 0xE7A1);
    let test = splits.test.all(device);
    let k = problem.eval.iwae_k;
    let test_elbo = mean_elbo(&chain, &test, 500, &mut noise);
    // A deterministic chain has one possible latent per x: every importance weight is the same
    // and IWAE(K) equals the exact log-likelihood, so it is not resampled.
    let deterministic = chain.stages.iter().all(|s| matches!(s, Stage::Flow(_)));
    let test_iwae = if deterministic { test_elbo } else { mean_iwae(&chain, &test, k, 40, &mut noise) };
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
        train_seconds,
        eval_seconds,
        wall_seconds: 0.0,
        files: Vec::new(),
    };
    let mut files = write_curves(&out, "training.csv", &rows)?;
    files.push(write_h5(&out, &problem, seed, &rows)?);
    files.push(super::plot::curves(&out, &rows)?);
    files.extend(super::plot::chain_plots(&out, &chain, &splits, &problem, &mut noise, device)?);
    summary.wall_seconds = wall.elapsed().as_secs_f64();
    files.push(write_summary(&out, &mut summary, &files)?);
    Ok((summary, files))
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

/// run.h5 with the crate's layout: root attributes and /training (loss = −train ELBO,
/// energy = validation ELBO where measured, else NaN).
fn write_h5(out: &Path, problem: &FitProblem, seed: u64, rows: &[CurveRow]) -> Result<PathBuf> {
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
        .map(|r| crate::train::TrainingRow { iteration: r.iteration, loss: -r.train_elbo, energy: r.validation_elbo, learning_rate: r.learning_rate, seconds: r.seconds })
        .collect();
    let run = crate::io::hdf5::RunFile { attributes, training, paths: None, evaluation: None, estimates: None, slice: None };
    let path = out.join(crate::io::hdf5::FILE_NAME);
    run.write(&path)?;
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
pub fn train_mixture(problem: &FitProblem, splits: &Splits, estimator: Estimator, seed: u64, device: &Device, show: bool) -> (Mixture, Vec<CurveRow>) {
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
            let lw: Vec<f64> = (0..k)
                .map(|_| {
                    let u = noise.uniform();
                    let mut acc = 0.0;
                    let j = (0..c).find(|&j| {
                        acc += lq[j].exp();
                        u < acc
                    });
                    let j = j.unwrap_or(c - 1);
                    lj[j] - lq[j]
                })
                .collect();
            let m = lw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            m + (lw.iter().map(|v| (v - m).exp()).sum::<f64>() / k as f64).ln()
        })
        .collect()
}

fn mean_stderr(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, (var / n).sqrt())
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
    let (mut train_seconds, mut eval_seconds) = (0.0, 0.0);
    for estimator in Estimator::ALL {
        let t0 = Instant::now();
        let (trained_model, rows) = train_mixture(problem, splits, estimator, seed, device, show);
        let seconds = t0.elapsed().as_secs_f64();
        let model = trained_model.valid();
        train_seconds += seconds;
        let e0 = Instant::now();
        let per_point = values(model.log_marginal(test.clone()));
        let (test_loglik, test_loglik_stderr) = mean_stderr(&per_point);
        let difference = true_ll.as_ref().map(|t| mean_stderr(&per_point.iter().zip(t).map(|(a, b)| a - b).collect::<Vec<_>>()));
        let test_elbo = mean_stderr(&values(model.exact_elbo(test.clone()))).0;
        let test_iwae = mean_stderr(&mixture_iwae(&model, test.clone(), k, &mut noise)).0;
        methods.push(MixtureMethod {
            estimator,
            test_loglik,
            test_loglik_stderr,
            test_loglik_minus_true: difference.map(|d| d.0),
            test_loglik_minus_true_stderr: difference.map(|d| d.1),
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
    for (i, estimator) in Estimator::ALL.iter().enumerate() {
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
        train_seconds,
        eval_seconds,
        wall_seconds: 0.0,
        files: Vec::new(),
    };
    summary.wall_seconds = wall.elapsed().as_secs_f64();
    files.push(write_summary(out, &mut summary, &files)?);
    Ok((summary, files))
}
