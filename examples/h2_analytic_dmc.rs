//! DMC for H₂ guided by a hand-written gradient guide ψ_T = φ(r₁)φ(r₂) e^{J(r₁₂)} (LCAO
//! orbitals with the nuclear cusp, Padé–Jastrow with the electron cusp).
//!
//! `cargo run --release --example h2_analytic_dmc -- [dt] [steps] [walkers]`

use pathspace::quantum::walk::{WalkSettings, walk};
use pathspace::quantum::engine::{Advance, Guide};
use pathspace::base::noise::Noise;

const R: f64 = 1.401;

struct Analytic {
    a: f64,
    b: f64,
}

impl Analytic {
    /// (log ψ, ∇log ψ, Δlog ψ, V) of one walker (6 coordinates).
    fn terms(&self, x: &[f64]) -> (f64, [f64; 6], f64, f64) {
        let nuclei = [[0.0, 0.0, R / 2.0], [0.0, 0.0, -R / 2.0]];
        let (mut s, mut g, mut lap, mut v) = (0.0, [0.0; 6], 0.0, 1.0 / R);
        for e in 0..2 {
            let p = &x[3 * e..3 * e + 3];
            let (mut phi, mut grad, mut lphi) = (0.0, [0.0; 3], 0.0);
            for n in &nuclei {
                let d = [p[0] - n[0], p[1] - n[1], p[2] - n[2]];
                let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                let f = (-self.a * r).exp();
                phi += f;
                for k in 0..3 {
                    grad[k] += -self.a * d[k] / r * f;
                }
                lphi += (self.a * self.a - 2.0 * self.a / r) * f;
                v -= 1.0 / r;
            }
            s += phi.ln();
            let gl: Vec<f64> = grad.iter().map(|c| c / phi).collect();
            lap += lphi / phi - gl.iter().map(|c| c * c).sum::<f64>();
            for k in 0..3 {
                g[3 * e + k] += gl[k];
            }
        }
        let d: Vec<f64> = (0..3).map(|k| x[k] - x[3 + k]).collect();
        let r = d.iter().map(|c| c * c).sum::<f64>().sqrt();
        v += 1.0 / r;
        let q = 1.0 + self.b * r;
        s += r / (2.0 * q);
        let j1 = 1.0 / (2.0 * q * q);
        let j2 = -self.b / (q * q * q);
        for k in 0..3 {
            g[k] += j1 * d[k] / r;
            g[3 + k] -= j1 * d[k] / r;
        }
        lap += 2.0 * (j2 + 2.0 * j1 / r);
        (s, g, lap, v)
    }
}

impl Guide for Analytic {
    fn dim(&self) -> usize {
        6
    }
    fn advance(&self, _x: &[f64], _dt: f64, _noise: &mut Noise) -> Advance {
        unreachable!("Metropolis moves only")
    }
    fn drift_and_local_energy(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (mut vs, mut es) = (Vec::new(), Vec::new());
        for w in x.chunks(6) {
            let (_, g, lap, v) = self.terms(w);
            es.push(v - 0.5 * (lap + g.iter().map(|c| c * c).sum::<f64>()));
            vs.extend(g);
        }
        (vs, es)
    }
    fn local_energy(&self, x: &[f64]) -> Vec<f64> {
        self.drift_and_local_energy(x).1
    }
    fn exact_part(&self, x: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
        let (mut s, mut g) = (Vec::new(), Vec::new());
        for w in x.chunks(6) {
            let t = self.terms(w);
            s.push(t.0);
            g.extend(t.1);
        }
        Some((s, g))
    }
}

fn main() {
    let args: Vec<f64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let dt = args.first().copied().unwrap_or(0.04);
    let steps = args.get(1).copied().unwrap_or(4000.0) as usize;
    let walkers = args.get(2).copied().unwrap_or(2048.0) as usize;
    let b = args.get(3).copied().unwrap_or(0.6);
    let mut noise = Noise::new(11);
    // a solves the nuclear cusp a = 1 + e^{−aR}.
    let mut a = 1.0;
    for _ in 0..50 {
        a = 1.0 + (-a * R).exp();
    }
    let guide = Analytic { a, b };
    let start: Vec<f64> = noise.standard_normals(walkers * 6);
    let settings = WalkSettings::dmc(dt, (5.0 / dt) as usize, steps, true, 1.0);
    let w = walk(&guide, start, &settings, &mut noise);
    println!(
        "a {a:.4} b {b} dt {dt}: E = {:.6} ± {:.6} (exact −1.1744759, diff {:+.3} mHa), var {:.4}, acc {:.4}, pop {}..{}, clipped {}, {:.0} s",
        w.energy.value,
        w.energy.error,
        (w.energy.value + 1.1744759) * 1e3,
        w.local_energy_variance,
        w.acceptance,
        w.population_min,
        w.population_max,
        w.clipped,
        w.seconds
    );
}
