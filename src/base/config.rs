//! Problem-file infrastructure that both applications share and that knows neither: reading a
//! file as bounded UTF-8 text, one-line TOML messages, run names, resource (memory) checks, and
//! `[train] engine` — with [`EngineChoice::fused`], the one place a run's engine is chosen.

use crate::base::device::fused_runs_on;
use crate::base::error::{Error, Result};
use burn::tensor::Device;
use serde::Deserialize;
use std::path::Path;

/// `[train] engine`: what computes a training step (and the evaluation paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// The fused CPU engine where it runs (the CPU device), burn autodiff elsewhere.
    Auto,
    /// The fused CPU engine; falls back to autodiff on a device it does not run on.
    Fused,
    /// burn's reverse-mode autodiff through the path (any backend).
    Autodiff,
}

impl EngineChoice {
    /// Whether a run with this choice computes on the fused CPU engines on `device`: the one
    /// place the engine is chosen (`solve`, `fit`, the guided walks and `bench` all ask here).
    /// `Auto` and `Fused` take the fused engine where it runs (the CPU device); `Fused` falls
    /// back to autodiff elsewhere.
    pub fn fused(self, device: &Device) -> bool {
        self != EngineChoice::Autodiff && fused_runs_on(device)
    }
}

/// The largest char boundary of `text` at or before `i`.
pub fn floor_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A toml/serde message that says what to fix, on one line, quotes shortened.
pub fn friendly_toml_message(message: &str) -> String {
    let m = message.trim().replace('\n', " ");
    if m.contains("recursion") || m.contains("recurse") {
        return "arrays or tables nested too deeply (beyond the parser's recursion limit); a problem file nests at most 3 levels".into();
    }
    // `struct RawSystem` etc. are internal names: say what the file should hold.
    let mut out = String::new();
    let mut rest = m.as_str();
    while let Some(i) = rest.find("struct Raw") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + "struct Raw".len()..];
        let end = tail.find(|c: char| !c.is_alphanumeric()).unwrap_or(tail.len());
        out.push_str(&format!("a table ([{}])", tail[..end].to_lowercase()));
        rest = &tail[end..];
    }
    out.push_str(rest);
    let out = out
        .replace("expected usize", "expected a non-negative integer")
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected f64", "expected a number")
        .replace("expected struct ", "expected a table ");
    // Shorten every backtick-quoted part.
    let parts: Vec<String> = out.split('`').enumerate().map(|(i, p)| if i % 2 == 1 { clip(p, 60) } else { p.to_string() }).collect();
    clip(&parts.join("`"), 240)
}

/// Largest size of a problem file (bytes).
pub const MAX_PROBLEM_BYTES: u64 = 1 << 20;

/// Reads a problem file as UTF-8 text of at most [`MAX_PROBLEM_BYTES`]; a longer file, or
/// bytes that are not UTF-8 (reported with their line and column), are errors naming the file.
pub fn read_text(path: &Path) -> Result<String> {
    read_text_limited(path, MAX_PROBLEM_BYTES, "a problem file this big is not one (check the path)")
}

/// [`read_text`] with another size limit and the reason a larger file is refused.
pub fn read_text_limited(path: &Path, max_bytes: u64, too_big: &str) -> Result<String> {
    use std::io::Read;
    let limit = max_bytes;
    let read_err = |cause| Error::Read { path: path.to_path_buf(), cause };
    let file = std::fs::File::open(path).map_err(read_err)?;
    if file.metadata().map_err(read_err)?.is_dir() {
        return Err(read_err(std::io::Error::other("is a directory, not a problem file")));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(read_err)?;
    let problem = |location: String, message: String| Error::Problem { path: path.to_path_buf(), location, message };
    if bytes.len() as u64 > limit {
        return Err(problem("file".into(), format!("larger than {} KiB: {too_big}", limit >> 10)));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = good.len() - good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
        let byte = e.as_bytes()[good.len()];
        problem(format!("line {line}, column {column}"), format!("not UTF-8 text (byte 0x{byte:02x}); save the file as UTF-8"))
    })
}

/// A run name must be a plain directory name: it becomes `runs/<name>/`.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '+');
    if name.is_empty() {
        return Err("is empty; it names the run directory runs/<name>/".into());
    }
    if name.chars().count() > 100 {
        return Err(format!("is {} characters long; at most 100 (it names the run directory)", name.chars().count()));
    }
    if name == "." || name == ".." || name.starts_with('.') || !name.chars().all(ok) {
        return Err(format!(
            "\"{}\" is not a plain directory name: use letters, digits, '-', '_', '.' and '+', not starting with '.' (no '/', spaces or control characters); it names runs/<name>/",
            clip(name, 40)
        ));
    }
    Ok(())
}

