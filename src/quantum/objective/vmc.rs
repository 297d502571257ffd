//! Variational Monte Carlo (VMC) energy minimisation of a gradient drift: the second training
//! stage (`[vmc]` in a problem file) after the path-space KL.
//!
//! A gradient drift v = ∇log ψ_T, ψ_T = e^{S_θ + S_prior}, makes dX = v dt + dW the overdamped
//! Langevin process with stationary density ψ_T²; Metropolis-adjusted moves (the proposal
//! X′ = X + v dt + √dt ξ, accepted with min(1, ψ_T(X′)² G(X←X′) / ψ_T(X)² G(X′←X)); Rossky, Doll &
//! Friedman, J. Chem. Phys. 69, 4628 (1978); [`crate::quantum::walk::metropolis_sample`]) sample it with
//! no time-step bias. The variational energy and its gradient are then (real ψ_T, Hermitian H;
//! e.g. Umrigar & Filippi, PRL 94, 150201 (2005), eq. 4; Pfau et al., FermiNet, PRR 2, 033429
//! (2020), eq. 7)
//!
//! ```text
//! E(θ) = ⟨E_L⟩_{ψ_T²},      E_L = V − ½(ΔS + |∇S|²)        (S = log ψ_T)
//! ∂E/∂θ = 2 ⟨(E_L − E) ∂_θ S_θ⟩_{ψ_T²}
//! ```
//!
//! No θ-derivative of E_L is needed, and the estimator's variance vanishes as ψ_T → ψ₀ (E_L
//! becomes constant): the zero-variance property that the Feynman–Kac loss lacks. Over W
//! walkers the step differentiates the surrogate
//!
//! ```text
//! L(θ) = Σ_w c_w S_θ(x_w),      c_w = 2(Ẽ_w − mean Ẽ)/W   (c detached)
//! ```
//!
//! with burn's reverse mode through S_θ ([`crate::quantum::nn::DriftNet::log_psi`]); E_L comes from the
//! fused engine's exact Laplacian ([`crate::quantum::fused`]) on the CPU, from [`crate::quantum::autodiff::TensorGuide`] on any
//! other device. Ẽ is E_L clipped to median ± k·(mean absolute deviation) (FermiNet's
//! clipping, k = `clip`): a walker near a node-free but sharp feature cannot dominate one step.
//!
//! With `objective = "variance"` the stage minimises σ²(θ) = ⟨(E_L − E)²⟩_{ψ_T²} instead, the
//! quantity that sets DMC's error bar per unit time. Its zero is reached by any eigenstate,
//! and the fixed-sample gradient (the walkers drawn from ψ_T² at the current θ, not
//! reweighted: Umrigar, Wilson & Wilkins, PRL 60, 1719 (1988); the "unreweighted variance
//! minimisation" of Kent, Needs & Towler, PRB 59, 12344 (1999)) needs ∂_θE_L:
//!
//! ```text
//! L(θ) = Σ_w m_w (E_L(x_w; θ) − Ē)² / Σ_w m_w,     m_w = 1 inside the clipping window, else 0
//! ```
//!
//! with Ē the window's mean (detached). E_L(x; θ) is [`System::local_energy`]: the network's
//! Laplacian as explicit forward-mode tensor ops, which burn's reverse mode differentiates in θ.
//!
//! Why a second stage: the Feynman–Kac loss is estimated from paths at a finite dt, whose
//! optimum is ∇log ψ₀ only as dt → 0, and its gradient noise does not vanish at the optimum, so
//! it stalls at an E_L variance well above what the drift's family can reach (docs/notebook/2026-12-05-h2-jastrow-vmc.md).

use crate::quantum::walk::metropolis_sample;
use crate::path::integrators::EULER_MARUYAMA;
use crate::quantum::nn::DriftNet;
use crate::base::noise::Noise;
use crate::quantum::physics::System;
use crate::quantum::problem::VmcObjective;
use crate::quantum::engine::{EngineStep, GuideFactory, PathEngine};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

/// The VMC training step (see the module docs).
pub struct VmcEngine<'a> {
    pub system: &'a System,
    /// Metropolis-adjusted Langevin moves of every walker per iteration.
    pub moves: usize,
    /// Time step of the moves.
    pub dt: f64,
    /// k of the E_L clipping window median ± k·mean|E_L − median|.
    pub clip: f64,
    pub objective: VmcObjective,
    /// Where the guide of the Metropolis moves comes from ([`crate::quantum::select::guide_on`]).
    pub guide: GuideFactory,
}

