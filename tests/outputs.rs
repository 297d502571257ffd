//! End-to-end behaviour of the outputs of `pathspace solve`: run.h5 (read back through the
//! crate and, where available, h5py), the CSV export, the plots (decoded, without fontconfig),
//! checkpoint and resume (bit-identical training), and one-line errors for damaged files.

use pathspace::io::run::RunCheckpoint;
use pathspace::io::hdf5::RunFile;
use pathspace::io::training::TrainingRow;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const PROBLEM: &str = r#"# a tiny 2-D harmonic oscillator: fast, and 2-D so that the slice plots exist
name = "tiny"
reference = 1.0

[system]
kind = "harmonic"
particles = 1
dims = 2

[drift]
kind = "mlp"
hidden = 8

[sde]
integrator = "sosra"
dt = 0.02
steps = 10

[train]
walkers = 16
iterations = 6
lr = 3e-3
seed = 11

[eval]
walkers = 32
steps = 20
burn_in = 10
extrapolate = true
estimators = ["variational", "local_energy", "dmc"]
local_steps = 20

[output]
path_walkers = 4
path_steps = 8
path_every = 2
checkpoint_every = 2

[dmc]
walkers = 32
steps = 20
burn_in = 5
"#;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pathspace"))
}

fn check(out: Output, what: &str) -> Output {
    assert!(out.status.success(), "{what} failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn write_problem(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("tiny.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// One finished run shared by the read-only tests.
fn shared_run() -> &'static PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let file = write_problem(&dir, PROBLEM);
        let out = dir.join("run");
        check(bin().arg("solve").arg(&file).arg("--out").arg(&out).output().unwrap(), "solve");
        out
    })
}

