//! Plots of a fit run (PNG, bundled font): `samples.png` (a 10×10 grid of generated digits, or
//! generated points over the test data in 2-D), `latent.png` (test data in latent space: the
//! encoder means' first two coordinates coloured by label, or z = f(x) of a flow) and
//! `curves.png` (training and validation ELBO). Time series instead get `posterior.png` (test
//! series with posterior sample paths, one panel per series and coordinate) and `prior.png`
//! (prior sample paths; for D ≥ 3 also the (x₁, x₃) plane of data and prior samples, the view
//! of the Lorenz attractor). They read results and start no training.

use super::record::{FitRecord, SeriesRecord};
use super::config::{DataKind, FitProblem};
use super::train::{CurveRow, Splits};
use super::mixture::Mixture;
use super::values;
use crate::base::error::Result;
use crate::plot::style::{FAMILY, finite_range, save_png};
use burn::tensor::Device;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn label_colour(l: u8) -> RGBColor {
    let c = Palette99::pick(l as usize).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

/// A 10×10 grid of 8×8 images with values in [0, 1].
fn digit_grid(area: Area, images: &[f64]) -> std::result::Result<(), String> {
    let e = |x: DrawingAreaErrorKind<_>| x.to_string();
    area.fill(&WHITE).map_err(e)?;
    let cell = 8 * 7 + 4;
    for (n, img) in images.chunks(64).take(100).enumerate() {
        let (gx, gy) = ((n % 10) as i32 * cell + 2, (n / 10) as i32 * cell + 2);
        for (p, v) in img.iter().enumerate() {
            let g = (255.0 * (1.0 - v.clamp(0.0, 1.0))) as u8;
            let (x, y) = (gx + (p % 8) as i32 * 7, gy + (p / 8) as i32 * 7);
            area.draw(&Rectangle::new([(x, y), (x + 7, y + 7)], RGBColor(g, g, g).filled())).map_err(e)?;
        }
    }
    area.present().map_err(e)
}

/// Scatter of point sets (x, y, colour) with a caption.
fn scatter(area: Area, caption: &str, sets: &[(&[f64], RGBColor)]) -> std::result::Result<(), String> {
    let e = |x: DrawingAreaErrorKind<_>| x.to_string();
    area.fill(&WHITE).map_err(e)?;
    let xs = sets.iter().flat_map(|(p, _)| p.chunks(2).map(|q| q[0]));
    let ys = sets.iter().flat_map(|(p, _)| p.chunks(2).map(|q| q[1]));
    let xr = finite_range(xs).unwrap_or((-1.0, 1.0));
    let yr = finite_range(ys).unwrap_or((-1.0, 1.0));
    let mut chart = ChartBuilder::on(&area)
        .caption(caption, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(e)?;
    chart.configure_mesh().disable_mesh().label_style((FAMILY, 13)).draw().map_err(e)?;
    for (points, colour) in sets {
        chart.draw_series(points.chunks(2).map(|p| Circle::new((p[0], p[1]), 2, colour.mix(0.6).filled()))).map_err(e)?;
    }
    area.present().map_err(e)
}

/// Labelled scatter (one colour per label).
fn labelled(area: Area, caption: &str, points: &[f64], labels: &[u8]) -> std::result::Result<(), String> {
    let mut by: Vec<Vec<f64>> = vec![Vec::new(); 256];
    for (p, l) in points.chunks(2).zip(labels) {
        by[*l as usize].extend_from_slice(p);
    }
    let sets: Vec<(&[f64], RGBColor)> = by.iter().enumerate().filter(|(_, v)| !v.is_empty()).map(|(l, v)| (v.as_slice(), label_colour(l as u8))).collect();
    scatter(area, caption, &sets)
}

/// ELBO curves.
pub fn curves(dir: &Path, rows: &[CurveRow]) -> Result<PathBuf> {
    save_png(dir, "curves", (900, 600), |area| {
        let e = |x: DrawingAreaErrorKind<_>| x.to_string();
        area.fill(&WHITE).map_err(e)?;
        let all = rows.iter().flat_map(|r| [r.train_elbo, r.validation_elbo]);
        let mut sorted: Vec<f64> = all.filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        // Hide the first iterations' very low values: the y range starts at the 5th percentile.
        let lo = sorted.get(sorted.len() / 20).copied().unwrap_or(0.0);
        let hi = sorted.last().copied().unwrap_or(1.0);
        let n = rows.len().max(2) as f64;
        let mut chart = ChartBuilder::on(&area)
            .caption("ELBO (nats per example)", (FAMILY, 20))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..n, lo..hi + 0.05 * (hi - lo).abs().max(1e-3))
            .map_err(e)?;
        chart.configure_mesh().x_desc("iteration").label_style((FAMILY, 13)).draw().map_err(e)?;
        chart
            .draw_series(LineSeries::new(rows.iter().map(|r| (r.iteration as f64, r.train_elbo.max(lo))), RGBColor(150, 170, 220)))
            .map_err(e)?
            .label("train (one minibatch)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RGBColor(150, 170, 220)));
        chart
            .draw_series(LineSeries::new(rows.iter().filter(|r| r.validation_elbo.is_finite()).map(|r| (r.iteration as f64, r.validation_elbo)), RGBColor(170, 20, 30).stroke_width(2)))
            .map_err(e)?
            .label("validation")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RGBColor(170, 20, 30)));
        chart.configure_series_labels().background_style(WHITE).border_style(BLACK).label_font((FAMILY, 14)).draw().map_err(e)?;
        area.present().map_err(e)
    })
}

