//! `pathspace fit` with a diffusion chain (issue 18): on two moons a short run raises the
//! validation ELBO, writes samples and the bounds, and a resumed run equals the uninterrupted
//! one (the fixed schedule is rebuilt from the problem file, the networks from the checkpoint).

mod common;

use common::{assert_resume_matches, fit, fit_ok as ok, summary_json, validation_elbos};

const MOONS: &str = "name = \"dm\"\n[data]\nkind = \"moons\"\ntrain = 500\ntest = 100\n[model]\nkind = \"diffusion\"\nsteps = 10\nhidden = 32\nlayers = 2\ntrain_terms = 2\n[train]\niterations = 150\nbatch = 64\nlr = 3e-3\nvalidate_every = 50\ncheckpoint_every = 1000\n[eval]\niwae_k = 4\n";

#[test]
fn diffusion_on_moons_learns_and_writes_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dm.toml");
    std::fs::write(&p, MOONS).unwrap();
    let out = dir.path().join("run");
    ok(fit(&[p.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    let valid = validation_elbos(&out);
    assert_eq!(valid.len(), 3);
    assert!(valid[2] > valid[0] + 0.3, "validation ELBO does not rise: {valid:?}");
    let s = summary_json(&out);
    assert_eq!(s["model"], "diffusion");
    let (elbo, iwae) = (s["test_elbo"].as_f64().unwrap(), s["test_iwae"].as_f64().unwrap());
    assert!(elbo.is_finite() && iwae.is_finite() && elbo < 0.0, "{elbo} {iwae}");
    let file = hdf5_pure::File::open(out.join("run.h5")).unwrap();
    let samples = file.dataset("samples/x").unwrap();
    assert_eq!(samples.shape().unwrap(), vec![2000, 2]);
    let v = samples.read_f64().unwrap();
    assert!(v.iter().all(|x| x.is_finite()));
    // Samples lie where the moons are: within the test data's bounding box (the fit's test
    // set, seed 13), widened by 0.25, for 90 % of them.
    let test = pathspace::latent::data::two_moons(100, 0.05, &mut pathspace::base::noise::Noise::new(13));
    let range = |i: usize| {
        let c = test.values.iter().skip(i).step_by(2);
        (c.clone().fold(f64::INFINITY, |a, &b| a.min(b)) - 0.25, c.fold(f64::NEG_INFINITY, |a, &b| a.max(b)) + 0.25)
    };
    let (x, y) = (range(0), range(1));
    let inside = v.chunks(2).filter(|p| (x.0..x.1).contains(&p[0]) && (y.0..y.1).contains(&p[1])).count();
    assert!(inside > 1800, "{inside} of 2000 samples within {x:?} × {y:?}");
    assert!(out.join("samples.png").exists());
}

/// The continuous-time form learns too, reports no IWAE (null) and its samples are finite.
#[test]
fn continuous_time_diffusion_learns_and_reports_no_iwae() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dmc.toml");
    // Continuous time learns more slowly per iteration here: 450 iterations, validated every 150.
    std::fs::write(&p, MOONS.replace("train_terms = 2", "train_terms = 2\ncontinuous = true").replace("iterations = 150", "iterations = 450").replace("validate_every = 50", "validate_every = 150")).unwrap();
    let out = dir.path().join("run");
    let o = fit(&[p.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    ok(o);
    assert!(stdout.contains("no IWAE (continuous time)"));
    let valid = validation_elbos(&out);
    // Every validation reuses the same points and noise draws, so the differences are paired:
    // a steady rise of 0.1 nats is far outside their noise.
    assert!(valid[1] > valid[0] && valid[2] > valid[1] && valid[2] > valid[0] + 0.1, "validation ELBO does not rise: {valid:?}");
    let s = summary_json(&out);
    assert!(s["test_iwae"].is_null() && s["test_elbo"].as_f64().unwrap().is_finite(), "{s}");
    let file = hdf5_pure::File::open(out.join("run.h5")).unwrap();
    assert!(file.dataset("samples/x").unwrap().read_f64().unwrap().iter().all(|x| x.is_finite()));
}

#[test]
fn resumed_diffusion_fit_equals_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dm.toml");
    std::fs::write(&p, MOONS.replace("iterations = 150", "iterations = 12").replace("checkpoint_every = 1000", "checkpoint_every = 4")).unwrap();
    assert_resume_matches(dir.path(), &p, 6, &["test_elbo", "test_iwae"]);
}
