//! Exact (numerically converged) ground state of two identical bosons in a 2-D isotropic harmonic
//! trap with the Gaussian pair interaction of `trap.rs` — the reference energy for the
//! `bosons_2d_pair_*` problems.
//!
//! # The problem
//!
//! H = −½(∇₁² + ∇₂²) + ½ω²(|r₁|² + |r₂|²) + V_int(|r₁ − r₂|),  V_int(r) = g/(π s²) · e^{−r²/s²}.
//!
//! With the centre of mass R = (r₁ + r₂)/2 (mass 2) and the relative coordinate r = r₁ − r₂
//! (reduced mass ½) the Hamiltonian separates (as for the contact interaction, Busch, Englert,
//! Rzążewski & Wilkens, Found. Phys. 28, 549 (1998)):
//!
//! H = [−¼∇_R² + ω²|R|²] + [−∇_r² + ¼ω²r² + V_int(r)],   E₀ = ω + E_rel.
//!
//! The centre of mass is a 2-D oscillator of frequency ω (E = ω·d/2 = ω). Exchange of the bosons is
//! r → −r, so bosonic states have even angular momentum m; the ground state is the node-less m = 0
//! state of the radial equation
//!
//! −(1/r)(r R′)′ + (¼ω²r² + V_int(r)) R = E_rel R,   R′(0) = 0,  R → 0 as r → ∞.
//!
//! For g = 0, E_rel = ω and E₀ = 2ω. First order in g: E_rel ≈ ω + gω / (π(ωs² + 2)), which for
//! ω = 1 is REFERENCE.md's N + g N(N−1)/(2π(2 + s²)) with N = 2.
//!
//! # Method (the one behind [`two_bosons_2d_energy`]): oscillator basis, Rayleigh–Ritz
//!
//! The m = 0 eigenfunctions of −∇² + ¼Ω²r² (a 2-D oscillator of mass ½, frequency Ω) are
//! φ_n(r) = √(Ω/2π) L_n(ρ) e^{−ρ/2} with ρ = Ωr²/2 and L_n the Laguerre polynomials. In this basis
//!
//! ⟨φ_m| −∇² + ¼Ω²r² |φ_n⟩ = Ω(2n + 1) δ_mn,
//! ⟨φ_m| r² |φ_n⟩ = (2/Ω) [(2n + 1) δ_mn − (n + 1) δ_{m,n+1} − n δ_{m,n−1}],
//! ⟨φ_m| V_int |φ_n⟩ = g/(π s²) · I_mn(β),  I_mn = ∫₀^∞ L_m(ρ) L_n(ρ) e^{−βρ} dρ,  β = 1 + 2/(Ω s²),
//!
//! so the trap, the kinetic energy and the Gaussian are all exact: the Laguerre generating function
//! Σ_n L_n(ρ) tⁿ = e^{−ρt/(1−t)}/(1 − t) (DLMF §18.12) gives
//! Σ_mn I_mn t^m uⁿ = 1/(β − (β−1)(t + u) + (β−2)tu), i.e. the recurrence
//!
//! β I_mn = (β − 1)(I_{m−1,n} + I_{m,n−1}) − (β − 2) I_{m−1,n−1} + δ_m0 δ_n0.
//!
//! The lowest eigenvalue of the truncated matrix (Householder tridiagonalisation, then Sturm-sequence
//! bisection: Golub & Van Loan, *Matrix Computations*, 4th ed., §8.3.1 and §8.4.1; Barth, Martin &
//! Wilkinson, Numer. Math. 9, 386 (1967)) is a variational upper bound that decreases with the basis
//! size and converges exponentially, because the solution is smooth (V_int is analytic; R is even in
//! r with no cusp). The basis frequency Ω = √(ω(ω + 2/s²)) is the geometric mean of the trap
//! frequency ω and ω + 2/s², the frequency whose oscillator density e^{−(ω/2 + 1/s²)r²} is the
//! trap density times the interaction, so the basis resolves both the trap width √(2/ω) and the
//! range s. The basis is doubled (50, 100, 200, 400) until two sizes agree
//! to 1e-10 relative; their difference, which bounds the error of the smaller basis, is the error
//! estimate of the larger. For s = 0.5, ω = 1, 0 ≤ g ≤ 20, 100 functions are converged to ~1e-13.
//!
//! Why not finite differences on u = √r R: u ~ √r at the origin, so the error of the naive scheme is
//! not a clean power series in h and Richardson extrapolation is unreliable.
//!
//! # Independent check: finite volumes on R(r)
//!
//! [`relative_energy_grid`] discretises the symmetric form −(1/r)(rR′)′ on the cell-centred grid
//! r_k = (k − ½)h, k = 1…K, h = r_max/K, with face radii r_{k±½} (r_½ = 0 supplies the regularity
//! condition without a boundary value):
//!
//! −(1/r)(rR′)′|_k ≈ −[r_{k+½}(R_{k+1} − R_k) − r_{k−½}(R_k − R_{k−1})] / (h² r_k).
//!
//! With y_k = √r_k R_k this is a symmetric tridiagonal matrix with diagonal
//! 2/h² + ¼ω²r_k² + V_int(r_k) and off-diagonal −r_{k+½}/(h² √(r_k r_{k+1})). The error is a
//! series in h² (the test checks the ratio 4 per halving), so Richardson
//! extrapolation over h, h/2, h/4 (REFERENCE.md: E ≈ (2^p E(h/2) − E(h))/(2^p − 1), p = 2 then 4)
//! gives O(h⁶) ([`relative_energy_grid_extrapolated`]). r_max = 12/√ω, where the wavefunction
//! e^{−ωr²/4} is 2e-16, and h ≤ min(s, 1/√ω)/12. The two methods share nothing but the
//! tridiagonal bisection (tested separately); for s = 0.5, ω = 1 they agree to ~5e-12, and to 2e-10
//! or better over 0.5 ≤ ω ≤ 2, 0.25 ≤ s ≤ 2, −3 ≤ g ≤ 50.
//!
//! Units are atomic (hartree, bohr); unit particle mass.

