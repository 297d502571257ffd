//! The fused engine as a guiding drift for [`crate::estimate::walk`]: one integrator step of
//! dX = v dt + dW per generation (the evaluation kernels, same noise order as the evaluation
//! paths) and the exact local energy of [`super::trace`], both over walker blocks on threads.

use super::{BLOCK, FusedSimulator, parallel_blocks};
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
        let dim = self.drift.dim();
        let walkers = x.len() / dim;
        parallel_blocks(walkers.div_ceil(BLOCK), &|b| {
            let (w0, w1) = (b * BLOCK, ((b + 1) * BLOCK).min(walkers));
            (w0..w1).map(|w| self.drift.local_terms(&x[w * dim..(w + 1) * dim]).local_energy).collect::<Vec<f64>>()
        })
        .concat()
    }
}
