//! Checkpoints of `fit` runs: everything the training of a chain needs to continue bit for bit
//! after it stopped — the chain's parameters (burnpack record, parameter ids included, so that
//! Adam's moments still match their parameters), Adam's state, the training noise stream, the
//! next iteration, the count of skipped non-finite steps and the curve rows so far.
//!
//! File layout (`checkpoint.bin` in the run directory, little-endian), the same framing as
//! `solve`'s checkpoints (the codec [`crate::io::codec`]): the magic `PATHSPACE-FIT-CHECKPOINT-1\n`,
//! length-prefixed sections in a fixed order, a 64-bit FNV-1a checksum of everything before it.
//! A truncated or altered file fails the checksum before anything is decoded. Written atomically.

use super::chain::Chain;
use crate::io::run::RunCheckpoint;
use super::train::{ChainTraining, CurveRow};
use crate::base::error::{Error, Result};
use crate::io::codec::{Decoder, Encoder, load_module, load_optimizer, module_bytes, optimizer_bytes, record_error};
use crate::base::noise::Noise;
use std::path::Path;

const MAGIC: &[u8] = b"PATHSPACE-FIT-CHECKPOINT-1\n";

/// A chain's training between two iterations, serialised.
#[derive(Debug, Clone)]
pub struct FitCheckpoint {
    /// The problem file's text: a resume must use the same problem.
    pub problem_text: String,
    pub seed: u64,
    /// Next iteration to run.
    pub iteration: usize,
    pub bad_steps: usize,
    pub rows: Vec<CurveRow>,
    /// The training noise stream (serde JSON of [`Noise`]).
    pub noise: String,
    pub model: Vec<u8>,
    pub optim: Vec<u8>,
}

impl RunCheckpoint for FitCheckpoint {
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Encoder::new(MAGIC);
        w.bytes(self.problem_text.as_bytes());
        w.u64(self.seed);
        w.u64(self.iteration as u64);
        w.u64(self.bad_steps as u64);
        w.rows(&self.rows.iter().map(|r| (r.iteration, [r.train_elbo, r.validation_elbo, r.learning_rate, r.seconds])).collect::<Vec<_>>());
        w.bytes(self.noise.as_bytes());
        w.bytes(&self.model);
        w.bytes(&self.optim);
        w.seal()
    }

    /// Parses a checkpoint; any damage gives an error naming `path` and the part.
    fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let mut r = Decoder::open(path, bytes, MAGIC, "pathspace fit checkpoint")?;
        let problem_text = r.string("problem")?;
        let seed = r.u64("seed")?;
        let iteration = r.u64("iteration")? as usize;
        let bad_steps = r.u64("bad_steps")? as usize;
        let rows = r
            .rows("rows")?
            .into_iter()
            .map(|(iteration, [train_elbo, validation_elbo, learning_rate, seconds])| CurveRow { iteration, train_elbo, validation_elbo, learning_rate, seconds })
            .collect();
        let noise = r.string("noise")?;
        let model = r.bytes("model")?.to_vec();
        let optim = r.bytes("optimizer")?.to_vec();
        r.finish()?;
        Ok(FitCheckpoint { problem_text, seed, iteration, bad_steps, rows, noise, model, optim })
    }

    fn problem_text(&self) -> &str {
        &self.problem_text
    }
    fn seed(&self) -> u64 {
        self.seed
    }
}

impl FitCheckpoint {
    pub fn capture(problem_text: &str, seed: u64, state: &ChainTraining) -> Result<Self> {
        Ok(FitCheckpoint {
            problem_text: problem_text.to_string(),
            seed,
            iteration: state.iteration,
            bad_steps: state.bad_steps,
            rows: state.rows.clone(),
            noise: serde_json::to_string(&state.noise).map_err(|e| Error::Other(format!("checkpoint: noise: {e}")))?,
            model: module_bytes(&state.chain)?,
            optim: optimizer_bytes(&state.optim)?,
        })
    }

    /// The training state, with the parameters loaded into `template` (a chain built for the
    /// same problem on the training device). `path` is for messages.
    pub fn into_training(&self, path: &Path, template: Chain) -> Result<ChainTraining> {
        Ok(ChainTraining {
            chain: load_module(path, template, &self.model)?,
            optim: load_optimizer(path, &self.optim)?,
            noise: Noise::from_json(&self.noise).map_err(|e| record_error(path, "noise", e))?,
            iteration: self.iteration,
            bad_steps: self.bad_steps,
            rows: self.rows.clone(),
        })
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_checkpoint_bytes_round_trip_and_damage_is_detected() {
        let c = FitCheckpoint {
            problem_text: "name = \"t\"".into(),
            seed: 4,
            iteration: 2,
            bad_steps: 1,
            rows: vec![CurveRow { iteration: 1, train_elbo: -3.5, validation_elbo: f64::NAN, learning_rate: 1e-3, seconds: 0.25 }],
            noise: serde_json::to_string(&Noise::new(9)).unwrap(),
            model: vec![1, 2, 3],
            optim: vec![4, 5],
        };
        let bytes = c.to_bytes();
        let p = Path::new("fit.bin");
        assert_eq!(FitCheckpoint::from_bytes(p, &bytes).unwrap().to_bytes(), bytes);
        let e = FitCheckpoint::from_bytes(p, &bytes[..bytes.len() - 3]).unwrap_err().to_string();
        assert!(e.contains("fit.bin") && e.contains("checksum"), "{e}");
        // A solve checkpoint is not a fit checkpoint.
        let e = FitCheckpoint::from_bytes(p, b"PATHSPACE-CHECKPOINT-1\n01234567").unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");
    }
}
