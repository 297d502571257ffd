//! The test-set evaluation of a trained chain: ELBO and IWAE(K) per test example (with their
//! means), per observed time point for series, the PPCA baseline for digits, the σ → 0 check of
//! flows, and the record run.h5 stores (samples, latent points, series paths).

use super::bounds::{bits_per_dim, elbo_per_example, iwae_per_example, mean_and_stderr, mean_elbo, mean_iwae};
use super::chain::{Chain, Stage};
use super::config::{DataKind, FitProblem, ModelKind};
use super::data::{self, DIGIT_LEVELS};
use super::chain::{GaussianStage, SdeStage};
use super::output::FitSummary;
use super::record::Matrix;
use burn::tensor::Tensor;
use super::ppca::Ppca;
use super::record::{FitRecord, TestEvaluation};
use super::train::{Splits, gaussian_limit, uses_fused_engine};
use super::values;
use crate::base::noise::Noise;
use burn::tensor::Device;
use std::time::Instant;

/// Kernel width and test points of the σ → 0 check of flow problems.
const GAUSSIAN_LIMIT_SIGMA: f64 = 0.01;
const GAUSSIAN_LIMIT_POINTS: usize = 200;
const GAUSSIAN_LIMIT_PROPOSAL: f64 = 1.0;

/// Evaluates the trained `chain` (trained for `iterations` iterations in `train_seconds`) on the
/// test split: the summary (its `wall_seconds` and `files` still to fill) and run.h5's record.
pub fn evaluate(problem: &FitProblem, splits: &Splits, chain: &Chain, iterations: usize, train_seconds: f64, seed: u64, device: &Device) -> (FitSummary, FitRecord) {
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
    let summary = FitSummary {
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
        iterations,
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
        seconds_per_iteration: Some(train_seconds / iterations.max(1) as f64),
        engine: if uses_fused_engine(problem, device) { "fused" } else { "autodiff" },
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
    let record = chain_record(&chain, splits, TestEvaluation { elbo: elbos, iwae: iwaes, iwae_k: k, extra }, per_observation.map(|p| p.0), &mut noise, device);
    (summary, record)
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
