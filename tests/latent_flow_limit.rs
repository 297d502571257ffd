//! The deterministic limit: couplings are exactly invertible with the right log|det J|, and a
//! Gaussian kernel pair q(z|x) = N(f(x), σ²I), p(x|z) = N(f⁻¹(z), σ²I) has a marginal
//! likelihood that converges to the flow's exact one as σ → 0.

use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use pathspace::latent::bounds::mean_iwae;
use pathspace::latent::chain::{Chain, PathTerm, Stage};
use pathspace::latent::train::gaussian_limit;
use pathspace::latent::kernels::FlowConfig;
use pathspace::latent::values;
use pathspace::base::noise::Noise;

fn device() -> Device {
    let mut d = Device::flex();
    let _ = d.configure(FloatDType::F64);
    d
}

fn random_flow(device: &Device) -> Chain {
    let mut noise = Noise::new(4);
    let flow = FlowConfig { dim: 2, layers: 4, hidden: 16 }.init(&mut noise, device).randomise(0.1, &mut noise);
    Chain { stages: vec![Stage::Flow(flow)] }
}

#[test]
fn coupling_inverse_is_exact_and_log_det_matches_finite_differences() {
    let device = device();
    let chain = random_flow(&device);
    let Stage::Flow(flow) = &chain.stages[0] else { unreachable!() };
    let x = Noise::new(1).gaussian([5, 2], 1.0, &device);
    let (z, log_det) = flow.forward(x.clone());
    let back = values(flow.inverse(z.clone()));
    for (a, b) in back.iter().zip(values(x.clone())) {
        assert!((a - b).abs() < 1e-10, "inverse {a} vs {b}");
    }
    let log_det = values(log_det);
    assert!(log_det.iter().any(|v| v.abs() > 0.05), "log-dets too small to test: {log_det:?}");
    let h = 1e-6;
    let xs = values(x);
    for i in 0..5 {
        let at = |dx: f64, dy: f64| {
            let p = Tensor::<2>::from_data(TensorData::new(vec![xs[2 * i] + dx, xs[2 * i + 1] + dy], [1, 2]), &device);
            values(flow.forward(p).0)
        };
        let (px, mx, py, my) = (at(h, 0.0), at(-h, 0.0), at(0.0, h), at(0.0, -h));
        let j = [[(px[0] - mx[0]) / (2.0 * h), (py[0] - my[0]) / (2.0 * h)], [(px[1] - mx[1]) / (2.0 * h), (py[1] - my[1]) / (2.0 * h)]];
        let det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
        assert!((det.abs().ln() - log_det[i]).abs() < 1e-6, "log|det J| {} vs finite difference {}", log_det[i], det.abs().ln());
    }
}

#[test]
fn gaussian_kernel_pair_converges_to_the_flow_as_sigma_goes_to_zero() {
    let device = device();
    let chain = random_flow(&device);
    let x = Noise::new(2).gaussian([8, 2], 1.0, &device);
    let flow_ll = values(chain.log_weight(x.clone(), &mut Noise::new(0), PathTerm::Exact).log_weight).iter().sum::<f64>() / 8.0;
    let mut noise = Noise::new(3);
    let gaps: Vec<f64> = [1.0, 0.3, 0.01]
        .iter()
        .map(|&sigma| {
            let g = gaussian_limit(&chain, sigma, 1.0, 2, &device).unwrap();
            (mean_iwae(&g, &x, 20000, 8, &mut noise) - flow_ll).abs()
        })
        .collect();
    println!("flow log-likelihood {flow_ll:.5}; |IWAE(σ) − flow| for σ = 1, 0.3, 0.01: {gaps:?}");
    assert!(gaps[0] > 0.05 && gaps[0] > 5.0 * gaps[2], "the gap must shrink with σ: {gaps:?}");
    assert!(gaps[2] < 0.005, "σ = 0.01 should agree with the flow to 0.005 nats: {gaps:?}");
}
