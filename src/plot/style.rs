//! What every plot of the crate shares, for both applications' plots: the bundled font
//! (DejaVu Sans, `assets/fonts/`, registered with plotters' ab_glyph renderer, so no system
//! fonts are needed), the legend style, colour and axis helpers, and the atomic PNG + SVG
//! writer. It knows neither application.

use crate::base::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// The bundled font (Bitstream Vera / DejaVu licence: assets/fonts/DejaVuSans.LICENSE).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family name every plot uses.
pub(crate) const FAMILY: &str = "sans-serif";

/// Registers the bundled font under [`FAMILY`] (once per process).
pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            assert!(plotters::style::register_font(FAMILY, style, FONT).is_ok(), "the bundled font parses");
        }
    });
}

/// The legend box of a chart at `position`: bundled font, translucent white, black border.
pub(crate) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(chart: &mut ChartContext<'a, DB, CT>, position: SeriesLabelPosition) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|x| x.to_string())
}

/// A drawing error as text.
pub(crate) type DrawResult = std::result::Result<(), String>;

/// Renders `stem`.png into `dir` with `draw`, via a temporary file and a rename (the bitmap
/// backend picks the encoder from the extension: the temporary name ends in .png).
pub(crate) fn save_png(dir: &Path, stem: &str, size: (u32, u32), draw: impl FnOnce(DrawingArea<BitMapBackend, Shift>) -> DrawResult) -> Result<PathBuf> {
    register_font();
    let path = dir.join(format!("{stem}.png"));
    let tmp = dir.join(format!(".{stem}.tmp.png"));
    // Removed if drawing or the rename fails (and by a signal ending the process).
    let _guard = crate::base::interrupt::Temporaries::register(&tmp);
    // plotters creates the file by its name: what stands there (a stale file, a planted link) goes first.
    crate::io::clear_temporary(&tmp).map_err(|e| Error::Write { path: tmp.clone(), message: e.to_string() })?;
    {
        let area = BitMapBackend::new(&tmp, size).into_drawing_area();
        draw(area).map_err(|m| Error::Write { path: path.clone(), message: backend_message(&m) })?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| Error::Write { path: path.clone(), message: e.to_string() })?;
    Ok(path)
}

/// Renders `stem`.png and `stem`.svg into `dir` with the two drawing functions (one per backend).
pub(crate) fn save(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    png: impl FnOnce(DrawingArea<BitMapBackend, Shift>) -> DrawResult,
    svg: impl FnOnce(DrawingArea<SVGBackend, Shift>) -> DrawResult,
) -> Result<Vec<PathBuf>> {
    let png_path = save_png(dir, stem, size, png)?;
    let svg_path = dir.join(format!("{stem}.svg"));
    let mut text = String::new();
    {
        let area = SVGBackend::with_string(&mut text, size).into_drawing_area();
        svg(area).map_err(|m| Error::Write { path: svg_path.clone(), message: backend_message(&m) })?;
    }
    crate::io::write_atomic(&svg_path, text.as_bytes())?;
    Ok(vec![png_path, svg_path])
}

/// A plotting backend's error (often a Debug string of nested enums) as a short sentence: the
/// operating system's message where there is one (e.g. "No space left on device").
pub(crate) fn backend_message(m: &str) -> String {
    if let Some(i) = m.find("message: \"") {
        let rest = &m[i + "message: \"".len()..];
        if let Some(end) = rest.find('"') {
            return format!("cannot write the image: {}", &rest[..end]);
        }
    }
    if let Some(i) = m.find("kind: ") {
        let kind: String = m[i + 6..].chars().take_while(|c| c.is_alphanumeric()).collect();
        return format!("cannot write the image: {kind}");
    }
    format!("cannot draw the image: {}", crate::base::config::clip(m, 100))
}

/// (min, max) of finite values, widened when degenerate; `None` when there is none.
pub(crate) fn finite_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values.into_iter().filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return None;
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 * lo.abs().max(1e-3) };
    Some((lo - pad, hi + pad))
}

/// A colour from white (t = 0) through blue to dark red (t = 1).
pub(crate) fn heat(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let stops = [(255.0, 255.0, 255.0), (70.0, 110.0, 220.0), (30.0, 40.0, 140.0), (170.0, 20.0, 30.0)];
    let x = t * (stops.len() - 1) as f64;
    let k = (x.floor() as usize).min(stops.len() - 2);
    let f = x - k as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(mix(stops[k].0, stops[k + 1].0), mix(stops[k].1, stops[k + 1].1), mix(stops[k].2, stops[k + 1].2))
}

/// Coordinate names of an axis index.
pub(crate) fn axis_name(a: usize) -> String {
    ["x", "y", "z"].get(a).map_or(format!("x{a}"), |s| s.to_string())
}

#[cfg(test)]
mod message_tests {
    #[test]
    fn a_backend_debug_string_becomes_the_os_message() {
        let debug = r#"DrawingErrorKind::BackendError(BitMapBackendError::IOError(Os { code: 28, kind: StorageFull, message: "No space left on device" }))"#;
        assert_eq!(super::backend_message(debug), "cannot write the image: No space left on device");
        assert_eq!(super::backend_message("IOError(Kind(StorageFull)) kind: StorageFull"), "cannot write the image: StorageFull");
    }
}