use std::f64::consts::PI;

/// Ground-state energy E₀ = ω + E_rel of two bosons in a 2-D isotropic trap of frequency `omega`
/// with the Gaussian interaction g/(π s²) e^{−r²/s²} (see the module doc). Accurate to about 1e-11
/// for s = 0.5, ω = 1, |g| ≤ 20.
pub fn two_bosons_2d_energy(omega: f64, g: f64, s: f64) -> f64 {
    two_bosons_2d_energy_with_error(omega, g, s).0
}

/// E₀ and an estimate of its error: the change between the last two basis sizes (the Rayleigh–Ritz
/// bound of the smaller basis minus that of the larger), floored at the rounding level.
pub fn two_bosons_2d_energy_with_error(omega: f64, g: f64, s: f64) -> (f64, f64) {
    let (e_rel, error) = relative_energy_with_error(omega, g, s);
    (omega + e_rel, error)
}

/// Basis sizes tried in turn, and the change between two of them that counts as converged.
const BASIS_SIZES: [usize; 4] = [50, 100, 200, 400];
const BASIS_TOLERANCE: f64 = 1e-10;

/// E_rel and its error estimate from the oscillator basis, doubling the basis until converged.
pub fn relative_energy_with_error(omega: f64, g: f64, s: f64) -> (f64, f64) {
    check_parameters(omega, s);
    let basis_omega = default_basis_omega(omega, s);
    let mut previous = relative_energy_oscillator_basis(omega, g, s, BASIS_SIZES[0], basis_omega);
    let mut change = f64::INFINITY;
    for &size in &BASIS_SIZES[1..] {
        let e = relative_energy_oscillator_basis(omega, g, s, size, basis_omega);
        change = (previous - e).abs();
        previous = e;
        if change < BASIS_TOLERANCE * previous.abs().max(omega) {
            break;
        }
    }
    let rounding = 1e3 * f64::EPSILON * previous.abs().max(omega);
    (previous, change.max(rounding))
}

/// Ω = √(ω(ω + 2/s²)) = ω √(1 + 2/(ω s²)): geometric mean of ω and ω + 2/s² (module doc).
pub fn default_basis_omega(omega: f64, s: f64) -> f64 {
    omega * (1.0 + 2.0 / (omega * s * s)).sqrt()
}

