//! The fused engine against burn's autodiff engine in f64, on tiny problems: loss, energy, the
//! final walkers and every parameter gradient, for both networks, with and without cusps and
//! the boundary term, for every integrator; and the fused evaluation paths against burn's.

use super::*;
use crate::base::device::fused_runs_on as supported;
use crate::simd::testing::{Collect, assert_close, grad_values};
use crate::base::device::Precision;
use crate::quantum::autodiff::BurnSimulator;
use crate::quantum::engine::PathSimulator;
use crate::path::integrators::{ALL, EULER_MARUYAMA, SOSRA};
use crate::quantum::nn::{Init, JastrowConfig, MlpConfig, PairNetConfig, Potential, linear};
use crate::quantum::physics::{GaussianInteraction, Harmonic, HarmonicTrap, Molecule, Nucleus};
use crate::quantum::autodiff::{AutodiffEngine, full_drift};
use burn::module::Module;

pub(crate) fn autodiff_device() -> Device {
    let mut plain = Device::flex();
    Precision::F64.configure(&mut plain).unwrap();
    let mut ad = plain.autodiff();
    Precision::F64.configure(&mut ad).unwrap();
    ad
}

pub(crate) fn h2(cusps: bool) -> System {
    System::Molecule(Molecule {
        electrons: 2,
        nuclei: vec![
            Nucleus { charge: 1.0, position: [0.0, 0.0, 0.7] },
            Nucleus { charge: 1.0, position: [0.0, 0.0, -0.7] },
        ],
        cusps,
    })
}

pub(super) fn bosons() -> System {
    System::HarmonicTrap(HarmonicTrap { particles: 3, dims: 2, omega: 1.0, interaction: Some(GaussianInteraction { g: 1.0, s: 0.7 }) })
}

/// The network families of the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Mlp,
    Pair,
    Gradient,
    Jastrow,
    /// The Jastrow network with two density inputs (β = ½, 2) in its one-body network.
    JastrowDensity,
    /// The Jastrow network with the density inputs and the ordered three-body term W.
    JastrowThree,
    /// The same with the power-sum form of W.
    JastrowPowerSums,
}

/// A network of `kind` with every layer random (none zero-initialised).
pub(crate) fn network(kind: Kind, system: &System, noise: &mut Noise, device: &Device) -> DriftNet {
    network_with_layers(kind, 2, system, noise, device)
}

fn network_with_layers(kind: Kind, layers: usize, system: &System, noise: &mut Noise, device: &Device) -> DriftNet {
    let (p, d) = (system.particles(), system.dims());
    match kind {
        Kind::Pair => {
            let mut net = PairNetConfig { dims: d, hidden: 8, skip_init: -0.7 }.init(noise, device);
            net.output = linear(8, d, true, Init::Uniform, noise, device);
            net.pair_weight = linear(8, 1, true, Init::Uniform, noise, device);
            DriftNet::Pair(net)
        }
        Kind::Mlp => {
            let mut net = MlpConfig { particles: p, dims: d, hidden: 8, layers, skip_init: -0.6 }.init(noise, device);
            net.output = linear(8, p * d, true, Init::Uniform, noise, device);
            DriftNet::Mlp(net)
        }
        Kind::Gradient => {
            let mut net = Potential::init(&MlpConfig { particles: p, dims: d, hidden: 8, layers, skip_init: -0.6 }, noise, device);
            net.output = linear(8, 1, false, Init::Uniform, noise, device);
            DriftNet::Potential(net)
        }
        Kind::Jastrow | Kind::JastrowDensity | Kind::JastrowThree | Kind::JastrowPowerSums => {
            let config = JastrowConfig {
                particles: p,
                dims: d,
                centres: system.centres(),
                length: 1.3,
                hidden: 8,
                layers,
                skip_init: -0.6,
                density: if kind == Kind::Jastrow { Vec::new() } else { vec![0.5, 2.0] },
                three_body: match kind {
                    Kind::JastrowThree => Some(crate::quantum::nn::ThreeBody::Ordered),
                    Kind::JastrowPowerSums => Some(crate::quantum::nn::ThreeBody::PowerSums),
                    _ => None,
                },
            };
            let mut net = config.init(noise, device);
            net.one_body.output = linear(8, 1, false, Init::Uniform, noise, device);
            net.pair.output = linear(8, 1, false, Init::Uniform, noise, device);
            if let Some(triple) = net.triple.as_mut() {
                triple.output = linear(8, 1, false, Init::Uniform, noise, device);
            }
            DriftNet::Jastrow(net)
        }
    }
}

