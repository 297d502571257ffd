//! MLP drift with a linear skip: v(x) = W_L tanh(… tanh(W_1 x + b_1) …) + b_L + S x,
//! x flattened to N·d. W_L, b_L start at zero and S at `skip_init`·I, so the initial drift is
//! the linear restoring force skip_init·x.

use super::{Init, linear};
use crate::base::noise::Noise;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

/// Shape of an [`Mlp`].
#[derive(Debug, Clone)]
pub struct MlpConfig {
    pub particles: usize,
    pub dims: usize,
    pub hidden: usize,
    pub layers: usize,
    pub skip_init: f64,
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub(crate) hidden: Vec<Linear>,
    pub(crate) output: Linear,
    pub(crate) skip: Param<Tensor<2>>,
}

impl MlpConfig {
    /// The tanh layers N·d → hidden → … → hidden (at least one), drawn from `noise`.
    pub(crate) fn hidden_layers(&self, noise: &mut Noise, device: &Device) -> Vec<Linear> {
        let mut width = self.particles * self.dims;
        (0..self.layers.max(1))
            .map(|_| {
                let layer = linear(width, self.hidden, true, Init::Uniform, noise, device);
                width = self.hidden;
                layer
            })
            .collect()
    }

    pub fn init(&self, noise: &mut Noise, device: &Device) -> Mlp {
        let n = self.particles * self.dims;
        let hidden = self.hidden_layers(noise, device);
        let output = linear(self.hidden, n, true, Init::Zeros, noise, device);
        let skip = Param::from_tensor(Tensor::<2>::eye(n, device) * self.skip_init);
        Mlp { hidden, output, skip }
    }
}

impl Mlp {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [w, n, d] = x.dims();
        let flat = x.reshape([w, n * d]);
        let mut h = flat.clone();
        for layer in &self.hidden {
            h = layer.forward(h).tanh();
        }
        let out = self.output.forward(h) + flat.matmul(self.skip.val());
        out.reshape([w, n, d])
    }
}
