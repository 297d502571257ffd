//! The files of a `fit` run: training.csv, run.h5 (/training and the model's record) and
//! summary.json ([`FitSummary`]). Writers read results and start no computation.

use super::record::FitRecord;
use super::config::{DataKind, FitProblem, ModelKind};
use super::mixture::GradientEstimator;
use crate::base::error::{Error, Result};
use std::path::{Path, PathBuf};

use super::train::CurveRow;

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

/// The training curve as CSV (`training.csv`, or one file per mixture method).
pub(crate) fn write_curves(out: &Path, file_name: &str, rows: &[CurveRow]) -> Result<Vec<PathBuf>> {
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
/// energy = validation ELBO where measured, else NaN), and the record's groups.
pub(crate) fn write_h5(out: &Path, problem: &FitProblem, seed: u64, rows: &[CurveRow], record: Option<&FitRecord>) -> Result<PathBuf> {
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

pub(crate) fn write_summary(out: &Path, summary: &mut FitSummary, files: &[PathBuf]) -> Result<PathBuf> {
    let json = out.join("summary.json");
    summary.files = files.iter().chain(std::iter::once(&json)).map(|p| p.display().to_string()).collect();
    let text = serde_json::to_string_pretty(summary).map_err(|e| Error::Write { path: json.clone(), message: e.to_string() })?;
    crate::io::write_atomic(&json, text.as_bytes())?;
    Ok(json)
}

