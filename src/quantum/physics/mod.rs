//! Hamiltonians H = −½∇² + V as data: the potential V, the particle layout and, where the
//! physics implies one, an analytic prior drift (Kato cusps). No networks, no files here.
//!
//! Units are atomic (hartree, bohr). See `../shared/REFERENCE.md` of the project and each
//! submodule for the formulas and exact energies.

pub mod exact;
mod harmonic;

mod molecule;
mod trap;

pub use harmonic::Harmonic;
pub use molecule::{Molecule, Nucleus};
pub use trap::{GaussianInteraction, HarmonicTrap};

use burn::tensor::Tensor;

/// A quantum system of identical particles in `dims` dimensions.
#[derive(Debug, Clone)]
pub enum System {
    Harmonic(Harmonic),
    Molecule(Molecule),
    HarmonicTrap(HarmonicTrap),
}

impl System {
    /// Number of particles N.
    pub fn particles(&self) -> usize {
        match self {
            System::Harmonic(s) => s.particles,
            System::Molecule(s) => s.electrons,
            System::HarmonicTrap(s) => s.particles,
        }
    }

    /// Spatial dimension d.
    pub fn dims(&self) -> usize {
        match self {
            System::Harmonic(s) => s.dims,
            System::Molecule(_) => 3,
            System::HarmonicTrap(s) => s.dims,
        }
    }

    /// V(x) for walkers `x` of shape [walkers, particles, dims]; returns [walkers].
    pub fn potential(&self, x: Tensor<3>) -> Tensor<1> {
        match self {
            System::Harmonic(s) => s.potential(x),
            System::Molecule(s) => s.potential(x),
            System::HarmonicTrap(s) => s.potential(x),
        }
    }

    /// Analytic part of the drift implied by the physics (Kato cusps for Coulomb systems),
    /// to which a network adds. `None` where the system implies none.
    pub fn prior_drift(&self, x: Tensor<3>) -> Option<Tensor<3>> {
        match self {
            System::Molecule(s) if s.cusps => Some(s.cusp_drift(x)),
            _ => None,
        }
    }

    /// The potential of [`Self::prior_drift`] (its gradient is the drift; [walkers]); `None`
    /// where there is no prior.
    pub fn prior_potential(&self, x: Tensor<3>) -> Option<Tensor<1>> {
        match self {
            System::Molecule(s) if s.cusps => Some(s.cusp_potential(x)),
            _ => None,
        }
    }

    /// The Laplacian of the potential of [`Self::prior_drift`] ([walkers]); `None` where there
    /// is no prior.
    pub fn prior_laplacian(&self, x: Tensor<3>) -> Option<Tensor<1>> {
        match self {
            System::Molecule(s) if s.cusps => Some(s.cusp_laplacian(x)),
            _ => None,
        }
    }

    /// The exact ground-state energy where it is known in closed form.
    pub fn exact_energy(&self) -> Option<f64> {
        match self {
            System::Harmonic(s) => Some(s.exact_energy()),
            System::HarmonicTrap(s) => s.exact_energy(),
            System::Molecule(s) => s.exact_energy(),
        }
    }

    /// What any ground-state energy of this system must respect (to judge a run's result):
    /// a rigorous lower bound where one is known (the oscillator's exact energy; for a trap with
    /// repulsive or no interaction, the non-interacting energy), for a molecule the energy of
    /// the bare nuclei V_nn (every electron removed: a ground state lies at or below it), and
    /// the energy scale (N·d·ω/2; for a molecule electrons·Z²/2 + |V_nn|).
    pub fn energy_bounds(&self) -> EnergyBounds {
        match self {
            System::Harmonic(s) => EnergyBounds { lower: Some(s.exact_energy()), ionization: None, scale: s.exact_energy() },
            System::HarmonicTrap(s) => s.energy_bounds(),
            System::Molecule(m) => {
                let z = m.nuclei.iter().map(|n| n.charge).fold(0.0, f64::max);
                let v = m.nuclear_repulsion();
                EnergyBounds { lower: None, ionization: Some(v), scale: m.electrons as f64 * z * z / 2.0 + v.abs() }
            }
        }
    }

    /// Centres around which initial walkers are drawn, one per particle ([particles][dims]).
    pub fn initial_centres(&self) -> Vec<Vec<f64>> {
        match self {
            System::Molecule(s) => s.initial_centres(),
            _ => vec![vec![0.0; self.dims()]; self.particles()],
        }
    }

    /// Centres of the one-body potential: the nuclei of a molecule, the trap centre otherwise.
    pub fn centres(&self) -> Vec<Vec<f64>> {
        match self {
            System::Molecule(s) => s.nuclei.iter().map(|n| n.position.to_vec()).collect(),
            _ => vec![vec![0.0; self.dims()]],
        }
    }

    /// A characteristic length for initial walker spreads.
    pub fn length_scale(&self) -> f64 {
        match self {
            System::Harmonic(s) => 1.0 / s.omega.sqrt(),
            System::HarmonicTrap(s) => 1.0 / s.omega.sqrt(),
            System::Molecule(_) => 1.0,
        }
    }
}

/// See [`System::energy_bounds`].
#[derive(Debug, Clone, Copy)]
pub struct EnergyBounds {
    pub lower: Option<f64>,
    /// The complete-ionisation threshold (molecules): the ground state lies at or below it.
    pub ionization: Option<f64>,
    pub scale: f64,
}

/// Pairwise differences x_i − x_j for i < j: returns the list of (i, j, [walkers, dims]).
pub(crate) fn pair_differences(x: &Tensor<3>) -> Vec<(usize, usize, Tensor<2>)> {
    let [w, n, d] = x.dims();
    let mut out = Vec::new();
    for i in 0..n {
        for j in (i + 1)..n {
            let xi = x.clone().slice([0..w, i..i + 1, 0..d]).reshape([w, d]);
            let xj = x.clone().slice([0..w, j..j + 1, 0..d]).reshape([w, d]);
            out.push((i, j, xi - xj));
        }
    }
    out
}
