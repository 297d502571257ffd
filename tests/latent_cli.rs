//! `pathspace fit`: bad data files and problem files give one clear line; a tiny run writes
//! summary.json with the promised keys.

mod common;

use pathspace::io::run::RunCheckpoint;
use common::{fit, summary_json};
use std::path::Path;
use std::process::Command;

fn problem(dir: &Path, data: &Path, extra: &str) -> std::path::PathBuf {
    let p = dir.join("p.toml");
    let text = format!(
        "name = \"t\"\n[data]\nkind = \"digits\"\nfile = \"{}\"\n[model]\nkind = \"vae\"\nlatent = 2\nhidden = 16\n{extra}[train]\niterations = 20\nbatch = 50\nvalidate_every = 10\n[eval]\niwae_k = 5\n",
        data.display()
    );
    std::fs::write(&p, text).unwrap();
    p
}

fn stderr_line(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected failure");
    let s = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(s.trim_end().lines().count(), 1, "one line expected, got {s:?}");
    s
}

#[test]
fn wrong_column_count_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bad.csv");
    let good = format!("{}3\n", "0,".repeat(64));
    std::fs::write(&data, format!("{good}{good}1,2,3\n")).unwrap();
    let s = stderr_line(&fit(&[problem(dir.path(), &data, "").to_str().unwrap()]));
    assert!(s.contains("bad.csv") && s.contains("line 3") && s.contains("expected 65 columns"), "{s}");
}

#[test]
fn non_numeric_value_is_reported_with_column() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bad.csv");
    std::fs::write(&data, format!("{}x,3\n", "0,".repeat(63))).unwrap();
    let s = stderr_line(&fit(&[problem(dir.path(), &data, "").to_str().unwrap()]));
    assert!(s.contains("line 1") && s.contains("column 64") && s.contains("not a number"), "{s}");
}

#[test]
fn unknown_model_key_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv.gz");
    let s = stderr_line(&fit(&[problem(dir.path(), &data, "colour = 3\n").to_str().unwrap()]));
    assert!(s.contains("p.toml") && s.contains("colour"), "{s}");
}

#[test]
fn tiny_digits_run_writes_summary_with_required_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv.gz");
    let p = problem(dir.path(), &data, "");
    let out = dir.path().join("run");
    let o = fit(&[p.to_str().unwrap(), "--out", out.to_str().unwrap(), "--seed", "3"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in ["test_elbo", "test_iwae", "iwae_k", "wall_seconds", "ppca_test_loglik"] {
        assert!(s[key].is_number(), "summary.json lacks {key}: {s}");
    }
    assert_eq!(s["iwae_k"], 5);
    assert!(s["test_iwae"].as_f64().unwrap() >= s["test_elbo"].as_f64().unwrap() - 1.0);
    let csv = std::fs::read_to_string(out.join("training.csv")).unwrap();
    assert_eq!(csv.lines().count(), 21, "header and 20 rows");
    for f in ["samples.png", "latent.png", "curves.png", "run.h5"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
}

#[test]
fn same_seed_gives_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv.gz");
    let p = problem(dir.path(), &data, "");
    let summary = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let o = fit(&[p.to_str().unwrap(), "--out", out.to_str().unwrap(), "--seed", seed]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        (s["test_elbo"].as_f64().unwrap(), s["test_iwae"].as_f64().unwrap())
    };
    let a = summary("a", "4");
    assert_eq!(a, summary("b", "4"), "same seed, different numbers");
    assert_ne!(a, summary("c", "5"), "a different seed should change the numbers");
}

/// training.csv without the wall-clock column.
fn curve_without_seconds(dir: &Path) -> Vec<String> {
    let csv = std::fs::read_to_string(dir.join("training.csv")).unwrap();
    csv.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect()
}

#[test]
fn resumed_fit_equals_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv.gz");
    // An SDE VAE: the stage with the most state (encoder, two drift networks, decoder).
    let p = problem(dir.path(), &data, "").to_str().unwrap().to_string();
    let text = std::fs::read_to_string(&p).unwrap().replace("kind = \"vae\"", "kind = \"sde_vae\"\nsteps = 2").replace("batch = 50", "batch = 50\ncheckpoint_every = 4");
    std::fs::write(&p, text).unwrap();
    let (full, part) = (dir.path().join("full"), dir.path().join("part"));
    let ok = |o: std::process::Output| assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ok(fit(&[&p, "--out", full.to_str().unwrap()]));
    ok(fit(&[&p, "--out", part.to_str().unwrap(), "--iterations", "10"]));
    assert_eq!(curve_without_seconds(&part).len(), 11, "header and 10 rows");
    let ck = pathspace::latent::checkpoint::FitCheckpoint::read(&part.join("checkpoint.bin")).unwrap();
    assert_eq!((ck.iteration, ck.rows.len()), (10, 10));
    ok(fit(&[&p, "--resume", part.to_str().unwrap()]));
    assert_eq!(curve_without_seconds(&full), curve_without_seconds(&part), "training.csv (all but seconds)");
    let (a, b) = (summary_json(&full), summary_json(&part));
    for key in ["test_elbo", "test_iwae", "ppca_test_loglik"] {
        assert_eq!(a[key].as_f64().unwrap().to_bits(), b[key].as_f64().unwrap().to_bits(), "{key}: {} vs {}", a[key], b[key]);
    }
    // A checkpoint of another problem, or a damaged one, is refused with one line.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, std::fs::read_to_string(&p).unwrap().replace("hidden = 16", "hidden = 17")).unwrap();
    let s = stderr_line(&fit(&[other.to_str().unwrap(), "--resume", part.to_str().unwrap()]));
    assert!(s.contains("checkpoint.bin") && s.contains("different problem"), "{s}");
    let bytes = std::fs::read(part.join("checkpoint.bin")).unwrap();
    std::fs::write(part.join("checkpoint.bin"), &bytes[..bytes.len() / 2]).unwrap();
    let s = stderr_line(&fit(&[&p, "--resume", part.to_str().unwrap()]));
    assert!(s.contains("checkpoint.bin") && s.contains("checksum"), "{s}");
}

