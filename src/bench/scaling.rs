//! `pathspace bench scaling`: training throughput against the number of walkers, the GPU
//! scaling curve of issue 17. For each walker count N of a ladder (default 10³, 10⁴, 10⁵, 10⁶)
//! and each training benchmark (`fk-mlp`, `h2`, `bosons4` of [`super::run`]), one warm-up and r
//! timed training iterations, exactly as `bench NAME --walkers N` times them
//! ([`super::run_sized`]); the rate is N · steps / median seconds per iteration.
//!
//! Before a size runs, the memory its reverse pass would hold is estimated as
//!
//! ```text
//! M = N · K · 8 (8 p d + 4 H L R) bytes
//! ```
//!
//! with K the kept steps (every step for the autodiff engine; k + steps/k for the fused engine
//! with checkpoint segment k, all for k = 0), p particles in d dimensions, H the hidden width, L
//! the layers, R = 1 for mlp and gradient drifts and p² for pair and jastrow drifts: the formula
//! problem files are checked with (`Problem::memory_estimate`, the `train.walkers` term). It
//! counts 8 bytes a number, so it overstates an f32 run. Sizes with M above `max_gib` GiB are not
//! run but recorded as skipped, with M in the reason; with a time budget, so are sizes that would
//! not finish in what is left of it (predicted linearly in N from the benchmark's last measured
//! size). Nothing is extrapolated into a result.
//!
//! Timed iterations per size: r = `repeats` up to 10⁴ walkers, above that
//! max(3, repeats · 10⁴ / N), never more than `repeats` ([`repeats_at`]).
//!
//! Sizes run in order of walker count, every benchmark at a size before any at the next, so a
//! time budget cuts the largest sizes first.

use super::{BenchEngine, BenchResult, Setup};
use crate::base::error::{Error, Result};
use burn::tensor::Device;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

/// The training benchmarks of the curve.
pub const BENCHMARKS: [&str; 3] = ["fk-mlp", "h2", "bosons4"];

/// The default walker counts.
pub const WALKER_COUNTS: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// Bytes in a GiB.
const GIB: f64 = (1u64 << 30) as f64;

pub use crate::quantum::problem::{bytes_per_walker_step, kept_steps};

/// A size in GiB with three significant digits.
fn gib(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 0.01 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    }
}

/// Timed iterations at `walkers`: `repeats` up to 10⁴ walkers, above that
/// max(3, repeats · 10⁴ / walkers), never more than `repeats` (and at least one).
pub fn repeats_at(repeats: usize, walkers: usize) -> usize {
    let repeats = repeats.max(1);
    if walkers <= 10_000 {
        return repeats;
    }
    (repeats * 10_000 / walkers).max(3).min(repeats)
}

/// Parses `--walker-counts`: positive whole numbers separated by commas, e.g. "1000,10000".
pub fn parse_walker_counts(text: &str) -> Result<Vec<usize>> {
    text.split(',')
        .map(|item| match item.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(Error::Other(format!("--walker-counts: {:?} is not a positive whole number (expected e.g. 1000,10000)", item.trim()))),
        })
        .collect()
}

/// What `bench scaling` runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScalingConfig {
    /// Benchmark names as `bench NAME` takes them.
    pub benchmarks: Vec<String>,
    /// Walker counts (run in increasing order, each once).
    pub walker_counts: Vec<usize>,
    pub engine: BenchEngine,
    /// Timed iterations at up to 10⁴ walkers ([`repeats_at`] above).
    pub repeats: usize,
    /// Fused engine: overrides each benchmark's checkpoint segment.
    pub checkpoint_segment: Option<usize>,
    /// Sizes whose reverse pass is estimated above this many GiB are skipped.
    pub max_gib: f64,
    /// Wall-clock budget of the whole curve, seconds (None: no budget).
    pub max_seconds: Option<f64>,
}

