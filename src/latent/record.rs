//! What a `fit` run's run.h5 holds beside the root attributes and /training: the arrays a user
//! analysing the trained model in Python needs. Log-likelihoods are in nats per example.
//!
//! ```text
//! /evaluation                 attrs: units, test_examples, iwae_k, test_elbo, test_elbo_error,
//!                             test_iwae, test_iwae_error, and where computed ppca_test_loglik,
//!                             test_bits_per_dim, gaussian_limit_{sigma, test_iwae, flow_loglik};
//!                             a mixture: true_test_loglik, variance_ratio_reinforce_over_nvil,
//!                             <method>_{test_loglik, test_loglik_error, test_loglik_minus_exact,
//!                             test_loglik_minus_exact_error, gradient_variance}
//! /evaluation/elbo            [test] float64: one-sample ELBO (exact path term) per test example
//!                             (a mixture: the ELBO enumerated exactly)
//! /evaluation/iwae            [test] float64: IWAE(K) per test example
//! /samples/x                  [n, D] float64: generated data (attrs: description)
//! /latent/mean                [test, d] float64: encoder means μ_q(x) of the test points
//!                             (a flow: z = f(x); a mixture: E_q[one-hot c] = q(c | x))
//!                             (attrs: description)
//! /latent/label               [test] int64: the test points' labels, where the data has them
//! /series                     time series only (attrs: test_elbo_per_observation and its error)
//! /series/times               [K] float64: observation times t_k
//! /series/grid_times          [M + 1] float64: the Euler–Maruyama grid (observation times and
//!                             the sub-steps between them)
//! /series/test_observations   [S, K, D] float64: the test series, NaN where not observed
//! /series/posterior_paths     [S', P, M + 1, D] float64: decoder means W z_t + b along P
//!                             posterior sample paths of each of the first S' test series
//! /series/prior_paths         [N, M + 1, D] float64: decoder means along prior sample paths
//! ```
//!
//! The errors are standard errors of the mean over the (independent) test examples:
//! s/√n with s² the sample variance of the per-example values. This file computes nothing;
//! [`super::fit`] fills a [`FitRecord`] and [`crate::io::hdf5::RunFile::write_with`] writes it.

use super::series::{ObservedPath, SeriesStage};
use crate::base::noise::Noise;
use burn::tensor::Tensor;
use hdf5_pure::{AttrValue, FileBuilder};

/// A row-major `[rows, cols]` array.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f64>,
}

/// The test-set evaluation of a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct TestEvaluation {
    pub elbo: Vec<f64>,
    pub iwae: Vec<f64>,
    pub iwae_k: usize,
    /// Further numbers stored as attributes (nats per example unless the name says otherwise).
    pub extra: Vec<(String, f64)>,
}

/// Everything beyond /training that a fit run stores in run.h5.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRecord {
    pub evaluation: TestEvaluation,
    pub samples: Matrix,
    pub samples_description: String,
    pub latent: Matrix,
    pub latent_description: String,
    /// Labels of the test points (empty where the data has none).
    pub labels: Vec<u8>,
    pub series: Option<SeriesRecord>,
}

/// A time-series fit's arrays (see the module docs for their shapes).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRecord {
    pub times: Vec<f64>,
    pub grid_times: Vec<f64>,
    pub dim: usize,
    pub test_observations: Vec<f64>,
    pub test_series: usize,
    pub posterior_paths: Vec<f64>,
    /// (series, paths per series).
    pub posterior_shape: (usize, usize),
    pub prior_paths: Vec<f64>,
    pub prior_count: usize,
    pub test_elbo_per_observation: (f64, f64),
}

impl SeriesRecord {
    pub fn add_to(&self, b: &mut FileBuilder) {
        let (k, m, d) = (self.times.len() as u64, self.grid_times.len() as u64, self.dim as u64);
        let mut g = b.create_group("series");
        g.set_attr("test_elbo_per_observation", AttrValue::F64(self.test_elbo_per_observation.0));
        g.set_attr("test_elbo_per_observation_error", AttrValue::F64(self.test_elbo_per_observation.1));
        g.set_attr("units", AttrValue::String("nats per observed time point".into()));
        g.create_dataset("times").with_f64_data(&self.times);
        g.create_dataset("grid_times").with_f64_data(&self.grid_times);
        g.create_dataset("test_observations").with_f64_data(&self.test_observations).with_shape(&[self.test_series as u64, k, d]);
        let (s, p) = self.posterior_shape;
        g.create_dataset("posterior_paths").with_f64_data(&self.posterior_paths).with_shape(&[s as u64, p as u64, m, d]);
        g.create_dataset("prior_paths").with_f64_data(&self.prior_paths).with_shape(&[self.prior_count as u64, m, d]);
        b.add_group(g.finish());
    }
}

