//! The hostile-input corpus (issue 16): every problem file of `tests/hostile/solve/` and
//! `tests/hostile/fit/` (written by `tests/hostile/generate.py`; each names in its first line
//! the fragment its error must contain), inputs generated here (files over the size cap,
//! `/dev/zero`, a directory, corrupted checkpoint.bin and run.h5 files, a locked run
//! directory, `dmc --from` with another system) run through the binary. For each: no panic,
//! no abort or other signal exit, no hang (20 s), exit code non-zero, one line on stderr naming
//! the file and the key or line, and the whole working tree unchanged (nothing written outside
//! or inside, no `*.tmp*` left).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

struct Case {
    label: String,
    args: Vec<String>,
    /// Run in this directory (the tree snapshotted before and after).
    cwd: PathBuf,
    /// The error must contain this.
    expect: String,
    /// ... and one of these file names.
    names: Vec<String>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

/// Every file under `root` with its length and content (directories too).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.insert(p.clone(), None);
                stack.push(p);
            } else {
                out.insert(p.clone(), Some(std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out
}

fn expectation(file: &Path) -> String {
    let bytes = std::fs::read(file).unwrap();
    let first = String::from_utf8_lossy(&bytes[..bytes.iter().position(|&b| b == b'\n').unwrap()]).into_owned();
    first.strip_prefix("# expect: ").unwrap_or_else(|| panic!("{}: no `# expect:` line", file.display())).to_string()
}

/// Runs one case; returns a failure description.
fn run(case: &Case, root: &Path) -> Option<String> {
    let before = snapshot(root);
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pathspace"))
        .args(&case.args)
        .current_dir(&case.cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Some(format!("{}: hang (no exit within {LIMIT:?})", case.label));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let e = stderr.trim_end();
    let fail = |what: &str| Some(format!("{}: {what} (status {status}): {}", case.label, e.chars().take(400).collect::<String>()));
    let Some(code) = status.code() else { return fail("ended by a signal (abort)") };
    if code == 0 {
        return fail("exit code 0 on bad input");
    }
    if code == 101 || e.contains("panicked") {
        return fail("panic");
    }
    if e.lines().count() != 1 {
        return fail("not one line");
    }
    if e.chars().count() > 600 {
        return fail("message longer than 600 characters");
    }
    if !e.contains(&case.expect) {
        return fail(&format!("does not contain {:?}", case.expect));
    }
    if !case.names.iter().any(|n| e.contains(n.as_str())) {
        return fail(&format!("names none of {:?}", case.names));
    }
    let after = snapshot(root);
    if after != before {
        let changed: Vec<_> = after.keys().filter(|k| before.get(*k) != after.get(*k)).chain(before.keys().filter(|k| !after.contains_key(*k))).collect();
        return fail(&format!("the tree changed: {changed:?}"));
    }
    for escaped in ["/pathspace_hostile_absolute", "/pathspace_hostile_fit_absolute"] {
        if Path::new(escaped).exists() {
            return fail(&format!("wrote {escaped}"));
        }
    }
    None
}

fn file_cases(kind: &str, cwd: &Path) -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir().join(kind)).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let expect = expectation(&f);
            let mut names = vec![f.file_name().unwrap().to_string_lossy().into_owned()];
            // Data-file errors name the data file: the fragment starts with it.
            if let Some((data, _)) = expect.split_once(": ") {
                names.push(data.to_string());
            }
            Case { label: format!("{kind}/{}", names[0]), args: vec![kind.into(), f.display().to_string()], cwd: cwd.to_path_buf(), expect, names }
        })
        .collect()
}

const TINY: &str = "[system]\nkind = \"harmonic\"\n[drift]\nhidden = 4\n[sde]\nsteps = 4\n[train]\niterations = 2\nwalkers = 4\n[eval]\nwalkers = 4\nsteps = 4\nburn_in = 2\nestimators = [\"variational\", \"dmc\"]\n[dmc]\nwalkers = 4\nsteps = 4\nburn_in = 2\nextrapolate = false\n[output]\npath_walkers = 0\n";

