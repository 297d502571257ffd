//! The commands the README and docs/results.md give, checked against the binary: every
//! `cargo run --release [--locked] -- SUBCOMMAND ARGS` names a subcommand that exists, every
//! `--flag` it passes is one that subcommand takes (its `--help` lists it), and every shipped
//! problem file it names exists. (The runs themselves take minutes each; their numbers are
//! pinned by the physics tests, not here.)

use std::path::Path;
use std::process::Command;

fn commands(text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(i) = rest.find("cargo run --release") {
            let tail = &rest[i..];
            let Some(dash) = tail.find(" -- ") else { break };
            let after = &tail[dash + 4..];
            // The command ends at a closing backtick, a table cell, a comment or the line's end.
            let end = after.find(['`', '|', '#']).unwrap_or(after.len());
            let words: Vec<String> = after[..end].split_whitespace().map(str::to_string).collect();
            if !words.is_empty() {
                found.push(words);
            }
            rest = &after[end..];
        }
    }
    found
}

fn help(subcommand: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pathspace")).args([subcommand, "--help"]).output().expect("the binary runs");
    assert!(out.status.success(), "`pathspace {subcommand} --help` failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn documented_commands_name_real_subcommands_flags_and_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    let mut wrong = Vec::new();
    for page in ["README.md", "docs/results.md"] {
        let text = std::fs::read_to_string(root.join(page)).unwrap();
        for words in commands(&text) {
            let subcommand = &words[0];
            let usage = help(subcommand);
            for word in &words[1..] {
                if word.starts_with("--") && !usage.contains(word.as_str()) {
                    wrong.push(format!("{page}: `{}`: `{subcommand}` takes no {word}", words.join(" ")));
                }
                let shipped = word.starts_with("problems/") || word.starts_with("benches/");
                if shipped && word.ends_with(".toml") && !root.join(word).exists() {
                    wrong.push(format!("{page}: `{}`: no file {word}", words.join(" ")));
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} commands found: has the README's format changed?");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
