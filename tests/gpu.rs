//! The GPU path (issue 17, cargo feature `wgpu`: burn's wgpu backend, Vulkan/SPIR-V where the
//! machine has it). CI runs these tests on a software Vulkan device (Mesa's lavapipe, Debian's
//! `mesa-vulkan-drivers`): `cargo test --release --features wgpu --test gpu`.
//!
//! - One training step of the burn-autodiff engine (the path, the Feynman–Kac loss and its
//!   reverse pass through every integrator step) on the GPU device equals the same step on the
//!   CPU device, in f32, for the oscillator, H₂ with cusps and three interacting bosons: loss
//!   and energy to 1e-4 relative, every parameter gradient to 1e-3 of its largest component.
//! - `solve` of a short oscillator problem on the GPU device (10 training iterations and the
//!   variational evaluation, what runs off the CPU today) lands within 4σ of the exact 3/2.
//! - The guided estimators on the GPU device ([`pathspace::quantum::autodiff::TensorGuide`]: the drift,
//!   the exact local energy through the network's forward-mode Laplacian and log ψ_T as tensor
//!   ops there): on an H₂ Jastrow drift trained briefly on the CPU, E_L at random walkers equals
//!   the fused CPU engine's to f32 precision, and a Metropolis DMC walk on the GPU agrees with
//!   the same walk on the CPU within their error bars; for the oscillator with the trial
//!   function e^{−0.4|x|²} (a = 0.8), the local energy is its variational energy
//!   3(a/4 + 1/(4a)) = 1.5375 and DMC is the exact 3/2, each within 4σ.
//! - Guided estimators for a drift that is not a gradient (no tensor form of its divergence)
//!   are refused before any training, naming the file and `eval.estimators`.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, DeviceKind, Tensor};
use pathspace::base::noise::Noise;
use pathspace::quantum::problem::Problem;
use pathspace::quantum::autodiff::AutodiffEngine;
use pathspace::quantum::engine::PathEngine;
use std::path::Path;

fn gpu() -> Device {
    Device::wgpu(DeviceKind::DefaultDevice)
}

fn problem(file: &str) -> Problem {
    Problem::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

struct Collect(Vec<(ParamId, Vec<usize>)>);
impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push((param.id, param.val().dims().to_vec()));
    }
}

fn grad_values(grads: &GradientsParams, id: ParamId, rank: usize) -> Vec<f64> {
    let data = match rank {
        1 => grads.get::<1>(id).map(|t| t.into_data()),
        2 => grads.get::<2>(id).map(|t| t.into_data()),
        _ => unreachable!(),
    };
    data.expect("gradient registered").try_into_vec_as::<f64>().unwrap()
}

/// One autodiff training step of `file`'s problem (32 walkers, 8 steps) on `device`.
fn step(file: &str, device: &Device) -> (f64, f64, Vec<(Vec<usize>, Vec<f64>)>) {
    let p = problem(file);
    let ad = device.clone().autodiff();
    let net = pathspace::quantum::solve::build_net(&p, &mut Noise::new(3), &ad);
    let walkers = pathspace::quantum::solve::initial_walkers(&p, 32, &mut Noise::new(4), &ad);
    let mut engine = AutodiffEngine { system: &p.system, integrator: p.sde.integrator, dt: p.sde.dt, steps: 8, boundary: true };
    let out = engine.step(&net, walkers, &mut Noise::new(5));
    let mut params = Collect(Vec::new());
    net.visit(&mut params);
    let grads = params.0.into_iter().map(|(id, dims)| (dims.clone(), grad_values(&out.grads, id, dims.len()))).collect();
    (out.loss, out.energy, grads)
}

