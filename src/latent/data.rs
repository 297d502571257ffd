//! Data sets: the 8×8 digits and 2-D densities generated in code.
//!
//! Digits: `data/digits.csv.gz` (vendored; UCI optical digits as distributed with scikit-learn,
//! BSD-3, see `data/digits.COPYING`): 1797 rows of 64 pixel values in 0..=16 and a label.
//! Pixels are dequantised, x = (v + u) / 17 with u ~ U[0, 1), a density on [0, 1]⁶⁴ whose
//! log-likelihood bounds the discrete one: log P(v) ≥ log p(x) − 64 ln 17 (Theis et al. 2016).
//! The train/validation/test split is fixed (a permutation with its own seed), not the run's.

use crate::base::error::{Error, Result};
use crate::base::noise::Noise;
use std::io::Read;
use std::path::Path;

/// Pixels of one digit.
pub const DIGIT_PIXELS: usize = 64;
/// Discrete levels of a pixel (0..=16).
pub const DIGIT_LEVELS: usize = 17;
/// Sizes of the fixed split.
pub const DIGITS_TEST: usize = 360;
pub const DIGITS_VALIDATION: usize = 180;
/// Seeds of the split and of the fixed dequantisation noise of validation and test data.
const SPLIT_SEED: u64 = 0x5EED_5917;
const EVAL_DEQUANTISE_SEED: u64 = 0xDE0A_1717;

/// Rows of a data matrix, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub values: Vec<f64>,
    pub rows: usize,
    pub dim: usize,
    pub labels: Vec<u8>,
}

impl Dataset {
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }
    fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            values: idx.iter().flat_map(|&i| self.row(i).iter().copied()).collect(),
            rows: idx.len(),
            dim: self.dim,
            labels: if self.labels.is_empty() { Vec::new() } else { idx.iter().map(|&i| self.labels[i]).collect() },
        }
    }
    /// Rows `idx` as a tensor.
    pub fn tensor(&self, idx: &[usize], device: &burn::tensor::Device) -> burn::tensor::Tensor<2> {
        let v: Vec<f64> = idx.iter().flat_map(|&i| self.row(i).iter().copied()).collect();
        burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(v, [idx.len(), self.dim]), device)
    }
    /// The first two coordinates of every row, interleaved (for 2-D plots).
    pub fn plane(&self) -> Vec<f64> {
        (0..self.rows).flat_map(|i| self.row(i)[..2].to_vec()).collect()
    }
    /// All rows as a tensor.
    pub fn all(&self, device: &burn::tensor::Device) -> burn::tensor::Tensor<2> {
        burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(self.values.clone(), [self.rows, self.dim]), device)
    }
}

fn bad(path: &Path, line: usize, message: String) -> Error {
    Error::Problem { path: path.to_path_buf(), location: format!("line {line}"), message }
}

/// Fewest rows of a digits file: rows/8 validation and rows/4 test rows must not be empty.
pub const MIN_DIGIT_ROWS: usize = 8;

/// Parses digits CSV text: 65 comma-separated integers per line (64 pixels in 0..=16, a label).
pub fn parse_digits(path: &Path, text: &str) -> Result<Dataset> {
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != DIGIT_PIXELS + 1 {
            return Err(bad(path, i + 1, format!("expected {} columns (64 pixels and a label), found {}", DIGIT_PIXELS + 1, fields.len())));
        }
        for (c, f) in fields.iter().enumerate() {
            let v: f64 = f.parse().map_err(|_| bad(path, i + 1, format!("column {}: \"{}\" is not a number", c + 1, crate::base::config::clip(f, 40))))?;
            if c < DIGIT_PIXELS {
                if !(0.0..=16.0).contains(&v) || v.fract() != 0.0 {
                    return Err(bad(path, i + 1, format!("column {}: pixel value {v} is not an integer in 0..=16", c + 1)));
                }
                values.push(v);
            } else {
                if !(0.0..=9.0).contains(&v) || v.fract() != 0.0 {
                    return Err(bad(path, i + 1, format!("column {}: label {} is not a digit 0..=9", c + 1, crate::base::config::clip(f, 20))));
                }
                labels.push(v as u8);
            }
        }
    }
    if labels.len() < MIN_DIGIT_ROWS {
        let last = text.lines().count().max(1);
        return Err(bad(path, last, format!("{} data rows: at least {MIN_DIGIT_ROWS} are needed (training, validation and test splits)", labels.len())));
    }
    Ok(Dataset { rows: labels.len(), values, dim: DIGIT_PIXELS, labels })
}

