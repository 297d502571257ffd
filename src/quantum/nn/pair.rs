//! Permutation-equivariant pair network (a DeepSets / FermiNet-style one- and two-body split):
//!
//! ```text
//! h_i   = tanh(W_1 r_i + b_1)                              one-body features
//! g_ij  = tanh(W_2 [r_i − r_j, |r_i − r_j|] + b_2),  j ≠ i  pair features
//! s_i   = Σ_{j≠i} g_ij
//! u_i   = tanh(W_3 [h_i, s_i] + b_3)
//! v_i   = W_4 u_i + b_4 + Σ_{j≠i} (w_5·g_ij + c_5)(r_i − r_j) + c_skip r_i
//! ```
//!
//! Permuting particles permutes the output rows. W_4, b_4, w_5, c_5 start at zero, so the initial
//! drift is c_skip·r (c_skip = `skip_init`) plus whatever prior the caller adds.

use super::{Init, linear, scalar};
use crate::base::noise::Noise;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

/// Shape of a [`PairNet`].
#[derive(Debug, Clone)]
pub struct PairNetConfig {
    pub dims: usize,
    pub hidden: usize,
    pub skip_init: f64,
}

#[derive(Module, Debug)]
pub struct PairNet {
    pub(crate) one_body: Linear,
    pub(crate) two_body: Linear,
    pub(crate) mix: Linear,
    pub(crate) output: Linear,
    pub(crate) pair_weight: Linear,
    pub(crate) skip: Param<Tensor<1>>,
}

/// Smoothing of |r_ij| at coincidence: |r| ≈ √(r² + ε²).
const EPS_SQ: f64 = 1e-8;

impl PairNetConfig {
    pub fn init(&self, noise: &mut Noise, device: &Device) -> PairNet {
        let (d, h) = (self.dims, self.hidden);
        PairNet {
            one_body: linear(d, h, true, Init::Uniform, noise, device),
            two_body: linear(d + 1, h, true, Init::Uniform, noise, device),
            mix: linear(2 * h, h, true, Init::Uniform, noise, device),
            output: linear(h, d, true, Init::Zeros, noise, device),
            pair_weight: linear(h, 1, true, Init::Zeros, noise, device),
            skip: scalar(self.skip_init, device),
        }
    }
}

impl PairNet {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [w, n, d] = x.dims();
        let device = x.device();
        let h = dense(&self.one_body, x.clone()).tanh(); // [w, n, H]
        let hidden = h.dims()[2];
        let mut v = x.clone() * self.skip.val().reshape([1, 1, 1]);
        let s = if n > 1 {
            let diff = x.clone().reshape([w, n, 1, d]) - x.clone().reshape([w, 1, n, d]); // [w, n, n, d]
            let r = (diff.clone() * diff.clone()).sum_dim(3).add_scalar(EPS_SQ).sqrt(); // [w, n, n, 1]
            let g = dense(&self.two_body, Tensor::cat(vec![diff.clone(), r], 3)).tanh(); // [w, n, n, H]
            let off_diagonal = off_diagonal_mask(n, &device); // [1, n, n, 1]
            let g = g * off_diagonal.clone();
            let radial = dense(&self.pair_weight, g.clone()) * off_diagonal; // [w, n, n, 1]
            v = v + (radial * diff).sum_dim(2).reshape([w, n, d]);
            g.sum_dim(2).reshape([w, n, hidden])
        } else {
            h.zeros_like()
        };
        let u = dense(&self.mix, Tensor::cat(vec![h, s], 2)).tanh();
        v + dense(&self.output, u)
    }
}

/// A dense layer applied to the last axis of a tensor of any rank, as one 2-D matrix product
/// (burn's CPU backend is much faster on 2-D products than on broadcast batched ones).
fn dense<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    let dims = x.dims();
    let d_in = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    let y = layer.forward(x.reshape([rows, d_in]));
    let mut out = dims;
    out[D - 1] = y.dims()[1];
    y.reshape(out)
}

fn off_diagonal_mask(n: usize, device: &Device) -> Tensor<4> {
    let values: Vec<f64> = (0..n * n).map(|k| if k / n == k % n { 0.0 } else { 1.0 }).collect();
    Tensor::<4>::from_data(TensorData::new(values, [1, n, n, 1]), device)
}
