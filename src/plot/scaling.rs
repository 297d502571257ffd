//! scaling.png (1000×800): training throughput against the number of walkers, from a
//! [`ScalingReport`] (`bench scaling --plot FILE`). Log–log axes: x = walkers, y = walker-steps
//! per second (walkers · steps / median seconds per training iteration), one line with markers
//! per benchmark. Sizes that were skipped (memory estimate above the cut, time budget) or failed
//! are absent: a line ends where the measurements end. A throughput that keeps rising with the
//! walkers means the device is not yet full; where it flattens, the device is.

use super::{DrawResult, FAMILY, draw_legend};
use crate::bench::scaling::ScalingReport;
use crate::base::error::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Pixel size of the plot.
pub const SCALING_SIZE: (u32, u32) = (1000, 800);

const COLOURS: [RGBColor; 4] = [RGBColor(30, 90, 200), RGBColor(220, 110, 20), RGBColor(30, 150, 60), RGBColor(180, 30, 40)];

/// Writes `file` (.png) and the same stem as .svg beside it; returns both paths.
pub fn plot_to(report: &ScalingReport, file: &Path) -> Result<Vec<PathBuf>> {
    super::integrators::check_target(file)?;
    super::register_font();
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("scaling");
    super::save(dir, stem, SCALING_SIZE, |a| draw(a, report), |a| draw(a, report))
}

/// The measured (walkers, walker-steps per second) of each benchmark, in the report's order,
/// with a legend label; benchmarks without a measured size are left out.
fn curves(report: &ScalingReport) -> Vec<(String, Vec<(f64, f64)>)> {
    report
        .config
        .benchmarks
        .iter()
        .filter_map(|name| {
            let measured: Vec<_> = report.points.iter().filter(|p| &p.benchmark == name).filter_map(|p| p.result.as_ref()).collect();
            let first = measured.first()?;
            let label = format!("{name}: {}, {}, {} steps", first.network, first.integrator, first.steps);
            Some((label, measured.iter().map(|r| (r.walkers as f64, r.walker_steps_per_second)).collect()))
        })
        .collect()
}

/// Walker counts as 1000, 1e4, 1e5, ….
fn walkers_label(v: &f64) -> String {
    if *v < 1e4 { format!("{v:.0}") } else { format!("{v:.0e}") }
}

pub fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, report: &ScalingReport) -> DrawResult {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let title = format!("Training throughput against walkers ({}, {} engine)", report.backend, report.engine.name());
    let curves = curves(report);
    let all = curves.iter().flat_map(|c| c.1.iter().copied()).filter(|&(x, y)| x > 0.0 && y.is_finite() && y > 0.0);
    let (xlo, xhi, ylo, yhi) = all.fold((f64::INFINITY, 0.0f64, f64::INFINITY, 0.0f64), |(a, b, c, d), (x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)));
    if !(xlo.is_finite() && ylo.is_finite()) {
        // Nothing measured: say so rather than leave a blank image.
        let style = (FAMILY, 20).into_font().color(&BLACK);
        root.draw_text(&title, &style, (40, 40)).map_err(e)?;
        root.draw_text("no size was measured (every point skipped or failed: see the JSON)", &style, (40, 90)).map_err(e)?;
        return root.present().map_err(e);
    }
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 20))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d((xlo / 1.5..xhi * 1.5).log_scale(), (ylo / 2.0..yhi * 2.0).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("walkers")
        .y_desc("walker-steps per second")
        .x_label_formatter(&walkers_label)
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .label_style((FAMILY, 14))
        .draw()
        .map_err(e)?;
    for ((label, points), colour) in curves.iter().zip(COLOURS.iter().cycle()) {
        let colour = *colour;
        chart.draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2))).map_err(e)?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 5, colour.filled())))
            .map_err(e)?
            .label(label.clone())
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled()));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present().map_err(e)
}

#[cfg(test)]
mod tests {
    #[test]
    fn walker_counts_read_as_numbers() {
        assert_eq!(super::walkers_label(&1000.0), "1000");
        assert_eq!(super::walkers_label(&100000.0), "1e5");
    }
}
