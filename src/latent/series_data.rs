//! Time-series data: generated in code with fixed seeds (a stochastic Lorenz attractor, an
//! Ornstein–Uhlenbeck process) or read from the user's CSV, as rows of the layout of
//! [`super::series`]: `[K·(D + 1)]`, (x_k, m_k) per observation time.
//!
//! Generated paths are integrated by Euler–Maruyama with a fine step (1e-3, at least 10 steps
//! between observations) and observed with additive Gaussian noise:
//! - Lorenz (the stochastic Lorenz system of Li et al. 2020, §7.2): dx = σ(y − x) dt + α x dW₁,
//!   dy = (x(ρ − z) − y) dt + α y dW₂, dz = (xy − βz) dt + α z dW₃, σ = 10, ρ = 28, β = 8/3,
//!   α = 0.15, (x, y, z)₀ ~ N(0, I); each coordinate then standardised by the training set's
//!   mean and standard deviation over all times, and observed with noise `noise`.
//! - OU: dx = −θ (x − μ) dt + s dW, θ = 1.5, μ = 0, s = 0.5, x₀ ~ N(1, 0.5²); observed with
//!   noise `noise` (no standardisation).
//!
//! CSV: a header `series,t,x1,…,xD` (the value columns may have any names), one row per
//! (series, time), series an integer id; an empty value cell marks a missing observation (the
//! whole x_k of that row is then treated as missing). The observation grid is the union of all
//! times; a series without a row at some time has m_k = 0 there. Series are split by their
//! position in id order: every 5th (4, 9, …) is a test series, every 10th from 2 (2, 12, …)
//! a validation series, the rest train.

use super::data::Dataset;
use super::series::SeriesLayout;
use crate::base::error::{Error, Result};
use crate::base::noise::Noise;
use std::collections::BTreeMap;
use std::path::Path;

/// Series in observation-major order: `values[s][k·D + i]`, NaN where missing.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSet {
    pub layout: SeriesLayout,
    pub values: Vec<Vec<f64>>,
}

impl SeriesSet {
    /// Rows `[K·(D + 1)]` with (x_k, m_k), missing x stored as 0.
    pub fn dataset(&self) -> Dataset {
        let d = self.layout.dim;
        let mut values = Vec::with_capacity(self.values.len() * self.layout.width());
        for s in &self.values {
            for k in 0..self.layout.times.len() {
                let x = &s[k * d..(k + 1) * d];
                let observed = x.iter().all(|v| v.is_finite());
                values.extend(x.iter().map(|&v| if observed { v } else { 0.0 }));
                values.push(if observed { 1.0 } else { 0.0 });
            }
        }
        Dataset { values, rows: self.values.len(), dim: self.layout.width(), labels: Vec::new() }
    }

    fn subset(&self, keep: impl Fn(usize) -> bool) -> SeriesSet {
        SeriesSet { layout: self.layout.clone(), values: self.values.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, v)| v.clone()).collect() }
    }

    /// The fixed (train, validation, test) split of a user's file (see the module docs).
    pub fn split(&self) -> (SeriesSet, SeriesSet, SeriesSet) {
        let test = |i: usize| i % 5 == 4;
        let validation = |i: usize| !test(i) && i % 10 == 2;
        (self.subset(|i| !test(i) && !validation(i)), self.subset(validation), self.subset(test))
    }

    /// Per-coordinate mean and standard deviation over all series and observed times.
    pub fn moments(&self) -> Vec<(f64, f64)> {
        let d = self.layout.dim;
        (0..d)
            .map(|i| {
                let v: Vec<f64> = self.values.iter().flat_map(|s| s.iter().skip(i).step_by(d).copied()).filter(|v| v.is_finite()).collect();
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64;
                (mean, var.sqrt())
            })
            .collect()
    }

    /// (x − mean)/sd per coordinate, in place.
    pub fn standardise(&mut self, moments: &[(f64, f64)]) {
        let d = self.layout.dim;
        for s in &mut self.values {
            for (j, v) in s.iter_mut().enumerate() {
                let (m, sd) = moments[j % d];
                *v = (*v - m) / sd;
            }
        }
    }

    /// Adds N(0, sd²) to every observed value.
    pub fn observe_with_noise(&mut self, sd: f64, noise: &mut Noise) {
        for s in &mut self.values {
            for v in s.iter_mut() {
                *v += sd * noise.standard_normals(1)[0];
            }
        }
    }
}

/// K equally spaced times on [0, duration].
pub fn uniform_times(observations: usize, duration: f64) -> Vec<f64> {
    (0..observations).map(|k| duration * k as f64 / (observations - 1) as f64).collect()
}

