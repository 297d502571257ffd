//! run.h5: one HDF5 file per run, written with the pure-Rust `hdf5-pure` crate (no system
//! library), readable by h5py and h5dump. Layout (names are stable; see docs/outputs.md):
//!
//! ```text
//! /                      attrs: problem (TOML text), seed, pathspace_version, integrator, dt, created
//! /training/{iteration, loss, energy, learning_rate, seconds}     1-D, one entry per iteration
//! /paths/positions, /paths/drift      [saved_steps, walkers, particles, dims] float32
//!                        attrs: dt (between saved steps), every, step_dt
//! /evaluation/per_walker [walkers] float64: each walker's time average of V + ½|v|²
//!                        attrs: energy, energy_error, energy_extrapolated,
//!                               energy_extrapolated_error, timestep_bias, reference, dt
//! /estimates             attrs: headline (estimator), energy, energy_error, walks (names, comma-separated)
//! /estimates/<walk>/energy, /estimates/<walk>/population   per generation of a local-energy or
//!                        DMC walk (`local_energy`, `dmc_dt`, `dmc_half_dt`); attrs: dt, energy, energy_error
//! /slice/{x, y}          1-D grids of a 2-D slice; /slice/drift [ny, nx, 2] the drift's
//!                        in-plane components there; attrs: axes, particle, dims, fixed (positions)
//! ```
//!
//! The whole file is rebuilt in memory and replaced atomically ([`super::write_atomic`]), so a
//! reader never sees a half-written file and a killed run keeps its last complete version.
//! Large datasets are chunked and deflate-compressed; /training datasets are chunked with an
//! unlimited maximum shape so that HDF5 tools may extend them.

use crate::base::error::{Error, Result};
use crate::io::training::TrainingRow;
use hdf5_pure::{AttrValue, File, FileBuilder, MaxExtent};
use std::collections::HashMap;
use std::path::Path;

/// Stored paths: states and drifts every `every` steps of size `step_dt`.
#[derive(Debug, Clone, PartialEq)]
pub struct PathSample {
    pub step_dt: f64,
    pub every: usize,
    /// [saved_steps, walkers, particles, dims]
    pub shape: [usize; 4],
    pub positions: Vec<f32>,
    pub drift: Vec<f32>,
}

/// The drift on a 2-D slice: particle `particle` moves on the plane spanned by coordinate
/// axes `axes` through the configuration `fixed`; every other particle stays where `fixed` puts it.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftSlice {
    pub axes: [usize; 2],
    pub particle: usize,
    /// Coordinates per particle.
    pub dims: usize,
    /// [particles × dims] positions of the fixed configuration.
    pub fixed: Vec<f64>,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// [ny, nx, 2] in-plane drift components.
    pub drift: Vec<f64>,
}

/// File name of the HDF5 file inside a run directory.
pub const FILE_NAME: &str = "run.h5";

/// Root attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunAttributes {
    pub problem: String,
    pub seed: u64,
    pub pathspace_version: String,
    pub integrator: String,
    pub dt: f64,
    pub created: String,
}

/// The evaluated energy.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationRecord {
    pub per_walker: Vec<f64>,
    pub energy: f64,
    pub energy_error: f64,
    pub energy_extrapolated: Option<f64>,
    pub energy_extrapolated_error: Option<f64>,
    pub timestep_bias: Option<f64>,
    pub reference: Option<f64>,
    pub dt: f64,
}

/// The per-generation record of one walk (local-energy or DMC).
#[derive(Debug, Clone, PartialEq)]
pub struct WalkRecord {
    pub name: String,
    pub dt: f64,
    pub energy: f64,
    pub energy_error: f64,
    /// Energy estimate of each measured generation.
    pub series: Vec<f64>,
    /// Walkers in each measured generation.
    pub population: Vec<f64>,
}

/// The headline energy and the walks behind the guided estimators.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimatesRecord {
    pub headline: String,
    pub energy: f64,
    pub energy_error: f64,
    pub walks: Vec<WalkRecord>,
}

