//! The potentials of [`crate::quantum::physics`] and the Kato cusp prior drift per walker, with their
//! gradients / vector–Jacobian products, in the kernel type (f32 or f64) on flat
//! `[particles · dims]` configurations.
//! Same formulas and the same clamps as the burn versions (see those files for references).

use crate::simd::real::Real;
use crate::quantum::physics::{GaussianInteraction, System};

/// Same smallest distance as `physics::molecule` in 1/r and r̂.
const R_MIN_SQ: f64 = 1e-12;

/// `term(i, j, d, r, r², coefficient)` of [`FlatSystem::cusp_terms`].
type CuspTerm<'a, F> = dyn FnMut(usize, Option<usize>, &[F; 3], F, F, F) + 'a;

/// A system as the fused engine evaluates it.
#[derive(Debug, Clone)]
pub(crate) struct FlatSystem {
    pub particles: usize,
    pub dims: usize,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// ½ω²Σ|r_i|² + optional Gaussian pair interaction (amplitude g/(πs²), 1/s²).
    Trap { omega_sq: f64, pair: Option<(f64, f64)> },
    /// Nuclei (Z, R), nuclear repulsion, cusp prior on/off.
    Molecule { nuclei: Vec<(f64, [f64; 3])>, repulsion: f64, cusps: bool },
}

impl FlatSystem {
    pub fn new(system: &System) -> Self {
        let kind = match system {
            System::Harmonic(h) => Kind::Trap { omega_sq: h.omega * h.omega, pair: None },
            System::HarmonicTrap(t) => Kind::Trap {
                omega_sq: t.omega * t.omega,
                pair: match t.interaction {
                    Some(GaussianInteraction { g, s }) if g != 0.0 => Some((g / (std::f64::consts::PI * s * s), 1.0 / (s * s))),
                    _ => None,
                },
            },
            System::Molecule(m) => Kind::Molecule {
                nuclei: m.nuclei.iter().map(|n| (n.charge, n.position)).collect(),
                repulsion: m.nuclear_repulsion(),
                cusps: m.cusps,
            },
        };
        FlatSystem { particles: system.particles(), dims: system.dims(), kind }
    }

    pub fn has_prior(&self) -> bool {
        matches!(self.kind, Kind::Molecule { cusps: true, .. })
    }

    /// V(x) for one walker; if `grad` is given, adds c·∇V(x) to it.
    #[inline(always)]
    pub fn potential<F: Real>(&self, x: &[F], grad: Option<(&mut [F], F)>) -> F {
        let (n, d) = (self.particles, self.dims);
        match &self.kind {
            Kind::Trap { omega_sq, pair } => {
                let omega_sq = F::of(*omega_sq);
                let mut v = x.iter().map(|a| *a * *a).sum::<F>() * (F::of(0.5) * omega_sq);
                let mut grad = grad;
                if let Some((g, c)) = grad.as_mut() {
                    for (gi, xi) in g.iter_mut().zip(x) {
                        *gi += *c * omega_sq * *xi;
                    }
                }
                if let Some((amplitude, inv_s2)) = pair {
                    let (amplitude, inv_s2) = (F::of(*amplitude), F::of(*inv_s2));
                    for i in 0..n {
                        for j in i + 1..n {
                            let r2: F = (0..d).map(|k| (x[i * d + k] - x[j * d + k]) * (x[i * d + k] - x[j * d + k])).sum();
                            let term = amplitude * (-r2 * inv_s2).exp();
                            v += term;
                            if let Some((g, c)) = grad.as_mut() {
                                for k in 0..d {
                                    let dv = *c * term * (F::of(-2.0) * inv_s2) * (x[i * d + k] - x[j * d + k]);
                                    g[i * d + k] += dv;
                                    g[j * d + k] -= dv;
                                }
                            }
                        }
                    }
                }
                v
            }
            Kind::Molecule { nuclei, repulsion, .. } => {
                let mut v = F::of(*repulsion);
                let mut grad = grad;
                let r_min_sq = F::of(R_MIN_SQ);
                // −Z/r and 1/r with r = √max(r², r_min²); ∇(1/r) = −d/r³ above the clamp.
                let mut coulomb = |i: usize, j: Option<usize>, centre: &[f64; 3], q: F, grad: &mut Option<(&mut [F], F)>| {
                    let mut diff = [F::ZERO; 3];
                    for k in 0..3 {
                        diff[k] = x[i * 3 + k] - j.map_or(F::of(centre[k]), |j| x[j * 3 + k]);
                    }
                    let r2 = diff.iter().map(|a| *a * *a).sum::<F>();
                    let r = r2.max(r_min_sq).sqrt();
                    v += q / r;
                    if let Some((g, c)) = grad.as_mut()
                        && r2 > r_min_sq
                    {
                        for k in 0..3 {
                            let dv = -*c * q * diff[k] / (r * r * r);
                            g[i * 3 + k] += dv;
                            if let Some(j) = j {
                                g[j * 3 + k] -= dv;
                            }
                        }
                    }
                };
                for (charge, position) in nuclei {
                    for i in 0..n {
                        coulomb(i, None, position, F::of(-charge), &mut grad);
                    }
                }
                for i in 0..n {
                    for j in i + 1..n {
                        coulomb(i, Some(j), &[0.0; 3], F::ONE, &mut grad);
                    }
                }
                v
            }
        }
    }

