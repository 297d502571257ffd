//! Weak error against cost of every integrator, on a problem with an exact answer.
//!
//! Problem: the Ornstein–Uhlenbeck process dX = −θX dt + dW from X₀ = x₀ ≠ 0, observable
//! f(X_T) = X_T², whose exact mean is (Kloeden & Platen 1992, §4.4)
//!
//! ```text
//! E[X_T²] = x₀² e^{−2θT} + (1 − e^{−2θT}) / (2θ).
//! ```
//!
//! The weak error of a scheme with step h is e(h) = E[f(X_T^h)] − E[f(X_T)] = O(h^p), p its weak
//! order. It is measured by Monte Carlo through the generic SDE engine ([`crate::path::sde::integrate`],
//! burn tensors) with two variance reductions:
//!
//! - **One Brownian path for every h.** The noise is drawn once on the finest grid h_f as
//!   (ΔW, I) per step, with I = I_(1,0) = ∫(W_s − W_{t_n}) ds the iterated integral the SRA
//!   schemes need (χ = I/h), and coarsened exactly: over two steps a, b of size h,
//!   ΔW = ΔW_a + ΔW_b and I = I_a + I_b + h ΔW_a. A scheme with step H reads
//!   ξ₁ = ΔW/√H and ξ₂ = √3 (2I/H − ΔW)/√H, the inverse of the engine's
//!   ΔW = √H ξ₁, χ = ½(ΔW + √H ξ₂/√3) (see [`super`]).
//! - **Exact solution as control variate.** On the same Brownian path the exact solution is
//!   Y_{n+1} = e^{−θh_f} Y_n + Z_n with Z_n = ∫ e^{−θ(h_f−s)} dW_s, drawn as its regression on
//!   (ΔW, I) plus an independent Gaussian residual (variance O(h_f⁵)). Y_T has the exact law,
//!   so ê(h) = mean[f(X_T^h) − f(Y_T)] is unbiased for e(h), and its variance is set by the
//!   *strong* error |X_T^h − Y_T| instead of Var f(X_T).
//!
//! Because the drift is linear every scheme is a linear map X_{n+1} = R X_n + c₁ξ₁ + c₂ξ₂, so
//! e(h) is also known exactly ([`scheme_second_moment`]); the report gives it beside the
//! Monte Carlo estimate as a check of the estimator. Cost is counted in drift evaluations per
//! walker over [0, T] (what dominates with a neural drift) and in measured wall seconds. The
//! fitted weak order is the least-squares slope of log|ê| against log h; the cost of reaching an
//! accuracy ε is read off that line at h* = (ε/C)^{1/p}.

use super::{ALL, Integrator};
use crate::base::noise::Noise;
use crate::path::sde::integrate;
use burn::tensor::{Device, Tensor, TensorData};
use std::cell::Cell;
use std::time::Instant;

/// What to measure. Steps on the ladder are `finest_steps`, `finest_steps/2`, … (`levels` of
/// them); `finest_steps` must be divisible by 2^(levels−1).
#[derive(Debug, Clone, serde::Serialize)]
pub struct WeakErrorConfig {
    pub theta: f64,
    pub x0: f64,
    pub horizon: f64,
    pub finest_steps: usize,
    pub levels: usize,
    pub walkers: usize,
    /// Walkers simulated together (one tensor) per batch.
    pub batch: usize,
    pub seed: u64,
    /// Accuracy ε at which the cost of each scheme is compared.
    pub target: f64,
}

impl Default for WeakErrorConfig {
    fn default() -> Self {
        Self { theta: 1.0, x0: 1.0, horizon: 1.0, finest_steps: 256, levels: 7, walkers: 1 << 20, batch: 8192, seed: 1, target: 1e-3 }
    }
}

/// One scheme at one step size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Level {
    pub steps: usize,
    pub dt: f64,
    /// Monte Carlo estimate ê(h) of E[X_T²] − exact.
    pub weak_error: f64,
    /// One standard error of `weak_error`.
    pub stat_error: f64,
    /// The scheme's exact e(h) on this linear problem (no Monte Carlo).
    pub exact_weak_error: f64,
    /// Drift evaluations per step, counted.
    pub drift_evals_per_step: f64,
    /// Wall seconds of the engine's time loop per walker and step (noise upload included).
    pub seconds_per_walker_step: f64,
}

