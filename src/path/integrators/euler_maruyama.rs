//! Euler–Maruyama: X_{n+1} = X_n + a(X_n) h + ΔW_n.
//! Weak order 1, strong order 0.5 (strong order 1 for additive noise; we state the general 0.5
//! that the literature quotes; Kloeden & Platen 1992, §10.2, §14.1).

use super::Tableau;

pub const EULER_MARUYAMA: Tableau = Tableau {
    name: "euler_maruyama",
    weak_order: 1,
    strong_order: 0.5,
    a: &[&[]],
    alpha: &[1.0],
    stage_dw: &[0.0],
    stage_chi: &[0.0],
};