impl ScalingConfig {
    /// Every benchmark of [`BENCHMARKS`] at [`WALKER_COUNTS`], 10 repeats, a 40 GiB cut, no budget.
    pub fn standard(engine: BenchEngine) -> Self {
        ScalingConfig {
            benchmarks: BENCHMARKS.iter().map(|s| s.to_string()).collect(),
            walker_counts: WALKER_COUNTS.to_vec(),
            engine,
            repeats: 10,
            checkpoint_segment: None,
            max_gib: 40.0,
            max_seconds: None,
        }
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Other(format!("bench scaling: {m}")));
        if self.walker_counts.is_empty() || self.walker_counts.contains(&0) {
            return bad("--walker-counts must be positive whole numbers".into());
        }
        if !(self.max_gib.is_finite() && self.max_gib >= 0.0) {
            return bad(format!("--max-gib must be a non-negative number (got {})", self.max_gib));
        }
        if let Some(s) = self.max_seconds
            && !(s.is_finite() && s > 0.0)
        {
            return bad(format!("--max-seconds must be a positive number (got {s})"));
        }
        Ok(())
    }
}

/// One benchmark at one walker count: measured, skipped before it ran, or failed while running.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScalingPoint {
    /// The name `bench NAME` takes ("fk-mlp", "h2", "bosons4").
    pub benchmark: String,
    pub walkers: usize,
    /// Estimated memory of the reverse pass, GiB (2³⁰ bytes).
    pub estimated_gib: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<BenchResult>,
    /// Why the size was not run (memory estimate above the cut, time budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The error or panic that stopped the size (e.g. the device out of memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// The curve, printed as one JSON object by `bench scaling --json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScalingReport {
    /// Backend and float type of the device, e.g. "flex f32" or "wgpu f32".
    pub backend: String,
    pub engine: BenchEngine,
    /// Threads of the fused engine (the CPU's).
    pub threads: usize,
    pub config: ScalingConfig,
    /// Points in order of benchmark, then walkers.
    pub points: Vec<ScalingPoint>,
    /// Wall seconds of the whole run.
    pub seconds: f64,
}

impl ScalingReport {
    /// A terminal table of the points.
    pub fn table(&self) -> String {
        let mut s = format!("bench scaling: {}, {} engine, {} threads, cut at {} GiB\n", self.backend, self.engine.name(), self.threads, self.config.max_gib);
        s += &format!("{:<9} {:>9} {:>8} {:>12} {:>16} {:>10}\n", "benchmark", "walkers", "repeats", "s/iteration", "walker-steps/s", "est. GiB");
        for p in &self.points {
            let head = format!("{:<9} {:>9}", p.benchmark, p.walkers);
            match (&p.result, &p.skipped, &p.failed) {
                (Some(r), _, _) => {
                    s += &format!("{head} {:>8} {:>12.4} {:>16.3e} {:>10.3}\n", r.repeats, r.seconds_per_iteration, r.walker_steps_per_second, p.estimated_gib)
                }
                (_, Some(why), _) => s += &format!("{head}   skipped: {why}\n"),
                (_, _, Some(why)) => s += &format!("{head}   failed: {why}\n"),
                _ => {}
            }
        }
        s
    }
}