/// Cost of reaching the target accuracy, read off the fitted line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CostAtTarget {
    pub dt: f64,
    /// Drift evaluations per walker over [0, T].
    pub drift_evals: f64,
    /// Wall seconds per walker over [0, T] (median seconds per walker-step × T/dt).
    pub seconds_per_walker: f64,
    /// Whether dt lies inside the fitted range of steps (otherwise extrapolated).
    pub interpolated: bool,
}

/// One scheme over the whole ladder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SchemeResult {
    pub integrator: String,
    pub stated_weak_order: u32,
    /// Slope of log|ê| against log h over the significant points (|ê| > 3 standard errors).
    pub fitted_weak_order: Option<f64>,
    /// Points used by the fit.
    pub fitted_points: usize,
    pub levels: Vec<Level>,
    pub cost_at_target: Option<CostAtTarget>,
}

/// The whole benchmark, printed as one JSON object.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WeakErrorReport {
    pub benchmark: String,
    pub problem: String,
    pub config: WeakErrorConfig,
    pub backend: String,
    pub exact: f64,
    /// mean f(Y_T) − exact and its standard error: checks that the control variate has the exact law.
    pub reference_check: (f64, f64),
    pub schemes: Vec<SchemeResult>,
    /// Scheme reaching `target` with the fewest drift evaluations, and with the least wall time.
    pub cheapest_by_drift_evals: Option<String>,
    pub cheapest_by_wall: Option<String>,
    pub wall_seconds: f64,
}

/// E[X_T²] = x₀² e^{−2θT} + (1 − e^{−2θT})/(2θ).
pub fn exact_second_moment(theta: f64, x0: f64, horizon: f64) -> f64 {
    let decay = (-2.0 * theta * horizon).exp();
    x0 * x0 * decay + (1.0 - decay) / (2.0 * theta)
}

/// E[(X_T^h)²] of the scheme itself on OU(θ) from x₀, step h, with no Monte Carlo: R, c₁ and c₂
/// of X_{n+1} = R X_n + c₁ξ₁ + c₂ξ₂ are read off the implemented `step` (unit inputs, on an f64
/// `device`), then m_{n+1} = R² m_n + c₁² + c₂².
pub fn scheme_second_moment(integrator: &dyn Integrator, theta: f64, x0: f64, horizon: f64, h: f64, device: &Device) -> f64 {
    let scalar = |v: f64| Tensor::<3>::from_data(TensorData::new(vec![v], [1, 1, 1]), device);
    let drift = |x: Tensor<3>| x * (-theta);
    let step = |x: f64, xi1: f64, xi2: f64| {
        let x = scalar(x);
        let normals = [scalar(xi1), scalar(xi2)];
        let next = integrator.step(&drift, x.clone(), drift(x), h, &normals[..integrator.normals_per_step()]);
        next.into_data().try_into_vec_as::<f64>().expect("float data")[0]
    };
    let r = step(1.0, 0.0, 0.0);
    let c1 = step(0.0, 1.0, 0.0);
    let c2 = if integrator.normals_per_step() == 2 { step(0.0, 0.0, 1.0) } else { 0.0 };
    let n = (horizon / h).round() as usize;
    (0..n).fold(x0 * x0, |m, _| r * r * m + c1 * c1 + c2 * c2)
}

/// Least-squares line log y = log C + p log x; returns (p, C). Needs two distinct x.
pub fn fit_power_law(xs: &[f64], ys: &[f64]) -> (f64, f64) {
    let lx: Vec<f64> = xs.iter().map(|x| x.ln()).collect();
    let ly: Vec<f64> = ys.iter().map(|y| y.ln()).collect();
    let n = lx.len() as f64;
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let sxy: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = lx.iter().map(|x| (x - mx).powi(2)).sum();
    let p = sxy / sxx;
    (p, (my - p * mx).exp())
}

/// The Brownian path of one batch on one grid: per step and walker (step-major), ΔW and I_(1,0).
struct BrownianGrid {
    h: f64,
    dw: Vec<f64>,
    i10: Vec<f64>,
}

impl BrownianGrid {
    fn steps(&self, walkers: usize) -> usize {
        self.dw.len() / walkers
    }

