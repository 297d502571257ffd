//! `fit` problem files (TOML). Parsing builds configs; it starts nothing.
//!
//! A file has the tables `[data]`, `[model]`, `[train]` and `[eval]`. Every key, its default
//! and its meaning: `problems/reference/fit.toml`, checked against [`accepted_keys`] by
//! tests/reference_files.rs; small examples: `problems/vae_digits.toml` and the other `fit`
//! files of problems/.

use super::kernels::Variance;
use crate::base::config::{dotted_keys, struct_fields};
use crate::base::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    Digits,
    Moons,
    Ring,
    /// Time series: the stochastic Lorenz attractor (generated).
    Lorenz,
    /// Time series: an Ornstein–Uhlenbeck process (generated).
    Ou,
    /// Time series from the user's CSV (`file`).
    Series,
}

impl DataKind {
    /// Time-series data (fitted by `latent_sde` models).
    pub fn is_series(self) -> bool {
        matches!(self, DataKind::Lorenz | DataKind::Ou | DataKind::Series)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub kind: DataKind,
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Generated data sets: training and test sizes and the noise of the points.
    #[serde(default = "d_train")]
    pub train: usize,
    #[serde(default = "d_test")]
    pub test: usize,
    #[serde(default = "d_sd")]
    pub noise: f64,
    /// Ring: number of modes and radius.
    #[serde(default = "d_modes")]
    pub modes: usize,
    #[serde(default = "d_radius")]
    pub radius: f64,
    /// Ring: dimension of the data (the ring lies in the first two coordinates).
    #[serde(default = "d_dims")]
    pub dims: usize,
    /// Generated series: observation times, equally spaced on [0, duration].
    #[serde(default = "d_observations")]
    pub observations: usize,
    #[serde(default = "d_duration")]
    pub duration: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Vae,
    MarkovVae,
    SdeVae,
    Flow,
    Mixture,
    /// A latent SDE fitted to time series (src/latent/series.rs).
    LatentSde,
    /// A denoising diffusion model: fixed noising, learned denoising (src/latent/diffusion.rs).
    Diffusion,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub kind: ModelKind,
    #[serde(default = "d_latent")]
    pub latent: usize,
    #[serde(default = "d_hidden")]
    pub hidden: usize,
    #[serde(default = "d_layers")]
    pub layers: usize,
    /// Markov VAE: Gaussian stages; SDE VAE: Euler–Maruyama steps.
    #[serde(default = "d_steps")]
    pub steps: usize,
    /// SDE VAE: time horizon τ.
    #[serde(default = "d_horizon")]
    pub horizon: f64,
    /// Flow: coupling layers.
    #[serde(default = "d_flow_layers")]
    pub flow_layers: usize,
    /// Mixture: components.
    #[serde(default = "d_components")]
    pub components: usize,
    /// Default: `network`; a latent SDE's affine decoder: `per_dim`.
    #[serde(default)]
    pub decoder_variance: Option<Variance>,
    /// Diffusion: the continuous-time form (src/latent/diffusion.rs, `CONTINUOUS`); `steps`
    /// then sets only the sampler's steps.
    #[serde(default)]
    pub continuous: bool,
    /// Diffusion: noise-schedule terms t drawn per example in a training step.
    #[serde(default = "d_train_terms")]
    pub train_terms: usize,
    /// Latent SDE: width of the encoder's context c_t.
    #[serde(default = "d_context")]
    pub context: usize,
    /// Latent SDE: largest Euler–Maruyama step between observation times.
    #[serde(default = "d_dt")]
    pub dt: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    #[serde(default = "d_seed")]
    pub seed: u64,
    #[serde(default = "d_iterations")]
    pub iterations: usize,
    #[serde(default = "d_batch")]
    pub batch: usize,
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// lr_k = lr / (1 + k / lr_decay).
    #[serde(default = "d_lr_decay")]
    pub lr_decay: f64,
    /// VAE only: use the closed-form Gaussian KL in the training ELBO.
    #[serde(default = "d_true")]
    pub closed_form_kl: bool,
    /// Iterations between validation evaluations.
    #[serde(default = "d_validate_every")]
    pub validate_every: usize,
    /// Iterations between checkpoints (chains; also written at the end and on SIGINT/SIGTERM).
    #[serde(default = "d_checkpoint_every")]
    pub checkpoint_every: usize,
    /// What computes a training step of a latent SDE on series: "auto" (the fused CPU engine
    /// on the CPU, burn autodiff elsewhere), "fused" or "autodiff". Other models use autodiff.
    #[serde(default = "d_engine")]
    pub engine: crate::base::config::EngineChoice,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    #[serde(default = "d_iwae_k")]
    pub iwae_k: usize,
    /// Mixture: gradient estimates per variance measurement.
    #[serde(default = "d_repeats")]
    pub gradient_repeats: usize,
}

/// A parsed `fit` problem file.
#[derive(Debug, Clone)]
pub struct FitProblem {
    pub name: String,
    pub path: PathBuf,
    pub text: String,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub eval: EvalConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    data: DataConfig,
    model: ModelConfig,
    #[serde(default = "empty")]
    train: toml::Table,
    #[serde(default = "empty")]
    eval: toml::Table,
}

fn empty() -> toml::Table {
    toml::Table::new()
}

impl FitProblem {
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::base::config::read_text(path)?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let bad = |location: &str, message: String| Error::Problem { path: path.to_path_buf(), location: location.into(), message };
        let friendly = crate::base::config::friendly_toml_message;
        let f: File = toml::from_str(text).map_err(|e| bad(&span(text, e.span()), friendly(e.message())))?;
        let train: TrainConfig = toml::Table::try_into(f.train).map_err(|e| bad("table `train`", friendly(e.message())))?;
        let eval: EvalConfig = toml::Table::try_into(f.eval).map_err(|e| bad("table `eval`", friendly(e.message())))?;
        crate::base::config::check_name(&f.name).map_err(|m| bad("key `name`", m))?;
        if matches!(f.data.kind, DataKind::Digits | DataKind::Series) && f.data.file.is_none() {
            return Err(bad("data.file", format!("{:?} data needs a file", f.data.kind).to_lowercase()));
        }
        if f.data.file.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(bad("data.file", "is empty: give the path of the data file".into()));
        }
        let series = f.data.kind.is_series();
        let flow_data = matches!(f.data.kind, DataKind::Moons | DataKind::Ring);
        if series != (f.model.kind == ModelKind::LatentSde) {
            return Err(bad("model.kind", if series { "time-series data needs kind = \"latent_sde\"".into() } else { "latent_sde models need time-series data (lorenz, ou or series)".into() }));
        }
        if f.model.kind == ModelKind::Flow && f.data.kind == DataKind::Ring && f.data.dims != 2 {
            return Err(bad("data.dims", "flows here are 2-D: use dims = 2".into()));
        }
        match f.model.kind {
            ModelKind::Flow | ModelKind::Mixture if !flow_data => {
                return Err(bad("model.kind", format!("{:?} models need 2-D data (moons or ring)", f.model.kind)));
            }
            ModelKind::Vae | ModelKind::MarkovVae | ModelKind::SdeVae if f.data.kind != DataKind::Digits => {
                return Err(bad("model.kind", format!("{:?} models need digits data", f.model.kind)));
            }
            _ => {}
        }
        let m = &f.model;
        let mut counts = vec![
            ("train.iterations", train.iterations, 1),
            ("train.batch", train.batch, 1),
            ("train.checkpoint_every", train.checkpoint_every, 1),
            ("train.validate_every", train.validate_every, 1),
            ("eval.iwae_k", eval.iwae_k, 1),
            ("eval.gradient_repeats", eval.gradient_repeats, 1),
            ("model.latent", m.latent, 1),
            ("model.hidden", m.hidden, 1),
        ];
        match m.kind {
            ModelKind::Flow => counts.push(("model.flow_layers", m.flow_layers, 1)),
            ModelKind::MarkovVae | ModelKind::SdeVae => counts.push(("model.steps", m.steps, 1)),
            ModelKind::Diffusion => counts.extend([("model.steps", m.steps, 1), ("model.train_terms", m.train_terms, 1)]),
            ModelKind::Mixture => counts.push(("model.components", m.components, 1)),
            ModelKind::Vae => {}
            ModelKind::LatentSde => counts.push(("model.context", m.context, 1)),
        }
        if matches!(f.data.kind, DataKind::Lorenz | DataKind::Ou) {
            counts.extend([("data.train", f.data.train, 1), ("data.test", f.data.test, 2), ("data.observations", f.data.observations, 2)]);
        }
        if flow_data {
            // Training draws batches from `train` points; validation uses test/2 of them.
            counts.extend([("data.train", f.data.train, 1), ("data.test", f.data.test, 2), ("data.dims", f.data.dims, 2)]);
        }
        if f.data.kind == DataKind::Ring {
            // Labels are stored as bytes.
            counts.push(("data.modes", f.data.modes, 1));
            if f.data.modes > 255 {
                return Err(bad("key `data.modes`", format!("{} modes: at most 255", f.data.modes)));
            }
        }
        for (key, v, least) in counts {
            if v < least {
                return Err(bad(&format!("key `{key}`"), format!("must be at least {least}, got {v}")));
            }
        }
        let mut reals = vec![("train.lr", train.lr, false), ("train.lr_decay", train.lr_decay, false)];
        if m.kind == ModelKind::SdeVae {
            reals.push(("model.horizon", m.horizon, false));
        }
        if m.kind == ModelKind::LatentSde {
            reals.push(("model.dt", m.dt, false));
        }
        if m.continuous && m.kind != ModelKind::Diffusion {
            return Err(bad("key `model.continuous`", "continuous time is a diffusion option (kind = \"diffusion\")".into()));
        }
        if matches!(f.data.kind, DataKind::Lorenz | DataKind::Ou) {
            reals.extend([("data.duration", f.data.duration, false), ("data.noise", f.data.noise, true)]);
        }
        if flow_data {
            reals.push(("data.noise", f.data.noise, true));
            if f.data.kind == DataKind::Ring {
                reals.push(("data.radius", f.data.radius, false));
            }
        }
        for (key, v, zero_ok) in reals {
            if !(v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0))) {
                let what = if zero_ok { "a finite number ≥ 0" } else { "a positive finite number" };
                return Err(bad(&format!("key `{key}`"), format!("must be {what}, got {v}")));
            }
        }
        let problem = FitProblem { name: f.name, path: path.to_path_buf(), text: text.to_string(), data: f.data, model: f.model, train, eval };
        crate::base::config::check_memory(&problem.memory_estimate(), |key, message| bad(&format!("key `{key}`"), message))?;
        Ok(problem)
    }

    /// Rough bytes a fit holds at once, with the key that sizes each part (f64, no overflow):
    /// the networks with gradients and Adam moments, a training batch's activations, the IWAE
    /// evaluation (K samples of chunks of 40 test points) and generated data.
    pub fn memory_estimate(&self) -> Vec<(&'static str, f64)> {
        let m = &self.model;
        let (hidden, layers) = (m.hidden as f64, m.layers as f64 + 1.0);
        let dim = match self.data.kind {
            DataKind::Digits => 64.0,
            DataKind::Lorenz => 3.0,
            DataKind::Ou => 1.0,
            // A user's file is capped at 64 MiB; its own size bounds the data.
            DataKind::Series => 8.0,
            DataKind::Moons | DataKind::Ring => self.data.dims as f64,
        };
        let stages = match m.kind {
            ModelKind::Flow => m.flow_layers as f64,
            ModelKind::MarkovVae | ModelKind::SdeVae => m.steps as f64,
            ModelKind::Mixture => m.components as f64,
            ModelKind::Vae => 1.0,
            ModelKind::LatentSde | ModelKind::Diffusion => 1.0,
        };
        let width = hidden * layers * stages * 2.0 + dim + m.latent as f64;
        let mut terms = vec![
            ("model.hidden", 8.0 * 8.0 * 2.0 * stages * hidden * (hidden * layers + dim + m.latent as f64 + 2.0)),
            ("train.batch", 8.0 * 8.0 * self.train.batch as f64 * width),
            // No gradients in the evaluation: a few activations of one kernel at a time.
            ("eval.iwae_k", 8.0 * 2.0 * 40.0 * self.eval.iwae_k as f64 * (4.0 * hidden + dim + m.latent as f64)),
            ("train.iterations", 64.0 * self.train.iterations as f64),
        ];
        if m.kind == ModelKind::LatentSde {
            // Every Euler step keeps its activations for the reverse pass; IWAE(K) holds one
            // chunk of 40 series × K paths at a time.
            let steps = self.data.observations as f64 + self.data.duration / m.dt;
            let per_path = steps * (6.0 * hidden + 4.0 * m.latent as f64 + m.context as f64) + self.data.observations as f64 * (4.0 * hidden + m.context as f64);
            terms.push(("train.batch", 8.0 * 2.0 * self.train.batch as f64 * per_path));
            terms.push(("eval.iwae_k", 8.0 * 40.0 * self.eval.iwae_k as f64 * per_path / 4.0));
        }
        if matches!(self.data.kind, DataKind::Lorenz | DataKind::Ou) {
            let width = self.data.observations as f64 * (dim + 1.0);
            terms.push(("data.train", 8.0 * 2.0 * self.data.train as f64 * width));
            terms.push(("data.test", 8.0 * 2.0 * 2.0 * self.data.test as f64 * width));
        } else if self.data.kind != DataKind::Digits && self.data.kind != DataKind::Series {
            terms.push(("data.train", 8.0 * 4.0 * self.data.train as f64 * dim));
            terms.push(("data.test", 8.0 * 4.0 * 2.0 * self.data.test as f64 * dim));
        }
        terms
    }

    /// The data file: as written if it exists, else relative to the problem file's folder.
    pub fn data_file(&self) -> Option<PathBuf> {
        let file = self.data.file.clone()?;
        if file.is_absolute() || file.exists() {
            return Some(file);
        }
        let beside = self.path.parent().map(|p| p.join(&file)).filter(|p| p.exists());
        let above = self.path.parent().and_then(Path::parent).map(|p| p.join(&file)).filter(|p| p.exists());
        Some(beside.or(above).unwrap_or(file))
    }
}

