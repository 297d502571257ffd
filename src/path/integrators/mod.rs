//! SDE integrators for additive unit noise, dX = a(X) dt + dW.
//!
//! Every scheme here is an explicit stochastic Runge–Kutta method of the SRA family
//! (Rößler 2010, SIAM J. Numer. Anal. 48:922), written as one [`Tableau`]:
//!
//! ```text
//! H_1 = X_n
//! H_i = X_n + h Σ_{j<i} A_ij a(H_j) + b^W_i ΔW_n + b^χ_i χ_n          (stages)
//! X_{n+1} = X_n + h Σ_i α_i a(H_i) + ΔW_n
//! ΔW_n = √h ξ₁,   χ_n = I_(1,0)/h = ½ (ΔW_n + √h ξ₂ / √3)
//! ```
//!
//! with ξ₁, ξ₂ independent standard normals. For unit additive noise the Itô and Stratonovich
//! solutions coincide. Schemes differ in their tableau only, never in their loop: each file holds
//! one tableau and states its weak and strong orders.

mod euler_maruyama;
mod heun;
mod sosra;
mod sra3;
pub mod weak_error;

pub use euler_maruyama::EULER_MARUYAMA;
pub use heun::HEUN;
pub use sosra::SOSRA;
pub use sra3::SRA3;

use burn::tensor::Tensor;

/// One step rule of the SDE engine.
pub trait Integrator: Sync {
    /// Short name used in problem files and outputs.
    fn name(&self) -> &'static str;
    /// Weak order p: |E f(X_T) − E f(X_T^h)| = O(h^p).
    fn weak_order(&self) -> u32;
    /// Strong (pathwise) order.
    fn strong_order(&self) -> f64;
    /// Number of standard-normal arrays one step consumes (1, or 2 when χ is needed).
    fn normals_per_step(&self) -> usize;
    /// Advances `x` by one step of size `h`. `drift_x` is a(x), already computed by the caller
    /// (the path functional needs it too); `normals` holds `normals_per_step()` standard-normal
    /// arrays of the shape of `x`. Returns X_{n+1}.
    fn step(
        &self,
        drift: &dyn Fn(Tensor<3>) -> Tensor<3>,
        x: Tensor<3>,
        drift_x: Tensor<3>,
        h: f64,
        normals: &[Tensor<3>],
    ) -> Tensor<3>;
}

/// Coefficients of an additive-noise stochastic Runge–Kutta method (see the module docs).
#[derive(Debug)]
pub struct Tableau {
    pub name: &'static str,
    pub weak_order: u32,
    pub strong_order: f64,
    /// A_ij, lower triangular, one row per stage (row 0 is empty).
    pub a: &'static [&'static [f64]],
    /// α_i, weights of the stage drifts in the update.
    pub alpha: &'static [f64],
    /// b^W_i, weight of ΔW in stage i.
    pub stage_dw: &'static [f64],
    /// b^χ_i = Σ_j B⁽⁰⁾_ij, weight of χ = I_(1,0)/h in stage i.
    pub stage_chi: &'static [f64],
}

impl Integrator for Tableau {
    fn name(&self) -> &'static str {
        self.name
    }
    fn weak_order(&self) -> u32 {
        self.weak_order
    }
    fn strong_order(&self) -> f64 {
        self.strong_order
    }
    fn normals_per_step(&self) -> usize {
        if self.stage_chi.iter().any(|c| *c != 0.0) { 2 } else { 1 }
    }

    fn step(
        &self,
        drift: &dyn Fn(Tensor<3>) -> Tensor<3>,
        x: Tensor<3>,
        drift_x: Tensor<3>,
        h: f64,
        normals: &[Tensor<3>],
    ) -> Tensor<3> {
        let sqrt_h = h.sqrt();
        let dw = normals[0].clone() * sqrt_h;
        let chi = (self.normals_per_step() == 2)
            .then(|| (dw.clone() + normals[1].clone() * (sqrt_h / 3f64.sqrt())) * 0.5);
        let mut stage_drifts = vec![drift_x];
        for i in 1..self.alpha.len() {
            let mut h_i = x.clone();
            for (j, a_ij) in self.a[i].iter().enumerate() {
                if *a_ij != 0.0 {
                    h_i = h_i + stage_drifts[j].clone() * (h * a_ij);
                }
            }
            if self.stage_dw[i] != 0.0 {
                h_i = h_i + dw.clone() * self.stage_dw[i];
            }
            if let Some(chi) = &chi {
                if self.stage_chi[i] != 0.0 {
                    h_i = h_i + chi.clone() * self.stage_chi[i];
                }
            }
            stage_drifts.push(drift(h_i));
        }
        let mut next = x + dw;
        for (a_i, alpha) in stage_drifts.into_iter().zip(self.alpha) {
            if *alpha != 0.0 {
                next = next + a_i * (h * alpha);
            }
        }
        next
    }
}

