//! Small dense layers shared by the drift networks and the latent models: y = x W + b with
//! weights drawn from the run's [`Noise`] stream (so a seed fixes them), and scalar parameters.

use crate::base::noise::Noise;
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

/// How a layer's weights start.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// U(−1/√fan_in, 1/√fan_in) for weights and bias (the PyTorch default).
    Uniform,
    /// All zeros (output layers: the network starts as the prior/skip drift).
    Zeros,
}

fn uniform_values(n: usize, bound: f64, noise: &mut Noise) -> Vec<f64> {
    (0..n).map(|_| (2.0 * noise.uniform() - 1.0) * bound).collect()
}

/// A dense layer y = x W + b with weights drawn from `noise`.
pub fn linear(d_in: usize, d_out: usize, bias: bool, init: Init, noise: &mut Noise, device: &Device) -> Linear {
    let bound = 1.0 / (d_in as f64).sqrt();
    let values = |n: usize, noise: &mut Noise| match init {
        Init::Uniform => uniform_values(n, bound, noise),
        Init::Zeros => vec![0.0; n],
    };
    let weight = Tensor::<2>::from_data(TensorData::new(values(d_in * d_out, noise), [d_in, d_out]), device);
    let bias = bias.then(|| {
        Param::from_tensor(Tensor::<1>::from_data(TensorData::new(values(d_out, noise), [d_out]), device))
    });
    Linear { weight: Param::from_tensor(weight), bias }
}

/// A scalar parameter.
pub fn scalar(value: f64, device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::<1>::from_data(TensorData::new(vec![value], [1]), device))
}