#[test]
fn sigint_stops_a_fit_with_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv.gz");
    let p = problem(dir.path(), &data, "").to_str().unwrap().to_string();
    let text = std::fs::read_to_string(&p).unwrap().replace("iterations = 20", "iterations = 100000").replace("batch = 50", "batch = 50\ncheckpoint_every = 100000");
    std::fs::write(&p, text).unwrap();
    let out = dir.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_pathspace")).args(["fit", &p, "--out", out.to_str().unwrap()]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // The run directory exists once the data are loaded; give training a moment to start.
    let t0 = std::time::Instant::now();
    while !out.exists() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    // Interrupted in training, and reported so (it said "during evaluation" before).
    assert!(stderr.contains("during training"), "{stderr}");
    assert!(!out.join("summary.json").exists());
    let ck = pathspace::latent::checkpoint::FitCheckpoint::read(&out.join("checkpoint.bin")).unwrap();
    assert!(ck.iteration > 0 && ck.iteration < 100000, "stopped at {}", ck.iteration);
    assert_eq!(curve_without_seconds(&out).len(), ck.iteration + 1, "training.csv up to the checkpoint");
}

/// run.h5 of a fit holds /evaluation (per-example ELBO and IWAE, means, errors, K, PPCA, units),
/// /samples and /latent (with the digits' labels), consistent with summary.json.
#[test]
fn fit_run_h5_holds_evaluation_samples_and_latent() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv.gz");
    let p = problem(dir.path(), &data, "");
    let out = dir.path().join("run");
    let o = fit(&[p.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary_json(&out);
    let h5 = out.join("run.h5");
    let file = hdf5_pure::File::open(&h5).unwrap();
    let attrs = file.group("evaluation").unwrap().attrs().unwrap();
    let attr = |k: &str| attrs.get(k).and_then(|v| v.as_f64()).unwrap_or_else(|| panic!("/evaluation@{k} missing"));
    let per = |k: &str| file.dataset(k).unwrap().read_f64().unwrap();
    let (elbo, iwae) = (per("evaluation/elbo"), per("evaluation/iwae"));
    let n = s["test_examples"].as_u64().unwrap() as usize;
    assert_eq!((elbo.len(), iwae.len()), (n, n));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!((mean(&elbo) - s["test_elbo"].as_f64().unwrap()).abs() < 1e-9);
    assert!((attr("test_iwae") - s["test_iwae"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(attr("ppca_test_loglik"), s["ppca_test_loglik"].as_f64().unwrap());
    assert_eq!(attrs.get("iwae_k").and_then(|v| v.as_u64()), Some(5));
    assert_eq!(attrs.get("units").and_then(|v| v.as_str()), Some("nats per example"));
    let sd = (elbo.iter().map(|e| (e - mean(&elbo)).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
    assert!((attr("test_elbo_error") - sd / (n as f64).sqrt()).abs() < 1e-9 && attr("test_elbo_error") > 0.0);
    let samples = file.dataset("samples/x").unwrap();
    assert_eq!(samples.shape().unwrap(), vec![100, 64]);
    assert!(samples.read_f64().unwrap().iter().all(|v| v.is_finite()));
    assert_eq!(file.dataset("latent/mean").unwrap().shape().unwrap(), vec![n as u64, 2]);
    let labels = file.dataset("latent/label").unwrap().read_i64().unwrap();
    assert_eq!(labels.len(), n);
    assert!(labels.iter().all(|l| (0..10).contains(l)) && labels.iter().any(|l| *l != labels[0]));

    let probe = Command::new("python3").args(["-c", "import h5py"]).output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("SKIPPED the h5py part of fit_run_h5_holds_evaluation_samples_and_latent: python3 with h5py is not available");
        return;
    }
    let script = r#"
import sys, json, struct, h5py
f = h5py.File(sys.argv[1], "r")
e = f["evaluation"]
bits = lambda x: struct.unpack("<Q", struct.pack("<d", float(x)))[0]  # exact through JSON
print(json.dumps({
  "attrs": {k: (v.decode() if isinstance(v, bytes) else (v.item() if hasattr(v, "item") else v)) for k, v in e.attrs.items()},
  "bits": {k: bits(e.attrs[k]) for k in ["test_iwae", "test_iwae_error", "test_elbo"]},
  "iwae": [bits(v) for v in e["iwae"][()]],
  "samples": list(f["samples/x"].shape), "latent": list(f["latent/mean"].shape),
  "labels": [int(v) for v in f["latent/label"][()]],
  "description": f["latent/mean"].attrs["description"] if isinstance(f["latent/mean"].attrs["description"], str) else f["latent/mean"].attrs["description"].decode(),
  "groups": sorted(f.keys()),
}))
"#;
    let o = Command::new("python3").arg("-c").arg(script).arg(&h5).output().unwrap();
    assert!(o.status.success(), "h5py: {}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["groups"], serde_json::json!(["evaluation", "latent", "samples", "training"]));
    assert_eq!(v["attrs"]["units"], "nats per example");
    assert_eq!(v["attrs"]["iwae_k"], 5);
    let from_bits = |x: &serde_json::Value| f64::from_bits(x.as_u64().unwrap());
    for k in ["test_iwae", "test_iwae_error", "test_elbo"] {
        assert_eq!(from_bits(&v["bits"][k]), attr(k), "/evaluation@{k}");
    }
    let iwae_py: Vec<f64> = v["iwae"].as_array().unwrap().iter().map(from_bits).collect();
    assert_eq!(iwae_py, iwae);
    assert_eq!(v["samples"], serde_json::json!([100, 64]));
    assert_eq!(v["latent"], serde_json::json!([n, 2]));
    assert_eq!(v["labels"].as_array().unwrap().len(), n);
    assert!(v["description"].as_str().unwrap().contains("encoder means"));
}

/// A mixture run's run.h5: the exact-trained model's per-point bounds, every method's numbers
/// as /evaluation attributes, samples, and q(c | x) as /latent/mean (rows sum to 1).
#[test]
fn mixture_run_h5_holds_every_method() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.toml");
    std::fs::write(&p, "name = \"m\"\n[data]\nkind = \"ring\"\ntrain = 200\ntest = 50\nmodes = 4\n[model]\nkind = \"mixture\"\ncomponents = 4\nhidden = 8\n[train]\niterations = 20\nbatch = 32\nlr = 1e-2\n[eval]\niwae_k = 5\ngradient_repeats = 5\n").unwrap();
    let out = dir.path().join("run");
    let o = fit(&[p.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary_json(&out);
    let file = hdf5_pure::File::open(out.join("run.h5")).unwrap();
    let attrs = file.group("evaluation").unwrap().attrs().unwrap();
    let attr = |k: &str| attrs.get(k).and_then(|v| v.as_f64()).unwrap_or_else(|| panic!("/evaluation@{k} missing"));
    for (i, m) in ["exact", "reinforce", "nvil", "relaxed"].iter().enumerate() {
        assert_eq!(attr(&format!("{m}_test_loglik")), s["methods"][i]["test_loglik"].as_f64().unwrap());
        assert_eq!(attr(&format!("{m}_test_loglik_minus_exact")), s["methods"][i]["test_loglik_minus_exact"].as_f64().unwrap());
    }
    assert_eq!(attr("exact_test_loglik_minus_exact"), 0.0);
    assert!((attr("test_iwae") - s["test_iwae"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(attr("true_test_loglik"), s["true_test_loglik"].as_f64().unwrap());
    let q = file.dataset("latent/mean").unwrap();
    assert_eq!(q.shape().unwrap(), vec![50, 4]);
    for row in q.read_f64().unwrap().chunks(4) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5, "q(c | x) sums to {}", row.iter().sum::<f64>());
    }
    assert_eq!(file.dataset("samples/x").unwrap().shape().unwrap(), vec![2000, 2]);
    assert_eq!(file.dataset("latent/label").unwrap().read_i64().unwrap().len(), 50);
}