/// One step of both engines from the same walkers and noise seed.
fn compare(system: &System, kind: Kind, integrator: &'static Tableau, boundary: bool) {
    compare_layers(system, kind, 2, integrator, boundary)
}

fn compare_layers(system: &System, kind: Kind, layers: usize, integrator: &'static Tableau, boundary: bool) {
    let device = autodiff_device();
    let mut noise = Noise::new(5);
    let net = network_with_layers(kind, layers, system, &mut noise, &device);
    // 37 walkers: one full block and a partial one.
    let walkers = noise.gaussian([37, system.particles(), system.dims()], 0.8, &device);
    let (dt, steps) = (0.03, 5);
    let mut autodiff = AutodiffEngine { system, integrator, dt, steps, boundary };
    let mut fused = FusedEngine::new(system, integrator, dt, steps, boundary).with_precision(Precision::F64);
    let a = autodiff.step(&net, walkers.clone(), &mut Noise::new(11));
    let f = fused.step(&net, walkers, &mut Noise::new(11));
    let what = format!("{} {kind:?} boundary={boundary}", integrator.name);
    assert!((f.loss - a.loss).abs() <= 1e-10 * (1.0 + a.loss.abs()), "{what}: loss {} vs {}", f.loss, a.loss);
    assert!((f.energy - a.energy).abs() <= 1e-10 * (1.0 + a.energy.abs()), "{what}: energy {} vs {}", f.energy, a.energy);
    let values = |t: Tensor<3>| t.into_data().try_into_vec_as::<f64>().unwrap();
    assert_close(&format!("{what} walkers"), &values(f.walkers), &values(a.walkers), 1e-10);
    let mut params = Collect(Vec::new());
    net.visit(&mut params);
    assert!(!params.0.is_empty());
    for (id, dims) in params.0 {
        let reference = grad_values(&a.grads, id, dims.len());
        assert!(reference.iter().any(|v| *v != 0.0), "{what}: zero autodiff gradient {dims:?}");
        // burn's reverse pass agrees with the fused one to ~3e-8 relative here; the fused gradient
        // agrees with finite differences to 1e-9 (`fused_gradient_matches_finite_difference`).
        assert_close(&format!("{what} gradient {dims:?}"), &grad_values(&f.grads, id, dims.len()), &reference, 2e-7);
    }
}

#[test]
fn the_cpu_device_is_supported() {
    assert!(supported(&Device::flex()));
    assert!(supported(&autodiff_device()));
}

#[test]
fn mlp_harmonic_matches_autodiff() {
    let system = System::Harmonic(Harmonic { particles: 1, dims: 3, omega: 1.0 });
    for integrator in ALL {
        compare(&system, Kind::Mlp, integrator, true);
    }
    compare(&system, Kind::Mlp, &EULER_MARUYAMA, false);
}

#[test]
fn mlp_h2_with_and_without_cusps_matches_autodiff() {
    for integrator in ALL {
        compare(&h2(true), Kind::Mlp, integrator, true);
    }
    compare(&h2(false), Kind::Mlp, &SOSRA, true);
    compare(&h2(false), Kind::Mlp, &EULER_MARUYAMA, false);
}

#[test]
fn mlp_with_one_and_three_hidden_layers_on_bosons_matches_autodiff() {
    compare_layers(&bosons(), Kind::Mlp, 1, &SOSRA, true);
    compare_layers(&bosons(), Kind::Mlp, 3, &EULER_MARUYAMA, true);
}

#[test]
fn pair_net_bosons_matches_autodiff() {
    for integrator in ALL {
        compare(&bosons(), Kind::Pair, integrator, true);
    }
    compare(&bosons(), Kind::Pair, &EULER_MARUYAMA, false);
}

#[test]
fn pair_net_h2_with_and_without_cusps_matches_autodiff() {
    for integrator in ALL {
        compare(&h2(true), Kind::Pair, integrator, true);
    }
    compare(&h2(false), Kind::Pair, &SOSRA, true);
}