/// Rayleigh–Ritz E_rel in the first `size` m = 0 functions of the oscillator of frequency
/// `basis_omega` (an upper bound on the exact E_rel).
pub fn relative_energy_oscillator_basis(omega: f64, g: f64, s: f64, size: usize, basis_omega: f64) -> f64 {
    check_parameters(omega, s);
    assert!(size >= 1 && basis_omega > 0.0, "basis size {size} and frequency {basis_omega} must be positive");
    let beta = 1.0 + 2.0 / (basis_omega * s * s);
    let overlap = gaussian_laguerre_integrals(size, beta);
    let amplitude = g / (PI * s * s);
    // ¼(ω² − Ω²) r², with r² = (2/Ω) ρ and ρ tridiagonal in the Laguerre basis.
    let trap_mismatch = 0.25 * (omega * omega - basis_omega * basis_omega) * 2.0 / basis_omega;
    let mut h: Vec<f64> = overlap.iter().map(|i| amplitude * i).collect();
    for n in 0..size {
        let nf = n as f64;
        h[n * size + n] += (basis_omega + trap_mismatch) * (2.0 * nf + 1.0);
        if n + 1 < size {
            h[n * size + n + 1] -= trap_mismatch * (nf + 1.0);
            h[(n + 1) * size + n] -= trap_mismatch * (nf + 1.0);
        }
    }
    let (diagonal, off_diagonal) = householder_tridiagonal(&mut h, size);
    lowest_eigenvalue_tridiagonal(&diagonal, &off_diagonal)
}

/// I_mn(β) = ∫₀^∞ L_m L_n e^{−βρ} dρ for m, n < size (row-major), by the generating-function
/// recurrence of the module doc.
fn gaussian_laguerre_integrals(size: usize, beta: f64) -> Vec<f64> {
    let (c, d) = (beta - 1.0, beta - 2.0);
    let mut i = vec![0.0; size * size];
    for m in 0..size {
        for n in 0..size {
            let mut v = if m == 0 && n == 0 { 1.0 } else { 0.0 };
            if m > 0 {
                v += c * i[(m - 1) * size + n];
            }
            if n > 0 {
                v += c * i[m * size + n - 1];
            }
            if m > 0 && n > 0 {
                v -= d * i[(m - 1) * size + n - 1];
            }
            i[m * size + n] = v / beta;
        }
    }
    i
}

/// E_rel from the cell-centred finite-volume scheme on `cells` cells of [0, 12/√ω] (second order).
pub fn relative_energy_grid(omega: f64, g: f64, s: f64, cells: usize) -> f64 {
    relative_energy_grid_in(2, omega, g, s, cells)
}

/// E_rel in `dims` = 1, 2 or 3 dimensions from the cell-centred finite-volume scheme for the
/// s-wave radial operator −r^{1−d}(r^{d−1}R′)′ on `cells` cells of [0, 12/√ω] (second order):
///
/// −r^{1−d}(r^{d−1}R′)′|_k ≈ −[a_{k+½}(R_{k+1} − R_k) − a_{k−½}(R_k − R_{k−1})] / (h² r_k^{d−1}),
///
/// with face areas a = r^{d−1} and a_½ = 0 (no flux through the origin: regularity for d ≥ 2,
/// and for d = 1 the even relative wavefunction of two bosons). With y_k = r_k^{(d−1)/2} R_k the
/// matrix is symmetric tridiagonal: diagonal (a_{k+½} + a_{k−½})/(h² r_k^{d−1}) + ¼ω²r_k² +
/// V_int(r_k), off-diagonal −a_{k+½}/(h² (r_k r_{k+1})^{(d−1)/2}). For d = 2 it is the scheme of
/// the module doc.
pub fn relative_energy_grid_in(dims: usize, omega: f64, g: f64, s: f64, cells: usize) -> f64 {
    check_parameters(omega, s);
    assert!((1..=3).contains(&dims), "dims = {dims}: the radial grid is written for 1, 2 or 3 dimensions");
    assert!(cells >= 2, "need at least 2 cells, got {cells}");
    let h = grid_radius(omega) / cells as f64;
    let amplitude = g / (PI * s * s);
    let potential = |r: f64| 0.25 * omega * omega * r * r + amplitude * (-r * r / (s * s)).exp();
    let radius = |k: usize| (k as f64 + 0.5) * h; // cell centre, k = 0…K−1
    let power = (dims - 1) as i32;
    // Face k + ½ lies at (k + 1)h; the face at the origin has no area.
    let area = |face: usize| if face == 0 { 0.0 } else { (face as f64 * h).powi(power) };
    let diagonal: Vec<f64> =
        (0..cells).map(|k| (area(k + 1) + area(k)) / (h * h * radius(k).powi(power)) + potential(radius(k))).collect();
    let off_diagonal: Vec<f64> = (0..cells - 1)
        .map(|k| -area(k + 1) / (h * h * (radius(k) * radius(k + 1)).powf(0.5 * power as f64)))
        .collect();
    lowest_eigenvalue_tridiagonal(&diagonal, &off_diagonal)
}