/// samples.png and latent.png of a chain, from its record (generated samples, latent means).
pub fn chain_plots(dir: &Path, record: &FitRecord, splits: &Splits, problem: &FitProblem) -> Result<Vec<PathBuf>> {
    let latent = &record.latent;
    if let Some(series) = &record.series {
        return series_plots(dir, series);
    }
    if problem.data.kind == DataKind::Digits {
        let first_two: Vec<f64> = latent.values.chunks(latent.cols).flat_map(|z| z[..2.min(latent.cols)].to_vec()).collect();
        Ok(vec![
            save_png(dir, "samples", (600, 600), |a| digit_grid(a, &record.samples.values))?,
            save_png(dir, "latent", (800, 800), |a| labelled(a, "Test digits: encoder means (z₁, z₂), colour = label", &first_two, &splits.test.labels))?,
        ])
    } else {
        let data = &splits.test.values;
        Ok(vec![
            save_png(dir, "samples", (800, 800), |a| {
                scatter(a, "Test data (grey) and model samples (blue)", &[(data, RGBColor(150, 150, 150)), (&record.samples.values, RGBColor(40, 70, 200))])
            })?,
            save_png(dir, "latent", (800, 800), |a| scatter(a, if problem.model.kind == super::config::ModelKind::Diffusion { "Test data on the model scale y_0" } else { "Test data mapped to the latent space z = f(x)" }, &[(&latent.values, RGBColor(40, 70, 200))]))?,
        ])
    }
}

/// samples.png (data and mixture samples) and latent.png (data coloured by argmax q(c|x)).
pub fn mixture_plots(dir: &Path, model: &Mixture, splits: &Splits, device: &Device) -> Result<Vec<PathBuf>> {
    let test = splits.test.all(device);
    let q = values(model.log_posterior(test));
    let k = model.logits.val().dims()[0];
    let labels: Vec<u8> = q.chunks(k).map(|r| (0..k).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap_or(0) as u8).collect();
    let k2 = model.means.val().dims()[1];
    let means: Vec<f64> = values(model.means.val()).chunks(k2).flat_map(|m| m[..2].to_vec()).collect();
    let data = &splits.test.plane();
    Ok(vec![
        save_png(dir, "latent", (800, 800), |a| labelled(a, "Test points coloured by argmax q(c | x) (NVIL-trained)", data, &labels))?,
        save_png(dir, "samples", (800, 800), |a| scatter(a, "Test data (grey) and component means (red), first two coordinates", &[(data, RGBColor(150, 150, 150)), (&means, RGBColor(200, 0, 0))]))?,
    ])
}

const POSTERIOR_BLUE: RGBColor = RGBColor(40, 70, 200);
const PRIOR_GREEN: RGBColor = RGBColor(20, 130, 60);

/// One time panel: `lines` (each `[M + 1]` values on `grid`) and observation dots.
fn time_panel(area: &Area, caption: &str, grid: &[f64], lines: &[Vec<f64>], colour: RGBColor, dots: &[(f64, f64)]) -> std::result::Result<(), String> {
    let e = |x: DrawingAreaErrorKind<_>| x.to_string();
    let yr = finite_range(lines.iter().flatten().copied().chain(dots.iter().map(|d| d.1))).unwrap_or((-1.0, 1.0));
    let pad = 0.05 * (yr.1 - yr.0).max(1e-6);
    let (t0, t1) = (grid[0], grid[grid.len() - 1]);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 15))
        .margin(6)
        .x_label_area_size(25)
        .y_label_area_size(40)
        .build_cartesian_2d(t0..t1, yr.0 - pad..yr.1 + pad)
        .map_err(e)?;
    chart.configure_mesh().disable_mesh().label_style((FAMILY, 11)).draw().map_err(e)?;
    for line in lines {
        chart.draw_series(LineSeries::new(grid.iter().copied().zip(line.iter().copied()).filter(|p| p.1.is_finite()), colour.mix(0.35))).map_err(e)?;
    }
    chart.draw_series(dots.iter().filter(|d| d.1.is_finite()).map(|&d| Circle::new(d, 2, BLACK.filled()))).map_err(e)?;
    Ok(())
}