    /// The same path on the grid of step 2h: ΔW = ΔW_a + ΔW_b, I = I_a + I_b + h ΔW_a.
    fn coarsen(&self, walkers: usize) -> BrownianGrid {
        let steps = self.steps(walkers) / 2;
        let mut dw = Vec::with_capacity(steps * walkers);
        let mut i10 = Vec::with_capacity(steps * walkers);
        for n in 0..steps {
            let (a, b) = (2 * n * walkers, (2 * n + 1) * walkers);
            for w in 0..walkers {
                dw.push(self.dw[a + w] + self.dw[b + w]);
                i10.push(self.i10[a + w] + self.i10[b + w] + self.h * self.dw[a + w]);
            }
        }
        BrownianGrid { h: 2.0 * self.h, dw, i10 }
    }

    /// The engine's standard normals (ξ₁, ξ₂) of this path, step-major.
    fn normals(&self) -> (Vec<f64>, Vec<f64>) {
        let s = self.h.sqrt();
        let xi1 = self.dw.iter().map(|dw| dw / s).collect();
        let xi2 = self.dw.iter().zip(&self.i10).map(|(dw, i)| 3f64.sqrt() * (2.0 * i / self.h - dw) / s).collect();
        (xi1, xi2)
    }
}

/// Regression of Z = ∫₀^h e^{−θ(h−s)} dW_s on (ΔW, I_(1,0)): Z = a ΔW + b I + c ξ₃.
fn exact_increment_coefficients(theta: f64, h: f64) -> (f64, f64, f64) {
    let e = (-theta * h).exp();
    let (v_w, c_wi, v_i) = (h, h * h / 2.0, h * h * h / 3.0);
    let c_zw = (1.0 - e) / theta;
    let c_zi = (1.0 - e * (1.0 + theta * h)) / (theta * theta);
    let v_z = (1.0 - e * e) / (2.0 * theta);
    let det = v_w * v_i - c_wi * c_wi;
    let a = (c_zw * v_i - c_zi * c_wi) / det;
    let b = (c_zi * v_w - c_zw * c_wi) / det;
    let residual = (v_z - a * c_zw - b * c_zi).max(0.0);
    (a, b, residual.sqrt())
}

/// Running sums of one scheme at one step size.
#[derive(Default, Clone)]
struct Sums {
    n: f64,
    sum: f64,
    sum_sq: f64,
    seconds: f64,
    walker_steps: f64,
    evals_per_step: f64,
}

impl Sums {
    fn add(&mut self, d: f64) {
        self.n += 1.0;
        self.sum += d;
        self.sum_sq += d * d;
    }
    fn mean_and_error(&self) -> (f64, f64) {
        let mean = self.sum / self.n;
        let var = (self.sum_sq / self.n - mean * mean).max(0.0) * self.n / (self.n - 1.0);
        (mean, (var / self.n).sqrt())
    }
}

/// Final states of `integrator` with step `grid.h` on the batch's Brownian path, through the
/// engine; adds the timing and the counted drift evaluations to `sums`.
fn final_states(integrator: &dyn Integrator, cfg: &WeakErrorConfig, grid: &BrownianGrid, batch: usize, device: &Device, sums: &mut Sums) -> Vec<f64> {
    let steps = grid.steps(batch);
    let (xi1, xi2) = grid.normals();
    let evaluations = Cell::new(0usize);
    let theta = cfg.theta;
    let drift = |x: Tensor<3>| {
        evaluations.set(evaluations.get() + 1);
        x * (-theta)
    };
    let mut n = 0;
    let mut normals = |count: usize| {
        let slice = |v: &[f64]| Tensor::<3>::from_data(TensorData::new(v[n * batch..(n + 1) * batch].to_vec(), [batch, 1, 1]), device);
        let out = [&xi1, &xi2][..count].iter().map(|v| slice(v)).collect();
        n += 1;
        out
    };
    let x0 = Tensor::<3>::from_data(TensorData::new(vec![cfg.x0; batch], [batch, 1, 1]), device);
    let start = Instant::now();
    let (x, _) = integrate(&drift, integrator, x0, steps, grid.h, &mut normals, &mut |_, _, _| {});
    let values = x.into_data().try_into_vec_as::<f64>().expect("float data");
    sums.seconds += start.elapsed().as_secs_f64();
    sums.walker_steps += (batch * steps) as f64;
    // One evaluation at X_0 and one at each new state, plus the extra stages of each step.
    sums.evals_per_step = (evaluations.get() - 1) as f64 / steps as f64;
    values
}

