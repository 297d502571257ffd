//! Gradient drift: v = ∇_x S_θ(x) with a scalar tanh network on the flattened configuration,
//!
//! ```text
//! S_θ(x) = h_L · w_o + ½ c |x|²,   c = −ρ²,   h_0 = x,  h_l = tanh(h_{l−1} W_l + b_l)
//! ```
//!
//! and its gradient written out as the network's own reverse pass (z_l the pre-activations):
//!
//! ```text
//! a_L = w_o ⊙ (1 − h_L²),   a_{l−1} = (a_l W_lᵀ) ⊙ (1 − h_{l−1}²),   v = a_1 W_1ᵀ + c x
//! ```
//!
//! so burn's first-order autodiff differentiates v in θ (the second derivative of S). Being a
//! gradient, the drift is v = ∇log ψ_T for ψ_T = e^{S_θ} (times the caller's prior): DMC guided by
//! it has no non-gradient bias (docs/energies.md). w_o starts at zero and c at `skip_init` (≤ 0).
//! c = −ρ² (ρ the parameter) keeps c ≤ 0: ∇S_net is bounded, so the drift at large |x| is c x
//! (plus a caller's bounded prior), and a c > 0 would push walkers out exponentially (it did, at
//! a large learning rate, before this constraint). For molecules c starts at 0 and, as
//! ∂c/∂ρ = 0 there, stays 0: the cusp prior confines the electrons.

use super::{Init, MlpConfig, linear, scalar};
use crate::base::noise::Noise;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

#[derive(Module, Debug)]
pub struct Potential {
    pub(crate) hidden: Vec<Linear>,
    /// w_o as a bias-free [width, 1] layer.
    pub(crate) output: Linear,
    /// ρ, with c = −ρ² (`None`: no quadratic term, c = 0; the inner networks of
    /// [`super::Jastrow`]).
    pub(crate) skip: Option<Param<Tensor<1>>>,
}

impl Potential {
    /// A potential with the hidden layers of an [`MlpConfig`]'s MLP, a scalar output and c at
    /// `skip_init` (clamped to ≤ 0).
    pub fn init(config: &MlpConfig, noise: &mut Noise, device: &Device) -> Potential {
        let hidden = config.hidden_layers(noise, device);
        let root = (-config.skip_init).max(0.0).sqrt();
        Potential { hidden, output: linear(config.hidden, 1, false, Init::Zeros, noise, device), skip: Some(scalar(root, device)) }
    }

    /// The same network without the quadratic term (c = 0, no parameter).
    pub fn init_without_skip(config: &MlpConfig, noise: &mut Noise, device: &Device) -> Potential {
        Potential { skip: None, ..Potential::init(config, noise, device) }
    }
}

