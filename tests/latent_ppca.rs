//! Closed-form check: a linear-Gaussian VAE against exact probabilistic PCA.
//!
//! Data come from a PPCA model (D = 6, q = 2). PPCA fitted in closed form gives the maximum
//! log-likelihood L*. A linear VAE (affine encoder with per-dimension variance, affine decoder
//! with one shared variance: the same model family) trained on the ELBO must approach L* from
//! below, and IWAE(K) must increase with K towards it.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use pathspace::latent::bounds::{elbo, mean_elbo, mean_iwae};
use pathspace::latent::chain::{Chain, GaussianStage, Stage};
use pathspace::latent::data::Dataset;
use pathspace::latent::kernels::{GaussianKernelConfig, Variance};
use pathspace::latent::ppca::Ppca;
use pathspace::base::noise::Noise;

const D: usize = 6;
const Q: usize = 2;
const N: usize = 1000;

fn devices() -> (Device, Device) {
    let mut plain = Device::flex();
    let _ = plain.configure(FloatDType::F64);
    let mut ad = plain.clone().autodiff();
    let _ = ad.configure(FloatDType::F64);
    (plain, ad)
}

fn ppca_data(noise: &mut Noise) -> Dataset {
    let w: Vec<f64> = noise.standard_normals(D * Q);
    let mut values = Vec::with_capacity(N * D);
    for _ in 0..N {
        let z = noise.standard_normals(Q);
        let e = noise.standard_normals(D);
        for i in 0..D {
            let mean = (0..Q).map(|j| w[i * Q + j] * z[j]).sum::<f64>() + 0.5 * i as f64;
            values.push(mean + 0.3 * e[i]);
        }
    }
    Dataset { values, rows: N, dim: D, labels: Vec::new() }
}

fn linear_vae(noise: &mut Noise, device: &Device) -> Chain {
    let encoder = GaussianKernelConfig { d_in: D, d_out: Q, hidden: 0, layers: 0, variance: Variance::PerDim, log_var_init: 0.0 }.init(noise, device);
    let decoder = GaussianKernelConfig { d_in: Q, d_out: D, hidden: 0, layers: 0, variance: Variance::Shared, log_var_init: 0.0 }.init(noise, device);
    Chain { stages: vec![Stage::Gaussian(GaussianStage { encoder, decoder })] }
}

fn train(chain: Chain, x: &Tensor<2>, iterations: usize, noise: &mut Noise) -> Chain {
    let mut optim = AdamConfig::new().init();
    let mut chain = chain;
    for it in 0..iterations {
        let lr = 0.02 / (1.0 + it as f64 / 500.0);
        let loss = -elbo(&chain, x.clone(), noise, true).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &chain);
        chain = optim.step(lr, chain, grads);
    }
    chain
}

#[test]
fn linear_vae_elbo_approaches_ppca_from_below() {
    let (plain, ad) = devices();
    let mut noise = Noise::new(3);
    let data = ppca_data(&mut noise);
    let exact = Ppca::fit(&data, Q).mean_log_likelihood(&data);
    let x_ad = Tensor::<2>::from_data(TensorData::new(data.values.clone(), [N, D]), &ad);
    let x = data.all(&plain);

    // Trained: the ELBO approaches the exact PPCA log-likelihood from below.
    let trained = train(linear_vae(&mut Noise::new(5), &ad), &x_ad, 1500, &mut noise).valid();
    let mut eval = Noise::new(9);
    let estimates: Vec<f64> = (0..20).map(|_| mean_elbo(&trained, &x, N, &mut eval)).collect();
    let m = estimates.iter().sum::<f64>() / 20.0;
    let se = (estimates.iter().map(|e| (e - m).powi(2)).sum::<f64>() / 19.0 / 20.0).sqrt();
    println!("trained ELBO {m:.4} ± {se:.4} vs exact {exact:.4}");
    assert!(m < exact + 4.0 * se + 1e-3, "ELBO {m} ± {se} above the exact log-likelihood {exact}");
    assert!(exact - m < 0.05, "ELBO {m} should be within 0.05 nats of {exact}");
}

#[test]
fn iwae_increases_with_k_towards_the_exact_log_likelihood() {
    let (plain, ad) = devices();
    let mut noise = Noise::new(3);
    let data = ppca_data(&mut noise);
    let exact = Ppca::fit(&data, Q).mean_log_likelihood(&data);
    let x_ad = Tensor::<2>::from_data(TensorData::new(data.values.clone(), [N, D]), &ad);
    let x = data.all(&plain);
    let trained = train(linear_vae(&mut Noise::new(5), &ad), &x_ad, 1500, &mut noise).valid();
    // The trained decoder with a 3× wider proposal: a clear inference gap for IWAE to close.
    let Stage::Gaussian(g) = &trained.stages[0] else { unreachable!() };
    let wide = Chain {
        stages: vec![Stage::Gaussian(GaussianStage { encoder: g.encoder.clone().with_log_var_offset(9f64.ln()), decoder: g.decoder.clone() })],
    };
    let mut eval = Noise::new(9);
    let iwae: Vec<f64> = [1, 10, 100, 1000].iter().map(|&k| mean_iwae(&wide, &x, k, 100, &mut eval)).collect();
    println!("PPCA exact {exact:.4}; IWAE(1, 10, 100, 1000) with a 3x wider q: {iwae:?}");
    for pair in iwae.windows(2) {
        assert!(pair[1] > pair[0], "IWAE must increase with K: {iwae:?}");
    }
    assert!(exact - iwae[0] > 0.5, "IWAE(1) should leave a gap: {iwae:?} vs {exact}");
    assert!(iwae[3] < exact + 0.01 && exact - iwae[3] < 0.1, "IWAE(1000) {} should be just below {exact}", iwae[3]);
}
