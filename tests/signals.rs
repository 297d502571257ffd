//! SIGTERM after training (issue 16): during the evaluation and during DMC the run ends within
//! 2 s with exit status 143 (128 + SIGTERM), marks its directory partial (`interrupted.json`),
//! leaves no temporary file and no lock, and `solve --resume` then gives the same numbers as an
//! uninterrupted run. `pathspace dmc --from` ends as promptly and writes no dmc.json.

#![cfg(unix)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Tiny training, a variational evaluation of a few seconds.
const EVALUATION: &str = "[system]\nkind = \"harmonic\"\n[drift]\nhidden = 8\n[sde]\nsteps = 8\n[train]\niterations = 5\nwalkers = 8\n\
[eval]\nwalkers = 128\nsteps = 80000\nburn_in = 10\nextrapolate = false\n[output]\npath_walkers = 4\npath_steps = 8\ncheckpoint_every = 1000\n";

/// Tiny training and evaluation, DMC of a few seconds.
const DMC: &str = "[system]\nkind = \"harmonic\"\n[drift]\nkind = \"gradient\"\nhidden = 8\n[sde]\nsteps = 8\n[train]\niterations = 5\nwalkers = 8\n\
[eval]\nwalkers = 32\nsteps = 20\nburn_in = 10\nextrapolate = false\nestimators = [\"variational\", \"dmc\"]\n\
[dmc]\nwalkers = 64\nsteps = 6000\nburn_in = 10\nextrapolate = false\n[output]\npath_walkers = 4\npath_steps = 8\ncheckpoint_every = 1000\n";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pathspace"))
}

/// Runs `args`, waits for `phase: <phase>` on stdout, waits `delay`, sends SIGTERM; returns
/// the exit code, stderr and the seconds from the signal to the exit.
fn terminate_during(args: &[&str], phase: &str, delay: Duration) -> (Option<i32>, String, f64) {
    signal_during(args, phase, delay, "-TERM")
}

/// [`terminate_during`] with another signal (`kill`'s spelling, e.g. `-HUP`).
fn signal_during(args: &[&str], phase: &str, delay: Duration, signal: &str) -> (Option<i32>, String, f64) {
    let mut child = bin().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let wanted = format!("phase: {phase}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if line == wanted {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| panic!("never reached {phase}"));
    std::thread::sleep(delay);
    assert!(child.try_wait().unwrap().is_none(), "the run ended before the signal: make the {phase} longer");
    let sent = Instant::now();
    assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let seconds = sent.elapsed().as_secs_f64();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), seconds)
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| {
        let n = p.file_name().unwrap().to_string_lossy();
        n.contains(".tmp") || n == ".pathspace.lock"
    }).collect()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// The numbers of a run that do not depend on wall time or on how many iterations this process ran.
fn numbers(dir: &Path) -> Vec<serde_json::Value> {
    let s = summary(dir);
    let mut v = vec![s["energy"].clone(), s["energy_error"].clone(), s["headline"]["energy"].clone(), s["headline"]["error"].clone(), s["evaluation"]["at_dt"]["energy"].clone()];
    if !s["guided"]["dmc"].is_null() {
        v.push(s["guided"]["dmc"]["at_dt"]["energy"].clone());
        v.push(s["guided"]["dmc"]["at_dt"]["population"].clone());
    }
    v
}

fn interrupted_then_resumed_matches(text: &str, phase: &str) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{phase}.toml"));
    std::fs::write(&file, text).unwrap();
    let (cut, full) = (dir.path().join("cut"), dir.path().join("full"));
    let (f, c) = (file.to_str().unwrap(), cut.to_str().unwrap());
    let (code, stderr, seconds) = terminate_during(&["solve", f, "--out", c], phase, Duration::from_millis(300));
    assert_eq!(code, Some(143), "128 + SIGTERM: {stderr}");
    assert!(seconds <= 2.0, "{phase}: {seconds:.2} s from SIGTERM to exit");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("during {phase}")) && stderr.contains("--resume"), "{stderr}");
    let marker: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(cut.join("interrupted.json")).unwrap()).unwrap();
    assert_eq!((marker["partial"].as_bool(), marker["phase"].as_str(), marker["signal"].as_str()), (Some(true), Some(phase), Some("SIGTERM")));
    assert!(!cut.join("summary.json").exists(), "no summary of an unfinished run");
    assert!(leftovers(&cut).is_empty(), "left behind: {:?}", leftovers(&cut));
    // Resume: the checkpoint written at the end of training, then the whole evaluation.
    let resumed = bin().args(["solve", f, "--resume", c]).output().unwrap();
    assert!(resumed.status.success(), "resume: {}", String::from_utf8_lossy(&resumed.stderr));
    let whole = bin().args(["solve", f, "--out", full.to_str().unwrap()]).output().unwrap();
    assert!(whole.status.success(), "full run: {}", String::from_utf8_lossy(&whole.stderr));
    assert_eq!(numbers(&cut), numbers(&full), "resumed and uninterrupted runs differ");
    assert!(!cut.join("interrupted.json").exists(), "the finished resume removes the partial marker");
    let h5 = |d: &Path| pathspace::io::hdf5::RunFile::read(&d.join("run.h5")).unwrap().evaluation.unwrap().per_walker;
    assert_eq!(h5(&cut), h5(&full), "per-walker energies in run.h5");
    eprintln!("SIGTERM during {phase}: exit after {seconds:.3} s");
    seconds
}

