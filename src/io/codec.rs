//! The one codec of every checkpoint file (`solve`'s and `fit`'s): a magic line,
//! length-prefixed little-endian sections in a fixed order, then a 64-bit FNV-1a checksum of
//! everything before it. Floats are stored as their bits. A truncated or altered file fails the
//! checksum before anything is decoded, and every error names the file and the section.
//!
//! Each application lays out its own sections with [`Encoder`] and reads them back with
//! [`Decoder`]; what they share — the training curve's rows, burn module and Adam records —
//! is written here once.

use crate::base::error::{Error, Result};
use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use std::path::Path;

/// An error in section `field` of the file at `path`.
pub fn record_error(path: &Path, field: &str, e: impl std::fmt::Display) -> Error {
    Error::Format { path: path.to_path_buf(), field: field.to_string(), message: e.to_string() }
}

/// A module's parameters as a burnpack record (parameter ids included, so that an optimiser's
/// state still matches its parameters).
pub fn module_bytes<M: Module>(module: &M) -> Result<Vec<u8>> {
    let bytes = module.clone().into_record().into_bytes().map_err(|e| Error::Other(format!("checkpoint: cannot serialise: {e}")))?;
    Ok(bytes.to_vec())
}

/// Loads a record written by [`module_bytes`] into `template` (the same architecture).
pub fn load_module<M: Module>(path: &Path, template: M, bytes: &[u8]) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| record_error(path, "model", e))?;
    template.try_load_record(record).map_err(|e| record_error(path, "model", e))
}

/// Adam's state (moments and step counts, keyed by parameter id).
pub fn optimizer_bytes(optim: &ModuleOptimizer) -> Result<Vec<u8>> {
    Ok(optim.into_bytes().map_err(|e| Error::Other(format!("checkpoint: cannot serialise: {e}")))?.to_vec())
}

/// An Adam optimiser with the state written by [`optimizer_bytes`].
pub fn load_optimizer(path: &Path, bytes: &[u8]) -> Result<ModuleOptimizer> {
    let optim: ModuleOptimizer = AdamConfig::new().init();
    optim.from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| record_error(path, "optimizer", e))
}

/// The bytes of the file at `path`; an unreadable file is an error naming it.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|cause| Error::Read { path: path.to_path_buf(), cause })
}

/// 64-bit FNV-1a: detects truncation and bit flips (not an authentication code).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A training-curve row as both applications store it: the iteration and `N` numbers.
pub type Row<const N: usize> = (usize, [f64; N]);

/// Writes the sections of a checksummed file: `magic`, length-prefixed sections, then
/// [`Encoder::seal`] appends the FNV-1a checksum.
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub fn new(magic: &[u8]) -> Self {
        Encoder { buf: magic.to_vec() }
    }
    /// The finished file: everything written so far and its checksum.
    pub fn seal(mut self) -> Vec<u8> {
        let sum = fnv1a(&self.buf);
        self.u64(sum);
        self.buf
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
    /// The row count, then each row's iteration and numbers.
    pub fn rows<const N: usize>(&mut self, rows: &[Row<N>]) {
        self.u64(rows.len() as u64);
        for (iteration, values) in rows {
            self.u64(*iteration as u64);
            for v in values {
                self.f64(*v);
            }
        }
    }
    /// A length, then the numbers.
    pub fn f64s(&mut self, values: &[f64]) {
        self.u64(values.len() as u64);
        for v in values {
            self.f64(*v);
        }
    }
}

