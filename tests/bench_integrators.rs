//! `pathspace bench integrators` end to end: one JSON object with every scheme on the whole dt
//! ladder, a decodable plot of the stated size, and one-line errors for bad arguments.

mod common;

use std::process::Command;

fn pathspace(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pathspace")).arg("bench").arg("integrators").args(args).output().expect("run pathspace")
}

#[test]
fn json_report_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("weak.png");
    let o = pathspace(&["--walkers", "4096", "--json", "--plot", plot.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    let schemes = report["schemes"].as_array().unwrap();
    let names: Vec<&str> = schemes.iter().map(|s| s["integrator"].as_str().unwrap()).collect();
    assert_eq!(names, ["euler_maruyama", "heun", "sra3", "sosra"]);
    for s in schemes {
        let levels = s["levels"].as_array().unwrap();
        assert_eq!(levels.len(), 7);
        let dts: Vec<f64> = levels.iter().map(|l| l["dt"].as_f64().unwrap()).collect();
        assert!(dts.windows(2).all(|w| (w[1] / w[0] - 2.0).abs() < 1e-12), "{dts:?}");
        assert!(levels.iter().all(|l| l["stat_error"].as_f64().unwrap() > 0.0 && l["seconds_per_walker_step"].as_f64().unwrap() > 0.0));
    }
    assert_eq!(report["config"]["walkers"].as_u64(), Some(4096));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&plot).unwrap()));
    let reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (1000, 800));
    assert!(dir.path().join("weak.svg").exists());
}

fn assert_one_line_error(args: &[&str], expected: &[&str]) {
    common::assert_one_line_failure(&pathspace(args), &format!("{args:?}"), expected);
}

#[test]
fn bad_arguments_are_one_line_errors() {
    assert_one_line_error(&["--plot", "weak.jpg"], &["weak.jpg", "--plot", ".png"]);
    assert_one_line_error(&["--plot", "/nonexistent/dir/weak.png"], &["/nonexistent/dir/weak.png", "--plot"]);
    assert_one_line_error(&["--walkers", "1"], &["--walkers"]);
}
