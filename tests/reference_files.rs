//! The commented reference problem files, problems/reference/solve.toml and fit.toml, document
//! exactly the keys their parsers accept, so the documentation cannot drift from the code:
//! each file is a valid problem of its application; every key of the parser's `accepted_keys()`
//! (read from its serde derives) is written in the file, set or as a commented `# key = value`
//! line, in its table; every key written there is accepted; and every key line says its default.

use std::path::{Path, PathBuf};

fn reference(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("problems/reference").join(name)
}

/// A key written in a reference file.
#[derive(Debug)]
struct Written {
    /// Dotted: `table.key`, or `key` at the top level.
    key: String,
    /// 1-based line.
    line: usize,
    /// Set (`key = value`) rather than commented (`# key = value`).
    active: bool,
    /// The line without its leading `#` (a commented key: the TOML it stands for).
    body: String,
    /// The comment on the key's line and on the indented comment lines that continue it.
    comment: String,
}

/// `name` of a table header `[name]` or `[[name]]` (a trailing comment allowed).
fn header(body: &str) -> Option<String> {
    let head = body.split('#').next().unwrap_or("").trim();
    let name = match head.strip_prefix("[[") {
        Some(rest) => rest.strip_suffix("]]")?,
        None => head.strip_prefix('[')?.strip_suffix(']')?,
    }
    .trim();
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    plain.then(|| name.to_string())
}

/// The bare key of a line `key = value` (prose that merely holds an `=` is not one).
fn key_of(body: &str) -> Option<&str> {
    let (key, rest) = body.split_once('=')?;
    let key = key.trim();
    let bare = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (bare && !rest.starts_with('=')).then_some(key)
}

/// The keys a reference file writes, set or commented, each in the table of the header above it
/// (commented headers such as `# [system.interaction]` included).
fn scan(file: &Path) -> Vec<Written> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let lines: Vec<&str> = text.lines().collect();
    let (mut real, mut documented) = (String::new(), String::new());
    let mut written = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        let (active, body) = match line.strip_prefix('#') {
            Some(rest) => (false, rest.trim()),
            None => (true, line),
        };
        if let Some(table) = header(body) {
            if active {
                real = table.clone();
            }
            documented = table;
            continue;
        }
        let Some(key) = key_of(body) else { continue };
        if active {
            assert_eq!(
                documented,
                real,
                "{}:{}: the key `{key}` is set under the commented header [{documented}] but belongs to [{real}]: write a real header before it",
                file.display(),
                i + 1
            );
        }
        let table = if active { &real } else { &documented };
        let dotted = if table.is_empty() { key.to_string() } else { format!("{table}.{key}") };
        let mut comment = body.split_once('#').map(|(_, c)| c.to_string()).unwrap_or_default();
        for next in &lines[i + 1..] {
            // Continuations are indented comment lines.
            if !(next.starts_with(char::is_whitespace) && next.trim_start().starts_with('#')) {
                break;
            }
            comment.push(' ');
            comment.push_str(next.trim_start().trim_start_matches('#').trim());
        }
        written.push(Written { key: dotted, line: i + 1, active, body: body.to_string(), comment });
    }
    written
}

/// Checks a reference file against its parser's keys.
fn check(file: &Path, accepted: &[String]) -> usize {
    let written = scan(file);
    let name = file.display();
    let mut problems = Vec::new();
    for key in accepted {
        if !written.iter().any(|w| &w.key == key) {
            problems.push(format!("{name}: the accepted key `{key}` is not documented (write `key = value   # meaning` or `# key = value   # meaning` in its table)"));
        }
    }
    for w in &written {
        let state = if w.active { "set" } else { "commented" };
        if !accepted.contains(&w.key) {
            problems.push(format!("{name}:{}: the key `{}` ({state}) is not accepted by the parser", w.line, w.key));
        }
        if written.iter().filter(|o| o.key == w.key).count() > 1 {
            problems.push(format!("{name}:{}: the key `{}` is documented more than once", w.line, w.key));
        }
        if !w.comment.contains("default") {
            problems.push(format!("{name}:{}: the key `{}` has no comment giving its meaning and its default", w.line, w.key));
        }
        if !w.active {
            if let Err(e) = w.body.parse::<toml::Table>() {
                problems.push(format!("{name}:{}: the commented key `{}` is not valid TOML once uncommented: {}", w.line, w.key, e.message()));
            }
        }
    }
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    accepted.len()
}

