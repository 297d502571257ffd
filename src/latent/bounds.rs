//! Bounds on log p(x) and their estimators.
//!
//! - ELBO: log p(x) ≥ E_q[log p(x, z) − log q(z | x)] = E_q[log w].
//! - IWAE (Burda et al. 2016): log p(x) ≥ E[log (1/K) Σ_k w_k], non-decreasing in K and → log p(x).
//! - Closed-form KL of N(μ, diag σ²) from N(0, I): −KL = ½ Σ_k (1 + log σ_k² − μ_k² − σ_k²).
//! - Bits per dimension of dequantised discrete data with L levels scaled to [0, 1]:
//!   bpd = (−log p(x) + D ln L) / (D ln 2), an upper bound on the discrete model's code length.

use super::chain::{Chain, PathTerm, Stage};
use super::{log_sum_exp, values};
use crate::base::noise::Noise;
use burn::tensor::Tensor;

/// KL(N(μ, diag exp(log_var)) ‖ N(0, I)) per row, `[B]`.
pub fn gaussian_kl(mean: Tensor<2>, log_var: Tensor<2>) -> Tensor<1> {
    let t = log_var.clone().exp() + mean.square() - log_var - 1.0;
    t.sum_dim(1).flatten::<1>(0, 1) * 0.5
}

/// A one-sample ELBO estimate per row, `[B]`. For a one-stage Gaussian chain (the VAE) with
/// `closed_form_kl`, the KL term is exact and only E_q[log p(x | z)] is sampled.
pub fn elbo(chain: &Chain, x: Tensor<2>, noise: &mut Noise, closed_form_kl: bool) -> Tensor<1> {
    if closed_form_kl {
        if let [Stage::Gaussian(g)] = chain.stages.as_slice() {
            let (mean, log_var) = g.encoder.forward(x.clone());
            let eps = noise.gaussian(mean.dims(), 1.0, &mean.device());
            let z = mean.clone() + (log_var.clone() * 0.5).exp() * eps;
            return g.decoder.log_prob(x, z) - gaussian_kl(mean, log_var);
        }
    }
    chain.log_weight(x, noise, PathTerm::Expected).log_weight
}

/// IWAE(K) per row of `x`, as f64, without gradients. Samples are drawn `chunk` at a time.
pub fn iwae(chain: &Chain, x: Tensor<2>, k: usize, chunk: usize, noise: &mut Noise) -> Vec<f64> {
    let [b, d] = x.dims();
    let mut acc: Option<Tensor<2>> = None; // running log Σ w, [1, B]
    let mut done = 0;
    while done < k {
        let n = chunk.min(k - done);
        let xs = x.clone().detach().reshape([1, b, d]).expand([n, b, d]).reshape([n * b, d]);
        let lw = chain.log_weight(xs, noise, PathTerm::Exact).log_weight.detach().reshape([n, b]);
        let part = log_sum_exp(lw, 0);
        acc = Some(match acc {
            None => part,
            Some(a) => log_sum_exp(Tensor::cat(vec![a, part], 0), 0),
        });
        done += n;
    }
    let ln_k = (k as f64).ln();
    values(acc.expect("k ≥ 1")).into_iter().map(|v| v - ln_k).collect()
}

/// IWAE(K) of every row of `x`, in batches of `batch` rows.
pub fn iwae_per_example(chain: &Chain, x: &Tensor<2>, k: usize, batch: usize, noise: &mut Noise) -> Vec<f64> {
    per_batch(x, batch, |xb| {
        let chunk = (4096 / xb.dims()[0]).clamp(1, k);
        iwae(chain, xb, k, chunk, noise)
    })
}