/// The run name of a file without `name`: its stem, with every character that
/// [`check_name`] refuses replaced by '_'.
pub fn default_name(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut name: String = stem.chars().take(100).map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '+') { c } else { '_' }).collect();
    if name.starts_with('.') {
        name.replace_range(..1, "_");
    }
    if name.is_empty() { "run".into() } else { name }
}

/// `s` for a one-line message: control characters escaped, at most `max` characters kept.
pub fn clip(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() { out.extend(c.escape_default()) } else { out.push(c) }
    }
    out
}

/// Physical memory of this machine in bytes (Linux /proc/meminfo; 64 GiB where unknown).
pub fn physical_memory() -> f64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemTotal:"))?.to_string();
        line.split_whitespace().nth(1)?.parse::<f64>().ok()
    });
    total.map_or(64.0 * (1u64 << 30) as f64, |kib| kib * 1024.0)
}

/// Bytes in a human unit.
pub fn bytes_text(b: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if v >= 1e6 { format!("{b:.2e} B") } else { format!("{v:.1} {}", units[u]) }
}

/// An error when the estimated memory exceeds the physical memory, naming the key with the
/// largest share.
pub fn check_memory(terms: &[(&str, f64)], fail: impl FnOnce(&str, String) -> Error) -> Result<()> {
    let total: f64 = terms.iter().map(|t| t.1).sum();
    let limit = physical_memory();
    if total.is_finite() && total <= limit {
        return Ok(());
    }
    let (key, largest) = terms.iter().copied().fold(("", 0.0), |a, t| if t.1 > a.1 || !t.1.is_finite() { t } else { a });
    Err(fail(key, format!("this problem needs about {} of memory ({} of it sized by this key), more than this machine's {}; make it smaller", bytes_text(total), bytes_text(largest), bytes_text(limit))))
}

/// The field names of the problem-file structs, read from their serde derives (what
/// `deny_unknown_fields` checks against): both applications' `accepted_keys` are built from
/// them, and tests/reference_files.rs checks the reference problem files against those lists.
/// The dotted keys of `tables` (table name, its struct's fields), a field that names a table
/// being expanded into that table's keys. Panics if a table is not a field of its parent (the
/// hand-written nesting would be wrong).
pub fn dotted_keys(tables: &[(&str, &'static [&'static str])]) -> Vec<String> {
    let dotted = |table: &str, field: &str| if table.is_empty() { field.to_string() } else { format!("{table}.{field}") };
    let mut keys = Vec::new();
    for (table, fields) in tables {
        if !table.is_empty() {
            let (parent, field) = table.rsplit_once('.').unwrap_or(("", table));
            let known = tables.iter().any(|(t, f)| *t == parent && f.contains(&field));
            assert!(known, "table `{table}` is not a field of `{}`", if parent.is_empty() { "the top level" } else { parent });
        }
        for field in fields.iter() {
            let key = dotted(table, field);
            if !tables.iter().any(|(t, _)| *t == key) && !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// The field names serde's derive passes to `deserialize_struct` for `T`.
pub fn struct_fields<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields = None;
    // The recorder refuses everything: only the call to `deserialize_struct` matters.
    let _ = T::deserialize(FieldRecorder(&mut fields));
    fields.unwrap_or_else(|| panic!("{} does not deserialise as a struct", std::any::type_name::<T>()))
}

/// A `serde::Deserializer` that records the field names of the struct asked of it and fails.
struct FieldRecorder<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for FieldRecorder<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> std::result::Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only the field names of a struct are recorded"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> std::result::Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(serde::de::Error::custom("field names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_are_plain_directory_names() {
        for good in ["h2", "bosons_2d_n4", "run-1.5", "a+b", "ψ₀"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", ".x", "a/b", "/abs", "../../x", "a\nb", "a b", "a\\b", &"n".repeat(101)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(default_name(Path::new("dir/my run!.toml")), "my_run_");
    }

    #[test]
    fn toml_messages_say_what_to_fix_in_one_short_line() {
        let m = friendly_toml_message("invalid type: integer `5`, expected struct RawSystem");
        assert_eq!(m, "invalid type: integer `5`, expected a table ([system])");
        assert!(friendly_toml_message("cannot recurse further; max recursion depth met").contains("nested too deeply"));
        let long = format!("unknown variant `{}`\nexpected `a`", "x".repeat(10_000));
        let m = friendly_toml_message(&long);
        assert!(m.chars().count() <= 241 && !m.contains('\n'), "{m}");
        assert_eq!(clip("a\u{7}b", 10), "a\\u{7}b");
    }

    #[test]
    fn read_text_caps_the_size_and_locates_bad_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; (MAX_PROBLEM_BYTES + 1) as usize]).unwrap();
        assert!(read_text(&big).unwrap_err().to_string().contains("larger than 1024 KiB"));
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, b"a = 1\nb = \"x\xffy\"\n").unwrap();
        let e = read_text(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.toml: line 2, column 7: not UTF-8 text (byte 0xff)"), "{e}");
    }
}
