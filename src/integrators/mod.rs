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
