//! `pathspace export DIR --format csv`: the content of run.h5 as plain CSV files in `DIR/csv/`,
//! for people without HDF5. One file per HDF5 object, same names:
//!
//! - `attributes.csv`: `name,value` (the root attributes; `problem` is quoted TOML text)
//! - `training.csv`: `iteration,loss,energy,learning_rate,seconds` (full precision)
//! - `paths.csv`: `step,time,walker,particle,x0..x{d-1},v0..v{d-1}` (positions and drift)
//! - `evaluation.csv`: `walker,energy`; `evaluation_summary.csv`: `name,value`
//! - `slice.csv`: `x,y,vx,vy` (the drift on the 2-D slice)

use super::hdf5::RunFile;
use super::write_atomic;
use crate::base::error::{Error, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A CSV field: quoted when it holds a comma, a quote or a line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Writes the CSV files of `run` into `dir` (created if needed); returns their paths.
pub fn export_csv(run: &RunFile, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Write { path: dir.to_path_buf(), message: e.to_string() })?;
    let mut files = Vec::new();
    let mut put = |name: &str, text: String| -> Result<()> {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes())?;
        files.push(path);
        Ok(())
    };
    let a = &run.attributes;
    let mut s = String::from("name,value\n");
    for (k, v) in [
        ("problem", a.problem.clone()),
        ("seed", a.seed.to_string()),
        ("pathspace_version", a.pathspace_version.clone()),
        ("integrator", a.integrator.clone()),
        ("dt", format!("{:e}", a.dt)),
        ("created", a.created.clone()),
    ] {
        let _ = writeln!(s, "{k},{}", field(&v));
    }
    put("attributes.csv", s)?;

    let mut s = String::from("iteration,loss,energy,learning_rate,seconds\n");
    for r in &run.training {
        let _ = writeln!(s, "{},{:e},{:e},{:e},{:e}", r.iteration, r.loss, r.energy, r.learning_rate, r.seconds);
    }
    put("training.csv", s)?;

    if let Some(p) = &run.paths {
        let [steps, walkers, particles, dims] = p.shape;
        let mut s = String::from("step,time,walker,particle");
        (0..dims).for_each(|k| s.push_str(&format!(",x{k}")));
        (0..dims).for_each(|k| s.push_str(&format!(",v{k}")));
        s.push('\n');
        for n in 0..steps {
            let t = (n * p.every) as f64 * p.step_dt;
            for w in 0..walkers {
                for q in 0..particles {
                    let at = ((n * walkers + w) * particles + q) * dims;
                    let _ = write!(s, "{},{t:e},{w},{q}", n * p.every);
                    p.positions[at..at + dims].iter().for_each(|v| { let _ = write!(s, ",{v:e}"); });
                    p.drift[at..at + dims].iter().for_each(|v| { let _ = write!(s, ",{v:e}"); });
                    s.push('\n');
                }
            }
        }
        put("paths.csv", s)?;
    }

    if let Some(e) = &run.evaluation {
        let mut s = String::from("walker,energy\n");
        e.per_walker.iter().enumerate().for_each(|(w, v)| { let _ = writeln!(s, "{w},{v:e}"); });
        put("evaluation.csv", s)?;
        let mut s = String::from("name,value\n");
        let optional = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:e}"));
        for (k, v) in [
            ("energy", format!("{:e}", e.energy)),
            ("energy_error", format!("{:e}", e.energy_error)),
            ("energy_extrapolated", optional(e.energy_extrapolated)),
            ("energy_extrapolated_error", optional(e.energy_extrapolated_error)),
            ("timestep_bias", optional(e.timestep_bias)),
            ("reference", optional(e.reference)),
            ("dt", format!("{:e}", e.dt)),
        ] {
            let _ = writeln!(s, "{k},{v}");
        }
        put("evaluation_summary.csv", s)?;
    }

    if let Some(sl) = &run.slice {
        let mut s = String::from("x,y,vx,vy\n");
        for (j, y) in sl.y.iter().enumerate() {
            for (i, x) in sl.x.iter().enumerate() {
                let k = (j * sl.x.len() + i) * 2;
                let _ = writeln!(s, "{x:e},{y:e},{:e},{:e}", sl.drift[k], sl.drift[k + 1]);
            }
        }
        put("slice.csv", s)?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_commas_quotes_and_newlines_are_quoted() {
        assert_eq!(field("abc"), "abc");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\"\nnext"), "\"say \"\"hi\"\"\nnext\"");
    }
}
