//! What a run stores besides its numbers and that needs the trained drift: a sample of paths
//! (states X_n and drifts v(X_n) every few steps, for trajectory analysis and density plots) and
//! the drift on a 2-D slice through configuration space (for the vector-field plot).
//!
//! Both are computed once, after evaluation, from the evaluation's final (stationary) walkers
//! with the trained drift, so that writers and `pathspace plot` only read them. The path sample
//! draws from its own noise stream: it changes no reported energy.

use crate::path::integrators::Integrator;
use crate::base::noise::Noise;
use crate::quantum::physics::System;
use crate::path::sde::simulate;
pub use crate::io::hdf5::{DriftSlice, PathSample};
use burn::tensor::{Device, Tensor, TensorData};

fn values(t: Tensor<3>) -> Vec<f64> {
    t.into_data().try_into_vec_as::<f64>().expect("float data")
}

/// How many paths to store, how long, how densely.
#[derive(Debug, Clone, Copy)]
pub struct PathSampling {
    pub walkers: usize,
    pub steps: usize,
    pub every: usize,
    pub dt: f64,
}

/// Simulates `steps` steps from the first `walkers` of `start` and keeps every `every`-th state
/// (X_0 included) and the drift there.
pub fn sample_paths(
    drift: &dyn Fn(Tensor<3>) -> Tensor<3>,
    integrator: &dyn Integrator,
    start: Tensor<3>,
    sampling: PathSampling,
    noise: &mut Noise,
) -> PathSample {
    let PathSampling { walkers, steps, every, dt } = sampling;
    let [w, p, d] = start.dims();
    let k = walkers.min(w);
    let device = start.device();
    let first: Vec<f64> = values(start)[..k * p * d].to_vec();
    let x0 = Tensor::<3>::from_data(TensorData::new(first, [k, p, d]), &device);
    let path = simulate(drift, integrator, x0, steps, dt, noise);
    let (mut positions, mut drifts) = (Vec::new(), Vec::new());
    let mut saved = 0;
    for n in (0..=steps).step_by(every.max(1)) {
        positions.extend(values(path.states[n].clone()).into_iter().map(|v| v as f32));
        drifts.extend(values(path.drifts[n].clone()).into_iter().map(|v| v as f32));
        saved += 1;
    }
    PathSample { step_dt: dt, every: every.max(1), shape: [saved, k, p, d], positions, drift: drifts }
}

/// The plane shown for a system: for a molecule, the axis along which its nuclei spread most
/// (the molecular axis of H₂) and the first other axis; otherwise the first two axes.
/// `None` for one-dimensional systems.
pub fn slice_axes(system: &System) -> Option<[usize; 2]> {
    if system.dims() < 2 {
        return None;
    }
    if let System::Molecule(m) = system {
        let spread = |a: usize| {
            let (lo, hi) = m.nuclei.iter().fold((f64::MAX, f64::MIN), |(lo, hi), n| (lo.min(n.position[a]), hi.max(n.position[a])));
            hi - lo
        };
        let main = (0..3).max_by(|&a, &b| spread(a).total_cmp(&spread(b)).then(b.cmp(&a))).unwrap_or(2);
        let other = (0..3).find(|&a| a != main).expect("3 axes");
        return Some([main, other]);
    }
    Some([0, 1])
}

/// Evaluates `drift` on an `n`×`n` grid of the slice through the system's initial centres,
/// moving particle 0; the half-width covers the centres plus three length scales.
pub fn drift_slice(drift: &dyn Fn(Tensor<3>) -> Tensor<3>, system: &System, n: usize, device: &Device) -> Option<DriftSlice> {
    let axes = slice_axes(system)?;
    let (p, d) = (system.particles(), system.dims());
    let centres = system.initial_centres();
    let fixed: Vec<f64> = centres.iter().flatten().copied().collect();
    let extent = |a: usize| centres.iter().map(|c| c[a].abs()).fold(0.0, f64::max) + 3.0 * system.length_scale();
    let grid = |a: usize| -> Vec<f64> {
        let h = extent(a);
        (0..n).map(|i| -h + 2.0 * h * i as f64 / (n - 1).max(1) as f64).collect()
    };
    let (x, y) = (grid(axes[0]), grid(axes[1]));
    let mut configs = Vec::with_capacity(n * n * p * d);
    for &yv in &y {
        for &xv in &x {
            let mut c = fixed.clone();
            c[axes[0]] = xv;
            c[axes[1]] = yv;
            configs.extend(c);
        }
    }
    let v = values(drift(Tensor::<3>::from_data(TensorData::new(configs, [n * n, p, d]), device)));
    let drift: Vec<f64> = (0..n * n).flat_map(|k| [v[k * p * d + axes[0]], v[k * p * d + axes[1]]]).collect();
    Some(DriftSlice { axes, particle: 0, dims: d, fixed, x, y, drift })
}
