//! The files of a `solve` run: summary.json, training.csv, run.h5 (with the plots the caller
//! draws from it), written atomically; while training, the curve so far. Writers read results
//! and start no computation.

use crate::base::error::{Error, Result};
use crate::io::hdf5::{self, EstimatesRecord, EvaluationRecord, RunAttributes, RunFile, WalkRecord};
use crate::io::training::{TrainingRow, training_csv};
use crate::io::write_atomic;
use crate::quantum::problem::Problem;
use crate::quantum::solve::{SolveOutput, Summary};
use std::path::{Path, PathBuf};

/// Writes summary.json and training.csv into `dir` (created if needed); returns the paths.
pub fn write_run(dir: &Path, summary: &mut Summary, rows: &[TrainingRow]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Write { path: dir.to_path_buf(), message: e.to_string() })?;
    let csv = dir.join("training.csv");
    let json = dir.join("summary.json");
    write_atomic(&csv, training_csv(rows).as_bytes())?;
    summary.files = vec![csv.display().to_string(), json.display().to_string()];
    let text = serde_json::to_string_pretty(summary).map_err(|e| Error::Write { path: json.clone(), message: e.to_string() })?;
    write_atomic(&json, text.as_bytes())?;
    Ok(vec![csv, json])
}

/// Root attributes of run.h5 for a run of `problem` with `seed`, created now.
pub fn run_attributes(problem: &Problem, seed: u64) -> RunAttributes {
    RunAttributes {
        problem: problem.text.clone(),
        seed,
        pathspace_version: env!("CARGO_PKG_VERSION").to_string(),
        integrator: problem.sde.integrator.name.to_string(),
        dt: problem.sde.dt,
        created: hdf5::iso_now(),
    }
}

/// While training: training.csv and a run.h5 with the attributes and /training so far, so that a
/// killed run keeps what it did.
pub fn write_progress(dir: &Path, attributes: &RunAttributes, rows: &[TrainingRow]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Write { path: dir.to_path_buf(), message: e.to_string() })?;
    write_atomic(&dir.join("training.csv"), training_csv(rows).as_bytes())?;
    let run = RunFile { attributes: attributes.clone(), training: rows.to_vec(), paths: None, evaluation: None, estimates: None, slice: None };
    run.write(&dir.join(hdf5::FILE_NAME))
}

/// The run.h5 content of a finished run.
pub fn run_file(attributes: &RunAttributes, output: &SolveOutput) -> RunFile {
    let s = &output.summary;
    RunFile {
        attributes: attributes.clone(),
        training: output.rows.clone(),
        paths: output.paths.clone(),
        evaluation: Some(EvaluationRecord {
            per_walker: s.evaluation.at_dt.per_walker.clone(),
            energy: s.energy,
            energy_error: s.energy_error,
            energy_extrapolated: s.energy_extrapolated,
            energy_extrapolated_error: s.energy_extrapolated_error,
            timestep_bias: s.timestep_bias,
            reference: s.reference,
            dt: s.dt,
        }),
        estimates: Some(estimates_record(s)),
        slice: output.slice.clone(),
    }
}

/// The headline and the guided walks of a run, for run.h5 /estimates.
fn estimates_record(s: &Summary) -> EstimatesRecord {
    let record = |name: &str, w: &crate::quantum::walk::Walk| WalkRecord {
        name: name.into(),
        dt: w.dt,
        energy: w.energy.value,
        energy_error: w.energy.error,
        series: w.series.clone(),
        population: w.population.iter().map(|&p| p as f64).collect(),
    };
    let mut walks = Vec::new();
    if let Some(w) = &s.guided.local_energy {
        walks.push(record("local_energy", w));
    }
    if let Some(d) = &s.guided.dmc {
        walks.push(record("dmc_dt", &d.at_dt));
        if let Some(w) = &d.at_half_dt {
            walks.push(record("dmc_half_dt", w));
        }
    }
    EstimatesRecord { headline: s.headline.estimator.clone(), energy: s.headline.energy, energy_error: s.headline.error, walks }
}

/// Writes every file of a finished run into `dir`: training.csv, run.h5, the files `plot`
/// returns, and last summary.json, whose `files` lists them all (plus `extra`, e.g. the
/// checkpoint). Returns that list.
pub fn write_outputs(
    dir: &Path,
    attributes: &RunAttributes,
    output: &mut SolveOutput,
    extra: &[PathBuf],
    plot: &dyn Fn(&RunFile, &Path) -> Result<Vec<PathBuf>>,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Write { path: dir.to_path_buf(), message: e.to_string() })?;
    let csv = dir.join("training.csv");
    write_atomic(&csv, training_csv(&output.rows).as_bytes())?;
    let h5 = dir.join(hdf5::FILE_NAME);
    let run = run_file(attributes, output);
    run.write(&h5)?;
    let mut files = vec![csv, h5];
    files.extend(plot(&run, dir)?);
    files.extend(extra.iter().cloned());
    let json = dir.join("summary.json");
    files.push(json.clone());
    output.summary.files = files.iter().map(|p| p.display().to_string()).collect();
    let text = serde_json::to_string_pretty(&output.summary).map_err(|e| Error::Write { path: json.clone(), message: e.to_string() })?;
    write_atomic(&json, text.as_bytes())?;
    Ok(files)
}
