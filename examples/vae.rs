//! The VAE as a one-stage chain: q(z|x) and p(x|z) Gaussian kernels with MLP means and
//! diagonal variances, trained on the ELBO of dequantised digits; prints test ELBO and IWAE.
//!
//! cargo run --release --example vae

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
    let kernel = |d_in, d_out, log_var_init, noise: &mut Noise| {
        GaussianKernelConfig { d_in, d_out, hidden: 128, layers: 2, variance: Variance::Network, log_var_init }.init(noise, &ad)
    };
    let stage = GaussianStage { encoder: kernel(64, 8, 0.0, &mut noise), decoder: kernel(8, 64, -3.0, &mut noise) };
    let mut chain = Chain { stages: vec![Stage::Gaussian(stage)] };
    let mut optim = AdamConfig::new().init();
    for it in 0..1500 {
        let x = dequantise(&train, &mut noise).tensor(&(0..100).map(|i| (it * 100 + i) % train.rows).collect::<Vec<_>>(), &ad);
        let loss = -elbo(&chain, x, &mut noise, true).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &chain);
        chain = optim.step(1e-3, chain, grads);
    }
    let (chain, x) = (chain.valid(), dequantise_fixed(&test).all(&device));
    println!("VAE on digits: test ELBO {:.2}, IWAE(100) {:.2} nats", mean_elbo(&chain, &x, 500, &mut noise), mean_iwae(&chain, &x, 100, 60, &mut noise));
    Ok(())
}
