//! density.png: where the walkers are. A 2-D histogram of every stored position
//! (`/paths/positions`: all saved steps, walkers and particles) projected on the plane of the
//! drift slice, over the slice's extent; colour is the count relative to the fullest bin.

use super::{DrawResult, FAMILY, axis_name, heat};
use crate::io::hdf5::{DriftSlice, PathSample};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Bins per axis.
const BINS: usize = 60;

/// Counts of the projected positions in a `BINS`×`BINS` grid over [x0,x1]×[y0,y1]; row-major
/// in y. Returns the counts and the number of positions that fell inside.
pub fn histogram(paths: &PathSample, axes: [usize; 2], (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> (Vec<u32>, usize) {
    let d = paths.shape[3];
    let mut counts = vec![0u32; BINS * BINS];
    let mut inside = 0;
    for p in paths.positions.chunks_exact(d) {
        let (x, y) = (p[axes[0]] as f64, p[axes[1]] as f64);
        let i = ((x - x0) / (x1 - x0) * BINS as f64).floor();
        let j = ((y - y0) / (y1 - y0) * BINS as f64).floor();
        if (0.0..BINS as f64).contains(&i) && (0.0..BINS as f64).contains(&j) {
            counts[j as usize * BINS + i as usize] += 1;
            inside += 1;
        }
    }
    (counts, inside)
}

/// `nuclei`: in-plane positions drawn as red crosses.
pub fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, paths: &PathSample, s: &DriftSlice, nuclei: &[(f64, f64)]) -> DrawResult {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (xr, yr) = ((s.x[0], s.x[s.x.len() - 1]), (s.y[0], s.y[s.y.len() - 1]));
    let (counts, inside) = histogram(paths, s.axes, xr, yr);
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (a, b) = (axis_name(s.axes[0]), axis_name(s.axes[1]));
    let total = paths.positions.len() / paths.shape[3].max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Walker density in the {a}{b} plane ({inside} of {total} positions)"), (FAMILY, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(e)?;
    let (dx, dy) = ((xr.1 - xr.0) / BINS as f64, (yr.1 - yr.0) / BINS as f64);
    chart
        .draw_series((0..BINS * BINS).filter(|k| counts[*k] > 0).map(|k| {
            let (i, j) = ((k % BINS) as f64, (k / BINS) as f64);
            let c = heat((counts[k] as f64 / max).sqrt());
            Rectangle::new([(xr.0 + i * dx, yr.0 + j * dy), (xr.0 + (i + 1.0) * dx, yr.0 + (j + 1.0) * dy)], c.filled())
        }))
        .map_err(e)?;
    super::draw_nuclei(&mut chart, nuclei)?;
    chart.configure_mesh().disable_mesh().x_desc(format!("{a} (bohr)")).y_desc(format!("{b} (bohr)")).label_style((FAMILY, 14)).draw().map_err(e)?;
    root.present().map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_points_inside_the_window_only() {
        let paths = PathSample { step_dt: 0.1, every: 1, shape: [1, 3, 1, 2], positions: vec![0.1, 0.1, 0.1, 0.1, 5.0, 0.0], drift: vec![0.0; 6] };
        let (counts, inside) = histogram(&paths, [0, 1], (-1.0, 1.0), (-1.0, 1.0));
        assert_eq!(inside, 2);
        assert_eq!(counts.iter().sum::<u32>(), 2);
        // (0.1 + 1) / 2 · 60 = 33 in both axes.
        assert_eq!(counts[33 * BINS + 33], 2);
    }
}
