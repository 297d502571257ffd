//! `pathspace fit` on time series (issue 18): a latent SDE on generated Ornstein–Uhlenbeck
//! series learns (the validation ELBO rises), writes run.h5's /series with the promised shapes
//! (read back by h5py where it is installed), posterior.png and prior.png; a killed-and-resumed
//! run equals the uninterrupted one; a user's CSV with irregular times and missing values fits,
//! and the missing values are not counted as observations.

mod common;

use common::{assert_resume_matches, fit, fit_ok as ok, summary_json, validation_elbos};
use std::process::Command;

const OU: &str = "name = \"ou\"\n[data]\nkind = \"ou\"\ntrain = 64\ntest = 16\nobservations = 21\nduration = 1.0\nnoise = 0.05\n[model]\nkind = \"latent_sde\"\nlatent = 2\ncontext = 4\nhidden = 16\ndt = 0.02\n[train]\niterations = 80\nbatch = 32\nlr = 1e-2\nvalidate_every = 20\ncheckpoint_every = 1000\n[eval]\niwae_k = 4\n";

#[test]
fn ou_latent_sde_learns_and_writes_series_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ou.toml");
    std::fs::write(&p, OU).unwrap();
    let out = dir.path().join("run");
    let o = fit(&[p.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    ok(o);
    assert!(stdout.contains("per observed time point"), "{stdout}");
    let curve = validation_elbos(&out);
    assert_eq!(curve.len(), 4);
    // 21 observations per series: the ELBO per series rises by far more than its noise.
    assert!(curve[3] > curve[0] + 5.0, "validation ELBO does not rise: {curve:?}");
    let s = summary_json(&out);
    assert_eq!(s["model"], "latent_sde");
    assert_eq!(s["observations_per_series"].as_f64(), Some(21.0));
    let per = s["test_elbo_per_observation"].as_f64().unwrap();
    assert!((per - s["test_elbo"].as_f64().unwrap() / 21.0).abs() < 1e-9, "{per}");
    assert!(s["test_elbo_per_observation_stderr"].as_f64().unwrap() > 0.0);
    assert!(s["seconds_per_iteration"].as_f64().unwrap() > 0.0);
    let test_csv = pathspace::latent::series_data::load_csv(&out.join("series_test.csv")).unwrap();
    assert_eq!((test_csv.values.len(), test_csv.layout.times.len(), test_csv.layout.dim), (16, 21, 1));
    for f in ["posterior.png", "prior.png", "curves.png", "run.h5", "checkpoint.bin", "series_train.csv"] {
        assert!(out.join(f).exists(), "{f} missing");
    }

    let h5 = out.join("run.h5");
    let file = hdf5_pure::File::open(&h5).unwrap();
    let shape = |k: &str| file.dataset(k).unwrap().shape().unwrap();
    // dt = 0.02 and observations 0.05 apart: 3 steps between observations, 20 intervals.
    let m = 61;
    assert_eq!(shape("series/times"), vec![21]);
    assert_eq!(shape("series/grid_times"), vec![m]);
    assert_eq!(shape("series/test_observations"), vec![16, 21, 1]);
    assert_eq!(shape("series/posterior_paths"), vec![8, 16, m, 1]);
    assert_eq!(shape("series/prior_paths"), vec![64, m, 1]);
    let grid = file.dataset("series/grid_times").unwrap().read_f64().unwrap();
    assert!((grid[0] - 0.0).abs() < 1e-12 && (grid[m as usize - 1] - 1.0).abs() < 1e-12);
    let posterior = file.dataset("series/posterior_paths").unwrap().read_f64().unwrap();
    assert!(posterior.iter().all(|v| v.is_finite()));
    let attrs = file.group("series").unwrap().attrs().unwrap();
    assert_eq!(attrs.get("test_elbo_per_observation").and_then(|v| v.as_f64()), Some(per));

    let probe = Command::new("python3").args(["-c", "import h5py"]).output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("SKIPPED the h5py part of ou_latent_sde_learns_and_writes_series_outputs: python3 with h5py is not available");
        return;
    }
    let script = r#"
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
s = f["series"]
print(json.dumps({k: list(s[k].shape) for k in s.keys()} | {"per": float(s.attrs["test_elbo_per_observation"]), "groups": sorted(f.keys())}))
"#;
    let o = Command::new("python3").arg("-c").arg(script).arg(&h5).output().unwrap();
    assert!(o.status.success(), "h5py: {}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["posterior_paths"], serde_json::json!([8, 16, m, 1]));
    assert_eq!(v["test_observations"], serde_json::json!([16, 21, 1]));
    assert_eq!(v["per"].as_f64(), Some(per));
    assert_eq!(v["groups"], serde_json::json!(["evaluation", "latent", "samples", "series", "training"]));
}

#[test]
fn resumed_series_fit_equals_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ou.toml");
    std::fs::write(&p, OU.replace("iterations = 80", "iterations = 12").replace("checkpoint_every = 1000", "checkpoint_every = 4")).unwrap();
    assert_resume_matches(dir.path(), &p, 6, &["test_elbo", "test_iwae", "test_elbo_per_observation"]);
}

#[test]
fn csv_series_with_irregular_times_and_missing_values_fit() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("series,t,x,y\n");
    for s in 0..10 {
        for (k, t) in [0.0, 0.1, 0.25, 0.3, 0.7, 1.0].iter().enumerate() {
            if s % 3 == 0 && k == 2 {
                continue; // no row: missing
            }
            let (x, y) = ((s as f64 + t).sin(), (2.0 * t) - s as f64 * 0.1);
            if s % 4 == 1 && k == 4 {
                csv.push_str(&format!("{s},{t},,{y}\n")); // an empty cell: missing
            } else {
                csv.push_str(&format!("{s},{t},{x},{y}\n"));
            }
        }
    }
    std::fs::write(dir.path().join("mine.csv"), csv).unwrap();
    let p = dir.path().join("mine.toml");
    std::fs::write(&p, "name = \"mine\"\n[data]\nkind = \"series\"\nfile = \"mine.csv\"\n[model]\nkind = \"latent_sde\"\nlatent = 2\ncontext = 3\nhidden = 8\ndt = 0.05\n[train]\niterations = 5\nbatch = 4\n[eval]\niwae_k = 2\n").unwrap();
    let out = dir.path().join("run");
    ok(fit(&[p.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    let s = summary_json(&out);
    // Test series are 4 and 9 (every 5th): 4 has all 6; 9 has no row at t = 0.25 (9 % 3 == 0)
    // and an empty cell at t = 0.7 (9 % 4 == 1) → 4. Mean 5.
    assert_eq!(s["test_examples"].as_u64(), Some(2));
    assert_eq!(s["observations_per_series"].as_f64(), Some(5.0));
    let file = hdf5_pure::File::open(out.join("run.h5")).unwrap();
    assert_eq!(file.dataset("series/times").unwrap().read_f64().unwrap(), vec![0.0, 0.1, 0.25, 0.3, 0.7, 1.0]);
    let obs = file.dataset("series/test_observations").unwrap().read_f64().unwrap();
    // Series 9 at t = 0.25 (k = 2) is NaN in both coordinates.
    assert!(obs[(6 + 2) * 2].is_nan() && obs[(6 + 2) * 2 + 1].is_nan(), "{obs:?}");
}