/// Everything in run.h5.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFile {
    pub attributes: RunAttributes,
    pub training: Vec<TrainingRow>,
    pub paths: Option<PathSample>,
    pub evaluation: Option<EvaluationRecord>,
    pub estimates: Option<EstimatesRecord>,
    pub slice: Option<DriftSlice>,
}

fn chunk_for(len: usize, max: usize) -> u64 {
    len.clamp(1, max) as u64
}

impl RunFile {
    /// Serialises to HDF5 bytes.
    pub fn to_bytes(&self) -> std::result::Result<Vec<u8>, String> {
        self.to_bytes_with(&|_| {})
    }

    /// Serialises with further groups added by `extend` (a `fit` run's /evaluation, /samples,
    /// /latent: `crate::latent::record`).
    pub fn to_bytes_with(&self, extend: &dyn Fn(&mut FileBuilder)) -> std::result::Result<Vec<u8>, String> {
        let mut b = FileBuilder::new();
        let a = &self.attributes;
        b.set_attr("problem", AttrValue::String(a.problem.clone()));
        b.set_attr("seed", AttrValue::U64(a.seed));
        b.set_attr("pathspace_version", AttrValue::String(a.pathspace_version.clone()));
        b.set_attr("integrator", AttrValue::String(a.integrator.clone()));
        b.set_attr("dt", AttrValue::F64(a.dt));
        b.set_attr("created", AttrValue::String(a.created.clone()));

        let mut training = b.create_group("training");
        let n = self.training.len();
        let iteration: Vec<i64> = self.training.iter().map(|r| r.iteration as i64).collect();
        training
            .create_dataset("iteration")
            .with_i64_data(&iteration)
            .with_chunks(&[chunk_for(n, 4096)])
            .with_maxshape(&[MaxExtent::Unlimited])
            .with_deflate(4);
        type Column = (&'static str, fn(&TrainingRow) -> f64);
        let columns: [Column; 4] = [
            ("loss", |r| r.loss),
            ("energy", |r| r.energy),
            ("learning_rate", |r| r.learning_rate),
            ("seconds", |r| r.seconds),
        ];
        for (name, get) in columns {
            let values: Vec<f64> = self.training.iter().map(get).collect();
            training
                .create_dataset(name)
                .with_f64_data(&values)
                .with_chunks(&[chunk_for(n, 4096)])
                .with_maxshape(&[MaxExtent::Unlimited])
                .with_deflate(4);
        }
        b.add_group(training.finish());

        if let Some(p) = &self.paths {
            let mut g = b.create_group("paths");
            g.set_attr("dt", AttrValue::F64(p.step_dt * p.every as f64));
            g.set_attr("step_dt", AttrValue::F64(p.step_dt));
            g.set_attr("every", AttrValue::U64(p.every as u64));
            let shape: Vec<u64> = p.shape.iter().map(|&s| s as u64).collect();
            let chunks = [chunk_for(p.shape[0], 16), p.shape[1].max(1) as u64, p.shape[2].max(1) as u64, p.shape[3].max(1) as u64];
            for (name, values) in [("positions", &p.positions), ("drift", &p.drift)] {
                g.create_dataset(name).with_f32_data(values).with_shape(&shape).with_chunks(&chunks).with_shuffle().with_deflate(4);
            }
            b.add_group(g.finish());
        }

        if let Some(e) = &self.evaluation {
            let mut g = b.create_group("evaluation");
            g.set_attr("energy", AttrValue::F64(e.energy));
            g.set_attr("energy_error", AttrValue::F64(e.energy_error));
            g.set_attr("dt", AttrValue::F64(e.dt));
            let optional = [
                ("energy_extrapolated", e.energy_extrapolated),
                ("energy_extrapolated_error", e.energy_extrapolated_error),
                ("timestep_bias", e.timestep_bias),
                ("reference", e.reference),
            ];
            for (name, value) in optional {
                if let Some(v) = value {
                    g.set_attr(name, AttrValue::F64(v));
                }
            }
            g.create_dataset("per_walker").with_f64_data(&e.per_walker).with_chunks(&[chunk_for(e.per_walker.len(), 65536)]).with_deflate(4);
            b.add_group(g.finish());
        }

        if let Some(e) = &self.estimates {
            let mut g = b.create_group("estimates");
            g.set_attr("headline", AttrValue::String(e.headline.clone()));
            g.set_attr("energy", AttrValue::F64(e.energy));
            g.set_attr("energy_error", AttrValue::F64(e.energy_error));
            g.set_attr("walks", AttrValue::String(e.walks.iter().map(|w| w.name.as_str()).collect::<Vec<_>>().join(",")));
            for w in &e.walks {
                let mut wg = g.create_group(&w.name);
                wg.set_attr("dt", AttrValue::F64(w.dt));
                wg.set_attr("energy", AttrValue::F64(w.energy));
                wg.set_attr("energy_error", AttrValue::F64(w.energy_error));
                wg.create_dataset("energy").with_f64_data(&w.series).with_chunks(&[chunk_for(w.series.len(), 65536)]).with_deflate(4);
                wg.create_dataset("population").with_f64_data(&w.population).with_chunks(&[chunk_for(w.population.len(), 65536)]).with_deflate(4);
                g.add_group(wg.finish());
            }
            b.add_group(g.finish());
        }

        if let Some(s) = &self.slice {
            let mut g = b.create_group("slice");
            g.set_attr("axes", AttrValue::U64Array(s.axes.iter().map(|&a| a as u64).collect()));
            g.set_attr("particle", AttrValue::U64(s.particle as u64));
            g.set_attr("dims", AttrValue::U64(s.dims as u64));
            g.set_attr("fixed", AttrValue::F64Array(s.fixed.clone()));
            g.create_dataset("x").with_f64_data(&s.x);
            g.create_dataset("y").with_f64_data(&s.y);
            g.create_dataset("drift").with_f64_data(&s.drift).with_shape(&[s.y.len() as u64, s.x.len() as u64, 2]);
            b.add_group(g.finish());
        }
        extend(&mut b);
        b.finish().map_err(|e| e.to_string())
    }

    /// Writes atomically to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        self.write_with(path, &|_| {})
    }