/// Euler–Maruyama paths of a diagonal-noise SDE dx = f(x) dt + g(x) ⊙ dW sampled at `times`.
fn simulate(n: usize, times: &[f64], x0: &dyn Fn(&mut Noise) -> Vec<f64>, f: &dyn Fn(&[f64]) -> Vec<f64>, g: &dyn Fn(&[f64]) -> Vec<f64>, noise: &mut Noise) -> Vec<Vec<f64>> {
    (0..n)
        .map(|_| {
            let mut x = x0(noise);
            let mut out = Vec::with_capacity(times.len() * x.len());
            let mut t = times[0];
            for &target in times {
                let span = target - t;
                let steps = ((span / 1e-3).ceil() as usize).max(if span > 0.0 { 10 } else { 0 });
                let h = if steps > 0 { span / steps as f64 } else { 0.0 };
                for _ in 0..steps {
                    let (a, b) = (f(&x), g(&x));
                    let xi = noise.standard_normals(x.len());
                    for i in 0..x.len() {
                        x[i] += a[i] * h + b[i] * h.sqrt() * xi[i];
                    }
                }
                t = target;
                out.extend_from_slice(&x);
            }
            out
        })
        .collect()
}

/// `n` stochastic Lorenz paths at `times` (unstandardised, without observation noise).
pub fn lorenz(n: usize, times: &[f64], noise: &mut Noise) -> SeriesSet {
    let (sigma, rho, beta, alpha) = (10.0, 28.0, 8.0 / 3.0, 0.15);
    let f = |x: &[f64]| vec![sigma * (x[1] - x[0]), x[0] * (rho - x[2]) - x[1], x[0] * x[1] - beta * x[2]];
    let g = |x: &[f64]| x.iter().map(|v| alpha * v).collect();
    let x0 = |noise: &mut Noise| noise.standard_normals(3);
    SeriesSet { layout: SeriesLayout { times: times.to_vec(), dim: 3 }, values: simulate(n, times, &x0, &f, &g, noise) }
}

/// `n` Ornstein–Uhlenbeck paths at `times` (without observation noise).
pub fn ou(n: usize, times: &[f64], noise: &mut Noise) -> SeriesSet {
    let (theta, mu, s) = (1.5, 0.0, 0.5);
    let f = |x: &[f64]| vec![-theta * (x[0] - mu)];
    let g = |_: &[f64]| vec![s];
    let x0 = |noise: &mut Noise| vec![1.0 + 0.5 * noise.standard_normals(1)[0]];
    SeriesSet { layout: SeriesLayout { times: times.to_vec(), dim: 1 }, values: simulate(n, times, &x0, &f, &g, noise) }
}

fn bad(path: &Path, line: usize, message: String) -> Error {
    Error::Format { path: path.to_path_buf(), field: format!("line {line}"), message }
}

/// Reads a series CSV (see the module docs).
pub fn parse_csv(path: &Path, text: &str) -> Result<SeriesSet> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| bad(path, 1, "empty file: expected a header `series,t,x1,…`".into()))?;
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    if columns.len() < 3 || columns[0] != "series" || columns[1] != "t" {
        return Err(bad(path, 1, format!("header must be `series,t,x1,…,xD` (at least one value column), got `{}`", clip(header))));
    }
    let d = columns.len() - 2;
    let mut rows: BTreeMap<i64, Vec<(f64, Vec<f64>)>> = BTreeMap::new();
    for (i, line) in lines {
        let n = i + 1;
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != d + 2 {
            return Err(bad(path, n, format!("{} fields, the header has {} (ragged row)", cells.len(), d + 2)));
        }
        let series: i64 = cells[0].parse().map_err(|_| bad(path, n, format!("series id `{}` is not an integer", clip(cells[0]))))?;
        let t: f64 = cells[1].parse().map_err(|_| bad(path, n, format!("time `{}` is not a number", clip(cells[1]))))?;
        if !t.is_finite() {
            return Err(bad(path, n, format!("time {t} is not finite")));
        }
        let mut x = Vec::with_capacity(d);
        for (j, c) in cells[2..].iter().enumerate() {
            if c.is_empty() {
                x.push(f64::NAN);
                continue;
            }
            let v: f64 = c.parse().map_err(|_| bad(path, n, format!("value `{}` in column {} is not a number (leave the cell empty for a missing value)", clip(c), columns[j + 2])))?;
            if !v.is_finite() {
                return Err(bad(path, n, format!("value {v} in column {} is not finite (leave the cell empty for a missing value)", columns[j + 2])));
            }
            x.push(v);
        }
        let entry = rows.entry(series).or_default();
        if let Some((last, _)) = entry.last() {
            if t <= *last {
                return Err(bad(path, n, format!("series {series}: time {t} does not increase (previous {last})")));
            }
        }
        entry.push((t, x));
    }
    let mut times: Vec<f64> = rows.values().flat_map(|r| r.iter().map(|p| p.0)).collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let whole = |message: String| Error::Format { path: path.to_path_buf(), field: "whole file".into(), message };
    if times.len() < 2 {
        return Err(whole("needs at least two distinct observation times".into()));
    }
    if rows.len() < 5 {
        return Err(whole(format!("{} series: at least 5 are needed (every 5th is a test series)", rows.len())));
    }
    let values = rows
        .values()
        .map(|r| {
            let mut s = vec![f64::NAN; times.len() * d];
            for (t, x) in r {
                let k = times.partition_point(|v| v < t);
                s[k * d..(k + 1) * d].copy_from_slice(x);
            }
            s
        })
        .collect();
    Ok(SeriesSet { layout: SeriesLayout { times, dim: d }, values })
}