fn parse_csv(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path).unwrap().lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn run_h5_holds_what_the_run_reported() {
    let dir = shared_run();
    let run = RunFile::read(&dir.join("run.h5")).unwrap();
    let a = &run.attributes;
    assert_eq!(a.problem, PROBLEM);
    assert_eq!(a.seed, 11);
    assert_eq!(a.integrator, "sosra");
    assert_eq!(a.dt, 0.02);
    assert_eq!(a.pathspace_version, env!("CARGO_PKG_VERSION"));
    assert!(a.created.len() == 20 && a.created.ends_with('Z') && a.created.as_bytes()[10] == b'T', "{}", a.created);

    // Training: one entry per iteration, equal to training.csv (which has 10 significant digits).
    let csv = parse_csv(&dir.join("training.csv"));
    assert_eq!(run.training.len(), 6);
    assert_eq!(csv.len(), 6);
    for (row, line) in run.training.iter().zip(&csv) {
        assert_eq!(row.iteration.to_string(), line[0]);
        for (v, s) in [(row.loss, &line[1]), (row.energy, &line[2])] {
            let c: f64 = s.parse().unwrap();
            assert!((v - c).abs() <= 1e-9 * v.abs().max(1.0), "{v} vs {c}");
        }
    }

    // Evaluation: the numbers of summary.json.
    let s = summary(dir);
    let e = run.evaluation.as_ref().expect("/evaluation");
    let close = |x: f64, key: &str| {
        let y = s[key].as_f64().unwrap();
        assert!((x - y).abs() <= 1e-12 * y.abs().max(1.0), "{key}: {x} vs {y}");
    };
    close(e.energy, "energy");
    close(e.energy_error, "energy_error");
    close(e.energy_extrapolated.expect("extrapolated"), "energy_extrapolated");
    close(e.timestep_bias.expect("bias"), "timestep_bias");
    assert_eq!(e.reference, Some(1.0));
    assert_eq!(e.per_walker.len(), 32);
    assert!(e.per_walker.iter().all(|v| v.is_finite()));

    // Paths: [8/2 + 1 saved steps, 4 walkers, 1 particle, 2 dims], finite, and moving.
    let p = run.paths.as_ref().expect("/paths");
    assert_eq!(p.shape, [5, 4, 1, 2]);
    assert_eq!(p.positions.len(), 40);
    assert_eq!(p.drift.len(), 40);
    assert!(p.positions.iter().chain(&p.drift).all(|v| v.is_finite()));
    assert_ne!(p.positions[..8], p.positions[32..]);
    assert_eq!((p.every, p.step_dt), (2, 0.02));

    // Slice: a 25×25 grid; near the harmonic optimum v ≈ −x, so the drift points inwards.
    let sl = run.slice.as_ref().expect("/slice");
    assert_eq!((sl.x.len(), sl.y.len(), sl.drift.len()), (25, 25, 25 * 25 * 2));
    let corner = &sl.drift[..2];
    assert!(corner[0] > 0.0 && corner[1] > 0.0, "drift at (−x, −y) corner should point inwards: {corner:?}");

    // summary.json lists every file written, and they exist.
    let files: Vec<String> = s["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
    for name in ["training.csv", "run.h5", "checkpoint.bin", "summary.json", "energy.png", "energy.svg", "drift.png", "density.png"] {
        let f = files.iter().find(|f| f.ends_with(name)).unwrap_or_else(|| panic!("{name} not in {files:?}"));
        assert!(Path::new(f).exists(), "{f}");
    }
}

#[test]
fn export_csv_writes_the_content_of_run_h5() {
    let src = shared_run();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("run.h5"), dir.path().join("run.h5")).unwrap();
    check(bin().arg("export").arg(dir.path()).args(["--format", "csv"]).output().unwrap(), "export");
    let run = RunFile::read(&dir.path().join("run.h5")).unwrap();
    let csv = dir.path().join("csv");
    let training = parse_csv(&csv.join("training.csv"));
    let back: Vec<TrainingRow> = training
        .iter()
        .map(|l| TrainingRow { iteration: l[0].parse().unwrap(), loss: l[1].parse().unwrap(), energy: l[2].parse().unwrap(), learning_rate: l[3].parse().unwrap(), seconds: l[4].parse().unwrap() })
        .collect();
    assert_eq!(back, run.training, "full-precision CSV round-trips exactly");
    let paths = parse_csv(&csv.join("paths.csv"));
    assert_eq!(paths.len(), 5 * 4);
    assert_eq!(paths[0].len(), 4 + 2 + 2);
    let p = run.paths.unwrap();
    assert_eq!(paths[4][4].parse::<f32>().unwrap(), p.positions[8], "step 2, walker 0, x0");
    assert_eq!(parse_csv(&csv.join("evaluation.csv")).len(), 32);
    let attrs = std::fs::read_to_string(csv.join("attributes.csv")).unwrap();
    assert!(attrs.contains("seed,11") && attrs.contains("integrator,sosra"), "{attrs}");
    assert_eq!(parse_csv(&csv.join("slice.csv")).len(), 25 * 25);
}

fn png_size(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let mut colours: Vec<&[u8]> = bytes.chunks(info.color_type.samples()).collect();
    colours.sort();
    colours.dedup();
    (info.width, info.height, colours.len())
}

#[test]
fn plot_redraws_decodable_pngs_of_the_stated_size_without_fontconfig() {
    let src = shared_run();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("run.h5"), dir.path().join("run.h5")).unwrap();
    let out = bin()
        .arg("plot")
        .arg(dir.path())
        .env("FONTCONFIG_FILE", "/nonexistent/fonts.conf")
        .env("FONTCONFIG_PATH", "/nonexistent")
        .env("XDG_DATA_HOME", "/nonexistent")
        .output()
        .unwrap();
    check(out, "plot");
    for (name, size) in [("energy", pathspace::plot::ENERGY_SIZE), ("drift", pathspace::plot::DRIFT_SIZE), ("density", pathspace::plot::DENSITY_SIZE)] {
        let (w, h, colours) = png_size(&dir.path().join(format!("{name}.png")));
        assert_eq!((w, h), size, "{name}.png");
        assert!(colours > 20, "{name}.png looks blank ({colours} colours)");
        let svg = std::fs::read_to_string(dir.path().join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{name}.svg");
    }
    let svg = std::fs::read_to_string(dir.path().join("energy.svg")).unwrap();
    assert!(svg.contains("mHa"), "the legend gives the difference to the reference in mHa");
}

fn training_without_seconds(dir: &Path) -> Vec<Vec<String>> {
    parse_csv(&dir.join("training.csv")).into_iter().map(|mut l| { l.truncate(4); l }).collect()
}

