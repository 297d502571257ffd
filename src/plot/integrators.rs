//! integrators.png (1000×800): weak error against cost of every integrator, from a
//! [`WeakErrorReport`]. Log–log axes: x = drift evaluations per walker over [0, T], y = |ê(h)|
//! (the Monte Carlo weak error of E[X_T²]) with ±1 standard-error bars; filled markers are the
//! points the order fit used (|ê| > 3σ), hollow ones were below that. Each scheme's fitted line
//! |e| = C h^p is drawn dashed, and the target accuracy as a dotted horizontal line: the scheme
//! whose line crosses it furthest left is the cheapest at that accuracy.

use super::{DrawResult, FAMILY, draw_legend};
use crate::base::error::{Error, Result};
use crate::path::integrators::weak_error::{WeakErrorReport, fit_power_law};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Pixel size of the plot.
pub const INTEGRATORS_SIZE: (u32, u32) = (1000, 800);

const COLOURS: [RGBColor; 4] = [RGBColor(30, 90, 200), RGBColor(220, 110, 20), RGBColor(30, 150, 60), RGBColor(180, 30, 40)];

/// Checks that `file` can be the plot's target (a .png in an existing directory) before any
/// work is done: a one-line error naming the argument otherwise.
pub fn check_target(file: &Path) -> Result<()> {
    let bad = |message: &str| Err(Error::Write { path: file.to_path_buf(), message: format!("--plot: {message}") });
    if file.extension().and_then(|e| e.to_str()) != Some("png") {
        return bad("the file name must end in .png");
    }
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return bad(&format!("directory {} does not exist", dir.display()));
    }
    Ok(())
}

/// Writes `file` (.png) and the same stem as .svg beside it; returns both paths.
pub fn plot_to(report: &WeakErrorReport, file: &Path) -> Result<Vec<PathBuf>> {
    check_target(file)?;
    super::register_font();
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("integrators");
    super::save(dir, stem, INTEGRATORS_SIZE, |a| draw(a, report), |a| draw(a, report))
}

/// Cost of one point: drift evaluations per walker over [0, T].
fn cost(evals_per_step: f64, steps: usize) -> f64 {
    evals_per_step * steps as f64
}

pub fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, report: &WeakErrorReport) -> DrawResult {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let floor = 1e-9;
    let points = report.schemes.iter().flat_map(|s| s.levels.iter().map(|l| (cost(l.drift_evals_per_step, l.steps), l.weak_error.abs().max(floor))));
    let (xlo, xhi, ylo, yhi) = points.chain([(f64::NAN, report.config.target)]).fold((f64::INFINITY, 0.0f64, f64::INFINITY, 0.0f64), |(a, b, c, d), (x, y)| {
        (if x.is_finite() { a.min(x) } else { a }, if x.is_finite() { b.max(x) } else { b }, c.min(y), d.max(y))
    });
    if !(xlo.is_finite() && xhi > 0.0) {
        return root.present().map_err(e);
    }
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Weak error against cost: {}", report.problem), (FAMILY, 20))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d((xlo / 1.5..xhi * 1.5).log_scale(), (ylo / 3.0..yhi * 3.0).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("drift evaluations per walker over [0, T]")
        .y_desc("|E[X_T²] − exact|")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FAMILY, 14))
        .draw()
        .map_err(e)?;
    let target = report.config.target;
    chart
        .draw_series(DashedLineSeries::new([(xlo / 1.5, target), (xhi * 1.5, target)], 3, 4, BLACK.stroke_width(1)))
        .map_err(e)?
        .label(format!("target accuracy {target:.0e}"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(1)));
    for (s, colour) in report.schemes.iter().zip(COLOURS.iter().cycle()) {
        let colour = *colour;
        let bars = s.levels.iter().map(|l| {
            let x = cost(l.drift_evals_per_step, l.steps);
            let y = l.weak_error.abs();
            PathElement::new(vec![(x, (y - l.stat_error).max(floor)), (x, (y + l.stat_error).max(floor))], colour.stroke_width(1))
        });
        chart.draw_series(bars).map_err(e)?;
        let fitted = s.fitted_weak_order.map_or("no fit".to_string(), |p| format!("fitted {p:.2}"));
        chart
            .draw_series(s.levels.iter().map(|l| {
                let significant = l.weak_error.abs() > 3.0 * l.stat_error;
                let style = if significant { colour.filled() } else { colour.stroke_width(2) };
                Circle::new((cost(l.drift_evals_per_step, l.steps), l.weak_error.abs().max(floor)), 5, style)
            }))
            .map_err(e)?
            .label(format!("{} (weak order stated {}, {fitted})", s.integrator, s.stated_weak_order))
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled()));
        // The fitted line over the significant points, in cost coordinates.
        let used: Vec<_> = s.levels.iter().filter(|l| l.weak_error.abs() > 3.0 * l.stat_error).collect();
        if used.len() >= 2 {
            let xs: Vec<f64> = used.iter().map(|l| cost(l.drift_evals_per_step, l.steps)).collect();
            let ys: Vec<f64> = used.iter().map(|l| l.weak_error.abs()).collect();
            let (slope, c) = fit_power_law(&xs, &ys);
            let (x0, ratio) = (xlo / 1.5, (xhi * 1.5) / (xlo / 1.5));
            let line = (0..=64).map(|k| x0 * ratio.powf(k as f64 / 64.0)).map(|x| (x, c * x.powf(slope))).filter(|p| p.1 > ylo / 3.0 && p.1 < yhi * 3.0);
            chart.draw_series(DashedLineSeries::new(line, 8, 5, colour.stroke_width(1))).map_err(e)?;
        }
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
    root.present().map_err(e)
}
