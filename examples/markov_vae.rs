//! The Markov-chain VAE: three Gaussian stages x ↔ h₁ ↔ h₂ ↔ h₃, the same chain type as the
//! VAE with T = 3 kernels each way; prints test ELBO and IWAE.
//!
//! cargo run --release --example markov_vae

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use pathspace::latent::bounds::{elbo, mean_elbo, mean_iwae};
use pathspace::latent::chain::{Chain, GaussianStage, Stage};
use pathspace::latent::data::{dequantise, dequantise_fixed, load_digits, split_digits};
use pathspace::latent::kernels::{GaussianKernelConfig, Variance};
use pathspace::base::noise::Noise;

fn main() -> pathspace::Result<()> {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let (train, _, test) = split_digits(&load_digits("data/digits.csv.gz".as_ref())?);
    let mut noise = Noise::new(1);
    let mut kernel = |d_in, d_out, log_var_init| {
        GaussianKernelConfig { d_in, d_out, hidden: 128, layers: 2, variance: Variance::Network, log_var_init }.init(&mut noise, &ad)
    };
    let mut stages = vec![Stage::Gaussian(GaussianStage { encoder: kernel(64, 8, 0.0), decoder: kernel(8, 64, -3.0) })];
    for _ in 0..2 {
        stages.push(Stage::Gaussian(GaussianStage { encoder: kernel(8, 8, 0.0), decoder: kernel(8, 8, 0.0) }));
    }
    let mut chain = Chain { stages };
    let mut optim = AdamConfig::new().init();
    for it in 0..1500 {
        let x = dequantise(&train, &mut noise).tensor(&(0..100).map(|i| (it * 100 + i) % train.rows).collect::<Vec<_>>(), &ad);
        let loss = -elbo(&chain, x, &mut noise, false).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &chain);
        chain = optim.step(1e-3, chain, grads);
    }
    let (chain, x) = (chain.valid(), dequantise_fixed(&test).all(&device));
    println!("Markov VAE (T = 3): test ELBO {:.2}, IWAE(100) {:.2} nats", mean_elbo(&chain, &x, 500, &mut noise), mean_iwae(&chain, &x, 100, 60, &mut noise));
    Ok(())
}
