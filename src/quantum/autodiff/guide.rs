//! A [`Guide`] in burn tensor ops on the run's device (the GPU path of the guided estimators,
//! issue 17): the drift v = ∇log ψ_T, the exact local energy E_L = V − ½(Δlog ψ_T + |v|²)
//! ([`System::local_energy`], the network's Laplacian as an explicit forward-mode pass) and
//! log ψ_T = S_θ + S_prior for the Metropolis ratio, for the gradient drifts (`jastrow`,
//! `gradient`). The walker loop ([`crate::quantum::walk::walk`]) keeps its host logic: branching, population
//! control and the Metropolis accept/reject run on the host, on the values this guide returns.
//!
//! Host ↔ device traffic per generation: the proposed walkers go up (W·N·d values) and v, E_L
//! and log ψ_T come back (W·(N·d + 2)); nothing else. The network's parameters stay on the
//! device for the whole walk. On the CPU the fused engine ([`crate::quantum::fused::FusedSimulator`])
//! computes the same numbers faster and stays the default there; the two agree to 1e-10 in f64
//! (`tensor_guide_equals_the_fused_guide`).

use crate::quantum::engine::{Advance, Guide, GuideValues};
use super::{BurnSimulator, full_drift};
use crate::quantum::engine::PathSimulator;
use crate::path::integrators::Integrator;
use crate::quantum::nn::DriftNet;
use crate::base::noise::Noise;
use crate::quantum::physics::System;
use burn::tensor::{Device, Tensor, TensorData};

/// The guide (see the module docs).
pub struct TensorGuide<'a> {
    net: &'a DriftNet,
    system: &'a System,
    integrator: &'a dyn Integrator,
    device: Device,
}

impl<'a> TensorGuide<'a> {
    /// A guide on `device` for a gradient drift; `None` for drifts that are not gradients (their
    /// divergence has no tensor form here).
    pub fn new(net: &'a DriftNet, system: &'a System, integrator: &'a dyn Integrator, device: &Device) -> Option<Self> {
        matches!(net, DriftNet::Potential(_) | DriftNet::Jastrow(_)).then(|| TensorGuide { net, system, integrator, device: device.clone() })
    }

    /// S_e = S_θ + S_prior per walker at the walkers `t` ([`Self::tensor`]).
    fn log_psi(&self, t: Tensor<3>) -> Vec<f64> {
        let s = self.net.log_psi(t.clone()).expect("a gradient drift");
        values(match self.system.prior_potential(t) {
            Some(prior) => s + prior,
            None => s,
        })
    }

    fn tensor(&self, x: &[f64]) -> Tensor<3> {
        let (n, d) = (self.system.particles(), self.system.dims());
        Tensor::<3>::from_data(TensorData::new(x.to_vec(), [x.len() / (n * d), n, d]), &self.device)
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_into_vec_as::<f64>().expect("float tensor")
}

impl Guide for TensorGuide<'_> {
    fn dim(&self) -> usize {
        self.system.particles() * self.system.dims()
    }

    /// One step of the problem's integrator on the device, with the evaluation paths' noise order.
    fn advance(&self, x: &[f64], dt: f64, noise: &mut Noise) -> Advance {
        let drift = full_drift(self.net, self.system);
        let potential = |x: Tensor<3>| self.system.potential(x);
        let mut simulator = BurnSimulator { drift: &drift, potential: &potential, integrator: self.integrator };
        let measured = simulator.measure(self.tensor(x), 1, dt, noise);
        Advance { next: values(measured.walkers.expect("the final walkers")), running: measured.running, martingale: measured.martingale }
    }

    fn local_energy(&self, x: &[f64]) -> Vec<f64> {
        self.drift_and_local_energy(x).1
    }

    fn drift_and_local_energy(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (v, e) = self.system.local_energy(self.net, self.tensor(x)).expect("a gradient drift");
        (values(v), values(e))
    }

