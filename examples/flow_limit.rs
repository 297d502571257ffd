//! The σ → 0 limit on a trained flow: loads the chain from a `fit` run of
//! problems/flow_moons.toml (its checkpoint.bin) and prints, on the first 200 test points, the
//! flow's exact log-likelihood and the IWAE(K) of the Gaussian-kernel model around it
//! (`fit::gaussian_limit`) for σ = 0.1, 0.03, 0.01, 0.003 and K = 100, 1000.
//!
//! cargo run --release --example flow_limit -- RUN_DIR   (e.g. runs/flow_moons)

use pathspace::io::run::RunCheckpoint;
use burn::module::Module;
use burn::tensor::Device;
use pathspace::latent::bounds::{mean_elbo, mean_iwae};
use pathspace::latent::checkpoint::FitCheckpoint;
use pathspace::latent::config::FitProblem;
use pathspace::latent::train::{chain_template, gaussian_limit, load_splits};
use pathspace::base::noise::Noise;
use std::path::PathBuf;

fn main() -> pathspace::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "runs/flow_moons".into()));
    let device = Device::flex();
    let problem = FitProblem::load("problems/flow_moons.toml".as_ref())?;
    let splits = load_splits(&problem)?;
    let path = FitCheckpoint::path_in(&dir);
    let chain = FitCheckpoint::read(&path)?.into_training(&path, chain_template(&problem, &splits, &device))?.chain.valid();
    let test = splits.test.all(&device).narrow(0, 0, 200);
    let mut noise = Noise::new(5);
    let flow = mean_elbo(&chain, &test, 500, &mut noise);
    println!("flow: exact log-likelihood {flow:.5} nats (first 200 test points)");
    for sigma in [0.1, 0.03, 0.01, 0.003] {
        let limit = gaussian_limit(&chain, sigma, 1.0, 2, &device).expect("a flow chain");
        for k in [100, 1000] {
            let v = mean_iwae(&limit, &test, k, 50, &mut noise);
            println!("σ = {sigma:<5}  IWAE({k:>4}) {v:.5}  minus flow {:+.5}", v - flow);
        }
    }
    Ok(())
}
