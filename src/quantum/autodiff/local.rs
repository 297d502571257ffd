//! The local energy of a gradient drift in burn ops, on any device:
//!
//! ```text
//! E_L = Hψ_T/ψ_T = V − ½(Δ log ψ_T + |∇log ψ_T|²),    log ψ_T = S_θ + S_prior,   ∇log ψ_T = v
//! ```
//!
//! (Foulkes et al., Rev. Mod. Phys. 73, 33 (2001), eq. 28, for H = −½∇² + V). ΔS_θ is the
//! networks' explicit forward-mode Laplacian ([`crate::quantum::nn::DriftNet::laplacian`]), ΔS_prior the
//! cusp prior's closed form. The fused CPU engine computes the same E_L
//! ([`crate::quantum::fused::local_energies`]); this one is built from differentiable tensor ops, so it
//! runs where the walkers are (the GPU path, issue 17) and burn's reverse mode gives its
//! θ-gradient.

use crate::quantum::physics::System;
use crate::quantum::nn::DriftNet;
use burn::tensor::Tensor;

impl System {
    /// (v, E_L) at walkers `x` ([walkers, particles, dims]): the full drift (network + prior)
    /// and the local energy ([walkers]); `None` for drifts that are not gradients.
    pub fn local_energy(&self, net: &DriftNet, x: Tensor<3>) -> Option<(Tensor<3>, Tensor<1>)> {
        let [w, _, _] = x.dims();
        let mut laplacian = net.laplacian(x.clone())?;
        let mut v = net.forward(x.clone());
        if let Some(prior) = self.prior_drift(x.clone()) {
            v = v + prior;
            laplacian = laplacian + self.prior_laplacian(x.clone()).expect("a prior drift has a Laplacian");
        }
        let speed2 = (v.clone() * v.clone()).sum_dim(2).sum_dim(1).reshape([w]);
        let e = self.potential(x) - (laplacian + speed2) * 0.5;
        Some((v, e))
    }
}

#[cfg(test)]
mod tests {
    use crate::base::device::Precision;
    use crate::quantum::fused::tests::{Kind, h2, network};
    use crate::quantum::nn::DriftNet;
    use crate::base::noise::Noise;
    use crate::quantum::physics::{GaussianInteraction, Harmonic, HarmonicTrap, System};
    use burn::tensor::{Device, Tensor, TensorData};

    fn f64_device() -> Device {
        let mut device = Device::flex();
        Precision::F64.configure(&mut device).unwrap();
        device
    }

    fn bosons(particles: usize) -> System {
        System::HarmonicTrap(HarmonicTrap { particles, dims: 2, omega: 1.0, interaction: Some(GaussianInteraction { g: 3.0, s: 0.5 }) })
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
        t.into_data().try_into_vec_as::<f64>().unwrap()
    }

    /// Σ_D (v_D(x + h e_D) − v_D(x − h e_D))/2h per walker, h = 1e-4: the divergence of the drift
    /// by central differences (error O(h²)), for walkers `x` of shape [w, n, d].
    fn divergence_by_differences(net: &DriftNet, x: &[f64], [w, n, d]: [usize; 3], device: &Device) -> Vec<f64> {
        let at = |x: &[f64]| Tensor::<3>::from_data(TensorData::new(x.to_vec(), [w, n, d]), device);
        let h = 1e-4;
        let mut divergence = vec![0.0; w];
        for k in 0..n * d {
            let shifted = |sign: f64| {
                let mut y = x.to_vec();
                (0..w).for_each(|b| y[b * n * d + k] += sign * h);
                values(net.forward(at(&y)))
            };
            let (plus, minus) = (shifted(1.0), shifted(-1.0));
            (0..w).for_each(|b| divergence[b] += (plus[b * n * d + k] - minus[b * n * d + k]) / (2.0 * h));
        }
        divergence
    }

    /// burn's E_L equals the fused engine's exact one (f64, to 1e-10 relative) for the gradient
    /// network and the Jastrow drift (with and without density inputs, with the three-body
    /// term), on H₂ with the cusp prior, on 2-D bosons and on the oscillator; and the drift it
    /// returns is the full drift.
    #[test]
    fn burn_local_energy_equals_the_fused_engines() {
        let device = f64_device();
        let mut noise = Noise::new(21);
        let oscillator = System::Harmonic(Harmonic { particles: 2, dims: 3, omega: 1.0 });
        let cases = [
            (h2(true), Kind::Jastrow),
            (h2(true), Kind::Gradient),
            (bosons(3), Kind::Jastrow),
            (bosons(4), Kind::JastrowDensity),
            (bosons(4), Kind::JastrowThree),
            (bosons(4), Kind::JastrowPowerSums),
            (bosons(3), Kind::Gradient),
            (oscillator, Kind::Gradient),
        ];
        for (system, kind) in cases {
            let net = network(kind, &system, &mut noise, &device);
            let (n, d, w) = (system.particles(), system.dims(), 7);
            let x = noise.standard_normals(w * n * d);
            let xt = Tensor::<3>::from_data(TensorData::new(x.clone(), [w, n, d]), &device);
            let (v, e) = system.local_energy(&net, xt.clone()).expect("a gradient drift");
            let e = values(e);
            let fused = crate::quantum::fused::local_energies(&net, &system, &x);
            for (a, b) in e.iter().zip(&fused) {
                assert!((a - b).abs() < 1e-10 * (1.0 + b.abs()), "{kind:?}, N = {n}: burn E_L {a} vs fused {b}");
            }
            let mut full = net.forward(xt.clone());
            if let Some(prior) = system.prior_drift(xt) {
                full = full + prior;
            }
            assert_eq!(values(v), values(full));
        }
    }