/// Units of every log-likelihood in a fit run.
pub const UNITS: &str = "nats per example";

impl FitRecord {
    /// Adds /evaluation, /samples and /latent to `b`.
    pub fn add_to(&self, b: &mut FileBuilder) {
        let e = &self.evaluation;
        let mut g = b.create_group("evaluation");
        g.set_attr("units", AttrValue::String(UNITS.into()));
        g.set_attr("test_examples", AttrValue::U64(e.elbo.len() as u64));
        g.set_attr("iwae_k", AttrValue::U64(e.iwae_k as u64));
        for (name, values) in [("elbo", &e.elbo), ("iwae", &e.iwae)] {
            let (mean, stderr) = super::bounds::mean_and_stderr(values);
            g.set_attr(&format!("test_{name}"), AttrValue::F64(mean));
            g.set_attr(&format!("test_{name}_error"), AttrValue::F64(stderr));
            g.create_dataset(name).with_f64_data(values).set_attr("units", AttrValue::String(UNITS.into()));
        }
        for (name, value) in &e.extra {
            g.set_attr(name, AttrValue::F64(*value));
        }
        b.add_group(g.finish());

        let matrix = |g: &mut hdf5_pure::GroupBuilder, name: &str, m: &Matrix, description: &str| {
            g.create_dataset(name)
                .with_f64_data(&m.values)
                .with_shape(&[m.rows as u64, m.cols as u64])
                .set_attr("description", AttrValue::String(description.into()));
        };
        let mut g = b.create_group("samples");
        matrix(&mut g, "x", &self.samples, &self.samples_description);
        b.add_group(g.finish());
        let mut g = b.create_group("latent");
        matrix(&mut g, "mean", &self.latent, &self.latent_description);
        if !self.labels.is_empty() {
            let labels: Vec<i64> = self.labels.iter().map(|&l| l as i64).collect();
            g.create_dataset("label").with_i64_data(&labels);
        }
        b.add_group(g.finish());
        if let Some(series) = &self.series {
            series.add_to(b);
        }
    }
}

impl SeriesStage {
    /// run.h5's /series: the test series, `paths` posterior sample paths of each of the first
    /// `series` test series and `prior` prior paths, all decoded (means) on the whole grid.
    pub fn record(&self, test: &Tensor<2>, series: usize, paths: usize, prior: usize, elbo_per_observation: (f64, f64), noise: &mut Noise) -> SeriesRecord {
        let device = test.device();
        let [s, _] = test.dims();
        let (d, k) = (self.dim, self.times.len());
        let rows = super::values(test.clone());
        let width = k * (d + 1);
        let mut test_observations = Vec::with_capacity(s * k * d);
        for r in 0..s {
            for j in 0..k {
                let slot = &rows[r * width + j * (d + 1)..r * width + (j + 1) * (d + 1)];
                let observed = slot[d] > 0.5;
                test_observations.extend(slot[..d].iter().map(|&v| if observed { v } else { f64::NAN }));
            }
        }
        // Decoded grid paths, `[B, M + 1, D]` row-major.
        let decoded = |path: ObservedPath| {
            let states = self.decode(&path.states);
            let b = states[0].dims()[0];
            let m = states.len();
            let v = super::values(Tensor::stack::<3>(states, 1).reshape([b * m * d]));
            (v, m)
        };
        let chosen = series.min(s);
        let repeated: Vec<f64> = (0..chosen).flat_map(|r| (0..paths).flat_map(move |_| r * width..(r + 1) * width)).map(|i| rows[i]).collect();
        let picked = Tensor::<2>::from_data(burn::tensor::TensorData::new(repeated, [chosen * paths, width]), &device);
        let contexts = self.contexts(&picked);
        let (z0, _) = self.initial.sample(contexts[0].clone(), noise);
        let (posterior_paths, _) = decoded(self.posterior(z0, &contexts, true, noise));
        let z0 = noise.gaussian([prior, self.initial.mean_dim()], 1.0, &device);
        let (prior_paths, _) = decoded(self.prior(z0, true, noise));
        SeriesRecord {
            times: self.times.clone(),
            grid_times: self.layout().grid(self.dt).times,
            dim: d,
            test_observations,
            test_series: s,
            posterior_paths,
            posterior_shape: (chosen, paths),
            prior_paths,
            prior_count: prior,
            test_elbo_per_observation: elbo_per_observation,
        }
    }
}
