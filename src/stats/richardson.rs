//! Richardson extrapolation in the time step. With E(h) ≈ E + c·h^p (p the integrator's weak
//! order), E ≈ (2^p E(h/2) − E(h)) / (2^p − 1); the difference E(h) − E is the time-step bias
//! of E(h). Independent statistical errors propagate as
//! σ² = (4^p σ(h/2)² + σ(h)²) / (2^p − 1)².

use super::Estimate;

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Extrapolation {
    /// E(h → 0).
    pub value: Estimate,
    /// Estimated time-step bias of E(h): E(h) − E(0).
    pub bias: f64,
    pub order: u32,
}

pub fn richardson(coarse: Estimate, fine: Estimate, order: u32) -> Extrapolation {
    let f = 2f64.powi(order as i32);
    let value = (f * fine.value - coarse.value) / (f - 1.0);
    let error = ((f * fine.error).powi(2) + coarse.error.powi(2)).sqrt() / (f - 1.0);
    Extrapolation { value: Estimate { value, error }, bias: coarse.value - value, order }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_for_pure_power_law() {
        let e = |h: f64| 1.5 + 0.3 * h * h;
        let x = richardson(Estimate { value: e(0.1), error: 0.0 }, Estimate { value: e(0.05), error: 0.0 }, 2);
        assert!((x.value.value - 1.5).abs() < 1e-12);
        assert!((x.bias - 0.003).abs() < 1e-12);
    }
}