#[test]
fn autodiff_training_step_on_the_gpu_equals_the_cpu() {
    for file in ["problems/harmonic.toml", "problems/h2.toml", "problems/bosons_2d.toml"] {
        let (cpu_loss, cpu_energy, cpu_grads) = step(file, &Device::flex());
        let (gpu_loss, gpu_energy, gpu_grads) = step(file, &gpu());
        assert!((gpu_loss - cpu_loss).abs() <= 1e-4 * (1.0 + cpu_loss.abs()), "{file}: loss {gpu_loss} on the GPU vs {cpu_loss}");
        assert!((gpu_energy - cpu_energy).abs() <= 1e-4 * (1.0 + cpu_energy.abs()), "{file}: energy {gpu_energy} vs {cpu_energy}");
        assert_eq!(gpu_grads.len(), cpu_grads.len());
        let largest = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let overall = cpu_grads.iter().map(|(_, c)| largest(c)).fold(0.0, f64::max);
        assert!(overall > 0.0, "{file}: every gradient is zero");
        for ((dims, g), (_, c)) in gpu_grads.iter().zip(&cpu_grads) {
            // The networks' output layers start at zero, so the layers below them have exactly
            // zero gradient at initialisation: those must stay (near) zero on the GPU too.
            let scale = largest(c).max(1e-3 * overall);
            for (k, (a, b)) in g.iter().zip(c).enumerate() {
                assert!((a - b).abs() <= 1e-3 * scale, "{file} gradient {dims:?}[{k}]: GPU {a} vs CPU {b} (scale {scale})");
            }
        }
    }
}

#[test]
fn oscillator_solve_on_the_gpu_is_exact_within_its_error_bar() {
    let mut p = problem("problems/harmonic.toml");
    // Small sizes: lavapipe runs the kernels on the CPU. The gradient drift starts at the
    // exact v = −x (restoring skip −1, output layer zero); training must keep it there.
    p.train.iterations = 10;
    p.train.walkers = 128;
    p.sde.steps = 50;
    p.eval.walkers = 256;
    p.eval.steps = 128;
    p.eval.burn_in = 32;
    p.eval.estimators = vec![pathspace::quantum::problem::Estimator::Variational];
    p.eval.extrapolate = false;
    p.output.path_walkers = 0;
    let out = pathspace::quantum::solve::solve(&p, &gpu(), &pathspace::quantum::solve::Overrides::default(), &mut |_| {}).unwrap();
    let s = &out.summary;
    assert_eq!(s.engine, "autodiff", "the fused engine is CPU-only");
    assert!(s.energy_error > 0.0 && s.energy_error < 0.05, "error bar {}", s.energy_error);
    assert!((s.energy - 1.5).abs() < 4.0 * s.energy_error, "oscillator on the GPU: {} ± {}", s.energy, s.energy_error);
}

/// problems/h2.toml's Jastrow drift after 30 Feynman–Kac iterations on the CPU (variational
/// evaluation only), moved to `device`.
fn trained_h2(device: &Device) -> (Problem, pathspace::quantum::nn::DriftNet) {
    let mut p = problem("problems/h2.toml");
    p.vmc.iterations = 0;
    p.eval.walkers = 64;
    p.eval.steps = 16;
    p.eval.burn_in = 8;
    p.eval.extrapolate = false;
    p.eval.estimators = vec![pathspace::quantum::problem::Estimator::Variational];
    p.output.path_walkers = 0;
    let overrides = pathspace::quantum::solve::Overrides { iterations: Some(30), ..Default::default() };
    let out = pathspace::quantum::solve::solve(&p, &Device::flex(), &overrides, &mut |_| {}).unwrap();
    let net = out.net.to_device(device);
    (p, net)
}

