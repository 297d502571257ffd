//! Every problem file shipped in the repository parses: `problems/*.toml` (ground states for
//! `solve`, latent models for `fit`) and the benchmark problems under `benches/`.

use std::path::{Path, PathBuf};

fn tomls(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
    files.sort();
    files
}

#[test]
fn shipped_problem_files_parse() {
    let mut checked = 0;
    for file in ["problems", "benches", "benches/reference"].into_iter().flat_map(tomls) {
        let text = std::fs::read_to_string(&file).unwrap();
        // Latent-model problems have a [model] table and run under `fit`.
        let result = if text.lines().any(|l| l.trim() == "[model]") {
            pathspace::latent::config::FitProblem::load(&file).map(|_| ())
        } else {
            pathspace::quantum::problem::Problem::load(&file).map(|_| ())
        };
        if let Err(e) = result {
            panic!("{}: {e}", file.display());
        }
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} problem files found");
}

/// The headline problem: H₂ at R = 1.401 with the Jastrow drift, a VMC stage, its exact
/// reference and DMC; the flat gradient network it had before is the benchmarks' guide.
#[test]
fn h2_problem_is_the_documented_one() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("problems/h2.toml");
    let p = pathspace::quantum::problem::Problem::load(&file).unwrap();
    assert_eq!(p.reference, Some(-1.1744759));
    assert_eq!(p.drift.kind, pathspace::quantum::problem::DriftKind::Jastrow);
    assert!(p.vmc.iterations > 0);
    assert_eq!(p.vmc.dt, 0.05, "the default move step, min(0.05, 1/Z²)");
    assert!(p.eval.estimators.contains(&pathspace::quantum::problem::Estimator::Dmc));
    let bench = pathspace::quantum::problem::Problem::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/h2_gradient.toml")).unwrap();
    assert_eq!(bench.drift.kind, pathspace::quantum::problem::DriftKind::Gradient);
    assert_eq!((bench.system.particles(), bench.reference), (2, Some(-1.1744759)));
}

/// The memory estimate that refuses oversized problems leaves the shipped ones far below the
/// memory of a small machine (2 GiB), so they are not refused there.
#[test]
fn shipped_problem_files_are_estimated_to_fit_a_small_machine() {
    for file in ["problems", "benches", "benches/reference"].into_iter().flat_map(tomls) {
        let text = std::fs::read_to_string(&file).unwrap();
        let terms = if text.lines().any(|l| l.trim() == "[model]") {
            pathspace::latent::config::FitProblem::load(&file).unwrap().memory_estimate()
        } else {
            pathspace::quantum::problem::Problem::load(&file).unwrap().memory_estimate()
        };
        let total: f64 = terms.iter().map(|t| t.1).sum();
        assert!(total > 1e6 && total < 2.0 * (1u64 << 30) as f64, "{}: estimated {total:.3e} bytes ({terms:?})", file.display());
    }
}

/// Issue 37: iteration and move counts of i64::MAX were accepted and ran forever; they are
/// refused naming the key. The largest supported counts still parse.
#[test]
fn absurd_iteration_and_move_counts_are_refused_naming_the_key() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("problems/h2.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    // h2.toml's own lines: [train] iterations = 600, [vmc] iterations = 4000, [vmc] moves = 5.
    for (line, named) in [("iterations = 600", "train.iterations"), ("iterations = 4000", "vmc.iterations"), ("moves = 5", "vmc.moves")] {
        assert!(text.contains(&format!("\n{line}\n")), "h2.toml no longer has `{line}`");
        let key = line.split(" = ").next().unwrap();
        let crafted = text.replacen(&format!("\n{line}\n"), &format!("\n{key} = 9223372036854775807\n"), 1);
        let e = pathspace::quantum::problem::Problem::parse(&file, &crafted).unwrap_err().to_string();
        assert!(e.contains(named) && e.contains("supported") && e.lines().count() == 1, "{e}");
    }
    let most = text.replace("\niterations = 4000\n", "\niterations = 1000000000\n").replace("\nmoves = 5\n", "\nmoves = 1000000\n");
    pathspace::quantum::problem::Problem::parse(&file, &most).unwrap();
}