/// The integrator called `name` in a problem file.
pub fn by_name(name: &str) -> Option<&'static Tableau> {
    ALL.iter().copied().find(|t| t.name == name)
}

/// Every integrator, in order of increasing cost per step.
pub const ALL: [&Tableau; 4] = [&EULER_MARUYAMA, &HEUN, &SRA3, &SOSRA];

#[cfg(test)]
mod tests {
    //! Weak orders on the Ornstein–Uhlenbeck process dX = −θX dt + dW.
    //!
    //! For a linear drift every scheme here is a linear map X_{n+1} = R X_n + c₁ξ₁ + c₂ξ₂, so
    //! E[X_T²] of the *discrete* scheme follows exactly from m_{n+1} = R² m_n + c₁² + c₂². R, c₁
    //! and c₂ are read off the implemented `step` itself (unit inputs), so this measures the weak
    //! error of the code with no Monte Carlo noise. Exact: E[X_T²] = x₀² e^{−2θT} + (1 − e^{−2θT})/(2θ).
    use super::*;
    use crate::base::device::Precision;
    use burn::tensor::{Device, TensorData};

    fn device() -> Device {
        let mut d = Device::flex();
        Precision::F64.configure(&mut d).unwrap();
        d
    }

    fn scalar_tensor(v: f64, d: &Device) -> Tensor<3> {
        Tensor::from_data(TensorData::new(vec![v], [1, 1, 1]), d)
    }

    fn value(t: Tensor<3>) -> f64 {
        t.into_data().try_into_vec_as::<f64>().unwrap()[0]
    }

    /// Slope of the exact weak error of E[X_T²] against h (`weak_error` has the formulas; its
    /// Monte Carlo test measures the same orders through the engine).
    fn observed_weak_order(integ: &dyn Integrator) -> f64 {
        let (theta, x0, t): (f64, f64, f64) = (1.0, 1.0, 1.0);
        let exact = weak_error::exact_second_moment(theta, x0, t);
        let hs = [0.2, 0.1, 0.05, 0.025];
        let errs: Vec<f64> =
            hs.iter().map(|&h| (weak_error::scheme_second_moment(integ, theta, x0, t, h, &device()) - exact).abs()).collect();
        weak_error::fit_power_law(&hs, &errs).0
    }

    #[test]
    fn euler_maruyama_is_weak_order_one() {
        let p = observed_weak_order(&EULER_MARUYAMA);
        assert!((p - 1.0).abs() < 0.15, "observed weak order {p}");
    }

    #[test]
    fn heun_is_weak_order_two() {
        let p = observed_weak_order(&HEUN);
        assert!((p - 2.0).abs() < 0.2, "observed weak order {p}");
    }

    #[test]
    fn sosra_is_weak_order_two() {
        let p = observed_weak_order(&SOSRA);
        assert!((p - 2.0).abs() < 0.2, "observed weak order {p}");
    }

    /// See `sra3.rs`: with constant unit diffusion the SRA update noise is ΔW, which caps the
    /// weak order on the OU second moment at 2 even though the drift part is third order.
    #[test]
    fn sra3_weak_order_is_two_with_unit_diffusion() {
        let p = observed_weak_order(&SRA3);
        assert!((p - 2.0).abs() < 0.2, "observed weak order {p}");
        assert_eq!(SRA3.weak_order(), 2);
    }

    #[test]
    fn every_scheme_is_consistent_on_the_drift_free_process() {
        // With a = 0 every scheme must give X_{n+1} = X_n + ΔW exactly.
        let d = device();
        for integ in ALL {
            let zero = |x: Tensor<3>| x.zeros_like();
            let x = scalar_tensor(0.3, &d);
            let normals = [scalar_tensor(0.7, &d), scalar_tensor(-1.1, &d)];
            let next = value(integ.step(&zero, x.clone(), zero(x), 0.04, &normals[..integ.normals_per_step()]));
            assert!((next - (0.3 + 0.2 * 0.7)).abs() < 1e-12, "{}", integ.name());
        }
    }
}
