//! SRA3 (Rößler 2010, SIAM J. Numer. Anal. 48:922, Table 5.2): three-stage stochastic
//! Runge–Kutta method for additive noise, strong order 1.5, weak order 3.
//!
//! c⁽⁰⁾ = (0, 1, ½), A⁽⁰⁾ = [[0], [1], [¼, ¼]], B⁽⁰⁾ = [[0], [0], [1, ½]], α = (⅙, ⅙, ⅔),
//! β⁽¹⁾ = (1, 0, 0), β⁽²⁾ = (−1, 1, 0). With constant unit diffusion the β terms reduce to ΔW and
//! the stage noise is (Σ_j B⁽⁰⁾_ij) χ.

use super::Tableau;

pub const SRA3: Tableau = Tableau {
    name: "sra3",
    weak_order: 3,
    strong_order: 1.5,
    a: &[&[], &[1.0], &[0.25, 0.25]],
    alpha: &[1.0 / 6.0, 1.0 / 6.0, 2.0 / 3.0],
    stage_dw: &[0.0, 0.0, 0.0],
    stage_chi: &[0.0, 0.0, 1.5],
};