/// A one-sample ELBO (exact path term) of every row of `x`, in batches. A diffusion chain
/// instead sums all T of its Rao–Blackwellised terms, one ε each (same expectation, far less
/// spread than one whole backward path; src/latent/diffusion.rs).
pub fn elbo_per_example(chain: &Chain, x: &Tensor<2>, batch: usize, noise: &mut Noise) -> Vec<f64> {
    if let [Stage::Diffusion(d)] = chain.stages.as_slice() {
        return per_batch(x, batch, |xb| values(d.elbo_all_terms(xb, noise).detach()));
    }
    per_batch(x, batch, |xb| values(chain.log_weight(xb, noise, PathTerm::Exact).log_weight.detach()))
}

/// The mean over rows of the IWAE(K) bound, in batches of `batch` rows.
pub fn mean_iwae(chain: &Chain, x: &Tensor<2>, k: usize, batch: usize, noise: &mut Noise) -> f64 {
    mean_and_stderr(&iwae_per_example(chain, x, k, batch, noise)).0
}

/// The mean over rows of a one-sample ELBO (exact path term), in batches.
pub fn mean_elbo(chain: &Chain, x: &Tensor<2>, batch: usize, noise: &mut Noise) -> f64 {
    mean_and_stderr(&elbo_per_example(chain, x, batch, noise)).0
}

pub use crate::stats::mean_and_stderr;

fn per_batch(x: &Tensor<2>, batch: usize, mut f: impl FnMut(Tensor<2>) -> Vec<f64>) -> Vec<f64> {
    let n = x.dims()[0];
    let mut all = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let m = batch.min(n - start);
        all.extend(f(x.clone().narrow(0, start, m)));
        start += m;
    }
    all
}

/// Bits per dimension of `log_p` (nats per example) for `dims` dimensions of data with `levels`
/// discrete levels dequantised onto [0, 1].
pub fn bits_per_dim(log_p: f64, dims: usize, levels: usize) -> f64 {
    (-log_p + dims as f64 * (levels as f64).ln()) / (dims as f64 * std::f64::consts::LN_2)
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::latent::{log_normal, log_standard_normal};
    use burn::tensor::{Device, FloatDType, TensorData};

    /// The closed-form KL against a Monte Carlo average of log q(z) − log p(z), z ~ q.
    #[test]
    fn closed_form_gaussian_kl_matches_monte_carlo() {
        let mut device = Device::flex();
        let _ = device.configure(FloatDType::F64);
        let n = 200_000;
        let (mean, log_var): (Vec<f64>, Vec<f64>) = (vec![0.7, -1.2, 0.1], vec![-0.5, 0.8, -2.0]);
        let m = Tensor::<2>::from_data(TensorData::new(mean.clone(), [1, 3]), &device).expand([n, 3]);
        let lv = Tensor::<2>::from_data(TensorData::new(log_var.clone(), [1, 3]), &device).expand([n, 3]);
        let z = m.clone() + (lv.clone() * 0.5).exp() * Noise::new(1).gaussian([n, 3], 1.0, &device);
        let samples = values(log_normal(z.clone(), m.clone(), lv.clone()) - log_standard_normal(z));
        let mc = samples.iter().sum::<f64>() / n as f64;
        let se = (samples.iter().map(|s| (s - mc).powi(2)).sum::<f64>() / (n as f64 - 1.0) / n as f64).sqrt();
        let exact = values(gaussian_kl(m.narrow(0, 0, 1), lv.narrow(0, 0, 1)))[0];
        let by_hand: f64 = mean.iter().zip(&log_var).map(|(m, l)| 0.5 * (l.exp() + m * m - l - 1.0)).sum();
        assert!((exact - by_hand).abs() < 1e-12, "{exact} vs {by_hand}");
        assert!((mc - exact).abs() < 4.0 * se, "Monte Carlo {mc} ± {se} vs closed form {exact}");
    }

    #[test]
    fn bits_per_dim_of_the_uniform_density_is_log2_of_the_levels() {
        // The uniform density on [0, 1]^D has log p = 0: L equally likely levels per dimension.
        assert!((bits_per_dim(0.0, 64, 17) - 17f64.log2()).abs() < 1e-12);
    }
}
