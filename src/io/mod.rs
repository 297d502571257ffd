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
        let mut f = create_temporary(&tmp).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)
}

/// Removes whatever stands at the temporary path `tmp` (a stale temporary, or a link planted
/// there: the link itself goes, never its target), so that the file written next is a new one.
pub fn clear_temporary(tmp: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A new file at the temporary path `tmp`, created exclusively (`O_CREAT | O_EXCL`: an existing
/// file or link there is never opened or followed) after [`clear_temporary`].
pub fn create_temporary(tmp: &Path) -> std::io::Result<std::fs::File> {
    clear_temporary(tmp)?;
    std::fs::OpenOptions::new().write(true).create_new(true).open(tmp)
}

#[cfg(test)]
mod tests {
    /// A link planted at the temporary name is replaced, not followed: its target keeps its
    /// content (a write outside the run directory is impossible), the file gets the bytes.
    #[cfg(unix)]
    #[test]
    fn a_planted_link_at_the_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "keep").unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::os::unix::fs::symlink(&victim, run.join("summary.json.tmp")).unwrap();
        super::write_atomic(&run.join("summary.json"), b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(run.join("summary.json")).unwrap(), "{}");
        assert!(!run.join("summary.json.tmp").exists());
        // A dangling link too.
        std::os::unix::fs::symlink(dir.path().join("nowhere"), run.join("training.csv.tmp")).unwrap();
        super::write_atomic(&run.join("training.csv"), b"x").unwrap();
        assert!(!dir.path().join("nowhere").exists());
    }
}
