//! The controlled process dX_t = v(X_t) dt + dW_t and the record of its paths.
//!
//! The engine integrates any drift: it imports no physics, no latent model and no writer.
//! Walkers are `[walkers, particles, dims]` tensors; a path is the sequence X_0, …, X_N at
//! t_n = n·dt. [`simulate`] fills a [`PathRecord`] (states, drifts at the states, Brownian
//! increments) that objectives and estimators read; [`integrate`] is its time loop, for callers
//! that need only X_N or bring their own noise (`integrators::weak_error` coarsens one fine
//! Brownian path to every step size).

use crate::path::integrators::Integrator;
use crate::base::noise::Noise;
use burn::tensor::Tensor;

/// Everything an objective needs to know about a batch of paths.
///
/// `states[n]` = X_n (n = 0..=N), `drifts[n]` = v(X_n) (n = 0..=N), `increments[n]` = ΔW_n
/// (n = 0..N), so that X_{n+1} depends on X_n, the stage drifts and ΔW_n.
#[derive(Debug, Clone)]
pub struct PathRecord {
    pub dt: f64,
    pub states: Vec<Tensor<3>>,
    pub drifts: Vec<Tensor<3>>,
    pub increments: Vec<Tensor<3>>,
}

impl PathRecord {
    /// Number of steps N.
    pub fn steps(&self) -> usize {
        self.increments.len()
    }
    /// Time horizon T = N·dt.
    pub fn horizon(&self) -> f64 {
        self.steps() as f64 * self.dt
    }
    /// The final state X_N.
    pub fn last_state(&self) -> Tensor<3> {
        self.states.last().expect("a path has at least its initial state").clone()
    }
}

/// Simulates `steps` steps of dX = v(X) dt + dW from `x0` with the given integrator, drawing
/// the noise from `noise` in a fixed order (ξ₁ then, if needed, ξ₂, step after step).
pub fn simulate(
    drift: &dyn Fn(Tensor<3>) -> Tensor<3>,
    integrator: &dyn Integrator,
    x0: Tensor<3>,
    steps: usize,
    dt: f64,
    noise: &mut Noise,
) -> PathRecord {
    simulate_in_time(&|_, x| drift(x), integrator, x0, steps, dt, noise)
}

/// [`simulate`] for a time-dependent drift dX = v(t, X) dt + dW, t_n = n·dt. Within a step the
/// drift's time is held at t_n (its stages see v(t_n, ·)): exact for Euler–Maruyama, whose only
/// drift evaluation is at (t_n, X_n); for multi-stage schemes it lowers the order in t to one.
/// `drifts[n]` = v(t_n, X_n). Same noise order as [`simulate`].
pub fn simulate_in_time(
    drift: &dyn Fn(f64, Tensor<3>) -> Tensor<3>,
    integrator: &dyn Integrator,
    x0: Tensor<3>,
    steps: usize,
    dt: f64,
    noise: &mut Noise,
) -> PathRecord {
    let shape: [usize; 3] = x0.dims();
    let device = x0.device();
    let mut states = Vec::with_capacity(steps + 1);
    let mut drifts = Vec::with_capacity(steps + 1);
    let mut increments = Vec::with_capacity(steps);
    let mut normals = |count: usize| (0..count).map(|_| noise.gaussian(shape, 1.0, &device)).collect();
    let (x, v) = integrate_in_time(drift, integrator, x0, steps, dt, &mut normals, &mut |x, v, normals| {
        increments.push(normals[0].clone() * dt.sqrt());
        states.push(x);
        drifts.push(v);
    });
    states.push(x);
    drifts.push(v);
    PathRecord { dt, states, drifts, increments }
}

/// The time loop of the engine: `steps` steps of size `dt` from `x0`. Before step n it asks
/// `normals(k)` for the k = `normals_per_step()` standard-normal arrays of that step and hands
/// (X_n, v(X_n), normals) to `visit`. Returns (X_N, v(X_N)). [`simulate`] records the path with
/// it; a caller that needs only X_N (or brings its own noise, e.g. coarsened from a finer
/// Brownian path) calls it directly.
pub fn integrate(
    drift: &dyn Fn(Tensor<3>) -> Tensor<3>,
    integrator: &dyn Integrator,
    x0: Tensor<3>,
    steps: usize,
    dt: f64,
    normals: &mut dyn FnMut(usize) -> Vec<Tensor<3>>,
    visit: &mut dyn FnMut(Tensor<3>, Tensor<3>, &[Tensor<3>]),
) -> (Tensor<3>, Tensor<3>) {
    integrate_in_time(&|_, x| drift(x), integrator, x0, steps, dt, normals, visit)
}

/// [`integrate`] for a time-dependent drift v(t, X), held at t_n within step n (see
/// [`simulate_in_time`]).
pub fn integrate_in_time(
    drift: &dyn Fn(f64, Tensor<3>) -> Tensor<3>,
    integrator: &dyn Integrator,
    x0: Tensor<3>,
    steps: usize,
    dt: f64,
    normals: &mut dyn FnMut(usize) -> Vec<Tensor<3>>,
    visit: &mut dyn FnMut(Tensor<3>, Tensor<3>, &[Tensor<3>]),
) -> (Tensor<3>, Tensor<3>) {
    let mut x = x0;
    let mut v = drift(0.0, x.clone());
    for n in 0..steps {
        let t = n as f64 * dt;
        let step_normals = normals(integrator.normals_per_step());
        let next = integrator.step(&|y| drift(t, y), x.clone(), v.clone(), dt, &step_normals);
        visit(x, v, &step_normals);
        x = next;
        v = drift((n + 1) as f64 * dt, x.clone());
    }
    (x, v)
}

/// The time loop on a non-uniform grid t_0 < t_1 < … < t_M (irregular observation times): step
/// n goes from t_n to t_{n+1} with h_n = t_{n+1} − t_n, the drift held at t_n. Before step n it
/// asks `normals(k)` for the step's k = `normals_per_step()` standard-normal arrays and hands
/// (n, X_n, normals) to `visit`. The drift is evaluated only where a step needs it (no
/// evaluation at X_M, unlike [`integrate_in_time`], whose callers reuse v(X_N)). Returns X_M.
pub fn integrate_on_grid(
    drift: &dyn Fn(f64, Tensor<3>) -> Tensor<3>,
    integrator: &dyn Integrator,
    x0: Tensor<3>,
    grid: &[f64],
    normals: &mut dyn FnMut(usize) -> Vec<Tensor<3>>,
    visit: &mut dyn FnMut(usize, &Tensor<3>, &[Tensor<3>]),
) -> Tensor<3> {
    let mut x = x0;
    for n in 0..grid.len().saturating_sub(1) {
        let (t, h) = (grid[n], grid[n + 1] - grid[n]);
        let step_normals = normals(integrator.normals_per_step());
        let v = drift(t, x.clone());
        let next = integrator.step(&|y| drift(t, y), x.clone(), v, h, &step_normals);
        visit(n, &x, &step_normals);
        x = next;
    }
    x
}