/// Ground-state energy E₀ = dω/2 + E_rel of two identical bosons in a `dims`-dimensional
/// isotropic trap (d = 1, 2, 3) with the Gaussian interaction g/(π s²) e^{−r²/s²} of `trap.rs`,
/// and an error estimate: the centre of mass is a d-dimensional oscillator of frequency ω, and
/// E_rel is the Richardson-extrapolated grid ([`relative_energy_grid_in`] over h, h/2, h/4).
/// First order in g: E₀ ≈ dω + g/(π s²) · (ωs²/(ωs² + 2))^{d/2} (⟨V_int⟩ over the relative
/// ground state e^{−ωr²/4}).
pub fn two_bosons_energy(dims: usize, omega: f64, g: f64, s: f64) -> (f64, f64) {
    let (e_rel, error) = relative_energy_grid_extrapolated_in(dims, omega, g, s, default_grid_cells(omega, s));
    (0.5 * dims as f64 * omega + e_rel, error)
}

/// Richardson-extrapolated grid E_rel over `cells`, 2·`cells`, 4·`cells` (O(h⁶)), and the
/// difference between the h⁶ and the finest h⁴ value (a conservative error estimate).
pub fn relative_energy_grid_extrapolated(omega: f64, g: f64, s: f64, cells: usize) -> (f64, f64) {
    relative_energy_grid_extrapolated_in(2, omega, g, s, cells)
}

/// [`relative_energy_grid_extrapolated`] in `dims` = 1, 2 or 3 dimensions
/// ([`relative_energy_grid_in`]).
pub fn relative_energy_grid_extrapolated_in(dims: usize, omega: f64, g: f64, s: f64, cells: usize) -> (f64, f64) {
    let e: Vec<f64> = [1, 2, 4].iter().map(|m| relative_energy_grid_in(dims, omega, g, s, m * cells)).collect();
    let h4 = [(4.0 * e[1] - e[0]) / 3.0, (4.0 * e[2] - e[1]) / 3.0];
    let h6 = (16.0 * h4[1] - h4[0]) / 15.0;
    (h6, (h6 - h4[1]).abs())
}

/// Coarsest number of cells for [`relative_energy_grid_extrapolated`]: h ≤ min(s, 1/√ω)/12.
pub fn default_grid_cells(omega: f64, s: f64) -> usize {
    let h = s.min(1.0 / omega.sqrt()) / 12.0;
    (grid_radius(omega) / h).ceil() as usize
}

/// r_max = 12/√ω: e^{−ω r²/4} = 2e-16 there.
fn grid_radius(omega: f64) -> f64 {
    12.0 / omega.sqrt()
}

fn check_parameters(omega: f64, s: f64) {
    assert!(omega > 0.0 && omega.is_finite(), "trap frequency omega = {omega} must be positive");
    assert!(s > 0.0 && s.is_finite(), "interaction range s = {s} must be positive");
}

/// Reduce the symmetric `n`×`n` row-major matrix `a` (overwritten) to tridiagonal form by
/// Householder reflections; returns (diagonal, off-diagonal) of the similar tridiagonal matrix.
fn householder_tridiagonal(a: &mut [f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; n];
    let mut p = vec![0.0; n];
    for k in 0..n.saturating_sub(2) {
        let norm = (k + 1..n).map(|i| a[i * n + k] * a[i * n + k]).sum::<f64>().sqrt();
        if norm == 0.0 {
            continue;
        }
        // v = x − α e₁ with α = −sign(x₁)‖x‖ (no cancellation); H = I − 2vvᵀ/vᵀv.
        let alpha = if a[(k + 1) * n + k] > 0.0 { -norm } else { norm };
        v.iter_mut().for_each(|x| *x = 0.0);
        for i in k + 1..n {
            v[i] = a[i * n + k];
        }
        v[k + 1] -= alpha;
        let v2: f64 = v[k + 1..].iter().map(|x| x * x).sum();
        // HAH = A − vqᵀ − qvᵀ with p = 2Av/vᵀv, q = p − (vᵀp/vᵀv) v.
        for i in k..n {
            p[i] = 2.0 * (k + 1..n).map(|j| a[i * n + j] * v[j]).sum::<f64>() / v2;
        }
        let kappa = (k + 1..n).map(|i| v[i] * p[i]).sum::<f64>() / v2;
        for i in k..n {
            p[i] -= kappa * v[i];
        }
        for i in k..n {
            for j in k..n {
                a[i * n + j] -= v[i] * p[j] + p[i] * v[j];
            }
        }
    }
    let diagonal = (0..n).map(|i| a[i * n + i]).collect();
    let off_diagonal = (0..n.saturating_sub(1)).map(|i| a[(i + 1) * n + i]).collect();
    (diagonal, off_diagonal)
}