/// Runs the benchmark on `device` (which must compute in f64 for errors near 1e-6 to mean
/// anything). `progress` is called after each batch with (walkers done, walkers).
pub fn run(cfg: &WeakErrorConfig, device: &Device, progress: &mut dyn FnMut(usize, usize)) -> crate::Result<WeakErrorReport> {
    validate(cfg)?;
    let start = Instant::now();
    let h_fine = cfg.horizon / cfg.finest_steps as f64;
    let (za, zb, zc) = exact_increment_coefficients(cfg.theta, h_fine);
    let decay = (-cfg.theta * h_fine).exp();
    let f = |x: f64| x * x;
    let mut sums = vec![vec![Sums::default(); cfg.levels]; ALL.len()];
    let mut reference = Sums::default();
    let mut noise = Noise::new(cfg.seed);
    let mut done = 0;
    while done < cfg.walkers {
        let batch = cfg.batch.min(cfg.walkers - done);
        let count = cfg.finest_steps * batch;
        let (xi1, xi2, xi3) = (noise.standard_normals(count), noise.standard_normals(count), noise.standard_normals(count));
        let s = h_fine.sqrt();
        let dw: Vec<f64> = xi1.iter().map(|z| s * z).collect();
        let i10 = dw.iter().zip(&xi2).map(|(dw, z)| 0.5 * h_fine * (dw + s * z / 3f64.sqrt())).collect();
        let mut grid = BrownianGrid { h: h_fine, dw, i10 };
        // The exact solution on the finest grid.
        let mut y = vec![cfg.x0; batch];
        for n in 0..cfg.finest_steps {
            for (w, y) in y.iter_mut().enumerate() {
                let k = n * batch + w;
                *y = decay * *y + za * grid.dw[k] + zb * grid.i10[k] + zc * xi3[k];
            }
        }
        y.iter().for_each(|&y| reference.add(f(y)));
        for level in 0..cfg.levels {
            if level > 0 {
                grid = grid.coarsen(batch);
            }
            for (scheme, integrator) in ALL.iter().enumerate() {
                let cell = &mut sums[scheme][level];
                let x = final_states(*integrator, cfg, &grid, batch, device, cell);
                x.iter().zip(&y).for_each(|(&x, &y)| cell.add(f(x) - f(y)));
            }
        }
        done += batch;
        progress(done, cfg.walkers);
    }
    let exact = exact_second_moment(cfg.theta, cfg.x0, cfg.horizon);
    let (ref_mean, ref_error) = reference.mean_and_error();
    let schemes: Vec<SchemeResult> = ALL.iter().zip(&sums).map(|(integrator, sums)| scheme_result(*integrator, cfg, sums, device)).collect();
    let cheapest = |cost: fn(&CostAtTarget) -> f64| {
        schemes
            .iter()
            .filter_map(|s| s.cost_at_target.as_ref().map(|c| (cost(c), s.integrator.clone())))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, name)| name)
    };
    Ok(WeakErrorReport {
        benchmark: "integrators".into(),
        problem: format!("Ornstein–Uhlenbeck dX = −θX dt + dW, θ = {}, X₀ = {}, T = {}, observable X_T²", cfg.theta, cfg.x0, cfg.horizon),
        config: cfg.clone(),
        backend: format!("flex {:?}", device.settings().float_dtype).to_lowercase(),
        exact,
        reference_check: (ref_mean - exact, ref_error),
        cheapest_by_drift_evals: cheapest(|c| c.drift_evals),
        cheapest_by_wall: cheapest(|c| c.seconds_per_walker),
        schemes,
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}

fn validate(cfg: &WeakErrorConfig) -> crate::Result<()> {
    let bad = |what: &str| Err(crate::Error::Other(format!("bench integrators: {what}")));
    if cfg.levels == 0 || cfg.finest_steps % (1 << (cfg.levels - 1)) != 0 {
        return bad(&format!("--steps {} must be divisible by 2^(levels − 1) = {}", cfg.finest_steps, 1usize << cfg.levels.saturating_sub(1)));
    }
    if cfg.walkers < 2 || cfg.batch == 0 {
        return bad(&format!("--walkers must be at least 2 (got {})", cfg.walkers));
    }
    if !(cfg.theta > 0.0 && cfg.horizon > 0.0 && cfg.target > 0.0) {
        return bad("θ, T and the target accuracy must be positive");
    }
    Ok(())
}

fn scheme_result(integrator: &dyn Integrator, cfg: &WeakErrorConfig, sums: &[Sums], device: &Device) -> SchemeResult {
    let levels: Vec<Level> = sums
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let steps = cfg.finest_steps >> k;
            let dt = cfg.horizon / steps as f64;
            let (weak_error, stat_error) = s.mean_and_error();
            let exact = exact_second_moment(cfg.theta, cfg.x0, cfg.horizon);
            Level {
                steps,
                dt,
                weak_error,
                stat_error,
                exact_weak_error: scheme_second_moment(integrator, cfg.theta, cfg.x0, cfg.horizon, dt, device) - exact,
                drift_evals_per_step: s.evals_per_step,
                seconds_per_walker_step: s.seconds / s.walker_steps,
            }
        })
        .collect();
    let significant: Vec<&Level> = levels.iter().filter(|l| l.weak_error.abs() > 3.0 * l.stat_error).collect();
    let fit = (significant.len() >= 2).then(|| {
        let hs: Vec<f64> = significant.iter().map(|l| l.dt).collect();
        let es: Vec<f64> = significant.iter().map(|l| l.weak_error.abs()).collect();
        fit_power_law(&hs, &es)
    });
    let cost_at_target = fit.filter(|(p, _)| *p > 0.0).map(|(p, c)| {
        let dt = (cfg.target / c).powf(1.0 / p);
        let mut per_step: Vec<f64> = levels.iter().map(|l| l.seconds_per_walker_step).collect();
        per_step.sort_by(f64::total_cmp);
        let (lo, hi) = significant.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), l| (lo.min(l.dt), hi.max(l.dt)));
        CostAtTarget {
            dt,
            drift_evals: levels[0].drift_evals_per_step * cfg.horizon / dt,
            seconds_per_walker: per_step[per_step.len() / 2] * cfg.horizon / dt,
            interpolated: dt >= lo && dt <= hi,
        }
    });
    SchemeResult {
        integrator: integrator.name().to_string(),
        stated_weak_order: integrator.weak_order(),
        fitted_weak_order: fit.map(|(p, _)| p),
        fitted_points: significant.len(),
        levels,
        cost_at_target,
    }
}

