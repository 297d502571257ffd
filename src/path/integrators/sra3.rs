//! SRA3 (Rößler 2010, SIAM J. Numer. Anal. 48:922): three-stage stochastic Runge–Kutta method
//! for additive noise, strong order 1.5, deterministic order 3.
//!
//! c⁽⁰⁾ = (0, 1, ½), A⁽⁰⁾ = [[0], [1], [¼, ¼]], B⁽⁰⁾ = [[0], [0], [1, ½]], α = (⅙, ⅙, ⅔),
//! β⁽¹⁾ = (1, 0, 0), β⁽²⁾ = (−1, 1, 0). With constant unit diffusion the β terms reduce to ΔW and
//! the stage noise is (Σ_j B⁽⁰⁾_ij) χ.
//!
//! Weak order: 2 here, not 3. On dX = −θX dt + dW the one-step noise of this scheme is
//! ΔW − θ I_(1,0), whose variance h − θh² + θ²h³/3 misses the exact h − θh² + ⅔θ²h³ at O(h³);
//! any SRA scheme with constant diffusion has update noise exactly ΔW and shares this. The test
//! `sra3_weak_order_is_two_with_unit_diffusion` measures the slope (≈ 2.0); Richardson
//! extrapolation therefore uses p = 2.

use super::Tableau;

pub const SRA3: Tableau = Tableau {
    name: "sra3",
    weak_order: 2,
    strong_order: 1.5,
    a: &[&[], &[1.0], &[0.25, 0.25]],
    alpha: &[1.0 / 6.0, 1.0 / 6.0, 2.0 / 3.0],
    stage_dw: &[0.0, 0.0, 0.0],
    stage_chi: &[0.0, 0.0, 1.5],
};
