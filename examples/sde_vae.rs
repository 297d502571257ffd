//! The SDE VAE: z₀ ~ q(z₀|x), posterior SDE dz = (w + g(z, x)) dt + dW against the prior SDE
//! dz = w dt + dW on [0, 1] (8 Euler–Maruyama steps, Girsanov KL ∫½|g|² dt), decoder p(x|z₁).
//!
//! cargo run --release --example sde_vae

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use pathspace::latent::bounds::{elbo, mean_elbo, mean_iwae};
use pathspace::latent::chain::{Chain, SdeStage, Stage};
use pathspace::latent::data::{dequantise, dequantise_fixed, load_digits, split_digits};
use pathspace::latent::kernels::{GaussianKernelConfig, SdeSegmentConfig, Variance};
use pathspace::base::noise::Noise;

fn main() -> pathspace::Result<()> {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let (train, _, test) = split_digits(&load_digits("data/digits.csv.gz".as_ref())?);
    let mut noise = Noise::new(1);
    let mut kernel = |d_in, d_out, log_var_init| {
        GaussianKernelConfig { d_in, d_out, hidden: 128, layers: 2, variance: Variance::Network, log_var_init }.init(&mut noise, &ad)
    };
    let (encoder, decoder) = (kernel(64, 8, 0.0), kernel(8, 64, -3.0));
    let segment = SdeSegmentConfig { dim: 8, context: 64, hidden: 128, steps: 8, horizon: 1.0 }.init(&mut noise, &ad);
    let mut chain = Chain { stages: vec![Stage::Sde(SdeStage { encoder, segment, decoder })] };
    let mut optim = AdamConfig::new().init();
    for it in 0..1000 {
        let x = dequantise(&train, &mut noise).tensor(&(0..100).map(|i| (it * 100 + i) % train.rows).collect::<Vec<_>>(), &ad);
        let loss = -elbo(&chain, x, &mut noise, false).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &chain);
        chain = optim.step(1e-3, chain, grads);
    }
    let (chain, x) = (chain.valid(), dequantise_fixed(&test).all(&device));
    println!("SDE VAE: test ELBO {:.2}, IWAE(100) {:.2} nats", mean_elbo(&chain, &x, 500, &mut noise), mean_iwae(&chain, &x, 100, 60, &mut noise));
    Ok(())
}
