//! The preflight time-step check (src/quantum/preflight.rs, issue 36): a copy of
//! problems/h2.toml with only the nucleus changed to Z = 3 (Li⁺) is refused before training,
//! naming the file and `dmc.dt` with a time step to use, and leaves no run directory; every
//! shipped problem file with Metropolis DMC passes the check.

use pathspace::base::device::Precision;
use pathspace::quantum::preflight::{SUGGESTED_ACCEPTANCE, check_dmc_time_step, untrained_acceptance};
use pathspace::quantum::problem::Problem;
use pathspace::quantum::trust::MIN_ACCEPTANCE;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn device() -> burn::tensor::Device {
    let mut device = burn::tensor::Device::flex();
    Precision::F64.configure(&mut device).unwrap();
    device
}

/// problems/h2.toml with its two protons replaced by one nucleus of charge `z`.
fn ion(z: f64, dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("problems/h2.toml")).unwrap();
    let start = text.find("nuclei = [").unwrap();
    let end = start + text[start..].find("]\n\n").unwrap() + 1;
    let copy = format!("{}nuclei = [ {{ charge = {z:.1}, position = [0.0, 0.0, 0.0] }} ]{}", &text[..start], &text[end..]);
    let path = dir.join(format!("ion_z{z}.toml"));
    std::fs::write(&path, copy).unwrap();
    path
}

#[test]
fn a_copied_file_with_a_heavier_nucleus_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let file = ion(3.0, dir.path());
    let out = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_pathspace")).arg("solve").arg(&file).arg("--out").arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(&file.display().to_string()) && stderr.contains("dmc.dt") && stderr.contains("set [dmc] dt = 0.02"), "{stderr}");
    assert!(!out.exists(), "nothing written before the refusal");
    // The suggested time step passes, and is accepted above the margin.
    let mut problem = Problem::load(&file).unwrap();
    problem.dmc.dt = 0.02;
    check_dmc_time_step(&problem, &device()).unwrap();
    assert!(untrained_acceptance(&problem, 0.02, &device()).unwrap() >= SUGGESTED_ACCEPTANCE);
    // He (Z = 2) at the copied dt = 0.04 passes.
    let helium = Problem::load(&ion(2.0, dir.path())).unwrap();
    check_dmc_time_step(&helium, &device()).unwrap();
}

#[test]
fn shipped_problems_pass_the_time_step_check() {
    let device = device();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("problems")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let Ok(problem) = Problem::load(&path) else { continue }; // latent-model files
        check_dmc_time_step(&problem, &device).unwrap_or_else(|e| panic!("{e}"));
        if problem.dmc.metropolis {
            let a = untrained_acceptance(&problem, problem.dmc.dt, &device).unwrap();
            assert!(a >= MIN_ACCEPTANCE, "{}: {a}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} files with Metropolis DMC");
}
