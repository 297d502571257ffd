//! drift.png: the learned drift v(x) on the 2-D slice of run.h5 `/slice` as a vector field.
//! Arrows point along the in-plane drift; their length grows with |v| up to the grid spacing
//! (|v| above its 90th percentile, e.g. near a cusp, is drawn at full length) and their colour
//! encodes |v| relative to that percentile. Black dots: the other particles, held fixed; red
//! crosses: nuclei.

use super::{DrawResult, FAMILY, axis_name, heat};
use crate::io::hdf5::DriftSlice;
use plotters::coord::Shift;
use plotters::prelude::*;

/// `nuclei`: in-plane positions drawn as red crosses.
pub fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, s: &DriftSlice, nuclei: &[(f64, f64)]) -> DrawResult {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (nx, ny) = (s.x.len(), s.y.len());
    if nx < 2 || ny < 2 {
        return Err("the slice grid needs at least 2×2 points".into());
    }
    let (x0, x1, y0, y1) = (s.x[0], s.x[nx - 1], s.y[0], s.y[ny - 1]);
    let spacing = ((x1 - x0) / (nx - 1) as f64).min((y1 - y0) / (ny - 1) as f64);
    let norms: Vec<f64> = s.drift.chunks_exact(2).map(|v| v[0].hypot(v[1])).collect();
    let mut sorted: Vec<f64> = norms.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let scale = sorted.get(sorted.len() * 9 / 10).copied().filter(|v| *v > 0.0).unwrap_or(1.0);

    let (a, b) = (axis_name(s.axes[0]), axis_name(s.axes[1]));
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Learned drift, particle {} in the {a}{b} plane", s.particle + 1), (FAMILY, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x0 - spacing..x1 + spacing, y0 - spacing..y1 + spacing)
        .map_err(e)?;
    chart.configure_mesh().x_desc(format!("{a} (bohr)")).y_desc(format!("{b} (bohr)")).label_style((FAMILY, 14)).draw().map_err(e)?;

    let mut arrows = Vec::new();
    for (j, &y) in s.y.iter().enumerate() {
        for (i, &x) in s.x.iter().enumerate() {
            let k = j * nx + i;
            let (vx, vy, n) = (s.drift[2 * k], s.drift[2 * k + 1], norms[k]);
            if !(n.is_finite() && n > 0.0) {
                continue;
            }
            let len = 0.9 * spacing * (n / scale).min(1.0);
            let (ux, uy) = (vx / n, vy / n);
            let tip = (x + len * ux, y + len * uy);
            let head = 0.35 * len;
            let colour = heat(0.25 + 0.75 * (n / scale).min(1.0));
            let style = colour.stroke_width(2);
            arrows.push(PathElement::new(vec![(x, y), tip], style));
            for side in [1.0, -1.0] {
                // Two barbs at ±25° from the reversed direction.
                let (c, sn) = (0.906, 0.423 * side);
                let (bx, by) = (-ux * c + uy * sn, -uy * c - ux * sn);
                arrows.push(PathElement::new(vec![tip, (tip.0 + head * bx, tip.1 + head * by)], style));
            }
        }
    }
    chart.draw_series(arrows).map_err(e)?;

    chart.draw_series(fixed_points(s).into_iter().map(|p| Circle::new(p, 5, BLACK.filled()))).map_err(e)?;
    super::draw_nuclei(&mut chart, nuclei)?;
    root.present().map_err(e)
}

/// In-plane positions of the particles other than the moving one.
fn fixed_points(s: &DriftSlice) -> Vec<(f64, f64)> {
    let d = s.dims.max(1);
    (0..s.fixed.len() / d).filter(|&q| q != s.particle).map(|q| (s.fixed[q * d + s.axes[0]], s.fixed[q * d + s.axes[1]])).collect()
}
