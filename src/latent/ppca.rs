//! Probabilistic PCA in closed form (Tipping & Bishop 1999): x = W z + μ + ε, z ~ N(0, I_q),
//! ε ~ N(0, σ² I_D). With S the sample covariance and λ_1 ≥ … ≥ λ_D its eigenvalues,
//! σ² = mean(λ_{q+1..D}), W = U_q (Λ_q − σ² I)^{1/2}, and
//! log p(x) = −½ [D ln 2π + ln|C| + (x − μ)ᵀ C⁻¹ (x − μ)], C = W Wᵀ + σ² I.
//! This is the exact maximum-likelihood linear-Gaussian latent model: the reference a linear
//! VAE's ELBO must approach from below.

use super::LN_2PI;
use super::data::Dataset;
use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// A fitted PPCA model.
#[derive(Debug, Clone)]
pub struct Ppca {
    pub mean: DVector<f64>,
    /// D × q.
    pub weight: DMatrix<f64>,
    pub noise_variance: f64,
    c_inverse: DMatrix<f64>,
    log_det_c: f64,
}

impl Ppca {
    /// Maximum-likelihood fit with `q` latent dimensions.
    pub fn fit(data: &Dataset, q: usize) -> Ppca {
        let (n, d) = (data.rows, data.dim);
        let x = DMatrix::from_row_slice(n, d, &data.values);
        let mean = DVector::from_iterator(d, (0..d).map(|j| x.column(j).mean()));
        let mut centred = x;
        for mut row in centred.row_iter_mut() {
            row -= mean.transpose();
        }
        let s = centred.transpose() * &centred / n as f64;
        let eig = SymmetricEigen::new(s);
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let q = q.min(d - 1);
        let sigma2 = order[q..].iter().map(|&k| eig.eigenvalues[k]).sum::<f64>() / (d - q) as f64;
        let sigma2 = sigma2.max(1e-12);
        let mut weight = DMatrix::zeros(d, q);
        for (j, &k) in order[..q].iter().enumerate() {
            let scale = (eig.eigenvalues[k] - sigma2).max(0.0).sqrt();
            weight.set_column(j, &(eig.eigenvectors.column(k) * scale));
        }
        let c = &weight * weight.transpose() + DMatrix::identity(d, d) * sigma2;
        let chol = c.clone().cholesky().expect("C = WWᵀ + σ²I is positive definite");
        let log_det_c = 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
        Ppca { mean, weight, noise_variance: sigma2, c_inverse: chol.inverse(), log_det_c }
    }

    /// log p(x) of one row.
    pub fn log_likelihood(&self, x: &[f64]) -> f64 {
        let r = DVector::from_column_slice(x) - &self.mean;
        let d = x.len() as f64;
        -0.5 * (d * LN_2PI + self.log_det_c + (r.transpose() * &self.c_inverse * &r)[(0, 0)])
    }

    /// Mean log p(x) over the rows of `data` (nats per example).
    pub fn mean_log_likelihood(&self, data: &Dataset) -> f64 {
        (0..data.rows).map(|i| self.log_likelihood(data.row(i))).sum::<f64>() / data.rows as f64
    }
}