    /// [`RunFile::write`] with the groups `extend` adds.
    pub fn write_with(&self, path: &Path, extend: &dyn Fn(&mut FileBuilder)) -> Result<()> {
        let bytes = self.to_bytes_with(extend).map_err(|message| Error::Write { path: path.to_path_buf(), message })?;
        super::write_atomic(path, &bytes)
    }

    /// Reads a run.h5 written by [`RunFile::write`]; errors name the file and the object.
    pub fn read(path: &Path) -> Result<Self> {
        let bad = |field: &str, message: String| Error::Format { path: path.to_path_buf(), field: field.to_string(), message };
        let bytes = std::fs::read(path).map_err(|cause| Error::Read { path: path.to_path_buf(), cause })?;
        let file = File::from_bytes(bytes).map_err(|e| bad("file", format!("not a readable HDF5 file: {e}")))?;
        let root = file.root().attrs().map_err(|e| bad("/ attributes", e.to_string()))?;
        let attributes = RunAttributes {
            problem: attr_str(&root, "problem").map_err(|m| bad("/@problem", m))?,
            seed: attr_u64(&root, "seed").map_err(|m| bad("/@seed", m))?,
            pathspace_version: attr_str(&root, "pathspace_version").map_err(|m| bad("/@pathspace_version", m))?,
            integrator: attr_str(&root, "integrator").map_err(|m| bad("/@integrator", m))?,
            dt: attr_f64(&root, "dt").map_err(|m| bad("/@dt", m))?,
            created: attr_str(&root, "created").map_err(|m| bad("/@created", m))?,
        };

        let f64s = |name: &str| -> Result<Vec<f64>> {
            file.dataset(name).and_then(|d| d.read_f64()).map_err(|e| bad(&format!("/{name}"), e.to_string()))
        };
        let iteration = f64s("training/iteration")?;
        let loss = f64s("training/loss")?;
        let energy = f64s("training/energy")?;
        let learning_rate = f64s("training/learning_rate")?;
        let seconds = f64s("training/seconds")?;
        let n = iteration.len();
        if [loss.len(), energy.len(), learning_rate.len(), seconds.len()].iter().any(|&l| l != n) {
            return Err(bad("/training", "datasets have different lengths".into()));
        }
        let training = (0..n)
            .map(|k| TrainingRow {
                iteration: iteration[k] as usize,
                loss: loss[k],
                energy: energy[k],
                learning_rate: learning_rate[k],
                seconds: seconds[k],
            })
            .collect();

        let groups = file.root().groups().map_err(|e| bad("/", e.to_string()))?;
        let has = |g: &str| groups.iter().any(|x| x == g);

        let paths = if has("paths") {
            let g = file.group("paths").map_err(|e| bad("/paths", e.to_string()))?;
            let attrs = g.attrs().map_err(|e| bad("/paths attributes", e.to_string()))?;
            let read = |name: &str| -> Result<(Vec<u64>, Vec<f32>)> {
                let d = file.dataset(&format!("paths/{name}")).map_err(|e| bad(&format!("/paths/{name}"), e.to_string()))?;
                let shape = d.shape().map_err(|e| bad(&format!("/paths/{name}"), e.to_string()))?;
                let values = d.read_f32().map_err(|e| bad(&format!("/paths/{name}"), e.to_string()))?;
                Ok((shape, values))
            };
            let (shape, positions) = read("positions")?;
            let (drift_shape, drift) = read("drift")?;
            if shape.len() != 4 || shape != drift_shape {
                return Err(bad("/paths", format!("expected two equal 4-D shapes, got {shape:?} and {drift_shape:?}")));
            }
            // Every axis at least 1 and the values exactly the shape's (a crafted file is refused,
            // not drawn: a zero-length axis or a short array would index out of bounds).
            let count = shape.iter().try_fold(1u64, |n, &k| if k == 0 { None } else { n.checked_mul(k) });
            if count != Some(positions.len() as u64) || drift.len() != positions.len() {
                return Err(bad("/paths", format!("shape {shape:?} does not hold its {} values (every axis at least 1)", positions.len())));
            }
            let every = attr_u64(&attrs, "every").map_err(|m| bad("/paths@every", m))? as usize;
            if every == 0 {
                return Err(bad("/paths@every", "must be at least 1".into()));
            }
            Some(PathSample {
                step_dt: attr_f64(&attrs, "step_dt").map_err(|m| bad("/paths@step_dt", m))?,
                every,
                shape: [shape[0] as usize, shape[1] as usize, shape[2] as usize, shape[3] as usize],
                positions,
                drift,
            })
        } else {
            None
        };

        let evaluation = if has("evaluation") {
            let g = file.group("evaluation").map_err(|e| bad("/evaluation", e.to_string()))?;
            let a = g.attrs().map_err(|e| bad("/evaluation attributes", e.to_string()))?;
            let req = |name: &str| attr_f64(&a, name).map_err(|m| bad(&format!("/evaluation@{name}"), m));
            let opt = |name: &str| a.contains_key(name).then(|| attr_f64(&a, name).ok()).flatten();
            Some(EvaluationRecord {
                per_walker: f64s("evaluation/per_walker")?,
                energy: req("energy")?,
                energy_error: req("energy_error")?,
                energy_extrapolated: opt("energy_extrapolated"),
                energy_extrapolated_error: opt("energy_extrapolated_error"),
                timestep_bias: opt("timestep_bias"),
                reference: opt("reference"),
                dt: req("dt")?,
            })
        } else {
            None
        };

        let estimates = if has("estimates") {
            let g = file.group("estimates").map_err(|e| bad("/estimates", e.to_string()))?;
            let a = g.attrs().map_err(|e| bad("/estimates attributes", e.to_string()))?;
            let names = attr_str(&a, "walks").map_err(|m| bad("/estimates@walks", m))?;
            let mut walks = Vec::new();
            for name in names.split(',').filter(|n| !n.is_empty()) {
                let at = format!("/estimates/{name}");
                let wg = file.group(&format!("estimates/{name}")).map_err(|e| bad(&at, e.to_string()))?;
                let wa = wg.attrs().map_err(|e| bad(&at, e.to_string()))?;
                walks.push(WalkRecord {
                    name: name.to_string(),
                    dt: attr_f64(&wa, "dt").map_err(|m| bad(&format!("{at}@dt"), m))?,
                    energy: attr_f64(&wa, "energy").map_err(|m| bad(&format!("{at}@energy"), m))?,
                    energy_error: attr_f64(&wa, "energy_error").map_err(|m| bad(&format!("{at}@energy_error"), m))?,
                    series: f64s(&format!("estimates/{name}/energy"))?,
                    population: f64s(&format!("estimates/{name}/population"))?,
                });
            }
            Some(EstimatesRecord {
                headline: attr_str(&a, "headline").map_err(|m| bad("/estimates@headline", m))?,
                energy: attr_f64(&a, "energy").map_err(|m| bad("/estimates@energy", m))?,
                energy_error: attr_f64(&a, "energy_error").map_err(|m| bad("/estimates@energy_error", m))?,
                walks,
            })
        } else {
            None
        };

        let slice = if has("slice") {
            let g = file.group("slice").map_err(|e| bad("/slice", e.to_string()))?;
            let a = g.attrs().map_err(|e| bad("/slice attributes", e.to_string()))?;
            let axes = a.get("axes").and_then(|v| v.to_u64s()).filter(|v| v.len() == 2).ok_or_else(|| bad("/slice@axes", "missing or not two integers".into()))?;
            let fixed = a.get("fixed").and_then(|v| v.to_f64s()).ok_or_else(|| bad("/slice@fixed", "missing".into()))?;
            let x = f64s("slice/x")?;
            let y = f64s("slice/y")?;
            let drift = f64s("slice/drift")?;
            if drift.len() != x.len() * y.len() * 2 {
                return Err(bad("/slice/drift", format!("{} values for a {}×{}×2 grid", drift.len(), y.len(), x.len())));
            }
            let dims = attr_u64(&a, "dims").map_err(|m| bad("/slice@dims", m))?;
            let particle = attr_u64(&a, "particle").map_err(|m| bad("/slice@particle", m))?;
            if dims == 0 || fixed.is_empty() || fixed.len() as u64 % dims != 0 {
                return Err(bad("/slice@dims", format!("{dims} does not divide the {} coordinates of /slice@fixed (particles × dims)", fixed.len())));
            }
            if axes.iter().any(|&k| k >= dims) {
                return Err(bad("/slice@axes", format!("{axes:?} are not both coordinate indices below dims = {dims}")));
            }
            if particle >= fixed.len() as u64 / dims {
                return Err(bad("/slice@particle", format!("{particle} is not one of the {} particles", fixed.len() as u64 / dims)));
            }
            if x.is_empty() || y.is_empty() {
                return Err(bad("/slice", "an empty grid".into()));
            }
            Some(DriftSlice {
                axes: [axes[0] as usize, axes[1] as usize],
                particle: particle as usize,
                dims: dims as usize,
                fixed,
                x,
                y,
                drift,
            })
        } else {
            None
        };
        Ok(RunFile { attributes, training, paths, evaluation, estimates, slice })
    }
}