/// Largest digits file (bytes, after decompression): 1797 rows take 200 KiB.
pub const MAX_DATA_BYTES: u64 = 64 << 20;

/// Reads a digits file, gzip-compressed when its name ends in `.gz`; at most
/// [`MAX_DATA_BYTES`] of text.
pub fn load_digits(path: &Path) -> Result<Dataset> {
    let read_err = |e: std::io::Error| Error::Read { path: path.to_path_buf(), cause: e };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut raw = Vec::new();
    file.take(MAX_DATA_BYTES + 1).read_to_end(&mut raw).map_err(read_err)?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut s = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).take(MAX_DATA_BYTES + 1).read_to_end(&mut s).map_err(|e| Error::Problem {
            path: path.to_path_buf(),
            location: "gzip".into(),
            message: format!("not a readable gzip text file: {e}"),
        })?;
        s
    } else {
        raw
    };
    if bytes.len() as u64 > MAX_DATA_BYTES {
        return Err(Error::Problem { path: path.to_path_buf(), location: "file".into(), message: format!("more than {} MiB of text: not a digits file", MAX_DATA_BYTES >> 20) });
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        bad(path, line, "not UTF-8 text".into())
    })?;
    parse_digits(path, &text)
}

/// The fixed split of raw digits (pixel values 0..=16): (train, validation, test).
pub fn split_digits(all: &Dataset) -> (Dataset, Dataset, Dataset) {
    let mut idx: Vec<usize> = (0..all.rows).collect();
    let mut noise = Noise::new(SPLIT_SEED);
    for i in (1..idx.len()).rev() {
        let j = ((noise.uniform() * (i + 1) as f64) as usize).min(i);
        idx.swap(i, j);
    }
    let test = DIGITS_TEST.min(all.rows / 4);
    let valid = DIGITS_VALIDATION.min(all.rows / 8);
    (all.subset(&idx[test + valid..]), all.subset(&idx[test..test + valid]), all.subset(&idx[..test]))
}

/// Dequantised copy: x = (v + u) / L, u ~ U[0, 1) from `noise`.
pub fn dequantise(raw: &Dataset, noise: &mut Noise) -> Dataset {
    let values = raw.values.iter().map(|v| (v + noise.uniform()) / DIGIT_LEVELS as f64).collect();
    Dataset { values, ..raw.clone() }
}

/// Dequantised with the fixed evaluation noise (the same numbers in every run).
pub fn dequantise_fixed(raw: &Dataset) -> Dataset {
    dequantise(raw, &mut Noise::new(EVAL_DEQUANTISE_SEED))
}

/// Two interleaved half circles with Gaussian noise of `sd` (as scikit-learn's make_moons),
/// centred and scaled to unit-ish spread.
pub fn two_moons(n: usize, sd: f64, noise: &mut Noise) -> Dataset {
    let mut values = Vec::with_capacity(2 * n);
    for i in 0..n {
        let t = std::f64::consts::PI * noise.uniform();
        let (x, y) = if i % 2 == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
        let e = noise.standard_normals(2);
        values.push(2.0 * (x - 0.5 + sd * e[0]));
        values.push(2.0 * (y - 0.25 + sd * e[1]));
    }
    Dataset { values, rows: n, dim: 2, labels: Vec::new() }
}

/// `modes` isotropic Gaussians of standard deviation `sd` in `dims` ≥ 2 dimensions, their means
/// evenly spaced on a circle of `radius` in the first two coordinates (zero in the others).
pub fn ring(n: usize, modes: usize, radius: f64, sd: f64, dims: usize, noise: &mut Noise) -> Dataset {
    let dims = dims.max(2);
    let mut values = Vec::with_capacity(dims * n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let c = ((noise.uniform() * modes as f64) as usize).min(modes - 1);
        let a = 2.0 * std::f64::consts::PI * c as f64 / modes as f64;
        let e = noise.standard_normals(dims);
        values.push(radius * a.cos() + sd * e[0]);
        values.push(radius * a.sin() + sd * e[1]);
        values.extend(e[2..].iter().map(|v| sd * v));
        labels.push(c as u8);
    }
    Dataset { values, rows: n, dim: dims, labels }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_fixed_and_disjoint_in_size() {
        let text: String = (0..100).map(|i| format!("{}{}\n", "1,".repeat(64), i % 10)).collect();
        let d = parse_digits(Path::new("x.csv"), &text).unwrap();
        let (a, b, c) = split_digits(&d);
        assert_eq!(a.rows + b.rows + c.rows, 100);
        assert_eq!(split_digits(&d).2.labels, c.labels);
    }
}
