//! Blocking analysis of a correlated time series (Flyvbjerg & Petersen, J. Chem. Phys. 91, 461
//! (1989)). The series is repeatedly halved by averaging neighbours; the naive standard error
//! of the blocked series grows until blocks are longer than the correlation time and then
//! plateaus. The error reported is the plateau value.

use super::Estimate;

/// The result of a blocking analysis.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Blocking {
    pub mean: f64,
    /// The plateau standard error.
    pub error: f64,
    /// Standard error at each blocking level (level k: blocks of 2^k samples).
    pub errors: Vec<f64>,
    /// The level chosen as the plateau.
    pub level: usize,
}

impl Blocking {
    pub fn estimate(&self) -> Estimate {
        Estimate { value: self.mean, error: self.error }
    }
}

/// Blocking analysis of `series`. The plateau is the first level whose error agrees with the
/// next one within the next one's own uncertainty (σ/√(2(n−1))) while errors have stopped
/// growing; with too few levels to see one, the largest error seen is returned (conservative).
pub fn blocking(series: &[f64]) -> Blocking {
    let n = series.len();
    let mean = series.iter().sum::<f64>() / n as f64;
    let mut data = series.to_vec();
    let mut errors = Vec::new();
    let mut counts = Vec::new();
    while data.len() >= 4 {
        let m = data.len() as f64;
        let mu = data.iter().sum::<f64>() / m;
        let var = data.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (m - 1.0);
        errors.push((var / m).sqrt());
        counts.push(data.len());
        data = data.chunks_exact(2).map(|c| 0.5 * (c[0] + c[1])).collect();
    }
    if errors.is_empty() {
        return Blocking { mean, error: f64::NAN, errors, level: 0 };
    }
    // Search for the plateau among levels that still have ≥ 16 blocks.
    let usable = counts.iter().filter(|&&c| c >= 16).count().max(1);
    let mut level = None;
    for k in 0..usable.saturating_sub(1) {
        let next = errors[k + 1];
        let tolerance = next / (2.0 * (counts[k + 1] as f64 - 1.0)).sqrt();
        if (errors[k + 1] - errors[k]).abs() <= tolerance {
            level = Some(k + 1);
            break;
        }
    }
    let (level, error) = match level {
        Some(k) => (k, errors[k]),
        None => {
            let (k, e) = errors[..usable].iter().copied().enumerate().fold((0, 0.0), |acc, (k, e)| if e > acc.1 { (k, e) } else { acc });
            (k, e)
        }
    };
    Blocking { mean, error, errors, level }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::Noise;

    /// AR(1) series x_{t+1} = φ x_t + √(1−φ²) ε: the variance of the mean is
    /// (1/n)(1+φ)/(1−φ) for unit marginal variance; naive errors underestimate it by √((1+φ)/(1−φ)).
    #[test]
    fn blocking_recovers_ar1_error() {
        let phi: f64 = 0.9;
        let mut noise = Noise::new(11);
        let eps = noise.standard_normals(1 << 17);
        let mut x = 0.0;
        let series: Vec<f64> = eps.iter().map(|e| { x = phi * x + (1.0 - phi * phi).sqrt() * e; x }).collect();
        let b = blocking(&series);
        let exact = ((1.0 + phi) / (1.0 - phi) / series.len() as f64).sqrt();
        assert!((b.error / exact - 1.0).abs() < 0.2, "blocking {} vs exact {}", b.error, exact);
        assert!(b.errors[0] < 0.4 * exact, "naive error should underestimate");
    }
}