fn assert_same_training(a: &Path, b: &Path) {
    assert_eq!(training_without_seconds(a), training_without_seconds(b));
    let (ra, rb) = (RunFile::read(&a.join("run.h5")).unwrap(), RunFile::read(&b.join("run.h5")).unwrap());
    let strip = |r: &RunFile| r.training.iter().map(|t| (t.iteration, t.loss.to_bits(), t.energy.to_bits(), t.learning_rate.to_bits())).collect::<Vec<_>>();
    assert_eq!(strip(&ra), strip(&rb), "run.h5 /training (bit for bit, apart from seconds)");
    assert_eq!(ra.paths, rb.paths, "run.h5 /paths");
    assert_eq!(ra.evaluation, rb.evaluation, "run.h5 /evaluation");
}

#[test]
fn resume_after_an_iteration_limit_equals_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_problem(dir.path(), PROBLEM);
    let (full, part) = (dir.path().join("full"), dir.path().join("part"));
    check(bin().arg("solve").arg(&file).arg("--out").arg(&full).output().unwrap(), "full run");
    check(bin().arg("solve").arg(&file).arg("--out").arg(&part).args(["--iterations", "3"]).output().unwrap(), "first half");
    assert_eq!(parse_csv(&part.join("training.csv")).len(), 3);
    check(bin().arg("solve").arg(&file).arg("--resume").arg(&part).output().unwrap(), "resume");
    assert_same_training(&full, &part);
    let (a, b) = (summary(&full), summary(&part));
    assert_eq!(a["energy"], b["energy"]);
    assert_eq!(a["energy_extrapolated"], b["energy_extrapolated"]);
}

/// With `stop_on_plateau` the run ends at its plateau with a checkpoint there; a run cut before
/// it and resumed stops at the same iteration with the same rows and monitor points (the E_L
/// variances come back from the checkpoint); resuming the finished run trains no further.
#[test]
fn plateau_stop_resumes_identically() {
    let dir = tempfile::tempdir().unwrap();
    let text = PROBLEM.replace("iterations = 6\n", "iterations = 2000\nmonitor_every = 5\nplateau_window = 4\nstop_on_plateau = true\nmin_iterations = 20\n");
    let file = write_problem(dir.path(), &text);
    let (full, part) = (dir.path().join("full"), dir.path().join("part"));
    check(bin().arg("solve").arg(&file).arg("--out").arg(&full).output().unwrap(), "full run");
    let a = summary(&full);
    assert_eq!(a["convergence"]["converged"], true, "{}", a["convergence"]);
    let stop = a["convergence"]["iteration"].as_u64().unwrap() as usize;
    assert!((20..2000).contains(&stop), "stopped at {stop}");
    assert_eq!(pathspace::quantum::checkpoint::Checkpoint::read(&full.join("checkpoint.bin")).unwrap().iteration, stop);
    check(bin().arg("solve").arg(&file).arg("--out").arg(&part).args(["--iterations", "12"]).output().unwrap(), "first part");
    check(bin().arg("solve").arg(&file).arg("--resume").arg(&part).output().unwrap(), "resume");
    assert_same_training(&full, &part);
    assert_eq!(a["convergence"], summary(&part)["convergence"]);
    check(bin().arg("solve").arg(&file).arg("--resume").arg(&full).output().unwrap(), "resume the finished run");
    assert_eq!(parse_csv(&full.join("training.csv")).len(), stop);
}

