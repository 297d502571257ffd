//! `pathspace bench dmc --quick` end to end: one JSON object with positive training and DMC
//! rates (with and without Metropolis moves) and FLOP counts; a non-gradient problem is a
//! one-line error.

use std::process::Command;

fn pathspace(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pathspace")).arg("bench").arg("dmc").args(args).output().expect("run pathspace")
}

#[test]
fn quick_run_writes_json_with_positive_rates() {
    let o = pathspace(&["--quick", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(r["benchmark"], "dmc");
    assert_eq!(r["dmc_walkers"].as_u64(), Some(64));
    let positive = |v: &serde_json::Value, key: &str| {
        let x = v[key].as_f64().unwrap_or_else(|| panic!("{key} missing in {v}"));
        assert!(x > 0.0 && x.is_finite(), "{key} = {x}");
    };
    let t = &r["training"];
    for key in ["walker_steps_per_second", "flops_per_walker_step", "gflops", "seconds_per_iteration"] {
        positive(t, key);
    }
    let dmc = r["dmc"].as_array().unwrap();
    assert_eq!(dmc.iter().map(|d| d["metropolis"].as_bool().unwrap()).collect::<Vec<_>>(), [true, false]);
    for d in dmc {
        assert_eq!(d["generations"].as_u64(), Some(5));
        for key in ["walker_generations_per_second", "generations_per_second", "flops_per_walker_generation", "gflops"] {
            positive(d, key);
        }
    }
    // Metropolis moves evaluate E_L once; plain moves add the integrator's stages.
    assert!(dmc[0]["flops_per_walker_generation"].as_f64() < dmc[1]["flops_per_walker_generation"].as_f64());
    let table = pathspace(&["--quick"]);
    assert!(table.status.success());
    assert!(String::from_utf8_lossy(&table.stdout).contains("GFLOP/s"));
}

#[test]
fn non_gradient_problem_is_a_one_line_error() {
    let o = pathspace(&["--quick", "--problem", "benches/h2_pair.toml"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && o.status.code() != Some(101), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("gradient"), "{stderr}");
}