#[test]
fn sigterm_during_evaluation_ends_within_two_seconds_and_resume_matches() {
    interrupted_then_resumed_matches(EVALUATION, "evaluation");
}

/// Issue 37: SIGHUP (a closed terminal or ssh session) is handled as SIGTERM is: exit 129 with
/// the partial-run marker, no lock or temporary file left (it left `.pathspace.lock` before).
#[test]
fn sighup_during_evaluation_is_handled_like_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evaluation.toml");
    std::fs::write(&file, EVALUATION).unwrap();
    let cut = dir.path().join("cut");
    let (code, stderr, seconds) = signal_during(&["solve", file.to_str().unwrap(), "--out", cut.to_str().unwrap()], "evaluation", Duration::from_millis(300), "-HUP");
    assert_eq!(code, Some(129), "128 + SIGHUP: {stderr}");
    assert!(seconds <= 2.0, "{seconds:.2} s from SIGHUP to exit");
    assert!(stderr.contains("interrupted by SIGHUP during evaluation") && stderr.contains("--resume"), "{stderr}");
    let marker: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(cut.join("interrupted.json")).unwrap()).unwrap();
    assert_eq!(marker["signal"].as_str(), Some("SIGHUP"));
    assert!(leftovers(&cut).is_empty(), "left behind: {:?}", leftovers(&cut));
}

#[test]
fn sigterm_during_dmc_ends_within_two_seconds_and_resume_matches() {
    interrupted_then_resumed_matches(DMC, "dmc");
}

#[test]
fn sigterm_during_dmc_from_a_checkpoint_ends_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dmc.toml");
    // A short solve (no DMC) to get a checkpoint, then a long `pathspace dmc --from`.
    std::fs::write(&file, DMC.replace("estimators = [\"variational\", \"dmc\"]\n", "")).unwrap();
    let run = dir.path().join("run");
    let (f, r) = (file.to_str().unwrap(), run.to_str().unwrap());
    let o = bin().args(["solve", f, "--out", r]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (code, stderr, seconds) = terminate_during(&["dmc", f, "--from", r], "dmc", Duration::from_millis(300));
    assert_eq!(code, Some(143), "{stderr}");
    assert!(seconds <= 2.0, "dmc --from: {seconds:.2} s from SIGTERM to exit");
    assert!(stderr.contains("during dmc"), "{stderr}");
    assert!(!run.join("dmc.json").exists() && leftovers(&run).is_empty());
    assert!(run.join("summary.json").exists() && !run.join("interrupted.json").exists(), "the finished solve run is not marked partial");
    eprintln!("SIGTERM during dmc --from: exit after {seconds:.3} s");
}

/// `fit`: SIGTERM during the test-set evaluation (IWAE with many samples) ends it as promptly.
#[test]
fn sigterm_during_a_fit_evaluation_ends_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fv.toml");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv.gz");
    std::fs::write(&file, format!("name = \"fv\"\n[data]\nkind = \"digits\"\nfile = \"{}\"\n[model]\nkind = \"vae\"\nlatent = 2\nhidden = 8\n[train]\niterations = 2\nbatch = 8\n[eval]\niwae_k = 20000\n", data.display())).unwrap();
    let run = dir.path().join("run");
    let (code, stderr, seconds) = terminate_during(&["fit", file.to_str().unwrap(), "--out", run.to_str().unwrap()], "evaluation", Duration::from_millis(300));
    assert_eq!(code, Some(143), "{stderr}");
    assert!(seconds <= 2.0, "fit evaluation: {seconds:.2} s from SIGTERM to exit");
    assert!(stderr.contains("during evaluation") && stderr.contains("pathspace fit"), "{stderr}");
    assert!(!run.join("summary.json").exists() && run.join("interrupted.json").exists() && leftovers(&run).is_empty());
    eprintln!("SIGTERM during fit evaluation: exit after {seconds:.3} s");
}
