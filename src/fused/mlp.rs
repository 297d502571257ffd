//! The MLP drift of [`crate::nn::Mlp`] on a block of walkers, forward and reverse:
//!
//! ```text
//! h_1 = tanh(x W_1 + b_1), …, h_L = tanh(h_{L−1} W_L + b_L),   v = h_L W_o + b_o + x S
//! ```
//!
//! backward: given v̄, accumulates x̄ += ∂v/∂xᵀ v̄ and every parameter gradient.

use super::params::{Dense, DenseGrad, tanh_backward};
use crate::nn::Mlp;

#[derive(Debug, Clone)]
pub(crate) struct MlpParams {
    pub hidden: Vec<Dense>,
    pub output: Dense,
    pub skip: Dense,
}

#[derive(Debug, Clone)]
pub(crate) struct MlpGrad {
    pub hidden: Vec<DenseGrad>,
    pub output: DenseGrad,
    pub skip: DenseGrad,
}

/// Activations of one forward evaluation.
#[derive(Debug, Clone)]
pub(crate) struct MlpCache {
    acts: Vec<Vec<f64>>,
}

/// Scratch of the reverse pass.
#[derive(Debug, Clone)]
pub(crate) struct MlpScratch {
    bar: [Vec<f64>; 2],
}

impl MlpParams {
    pub fn from_module(m: &Mlp) -> Self {
        MlpParams {
            hidden: m.hidden.iter().map(Dense::from_linear).collect(),
            output: Dense::from_linear(&m.output),
            skip: Dense::from_matrix(&m.skip),
        }
    }

    pub fn grad_zeros(&self) -> MlpGrad {
        MlpGrad {
            hidden: self.hidden.iter().map(Dense::grad_zeros).collect(),
            output: self.output.grad_zeros(),
            skip: self.skip.grad_zeros(),
        }
    }

    pub fn cache(&self, rows: usize) -> MlpCache {
        MlpCache { acts: self.hidden.iter().map(|l| vec![0.0; rows * l.d_out]).collect() }
    }

    pub fn scratch(&self, rows: usize) -> MlpScratch {
        let width = self.hidden.iter().map(|l| l.d_out).max().unwrap_or(0);
        MlpScratch { bar: [vec![0.0; rows * width], vec![0.0; rows * width]] }
    }

    /// v = f(x) for `rows` walkers.
    #[inline(always)]
    pub fn forward(&self, x: &[f64], v: &mut [f64], cache: &mut MlpCache, rows: usize) {
        for l in 0..self.hidden.len() {
            let (before, after) = cache.acts.split_at_mut(l);
            let input: &[f64] = if l == 0 { x } else { &before[l - 1] };
            self.hidden[l].forward_tanh(input, &mut after[0], rows);
        }
        self.output.forward(cache.acts.last().expect("at least one hidden layer"), v, rows);
        self.skip.accumulate(x, v, rows);
    }

    /// x̄ += Jᵀ v̄ and parameter gradients, after `forward` filled `cache` at `x`.
    #[inline(always)]
    pub fn backward(&self, x: &[f64], cache: &MlpCache, scratch: &mut MlpScratch, v_bar: &[f64], x_bar: &mut [f64], grad: &mut MlpGrad, rows: usize) {
        let last = self.hidden.len() - 1;
        self.output.backward_params(&cache.acts[last], v_bar, &mut grad.output, rows);
        self.skip.backward_params(x, v_bar, &mut grad.skip, rows);
        self.skip.backward_input(v_bar, x_bar, rows);
        let [a, b] = &mut scratch.bar;
        let (mut cur, mut prev) = (a, b);
        let width = self.output.d_in;
        cur[..rows * width].fill(0.0);
        self.output.backward_input(v_bar, cur, rows);
        for l in (0..=last).rev() {
            let layer = &self.hidden[l];
            let n = rows * layer.d_out;
            tanh_backward(&cache.acts[l][..n], &mut cur[..n]);
            let input: &[f64] = if l == 0 { x } else { &cache.acts[l - 1] };
            layer.backward_params(input, cur, &mut grad.hidden[l], rows);
            if l == 0 {
                layer.backward_input(cur, x_bar, rows);
            } else {
                prev[..rows * layer.d_in].fill(0.0);
                layer.backward_input(cur, prev, rows);
                std::mem::swap(&mut cur, &mut prev);
            }
        }
    }
}

impl MlpGrad {
    pub fn add(&mut self, other: &MlpGrad) {
        for (a, b) in self.hidden.iter_mut().zip(&other.hidden) {
            a.add(b);
        }
        self.output.add(&other.output);
        self.skip.add(&other.skip);
    }
}