    /// A gradient drift is exact as a whole: S_e = S_θ + S_prior, ∇S_e = v.
    fn evaluate(&self, x: &[f64]) -> GuideValues {
        let t = self.tensor(x);
        let (v, e) = self.system.local_energy(self.net, t.clone()).expect("a gradient drift");
        let v = values(v);
        GuideValues { v: v.clone(), e: values(e), exact: Some((self.log_psi(t), v)) }
    }

    /// v = ∇S_θ + the prior's drift and S_e, without the Laplacian.
    fn evaluate_drift(&self, x: &[f64]) -> GuideValues {
        let t = self.tensor(x);
        let v = values(full_drift(self.net, self.system)(t.clone()));
        GuideValues { v: v.clone(), e: Vec::new(), exact: Some((self.log_psi(t), v)) }
    }

    fn exact_part(&self, x: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
        self.evaluate_drift(x).exact
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::device::Precision;
    use crate::quantum::walk::{WalkSettings, walk};
    use crate::quantum::fused::FusedSimulator;
    use crate::quantum::fused::tests::{Kind, h2, network};
    use crate::path::integrators::SOSRA;

    /// H₂ with the cusp prior and a Jastrow drift whose every layer is random, in f64 on the CPU:
    /// the tensor guide's evaluation, integrator step, a VMC sample, and a short local-energy
    /// walk and Metropolis DMC walk (same seeds) equal the fused guide's to 1e-10.
    #[test]
    fn tensor_guide_equals_the_fused_guide() {
        let mut device = Device::flex();
        Precision::F64.configure(&mut device).unwrap();
        let system = h2(true);
        let mut noise = Noise::new(4);
        let net = network(Kind::Jastrow, &system, &mut noise, &device);
        let tensor = TensorGuide::new(&net, &system, &SOSRA, &device).expect("a gradient drift");
        let fused = FusedSimulator::new(&net, &system, &SOSRA);
        let close = |what: &str, a: &[f64], b: &[f64]| {
            assert_eq!(a.len(), b.len(), "{what}");
            for (p, q) in a.iter().zip(b) {
                assert!((p - q).abs() < 1e-10 * (1.0 + q.abs()), "{what}: tensor {p} vs fused {q}");
            }
        };
        let x: Vec<f64> = noise.standard_normals(16 * 6);
        let (a, b) = (tensor.evaluate(&x), fused.evaluate(&x));
        close("v", &a.v, &b.v);
        close("E_L", &a.e, &b.e);
        let ((sa, ga), (sb, gb)) = (a.exact.unwrap(), b.exact.unwrap());
        close("log ψ", &sa, &sb);
        close("∇log ψ", &ga, &gb);
        let (p, q) = (tensor.advance(&x, 0.01, &mut Noise::new(9)), fused.advance(&x, 0.01, &mut Noise::new(9)));
        close("step", &p.next, &q.next);
        close("running", &p.running, &q.running);
        close("martingale", &p.martingale, &q.martingale);
        let (ya, ea) = crate::quantum::walk::metropolis_sample(&tensor, x.clone(), 3, 0.02, &mut Noise::new(6));
        let (yb, eb) = crate::quantum::walk::metropolis_sample(&fused, x.clone(), 3, 0.02, &mut Noise::new(6));
        close("VMC sample", &ya, &yb);
        close("VMC sample's E_L", &ea, &eb);
        let unbranched = WalkSettings { branching: false, metropolis: false, ..WalkSettings::dmc(0.02, 20, 60, false, 1.0) };
        for settings in [unbranched, WalkSettings::dmc(0.02, 20, 60, true, 1.0)] {
            let a = walk(&tensor, x.clone(), &settings, &mut Noise::new(3));
            let b = walk(&fused, x.clone(), &settings, &mut Noise::new(3));
            let (ea, eb) = (a.energy, b.energy);
            assert!(a.generations == 60 && (a.metropolis || !settings.branching), "{a:?}");
            assert!((ea.value - eb.value).abs() < 1e-9 && (ea.error - eb.error).abs() < 1e-9, "branching {}: {ea:?} vs {eb:?}", settings.branching);
            assert_eq!((a.population_min, a.population_max), (b.population_min, b.population_max));
        }
    }
}