#[test]
fn gradient_net_matches_autodiff() {
    for integrator in ALL {
        compare(&h2(true), Kind::Gradient, integrator, true);
    }
    compare(&System::Harmonic(Harmonic { particles: 1, dims: 3, omega: 1.0 }), Kind::Gradient, &SOSRA, true);
    compare_layers(&bosons(), Kind::Gradient, 1, &EULER_MARUYAMA, false);
    compare_layers(&bosons(), Kind::Gradient, 3, &SOSRA, true);
}

#[test]
fn jastrow_net_matches_autodiff() {
    for integrator in ALL {
        compare(&h2(true), Kind::Jastrow, integrator, true);
        compare(&bosons(), Kind::Jastrow, integrator, true);
        compare(&bosons(), Kind::JastrowDensity, integrator, true);
        compare(&h2(true), Kind::JastrowDensity, integrator, true);
        compare(&bosons(), Kind::JastrowThree, integrator, true);
        compare(&bosons(), Kind::JastrowPowerSums, integrator, true);
    }
    compare_layers(&bosons(), Kind::JastrowDensity, 3, &SOSRA, false);
    // (One particle has no pair rows: its pair network gets no gradient, which `compare` rejects.)
    compare_layers(&bosons(), Kind::Jastrow, 1, &EULER_MARUYAMA, false);
    compare_layers(&h2(false), Kind::Jastrow, 3, &SOSRA, true);
}

#[test]
fn fused_evaluation_paths_match_burn() {
    let device = autodiff_device().inner();
    for (system, kind) in [(h2(true), Kind::Pair), (bosons(), Kind::Mlp), (h2(true), Kind::Gradient), (bosons(), Kind::Jastrow), (h2(true), Kind::Jastrow), (bosons(), Kind::JastrowDensity), (bosons(), Kind::JastrowThree), (bosons(), Kind::JastrowPowerSums)] {
        let mut noise = Noise::new(8);
        let net = network(kind, &system, &mut noise, &device);
        let walkers = noise.gaussian([40, system.particles(), system.dims()], 0.8, &device);
        let drift = full_drift(&net, &system);
        let potential = |x: Tensor<3>| system.potential(x);
        let mut burn = BurnSimulator { drift: &drift, potential: &potential, integrator: &SOSRA };
        let mut fused = FusedSimulator::new(&net, &system, &SOSRA);
        // 70 steps: more than one noise chunk.
        let a = burn.advance(walkers.clone(), 70, 0.02, &mut Noise::new(3));
        let b = fused.advance(walkers.clone(), 70, 0.02, &mut Noise::new(3));
        let values = |t: Tensor<3>| t.into_data().try_into_vec_as::<f64>().unwrap();
        assert_close("advance", &values(b), &values(a), 1e-9);
        let a = burn.measure(walkers.clone(), 70, 0.02, &mut Noise::new(4));
        let b = fused.measure(walkers, 70, 0.02, &mut Noise::new(4));
        assert_close("running", &b.running, &a.running, 1e-10);
        assert_close("martingale", &b.martingale, &a.martingale, 1e-10);
        assert_close("series", &b.series, &a.series, 1e-10);
        assert_close("walkers", &values(b.walkers.unwrap()), &values(a.walkers.unwrap()), 1e-9);
    }
}

