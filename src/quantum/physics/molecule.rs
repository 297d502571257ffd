//! A molecule in the Born–Oppenheimer approximation: fixed nuclei A with charges Z_A at R_A,
//! electrons at r_i (3-D):
//!
//! V = Σ_i Σ_A −Z_A/|r_i − R_A| + Σ_{i<j} 1/|r_i − r_j| + Σ_{A<B} Z_A Z_B/|R_A − R_B|.
//!
//! Only two electrons in a spin singlet are supported (nodeless spatial ground state, e.g. H₂,
//! He, H⁻); more electrons need fermionic antisymmetry and are rejected when the problem is read.
//!
//! Kato cusp conditions (REFERENCE.md, "Cusp conditions") give the analytic prior drift
//! v_i ⊃ Σ_A −Z_A r̂_iA + Σ_{j≠i} ½ r̂_ij, which keeps the drift right where V is singular.

use super::pair_differences;
use burn::tensor::{Tensor, TensorData};

/// One nucleus: charge Z and position R (bohr).
#[derive(Debug, Clone)]
pub struct Nucleus {
    pub charge: f64,
    pub position: [f64; 3],
}

#[derive(Debug, Clone)]
pub struct Molecule {
    pub electrons: usize,
    pub nuclei: Vec<Nucleus>,
    /// Add the analytic Kato cusp terms to the drift.
    pub cusps: bool,
}

/// Smallest distance used in 1/r and r̂, to keep a walker that lands on a nucleus finite.
const R_MIN_SQ: f64 = 1e-12;

impl Molecule {
    /// Σ_{A<B} Z_A Z_B / |R_A − R_B|.
    pub fn nuclear_repulsion(&self) -> f64 {
        let mut e = 0.0;
        for (a, na) in self.nuclei.iter().enumerate() {
            for nb in &self.nuclei[a + 1..] {
                let r: f64 = (0..3).map(|k| (na.position[k] - nb.position[k]).powi(2)).sum::<f64>().sqrt();
                e += na.charge * nb.charge / r;
            }
        }
        e
    }

    /// The vectors r_i − R_A as [walkers, particles, 3] for nucleus A.
    fn from_nucleus(&self, x: &Tensor<3>, nucleus: &Nucleus) -> Tensor<3> {
        let centre = Tensor::<1>::from_data(TensorData::new(nucleus.position.to_vec(), [3]), &x.device())
            .reshape([1, 1, 3]);
        x.clone() - centre
    }

    pub fn potential(&self, x: Tensor<3>) -> Tensor<1> {
        let [w, _, _] = x.dims();
        let mut v = Tensor::<1>::zeros([w], &x.device()) + self.nuclear_repulsion();
        for nucleus in &self.nuclei {
            let d = self.from_nucleus(&x, nucleus);
            let inv_r = (d.clone() * d).sum_dim(2).clamp_min(R_MIN_SQ).sqrt().recip(); // [w, n, 1]
            v = v - inv_r.sum_dim(1).reshape([w]) * nucleus.charge;
        }
        for (_, _, d) in pair_differences(&x) {
            let inv_r = (d.clone() * d).sum_dim(1).clamp_min(R_MIN_SQ).sqrt().recip();
            v = v + inv_r.reshape([w]);
        }
        v
    }

    /// Kato cusp drift: v_i = Σ_A −Z_A (r_i − R_A)/|r_i − R_A| + Σ_{j≠i} ½ (r_i − r_j)/|r_i − r_j|.
    pub fn cusp_drift(&self, x: Tensor<3>) -> Tensor<3> {
        let [w, n, _] = x.dims();
        let mut v = x.zeros_like();
        for nucleus in &self.nuclei {
            let d = self.from_nucleus(&x, nucleus);
            let r = (d.clone() * d.clone()).sum_dim(2).clamp_min(R_MIN_SQ).sqrt();
            v = v - d / r * nucleus.charge;
        }
        if n > 1 {
            // r̂_ij for all ordered pairs via broadcasting: [w, n, n, 3].
            let xi = x.clone().reshape([w, n, 1, 3]);
            let xj = x.reshape([w, 1, n, 3]);
            let d = xi - xj;
            let r = (d.clone() * d.clone()).sum_dim(3).clamp_min(R_MIN_SQ).sqrt();
            // The i = j terms have d = 0 and contribute 0.
            v = v + (d / r).sum_dim(2).reshape([w, n, 3]) * 0.5;
        }
        v
    }

    /// The cusp prior's potential S = Σ_{i,A} −Z_A r_iA + Σ_{i<j} ½ r_ij ([walkers]; ψ_prior = e^S,
    /// ∇S = [`Self::cusp_drift`], same clamp).
    pub fn cusp_potential(&self, x: Tensor<3>) -> Tensor<1> {
        let [w, _, _] = x.dims();
        let mut s = Tensor::<1>::zeros([w], &x.device());
        for nucleus in &self.nuclei {
            let d = self.from_nucleus(&x, nucleus);
            let r = (d.clone() * d).sum_dim(2).clamp_min(R_MIN_SQ).sqrt();
            s = s - r.sum_dim(1).reshape([w]) * nucleus.charge;
        }
        for (_, _, d) in pair_differences(&x) {
            let r = (d.clone() * d).sum_dim(1).clamp_min(R_MIN_SQ).sqrt();
            s = s + r.reshape([w]) * 0.5;
        }
        s
    }

    /// The Laplacian of the cusp prior's potential S = Σ_{i,A} −Z_A r_iA + Σ_{i<j} ½ r_ij (whose
    /// gradient is [`Self::cusp_drift`]): Δr = 2/r in 3-D for either particle, so
    /// ΔS = Σ_{i,A} −2Z_A/r_iA + Σ_{i<j} 2/r_ij ([walkers]; same clamp as the drift).
    pub fn cusp_laplacian(&self, x: Tensor<3>) -> Tensor<1> {
        let [w, _, _] = x.dims();
        let mut lap = Tensor::<1>::zeros([w], &x.device());
        for nucleus in &self.nuclei {
            let d = self.from_nucleus(&x, nucleus);
            let inv_r = (d.clone() * d).sum_dim(2).clamp_min(R_MIN_SQ).sqrt().recip();
            lap = lap - inv_r.sum_dim(1).reshape([w]) * (2.0 * nucleus.charge);
        }
        for (_, _, d) in pair_differences(&x) {
            let inv_r = (d.clone() * d).sum_dim(1).clamp_min(R_MIN_SQ).sqrt().recip();
            lap = lap + inv_r.reshape([w]) * 2.0;
        }
        lap
    }

    /// Exact energies known here: a single-nucleus one-electron atom, −Z²/2.
    pub fn exact_energy(&self) -> Option<f64> {
        (self.electrons == 1 && self.nuclei.len() == 1).then(|| -0.5 * self.nuclei[0].charge.powi(2))
    }

    /// Electrons start on the nuclei, distributed round-robin.
    pub fn initial_centres(&self) -> Vec<Vec<f64>> {
        (0..self.electrons).map(|i| self.nuclei[i % self.nuclei.len()].position.to_vec()).collect()
    }
}