impl Potential {
    /// v = ∇S_θ(x), same shape as `x`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [w, n, d] = x.dims();
        self.gradient(x.reshape([w, n * d])).reshape([w, n, d])
    }

    /// S_θ = h_L·w_o + ½c|x|² at the rows of `flat` ([rows, inputs]): [rows, 1]. Its θ-gradient
    /// is burn's ordinary reverse pass (the variational Monte Carlo gradient, [`crate::quantum::objective::vmc`]).
    pub fn value(&self, flat: Tensor<2>) -> Tensor<2> {
        let mut h = flat.clone();
        for layer in &self.hidden {
            h = layer.forward(h).tanh();
        }
        let s = self.output.forward(h);
        match &self.skip {
            Some(skip) => s + (flat.clone() * flat).sum_dim(1) * skip.val().powi_scalar(2).neg().reshape([1, 1]) * 0.5,
            None => s,
        }
    }

    /// Σ_D u_Dᵀ (∇²S_θ) u_D at each row of `flat` ([rows, inputs]) for tangents `u` ([rows, D,
    /// inputs]): the second directional derivatives summed over the D tangents, [rows, 1]. With
    /// u the unit vectors it is the Laplacian ΔS_θ. Written as an explicit second-order
    /// forward-mode pass (burn differentiates only to first order, and then in θ):
    ///
    /// ```text
    /// a_l = h_{l−1} W_l + b_l,  ȧ_l = ḣ_{l−1} W_l,  ä_l = ḧ_{l−1} W_l,   h_l = tanh a_l,
    /// ḣ_l = t′ ȧ_l,  ḧ_l = t″ ȧ_l² + t′ ä_l,   t′ = 1 − h_l²,  t″ = −2 h_l t′,
    /// Σ_D uᵀ∇²S u = Σ_D ḧ_L·w_o + c Σ_D |u_D|²          (ḣ_0 = u, ḧ_0 = 0)
    /// ```
    pub fn curvature_along(&self, flat: Tensor<2>, u: Tensor<3>) -> Tensor<2> {
        let [rows, directions, inputs] = u.dims();
        let quadratic = match &self.skip {
            Some(skip) => Some((u.clone() * u.clone()).sum_dim(2).sum_dim(1).reshape([rows, 1]) * skip.val().powi_scalar(2).neg().reshape([1, 1])),
            None => None,
        };
        let mut h = flat;
        let mut dh = u.reshape([rows * directions, inputs]);
        let mut ddh: Option<Tensor<2>> = None;
        for layer in &self.hidden {
            let weight = layer.weight.val();
            let width = weight.dims()[1];
            let da = dh.matmul(weight.clone()).reshape([rows, directions, width]);
            let dda = ddh.map(|t| t.matmul(weight).reshape([rows, directions, width]));
            h = layer.forward(h).tanh();
            let t1 = h.clone().powi_scalar(2).neg().add_scalar(1.0);
            let t2 = (h.clone() * t1.clone() * (-2.0)).reshape([rows, 1, width]);
            let t1 = t1.reshape([rows, 1, width]);
            let mut second = t2 * da.clone() * da.clone();
            if let Some(dda) = dda {
                second = second + t1.clone() * dda;
            }
            dh = (t1 * da).reshape([rows * directions, width]);
            ddh = Some(second.reshape([rows * directions, width]));
        }
        let ddh = ddh.expect("at least one hidden layer");
        let s = self.output.forward(ddh).reshape([rows, directions]).sum_dim(1);
        match quadratic {
            Some(q) => s + q,
            None => s,
        }
    }

    /// ΔS_θ of walkers `x` ([walkers, particles, dims]): [walkers].
    pub fn laplacian(&self, x: Tensor<3>) -> Tensor<1> {
        let [w, n, d] = x.dims();
        let k = n * d;
        let unit = Tensor::<2>::eye(k, &x.device()).reshape([1, k, k]).repeat_dim(0, w);
        self.curvature_along(x.reshape([w, k]), unit).reshape([w])
    }

    /// ∇S_θ at the rows of `flat` ([rows, inputs]): the gradient chain above.
    pub fn gradient(&self, flat: Tensor<2>) -> Tensor<2> {
        let mut acts = Vec::with_capacity(self.hidden.len());
        let mut h = flat.clone();
        for layer in &self.hidden {
            h = layer.forward(h).tanh();
            acts.push(h.clone());
        }
        let slope = |h: &Tensor<2>| h.clone().powi_scalar(2).neg().add_scalar(1.0);
        let last = acts.len() - 1;
        let w_o = self.output.weight.val().reshape([1, -1]);
        let mut a = w_o * slope(&acts[last]);
        for l in (1..=last).rev() {
            a = a.matmul(self.hidden[l].weight.val().transpose()) * slope(&acts[l - 1]);
        }
        let v = a.matmul(self.hidden[0].weight.val().transpose());
        match &self.skip {
            Some(skip) => v + flat * skip.val().powi_scalar(2).neg().reshape([1, 1]),
            None => v,
        }
    }
}