/// The gradient drift (v = ∇S_θ, Metropolis DMC with its exact ratio) through the same path:
/// resume equals the uninterrupted run, and `pathspace dmc --from` reads its checkpoint.
#[test]
fn gradient_drift_resumes_identically_and_dmc_reads_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let text = PROBLEM.replace("kind = \"mlp\"", "kind = \"gradient\"").replace("burn_in = 5\n", "burn_in = 5\nmetropolis = true\n");
    assert!(text.contains("kind = \"gradient\"") && text.contains("metropolis = true"));
    let file = write_problem(dir.path(), &text);
    let (full, part) = (dir.path().join("full"), dir.path().join("part"));
    check(bin().arg("solve").arg(&file).arg("--out").arg(&full).output().unwrap(), "full run");
    check(bin().arg("solve").arg(&file).arg("--out").arg(&part).args(["--iterations", "3"]).output().unwrap(), "first half");
    check(bin().arg("solve").arg(&file).arg("--resume").arg(&part).output().unwrap(), "resume");
    assert_same_training(&full, &part);
    let (a, b) = (summary(&full), summary(&part));
    assert_eq!(a["headline"], b["headline"]);
    assert_eq!(a["headline"]["estimator"], "dmc");

    // `dmc --from`: deterministic for a seed, its own noise stream for another.
    let dmc = |seed: &str| {
        check(bin().arg("dmc").arg(&file).arg("--from").arg(&full).args(["--seed", seed]).output().unwrap(), "dmc --from");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(full.join("dmc.json")).unwrap()).unwrap();
        assert_eq!(v["iteration"], 6);
        v["headline"]["energy"].as_f64().unwrap()
    };
    let (e1, e2, e3) = (dmc("5"), dmc("5"), dmc("6"));
    assert!(e1.is_finite());
    assert_eq!(e1.to_bits(), e2.to_bits());
    assert_ne!(e1.to_bits(), e3.to_bits());

    // A problem whose network does not match the checkpoint: one line, naming the checkpoint.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, text.replace("hidden = 8", "hidden = 9")).unwrap();
    one_line_error(&bin().arg("dmc").arg(&other).arg("--from").arg(&full).output().unwrap(), "checkpoint.bin");
}

#[test]
fn sigint_writes_a_checkpoint_and_resume_completes_identically() {
    let dir = tempfile::tempdir().unwrap();
    let text = PROBLEM.replace("iterations = 6", "iterations = 2000").replace("checkpoint_every = 2", "checkpoint_every = 1000");
    let file = write_problem(dir.path(), &text);
    let (full, cut) = (dir.path().join("full"), dir.path().join("cut"));
    let child = bin().arg("solve").arg(&file).arg("--out").arg(&cut).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Wait until training has written progress (run.h5 appears after ~2 s or at a checkpoint).
    let t0 = std::time::Instant::now();
    while !cut.join("training.csv").exists() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let stopped = parse_csv(&cut.join("training.csv")).len();
    assert!(stopped < 2000, "the signal came after training ({stopped} rows)");
    assert!(!cut.join("summary.json").exists());
    // What the stopped run did is in run.h5 and the checkpoint, up to the same iteration.
    assert_eq!(RunFile::read(&cut.join("run.h5")).unwrap().training.len(), stopped);
    let ck = pathspace::quantum::checkpoint::Checkpoint::read(&cut.join("checkpoint.bin")).unwrap();
    assert_eq!((ck.iteration, ck.rows.len()), (stopped, stopped));
    check(bin().arg("solve").arg(&file).arg("--resume").arg(&cut).output().unwrap(), "resume");
    check(bin().arg("solve").arg(&file).arg("--out").arg(&full).output().unwrap(), "full run");
    assert_same_training(&full, &cut);
}

#[test]
fn sigterm_stops_training_with_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let text = PROBLEM.replace("iterations = 6", "iterations = 100000").replace("checkpoint_every = 2", "checkpoint_every = 100000");
    let file = write_problem(dir.path(), &text);
    let out = dir.path().join("run");
    let child = bin().arg("solve").arg(&file).arg("--out").arg(&out).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let t0 = std::time::Instant::now();
    while !out.join("training.csv").exists() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let done = child.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(143), "128 + SIGTERM: {}", String::from_utf8_lossy(&done.stderr));
    let ck = pathspace::quantum::checkpoint::Checkpoint::read(&out.join("checkpoint.bin")).unwrap();
    assert!(ck.iteration > 0 && ck.iteration < 100000);
    assert_eq!(parse_csv(&out.join("training.csv")).len(), ck.iteration);
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).map(|p| { let b = std::fs::read(&p).unwrap(); (p, b) }).collect();
    v.sort();
    v
}

fn one_line_error(out: &Output, names: &str) {
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(names), "{stderr}");
}

