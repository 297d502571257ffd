//! Plateau test of a training curve: the least-squares slope of a series against its abscissa
//! over the last window, compared with its own standard error.
//!
//! For points (t_i, y_i), i = 1…W, the ordinary least-squares slope is
//! b = Σ(t_i − t̄)(y_i − ȳ) / S_tt with S_tt = Σ(t_i − t̄)², and its standard error from the
//! residuals r_i is σ_b = √(Σr_i² / ((W − 2) S_tt)) (e.g. Press et al., *Numerical Recipes*,
//! 3rd ed., §15.2). A series is flat when |b| ≤ z σ_b (no trend distinguishable from its noise)
//! or when the change it implies over the window, |b|(t_W − t_1), is below `tolerance` times
//! `scale` (a trend too small to matter). Block means of ~100 training iterations are close to
//! independent, which is what σ_b assumes.

/// A fitted slope and its standard error.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Slope {
    pub slope: f64,
    pub error: f64,
    /// |slope| · (t_W − t_1).
    pub change: f64,
}

/// Least-squares slope of `y` against `t` (at least 3 points, not all at one t).
pub fn fit_slope(t: &[f64], y: &[f64]) -> Option<Slope> {
    let w = t.len();
    if w < 3 || y.len() != w {
        return None;
    }
    let (t_mean, y_mean) = (t.iter().sum::<f64>() / w as f64, y.iter().sum::<f64>() / w as f64);
    let s_tt: f64 = t.iter().map(|t| (t - t_mean).powi(2)).sum();
    if s_tt <= 0.0 {
        return None;
    }
    let slope = t.iter().zip(y).map(|(t, y)| (t - t_mean) * (y - y_mean)).sum::<f64>() / s_tt;
    let residuals: f64 = t.iter().zip(y).map(|(t, y)| (y - y_mean - slope * (t - t_mean)).powi(2)).sum();
    let error = (residuals / ((w - 2) as f64 * s_tt)).sqrt();
    Some(Slope { slope, error, change: slope.abs() * (t[w - 1] - t[0]) })
}

impl Slope {
    /// Flat within `z` standard errors, or a change below `tolerance · scale`.
    pub fn is_flat(&self, z: f64, tolerance: f64, scale: f64) -> bool {
        self.slope.abs() <= z * self.error || self.change <= tolerance * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::noise::Noise;

    #[test]
    fn exact_line_has_zero_error() {
        let t = [0.0, 1.0, 2.0, 3.0];
        let s = fit_slope(&t, &[1.0, 3.0, 5.0, 7.0]).unwrap();
        assert!((s.slope - 2.0).abs() < 1e-12 && s.error < 1e-12 && (s.change - 6.0).abs() < 1e-12);
        assert!(!s.is_flat(2.0, 0.0, 1.0));
        assert!(fit_slope(&t[..2], &[1.0, 2.0]).is_none());
    }

    /// Pure noise is flat (at 2σ in most draws); a trend of 10σ per window is not.
    #[test]
    fn noise_is_flat_and_a_trend_is_not() {
        let mut noise = Noise::new(3);
        let t: Vec<f64> = (0..10).map(|i| 100.0 * i as f64).collect();
        let mut flat = 0;
        for _ in 0..200 {
            let y = noise.standard_normals(10);
            flat += usize::from(fit_slope(&t, &y).unwrap().is_flat(2.0, 0.0, 1.0));
            let trend: Vec<f64> = y.iter().zip(&t).map(|(y, t)| y + 0.05 * t).collect();
            assert!(!fit_slope(&t, &trend).unwrap().is_flat(2.0, 0.0, 1.0));
        }
        assert!(flat > 170, "{flat} of 200 noise series flat");
    }
}
