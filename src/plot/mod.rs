//! Plots of a run, drawn with plotters from a [`RunFile`] alone (so `pathspace plot DIR` can
//! redraw them from run.h5), each as PNG and SVG:
//!
//! - [`energy`]: `energy.png` (1000×800): the training energy against iteration with its running
//!   mean, the evaluated energy with its error band, the headline of the guided estimators (DMC)
//!   and the reference (differences in mHa in the legend); a second panel shows |E − E_ref| on a
//!   log scale.
//! - [`drift`]: `drift.png` (800×800): the learned drift as a vector field on the 2-D slice of
//!   run.h5 `/slice` (for H₂ the molecular-axis plane with the other electron fixed).
//! - [`density`]: `density.png` (800×800): a histogram of the stored walker positions
//!   (`/paths/positions`, all particles) projected on the same plane.
//! - [`integrators`]: `bench integrators --plot FILE` (1000×800): weak error against cost of every
//!   integrator, from the benchmark's report (not a run).
//! - [`scaling`]: `bench scaling --plot FILE` (1000×800): training walker-steps per second against
//!   walkers, one line per benchmark, from the benchmark's report.
//!
//! Text is drawn with DejaVu Sans, bundled in `assets/fonts/` (licence beside it) and registered
//! with plotters' ab_glyph renderer: no system fonts or fontconfig are needed.
//! Files are written atomically (a temporary file, then a rename).

pub mod density;
pub mod drift;
pub mod energy;
pub mod integrators;
pub mod scaling;
pub mod style;

pub(crate) use style::{DrawResult, FAMILY, axis_name, draw_legend, finite_range, heat, register_font, save};

use crate::base::error::Result;
use crate::io::hdf5::RunFile;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Pixel sizes of the plots.
pub const ENERGY_SIZE: (u32, u32) = (1000, 800);
pub const DRIFT_SIZE: (u32, u32) = (800, 800);
pub const DENSITY_SIZE: (u32, u32) = (800, 800);

/// Draws every plot the run has data for into `dir`; returns the files written.
pub fn plot_run(run: &RunFile, dir: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    let problem = crate::quantum::problem::Problem::parse(Path::new("run.h5:/problem"), &run.attributes.problem).ok();
    // The reference of a run stopped before evaluation comes from its problem text.
    let reference = run.evaluation.as_ref().and_then(|e| e.reference).or(problem.as_ref().and_then(|p| p.reference));
    let mut files = save(dir, "energy", ENERGY_SIZE, |a| energy::draw(a, run, reference), |a| energy::draw(a, run, reference))?;
    if let Some(slice) = &run.slice {
        let nuclei = nuclei_in_plane(problem.as_ref(), slice.axes);
        files.extend(save(dir, "drift", DRIFT_SIZE, |a| drift::draw(a, slice, &nuclei), |a| drift::draw(a, slice, &nuclei))?);
        // The density projects the stored paths on the slice's plane: only where the slice's
        // axes are coordinates of those paths (always, for a run's own file).
        if let Some(paths) = run.paths.as_ref().filter(|p| slice.axes.iter().all(|&k| k < p.shape[3])) {
            files.extend(save(
                dir,
                "density",
                DENSITY_SIZE,
                |a| density::draw(a, paths, slice, &nuclei),
                |a| density::draw(a, paths, slice, &nuclei),
            )?);
        }
    }
    Ok(files)
}

/// Nuclear positions projected on the plane `axes`, read from the problem text stored in run.h5
/// (none for systems without nuclei, or when the text does not parse).
fn nuclei_in_plane(problem: Option<&crate::quantum::problem::Problem>, axes: [usize; 2]) -> Vec<(f64, f64)> {
    match problem {
        Some(crate::quantum::problem::Problem { system: crate::quantum::physics::System::Molecule(m), .. }) => {
            m.nuclei.iter().filter_map(|n| Some((*n.position.get(axes[0])?, *n.position.get(axes[1])?))).collect()
        }
        _ => Vec::new(),
    }
}

/// Nuclei as red crosses.
pub(crate) fn draw_nuclei<DB: DrawingBackend, CT: plotters::coord::CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    nuclei: &[(f64, f64)],
) -> DrawResult {
    chart
        .draw_series(nuclei.iter().map(|&p| Cross::new(p, 8, RGBColor(200, 0, 0).stroke_width(3))))
        .map(|_| ())
        .map_err(|e| e.to_string())
}
