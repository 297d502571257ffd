//! Isotropic harmonic oscillator: V = ½ ω² Σ_i |r_i|², E₀ = ω·d·N/2, optimal drift v* = −ω x.

use burn::tensor::Tensor;

#[derive(Debug, Clone)]
pub struct Harmonic {
    pub particles: usize,
    pub dims: usize,
    pub omega: f64,
}

impl Harmonic {
    /// V(x) = ½ ω² Σ |x|², summed over particles and dimensions.
    pub fn potential(&self, x: Tensor<3>) -> Tensor<1> {
        let [w, _, _] = x.dims();
        (x.clone() * x).reshape([w as i64, -1]).sum_dim(1).reshape([w]) * (0.5 * self.omega * self.omega)
    }

    /// E₀ = ω d N / 2.
    pub fn exact_energy(&self) -> f64 {
        self.omega * (self.dims * self.particles) as f64 / 2.0
    }
}
