//! Bad input to the binary: a one-line error naming the file, the line and the key; a non-zero
//! exit code; no panic; no output directory left behind.

use std::path::PathBuf;
use std::process::Command;

fn solve(text: &str, name: &str) -> (i32, String, PathBuf) {
    let dir = tempfile::tempdir().unwrap().keep();
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_pathspace"))
        .args(["solve", file.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned(), out)
}

fn assert_one_line_error(text: &str, name: &str, expected: &[&str]) {
    let (code, stderr, out) = solve(text, name);
    assert_ne!(code, 0, "{name}: should fail");
    assert_ne!(code, 101, "{name}: panicked: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: not one line: {stderr}");
    assert!(stderr.contains(&format!("{name}.toml")), "{name}: no file name in: {stderr}");
    for e in expected {
        assert!(stderr.contains(e), "{name}: expected {e:?} in: {stderr}");
    }
    assert!(!out.exists(), "{name}: output left behind");
}

const GOOD_HEAD: &str = "[system]\nkind = \"harmonic\"\n";

#[test]
fn malformed_toml() {
    assert_one_line_error("[system\nkind = \"harmonic\"\n", "malformed", &["line 1"]);
}

#[test]
fn unknown_key() {
    assert_one_line_error(&format!("{GOOD_HEAD}[sde]\ndt = 0.01\nstepz = 10\n"), "unknown_key", &["line 5", "sde.stepz", "unknown field"]);
}

#[test]
fn wrong_type() {
    assert_one_line_error(&format!("{GOOD_HEAD}[train]\nwalkers = \"many\"\n"), "wrong_type", &["line 4", "train.walkers"]);
}

#[test]
fn non_positive_dt_walkers_steps() {
    assert_one_line_error(&format!("{GOOD_HEAD}[sde]\ndt = -0.01\n"), "negative_dt", &["line 4", "sde.dt", "positive"]);
    assert_one_line_error(&format!("{GOOD_HEAD}[train]\nwalkers = 0\n"), "zero_walkers", &["line 4", "train.walkers", "positive"]);
    assert_one_line_error(&format!("{GOOD_HEAD}[sde]\nsteps = 0\n"), "zero_steps", &["line 4", "sde.steps", "positive"]);
}

#[test]
fn unknown_kinds() {
    assert_one_line_error("[system]\nkind = \"helium-ish\"\n", "unknown_system", &["line 2", "system.kind"]);
    assert_one_line_error(&format!("{GOOD_HEAD}[drift]\nkind = \"transformer\"\n"), "unknown_drift", &["line 4", "drift.kind"]);
    assert_one_line_error(&format!("{GOOD_HEAD}[sde]\nintegrator = \"rk4\"\n"), "unknown_integrator", &["line 4", "sde.integrator"]);
}

#[test]
fn bad_convergence_keys() {
    assert_one_line_error(&format!("{GOOD_HEAD}[train]\nplateau_window = 2\n"), "small_window", &["line 4", "train.plateau_window", "at least 3"]);
    assert_one_line_error(&format!("{GOOD_HEAD}[train]\nmonitor_every = 0\n"), "zero_monitor", &["line 4", "train.monitor_every", "positive"]);
    assert_one_line_error(&format!("{GOOD_HEAD}[train]\nclip_grad = -1.0\n"), "negative_clip", &["line 4", "train.clip_grad", "positive"]);
    assert_one_line_error(&format!("{GOOD_HEAD}[train]\nmin_iterations = 10\n"), "min_without_stop", &["line 4", "train.min_iterations", "stop_on_plateau"]);
    assert_one_line_error(
        &format!("{GOOD_HEAD}[train]\niterations = 50\nstop_on_plateau = true\nmin_iterations = 100\n"),
        "min_above_limit",
        &["line 6", "train.min_iterations", "train.iterations = 50"],
    );
}

#[test]
fn too_many_electrons() {
    let text = "[system]\nkind = \"molecule\"\nelectrons = 4\nnuclei = [ { charge = 2.0, position = [0.0, 0.0, 0.0] } ]\n";
    assert_one_line_error(text, "lithium", &["line 3", "system.electrons", "fermion"]);
}

#[test]
fn missing_system_and_unreadable_file() {
    assert_one_line_error("name = \"x\"\n", "no_system", &["system"]);
    let o = Command::new(env!("CARGO_BIN_EXE_pathspace")).args(["solve", "/nonexistent/problem.toml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0));
    assert_ne!(o.status.code(), Some(101));
    assert!(stderr.contains("/nonexistent/problem.toml") && stderr.trim_end().lines().count() == 1, "{stderr}");
    // The io error is said once, not repeated by the error chain.
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
}