/// The fused gradient against a central finite difference of the fused loss (no boundary term:
/// then the loss is an ordinary function of θ for fixed noise).
#[test]
fn fused_gradient_matches_finite_difference() {
    let device = autodiff_device();
    for (system, kind) in [(System::Harmonic(Harmonic { particles: 1, dims: 3, omega: 1.0 }), Kind::Mlp), (h2(true), Kind::Pair), (h2(true), Kind::Gradient), (bosons(), Kind::Gradient), (h2(true), Kind::Jastrow), (bosons(), Kind::Jastrow), (bosons(), Kind::JastrowDensity)] {
        let mut noise = Noise::new(5);
        let net = network(kind, &system, &mut noise, &device);
        let walkers = noise.gaussian([37, system.particles(), system.dims()], 0.8, &device);
        let x0 = walker_values(&walkers);
        let engine = FusedEngine::new(&system, &SOSRA, 0.03, 5, false).with_precision(Precision::F64);
        let drift = FlatDrift::new(&net, &system);
        let run = |drift: &FlatDrift| engine.run(drift, &x0, 37, &mut Noise::new(11));
        let analytic = run(&drift);
        let eps = 1e-5;
        let mut checked = 0;
        for k in [1, 5, 17] {
            let shifted = |delta: f64| {
                let mut d = FlatDrift::new(&net, &system);
                match &mut d.net {
                    FlatNet::Mlp(m) => m.hidden[0].w[k] += delta,
                    FlatNet::Pair(p) => p.mix.w[k] += delta,
                    FlatNet::Potential(p) => p.hidden[0].w[k] += delta,
                    FlatNet::Jastrow(j) if kind == Kind::JastrowDensity => j.one_body.hidden[0].w[k] += delta,
                    FlatNet::Jastrow(j) => j.pair.hidden[0].w[k] += delta,
                }
                run(&d).loss
            };
            let numeric = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
            let value = match &analytic.grad {
                NetGrad::Mlp(g) => g.hidden[0].weight()[k],
                NetGrad::Pair(g) => g.mix.weight()[k],
                NetGrad::Potential(g) => g.hidden[0].weight()[k],
                NetGrad::Jastrow(g) if kind == Kind::JastrowDensity => g.one_body.hidden[0].weight()[k],
                NetGrad::Jastrow(g) => g.pair.hidden[0].weight()[k],
            };
            assert!((value - numeric).abs() <= 1e-9 * (1.0 + numeric.abs()), "fused {value} vs finite difference {numeric}");
            checked += 1;
        }
        assert_eq!(checked, 3);
    }
}

/// One fused step of `engine` from fixed walkers and noise.
fn fused_run(engine: &FusedEngine, drift: &FlatDrift, x0: &[f64]) -> FusedStep {
    engine.run(drift, x0, x0.len() / drift.dim(), &mut Noise::new(11))
}

/// Every gradient component of a step, in a fixed order.
fn flat_grad(step: &FusedStep) -> Vec<f64> {
    let dense = |g: &crate::simd::dense::DenseGrad| g.weight().into_iter().chain(g.b.iter().copied()).collect::<Vec<_>>();
    match &step.grad {
        NetGrad::Mlp(g) => g.hidden.iter().chain([&g.output, &g.skip]).flat_map(dense).collect(),
        NetGrad::Pair(g) => [&g.one_body, &g.two_body, &g.mix, &g.output, &g.pair_weight].into_iter().flat_map(dense).chain([g.skip]).collect(),
        NetGrad::Potential(g) => g.hidden.iter().chain([&g.output]).flat_map(dense).chain([g.skip]).collect(),
        NetGrad::Jastrow(g) => [&g.one_body, &g.pair]
            .into_iter()
            .flat_map(|p| p.hidden.iter().chain([&p.output]).flat_map(dense).chain([p.skip]).collect::<Vec<_>>())
            .chain([g.skip])
            .collect(),
    }
}

fn cases() -> Vec<(System, Kind)> {
    vec![
        (System::Harmonic(Harmonic { particles: 1, dims: 3, omega: 1.0 }), Kind::Mlp),
        (h2(true), Kind::Mlp),
        (bosons(), Kind::Pair),
        (h2(true), Kind::Pair),
        (h2(true), Kind::Gradient),
        (bosons(), Kind::Jastrow),
        (h2(true), Kind::Jastrow),
        (bosons(), Kind::JastrowDensity),
        (bosons(), Kind::JastrowThree),
        (bosons(), Kind::JastrowPowerSums),
    ]
}

/// A random network of the case read out in f64, and 37 walkers.
fn case_drift(system: &System, kind: Kind, seed: u64) -> (FlatDrift, Vec<f64>) {
    let device = autodiff_device();
    let mut noise = Noise::new(seed);
    let net = network(kind, system, &mut noise, &device);
    let x0 = walker_values(&noise.gaussian([37, system.particles(), system.dims()], 0.8, &device));
    (FlatDrift::new(&net, system), x0)
}

