//! The fused engine as a guiding drift for [`crate::estimate::walk`]: one integrator step of
//! dX = v dt + dW per generation (the evaluation kernels, same noise order as the evaluation
//! paths) and the exact local energy of [`super::trace`], both over walker blocks on threads.

use super::{BLOCK, FusedSimulator, local_block, parallel_blocks};
use crate::estimate::{Advance, Guide};
use crate::noise::Noise;

impl Guide for FusedSimulator {
    fn dim(&self) -> usize {
        self.drift.dim()
    }

    fn advance(&self, x: &[f64], dt: f64, noise: &mut Noise) -> Advance {
        let walkers = x.len() / self.drift.dim();
        let blocks = self.simulate(x, walkers, 1, dt, true, noise);
        let mut out = Advance { next: Vec::with_capacity(x.len()), running: Vec::with_capacity(walkers), martingale: Vec::with_capacity(walkers) };
        for b in blocks {
            out.next.extend(b.x_final);
            out.running.extend(b.running);
            out.martingale.extend(b.martingale);
        }
        out
    }

    fn local_energy(&self, x: &[f64]) -> Vec<f64> {
        self.drift_and_local_energy(x).1
    }

    fn drift_and_local_energy(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let dim = self.drift.dim();
        let walkers = x.len() / dim;
        let blocks = parallel_blocks(walkers.div_ceil(BLOCK), &mut Vec::<()>::new(), &|_, b| {
            let (w0, w1) = (b * BLOCK, ((b + 1) * BLOCK).min(walkers));
            local_block(&self.drift, &x[w0 * dim..w1 * dim])
        });
        let terms = blocks.into_iter().flatten();
        let (mut v, mut e) = (Vec::with_capacity(x.len()), Vec::with_capacity(walkers));
        for t in terms {
            v.extend(t.v);
            e.push(t.local_energy);
        }
        (v, e)
    }
}
