//! The tanh activation of the fused networks, vectorised and without libm calls.
//!
//! - f64: tanh(x) = sign(x)·(1 − e)/(1 + e), e = exp(−2|x|), with exp by Cody–Waite reduction and
//!   a degree-13 Taylor polynomial: relative error ~1e-15 for |x| ≳ 1e-3, absolute ~1e-16 below.
//! - f32: the odd/even minimax rational approximation p(x)/q(x) of degree 13/6 on |x| ≤ 7.905
//!   (beyond which tanh rounds to ±1) used by Eigen (`generic_fast_tanh_float`): absolute and
//!   relative error below 3e-7 (a few f32 ulps), one division and 11 fused multiply–adds.
//!
//! Elements go in groups so that several independent vector polynomial evaluations are in
//! flight (a single Horner chain is latency-bound). The group loop is compiled for each SIMD
//! level and chosen at run time (`super::activation::tanh_in_place`).

use super::kernel::MulAdd;

/// The f32 rational approximation (see the module docs).
#[inline(always)]
pub(crate) fn tanh_f32<const N: usize, const FMA: bool>(x: &mut [f32; N]) {
    const CLAMP: f32 = 7.905_311;
    // Numerator x·Σ α_k x^(2k), k = 0..6, and denominator Σ β_k x^(2k), k = 0..3.
    const ALPHA: [f32; 7] = [4.893_524_6e-3, 6.372_619_3e-4, 1.485_722_4e-5, 5.122_297e-8, -8.604_672e-11, 2.000_188e-13, -2.760_768_5e-16];
    const BETA: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    for v in x.iter_mut() {
        // clamp keeps NaN (so a diverging step is still detected downstream).
        let c = v.clamp(-CLAMP, CLAMP);
        let x2 = c * c;
        let mut p = ALPHA[6];
        for k in (0..6).rev() {
            p = p.fmadd::<FMA>(x2, ALPHA[k]);
        }
        let mut q = BETA[3];
        for k in (0..3).rev() {
            q = q.fmadd::<FMA>(x2, BETA[k]);
        }
        *v = p * c / q;
    }
}

/// The f64 exp-based form (see the module docs).
#[inline(always)]
#[allow(clippy::excessive_precision)] // ln 2 split as in Cody & Waite
pub(crate) fn tanh_f64<const N: usize, const FMA: bool>(x: &mut [f64; N]) {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_471_803_691_238_2e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer
    // Taylor coefficients 1/i! of e^r, i = 13 down to 0 (|r| ≤ ½ln2: error below 1e-16).
    const COEFFS: [f64; 13] = [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ];
    // e^y, y = −2|x| ∈ [−80, 0]: Cody–Waite reduction y = k ln2 + r.
    let mut r = [0.0; N];
    let mut kf = [0.0; N];
    for i in 0..N {
        let y = -2.0 * x[i].abs().min(40.0);
        kf[i] = (y * LOG2E + SHIFT) - SHIFT;
        r[i] = (y - kf[i] * LN2_HI) - kf[i] * LN2_LO;
    }
    let mut p = [1.0 / 6_227_020_800.0; N];
    for c in COEFFS {
        for i in 0..N {
            p[i] = p[i].fmadd::<FMA>(r[i], c);
        }
    }
    for i in 0..N {
        // 2^k from the exponent bits (k ∈ [−116, 0]: normal numbers only).
        let k = (kf[i] + SHIFT).to_bits() as i64 - SHIFT.to_bits() as i64;
        let e = p[i] * f64::from_bits(((k + 1023) as u64) << 52);
        x[i] = ((1.0 - e) / (1.0 + e)).copysign(x[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::super::activation::tanh_in_place;
    use super::super::real::Real;

    /// Largest |fast tanh − tanh| over x ∈ [−20, 20] (plus the group remainder path).
    fn worst<F: Real>() -> (f64, f64) {
        let xs: Vec<f64> = (-20000..=20000).map(|i| i as f64 * 1e-3 + 1e-7).collect();
        let mut y: Vec<F> = xs.iter().map(|x| F::of(*x)).collect();
        tanh_in_place(&mut y);
        let (mut abs, mut rel): (f64, f64) = (0.0, 0.0);
        for (x, y) in xs.iter().zip(&y) {
            let exact = F::of(*x).f64().tanh();
            abs = abs.max((y.f64() - exact).abs());
            rel = rel.max((y.f64() - exact).abs() / exact.abs());
        }
        (abs, rel)
    }

    #[test]
    fn fast_tanh_matches_std_in_f64() {
        let (abs, _) = worst::<f64>();
        assert!(abs < 1e-15, "max abs error {abs}");
    }

    #[test]
    fn fast_tanh_is_accurate_to_f32_rounding() {
        let (abs, rel) = worst::<f32>();
        // f32 spacing below 1 is 6e-8: a few ulps.
        assert!(abs < 4e-7 && rel < 4e-7, "max abs error {abs}, relative {rel}");
    }
}
