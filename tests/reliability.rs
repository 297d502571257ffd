//! Issue 16 beyond the hostile corpus: non-physical energies are divergences (the numbers of
//! the runs), the run-directory lock between two live runs and after a SIGKILL, and the
//! run name taken from a file stem.

use pathspace::io::run::RunCheckpoint;
use pathspace::quantum::problem::Problem;
use pathspace::quantum::solve::Headline;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn headline(energy: f64, error: f64) -> Headline {
    Headline {
        estimator: "variational".into(),
        energy,
        error,
        uncorrected: None,
        difference_mha: None,
        reason: String::new(),
        trusted: true,
        reasons: Vec::new(),
        diverged: None,
    }
}

fn system(text: &str) -> pathspace::quantum::physics::System {
    Problem::parse(Path::new("t.toml"), text).unwrap().system
}

#[test]
fn non_physical_energies_are_divergences() {
    let oscillator = system("[system]\nkind = \"harmonic\"\n");
    // lr = 10 on the oscillator (issue 16): 1.4e14 ± 8.9e13.
    let mut h = headline(1.4e14, 8.9e13);
    h.check_physical(&oscillator);
    assert!(h.diverged.as_deref().is_some_and(|d| d.contains("meaningless")), "{:?}", h.diverged);
    // Below the exact ground state 3/2 by far more than the error bar.
    let mut h = headline(1.2, 0.001);
    h.check_physical(&oscillator);
    assert!(h.diverged.as_deref().is_some_and(|d| d.contains("lower bound")), "{:?}", h.diverged);
    // A good run, and one a little above (a poor drift is not a divergence).
    for (e, s) in [(1.5001, 0.001), (1.58, 0.01), (1.49995, 0.0001)] {
        let mut h = headline(e, s);
        h.check_physical(&oscillator);
        assert!(h.diverged.is_none(), "{e} ± {s}: {:?}", h.diverged);
    }
    // A nucleus of charge 50 with E = +1033 (issue 16): above the bare nucleus (0).
    let heavy = system("[system]\nkind = \"molecule\"\nelectrons = 1\nnuclei = [{charge = 50.0, position = [0.0, 0.0, 0.0]}]\n[sde]\ndt = 1e-4\n");
    let mut h = headline(1033.0, 5.0);
    h.check_physical(&heavy);
    assert!(h.diverged.as_deref().is_some_and(|d| d.contains("bare nuclei")), "{:?}", h.diverged);
    let mut h = headline(-1250.0, 1.0);
    h.check_physical(&heavy);
    assert!(h.diverged.is_none(), "{:?}", h.diverged);
    // H₂ at equilibrium is far below its nuclear repulsion 1/1.401.
    let h2 = Problem::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("problems/h2.toml")).unwrap().system;
    let mut h = headline(-1.1745, 0.0002);
    h.check_physical(&h2);
    assert!(h.diverged.is_none());
    let mut h = headline(1.5, 0.01);
    h.check_physical(&h2);
    assert!(h.diverged.is_some(), "above V_nn = 0.714");
}

#[test]
fn a_run_name_from_a_file_stem_is_a_plain_directory_name() {
    let text = "[system]\nkind = \"harmonic\"\n";
    for (file, name) in [("my run!.toml", "my_run_"), (".hidden.toml", "_hidden"), ("a\nb.toml", "a_b"), ("h2.toml", "h2")] {
        assert_eq!(Problem::parse(Path::new(file), text).unwrap().name, name, "{file:?}");
    }
}

const LONG: &str = "[system]\nkind = \"harmonic\"\n[drift]\nhidden = 8\n[sde]\nsteps = 8\n[train]\niterations = 1000000\nwalkers = 8\n[output]\ncheckpoint_every = 5\n";

