//! Plots of a fit run (PNG, bundled font): `samples.png` (a 10×10 grid of generated digits, or
//! generated points over the test data in 2-D), `latent.png` (test data in latent space: the
//! encoder means' first two coordinates coloured by label, or z = f(x) of a flow) and
//! `curves.png` (training and validation ELBO). They read results and start no training.

use super::record::FitRecord;
use super::config::{DataKind, FitProblem};
use super::fit::{CurveRow, Splits};
use super::mixture::Mixture;
use super::values;
use crate::error::{Error, Result};
use crate::plot::{FAMILY, finite_range, register_font};
use burn::tensor::Device;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Renders `stem`.png via a temporary file and a rename.
fn save_png(dir: &Path, stem: &str, size: (u32, u32), draw: impl FnOnce(Area) -> std::result::Result<(), String>) -> Result<PathBuf> {
    register_font();
    let path = dir.join(format!("{stem}.png"));
    let tmp = dir.join(format!(".{stem}.tmp.png"));
    let _guard = crate::interrupt::Temporaries::register(&tmp);
    {
        let area = BitMapBackend::new(&tmp, size).into_drawing_area();
        draw(area).map_err(|message| Error::Write { path: path.clone(), message: crate::plot::backend_message(&message) })?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| Error::Write { path: path.clone(), message: e.to_string() })?;
    Ok(path)
}

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
                scatter(a, "Test data (grey) and flow samples (blue)", &[(data, RGBColor(150, 150, 150)), (&record.samples.values, RGBColor(40, 70, 200))])
            })?,
            save_png(dir, "latent", (800, 800), |a| scatter(a, "Test data mapped to the latent space z = f(x)", &[(&latent.values, RGBColor(40, 70, 200))]))?,
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
