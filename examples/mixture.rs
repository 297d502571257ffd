//! A discrete latent: a Gaussian mixture on a ring trained with the exact ELBO, then the
//! encoder-gradient variance of REINFORCE and of NVIL (learned baseline) at that model.
//!
//! cargo run --release --example mixture

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use pathspace::latent::data::ring;
use pathspace::latent::mixture::{GradientEstimator, MixtureConfig, fit_baseline, gradient_moments};
use pathspace::latent::values;
use pathspace::base::noise::Noise;

fn main() {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let mut noise = Noise::new(1);
    let data = ring(2000, 8, 3.0, 1.0, 6, &mut noise);
    let x = data.all(&ad);
    let mut model = MixtureConfig { components: 8, dim: 6, hidden: 32 }.init(&data.values, &mut noise, &ad);
    let mut optim = AdamConfig::new().init();
    for _ in 0..300 {
        let step = model.step(x.clone(), GradientEstimator::Exact, &mut noise);
        let grads = GradientsParams::from_grads(step.loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    let ll = values(model.valid().log_marginal(data.all(&device)));
    println!("exact training: mean log p(x) = {:.4}", ll.iter().sum::<f64>() / ll.len() as f64);
    let xb = x.narrow(0, 0, 100);
    let model = fit_baseline(model, &xb, 200, 1e-2, &mut noise);
    for estimator in [GradientEstimator::Reinforce, GradientEstimator::Nvil] {
        let m = gradient_moments(&model, &xb, estimator, 200, &mut noise);
        println!("{:>9}: encoder-gradient variance {:.4e}", estimator.name(), m.total_variance());
    }
}