/// Runs the curve on `device` (a plain device); `progress` sees each point as it is decided.
pub fn run(config: &ScalingConfig, device: &Device, progress: &mut dyn FnMut(&ScalingPoint)) -> Result<ScalingReport> {
    config.check()?;
    super::check_engine(config.engine, device)?;
    let started = Instant::now();
    let mut counts = config.walker_counts.clone();
    counts.sort_unstable();
    counts.dedup();
    let train_device = device.clone().autodiff();
    let mut points = Vec::new();
    for &walkers in &counts {
        for name in &config.benchmarks {
            let setup = super::setup(name, Some(walkers), &train_device)?;
            let last = points.iter().rev().find_map(|p: &ScalingPoint| p.result.as_ref().filter(|_| &p.benchmark == name));
            let point = point(config, name, setup, last, started.elapsed().as_secs_f64(), device);
            progress(&point);
            points.push(point);
        }
    }
    let order = |p: &ScalingPoint| config.benchmarks.iter().position(|b| b == &p.benchmark);
    points.sort_by_key(|p| (order(p), p.walkers));
    Ok(ScalingReport {
        backend: super::backend_label(device),
        engine: config.engine,
        threads: crate::simd::threads(),
        config: config.clone(),
        points,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Decides and, where it fits, times one size. `last`: the benchmark's last measured point;
/// `elapsed`: seconds spent so far.
fn point(config: &ScalingConfig, name: &str, setup: Setup, last: Option<&BenchResult>, elapsed: f64, device: &Device) -> ScalingPoint {
    let walkers = setup.walkers.dims()[0];
    let estimated_gib = setup.reverse_pass_bytes(config.engine, config.checkpoint_segment) / GIB;
    let mut point = ScalingPoint { benchmark: name.to_string(), walkers, estimated_gib, result: None, skipped: None, failed: None };
    let repeats = repeats_at(config.repeats, walkers);
    if estimated_gib > config.max_gib {
        point.skipped = Some(format!(
            "memory: the reverse pass is estimated at {} GiB (walkers x kept steps x bytes per walker-step), above --max-gib {}",
            gib(estimated_gib),
            config.max_gib
        ));
        return point;
    }
    if let Some(budget) = config.max_seconds {
        let left = budget - elapsed;
        if left <= 0.0 {
            point.skipped = Some(format!("time: the {budget} s of --max-seconds are spent"));
            return point;
        }
        if let Some(r) = last {
            let predicted = (repeats + 1) as f64 * r.seconds_per_iteration * walkers as f64 / r.walkers as f64;
            if predicted > left {
                point.skipped = Some(format!(
                    "time: {} iterations predicted at {predicted:.0} s (linear in walkers from the {}-walker point), more than the {left:.0} s left of --max-seconds {budget}",
                    repeats + 1,
                    r.walkers
                ));
                return point;
            }
        }
    }
    // A size the device cannot hold may panic inside the backend: record it and go on.
    match catch_unwind(AssertUnwindSafe(|| super::time(setup, config.engine, repeats, config.checkpoint_segment, device))) {
        Ok(Ok(result)) => point.result = Some(result),
        Ok(Err(e)) => point.failed = Some(e.to_string()),
        Err(panic) => {
            let message = panic.downcast_ref::<String>().map(String::as_str).or(panic.downcast_ref::<&str>().copied()).unwrap_or("panic");
            point.failed = Some(format!("panicked: {}", crate::base::config::clip(message, 200)));
        }
    }
    point
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantum::problem::DriftKind;

    #[test]
    fn memory_estimate_is_the_problem_files_formula() {
        // fk-mlp: p = 1, d = 3, H = 64, L = 2: 8 (24 + 512) bytes per walker-step.
        assert_eq!(bytes_per_walker_step(1, 3, 64, 2, DriftKind::Mlp), 4288.0);
        // A pair network counts p² rows of activations.
        assert_eq!(bytes_per_walker_step(2, 3, 64, 2, DriftKind::Pair), 8.0 * (48.0 + 4.0 * 64.0 * 2.0 * 4.0));
        assert_eq!(kept_steps(100, 0), 100.0);
        assert_eq!(kept_steps(100, 10), 20.0);
        // The same number as Problem::memory_estimate's train.walkers term.
        let text = "[system]\nkind = \"harmonic\"\nparticles = 2\ndims = 3\n[drift]\nkind = \"pair\"\nhidden = 16\n[sde]\nsteps = 50\n[train]\nwalkers = 300\ncheckpoint_segment = 5\n";
        let problem = crate::quantum::problem::Problem::parse(std::path::Path::new("t.toml"), text).unwrap();
        let term = problem.memory_estimate().into_iter().find(|t| t.0 == "train.walkers").unwrap().1;
        assert_eq!(300.0 * kept_steps(50, 5) * bytes_per_walker_step(2, 3, 16, 2, DriftKind::Pair), term);
    }

    #[test]
    fn repeats_shrink_above_ten_thousand_walkers() {
        assert_eq!(repeats_at(10, 1000), 10);
        assert_eq!(repeats_at(10, 10_000), 10);
        assert_eq!(repeats_at(10, 20_000), 5);
        assert_eq!(repeats_at(10, 1_000_000), 3);
        assert_eq!(repeats_at(2, 1_000_000), 2);
        assert_eq!(repeats_at(0, 10), 1);
    }

    #[test]
    fn walker_counts_parse_or_name_the_bad_item() {
        assert_eq!(parse_walker_counts("1000, 10000").unwrap(), vec![1000, 10000]);
        for bad in ["0", "abc", "10,,20", "", "-5"] {
            let e = parse_walker_counts(bad).unwrap_err().to_string();
            assert!(e.starts_with("--walker-counts:") && !e.contains('\n'), "{bad}: {e}");
        }
    }
}