/// The walkers' E_L, their mean and the gradient weights c_w of one step.
#[derive(Debug, Clone)]
pub struct VmcWeights {
    pub energy: f64,
    pub weights: Vec<f64>,
}

/// c_w = 2(Ẽ_w − mean Ẽ)/W with Ẽ the E_L clipped to median ± k·mean|E_L − median|; the
/// energy is the unclipped mean (non-finite if any E_L is: the loop then recovers).
pub fn weights(local: &[f64], clip: f64) -> VmcWeights {
    let w = local.len() as f64;
    let energy = local.iter().sum::<f64>() / w;
    if !energy.is_finite() {
        return VmcWeights { energy, weights: vec![0.0; local.len()] };
    }
    let (lo, hi) = window(local, clip);
    let clipped: Vec<f64> = local.iter().map(|e| e.clamp(lo, hi)).collect();
    let mean = clipped.iter().sum::<f64>() / w;
    VmcWeights { energy, weights: clipped.iter().map(|e| 2.0 * (e - mean) / w).collect() }
}

/// The clipping window median ± k·mean|E_L − median| of finite local energies.
fn window(local: &[f64], clip: f64) -> (f64, f64) {
    let mut sorted = local.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let spread = local.iter().map(|e| (e - median).abs()).sum::<f64>() / local.len() as f64;
    (median - clip * spread, median + clip * spread)
}

/// The variance objective's mask m_w (1 inside the clipping window) and the window's mean Ē.
pub fn variance_mask(local: &[f64], clip: f64) -> (Vec<f64>, f64) {
    let (lo, hi) = window(local, clip);
    let mask: Vec<f64> = local.iter().map(|e| if (lo..=hi).contains(e) { 1.0 } else { 0.0 }).collect();
    let kept = mask.iter().sum::<f64>().max(1.0);
    let mean = local.iter().zip(&mask).map(|(e, m)| e * m).sum::<f64>() / kept;
    (mask, mean)
}

impl VmcEngine<'_> {
    /// `moves` Metropolis-adjusted moves of the walkers `x` under the drift of `net`: the new
    /// walkers and their E_L ([`metropolis_sample`]: E_L only at the final positions).
    /// On the CPU the fused engine evaluates the drift and E_L; on another device
    /// ([`crate::quantum::autodiff::TensorGuide`], through [`crate::quantum::select::guide_on`]) they are tensor ops there.
    pub fn sample(&self, net: &DriftNet, x: Vec<f64>, device: &Device, noise: &mut Noise) -> (Vec<f64>, Vec<f64>) {
        let guide = (self.guide)(net, self.system, &EULER_MARUYAMA, device).expect("VMC needs a gradient drift (checked when the problem is read)");
        metropolis_sample(guide.as_ref(), x, self.moves, self.dt, noise)
    }
}

