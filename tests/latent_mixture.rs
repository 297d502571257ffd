//! Discrete latents: the score-function estimators (plain REINFORCE and NVIL's learned
//! baseline) are unbiased for the exact ELBO gradient of a small mixture (4 overlapping
//! Gaussians on a ring in 6 dimensions), and the baseline cuts the variance by at least 10×.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, FloatDType};
use pathspace::latent::data::ring;
use pathspace::latent::mixture::{GradientEstimator, MixtureConfig, fit_baseline, gradient_moments};
use pathspace::base::noise::Noise;

#[test]
fn reinforce_and_nvil_match_the_exact_gradient_and_nvil_has_lower_variance() {
    let mut plain = Device::flex();
    let _ = plain.configure(FloatDType::F64);
    let mut ad = plain.clone().autodiff();
    let _ = ad.configure(FloatDType::F64);
    let mut noise = Noise::new(1);
    let data = ring(400, 4, 3.0, 1.0, 6, &mut noise);
    let x = data.all(&ad);
    let mut model = MixtureConfig { components: 4, dim: 6, hidden: 8 }.init(&data.values, &mut noise, &ad);
    // A partly trained model (exact ELBO), as during training.
    let mut optim = AdamConfig::new().init();
    for _ in 0..100 {
        let step = model.step(x.clone(), GradientEstimator::Exact, &mut noise);
        let grads = GradientsParams::from_grads(step.loss.backward(), &model);
        model = optim.step(0.03, model, grads);
    }
    let batch = pathspace::latent::data::Dataset { values: data.values[..6 * 32].to_vec(), rows: 32, dim: 6, labels: Vec::new() };
    let xb = batch.all(&ad);
    let model = fit_baseline(model, &xb, 300, 0.02, &mut noise);
    let exact = gradient_moments(&model, &xb, GradientEstimator::Exact, 2, &mut noise).mean;
    let repeats = 1500;
    let reinforce = gradient_moments(&model, &xb, GradientEstimator::Reinforce, repeats, &mut noise);
    let nvil = gradient_moments(&model, &xb, GradientEstimator::Nvil, repeats, &mut noise);
    for m in [&reinforce, &nvil] {
        let worst = exact
            .iter()
            .zip(&m.mean)
            .zip(&m.variance)
            .map(|((e, g), v)| (g - e).abs() / (v / repeats as f64).sqrt().max(1e-12))
            .fold(0.0, f64::max);
        assert!(worst < 4.5, "a gradient component is {worst:.1} standard errors from the exact one");
    }
    let ratio = reinforce.total_variance() / nvil.total_variance();
    println!("encoder-gradient variance: REINFORCE {:.4e}, NVIL {:.4e}, ratio {ratio:.1}", reinforce.total_variance(), nvil.total_variance());
    assert!(ratio >= 10.0, "NVIL variance reduction only {ratio:.1}×");
    // The Gumbel-softmax relaxation is biased but reparameterised: far less variance than REINFORCE.
    let relaxed = gradient_moments(&model, &xb, GradientEstimator::Relaxed, 300, &mut noise);
    println!("relaxed (τ = 0.5) encoder-gradient variance {:.4e}", relaxed.total_variance());
    assert!(relaxed.total_variance() < reinforce.total_variance() / 10.0, "relaxed variance {}", relaxed.total_variance());
    let _ = model.valid();
}