    /// The three-body term in both forms (4 bosons with density inputs and W, every layer
    /// random): S_θ's
    /// x-gradient by burn's autodiff equals the drift to 1e-12; exchanging two particles leaves
    /// S_θ and E_L unchanged and swaps their drift rows; the Laplacian equals central finite
    /// differences of the drift (to 1e-6); and the term changes S_θ (it is not zero).
    #[test]
    fn three_body_term_is_symmetric_and_its_drift_and_laplacian_are_exact() {
        three_body_case(Kind::JastrowThree);
        three_body_case(Kind::JastrowPowerSums);
    }

    fn three_body_case(kind: Kind) {
        let mut device = f64_device().autodiff();
        Precision::F64.configure(&mut device).unwrap();
        let mut noise = Noise::new(17);
        let system = bosons(4);
        let net = network(kind, &system, &mut noise, &device);
        let (n, d, w) = (4, 2, 3);
        let x = noise.standard_normals(w * n * d);
        let at = |x: &[f64]| Tensor::<3>::from_data(TensorData::new(x.to_vec(), [w, n, d]), &device);
        let xt = at(&x).require_grad();
        let s = net.log_psi(xt.clone()).unwrap();
        let gx = values(xt.grad(&s.clone().sum().backward()).unwrap());
        let v = values(net.forward(at(&x)));
        for (a, b) in gx.iter().zip(&v) {
            assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()), "∇S {a} vs v {b}");
        }
        let DriftNet::Jastrow(j) = &net else { unreachable!() };
        let mut without = j.clone();
        without.triple = None;
        let plain = values(DriftNet::Jastrow(without).log_psi(at(&x)).unwrap());
        let s = values(s);
        assert!(s.iter().zip(&plain).all(|(a, b)| (a - b).abs() > 1e-6), "the three-body term adds nothing: {s:?} vs {plain:?}");
        // Exchange particles 0 and 2.
        let swapped: Vec<f64> = (0..w * n * d)
            .map(|c| {
                let (b, p, e) = (c / (n * d), (c / d) % n, c % d);
                let q = match p {
                    0 => 2,
                    2 => 0,
                    p => p,
                };
                x[b * n * d + q * d + e]
            })
            .collect();
        let s2 = values(net.log_psi(at(&swapped)).unwrap());
        let v2 = values(net.forward(at(&swapped)));
        let (e1, e2) = (values(system.local_energy(&net, at(&x)).unwrap().1), values(system.local_energy(&net, at(&swapped)).unwrap().1));
        for b in 0..w {
            assert!((s[b] - s2[b]).abs() < 1e-12 * (1.0 + s[b].abs()), "S changed under exchange");
            assert!((e1[b] - e2[b]).abs() < 1e-10 * (1.0 + e1[b].abs()), "E_L changed under exchange: {} vs {}", e1[b], e2[b]);
            for e in 0..d {
                assert!((v[b * n * d + e] - v2[b * n * d + 2 * d + e]).abs() < 1e-12, "drift rows not swapped");
            }
        }
        let lap = values(net.laplacian(at(&x)).unwrap());
        for (a, b) in lap.iter().zip(&divergence_by_differences(&net, &x, [w, n, d], &device)) {
            assert!((a - b).abs() < 1e-6 * (1.0 + b.abs()), "three-body Laplacian {a} vs finite differences {b}");
        }
    }

    /// The Laplacian against central finite differences of the drift, to 1e-6 (the O(h²) error).
    #[test]
    fn laplacian_is_the_divergence_of_the_drift() {
        let device = f64_device();
        let mut noise = Noise::new(5);
        for (system, kind) in [(bosons(3), Kind::JastrowDensity), (h2(true), Kind::Jastrow), (h2(true), Kind::Gradient)] {
            let net = network(kind, &system, &mut noise, &device);
            let (n, d, w) = (system.particles(), system.dims(), 3);
            let x = noise.standard_normals(w * n * d);
            let lap = values(net.laplacian(Tensor::<3>::from_data(TensorData::new(x.clone(), [w, n, d]), &device)).unwrap());
            for (a, b) in lap.iter().zip(&divergence_by_differences(&net, &x, [w, n, d], &device)) {
                assert!((a - b).abs() < 1e-6 * (1.0 + b.abs()), "{kind:?}: Laplacian {a} vs finite differences {b}");
            }
        }
    }
}