/// Inputs made here: size caps, special files, corrupted run files, a locked run directory.
fn generated_cases(root: &Path, cwd: &Path) -> Vec<Case> {
    let made = root.join("generated");
    std::fs::create_dir_all(&made).unwrap();
    let mut cases = Vec::new();
    let case = |label: &str, args: Vec<String>, expect: &str, names: &[&str]| Case {
        label: label.into(),
        args,
        cwd: cwd.to_path_buf(),
        expect: expect.into(),
        names: names.iter().map(|s| s.to_string()).collect(),
    };
    let s = |p: &Path| p.display().to_string();
    // Over the 1 MiB cap: a 2 MiB problem file (solve and fit), and /dev/zero.
    let big = made.join("two_mebibytes.toml");
    std::fs::write(&big, format!("{TINY}# {}\n", "x".repeat(2 << 20))).unwrap();
    cases.push(case("generated/two_mebibytes (solve)", vec!["solve".into(), s(&big)], "larger than", &["two_mebibytes.toml"]));
    cases.push(case("generated/two_mebibytes (fit)", vec!["fit".into(), s(&big)], "larger than", &["two_mebibytes.toml"]));
    let long = made.join("one_long_line.toml");
    std::fs::write(&long, format!("[system]\nkind = \"{}\"\n", "y".repeat(900_000))).unwrap();
    cases.push(case("generated/one_long_line", vec!["solve".into(), s(&long)], "system.kind", &["one_long_line.toml"]));
    if Path::new("/dev/zero").exists() {
        cases.push(case("generated/dev_zero", vec!["solve".into(), "/dev/zero".into()], "larger than", &["/dev/zero"]));
    }
    cases.push(case("generated/directory", vec!["solve".into(), s(&made)], "cannot read", &["generated"]));
    cases.push(case("generated/missing", vec!["solve".into(), s(&made.join("missing.toml"))], "cannot read", &["missing.toml"]));
    cases.push(case("generated/missing (fit)", vec!["fit".into(), s(&made.join("missing.toml"))], "cannot read", &["missing.toml"]));

    // A real run directory to corrupt: a tiny solve (the binary, a few seconds).
    let problem = made.join("tiny.toml");
    std::fs::write(&problem, TINY).unwrap();
    let good = made.join("good_run");
    let o = Command::new(env!("CARGO_BIN_EXE_pathspace")).args(["solve", &s(&problem), "--out", &s(&good)]).output().unwrap();
    assert!(o.status.success(), "the tiny run fails: {}", String::from_utf8_lossy(&o.stderr));
    for f in std::fs::read_dir(&good).unwrap() {
        let p = f.unwrap().path();
        if !matches!(p.file_name().unwrap().to_str().unwrap(), "checkpoint.bin" | "run.h5" | "summary.json" | "training.csv") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let corruptions = |bytes: &[u8]| -> Vec<(String, Option<Vec<u8>>)> {
        let n = bytes.len();
        let mut v: Vec<(String, Option<Vec<u8>>)> = vec![("missing".into(), None), ("empty".into(), Some(Vec::new()))];
        for cut in [1, 7, 64, n / 3, n / 2, n - 1] {
            v.push((format!("truncated_{cut}"), Some(bytes[..cut].to_vec())));
        }
        for at in [0, 3, 5] {
            let mut b = bytes.to_vec();
            b[at] ^= 0x5a;
            v.push((format!("flipped_{at}"), Some(b)));
        }
        v.push(("garbage".into(), Some((0..n).map(|i| (i * 7919 % 251) as u8).collect())));
        v.push(("doubled".into(), Some([bytes, bytes].concat())));
        v
    };
    let checkpoint = std::fs::read(good.join("checkpoint.bin")).unwrap();
    let mut k = 0;
    for (name, bytes) in corruptions(&checkpoint) {
        // Checkpoints are checksummed: any flip anywhere is refused.
        let mut all = vec![(name.clone(), bytes)];
        if name == "flipped_0" {
            for at in [checkpoint.len() / 4, checkpoint.len() / 2, checkpoint.len() - 3] {
                let mut b = checkpoint.clone();
                b[at] ^= 1;
                all.push((format!("flipped_{at}"), Some(b)));
            }
        }
        for (name, bytes) in all {
            k += 1;
            let dir = made.join(format!("ck_{k}_{name}"));
            copy_run(&good, &dir, "checkpoint.bin", bytes.as_deref());
            cases.push(case(&format!("checkpoint.bin {name} (solve --resume)"), vec!["solve".into(), s(&problem), "--resume".into(), s(&dir)], "checkpoint.bin", &["checkpoint.bin"]));
            cases.push(case(&format!("checkpoint.bin {name} (dmc --from)"), vec!["dmc".into(), s(&problem), "--from".into(), s(&dir)], "checkpoint.bin", &["checkpoint.bin"]));
        }
    }
    let h5 = std::fs::read(good.join("run.h5")).unwrap();
    for (name, bytes) in corruptions(&h5).into_iter().filter(|(n, _)| !n.starts_with("flipped") || n == "flipped_0" || n == "flipped_3") {
        k += 1;
        let dir = made.join(format!("h5_{k}_{name}"));
        copy_run(&good, &dir, "run.h5", bytes.as_deref());
        if name == "doubled" {
            continue; // trailing bytes after a complete HDF5 file are not an error of the format
        }
        cases.push(case(&format!("run.h5 {name} (plot)"), vec!["plot".into(), s(&dir)], "run.h5", &["run.h5"]));
        cases.push(case(&format!("run.h5 {name} (export)"), vec!["export".into(), s(&dir)], "run.h5", &["run.h5"]));
    }
    // `dmc --from` with a problem of another [system] (ω) or another [drift].
    for (label, from, to, expect) in [("other_omega", "kind = \"harmonic\"\n", "kind = \"harmonic\"\nomega = 2.0\n", "system"), ("other_drift", "hidden = 4", "hidden = 5", "drift")] {
        let other = made.join(format!("{label}.toml"));
        std::fs::write(&other, TINY.replace(from, to)).unwrap();
        cases.push(case(&format!("dmc --from with {label}"), vec!["dmc".into(), s(&other), "--from".into(), s(&good)], expect, &["checkpoint.bin"]));
    }
    // A run directory locked by a live process (this test's own pid): solve, dmc, plot, export.
    let locked = made.join("locked_run");
    copy_run(&good, &locked, "checkpoint.bin", Some(&checkpoint));
    std::fs::write(locked.join(".pathspace.lock"), format!("{}\n", std::process::id())).unwrap();
    cases.push(case("locked (solve --out)", vec!["solve".into(), s(&problem), "--out".into(), s(&locked)], "in use", &["locked_run"]));
    cases.push(case("locked (solve --resume)", vec!["solve".into(), s(&problem), "--resume".into(), s(&locked)], "in use", &["locked_run"]));
    cases.push(case("locked (dmc --from)", vec!["dmc".into(), s(&problem), "--from".into(), s(&locked)], "in use", &["locked_run"]));
    cases.push(case("locked (plot)", vec!["plot".into(), s(&locked)], "in use", &["locked_run"]));
    cases.push(case("locked (export)", vec!["export".into(), s(&locked)], "in use", &["locked_run"]));
    cases
}

/// A copy of run directory `from` at `to` with `file` replaced by `bytes` (removed for None).
fn copy_run(from: &Path, to: &Path, file: &str, bytes: Option<&[u8]>) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
    match bytes {
        Some(b) => std::fs::write(to.join(file), b).unwrap(),
        None => std::fs::remove_file(to.join(file)).unwrap(),
    }
}

#[test]
fn every_hostile_input_gets_a_one_line_error_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    // Nested, so that a name like "../../x" would land inside the snapshotted tree.
    let cwd = root.path().join("a/b/work");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut cases = file_cases("solve", &cwd);
    cases.extend(file_cases("fit", &cwd));
    let from_files = cases.len();
    cases.extend(generated_cases(root.path(), &cwd));
    let start = Instant::now();
    let failures: Vec<String> = cases.iter().filter_map(|c| run(c, root.path())).collect();
    let tmp_left: Vec<_> = snapshot(root.path()).into_keys().filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tmp")).collect();
    eprintln!("{} hostile inputs ({from_files} corpus files), {} failures, {:.1} s", cases.len(), failures.len(), start.elapsed().as_secs_f64());
    assert!(cases.len() >= 150, "only {} hostile inputs", cases.len());
    assert!(failures.is_empty(), "{} of {} hostile inputs failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(tmp_left.is_empty(), "temporary files left: {tmp_left:?}");
}
