//! `fit` problem files (TOML). Parsing builds configs; it starts nothing.
//!
//! ```toml
//! name = "vae_digits"
//! [data]                # kind = "digits" | "moons" | "ring"
//! kind = "digits"
//! file = "data/digits.csv.gz"   # digits only; relative to the working directory or the problem file
//! [model]               # kind = "vae" | "markov_vae" | "sde_vae" | "flow" | "mixture"
//! kind = "vae"
//! latent = 8
//! [train]
//! iterations = 3000
//! [eval]
//! iwae_k = 1000
//! ```

use super::kernels::Variance;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    Digits,
    Moons,
    Ring,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Vae,
    MarkovVae,
    SdeVae,
    Flow,
    Mixture,
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
    #[serde(default = "d_variance")]
    pub decoder_variance: Variance,
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
        let text = std::fs::read_to_string(path).map_err(|e| Error::Read { path: path.to_path_buf(), cause: e })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let bad = |location: &str, message: String| Error::Problem { path: path.to_path_buf(), location: location.into(), message };
        let f: File = toml::from_str(text).map_err(|e| bad("toml", e.message().to_string() + &span(text, e.span())))?;
        let train: TrainConfig = toml::Table::try_into(f.train).map_err(|e| bad("train", e.message().to_string()))?;
        let eval: EvalConfig = toml::Table::try_into(f.eval).map_err(|e| bad("eval", e.message().to_string()))?;
        if f.data.kind == DataKind::Digits && f.data.file.is_none() {
            return Err(bad("data.file", "digits data needs a file".into()));
        }
        let flow_data = f.data.kind != DataKind::Digits;
        if f.model.kind == ModelKind::Flow && f.data.kind == DataKind::Ring && f.data.dims != 2 {
            return Err(bad("data.dims", "flows here are 2-D: use dims = 2".into()));
        }
        match f.model.kind {
            ModelKind::Flow | ModelKind::Mixture if !flow_data => {
                return Err(bad("model.kind", format!("{:?} models need 2-D data (moons or ring)", f.model.kind)));
            }
            ModelKind::Vae | ModelKind::MarkovVae | ModelKind::SdeVae if flow_data => {
                return Err(bad("model.kind", format!("{:?} models need digits data", f.model.kind)));
            }
            _ => {}
        }
        for (key, v) in [("train.iterations", train.iterations), ("train.batch", train.batch), ("train.checkpoint_every", train.checkpoint_every), ("eval.iwae_k", eval.iwae_k), ("model.latent", f.model.latent)] {
            if v == 0 {
                return Err(bad(key, "must be at least 1".into()));
            }
        }
        if !(train.lr > 0.0 && train.lr.is_finite()) {
            return Err(bad("train.lr", format!("must be positive, got {}", train.lr)));
        }
        Ok(FitProblem { name: f.name, path: path.to_path_buf(), text: text.to_string(), data: f.data, model: f.model, train, eval })
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

fn span(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => format!(" (line {})", text[..r.start.min(text.len())].matches('\n').count() + 1),
        None => String::new(),
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
fn d_variance() -> Variance { Variance::Network }
fn d_seed() -> u64 { 1 }
fn d_iterations() -> usize { 3000 }
fn d_batch() -> usize { 100 }
fn d_lr() -> f64 { 1e-3 }
fn d_lr_decay() -> f64 { 1e9 }
fn d_true() -> bool { true }
fn d_validate_every() -> usize { 100 }
fn d_checkpoint_every() -> usize { 1000 }
fn d_iwae_k() -> usize { 1000 }
fn d_repeats() -> usize { 200 }
