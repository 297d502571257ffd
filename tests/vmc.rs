//! The variational Monte Carlo stage (`[vmc]`, src/quantum/objective/vmc.rs) on exact cases.

mod common;
use common::{problem, run};
use pathspace::base::noise::Noise;

/// 3-D unit oscillator, gradient drift started at S = −0.2|x|² (ψ_T = e^{−0.2|x|²}, a = 0.4:
/// E = 3(a/4 + 1/(4a)) = 2.175 over ψ_T²), no path-space training, 300 VMC iterations: the drift becomes
/// the ground state's, so E_L at samples of ψ₀² is 3/2 everywhere (zero variance).
#[test]
fn vmc_stage_reaches_the_oscillator_ground_state_with_zero_variance() {
    reaches_the_ground_state("energy");
}

/// The same with `objective = "variance"`: minimising var E_L (through the θ-gradient of the
/// burn local energy) reaches the same ground state.
#[test]
fn variance_minimisation_reaches_the_oscillator_ground_state() {
    reaches_the_ground_state("variance");
}

fn reaches_the_ground_state(objective: &str) {
    let text = r#"
        [system]
        kind = "harmonic"
        dims = 3
        [drift]
        kind = "gradient"
        hidden = 8
        skip_init = -0.4
        [train]
        walkers = 256
        iterations = 0
        seed = 11
        [vmc]
        iterations = 300
        lr = 2e-2
        moves = 5
        dt = 0.2
        objective = "OBJECTIVE"
        [eval]
        walkers = 256
        steps = 200
        burn_in = 100
        extrapolate = false
    "#
    .replace("OBJECTIVE", objective);
    let text = text.as_str();
    let out = run(text);
    assert_eq!(out.rows.len(), 300);
    // The initial walkers are N(0, 1) per coordinate: mean E_L = 3a/2 + ½·3·(1 − a²) = 1.86.
    let first = out.rows[0].energy;
    assert!(first > 1.7, "the initial trial function should be poor: mean E_L {first}");
    let system = problem(text).system;
    let x: Vec<f64> = Noise::new(5).standard_normals(3 * 2000).iter().map(|z| z / 2f64.sqrt()).collect();
    let e = pathspace::quantum::fused::local_energies(&out.net, &system, &x);
    let mean = e.iter().sum::<f64>() / e.len() as f64;
    let var = e.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / e.len() as f64;
    assert!((mean - 1.5).abs() < 2e-3, "{objective}: mean E_L at ψ₀² samples {mean}");
    assert!(var < 1e-3, "{objective}: var E_L {var}");
}

/// The stage needs a gradient drift; its keys are checked like every other.
#[test]
fn vmc_section_is_validated() {
    let base = "[system]\nkind = \"harmonic\"\n";
    let error = |extra: &str| pathspace::quantum::problem::Problem::parse(std::path::Path::new("p.toml"), &format!("{base}{extra}")).unwrap_err().to_string();
    let e = error("[drift]\nkind = \"mlp\"\n[vmc]\niterations = 10\n");
    assert!(e.contains("p.toml") && e.contains("vmc.iterations") && e.contains("gradient drift"), "{e}");
    let e = error("[drift]\nkind = \"gradient\"\n[vmc]\niterations = 10\nmoves = 0\n");
    assert!(e.contains("vmc.moves"), "{e}");
    let e = error("[drift]\nkind = \"gradient\"\n[vmc]\niterations = 10\nstep = 0.1\n");
    assert!(e.contains("step"), "{e}");
    let e = error("[drift]\nkind = \"gradient\"\n[vmc]\niterations = 10\ndt = 5.0\n");
    assert!(e.contains("vmc.dt"), "{e}");
    let e = error("[drift]\nkind = \"gradient\"\n[vmc]\niterations = 10\nobjective = \"entropy\"\n");
    assert!(e.contains("p.toml") && e.contains("vmc.objective") && e.contains("\"variance\""), "{e}");
}

/// `[drift] three_body` needs the Jastrow drift and is a boolean or the name of a form.
#[test]
fn three_body_key_is_validated() {
    let base = "[system]\nkind = \"harmonic_trap\"\nparticles = 3\ndims = 2\n";
    let parse = |extra: &str| pathspace::quantum::problem::Problem::parse(std::path::Path::new("p.toml"), &format!("{base}{extra}"));
    let e = parse("[drift]\nkind = \"gradient\"\nthree_body = true\n").unwrap_err().to_string();
    assert!(e.contains("p.toml") && e.contains("drift.three_body") && e.contains("jastrow"), "{e}");
    for bad in ["3", "\"triples\"", "\"\"\"power\nsums\"\"\"", "[1, 2]"] {
        let e = parse(&format!("[drift]\nkind = \"jastrow\"\nthree_body = {bad}\n")).unwrap_err().to_string();
        assert!(e.contains("p.toml") && e.contains("drift.three_body") && e.contains("power_sums") && !e.contains('\n'), "{e}");
    }
    use pathspace::quantum::nn::ThreeBody;
    for (value, form) in [("true", Some(ThreeBody::Ordered)), ("\"ordered\"", Some(ThreeBody::Ordered)), ("\"power_sums\"", Some(ThreeBody::PowerSums)), ("false", None)] {
        let p = parse(&format!("[drift]\nkind = \"jastrow\"\nthree_body = {value}\n")).unwrap();
        assert_eq!(p.drift.three_body, form, "three_body = {value}");
    }
}