/// posterior.png and prior.png of a time-series fit.
pub fn series_plots(dir: &Path, r: &SeriesRecord) -> Result<Vec<PathBuf>> {
    let (d, m, k) = (r.dim, r.grid_times.len(), r.times.len());
    let (series, paths) = r.posterior_shape;
    let shown = series.min(3);
    let cols = d.min(3);
    // posterior_paths[s][p][n][i]
    let posterior_line = |s: usize, p: usize, i: usize| (0..m).map(|n| r.posterior_paths[((s * paths + p) * m + n) * d + i]).collect::<Vec<f64>>();
    let prior_line = |p: usize, i: usize| (0..m).map(|n| r.prior_paths[(p * m + n) * d + i]).collect::<Vec<f64>>();
    let observed = |s: usize, i: usize| (0..k).map(|j| (r.times[j], r.test_observations[(s * k + j) * d + i])).collect::<Vec<(f64, f64)>>();
    let posterior = save_png(dir, "posterior", (360 * cols as u32, 260 * shown.max(1) as u32), |area| {
        let e = |x: DrawingAreaErrorKind<_>| x.to_string();
        area.fill(&WHITE).map_err(e)?;
        let panels = area.split_evenly((shown.max(1), cols));
        for s in 0..shown {
            for i in 0..cols {
                let lines: Vec<Vec<f64>> = (0..paths).map(|p| posterior_line(s, p, i)).collect();
                time_panel(&panels[s * cols + i], &format!("test series {s}, x{}: data (dots), {paths} posterior paths", i + 1), &r.grid_times, &lines, POSTERIOR_BLUE, &observed(s, i))?;
            }
        }
        area.present().map_err(e)
    })?;
    let plane = d >= 3;
    let width = 360 * (cols + usize::from(plane)) as u32;
    let prior = save_png(dir, "prior", (width, 300), |area| {
        let e = |x: DrawingAreaErrorKind<_>| x.to_string();
        area.fill(&WHITE).map_err(e)?;
        let panels = area.split_evenly((1, cols + usize::from(plane)));
        let count = r.prior_count.min(16);
        for (i, panel) in panels.iter().take(cols).enumerate() {
            let lines: Vec<Vec<f64>> = (0..count).map(|p| prior_line(p, i)).collect();
            time_panel(panel, &format!("x{}: {count} prior sample paths", i + 1), &r.grid_times, &lines, PRIOR_GREEN, &[])?;
        }
        if plane {
            let data: Vec<(f64, f64)> = (0..r.test_series).flat_map(|s| (0..k).map(move |j| (s, j))).map(|(s, j)| (r.test_observations[(s * k + j) * d], r.test_observations[(s * k + j) * d + 2])).filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
            let samples: Vec<Vec<(f64, f64)>> = (0..r.prior_count).map(|p| (0..m).map(|n| (r.prior_paths[(p * m + n) * d], r.prior_paths[(p * m + n) * d + 2])).collect()).collect();
            let xr = finite_range(data.iter().map(|p| p.0).chain(samples.iter().flatten().map(|p| p.0))).unwrap_or((-1.0, 1.0));
            let yr = finite_range(data.iter().map(|p| p.1).chain(samples.iter().flatten().map(|p| p.1))).unwrap_or((-1.0, 1.0));
            let mut chart = ChartBuilder::on(&panels[cols])
                .caption("(x1, x3): test data (grey), prior paths (green)", (FAMILY, 15))
                .margin(6)
                .x_label_area_size(25)
                .y_label_area_size(40)
                .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
                .map_err(e)?;
            chart.configure_mesh().disable_mesh().label_style((FAMILY, 11)).draw().map_err(e)?;
            chart.draw_series(data.iter().map(|&p| Circle::new(p, 1, RGBColor(150, 150, 150).filled()))).map_err(e)?;
            for line in samples.iter().take(16) {
                chart.draw_series(LineSeries::new(line.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()), PRIOR_GREEN.mix(0.5))).map_err(e)?;
            }
        }
        area.present().map_err(e)
    })?;
    Ok(vec![posterior, prior])
}
