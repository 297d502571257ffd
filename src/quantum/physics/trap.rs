//! Bosons in a harmonic trap with a Gaussian pair interaction (d dimensions):
//!
//! V = ½ ω² Σ_i |r_i|² + Σ_{i<j} g/(π s²) · exp(−|r_i − r_j|²/s²).
//!
//! g = 0: E₀ = ω d N / 2. First order in g (d = 2, ω = 1): E₀ ≈ N + g N(N−1) / (2π(2 + s²)).

use super::{Harmonic, pair_differences};
use burn::tensor::Tensor;

/// Most grid cells [`HarmonicTrap::exact_energy`] spends on the two-particle reference.
pub const MAX_EXACT_CELLS: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct GaussianInteraction {
    pub g: f64,
    pub s: f64,
}

#[derive(Debug, Clone)]
pub struct HarmonicTrap {
    pub particles: usize,
    pub dims: usize,
    pub omega: f64,
    pub interaction: Option<GaussianInteraction>,
}

impl HarmonicTrap {
    fn trap(&self) -> Harmonic {
        Harmonic { particles: self.particles, dims: self.dims, omega: self.omega }
    }

    /// Trap plus pair interaction, [walkers].
    pub fn potential(&self, x: Tensor<3>) -> Tensor<1> {
        let mut v = self.trap().potential(x.clone());
        if let Some(GaussianInteraction { g, s }) = self.interaction {
            if g != 0.0 {
                let [w, _, _] = x.dims();
                let amplitude = g / (std::f64::consts::PI * s * s);
                for (_, _, d) in pair_differences(&x) {
                    let r2 = (d.clone() * d).sum_dim(1).reshape([w]);
                    v = v + (r2 * (-1.0 / (s * s))).exp() * amplitude;
                }
            }
        }
        v
    }

    /// Exact energy where it is known: the non-interacting trap (ωdN/2), and two particles in
    /// d ≤ 3 dimensions, whose relative motion separates ([`super::exact::two_bosons_energy`],
    /// converged to ~1e-10; left out when the range s is so short against the trap length that
    /// the grid would pass [`MAX_EXACT_CELLS`]).
    pub fn exact_energy(&self) -> Option<f64> {
        match &self.interaction {
            Some(i) if i.g != 0.0 => {
                let solvable = self.particles == 2
                    && (1..=3).contains(&self.dims)
                    && 4 * super::exact::default_grid_cells(self.omega, i.s) <= MAX_EXACT_CELLS;
                solvable.then(|| super::exact::two_bosons_energy(self.dims, self.omega, i.g, i.s).0)
            }
            _ => Some(self.trap().exact_energy()),
        }
    }

    /// The non-interacting energy bounds the ground state from below for g ≥ 0; the scale is the
    /// first-order energy.
    pub fn energy_bounds(&self) -> super::EnergyBounds {
        let free = self.trap().exact_energy();
        let repulsive = self.interaction.as_ref().is_none_or(|i| i.g >= 0.0);
        super::EnergyBounds { lower: repulsive.then_some(free), ionization: None, scale: self.first_order_energy().abs().max(free) }
    }

    /// First-order perturbation theory in g (ground state of the trap, exact Gaussian overlap):
    /// ⟨Σ_{i<j} g/(πs²) e^{−r²/s²}⟩ = N(N−1)/2 · g/(πs²) · (1 + 2/(ω s²))^{−d/2}.
    /// For d = 2, ω = 1 this is g N(N−1) / (2π(2 + s²)).
    pub fn first_order_energy(&self) -> f64 {
        let e0 = self.trap().exact_energy();
        match &self.interaction {
            None => e0,
            Some(GaussianInteraction { g, s }) => {
                let n = self.particles as f64;
                let overlap = (1.0 + 2.0 / (self.omega * s * s)).powf(-(self.dims as f64) / 2.0);
                e0 + n * (n - 1.0) / 2.0 * g / (std::f64::consts::PI * s * s) * overlap
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_order_matches_reference_formula_in_2d() {
        let t = HarmonicTrap {
            particles: 3,
            dims: 2,
            omega: 1.0,
            interaction: Some(GaussianInteraction { g: 0.3, s: 0.5 }),
        };
        let n = 3.0;
        let reference = n + 0.3 * n * (n - 1.0) / (2.0 * std::f64::consts::PI * (2.0 + 0.25));
        assert!((t.first_order_energy() - reference).abs() < 1e-12);
    }
}
