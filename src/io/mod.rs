//! Writers. They read results and start no computation. Every file is written atomically:
//! to a temporary file beside the target, then renamed, so an interrupted run never leaves a
//! partial file that looks complete.

use crate::error::{Error, Result};
use crate::solve::Summary;
use crate::train::TrainingRow;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` via `path.tmp` + rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| Error::Write { path: path.to_path_buf(), message: e.to_string() };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)
}

/// training.csv: `iteration,loss,energy,learning_rate,seconds`, one row per iteration.
pub fn training_csv(rows: &[TrainingRow]) -> String {
    let mut s = String::from("iteration,loss,energy,learning_rate,seconds\n");
    for r in rows {
        s.push_str(&format!("{},{:.10e},{:.10e},{:.6e},{:.3}\n", r.iteration, r.loss, r.energy, r.learning_rate, r.seconds));
    }
    s
}

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