/// Reads a series CSV file (size-capped like problem files).
pub fn load_csv(path: &Path) -> Result<SeriesSet> {
    let text = crate::base::config::read_text_limited(path, 64 << 20, "split the series over several files or thin them")?;
    parse_csv(path, &text)
}

/// Writes series as CSV (the format [`parse_csv`] reads; missing values as empty cells).
pub fn to_csv(set: &SeriesSet) -> String {
    let d = set.layout.dim;
    let mut s = String::from("series,t");
    for i in 0..d {
        s.push_str(&format!(",x{}", i + 1));
    }
    s.push('\n');
    for (id, v) in set.values.iter().enumerate() {
        for (k, t) in set.layout.times.iter().enumerate() {
            s.push_str(&format!("{id},{t}"));
            for x in &v[k * d..(k + 1) * d] {
                if x.is_finite() {
                    s.push_str(&format!(",{x:.9e}"));
                } else {
                    s.push(',');
                }
            }
            s.push('\n');
        }
    }
    s
}

/// The rows of a [`SeriesSet::dataset`] back as a set (NaN where m_k = 0).
pub fn from_dataset(ds: &Dataset, layout: &SeriesLayout) -> SeriesSet {
    let d = layout.dim;
    let values = (0..ds.rows)
        .map(|r| {
            ds.row(r)
                .chunks(d + 1)
                .flat_map(|slot| {
                    let observed = slot[d] > 0.5;
                    slot[..d].iter().map(move |&v| if observed { v } else { f64::NAN })
                })
                .collect()
        })
        .collect();
    SeriesSet { layout: layout.clone(), values }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 40 { format!("{}…", s.chars().take(40).collect::<String>()) } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_with_missing_values_and_irregular_times() {
        let text = "series,t,a,b\n0,0.0,1,2\n0,0.3,3,\n1,0.1,5,6\n2,0,1,1\n3,0,1,1\n4,0,2,2\n4,0.3,1,1\n";
        let set = parse_csv(Path::new("x.csv"), text).unwrap();
        assert_eq!(set.layout.times, vec![0.0, 0.1, 0.3]);
        assert_eq!(set.layout.dim, 2);
        let ds = set.dataset();
        // Series 0: observed at 0, missing at 0.1 (no row), missing at 0.3 (empty cell).
        assert_eq!(&ds.row(0)[..9], &[1.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(&ds.row(1)[..6], &[0.0, 0.0, 0.0, 5.0, 6.0, 1.0]);
        let again = parse_csv(Path::new("y.csv"), &to_csv(&set)).unwrap();
        assert_eq!(again.dataset(), ds);
        assert_eq!(from_dataset(&ds, &set.layout).dataset(), ds);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let cases = [
            ("series,t,a\n0,0,1\n0,0.1\n", "line 3", "ragged"),
            ("series,t,a\n0,0,x\n", "line 2", "not a number"),
            ("series,t,a\n0,0,1\n0,0,2\n", "line 3", "does not increase"),
            ("series,t,a\nq,0,1\n", "line 2", "integer"),
            ("id,t,a\n", "line 1", "header"),
            ("series,t,a\n0,0,inf\n", "line 2", "not finite"),
            ("series,t,a\n0,0,1\n0,1,1\n", "whole file", "at least 5"),
        ];
        for (text, at, what) in cases {
            let e = parse_csv(Path::new("d.csv"), text).unwrap_err().to_string();
            assert!(e.contains("d.csv") && e.contains(at) && e.contains(what), "{text:?}: {e}");
        }
    }

    #[test]
    fn generated_series_are_seeded_and_the_lorenz_path_moves() {
        let times = uniform_times(11, 1.0);
        let a = lorenz(3, &times, &mut Noise::new(4));
        assert_eq!(a, lorenz(3, &times, &mut Noise::new(4)));
        let spread = a.moments();
        assert!(spread.iter().all(|(_, sd)| *sd > 1.0), "{spread:?}");
        let o = ou(200, &times, &mut Noise::new(5));
        // OU mean at t = 1: μ + (x₀ − μ) e^{−θ} = e^{−1.5}, sd of the mean ≈ 0.03.
        let mean: f64 = o.values.iter().map(|s| s[10]).sum::<f64>() / 200.0;
        assert!((mean - (-1.5f64).exp()).abs() < 0.12, "{mean}");
    }
}
