//! The fused engine as a guiding drift for [`crate::quantum::walk::walk`]: one integrator step of
//! dX = v dt + dW per generation (the evaluation kernels, same noise order as the evaluation
//! paths) and the exact local energy of [`super::trace`], both over walker blocks on threads;
//! the system's reference potential (cusp prior, or the trap's non-interacting ground state)
//! splits Metropolis ratios and is the control variate of the non-gradient estimate.

use super::trace::LocalTerms;
use super::{BLOCK, FusedSimulator, gradient_block, local_block, parallel_blocks};
use crate::quantum::engine::{Advance, GuideValues, Guide, WalkTerms};
use crate::base::noise::Noise;

impl FusedSimulator {
    /// v, ∇·v and E_L of every walker, over walker blocks on threads.
    fn local_terms(&self, x: &[f64]) -> Vec<LocalTerms> {
        let dim = self.drift.dim();
        let walkers = x.len() / dim;
        let blocks = parallel_blocks(walkers.div_ceil(BLOCK), &mut Vec::<()>::new(), &|_, b| {
            let (w0, w1) = (b * BLOCK, ((b + 1) * BLOCK).min(walkers));
            local_block(&self.drift, &x[w0 * dim..w1 * dim])
        });
        blocks.into_iter().flatten().collect()
    }

    /// S and v = ∇S (each with the system's prior) of every walker of a gradient network, over
    /// walker blocks on threads, without the Laplacian; `None` for a drift that is not a gradient.
    fn gradient_terms(&self, x: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
        let dim = self.drift.dim();
        let walkers = x.len() / dim;
        let blocks = parallel_blocks(walkers.div_ceil(BLOCK), &mut Vec::<()>::new(), &|_, b| {
            let (w0, w1) = (b * BLOCK, ((b + 1) * BLOCK).min(walkers));
            gradient_block(&self.drift, &x[w0 * dim..w1 * dim])
        });
        let (mut s, mut v) = (Vec::with_capacity(walkers), Vec::with_capacity(x.len()));
        for (sw, vw) in blocks.into_iter().collect::<Option<Vec<_>>>()?.into_iter().flatten() {
            s.push(sw);
            v.extend(vw);
        }
        Some((s, v))
    }
}

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
        let (mut v, mut e) = (Vec::with_capacity(x.len()), Vec::with_capacity(x.len() / self.drift.dim()));
        for t in self.local_terms(x) {
            v.extend(t.v);
            e.push(t.local_energy);
        }
        (v, e)
    }

    /// v·u + ½∇·u per walker, u = v − ∇S_ref (|v|² + ½∇·v without a reference potential).
    fn walk_terms(&self, x: &[f64]) -> WalkTerms {
        let dim = self.drift.dim();
        let terms = self.local_terms(x);
        let mut e = Vec::with_capacity(terms.len());
        let mut v = Vec::with_capacity(x.len());
        let mut integrand = Vec::with_capacity(terms.len());
        for (t, xw) in terms.into_iter().zip(x.chunks(dim)) {
            let mut g = vec![0.0; dim];
            let laplacian = self.drift.system.reference_potential(xw, &mut g).map_or(0.0, |r| r.1);
            let u_dot_v = t.v.iter().zip(&g).map(|(v, g)| v * (v - g)).sum::<f64>();
            integrand.push(u_dot_v + 0.5 * (t.divergence - laplacian));
            e.push(t.local_energy);
            v.extend(t.v);
        }
        WalkTerms { v, e, non_gradient: Some(integrand) }
    }

    /// One pass: a gradient network's S comes with its local terms.
    fn evaluate(&self, x: &[f64]) -> GuideValues {
        let terms = self.local_terms(x);
        if terms.first().is_some_and(|t| t.log_psi.is_some()) {
            let (mut v, mut e, mut s) = (Vec::with_capacity(x.len()), Vec::with_capacity(terms.len()), Vec::with_capacity(terms.len()));
            for t in terms {
                s.push(t.log_psi.expect("a gradient drift"));
                v.extend(t.v);
                e.push(t.local_energy);
            }
            let gradient = v.clone();
            return GuideValues { v, e, exact: Some((s, gradient)) };
        }
        let (mut v, mut e) = (Vec::with_capacity(x.len()), Vec::with_capacity(terms.len()));
        for t in terms {
            v.extend(t.v);
            e.push(t.local_energy);
        }
        GuideValues { v, e, exact: self.exact_part(x) }
    }

    /// A gradient network: S and v only (the Laplacian, most of E_L's cost, is skipped).
    fn evaluate_drift(&self, x: &[f64]) -> GuideValues {
        if let Some((s, v)) = self.gradient_terms(x) {
            return GuideValues { v: v.clone(), e: Vec::new(), exact: Some((s, v)) };
        }
        let (v, _) = self.drift_and_local_energy(x);
        GuideValues { v, e: Vec::new(), exact: self.exact_part(x) }
    }

    /// A gradient network ([`super::potential`]) makes the whole drift exact: S_e = S_θ plus the
    /// cusp prior's potential where the system has one; otherwise the reference potential.
    fn exact_part(&self, x: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
        if let Some(terms) = self.gradient_terms(x) {
            return Some(terms);
        }
        let dim = self.drift.dim();
        let mut gradient = vec![0.0; x.len()];
        let potential: Option<Vec<f64>> =
            x.chunks(dim).zip(gradient.chunks_mut(dim)).map(|(xw, g)| self.drift.system.reference_potential(xw, g).map(|r| r.0)).collect();
        potential.map(|p| (p, gradient))
    }
}