fn wait_for(path: &Path) {
    let t0 = Instant::now();
    while !path.exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A second run into a directory a live run writes is refused with "in use"; the first run is
/// unharmed and releases the lock when it stops.
#[cfg(unix)]
#[test]
fn a_second_run_into_a_busy_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.toml");
    std::fs::write(&file, LONG).unwrap();
    let out = dir.path().join("run");
    let (f, o) = (file.to_str().unwrap(), out.to_str().unwrap());
    let first = Command::new(env!("CARGO_BIN_EXE_pathspace")).args(["solve", f, "--out", o]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for(&out.join("checkpoint.bin"));
    let second = Command::new(env!("CARGO_BIN_EXE_pathspace")).args(["solve", f, "--out", o]).output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("in use by process") && stderr.contains(&first.id().to_string()) && stderr.trim_end().lines().count() == 1, "{stderr}");
    assert!(Command::new("kill").args(["-TERM", &first.id().to_string()]).status().unwrap().success());
    let done = first.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(143), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(!out.join(".pathspace.lock").exists(), "the lock is released at exit");
    pathspace::quantum::checkpoint::Checkpoint::read(&out.join("checkpoint.bin")).expect("the first run's checkpoint is intact");
}

/// SIGKILL leaves the lock of a dead process: a resume takes it over.
#[cfg(unix)]
#[test]
fn the_lock_of_a_killed_run_is_taken_over_by_its_resume() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.toml");
    std::fs::write(&file, LONG.replace("iterations = 1000000", "iterations = 40")).unwrap();
    let out = dir.path().join("run");
    let (f, o) = (file.to_str().unwrap(), out.to_str().unwrap());
    let mut child = Command::new(env!("CARGO_BIN_EXE_pathspace")).args(["solve", f, "--out", o]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for(&out.join("checkpoint.bin"));
    child.kill().unwrap();
    child.wait().unwrap();
    let lock = std::fs::read_to_string(out.join(".pathspace.lock")).unwrap_or_default();
    let resumed = Command::new(env!("CARGO_BIN_EXE_pathspace")).args(["solve", f, "--resume", o]).output().unwrap();
    assert!(resumed.status.success(), "stale lock {lock:?}: {}", String::from_utf8_lossy(&resumed.stderr));
    assert!(out.join("summary.json").exists() && !out.join(".pathspace.lock").exists());
}

/// Issue 37: output that cannot be written — a full disk on stdout (`> /dev/full`), a full
/// disk on stderr for a bad file — ends the command with status 1 and no panic (it was 101,
/// "failed printing to stdout").
#[cfg(target_os = "linux")]
#[test]
fn a_full_stdout_or_stderr_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.toml");
    std::fs::write(
        &file,
        "[system]\nkind = \"harmonic\"\ndims = 1\n[drift]\nkind = \"mlp\"\nhidden = 4\n[sde]\nsteps = 4\n[train]\nwalkers = 8\niterations = 2\n\
         [eval]\nwalkers = 8\nsteps = 8\nburn_in = 0\nextrapolate = false\n[output]\npath_walkers = 0\n",
    )
    .unwrap();
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = dir.path().join("run");
    let run = Command::new(env!("CARGO_BIN_EXE_pathspace")).args(["solve", file.to_str().unwrap(), "--out", out.to_str().unwrap()]).stdout(full()).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("writing to standard output") && !stderr.contains("panicked"), "{stderr}");
    // The run's files were written before the report: the results are not lost.
    assert!(out.join("summary.json").exists());
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[system\n").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_pathspace")).args(["solve", bad.to_str().unwrap()]).stderr(full()).output().unwrap();
    assert_eq!(run.status.code(), Some(1));
}

/// Issue 37: a `fit` whose optimiser diverged (the moons flow at lr = 1e300) printed a NaN test
/// ELBO, called its IWAE "continuous time" and exited 0. It now exits 1 with one line naming the
/// file, after writing the summary that shows it.
#[test]
fn a_diverged_fit_is_an_error_exit() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("problems/flow_moons.toml")).unwrap();
    let file = dir.path().join("flow_bad.toml");
    std::fs::write(&file, text.replace("lr = 2e-3", "lr = 1e300")).unwrap();
    let out = dir.path().join("run");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_pathspace")).arg("fit").arg(&file).args(["--iterations", "2", "--out"]).arg(&out).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(last.contains(&file.display().to_string()) && last.contains("diverged"), "{stderr}");
    assert!(!stdout.contains("continuous time"), "{stdout}");
    assert!(out.join("summary.json").exists());
}
