//! `pathspace fit`: bad data files and problem files give one clear line; a tiny run writes
//! summary.json with the promised keys.

use std::path::Path;
use std::process::Command;

fn fit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pathspace")).arg("fit").args(args).output().expect("run pathspace")
}

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