#[test]
fn damaged_run_h5_or_checkpoint_give_a_one_line_error_and_overwrite_nothing() {
    let src = shared_run();
    let dir = tempfile::tempdir().unwrap();
    let file = write_problem(dir.path(), PROBLEM);
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    for f in std::fs::read_dir(src).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, run.join(f.file_name().unwrap())).unwrap();
    }
    let h5 = std::fs::read(run.join("run.h5")).unwrap();
    std::fs::write(run.join("run.h5"), &h5[..h5.len() / 3]).unwrap();
    let before = snapshot(&run);
    one_line_error(&bin().arg("plot").arg(&run).output().unwrap(), "run.h5");
    one_line_error(&bin().arg("export").arg(&run).output().unwrap(), "run.h5");
    assert_eq!(snapshot(&run), before);

    let ck = std::fs::read(run.join("checkpoint.bin")).unwrap();
    std::fs::write(run.join("checkpoint.bin"), &ck[..ck.len() - 100]).unwrap();
    let before = snapshot(&run);
    one_line_error(&bin().arg("solve").arg(&file).arg("--resume").arg(&run).output().unwrap(), "checkpoint.bin");
    let mut flipped = ck.clone();
    flipped[ck.len() / 2] ^= 0x10;
    std::fs::write(run.join("checkpoint.bin"), &flipped).unwrap();
    let before2 = snapshot(&run);
    one_line_error(&bin().arg("solve").arg(&file).arg("--resume").arg(&run).output().unwrap(), "checkpoint.bin");
    assert_eq!(snapshot(&run), before2);
    assert_ne!(before, before2);
}

#[test]
fn h5py_reads_run_h5_when_available() {
    let probe = Command::new("python3").args(["-c", "import h5py"]).output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("SKIPPED h5py_reads_run_h5_when_available: python3 with h5py is not available");
        return;
    }
    let dir = shared_run();
    let script = r#"
import sys, json, struct, h5py
f = h5py.File(sys.argv[1], "r")
bits = lambda x: struct.unpack("<Q", struct.pack("<d", float(x)))[0]  # exact through JSON
print(json.dumps({
  "attrs": {k: (v.decode() if isinstance(v, bytes) else (v.item() if hasattr(v, "item") else v)) for k, v in f.attrs.items()},
  "training": {k: list(map(bits, f["training"][k][()])) for k in f["training"]},
  "positions": list(f["paths/positions"].shape), "dtype": str(f["paths/positions"].dtype),
  "compression": f["paths/positions"].compression,
  "energy": bits(f["evaluation"].attrs["energy"]),
  "per_walker": len(f["evaluation/per_walker"]),
  "headline": f["estimates"].attrs["headline"].decode() if isinstance(f["estimates"].attrs["headline"], bytes) else str(f["estimates"].attrs["headline"]),
  "dmc": list(map(bits, f["estimates/dmc_half_dt/energy"][()])),
}))
"#;
    let out = check(Command::new("python3").arg("-c").arg(script).arg(dir.join("run.h5")).output().unwrap(), "h5py");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = RunFile::read(&dir.join("run.h5")).unwrap();
    assert_eq!(v["attrs"]["problem"], PROBLEM);
    assert_eq!(v["attrs"]["seed"], 11);
    assert_eq!(v["attrs"]["integrator"], "sosra");
    assert_eq!(v["positions"], serde_json::json!([5, 4, 1, 2]));
    assert_eq!(v["dtype"], "float32");
    assert_eq!(v["compression"], "gzip");
    assert_eq!(v["per_walker"], 32);
    let from_bits = |x: &serde_json::Value| f64::from_bits(x.as_u64().unwrap());
    assert_eq!(from_bits(&v["energy"]), run.evaluation.unwrap().energy);
    let estimates = run.estimates.expect("/estimates");
    assert_eq!(v["headline"], "dmc");
    let dmc: Vec<f64> = v["dmc"].as_array().unwrap().iter().map(from_bits).collect();
    assert_eq!(dmc.len(), 40, "DMC at dt/2 measures twice the generations");
    assert_eq!(dmc, estimates.walks.iter().find(|w| w.name == "dmc_half_dt").unwrap().series);
    for (name, get) in [("energy", (|r: &TrainingRow| r.energy) as fn(&TrainingRow) -> f64), ("loss", |r| r.loss), ("seconds", |r| r.seconds)] {
        let values: Vec<f64> = v["training"][name].as_array().unwrap().iter().map(from_bits).collect();
        assert_eq!(values, run.training.iter().map(get).collect::<Vec<_>>(), "/training/{name}");
    }
}

