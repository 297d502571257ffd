//! The MLP drift of [`crate::quantum::nn::Mlp`] on a block of walkers, forward and reverse:
//!
//! ```text
//! h_1 = tanh(x W_1 + b_1), …, h_L = tanh(h_{L−1} W_L + b_L),   v = h_L W_o + b_o + x S
//! ```
//!
//! backward: given v̄, accumulates x̄ += ∂v/∂xᵀ v̄ and every parameter gradient.

use crate::simd::dense::{Dense, DenseGrad};
use crate::simd::real::Real;
use crate::simd::activation::tanh_backward;
use crate::quantum::nn::Mlp;

#[derive(Debug, Clone)]
pub(crate) struct MlpParams<F = f64> {
    pub hidden: Vec<Dense<F>>,
    pub output: Dense<F>,
    pub skip: Dense<F>,
}

#[derive(Debug, Clone)]
pub(crate) struct MlpGrad<F = f64> {
    pub hidden: Vec<DenseGrad<F>>,
    pub output: DenseGrad<F>,
    pub skip: DenseGrad<F>,
}

/// Activations of one forward evaluation.
#[derive(Debug, Clone)]
pub(crate) struct MlpCache<F = f64> {
    acts: Vec<Vec<F>>,
}

impl<F> MlpCache<F> {
    /// Values held.
    pub fn len(&self) -> usize {
        self.acts.iter().map(Vec::len).sum()
    }
}

/// Scratch of the reverse pass.
#[derive(Debug, Clone)]
pub(crate) struct MlpScratch<F = f64> {
    bar: [Vec<F>; 2],
}

impl MlpParams<f64> {
    pub fn from_module(m: &Mlp) -> Self {
        MlpParams {
            hidden: m.hidden.iter().map(Dense::from_linear).collect(),
            output: Dense::from_linear(&m.output),
            skip: Dense::from_matrix(&m.skip),
        }
    }
}

impl<F: Real> MlpParams<F> {
    /// The parameters cast to `G`.
    pub fn cast<G: Real>(&self) -> MlpParams<G> {
        MlpParams { hidden: self.hidden.iter().map(Dense::cast).collect(), output: self.output.cast(), skip: self.skip.cast() }
    }

    pub fn grad_zeros<G: Real>(&self) -> MlpGrad<G> {
        MlpGrad {
            hidden: self.hidden.iter().map(Dense::grad_zeros).collect(),
            output: self.output.grad_zeros(),
            skip: self.skip.grad_zeros(),
        }
    }

    pub fn cache(&self, rows: usize) -> MlpCache<F> {
        MlpCache { acts: self.hidden.iter().map(|l| vec![F::ZERO; rows * l.d_out]).collect() }
    }

    pub fn scratch(&self, rows: usize) -> MlpScratch<F> {
        let width = self.hidden.iter().map(|l| l.d_out).max().unwrap_or(0);
        MlpScratch { bar: [vec![F::ZERO; rows * width], vec![F::ZERO; rows * width]] }
    }

    /// v = f(x) for `rows` walkers.
    #[inline(always)]
    pub fn forward(&self, x: &[F], v: &mut [F], cache: &mut MlpCache<F>, rows: usize) {
        for l in 0..self.hidden.len() {
            let (before, after) = cache.acts.split_at_mut(l);
            let input: &[F] = if l == 0 { x } else { &before[l - 1] };
            self.hidden[l].forward_tanh(input, &mut after[0], rows);
        }
        self.output.forward(cache.acts.last().expect("at least one hidden layer"), v, rows);
        self.skip.accumulate(x, v, rows);
    }

    /// x̄ += Jᵀ v̄ and parameter gradients, after `forward` filled `cache` at `x`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn backward(&self, x: &[F], cache: &MlpCache<F>, scratch: &mut MlpScratch<F>, v_bar: &[F], x_bar: &mut [F], grad: &mut MlpGrad<F>, rows: usize) {
        let last = self.hidden.len() - 1;
        self.output.backward_params(&cache.acts[last], v_bar, &mut grad.output, rows);
        self.skip.backward_params(x, v_bar, &mut grad.skip, rows);
        self.skip.backward_input(v_bar, x_bar, rows);
        let [a, b] = &mut scratch.bar;
        let (mut cur, mut prev) = (a, b);
        let width = self.output.d_in;
        cur[..rows * width].fill(F::ZERO);
        self.output.backward_input(v_bar, cur, rows);
        for l in (0..=last).rev() {
            let layer = &self.hidden[l];
            let n = rows * layer.d_out;
            tanh_backward(&cache.acts[l][..n], &mut cur[..n]);
            let input: &[F] = if l == 0 { x } else { &cache.acts[l - 1] };
            layer.backward_params(input, cur, &mut grad.hidden[l], rows);
            if l == 0 {
                layer.backward_input(cur, x_bar, rows);
            } else {
                prev[..rows * layer.d_in].fill(F::ZERO);
                layer.backward_input(cur, prev, rows);
                std::mem::swap(&mut cur, &mut prev);
            }
        }
    }
}

impl<F: Real> MlpGrad<F> {
    pub fn zero(&mut self) {
        self.hidden.iter_mut().for_each(DenseGrad::zero);
        self.output.zero();
        self.skip.zero();
    }

    /// self += other (converting).
    pub fn add<G: Real>(&mut self, other: &MlpGrad<G>) {
        for (a, b) in self.hidden.iter_mut().zip(&other.hidden) {
            a.add(b);
        }
        self.output.add(&other.output);
        self.skip.add(&other.skip);
    }
}
