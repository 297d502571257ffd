//! energy.png: convergence of the energy. Upper panel: the per-iteration training estimate
//! (light), its running mean over a window of n/20 iterations (dark), the evaluated energy as a
//! line with its ±1σ band, the headline energy of the guided estimators (DMC) when the run has
//! one, and the reference. Lower panel: |running mean − E_ref|, |E_eval − E_ref| and
//! |E_headline − E_ref| on a log scale (against E_eval when there is no reference).

use super::{DrawResult, FAMILY, draw_legend, finite_range};
use crate::io::hdf5::RunFile;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Trailing running mean over `window` values.
pub fn running_mean(values: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    let mut sum = 0.0;
    values
        .iter()
        .enumerate()
        .map(|(k, v)| {
            sum += v;
            if k >= window {
                sum -= values[k - window];
            }
            sum / (k + 1).min(window) as f64
        })
        .collect()
}

/// `reference`: the exact or reference energy, if known.
pub fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, run: &RunFile, reference: Option<f64>) -> DrawResult {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let rows = &run.training;
    let iters: Vec<f64> = rows.iter().map(|r| r.iteration as f64).collect();
    let energy: Vec<f64> = rows.iter().map(|r| r.energy).collect();
    let mean = running_mean(&energy, energy.len() / 20);
    let eval = run.evaluation.as_ref();
    // The headline of the guided estimators, when it is not the variational evaluation itself.
    let headline = run.estimates.as_ref().filter(|h| h.headline != "variational" && h.energy.is_finite());
    let x_end = iters.last().copied().unwrap_or(0.0).max(1.0);

    // Energy range: the running mean, the evaluation, the reference and the central 96% of
    // the raw estimates (early iterations can be far off).
    let mut sorted: Vec<f64> = energy.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let central = if sorted.is_empty() { vec![] } else { vec![sorted[sorted.len() / 50], sorted[sorted.len() - 1 - sorted.len() / 50]] };
    let marks = eval.map(|v| vec![v.energy - v.energy_error, v.energy + v.energy_error]).unwrap_or_default();
    let head_marks = headline.map(|h| vec![h.energy - h.energy_error, h.energy + h.energy_error]).unwrap_or_default();
    let data = finite_range(mean.iter().copied().chain(central.iter().copied()).chain(marks.iter().copied()).chain(head_marks.iter().copied()));
    // The reference joins the range only when it is near the data (within 20 spans of their
    // middle): a reference that is wrong by orders of magnitude (a crafted `reference = 1e308`)
    // would otherwise squeeze every curve into one line, or overflow the axis.
    let reference_shown = reference.filter(|r| data.is_none_or(|(lo, hi)| (r - 0.5 * (lo + hi)).abs() <= 20.0 * (hi - lo).max(1e-3)));
    let (lo, hi) = finite_range(mean.iter().copied().chain(central).chain(marks).chain(head_marks).chain(reference_shown)).unwrap_or((0.0, 1.0));

    let (upper, lower) = root.split_vertically((root.dim_in_pixel().1 as f64 * 0.62) as u32);
    let mut chart = ChartBuilder::on(&upper)
        .caption("Energy during training", (FAMILY, 24))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_end, lo..hi)
        .map_err(e)?;
    chart.configure_mesh().x_desc("iteration").y_desc("energy (Ha)").label_style((FAMILY, 14)).draw().map_err(e)?;

    let light = RGBColor(120, 150, 220);
    chart
        .draw_series(LineSeries::new(iters.iter().copied().zip(energy.iter().copied()).filter(|p| p.1.is_finite()), light.stroke_width(1)))
        .map_err(e)?
        .label("training estimate")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], light.stroke_width(2)));
    let dark = RGBColor(20, 40, 140);
    chart
        .draw_series(LineSeries::new(iters.iter().copied().zip(mean.iter().copied()), dark.stroke_width(2)))
        .map_err(e)?
        .label(format!("running mean ({} iterations)", (energy.len() / 20).max(1)))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], dark.stroke_width(2)));
    if let Some(v) = eval {
        let band = RGBColor(220, 120, 30);
        chart
            .draw_series(std::iter::once(Rectangle::new([(0.0, v.energy - v.energy_error), (x_end, v.energy + v.energy_error)], band.mix(0.25).filled())))
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new([(0.0, v.energy), (x_end, v.energy)], band.stroke_width(2)))
            .map_err(e)?
            .label(format!("evaluated {:.5} ± {:.5} Ha", v.energy, v.energy_error))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], band.stroke_width(2)));
    }
    let green = RGBColor(30, 150, 60);
    if let Some(h) = headline {
        chart
            .draw_series(LineSeries::new([(0.0, h.energy), (x_end, h.energy)], green.stroke_width(2)))
            .map_err(e)?
            .label(match reference {
                Some(r) => format!("{} {:.5} ± {:.5} Ha ({:+.3} mHa)", h.headline, h.energy, h.energy_error, 1e3 * (h.energy - r)),
                None => format!("{} {:.5} ± {:.5} Ha", h.headline, h.energy, h.energy_error),
            })
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], green.stroke_width(2)));
    }
    if let Some(r) = reference {
        let label = match eval {
            Some(v) => format!("reference {r:.6} Ha (E − E_ref = {:+.3} mHa)", 1e3 * (v.energy - r)),
            None => format!("reference {r:.6} Ha"),
        };
        let label = if reference_shown.is_some() { label } else { format!("{label}, off the scale") };
        chart
            .draw_series(DashedLineSeries::new([(0.0, r), (x_end, r)], 8, 5, BLACK.stroke_width(2)))
            .map_err(e)?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;

    // Lower panel: distance to the target on a log scale.
    let target = reference.or(eval.map(|v| v.energy));
    let Some(target) = target else {
        return root.present().map_err(e);
    };
    let floor = 1e-6;
    let gap: Vec<(f64, f64)> = iters.iter().zip(&mean).map(|(&i, &m)| (i, (m - target).abs().max(floor))).filter(|p| p.1.is_finite()).collect();
    let eval_gap = eval.filter(|_| reference.is_some()).map(|v| (v.energy - target).abs().max(floor));
    let head_gap = headline.filter(|_| reference.is_some()).map(|h| (h.energy - target).abs().max(floor));
    let values: Vec<f64> = gap.iter().map(|p| p.1).chain(eval_gap).chain(head_gap).collect();
    let (glo, ghi) = values.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (glo, ghi) = if glo.is_finite() && ghi > 0.0 && ghi.is_finite() { (glo / 2.0, ghi * 2.0) } else { (floor, 1.0) };
    // A finite axis of at most 40 decades (ghi · 2 overflows near f64::MAX; plotters' log ticks
    // need finite ends).
    let ghi = if ghi.is_finite() { ghi } else { f64::MAX / 4.0 };
    let glo = glo.max(ghi * 1e-40);
    let what = if reference.is_some() { "|E − E_ref| (Ha)" } else { "|E − E_eval| (Ha)" };
    let mut chart = ChartBuilder::on(&lower)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_end, (glo..ghi).log_scale())
        .map_err(e)?;
    chart.configure_mesh().x_desc("iteration").y_desc(what).y_label_formatter(&|v| format!("{v:.0e}")).label_style((FAMILY, 14)).draw().map_err(e)?;
    chart
        .draw_series(LineSeries::new(gap, dark.stroke_width(2)))
        .map_err(e)?
        .label("running mean")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], dark.stroke_width(2)));
    if let Some(g) = eval_gap {
        let band = RGBColor(220, 120, 30);
        chart
            .draw_series(LineSeries::new([(0.0, g), (x_end, g)], band.stroke_width(2)))
            .map_err(e)?
            .label("evaluated")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], band.stroke_width(2)));
    }
    if let (Some(g), Some(h)) = (head_gap, headline) {
        chart
            .draw_series(LineSeries::new([(0.0, g), (x_end, g)], green.stroke_width(2)))
            .map_err(e)?
            .label(h.headline.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], green.stroke_width(2)));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present().map_err(e)
}

#[cfg(test)]
mod tests {
    #[test]
    fn running_mean_over_a_trailing_window() {
        let m = super::running_mean(&[1.0, 3.0, 5.0, 7.0], 2);
        assert_eq!(m, vec![1.0, 2.0, 4.0, 6.0]);
    }
}
