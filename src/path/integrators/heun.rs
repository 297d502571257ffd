//! Stochastic Heun for additive noise (Kloeden & Platen 1992, §15.1):
//! X̃ = X_n + a(X_n) h + ΔW_n,  X_{n+1} = X_n + ½ (a(X_n) + a(X̃)) h + ΔW_n.
//! Weak order 2 for additive noise; strong order 1.

use super::Tableau;

pub const HEUN: Tableau = Tableau {
    name: "heun",
    weak_order: 2,
    strong_order: 1.0,
    a: &[&[], &[1.0]],
    alpha: &[0.5, 0.5],
    stage_dw: &[0.0, 1.0],
    stage_chi: &[0.0, 0.0],
};
