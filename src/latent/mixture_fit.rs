//! The mixture problem: one latent-class model trained with each gradient estimator of
//! [`super::mixture`] and compared on the test set (log-likelihood against the truth and against
//! exact enumeration, ELBO, IWAE, gradient variance).

use super::bounds::mean_and_stderr;
use super::record::{FitRecord, Matrix, TestEvaluation};
use super::config::{DataKind, FitProblem, ModelKind};
use super::mixture::{GradientEstimator, Mixture, MixtureConfig, categorical, gradient_moments};
use super::values;
use crate::base::error::Result;
use crate::base::noise::Noise;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::train::{CurveRow, Splits, batch_indices, progress_bar};
use super::output::{FitSummary, MixtureMethod, write_curves, write_h5, write_summary};

/// Log-density of the ring's generating mixture (uniform weights, isotropic sd, any dimension).
pub(crate) fn ring_log_density(x: &[f64], modes: usize, radius: f64, sd: f64) -> f64 {
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
pub(crate) fn mixture_iwae(model: &Mixture, x: Tensor<2>, k: usize, noise: &mut Noise) -> Vec<f64> {
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


pub(crate) fn run_mixture(problem: &FitProblem, splits: &Splits, out: &Path, seed: u64, device: &Device, show: bool, wall: Instant) -> Result<(FitSummary, Vec<PathBuf>)> {
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
