//! The crate's layering, checked on its source (docs/architecture.md):
//!
//! - no import cycle between modules (a module is a top-level folder of src/, or a file or
//!   folder directly under `quantum/`, `latent/` or `simd/`, or `plot/style.rs`);
//! - each layer imports only the layers below it: `base` nothing; `parallel`, `stats`, `path`
//!   only `base`; `simd` and `io` also `parallel`; `plot::style` `base` and `io`; `latent` nothing of
//!   `quantum`, `plot` or `bench`; `quantum` nothing of `latent`, `plot` or `bench`;
//! - the text of src/latent names nothing of `quantum`, and the text of `base`, `parallel`,
//!   `stats`, `path`, `simd` and `io` names neither application.
//!
//! Test code (`#[cfg(test)]` items and the files they declare) compares the layers with each
//! other (a fused engine against the autodiff one) and is left out. The same check from a shell:
//! `cargo test --release --test architecture -- --nocapture` prints the module graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file relative to src/ (`quantum/walk/mod.rs` → [quantum, walk]).
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// The unit of the module graph a module path belongs to.
fn unit(parts: &[String]) -> Option<String> {
    let first = parts.first()?;
    if parts.len() > 1 && (first == "quantum" || first == "latent" || first == "simd" || (first == "plot" && parts[1] == "style")) {
        return Some(format!("{first}::{}", parts[1]));
    }
    Some(first.clone())
}

/// The code of a file without comments and without `#[cfg(test)]` items; the test files it
/// declares (`#[cfg(test)] mod tests;`) are added to `test_files`.
fn library_code(text: &str, file: &Path, test_files: &mut BTreeSet<PathBuf>) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" && i + 1 < lines.len() {
            let next = lines[i + 1].trim();
            let declared = next.trim_start_matches("pub(crate) ").trim_start_matches("pub ");
            if let Some(name) = declared.strip_prefix("mod ").and_then(|n| n.strip_suffix(';')) {
                let dir = file.parent().unwrap();
                let stem = file.file_stem().unwrap().to_string_lossy();
                let base = if stem == "mod" || stem == "lib" { dir.to_path_buf() } else { dir.join(&*stem) };
                test_files.insert(base.join(format!("{name}.rs")));
                test_files.insert(base.join(name).join("mod.rs"));
                i += 2;
                continue;
            }
            // Skip the item: up to the brace that closes its first block.
            let (mut depth, mut opened) = (0i64, false);
            i += 1;
            while i < lines.len() {
                let l = lines[i];
                depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
                opened |= l.contains('{');
                i += 1;
                if opened && depth <= 0 {
                    break;
                }
            }
            continue;
        }
        out.push_str(lines[i].split("//").next().unwrap());
        out.push('\n');
        i += 1;
    }
    out
}

/// Every `crate::a::b` and `super::a` path in `code`, as module paths.
fn references(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect::<String>();
    let mut found = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let a = ident(rest);
        if a.is_empty() {
            continue;
        }
        let mut path = vec![a.clone()];
        if let Some(tail) = rest[a.len()..].strip_prefix("::") {
            let b = ident(tail);
            if !b.is_empty() {
                path.push(b);
            }
        }
        found.push(path);
    }
    for (i, _) in code.match_indices("super::") {
        if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let name = ident(&code[i + "super::".len()..]);
        // `super` of a module is its parent (a mod.rs file is its folder's module).
        let mut parent: Vec<String> = module.to_vec();
        parent.pop();
        if !name.is_empty() {
            parent.push(name);
            found.push(parent);
        }
    }
    found
}

