//! Writers. They read results and start no computation. Every file is written atomically:
//! to a temporary file beside the target, then renamed, so an interrupted run never leaves a
//! partial file that looks complete.
//!
//! It knows neither application: each application lays out its own files with these pieces.
//!
//! - [`hdf5`]: run.h5 (trajectories, training curve, evaluation; for h5py).
//! - [`codec`]: the checksummed section format of every checkpoint.bin.
//! - [`training`]: the training curve (training.csv).
//! - [`export`]: the content of run.h5 as CSV files.
//! - [`lock`]: the run-directory lock (one writer per run directory).
//! - [`run`]: the run driver both applications share (run directory, resume check, lock,
//!   checkpoint cadence).
//! - this file: the atomic write.

pub mod codec;
pub mod export;
pub mod hdf5;
pub mod lock;
pub mod run;
pub mod training;

use crate::base::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` via `path.tmp` + rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| Error::Write { path: path.to_path_buf(), message: e.to_string() };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // Registered so that a signal ending the process removes it; removed on any error below.
    let _guard = crate::base::interrupt::Temporaries::register(&tmp);
    {
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)
}