impl WeakErrorReport {
    /// The table printed on stdout.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{}\nexact E[X_T²] = {:.8}; {} walkers, one Brownian path per walker for every dt; backend {}\n\
             control variate check: mean Y_T² − exact = {:+.2e} ± {:.1e}\n\n",
            self.problem, self.exact, self.config.walkers, self.backend, self.reference_check.0, self.reference_check.1
        );
        out += &format!(
            "{:<15} {:>5} {:>9} {:>12} {:>9} {:>12} {:>6} {:>11}\n",
            "integrator", "steps", "dt", "weak error", "± stat", "exact error", "f/step", "s/walker-step"
        );
        for s in &self.schemes {
            for l in &s.levels {
                out += &format!(
                    "{:<15} {:>5} {:>9.5} {:>+12.3e} {:>9.1e} {:>+12.3e} {:>6.1} {:>11.2e}\n",
                    s.integrator, l.steps, l.dt, l.weak_error, l.stat_error, l.exact_weak_error, l.drift_evals_per_step, l.seconds_per_walker_step
                );
            }
        }
        out += &format!("\n{:<15} {:>6} {:>7} {:>24}\n", "integrator", "stated", "fitted", format!("cost at |error| = {:.0e}", self.config.target));
        for s in &self.schemes {
            let fitted = s.fitted_weak_order.map_or("—".to_string(), |p| format!("{p:.2}"));
            let cost = s.cost_at_target.as_ref().map_or("—".to_string(), |c| {
                format!(
                    "dt {:.4}: {:.0} drift evals, {:.2e} s per walker{}",
                    c.dt,
                    c.drift_evals,
                    c.seconds_per_walker,
                    if c.interpolated { "" } else { " (extrapolated)" }
                )
            });
            out += &format!("{:<15} {:>6} {:>7}   {}\n", s.integrator, s.stated_weak_order, fitted, cost);
        }
        out += &format!(
            "\ncheapest at {:.0e}: {} by drift evaluations, {} by wall time ({:.1} s in all)\n",
            self.config.target,
            self.cheapest_by_drift_evals.as_deref().unwrap_or("—"),
            self.cheapest_by_wall.as_deref().unwrap_or("—"),
            self.wall_seconds
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::device::Precision;

    fn device() -> Device {
        let mut d = Device::flex();
        Precision::F64.configure(&mut d).unwrap();
        d
    }

    fn small() -> WeakErrorConfig {
        // dt = 1/4, 1/8, 1/16: Heun's strong error (order 1) makes it the noisiest scheme, and
        // 2^17 walkers put its standard error below a quarter of its bias at dt = 1/16.
        WeakErrorConfig { finest_steps: 16, levels: 3, walkers: 1 << 17, ..WeakErrorConfig::default() }
    }

    #[test]
    fn coarsening_keeps_the_law_of_the_increments() {
        // Over step H: Var ΔW = H, Cov(ΔW, I) = H²/2, Var I = H³/3.
        let (walkers, h): (usize, f64) = (20_000, 0.1);
        let mut noise = Noise::new(3);
        let (a, b) = (noise.standard_normals(2 * walkers), noise.standard_normals(2 * walkers));
        let dw: Vec<f64> = a.iter().map(|z| h.sqrt() * z).collect();
        let i10 = dw.iter().zip(&b).map(|(dw, z)| 0.5 * h * (dw + h.sqrt() * z / 3f64.sqrt())).collect();
        let coarse = BrownianGrid { h, dw, i10 }.coarsen(walkers);
        let n = walkers as f64;
        let moment = |f: &dyn Fn(usize) -> f64| (0..walkers).map(f).sum::<f64>() / n;
        let big_h = 2.0 * h;
        assert!((moment(&|w| coarse.dw[w].powi(2)) / big_h - 1.0).abs() < 0.05);
        assert!((moment(&|w| coarse.dw[w] * coarse.i10[w]) / (big_h * big_h / 2.0) - 1.0).abs() < 0.05);
        assert!((moment(&|w| coarse.i10[w].powi(2)) / (big_h.powi(3) / 3.0) - 1.0).abs() < 0.05);
        // ξ₁, ξ₂ are standard normals again.
        let (x1, x2) = coarse.normals();
        assert!((moment(&|w| x1[w] * x1[w]) - 1.0).abs() < 0.05 && (moment(&|w| x2[w] * x2[w]) - 1.0).abs() < 0.05);
        assert!(moment(&|w| x1[w] * x2[w]).abs() < 0.05);
    }

    #[test]
    fn monte_carlo_weak_error_agrees_with_the_exact_one_and_has_the_stated_order() {
        let report = run(&small(), &device(), &mut |_, _| {}).unwrap();
        let (dev, se) = report.reference_check;
        assert!(dev.abs() < 4.0 * se, "control variate off its law: {dev} ± {se}");
        for s in &report.schemes {
            for l in &s.levels {
                assert!(
                    (l.weak_error - l.exact_weak_error).abs() < 4.0 * l.stat_error + 1e-12,
                    "{} dt {}: {} ± {} vs exact {}",
                    s.integrator,
                    l.dt,
                    l.weak_error,
                    l.stat_error,
                    l.exact_weak_error
                );
                assert!(l.stat_error < 0.25 * l.weak_error.abs(), "{} dt {}: noise {} not below bias {}", s.integrator, l.dt, l.stat_error, l.weak_error);
            }
            let p = s.fitted_weak_order.expect("a fit");
            assert!((p - s.stated_weak_order as f64).abs() < 0.25, "{}: fitted {p}, stated {}", s.integrator, s.stated_weak_order);
            let evals = s.levels[0].drift_evals_per_step;
            assert!(evals >= 1.0 && evals == evals.round(), "{evals}");
        }
    }

    #[test]
    fn a_ladder_that_does_not_halve_is_refused() {
        let cfg = WeakErrorConfig { finest_steps: 12, levels: 4, walkers: 16, ..small() };
        let message = run(&cfg, &device(), &mut |_, _| {}).unwrap_err().to_string();
        assert!(message.contains("--steps 12"), "{message}");
    }
}