#[test]
fn guided_estimators_on_the_gpu_equal_the_cpu() {
    use pathspace::quantum::walk::{WalkSettings, walk};
use pathspace::quantum::autodiff::TensorGuide;
use pathspace::quantum::engine::Guide;
    let (p, gpu_net) = trained_h2(&gpu());
    let cpu_net = gpu_net.clone().to_device(&Device::flex());
    let system = &p.system;
    // Walkers around the nuclei (±0.7 on z): 64 walkers × 2 electrons × 3.
    let x: Vec<f64> = Noise::new(6).standard_normals(64 * 6).iter().enumerate().map(|(k, z)| 0.6 * z + if k % 3 == 2 { if k % 6 < 3 { 0.7 } else { -0.7 } } else { 0.0 }).collect();
    let guide = TensorGuide::new(&gpu_net, system, p.sde.integrator, &gpu()).expect("a gradient drift");
    let fused = pathspace::quantum::fused::FusedSimulator::new(&cpu_net, system, p.sde.integrator);
    let (a, b) = (guide.evaluate(&x), fused.evaluate(&x));
    for (g, c) in a.e.iter().zip(&b.e) {
        assert!((g - c).abs() <= 1e-3 * (1.0 + c.abs()), "E_L on the GPU {g} vs the fused CPU engine {c}");
    }
    for (g, c) in a.v.iter().zip(&b.v) {
        assert!((g - c).abs() <= 1e-4 * (1.0 + c.abs()), "v on the GPU {g} vs CPU {c}");
    }
    let settings = WalkSettings::dmc(0.02, 40, 200, true, 1.0);
    let on_gpu = walk(&guide, x.clone(), &settings, &mut Noise::new(7));
    let on_cpu = walk(&fused, x, &settings, &mut Noise::new(7));
    let (g, c) = (on_gpu.energy, on_cpu.energy);
    assert!(g.error > 0.0 && c.error > 0.0, "{g:?} {c:?}");
    let sigma = (g.error * g.error + c.error * c.error).sqrt();
    assert!((g.value - c.value).abs() < 4.0 * sigma, "DMC on the GPU {g:?} vs CPU {c:?}");
    assert!(on_gpu.metropolis && on_gpu.acceptance > 0.9, "acceptance {}", on_gpu.acceptance);
}

#[test]
fn oscillator_local_energy_and_dmc_on_the_gpu() {
    let mut p = problem("problems/harmonic.toml");
    p.drift.skip_init = -0.8;
    p.train.iterations = 0;
    p.eval.walkers = 256;
    p.eval.steps = 64;
    p.eval.burn_in = 64;
    p.eval.extrapolate = false;
    p.eval.local_steps = 300;
    p.eval.estimators = vec![pathspace::quantum::problem::Estimator::Variational, pathspace::quantum::problem::Estimator::LocalEnergy, pathspace::quantum::problem::Estimator::Dmc];
    p.dmc.walkers = 256;
    p.dmc.steps = 300;
    p.dmc.burn_in = 60;
    p.dmc.extrapolate = false;
    p.output.path_walkers = 0;
    let out = pathspace::quantum::solve::solve(&p, &gpu(), &pathspace::quantum::solve::Overrides::default(), &mut |_| {}).unwrap();
    let guided = &out.summary.guided;
    let local = guided.local_energy.as_ref().expect("local energy").energy;
    let dmc = guided.dmc.as_ref().expect("dmc").energy();
    // ψ_T = e^{−a|x|²/2}, a = 0.8: E_var = 3(a/4 + 1/(4a)).
    let variational = 3.0 * (0.8 / 4.0 + 1.0 / 3.2);
    assert!(local.error > 0.0 && (local.value - variational).abs() < 4.0 * local.error, "local energy on the GPU {local:?}, exact {variational}");
    assert!(dmc.error > 0.0 && (dmc.value - 1.5).abs() < 4.0 * dmc.error, "DMC on the GPU {dmc:?}, exact 1.5");
    assert!(dmc.error < 0.01, "DMC error bar {} too large to test anything", dmc.error);
}

#[test]
fn guided_estimators_for_a_non_gradient_drift_off_the_cpu_are_refused_before_training() {
    let mut p = problem("problems/h2.toml");
    p.drift.kind = pathspace::quantum::problem::DriftKind::Mlp;
    p.vmc.iterations = 0;
    let mut rows = 0;
    let error = pathspace::quantum::solve::solve(&p, &gpu(), &pathspace::quantum::solve::Overrides::default(), &mut |_| rows += 1).err().expect("refused");
    let message = error.to_string();
    assert!(message.contains("h2.toml") && message.contains("eval.estimators"), "{message}");
    assert_eq!(rows, 0, "refused only after {rows} training iterations");
}