/// Lowest eigenvalue of the symmetric tridiagonal matrix (diagonal d, off-diagonal e, e[k] coupling
/// k and k+1) by bisection on the Sturm count, to full double precision.
fn lowest_eigenvalue_tridiagonal(d: &[f64], e: &[f64]) -> f64 {
    let n = d.len();
    assert!(n >= 1 && e.len() + 1 == n, "tridiagonal of size {n} needs {} off-diagonal entries", n.max(1) - 1);
    let coupling = |k: usize| if k < n - 1 { e[k].abs() } else { 0.0 } + if k > 0 { e[k - 1].abs() } else { 0.0 };
    // Gershgorin bracket.
    let mut lo = (0..n).map(|k| d[k] - coupling(k)).fold(f64::INFINITY, f64::min);
    let mut hi = (0..n).map(|k| d[k] + coupling(k)).fold(f64::NEG_INFINITY, f64::max);
    let pivot_min = f64::MIN_POSITIVE * e.iter().map(|x| x * x).fold(1.0, f64::max);
    // Number of eigenvalues below x: negative pivots of the LDLᵀ factorisation of T − x.
    let below = |x: f64| {
        let mut count = 0;
        let mut q = d[0] - x;
        for k in 0..n {
            if k > 0 {
                q = d[k] - x - e[k - 1] * e[k - 1] / q;
            }
            if q.abs() < pivot_min {
                q = -pivot_min;
            }
            if q < 0.0 {
                count += 1;
            }
        }
        count
    };
    loop {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            return mid;
        }
        if below(mid) >= 1 { hi = mid } else { lo = mid }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const S: f64 = 0.5;

    fn first_order_slope(omega: f64, s: f64) -> f64 {
        omega / (PI * (omega * s * s + 2.0))
    }

    #[test]
    fn non_interacting_is_two_omega() {
        for omega in [1.0, 0.5] {
            let (e, error) = two_bosons_2d_energy_with_error(omega, 0.0, S);
            assert!((e - 2.0 * omega).abs() < 1e-9, "omega {omega}: {e}");
            assert!(error < 1e-9);
            let (grid, _) = relative_energy_grid_extrapolated(omega, 0.0, S, default_grid_cells(omega, S));
            assert!((grid + omega - 2.0 * omega).abs() < 1e-9, "omega {omega}: grid {grid}");
        }
    }

    #[test]
    fn first_order_perturbation_theory() {
        let slope = first_order_slope(1.0, S);
        assert!((slope - 1.0 / (PI * (2.0 + S * S))).abs() < 1e-15);
        // E = 2 + slope·g − c g² + O(g³), c > 0; slope error at g is ≈ c g.
        let g = 1e-3;
        let c = (2.0 + slope * g - two_bosons_2d_energy(1.0, g, S)) / (g * g);
        let c2 = (2.0 + slope * 2.0 * g - two_bosons_2d_energy(1.0, 2.0 * g, S)) / (4.0 * g * g);
        assert!(c > 0.0 && c < 0.03, "second-order coefficient {c}");
        assert!((c - c2).abs() < 0.02 * c, "not quadratic: {c} vs {c2}");
        let observed = (two_bosons_2d_energy(1.0, g, S) - 2.0) / g;
        assert!((observed - slope).abs() < 0.03 * g, "slope {observed} vs {slope}");
        // Second order is negative: below the first-order line for every g.
        for g in [1e-3, 0.1, 1.0, 3.0, 12.0, 20.0] {
            let e = two_bosons_2d_energy(1.0, g, S);
            assert!(e < 2.0 + slope * g, "g {g}: {e} not below {}", 2.0 + slope * g);
            assert!(e > 2.0, "g {g}: repulsion lowers the energy to {e}");
        }
        // ω ≠ 1: the first-order slope is ω/(π(ωs² + 2)).
        let (omega, g) = (0.5, 1e-3);
        let observed = (two_bosons_2d_energy(omega, g, S) - 2.0 * omega) / g;
        assert!((observed - first_order_slope(omega, S)).abs() < 0.05 * g, "omega 0.5: {observed}");
    }

    #[test]
    fn energy_increases_with_g() {
        let energies: Vec<f64> = (0..=10).map(|k| two_bosons_2d_energy(1.0, 2.0 * k as f64, S)).collect();
        assert!(energies.windows(2).all(|w| w[1] > w[0]), "{energies:?}");
        // Hellmann–Feynman: dE/dg = ⟨V_int⟩/g > 0 decreases with g (E is concave in g).
        assert!(energies.windows(3).all(|w| w[2] - w[1] < w[1] - w[0]), "{energies:?}");
    }

    #[test]
    fn basis_doubling_and_grid_halving_converge() {
        for g in [3.0, 12.0] {
            let omega_b = default_basis_omega(1.0, S);
            let e100 = relative_energy_oscillator_basis(1.0, g, S, 100, omega_b);
            let e200 = relative_energy_oscillator_basis(1.0, g, S, 200, omega_b);
            assert!((e100 - e200).abs() < 1e-8, "g {g}: basis 100 {e100} vs 200 {e200}");
            // Rayleigh–Ritz: a bigger basis never raises the upper bound (up to rounding).
            assert!(e200 <= e100 + 1e-12);
            let cells = default_grid_cells(1.0, S);
            let (coarse, _) = relative_energy_grid_extrapolated(1.0, g, S, cells);
            let (fine, _) = relative_energy_grid_extrapolated(1.0, g, S, 2 * cells);
            assert!((coarse - fine).abs() < 1e-8, "g {g}: grid {coarse} vs {fine}");
            // The unextrapolated scheme is second order: error ratio 4 per halving.
            let e: Vec<f64> = [1, 2, 4].iter().map(|m| relative_energy_grid(1.0, g, S, m * cells)).collect();
            let ratio = (e[0] - e[1]) / (e[1] - e[2]);
            assert!((ratio - 4.0).abs() < 0.1, "g {g}: ratio {ratio}");
        }
    }

    #[test]
    fn grid_and_basis_agree() {
        for (omega, g, s) in
            [(1.0, 3.0, S), (1.0, 12.0, S), (1.0, 20.0, S), (0.5, 5.0, S), (1.0, 5.0, 1.5), (1.0, -2.0, S)]
        {
            let (basis, error) = relative_energy_with_error(omega, g, s);
            let (grid, grid_error) = relative_energy_grid_extrapolated(omega, g, s, default_grid_cells(omega, s));
            assert!(
                (basis - grid).abs() < 1e-9,
                "{omega} {g} {s}: basis {basis} ± {error:e}, grid {grid} ± {grid_error:e}"
            );
            assert!(error < 1e-9 && grid_error < 1e-7, "{omega} {g} {s}: errors {error:e} {grid_error:e}");
        }
    }

    #[test]
    fn gaussian_laguerre_integrals_closed_forms() {
        // β = 1: orthonormality.
        let i = gaussian_laguerre_integrals(6, 1.0);
        for m in 0..6 {
            for n in 0..6 {
                assert!((i[m * 6 + n] - if m == n { 1.0 } else { 0.0 }).abs() < 1e-14);
            }
        }
        // ∫e^{−βρ} = 1/β, ∫(1 − ρ)e^{−βρ} = (β − 1)/β², ∫(1 − ρ)² e^{−βρ} = 1/β − 2/β² + 2/β³.
        let b = 9.0;
        let i = gaussian_laguerre_integrals(2, b);
        assert!((i[0] - 1.0 / b).abs() < 1e-15);
        assert!((i[1] - (b - 1.0) / (b * b)).abs() < 1e-15 && i[1] == i[2]);
        assert!((i[3] - (1.0 / b - 2.0 / (b * b) + 2.0 / (b * b * b))).abs() < 1e-15);
    }

    #[test]
    fn tridiagonal_bisection_and_householder() {
        // Discrete Laplacian: eigenvalues 2 − 2 cos(kπ/(n+1)).
        let n = 50;
        let lowest = lowest_eigenvalue_tridiagonal(&vec![2.0; n], &vec![-1.0; n - 1]);
        assert!((lowest - (2.0 - 2.0 * (PI / (n + 1) as f64).cos())).abs() < 1e-14);
        assert_eq!(lowest_eigenvalue_tridiagonal(&[3.5], &[]), 3.5);
        // A dense matrix Q diag(λ) Qᵀ with Q a product of rotations: lowest λ recovered.
        let n = 7;
        let lambdas = [4.0, -1.25, 2.0, 0.5, 7.0, 3.0, -0.75];
        let mut a = vec![0.0; n * n];
        for k in 0..n {
            a[k * n + k] = lambdas[k];
        }
        for (p, q, theta) in [(0, 3, 0.3), (1, 5, 1.1), (2, 6, -0.7), (0, 1, 0.4), (4, 6, 2.0), (3, 5, -1.3)] {
            let (c, s) = (f64::cos(theta), f64::sin(theta));
            for j in 0..n {
                let (x, y) = (a[p * n + j], a[q * n + j]);
                a[p * n + j] = c * x - s * y;
                a[q * n + j] = s * x + c * y;
            }
            for i in 0..n {
                let (x, y) = (a[i * n + p], a[i * n + q]);
                a[i * n + p] = c * x - s * y;
                a[i * n + q] = s * x + c * y;
            }
        }
        let (d, e) = householder_tridiagonal(&mut a, n);
        assert!((lowest_eigenvalue_tridiagonal(&d, &e) + 1.25).abs() < 1e-13);
    }

    #[test]
    fn two_bosons_in_one_two_and_three_dimensions() {
        for dims in 1..=3 {
            let d = dims as f64;
            // Non-interacting: dω (centre of mass and relative motion, dω/2 each).
            for omega in [1.0, 0.5] {
                let (e, error) = two_bosons_energy(dims, omega, 0.0, S);
                assert!((e - d * omega).abs() < 1e-9 && error < 1e-9, "d = {dims}, ω = {omega}: {e} ± {error}");
            }
            // Second order in h: the error falls 4× per halving.
            let e: Vec<f64> = [200, 400, 800].iter().map(|&k| relative_energy_grid_in(dims, 1.0, 3.0, S, k)).collect();
            let ratio = (e[0] - e[1]) / (e[1] - e[2]);
            assert!((ratio - 4.0).abs() < 0.05, "d = {dims}: convergence ratio {ratio}");
            // First-order perturbation theory: slope g/(πs²)·(ωs²/(ωs² + 2))^{d/2}.
            let g = 1e-3;
            let slope = (S * S / (S * S + 2.0)).powf(0.5 * d) / (PI * S * S);
            // (E(g) − dω)/g = slope − c g + O(g²): two g remove the O(g) term.
            let difference = |g: f64| (two_bosons_energy(dims, 1.0, g, S).0 - d) / g;
            let observed = 2.0 * difference(g) - difference(2.0 * g);
            assert!((observed - slope).abs() < 1e-5, "d = {dims}: slope {observed} vs {slope}");
            let (e, error) = two_bosons_energy(dims, 1.0, 3.0, S);
            assert!(e > d && e < d + 3.0 * slope && error < 1e-9, "d = {dims}: {e} ± {error}");
        }
        // d = 2: the oscillator-basis method, which shares nothing with the grid but the bisection.
        for g in [3.0, 12.0] {
            let (grid, _) = two_bosons_energy(2, 1.0, g, S);
            assert!((grid - two_bosons_2d_energy(1.0, g, S)).abs() < 1e-9, "g = {g}");
        }
    }

    /// `cargo test -- --nocapture` prints the reference energies and the timings.
    #[test]
    fn print_reference_energies() {
        for g in [3.0, 12.0, 20.0] {
            let start = Instant::now();
            let (e, error) = two_bosons_2d_energy_with_error(1.0, g, S);
            let basis_time = start.elapsed();
            let start = Instant::now();
            let (grid, grid_error) = relative_energy_grid_extrapolated(1.0, g, S, default_grid_cells(1.0, S));
            let grid_time = start.elapsed();
            println!(
                "g = {g:4}, s = {S}, omega = 1: E0 = {e:.12} ± {error:.1e} (basis, {basis_time:.2?}); \
                 grid {:.12} ± {grid_error:.1e} ({grid_time:.2?})",
                1.0 + grid
            );
        }
    }
}
