//! Floating-point operations per walker of the gradient network ([`crate::quantum::nn::Potential`],
//! kernels in `src/quantum/fused/potential.rs`), counted analytically from its shape.
//!
//! Shape: n = particles · dims inputs, hidden layers k = 0…L−1 of widths H_k with inputs
//! d_0 = n, d_k = H_{k−1}. Write M = Σ_k d_k H_k (multiply–adds of one pass through the weight
//! matrices), E = Σ_k H_k (hidden units), E' = Σ_{k<L−1} H_k = E − H_{L−1}. A matrix product
//! costs 2 FLOPs per multiply–add; element-wise terms are counted as written in the formulas of
//! `potential.rs` (1 − h² is 2 FLOPs); tanh evaluations (E per pass) are not counted as FLOPs.
//!
//! ```text
//! drift     F_v = 4M + 4E + 2n                      forward h_k, gradient chain a_k, v = a_0 W_0ᵀ + c x
//! Laplacian F_Δ = n [4(M − n H_0) + 3E + 3H_{L−1} + 7E' + 2H_0] + 2H_{L−1} + 2n + 4
//!                                                   n forward-mode tangents ḣ_k, ȧ_k, the trace, and S
//! reverse   F_r = 8M + 4E + 7E' + 8H_{L−1} + 4n     θ̄ and x̄ = ∇²S v̄ through both passes
//! ```
//!
//! Per walker-step:
//!
//! - training (fused engine, s stages, N steps): s (F_v + F_r) + F_v / N (the boundary term's
//!   drift at X_N);
//! - a DMC generation with Metropolis moves: F_v + F_Δ (one evaluation of v, S and E_L at the
//!   proposal; the acceptance ratio reuses them);
//! - a DMC generation without: s F_v (the integrator step) + F_v + F_Δ (E_L at the new point).
//!
//! Left out, all O(n) or O(particles²) per evaluation against O(n M): the potential V and its
//! gradient, the cusp prior, the integrator's stage combinations, the loss and acceptance sums.
//! For benches/h2_gradient.toml (n = 6, two layers of 64) M = 4480 and these are ~0.1 % of the total.

/// The network shape the counts are made from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PotentialShape {
    /// n = particles · dims.
    pub inputs: usize,
    /// H_0 … H_{L−1}.
    pub widths: Vec<usize>,
}

/// FLOPs per walker of each pass (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PassFlops {
    /// F_v: v = ∇S_θ.
    pub drift: f64,
    /// F_Δ: the exact Laplacian ΔS_θ (and S_θ) by forward-mode tangents, after the drift pass.
    pub laplacian: f64,
    /// F_r: the reverse pass of the drift (parameter and input adjoints).
    pub reverse: f64,
}

impl PotentialShape {
    /// M = Σ_k d_k H_k.
    fn products(&self) -> usize {
        let mut d = self.inputs;
        let mut m = 0;
        for &h in &self.widths {
            m += d * h;
            d = h;
        }
        m
    }

    pub fn flops(&self) -> PassFlops {
        let n = self.inputs as f64;
        let m = self.products() as f64;
        let e = self.widths.iter().sum::<usize>() as f64;
        let h0 = self.widths[0] as f64;
        let last = *self.widths.last().expect("at least one hidden layer") as f64;
        let inner = e - last;
        PassFlops {
            drift: 4.0 * m + 4.0 * e + 2.0 * n,
            laplacian: n * (4.0 * (m - n * h0) + 3.0 * e + 3.0 * last + 7.0 * inner + 2.0 * h0) + 2.0 * last + 2.0 * n + 4.0,
            reverse: 8.0 * m + 4.0 * e + 7.0 * inner + 8.0 * last + 4.0 * n,
        }
    }
}

impl PassFlops {
    /// One training walker-step with `stages` drift evaluations per step and `steps` steps.
    pub fn training_step(&self, stages: usize, steps: usize) -> f64 {
        stages as f64 * (self.drift + self.reverse) + self.drift / steps as f64
    }

    /// One DMC walker-generation: with Metropolis moves, or with an integrator step of `stages`.
    pub fn dmc_generation(&self, metropolis: bool, stages: usize) -> f64 {
        let local = self.drift + self.laplacian;
        if metropolis { local } else { stages as f64 * self.drift + local }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The h2.toml network by hand: M = 6·64 + 64·64 = 4480, E = 128, E' = 64.
    #[test]
    fn h2_network_counts() {
        let f = PotentialShape { inputs: 6, widths: vec![64, 64] }.flops();
        assert_eq!(f.drift, 4.0 * 4480.0 + 512.0 + 12.0);
        assert_eq!(f.laplacian, 6.0 * (4.0 * 4096.0 + 384.0 + 192.0 + 448.0 + 128.0) + 128.0 + 12.0 + 4.0);
        assert_eq!(f.reverse, 8.0 * 4480.0 + 512.0 + 448.0 + 512.0 + 24.0);
        // One layer: the Laplacian's tangents need no products beyond the first layer's rows.
        let one = PotentialShape { inputs: 3, widths: vec![8] }.flops();
        assert_eq!(one.laplacian, 3.0 * (0.0 + 24.0 + 24.0 + 0.0 + 16.0) + 16.0 + 6.0 + 4.0);
    }
}