/// Reads what an [`Encoder`] wrote; every error names the file and the section.
pub struct Decoder<'a> {
    buf: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl<'a> Decoder<'a> {
    /// Checks the magic and the checksum of `bytes` (read from `path`) before anything is decoded.
    pub fn open(path: &'a Path, bytes: &'a [u8], magic: &[u8], what: &str) -> Result<Self> {
        let bad = |field: &str, message: String| record_error(path, field, message);
        if bytes.len() < magic.len() + 8 || &bytes[..magic.len()] != magic {
            return Err(bad("header", format!("not a {what} (bad magic or too short)")));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 8);
        if fnv1a(body) != u64::from_le_bytes(tail.try_into().expect("8 bytes")) {
            return Err(bad("checksum", "truncated or corrupt (checksum mismatch)".into()));
        }
        Ok(Decoder { buf: body, at: magic.len(), path })
    }
    /// An error in section `field` of this file.
    pub fn error(&self, field: &str, message: impl std::fmt::Display) -> Error {
        record_error(self.path, field, message)
    }
    /// Errors unless every byte before the checksum was read.
    pub fn finish(&self) -> Result<()> {
        if self.at != self.buf.len() {
            return Err(record_error(self.path, "trailer", "unexpected bytes after the last section"));
        }
        Ok(())
    }
    /// Bytes not read yet (a bound for counts read from the file).
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.at
    }
    pub fn string(&mut self, field: &str) -> Result<String> {
        String::from_utf8(self.bytes(field)?.to_vec()).map_err(|_| record_error(self.path, field, "not UTF-8"))
    }
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8]> {
        if n > self.buf.len() - self.at {
            return Err(record_error(self.path, field, "section runs past the end of the file"));
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    pub fn u64(&mut self, field: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, field)?.try_into().expect("8 bytes")))
    }
    pub fn f64(&mut self, field: &str) -> Result<f64> {
        self.u64(field).map(f64::from_bits)
    }
    pub fn bytes(&mut self, field: &str) -> Result<&'a [u8]> {
        let n = self.u64(field)? as usize;
        self.take(n, field)
    }
    /// What [`Encoder::rows`] wrote; a count larger than the file can hold is an error.
    pub fn rows<const N: usize>(&mut self, field: &str) -> Result<Vec<Row<N>>> {
        let n = self.u64(field)? as usize;
        if n > self.remaining() / (8 * (N + 1)) {
            return Err(record_error(self.path, field, "row count larger than the file"));
        }
        let mut rows = Vec::with_capacity(n);
        for _ in 0..n {
            let iteration = self.u64(field)? as usize;
            let mut values = [0.0; N];
            for v in &mut values {
                *v = self.f64(field)?;
            }
            rows.push((iteration, values));
        }
        Ok(rows)
    }
    /// What [`Encoder::f64s`] wrote.
    pub fn f64s(&mut self, field: &str) -> Result<Vec<f64>> {
        let n = self.u64(field)? as usize;
        let raw = self.take(n.saturating_mul(8), field)?;
        Ok(raw.chunks_exact(8).map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8 bytes")))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_round_trip_and_damage_names_the_section() {
        let mut w = Encoder::new(b"TEST\n");
        w.bytes(b"text");
        w.rows(&[(3, [1.0, -2.5]), (4, [f64::NAN, 0.0])]);
        w.f64s(&[0.5, 7.0]);
        let bytes = w.seal();
        let p = Path::new("t.bin");
        let mut r = Decoder::open(p, &bytes, b"TEST\n", "test file").unwrap();
        assert_eq!(r.string("text").unwrap(), "text");
        let rows = r.rows::<2>("rows").unwrap();
        assert_eq!((rows[0].0, rows[0].1), (3, [1.0, -2.5]));
        assert!(rows[1].1[0].is_nan());
        assert_eq!(r.f64s("values").unwrap(), vec![0.5, 7.0]);
        r.finish().unwrap();
        let e = Decoder::open(p, &bytes[..bytes.len() - 1], b"TEST\n", "test file").err().unwrap().to_string();
        assert!(e.contains("t.bin") && e.contains("checksum"), "{e}");
        // A row count the file cannot hold is refused before anything is allocated.
        let mut w = Encoder::new(b"TEST\n");
        w.u64(u64::MAX);
        let bytes = w.seal();
        let e = Decoder::open(p, &bytes, b"TEST\n", "test file").unwrap().rows::<4>("rows").err().unwrap().to_string();
        assert!(e.contains("rows"), "{e}");
    }
}
