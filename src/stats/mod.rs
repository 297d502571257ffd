//! Statistics of sampled numbers: means and standard errors, control variates, blocking error
//! bars of correlated series, plateau detection and time-step (Richardson) extrapolation.
//! Pure f64 code: it reads numbers, writes no files and knows neither application.

mod blocking;
mod plateau;
mod richardson;

pub use blocking::{Blocking, blocking};
pub use plateau::{Slope, fit_slope};
pub use richardson::{Extrapolation, richardson};

/// A value with its one-standard-deviation statistical error.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub error: f64,
}

/// Mean and standard error of independent samples (e.g. one number per independent walker:
/// batch means over walkers).
pub fn mean_and_error(samples: &[f64]) -> Estimate {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let var = if samples.len() > 1 {
        samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        f64::NAN
    };
    Estimate { value: mean, error: (var / n).sqrt() }
}

/// Mean and standard error (over independent examples) of per-example values, as a
/// pair (the latent models' bounds; n − 1 in the variance, at least 1).
pub fn mean_and_stderr(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, (var / n).sqrt())
}

/// Control-variate estimate of E[a] from independent pairs (a_i, b_i) with E[b] = 0 known:
/// â = mean(a − c b), c = cov(a, b)/var(b) (the variance-minimising coefficient, estimated
/// from the same samples; its O(1/n) bias is far below the statistical error for n ≳ 100).
/// Returns the estimate and c.
pub fn control_variate(a: &[f64], b: &[f64]) -> (Estimate, f64) {
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let cov = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum::<f64>() / (n - 1.0);
    let var_b = b.iter().map(|y| (y - mb).powi(2)).sum::<f64>() / (n - 1.0);
    let c = if var_b > 0.0 { cov / var_b } else { 0.0 };
    let adjusted: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - c * y).collect();
    (mean_and_error(&adjusted), c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::noise::Noise;

    #[test]
    fn control_variate_removes_correlated_noise() {
        let mut noise = Noise::new(3);
        let z = noise.standard_normals(4000);
        let e = noise.standard_normals(4000);
        // a = 2 + z + 0.1 e, b = z: the control variate leaves only the 0.1 e part.
        let a: Vec<f64> = z.iter().zip(&e).map(|(z, e)| 2.0 + z + 0.1 * e).collect();
        let (est, c) = control_variate(&a, &z);
        let plain = mean_and_error(&a);
        assert!((c - 1.0).abs() < 0.02, "c = {c}");
        assert!(est.error < plain.error / 5.0);
        assert!((est.value - 2.0).abs() < 4.0 * est.error);
    }
}
