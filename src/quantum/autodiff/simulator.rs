//! Paths without gradients in burn tensor ops, for the variational evaluation
//! ([`crate::quantum::evaluate`]): any drift closure, any backend.

use crate::base::noise::Noise;
use crate::path::integrators::Integrator;
use crate::path::sde::simulate;
use crate::quantum::engine::{Measured, PathSimulator};
use crate::quantum::objective::PathFunctional;
use burn::tensor::Tensor;

/// Steps simulated per chunk (bounds memory for long evaluations).
const CHUNK: usize = 64;

/// [`PathSimulator`] on burn tensors: any drift closure, any backend.
pub struct BurnSimulator<'a> {
    pub drift: &'a dyn Fn(Tensor<3>) -> Tensor<3>,
    pub potential: &'a dyn Fn(Tensor<3>) -> Tensor<1>,
    pub integrator: &'a dyn Integrator,
}

impl PathSimulator for BurnSimulator<'_> {
    fn advance(&mut self, mut walkers: Tensor<3>, steps: usize, dt: f64, noise: &mut Noise) -> Tensor<3> {
        let mut remaining = steps;
        while remaining > 0 {
            let n = remaining.min(CHUNK);
            walkers = simulate(self.drift, self.integrator, walkers, n, dt, noise).last_state();
            remaining -= n;
        }
        walkers
    }

    fn measure(&mut self, mut walkers: Tensor<3>, steps: usize, dt: f64, noise: &mut Noise) -> Measured {
        let w = walkers.dims()[0];
        let mut running_sum = vec![0.0; w];
        let mut martingale_sum = vec![0.0; w];
        let mut series = Vec::with_capacity(steps);
        let mut remaining = steps;
        while remaining > 0 {
            let n = remaining.min(CHUNK);
            let path = simulate(self.drift, self.integrator, walkers, n, dt, noise);
            let f = PathFunctional::new(&path, self.potential);
            let running: Vec<f64> = f.running.into_data().try_into_vec_as::<f64>().expect("float data");
            let martingale: Vec<f64> = f.martingale.into_data().try_into_vec_as::<f64>().expect("float data");
            for step in 0..n {
                let row = &running[step * w..(step + 1) * w];
                series.push(row.iter().sum::<f64>() / w as f64);
                for k in 0..w {
                    running_sum[k] += row[k];
                    martingale_sum[k] += martingale[step * w + k];
                }
            }
            walkers = path.last_state();
            remaining -= n;
        }
        Measured { running: running_sum, martingale: martingale_sum, series, walkers: Some(walkers) }
    }
}