struct Graph {
    edges: BTreeMap<String, BTreeSet<String>>,
    /// (from, to) → files that make the edge.
    why: BTreeMap<(String, String), BTreeSet<String>>,
    /// Library code per file (relative path), for the text checks.
    code: BTreeMap<PathBuf, String>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut test_files = BTreeSet::new();
    let code: Vec<(PathBuf, String)> = files.iter().map(|f| (f.clone(), library_code(&std::fs::read_to_string(f).unwrap(), f, &mut test_files))).collect();
    let mut g = Graph { edges: BTreeMap::new(), why: BTreeMap::new(), code: BTreeMap::new() };
    for (file, text) in code {
        let relative = file.strip_prefix(&src).unwrap().to_path_buf();
        // The binary's files (main, cli, signals) sit on top and are not part of the library.
        if test_files.contains(&file) || ["main.rs", "cli.rs", "signals.rs", "lib.rs"].iter().any(|f| relative == Path::new(f)) {
            continue;
        }
        let module = module_of(&relative);
        let from = unit(&module).unwrap();
        for path in references(&text, &module) {
            let Some(to) = unit(&path) else { continue };
            if to != from && !from.starts_with(&format!("{to}::")) && !to.starts_with(&format!("{from}::")) {
                g.edges.entry(from.clone()).or_default().insert(to.clone());
                g.why.entry((from.clone(), to)).or_default().insert(relative.display().to_string());
            }
        }
        g.code.insert(relative, text);
    }
    g
}

/// The strongly connected components with more than one unit (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        if let Some(next) = s.edges.get(v) {
            for w in next {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if s.on.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut nodes: BTreeSet<&str> = edges.keys().map(String::as_str).collect();
    nodes.extend(edges.values().flatten().map(String::as_str));
    let mut s = State { edges, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on: BTreeSet::new(), found: Vec::new() };
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn the_module_graph_has_no_cycle() {
    let g = graph();
    for (from, to) in &g.edges {
        println!("{from} -> {}", to.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    let found = cycles(&g.edges);
    let explain: Vec<String> = found
        .iter()
        .flat_map(|c| {
            c.iter().flat_map(|a| c.iter().filter_map(|b| g.why.get(&(a.clone(), b.clone())).map(|files| format!("{a} -> {b} ({})", files.iter().cloned().collect::<Vec<_>>().join(", ")))).collect::<Vec<_>>())
        })
        .collect();
    assert!(found.is_empty(), "import cycles: {found:?}\n{}", explain.join("\n"));
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    let g = graph();
    let allowed = |from: &str, to: &str| -> bool {
        let top = |u: &str| u.split("::").next().unwrap().to_string();
        let to_top = top(to);
        if top(from) == to_top {
            // Within one layer only the cycle check applies.
            return true;
        }
        match top(from).as_str() {
            "base" => false,
            "parallel" | "stats" | "path" => to_top == "base",
            "simd" | "io" => ["base", "parallel"].contains(&to_top.as_str()),
            "plot" if from == "plot::style" => ["base", "io"].contains(&to_top.as_str()),
            "latent" => !["quantum", "bench"].contains(&to_top.as_str()) && (to_top != "plot" || to == "plot::style"),
            "quantum" => !["latent", "plot", "bench"].contains(&to_top.as_str()),
            "plot" | "bench" => true,
            other => panic!("a module the layering does not know: {other} (add it to docs/architecture.md and here)"),
        }
    };
    let wrong: Vec<String> = g
        .edges
        .iter()
        .flat_map(|(from, to)| to.iter().filter(|t| !allowed(from, t)).map(move |t| (from.clone(), t.clone())))
        .map(|(from, to)| format!("{from} -> {to} ({})", g.why[&(from.clone(), to.clone())].iter().cloned().collect::<Vec<_>>().join(", ")))
        .collect();
    assert!(wrong.is_empty(), "imports against the layering:\n{}", wrong.join("\n"));
}

#[test]
fn latent_and_the_shared_layers_name_no_application_they_do_not_own() {
    let g = graph();
    let mut wrong = Vec::new();
    for (file, code) in &g.code {
        let top = file.iter().next().unwrap().to_string_lossy().into_owned();
        let forbidden: &[&str] = match top.as_str() {
            "latent" => &["quantum::"],
            "base" | "parallel" | "stats" | "path" | "simd" | "io" => &["quantum::", "latent::"],
            _ => &[],
        };
        for name in forbidden {
            if code.contains(name) {
                wrong.push(format!("src/{} names `{name}`", file.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
