//! Activations over any [`Real`]: tanh in place, in groups of vector polynomial evaluations
//! compiled for each SIMD level and chosen at run time (the approximations themselves are in
//! [`super::tanh`]), and its adjoint.

use super::real::{Real, Simd, simd};

/// Elements per group.
const GROUP: usize = 32;

/// tanh on every element.
pub(crate) fn tanh_in_place<F: Real>(x: &mut [F]) {
    match simd() {
        // SAFETY: the CPU has AVX-512F, AVX2 and FMA (checked at run time).
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { tanh_avx512(x) },
        // SAFETY: the CPU has AVX2 and FMA (checked at run time).
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { tanh_avx2(x) },
        _ => tanh_groups::<F, false>(x),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn tanh_avx512<F: Real>(x: &mut [F]) {
    tanh_groups::<F, true>(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tanh_avx2<F: Real>(x: &mut [F]) {
    tanh_groups::<F, true>(x)
}

#[inline(always)]
fn tanh_groups<F: Real, const FMA: bool>(x: &mut [F]) {
    let mut groups = x.chunks_exact_mut(GROUP);
    for group in &mut groups {
        let group: &mut [F; GROUP] = group.try_into().expect("group of GROUP");
        F::tanh_group::<GROUP, FMA>(group);
    }
    for v in groups.into_remainder() {
        let mut one = [*v];
        F::tanh_group::<1, FMA>(&mut one);
        *v = one[0];
    }
}

/// z̄ = h̄ ⊙ (1 − h²) in place on h̄, for h = tanh(z).
#[inline(always)]
pub(crate) fn tanh_backward<F: Real>(h: &[F], h_bar: &mut [F]) {
    for (g, t) in h_bar.iter_mut().zip(h) {
        *g *= F::ONE - *t * *t;
    }
}