/// `line N` of a toml error's span (`whole file` without one).
fn span(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => format!("line {}", text.as_bytes()[..r.start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1),
        None => "whole file".into(),
    }
}

fn d_train() -> usize { 5000 }
fn d_test() -> usize { 2000 }
fn d_sd() -> f64 { 0.05 }
fn d_modes() -> usize { 8 }
fn d_radius() -> f64 { 2.0 }
fn d_dims() -> usize { 2 }
fn d_latent() -> usize { 8 }
fn d_hidden() -> usize { 128 }
fn d_layers() -> usize { 2 }
fn d_steps() -> usize { 3 }
fn d_horizon() -> f64 { 1.0 }
fn d_flow_layers() -> usize { 8 }
fn d_components() -> usize { 8 }
fn d_context() -> usize { 16 }
fn d_train_terms() -> usize { 1 }
fn d_dt() -> f64 { 0.01 }
fn d_observations() -> usize { 51 }
fn d_duration() -> f64 { 1.0 }
fn d_seed() -> u64 { 1 }
fn d_iterations() -> usize { 3000 }
fn d_batch() -> usize { 100 }
fn d_lr() -> f64 { 1e-3 }
fn d_lr_decay() -> f64 { 1e9 }
fn d_true() -> bool { true }
fn d_validate_every() -> usize { 100 }
fn d_checkpoint_every() -> usize { 1000 }
fn d_engine() -> crate::base::config::EngineChoice { crate::base::config::EngineChoice::Auto }
fn d_iwae_k() -> usize { 1000 }
fn d_repeats() -> usize { 200 }

/// Every key a `fit` problem file accepts, as dotted names (`"name"`, `"data.kind"`,
/// `"train.batch"`). The field names come from the serde derives of [`DataConfig`],
/// [`ModelConfig`], [`TrainConfig`], [`EvalConfig`] and the file's top level (what
/// `deny_unknown_fields` checks against), so the list cannot drift from the parser; only which
/// struct a table holds is written here. problems/reference/fit.toml documents every key, and
/// tests/reference_files.rs checks that it does.
pub fn accepted_keys() -> Vec<String> {
    let tables: &[(&str, &'static [&'static str])] = &[
        ("", struct_fields::<File>()),
        ("data", struct_fields::<DataConfig>()),
        ("model", struct_fields::<ModelConfig>()),
        ("train", struct_fields::<TrainConfig>()),
        ("eval", struct_fields::<EvalConfig>()),
    ];
    dotted_keys(tables)
}