/// The f32 kernels against the f64 ones on the same paths. Each f32 operation rounds with
/// relative error ≤ 6e-8 (the tanh approximation ≤ 3e-7); compounded over 20 steps × 2 stages
/// through the network and its reverse pass, the gradient's norm-relative error is a few 1e-7
/// (0.5–1.6e-6 observed for these cases) and the loss's 1e-9–1e-7. The bounds, 1e-4 of the
/// gradient norm and 1e-5 of the loss, leave a margin of ~60× and ~100×, while an error of the
/// f32 path itself (a wrong index, a missed term, a bad cast) shows up at order one.
#[test]
fn f32_engine_agrees_with_f64_to_rounding() {
    for (system, kind) in cases() {
        let (drift, x0) = case_drift(&system, kind, 5);
        let engine = |precision| FusedEngine::new(&system, &SOSRA, 0.02, 20, true).with_precision(precision);
        let single = fused_run(&engine(Precision::F32), &drift, &x0);
        let double = fused_run(&engine(Precision::F64), &drift, &x0);
        let what = format!("{kind:?}");
        assert!((single.loss - double.loss).abs() <= 1e-5 * (1.0 + double.loss.abs()), "{what}: loss {} vs {}", single.loss, double.loss);
        assert!((single.energy - double.energy).abs() <= 1e-5 * (1.0 + double.energy.abs()), "{what}: energy {} vs {}", single.energy, double.energy);
        assert_close(&format!("{what} walkers"), &single.x_final, &double.x_final, 1e-5);
        let (g32, g64) = (flat_grad(&single), flat_grad(&double));
        let norm = g64.iter().map(|v| v * v).sum::<f64>().sqrt();
        let error = g32.iter().zip(&g64).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        assert!(norm > 0.0 && error <= 1e-4 * norm, "{what}: gradient error {error} of norm {norm}");
    }
}

/// Recomputing segments in the reverse pass gives bit-identical results (same operations in the
/// same order), for segments that divide the path and that do not, in both precisions, with
/// the workspaces of one engine reused across calls of different segment lengths; and a
/// thread's activation cache holds `segment` of the path's steps.
#[test]
fn checkpointed_segments_give_identical_results() {
    for (system, kind) in cases() {
        let (drift, x0) = case_drift(&system, kind, 6);
        // Two full blocks of 32 walkers, so that every thread's cache is the same size.
        let x64: Vec<f64> = x0.iter().chain(&x0).copied().take(64 * drift.dim()).collect();
        for precision in [Precision::F32, Precision::F64] {
            let mut engine = FusedEngine::new(&system, &SOSRA, 0.02, 12, true).with_precision(precision);
            let full = fused_run(&engine, &drift, &x0);
            fused_run(&engine, &drift, &x64);
            let full_bytes = engine.cache_bytes();
            for segment in [1, 4, 5, 12, 0] {
                engine.checkpoint_segment = segment;
                let step = fused_run(&engine, &drift, &x0);
                let what = format!("{kind:?} {precision:?} segment {segment}");
                assert_eq!(step.loss.to_bits(), full.loss.to_bits(), "{what}: loss");
                assert_eq!(step.energy.to_bits(), full.energy.to_bits(), "{what}: energy");
                assert_eq!(step.x_final, full.x_final, "{what}: walkers");
                assert_eq!(flat_grad(&step), flat_grad(&full), "{what}: gradients");
                fused_run(&engine, &drift, &x64);
                let kept = path::segment_length(segment, 12);
                assert_eq!(engine.cache_bytes() * 12, full_bytes * kept, "{what}: cache holds {kept} of 12 steps");
            }
        }
    }
}

/// The cusp prior's potential S has the prior drift as its gradient (central differences),
/// and S is what the Metropolis ratio of DMC uses for that part of the drift.
#[test]
fn prior_potential_gradient_is_the_prior_drift() {
    let system = FlatSystem::new(&h2(true));
    let mut noise = Noise::new(5);
    let x: Vec<f64> = noise.standard_normals(6);
    let mut v = vec![0.0; 6];
    system.add_prior(&x, &mut v);
    let h = 1e-6;
    for k in 0..6 {
        let (mut up, mut down) = (x.clone(), x.clone());
        up[k] += h;
        down[k] -= h;
        let fd = (system.prior_potential(&up) - system.prior_potential(&down)) / (2.0 * h);
        assert!((fd - v[k]).abs() < 1e-7, "coordinate {k}: finite difference {fd}, prior drift {}", v[k]);
    }
}