#[test]
fn accepted_keys_come_from_the_parsers() {
    let solve = pathspace::quantum::problem::accepted_keys();
    let fit = pathspace::latent::config::accepted_keys();
    for (keys, expected) in [
        (&solve, &["name", "reference", "system.kind", "system.nuclei.charge", "system.interaction.g", "drift.three_body", "train.walkers", "dmc.max_seconds", "vmc.objective", "output.checkpoint_every"][..]),
        (&fit, &["name", "data.kind", "data.file", "model.decoder_variance", "train.engine", "eval.iwae_k"][..]),
    ] {
        for key in expected {
            assert!(keys.iter().any(|k| k == key), "`{key}` is missing from {keys:?}");
        }
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "a key is listed twice: {keys:?}");
    }
    // Tables are listed by their keys, not by themselves.
    for table in ["system", "system.interaction", "system.nuclei", "train"] {
        assert!(!solve.iter().any(|k| k == table), "the table `{table}` is listed as a key");
    }
    assert!(!fit.iter().any(|k| k == "model"), "the table `model` is listed as a key");
}

#[test]
fn solve_reference_file_is_a_valid_problem() {
    let file = reference("solve.toml");
    let problem = pathspace::quantum::problem::Problem::load(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(problem.reference, Some(1.5));
}

#[test]
fn fit_reference_file_is_a_valid_problem() {
    let file = reference("fit.toml");
    pathspace::latent::config::FitProblem::load(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
}

#[test]
fn solve_reference_file_documents_exactly_the_accepted_keys() {
    let n = check(&reference("solve.toml"), &pathspace::quantum::problem::accepted_keys());
    println!("solve.toml documents {n} keys");
}

#[test]
fn fit_reference_file_documents_exactly_the_accepted_keys() {
    let n = check(&reference("fit.toml"), &pathspace::latent::config::accepted_keys());
    println!("fit.toml documents {n} keys");
}

/// The scanner itself: a key the parser does not accept, a missing one and a key set under a
/// commented header are reported with the file and the key.
#[test]
fn scanner_reports_missing_unknown_and_misplaced_keys() {
    let dir = std::env::temp_dir().join(format!("pathspace_reference_files_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let accepted: Vec<String> = ["name", "a.x", "a.y", "a.b.z"].iter().map(|s| s.to_string()).collect();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let good = write("good.toml", "name = \"n\"   # the name (default none)\n[a]\nx = 1   # x (default 1)\n# y = 2   # y,\n          # (default 2)\n# [a.b]\n# z = 3   # z (default 3)\n");
    assert_eq!(check(&good, &accepted), 4);
    let failure = |path: PathBuf| {
        let accepted = accepted.clone();
        let payload = std::panic::catch_unwind(move || check(&path, &accepted)).unwrap_err();
        payload.downcast_ref::<String>().cloned().unwrap_or_default()
    };
    let missing = failure(write("missing.toml", "name = \"n\"   # (default none)\n[a]\nx = 1   # (default 1)\n# [a.b]\n# z = 3   # (default 3)\n"));
    assert!(missing.contains("missing.toml") && missing.contains("`a.y` is not documented"), "{missing}");
    let unknown = failure(write("unknown.toml", "name = \"n\"   # (default none)\n[a]\nx = 1   # (default 1)\ny = 1   # (default 1)\n# w = 1   # (default 1)\n# [a.b]\n# z = 3   # (default 3)\n"));
    assert!(unknown.contains("unknown.toml:5") && unknown.contains("`a.w` (commented) is not accepted"), "{unknown}");
    let misplaced = std::panic::catch_unwind(|| scan(&write("misplaced.toml", "[a]\n# [a.b]\n# z = 3\nx = 1\n"))).unwrap_err();
    let misplaced = misplaced.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(misplaced.contains("misplaced.toml:4") && misplaced.contains("`x`"), "{misplaced}");
    std::fs::remove_dir_all(&dir).ok();
}