/// A run with a VMC stage (`[vmc]`), cut inside each stage and resumed, equals the uninterrupted
/// run: the stage starts at train.iterations whatever `--iterations` says, with a fresh Adam.
#[test]
fn vmc_stage_resumes_identically() {
    let dir = tempfile::tempdir().unwrap();
    let text = PROBLEM.replace("kind = \"mlp\"", "kind = \"gradient\"").replace("[eval]", "[vmc]\niterations = 5\nmoves = 2\n\n[eval]");
    assert!(text.contains("[vmc]") && text.contains("kind = \"gradient\""));
    let file = write_problem(dir.path(), &text);
    let full = dir.path().join("full");
    check(bin().arg("solve").arg(&file).arg("--out").arg(&full).output().unwrap(), "full run");
    assert_eq!(parse_csv(&full.join("training.csv")).len(), 11);
    for cut in ["3", "8"] {
        let part = dir.path().join(format!("part{cut}"));
        check(bin().arg("solve").arg(&file).arg("--out").arg(&part).args(["--iterations", cut]).output().unwrap(), "first part");
        check(bin().arg("solve").arg(&file).arg("--resume").arg(&part).output().unwrap(), "resume");
        assert_same_training(&full, &part);
        assert_eq!(summary(&full)["headline"], summary(&part)["headline"]);
    }
}

/// With `stop_on_plateau` the first plateau ends the path-space stage and the VMC stage runs its
/// own iterations from there; the final checkpoint is the last iteration's, and runs cut in
/// either stage resume to the same rows.
#[test]
fn plateau_ends_the_first_stage_and_vmc_follows() {
    let dir = tempfile::tempdir().unwrap();
    let text = PROBLEM
        .replace("kind = \"mlp\"", "kind = \"gradient\"")
        .replace("iterations = 6\n", "iterations = 2000\nmonitor_every = 5\nplateau_window = 4\nstop_on_plateau = true\nmin_iterations = 20\n")
        .replace("[eval]", "[vmc]\niterations = 7\nmoves = 2\n\n[eval]");
    let file = write_problem(dir.path(), &text);
    let full = dir.path().join("full");
    check(bin().arg("solve").arg(&file).arg("--out").arg(&full).output().unwrap(), "full run");
    let a = summary(&full);
    let began = a["convergence"]["second_stage_from"].as_u64().expect("the VMC stage began") as usize;
    assert!((20..2000).contains(&began) && began % 5 == 0, "began at {began}");
    assert_eq!(a["convergence"]["stopped_on_plateau"], false);
    assert_eq!(parse_csv(&full.join("training.csv")).len(), began + 7);
    assert_eq!(pathspace::quantum::checkpoint::Checkpoint::read(&full.join("checkpoint.bin")).unwrap().iteration, began + 7);
    for cut in [12, began + 3] {
        let part = dir.path().join(format!("part{cut}"));
        check(bin().arg("solve").arg(&file).arg("--out").arg(&part).args(["--iterations", &cut.to_string()]).output().unwrap(), "first part");
        check(bin().arg("solve").arg(&file).arg("--resume").arg(&part).output().unwrap(), "resume");
        assert_same_training(&full, &part);
        assert_eq!(a["convergence"], summary(&part)["convergence"]);
    }
}

/// Issue 37: `reference = 1e308` (finite, so accepted) hung the energy plot after `phase: writing`
/// (an axis to 2e308 = inf). The run now finishes, with the reference left off the scale.
#[test]
fn an_absurd_reference_does_not_hang_the_plot() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_problem(dir.path(), &PROBLEM.replace("reference = 1.0", "reference = 1e308"));
    let out = dir.path().join("run");
    let mut child = bin().arg("solve").arg(&file).arg("--out").arg(&out).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > std::time::Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("solve with reference = 1e308 did not finish in 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.success());
    assert!(out.join("energy.png").exists() && out.join("summary.json").exists());
}
