//! Seeded Gaussian noise for the SDE engine.
//!
//! All randomness of a run comes from one `Xoshiro256PlusPlus` stream seeded from the problem
//! file (or `--seed`), drawn on the CPU in a fixed order and uploaded to the device. The same
//! problem file and seed therefore give bit-identical paths on the same machine and precision.
//! The generator state is serialisable, so a checkpoint can resume the stream exactly.

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A reproducible source of standard-normal arrays.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Noise {
    rng: Xoshiro256PlusPlus,
}

impl Noise {
    /// A stream determined by `seed` alone.
    pub fn new(seed: u64) -> Self {
        Self { rng: Xoshiro256PlusPlus::seed_from_u64(seed) }
    }

    /// An independent stream for a sub-task (evaluation, a second time step...): jumps the
    /// generator by 2^128 draws, so the two streams never overlap.
    pub fn split(&mut self) -> Self {
        let child = self.rng.clone();
        self.rng.jump();
        Self { rng: child }
    }

    /// Jumps the generator by 2^192 draws (the per-rank streams of [`crate::parallel::rank_noise`]).
    pub fn long_jump(&mut self) {
        self.rng.long_jump();
    }

    /// `n` standard-normal draws as f64.
    pub fn standard_normals(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| StandardNormal.sample(&mut self.rng)).collect()
    }

    /// A tensor of the given shape filled with N(0, scale²) draws.
    pub fn gaussian<const D: usize>(&mut self, shape: [usize; D], scale: f64, device: &Device) -> Tensor<D> {
        let n = shape.iter().product();
        let values: Vec<f64> = self.standard_normals(n).into_iter().map(|z| z * scale).collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// A stream saved as JSON (a checkpoint's); the one state a xoshiro generator cannot leave,
    /// all zeros (it would draw 0 forever and the normal sampler would never return), is refused.
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let noise: Noise = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut probe = noise.rng.clone();
        if (0..4).all(|_| rand::Rng::next_u64(&mut probe) == 0) {
            return Err("the generator state is all zeros (a damaged or crafted file)".into());
        }
        Ok(noise)
    }

    /// A uniform draw in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        rand::RngExt::random::<f64>(&mut self.rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_stream_reads_back_and_the_all_zero_state_is_refused() {
        let mut a = Noise::new(5);
        let mut b = Noise::from_json(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(a.standard_normals(3), b.standard_normals(3));
        // The saved stream with every number of its state set to 0.
        let mut zero = String::new();
        for c in serde_json::to_string(&a).unwrap().chars() {
            if !c.is_ascii_digit() {
                zero.push(c);
            } else if !zero.ends_with('0') {
                zero.push('0');
            }
        }
        assert!(Noise::from_json(&zero).unwrap_err().contains("all zeros"));
        assert!(Noise::from_json("{").is_err());
    }

    #[test]
    fn same_seed_same_stream_and_split_streams_differ() {
        let mut a = Noise::new(7);
        let mut b = Noise::new(7);
        assert_eq!(a.standard_normals(16), b.standard_normals(16));
        let mut c = a.split();
        assert_ne!(a.standard_normals(8), c.standard_normals(8));
    }

    #[test]
    fn draws_are_standard_normal() {
        let mut a = Noise::new(1);
        let z = a.standard_normals(200_000);
        let n = z.len() as f64;
        let mean = z.iter().sum::<f64>() / n;
        let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
    }
}