    /// Adds the cusp prior drift v_i += Σ_A −Z_A r̂_iA + Σ_{j≠i} ½ r̂_ij for one walker.
    #[inline(always)]
    pub fn add_prior<F: Real>(&self, x: &[F], v: &mut [F]) {
        self.cusp_terms(x, &mut |i, j, diff, r, _r2, coefficient| {
            for k in 0..3 {
                v[i * 3 + k] += coefficient * diff[k] / r;
            }
            let _ = j;
        });
    }

    /// x̄ += (∂prior/∂x)ᵀ v̄ for one walker. For f(d) = d/r: ∂f/∂d = (I − d dᵀ/r²)/r (I/r below
    /// the clamp, where r is constant).
    #[inline(always)]
    pub fn prior_backward<F: Real>(&self, x: &[F], v_bar: &[F], x_bar: &mut [F]) {
        self.cusp_terms(x, &mut |i, j, diff, r, r2, coefficient| {
            let vb = &v_bar[i * 3..i * 3 + 3];
            let dot = if r2 > F::of(R_MIN_SQ) { (0..3).map(|k| diff[k] * vb[k]).sum::<F>() / (r * r) } else { F::ZERO };
            for k in 0..3 {
                let g = coefficient * (vb[k] - dot * diff[k]) / r;
                x_bar[i * 3 + k] += g;
                if let Some(j) = j {
                    x_bar[j * 3 + k] -= g;
                }
            }
        });
    }

    /// Σ_i ∇_i·(prior drift of particle i): each term c·d/|d| contributes c·2/|d| (3-D).
    #[inline(always)]
    pub fn prior_divergence(&self, x: &[f64]) -> f64 {
        let mut divergence = 0.0;
        self.cusp_terms(x, &mut |_, _, _, r, _, coefficient| divergence += 2.0 * coefficient / r);
        divergence
    }

    /// A reference potential S_ref for one walker: adds ∇S_ref to `gradient` and returns
    /// (S_ref, ΔS_ref); `None` if the system has none. Molecules with cusps: the cusp prior
    /// (its gradient is the prior drift, part of every drift); traps: the non-interacting ground
    /// state, S_ref = −½ω Σ|r_i|², ∇S_ref = −ωx, ΔS_ref = −ω·particles·dims. Any S_ref is
    /// exact where it is used: splitting log ψ_T differences and as the control variate
    /// ⟨½ΔS_ref + v·∇S_ref⟩_ρ = 0 (crate::quantum::walk).
    pub fn reference_potential(&self, x: &[f64], gradient: &mut [f64]) -> Option<(f64, f64)> {
        match &self.kind {
            Kind::Molecule { cusps: true, .. } => {
                self.add_prior(x, gradient);
                Some((self.prior_potential(x), self.prior_divergence(x)))
            }
            Kind::Molecule { .. } => None,
            Kind::Trap { omega_sq, .. } => {
                let omega = omega_sq.sqrt();
                gradient.iter_mut().zip(x).for_each(|(g, a)| *g -= omega * a);
                Some((-0.5 * omega * x.iter().map(|a| a * a).sum::<f64>(), -omega * x.len() as f64))
            }
        }
    }

    /// The potential of the cusp prior for one walker, S(x) = Σ_{i,A} −Z_A r_iA + Σ_{i<j} ½ r_ij,
    /// whose gradient is [`Self::add_prior`]'s drift (ψ_prior = e^S; 0 without cusps).
    pub fn prior_potential(&self, x: &[f64]) -> f64 {
        let mut s = 0.0;
        // Each electron pair is visited as (i, j) and (j, i): half of ½ r_ij from each.
        self.cusp_terms(x, &mut |_, j, _, r, _, coefficient| s += if j.is_some() { 0.5 } else { 1.0 } * coefficient * r);
        s
    }

    /// Calls `term(i, j, d, r, r², coefficient)` for every cusp term coefficient·d/r of v_i:
    /// nuclei (j = None, d = r_i − R_A, coefficient −Z_A) and electron pairs (d = r_i − r_j, ½).
    #[inline(always)]
    fn cusp_terms<F: Real>(&self, x: &[F], term: &mut CuspTerm<'_, F>) {
        let Kind::Molecule { nuclei, cusps: true, .. } = &self.kind else { return };
        let n = self.particles;
        for (charge, position) in nuclei {
            for i in 0..n {
                let diff = [x[i * 3] - F::of(position[0]), x[i * 3 + 1] - F::of(position[1]), x[i * 3 + 2] - F::of(position[2])];
                let r2 = diff.iter().map(|a| *a * *a).sum::<F>();
                term(i, None, &diff, r2.max(F::of(R_MIN_SQ)).sqrt(), r2, F::of(-charge));
            }
        }
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                let diff = [x[i * 3] - x[j * 3], x[i * 3 + 1] - x[j * 3 + 1], x[i * 3 + 2] - x[j * 3 + 2]];
                let r2 = diff.iter().map(|a| *a * *a).sum::<F>();
                term(i, Some(j), &diff, r2.max(F::of(R_MIN_SQ)).sqrt(), r2, F::of(0.5));
            }
        }
    }
}
