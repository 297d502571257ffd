//! `pathspace bench scaling` and `bench NAME --walkers N` end to end: the JSON's structure (a
//! point per benchmark and walker count, measured or skipped with the memory estimate as the
//! reason), a PNG that is not blank with its SVG beside it, and one-line errors for bad
//! arguments. Nothing here is timed: benchmarks report, tests check structure.

mod common;

use std::process::Command;

fn pathspace(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pathspace")).arg("bench").args(args).output().expect("run pathspace")
}

fn json(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

#[test]
fn every_benchmark_at_every_walker_count_with_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("s.png");
    let report = json(&pathspace(&["scaling", "--walker-counts", "8,16", "--repeats", "1", "--json", "--plot", plot.to_str().unwrap()]));
    assert_eq!(report["engine"], "fused");
    assert!(report["backend"].as_str().unwrap().starts_with("flex"));
    let points = report["points"].as_array().unwrap();
    let keys: Vec<(&str, u64)> = points.iter().map(|p| (p["benchmark"].as_str().unwrap(), p["walkers"].as_u64().unwrap())).collect();
    assert_eq!(keys, [("fk-mlp", 8), ("fk-mlp", 16), ("h2", 8), ("h2", 16), ("bosons4", 8), ("bosons4", 16)]);
    for p in points {
        let r = &p["result"];
        assert!(r["walker_steps_per_second"].as_f64().unwrap() > 0.0, "{p}");
        assert_eq!(r["walkers"], p["walkers"]);
        assert_eq!(r["repeats"].as_u64(), Some(1));
        assert!(p["estimated_gib"].as_f64().unwrap() > 0.0 && p.get("skipped").is_none(), "{p}");
    }

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&plot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (1000, 800));
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut pixels).unwrap();
    let distinct: std::collections::HashSet<&[u8]> = pixels.chunks(3).collect();
    assert!(distinct.len() > 3, "the plot is blank ({} colours)", distinct.len());
    let svg = std::fs::read_to_string(dir.path().join("s.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("walkers"));
}

#[test]
fn sizes_above_the_memory_cut_are_skipped_with_the_estimate() {
    let report = json(&pathspace(&["scaling", "--walker-counts", "8,16", "--repeats", "1", "--json", "--max-gib", "0.000001"]));
    let points = report["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    for p in points {
        assert!(p.get("result").is_none(), "{p}");
        let gib = p["estimated_gib"].as_f64().unwrap();
        assert!(gib > 0.000001, "{p}");
        let reason = p["skipped"].as_str().unwrap();
        assert!(reason.contains("estimated at") && reason.contains("GiB") && reason.contains("--max-gib"), "{reason}");
    }
}

#[test]
fn single_benchmark_at_a_given_walker_count() {
    let r = json(&pathspace(&["fk-mlp", "--walkers", "32", "--repeats", "1", "--json"]));
    assert_eq!(r["walkers"].as_u64(), Some(32));
    assert_eq!(r["benchmark"], "fk-mlp");
}

fn assert_one_line_error(args: &[&str], expected: &[&str]) {
    common::assert_one_line_failure(&pathspace(args), &format!("{args:?}"), expected);
}

#[test]
fn bad_arguments_are_one_line_errors() {
    assert_one_line_error(&["scaling", "--walker-counts", "0"], &["--walker-counts", "\"0\""]);
    assert_one_line_error(&["scaling", "--walker-counts", "abc"], &["--walker-counts", "\"abc\""]);
    assert_one_line_error(&["scaling", "--walker-counts", "8", "--plot", "/nonexistent/dir/s.png"], &["/nonexistent/dir/s.png", "--plot"]);
    assert_one_line_error(&["fk-mlp", "--walkers", "0"], &["--walkers"]);
}
