//! Bounded fuzzing of the problem-file parsers: every shipped problem file (solve and fit),
//! mutated by a small seeded mutator (byte and line edits, extreme values swapped in for
//! numbers and strings), parsed in process. Never a panic; an error is one line of at most 600
//! characters naming the file; an accepted problem satisfies what validation promises (a
//! plain run name, time steps and sizes that are finite and positive, a memory estimate that
//! fits). Fixed seeds, a few thousand inputs per file: well under a minute.

use pathspace::latent::config::FitProblem;
use pathspace::base::config::{check_name, physical_memory};
use pathspace::quantum::problem::Problem;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

const MUTANTS_PER_FILE: usize = 5000;

/// Values that broke parsers before: zero, negative, non-finite, huge, fractional, empty.
const EXTREMES: &[&str] = &[
    "0", "-1", "nan", "-nan", "inf", "-inf", "1e300", "-1e300", "1e-300", "18446744073709551615", "9223372036854775807",
    "-9223372036854775808", "1e12", "1000000000000", "3.7", "\"\"", "\"../../x\"", "\"/abs\"", "\"a\\nb\"", "[]", "[[[[[[]]]]]]", "{}", "true", "=",
];

fn below(rng: &mut Xoshiro256PlusPlus, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

/// One random edit of `text`.
fn mutate(text: &str, rng: &mut Xoshiro256PlusPlus) -> String {
    let lines: Vec<&str> = text.lines().collect();
    match below(rng, 8) {
        // Swap an extreme value in for the value of a random `key = value` line.
        0 | 1 | 2 => {
            let candidates: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains('=') && !lines[i].trim_start().starts_with('#')).collect();
            if candidates.is_empty() {
                return text.to_string();
            }
            let i = candidates[below(rng, candidates.len())];
            let key = lines[i].split('=').next().unwrap();
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            out[i] = format!("{key}= {}", EXTREMES[below(rng, EXTREMES.len())]);
            out.join("\n")
        }
        // Delete a line.
        3 if !lines.is_empty() => {
            let i = below(rng, lines.len());
            lines.iter().enumerate().filter(|&(k, _)| k != i).map(|(_, l)| *l).collect::<Vec<_>>().join("\n")
        }
        // Duplicate a line (duplicate keys and tables).
        4 if !lines.is_empty() => {
            let i = below(rng, lines.len());
            let mut out: Vec<&str> = lines.clone();
            out.insert(i, lines[i]);
            out.join("\n")
        }
        // Cut the file at a random character.
        5 => text.chars().take(below(rng, text.chars().count())).collect(),
        // Insert a random printable or control character.
        6 => {
            let mut chars: Vec<char> = text.chars().collect();
            let c = match below(rng, 4) {
                0 => char::from(below(rng, 32) as u8),
                1 => ['[', ']', '{', '}', '"', '\'', '=', ',', '#', '.'][below(rng, 10)],
                2 => char::from_u32(0x80 + below(rng, 0x2000) as u32).unwrap_or('é'),
                _ => char::from(32 + below(rng, 95) as u8),
            };
            let at = below(rng, chars.len() + 1);
            chars.insert(at, c);
            chars.into_iter().collect()
        }
        // Replace a random digit run by a huge one.
        _ => {
            let digits: Vec<usize> = text.char_indices().filter(|(_, c)| c.is_ascii_digit()).map(|(i, _)| i).collect();
            if digits.is_empty() {
                return text.to_string();
            }
            let at = digits[below(rng, digits.len())];
            format!("{}99999999999999999999{}", &text[..at], &text[at + 1..])
        }
    }
}

fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("problems");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
    files.sort();
    files
}

fn check_error(file: &Path, message: &str, text: &str) {
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(!message.contains('\n') && message.chars().count() <= 600 && message.contains(name.as_ref()), "{}: bad message {message:?} for:\n{text}", file.display());
}

#[test]
fn mutated_shipped_problem_files_never_panic_and_fail_with_one_line() {
    let memory = physical_memory();
    let (mut accepted, mut refused) = (0usize, 0usize);
    let start = std::time::Instant::now();
    for (k, file) in shipped().iter().enumerate() {
        let original = std::fs::read_to_string(file).unwrap();
        let fit = original.lines().any(|l| l.trim() == "[model]");
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1600 + k as u64);
        for _ in 0..MUTANTS_PER_FILE {
            let mut text = mutate(&original, &mut rng);
            if below(&mut rng, 3) == 0 {
                text = mutate(&text, &mut rng);
            }
            let outcome = std::panic::catch_unwind(|| {
                if fit {
                    FitProblem::parse(file, &text).map(|p| {
                        assert!(check_name(&p.name).is_ok(), "accepted name {:?}", p.name);
                        assert!(p.memory_estimate().iter().map(|t| t.1).sum::<f64>() <= memory, "accepted a problem that does not fit");
                    })
                } else {
                    Problem::parse(file, &text).map(|p| {
                        assert!(check_name(&p.name).is_ok(), "accepted name {:?}", p.name);
                        for dt in [p.sde.dt, p.eval.dt, p.dmc.dt] {
                            assert!(dt.is_finite() && dt > 0.0, "accepted dt {dt}");
                        }
                        assert!(p.drift.skip_init.is_finite() && p.train.lr.is_finite() && p.train.lr_decay > 0.0);
                        assert!(p.memory_estimate().iter().map(|t| t.1).sum::<f64>() <= memory, "accepted a problem that does not fit");
                    })
                }
            });
            match outcome {
                Err(_) => panic!("{}: the parser panicked on:\n{text}", file.display()),
                Ok(Ok(())) => accepted += 1,
                Ok(Err(e)) => {
                    refused += 1;
                    check_error(file, &e.to_string(), &text);
                }
            }
        }
    }
    eprintln!("{} mutants: {accepted} accepted, {refused} refused, {:.1} s", accepted + refused, start.elapsed().as_secs_f64());
    assert!(refused > accepted / 4, "the mutator hardly breaks anything ({refused} refused of {})", accepted + refused);
}

/// Raw bytes: a flipped byte anywhere either parses or is refused with line and column.
#[test]
fn byte_flips_in_shipped_files_are_refused_with_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(16);
    for file in shipped() {
        let bytes = std::fs::read(&file).unwrap();
        for _ in 0..50 {
            let mut b = bytes.clone();
            let at = below(&mut rng, b.len());
            b[at] = 0x80 | (rng.next_u64() as u8);
            let path = dir.path().join(file.file_name().unwrap());
            std::fs::write(&path, &b).unwrap();
            let result = std::panic::catch_unwind(|| pathspace::base::config::read_text(&path));
            match result.expect("read_text panicked") {
                Ok(_) => {}
                Err(e) => {
                    let m = e.to_string();
                    assert!(m.contains("line ") && m.contains("column ") && m.contains("UTF-8"), "{m}");
                    check_error(&path, &m, "(bytes)");
                }
            }
        }
    }
}