/// DMC is exact for any guide of the form v = ∇log ψ_T without nodes; only its variance
/// depends on ψ_T. A random, untrained gradient network (every layer random) guiding
/// Metropolis DMC (its whole drift in the exact part of the ratio) on the 3-D oscillator,
/// E₀ = 1.5, at dt = 0.02 and 0.01, extrapolated: within 3σ of E₀; while the guide's own
/// local-energy estimate is far off.
#[test]
fn dmc_guided_by_a_random_gradient_network_is_exact() {
    use crate::stats::richardson;
use crate::quantum::walk::{WalkSettings, walk};
    let system = System::Harmonic(Harmonic { particles: 1, dims: 3, omega: 1.0 });
    let device = Device::flex();
    let mut noise = Noise::new(21);
    let net = network(Kind::Gradient, &system, &mut noise, &device);
    let guide = FusedSimulator::new(&net, &system, &SOSRA);
    let settings = |dt: f64, branching: bool| WalkSettings {
        dt,
        burn_in: (4.0 / dt) as usize,
        steps: (60.0 / dt) as usize,
        branching,
        metropolis: branching,
        feedback_time: 1.0,
        target_error: None,
        target_relative_error: None,
        max_steps: 0,
        max_seconds: None,
        reweight_times: Vec::new(),
    };
    let mut runs = Vec::new();
    for dt in [0.02, 0.01] {
        let w = walk(&guide, noise.standard_normals(1000 * 3), &settings(dt, true), &mut noise);
        assert!(w.stopped_by == "steps" && w.population_max < 1500, "dt {dt}: population {}..{}, {}", w.population_min, w.population_max, w.stopped_by);
        runs.push(w.energy);
    }
    let dmc = richardson(runs[0], runs[1], 1).value;
    let local = walk(&guide, noise.standard_normals(1000 * 3), &settings(0.01, false), &mut noise).energy;
    assert!((dmc.value - 1.5).abs() < 3.0 * dmc.error, "DMC {dmc:?} (dt 0.02: {:?}, 0.01: {:?}), exact 1.5", runs[0], runs[1]);
    assert!(local.value - 1.5 > 10.0 * dmc.error.max(local.error), "the guide should be poor: local energy {local:?}");
}

/// A VMC sample evaluates only S and v on its moves and E_L once at the end
/// ([`crate::quantum::walk::metropolis_sample`]): for gradient drifts with and without a prior,
/// walkers with every layer random, its positions equal those of the same moves with E_L
/// evaluated at every proposal (bit for bit: the same draws, the same acceptances), and its
/// E_L equal the last move's; the drift-only evaluation equals the full one's v and S.
#[test]
fn vmc_sample_equals_moves_with_the_local_energy() {
    use crate::quantum::walk::{metropolis_move, metropolis_sample};
use crate::quantum::engine::{GuideValues, Guide};
    let device = Device::flex();
    for (system, kind) in [(h2(true), Kind::Jastrow), (bosons(), Kind::JastrowPowerSums), (bosons(), Kind::Gradient)] {
        let mut noise = Noise::new(31);
        let net = network(kind, &system, &mut noise, &device);
        let guide = FusedSimulator::new(&net, &system, &SOSRA);
        let x: Vec<f64> = noise.standard_normals(40 * guide.dim()).iter().map(|c| 0.7 * c).collect();
        let (full, drift) = (guide.evaluate(&x), guide.evaluate_drift(&x));
        assert!(drift.e.is_empty() && drift.v == full.v && drift.exact == full.exact, "{kind:?}: drift-only evaluation");
        let (sampled, e) = metropolis_sample(&guide, x.clone(), 4, 0.05, &mut Noise::new(8));
        let (mut y, mut at, mut moves_noise, mut accepted) = (x, full, Noise::new(8), 0.0);
        for _ in 0..4 {
            let m = metropolis_move(&guide, &y, &at.v, &at.e, at.exact.as_ref(), 0.05, &mut moves_noise);
            accepted += m.acceptance_sum;
            y = m.next;
            at = GuideValues { v: m.v_next, e: m.e_next, exact: m.exact_next };
        }
        assert!(accepted > 0.5 * 4.0 * 40.0 && accepted < 4.0 * 40.0, "{kind:?}: acceptance {accepted} of 160 should be neither 0 nor all");
        assert_eq!(sampled, y, "{kind:?}: positions");
        assert_eq!(e, at.e, "{kind:?}: E_L at the end");
    }
}