fn attr_str(attrs: &HashMap<String, AttrValue>, name: &str) -> std::result::Result<String, String> {
    attrs.get(name).and_then(|v| v.as_str()).map(str::to_string).ok_or_else(|| "missing or not a string".to_string())
}

fn attr_u64(attrs: &HashMap<String, AttrValue>, name: &str) -> std::result::Result<u64, String> {
    attrs.get(name).and_then(|v| v.as_u64()).ok_or_else(|| "missing or not an unsigned integer".to_string())
}

fn attr_f64(attrs: &HashMap<String, AttrValue>, name: &str) -> std::result::Result<f64, String> {
    attrs.get(name).and_then(|v| v.as_f64()).ok_or_else(|| "missing or not a number".to_string())
}

/// The current UTC time as ISO 8601 (`2026-01-31T12:00:00Z`), from the system clock.
pub fn iso_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    iso_from_unix(secs)
}

/// Proleptic-Gregorian calendar date of a Unix time (days-from-civil inverted).
fn iso_from_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_of_known_instants() {
        assert_eq!(iso_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_from_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso_from_unix(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    fn sample() -> RunFile {
        RunFile {
            attributes: RunAttributes {
                problem: "name = \"t\"\n".into(),
                seed: 5,
                pathspace_version: "0.1.0".into(),
                integrator: "sosra".into(),
                dt: 0.01,
                created: "2026-01-01T00:00:00Z".into(),
            },
            training: (0..7).map(|i| TrainingRow { iteration: i, loss: i as f64 * 0.5, energy: 1.5 + i as f64, learning_rate: 1e-3, seconds: 0.25 * i as f64 }).collect(),
            paths: Some(PathSample {
                step_dt: 0.01,
                every: 2,
                shape: [3, 2, 1, 2],
                positions: (0..12).map(|k| k as f32 * 0.5).collect(),
                drift: (0..12).map(|k| -(k as f32)).collect(),
            }),
            evaluation: Some(EvaluationRecord {
                per_walker: vec![1.4, 1.6],
                energy: 1.5,
                energy_error: 0.01,
                energy_extrapolated: Some(1.49),
                energy_extrapolated_error: Some(0.02),
                timestep_bias: Some(0.01),
                reference: None,
                dt: 0.01,
            }),
            estimates: Some(EstimatesRecord {
                headline: "dmc".into(),
                energy: 1.5,
                energy_error: 0.001,
                walks: vec![
                    WalkRecord { name: "local_energy".into(), dt: 0.01, energy: 1.52, energy_error: 0.01, series: vec![1.5, 1.54], population: vec![4.0, 4.0] },
                    WalkRecord { name: "dmc_dt".into(), dt: 0.02, energy: 1.5, energy_error: 0.002, series: vec![1.49, 1.51, 1.5], population: vec![4.0, 5.0, 3.0] },
                ],
            }),
            slice: Some(DriftSlice { axes: [0, 2], particle: 0, dims: 3, fixed: vec![0.0, 0.0, 0.0], x: vec![-1.0, 1.0], y: vec![0.0, 0.5, 1.0], drift: (0..12).map(|k| k as f64).collect() }),
        }
    }

    /// Issue 37: a run.h5 whose slice or paths contradict themselves (axes beyond the
    /// coordinates, zero dims, a zero-length axis) is refused when read, naming the object; `plot`
    /// panicked on each before.
    #[test]
    fn inconsistent_slices_and_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.h5");
        let refused = |run: RunFile, field: &str| {
            run.write(&path).unwrap();
            let e = RunFile::read(&path).unwrap_err().to_string();
            assert!(e.contains("run.h5") && e.contains(field), "{field}: {e}");
        };
        let mut run = sample();
        run.slice.as_mut().unwrap().axes = [0, 7];
        refused(run, "/slice@axes");
        let mut run = sample();
        let s = run.slice.as_mut().unwrap();
        (s.dims, s.axes) = (0, [0, 0]);
        refused(run, "/slice@dims");
        let mut run = sample();
        run.slice.as_mut().unwrap().particle = 1;
        refused(run, "/slice@particle");
        let mut run = sample();
        let p = run.paths.as_mut().unwrap();
        (p.shape, p.positions, p.drift) = ([0, 2, 1, 2], Vec::new(), Vec::new());
        refused(run, "/paths");
        let mut run = sample();
        run.paths.as_mut().unwrap().every = 0;
        refused(run, "/paths@every");
    }

    #[test]
    fn run_file_round_trips_through_hdf5_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.h5");
        let run = sample();
        run.write(&path).unwrap();
        assert_eq!(RunFile::read(&path).unwrap(), run);
    }

    #[test]
    fn truncated_run_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.h5");
        let bytes = sample().to_bytes().unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let e = RunFile::read(&path).unwrap_err().to_string();
        assert!(e.contains("run.h5"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}