impl PathEngine for VmcEngine<'_> {
    fn step(&mut self, net: &DriftNet, walkers: Tensor<3>, noise: &mut Noise) -> EngineStep {
        let device = walkers.device();
        let shape: [usize; 3] = walkers.dims();
        let x0 = crate::quantum::fused::walker_values(&walkers);
        let (x, local) = self.sample(&net.valid(), x0, &walkers.clone().inner().device(), noise);
        let VmcWeights { energy, weights } = weights(&local, self.clip);
        let walkers = Tensor::<3>::from_data(TensorData::new(x, shape), &device);
        let surrogate = match self.objective {
            VmcObjective::Energy => {
                let s = net.log_psi(walkers.clone()).expect("VMC needs a gradient drift (checked when the problem is read)");
                let c = Tensor::<1>::from_data(TensorData::new(weights, [shape[0]]), &device);
                (s * c).sum()
            }
            VmcObjective::Variance => {
                let (_, e) = self.system.local_energy(net, walkers.clone()).expect("VMC needs a gradient drift (checked when the problem is read)");
                let (mask, mean) = variance_mask(&local, self.clip);
                let kept = mask.iter().sum::<f64>().max(1.0);
                let m = Tensor::<1>::from_data(TensorData::new(mask, [shape[0]]), &device);
                ((e - mean).powi_scalar(2) * m).sum() / kept
            }
        };
        let grads = GradientsParams::from_grads(surrogate.backward(), net);
        EngineStep { loss: energy, energy, grads, walkers }
    }

    fn local_energies(&self, net: &DriftNet, x: &[f64]) -> Option<Vec<f64>> {
        Some(crate::quantum::fused::local_energies(net, self.system, x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::device::Precision;
    use crate::quantum::nn::{MlpConfig, Potential};
    use crate::quantum::physics::Harmonic;
    use burn::tensor::Device;

    fn f64_autodiff() -> Device {
        let mut device = Device::flex();
        Precision::F64.configure(&mut device).unwrap();
        device.autodiff()
    }

    /// A Gaussian trial function ψ = e^{−a|x|²/2} for the 1-D unit oscillator: S = ½c x² with
    /// c = −ρ² = −a, E(a) = a/4 + 1/(4a), so dE/dρ = 2ρ (1/4 − 1/(4ρ⁴)). Walkers drawn exactly
    /// from ψ² = N(0, 1/(2a)) (no moves): the estimated gradient agrees with it within 4σ, and at
    /// a = 1 (the ground state) every E_L is ½ and the gradient vanishes.
    #[test]
    fn gradient_is_the_derivative_of_the_variational_energy() {
        let device = f64_autodiff();
        let system = System::Harmonic(Harmonic { particles: 1, dims: 1, omega: 1.0 });
        let mut noise = Noise::new(3);
        for a in [0.6, 1.0, 1.7] {
            let config = MlpConfig { particles: 1, dims: 1, hidden: 4, layers: 1, skip_init: -a };
            let net = DriftNet::Potential(Potential::init(&config, &mut noise, &device));
            let rho = (a as f64).sqrt();
            let exact = 2.0 * rho * (0.25 - 0.25 / (a * a));
            // Independent batches give the estimator's spread.
            let estimates: Vec<f64> = (0..40)
                .map(|_| {
                    let x: Vec<f64> = noise.standard_normals(2000).iter().map(|z| z / (2.0 * a).sqrt()).collect();
                    let mut engine = VmcEngine { system: &system, moves: 0, dt: 0.1, clip: f64::INFINITY, objective: VmcObjective::Energy, guide: crate::quantum::select::guide_on };
                    let walkers = Tensor::<3>::from_data(TensorData::new(x, [2000, 1, 1]), &device);
                    let step = engine.step(&net, walkers, &mut noise);
                    let DriftNet::Potential(p) = &net else { unreachable!() };
                    let skip = p.skip.as_ref().unwrap();
                    let g = step.grads.get::<1>(skip.id).expect("a gradient for ρ");
                    g.into_data().try_into_vec_as::<f64>().unwrap()[0]
                })
                .collect();
            let mean = estimates.iter().sum::<f64>() / 40.0;
            let sd = (estimates.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / 39.0).sqrt();
            let error = sd / 40f64.sqrt();
            if a == 1.0 {
                assert!(mean.abs() < 1e-12 && sd < 1e-12, "gradient at the ground state: {mean} ± {sd}");
            } else {
                assert!(error > 0.0 && (mean - exact).abs() < 4.0 * error, "a = {a}: {mean} ± {error}, exact {exact}");
                assert!(error < 0.05 * exact.abs(), "a = {a}: error {error} too large to test anything");
            }
        }
    }

    #[test]
    fn clipping_bounds_the_weights_and_keeps_their_sum_zero() {
        let mut local = vec![1.0; 99];
        local.push(1e6);
        local[3] = 0.5;
        let w = weights(&local, 5.0);
        assert!((w.energy - (1e6 + 98.0 + 0.5) / 100.0).abs() < 1e-9);
        let total: f64 = w.weights.iter().map(|c| c.abs()).sum();
        assert!(w.weights.iter().sum::<f64>().abs() < 1e-12 * total);
        // Median 1, mean absolute deviation (0.5 + 999 999)/100: the outlier is cut to 1 + 5·that.
        let high = 1.0 + 5.0 * (0.5 + 999_999.0) / 100.0;
        let mean = (98.0 + 0.5 + high) / 100.0;
        assert!((w.weights[99] - 2.0 * (high - mean) / 100.0).abs() < 1e-9, "outlier weight {}", w.weights[99]);
        assert!((w.weights[0] - 2.0 * (1.0 - mean) / 100.0).abs() < 1e-9);
        let nan = weights(&[1.0, f64::NAN], 5.0);
        assert!(!nan.energy.is_finite());
    }
}
