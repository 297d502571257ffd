//! The run-directory lock: `DIR/.pathspace.lock` holds the pid of the one process writing DIR.
//!
//! Taken before anything is written into DIR (created with `create_new`, so two processes
//! cannot both take it); removed when the [`RunLock`] is dropped, and by [`release_all`] on the
//! exit paths that skip destructors. A lock whose pid is no longer running (a process killed
//! with SIGKILL) is stale and taken over.

use crate::base::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Name of the lock file inside a run directory.
pub const FILE_NAME: &str = ".pathspace.lock";

static HELD: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A held run-directory lock.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

impl RunLock {
    /// Creates `dir` if needed and locks it for this process; a directory locked by a running
    /// process is an error naming it and the pid.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Write { path: dir.to_path_buf(), message: e.to_string() })?;
        let path = dir.join(FILE_NAME);
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let written = writeln!(f, "{}", std::process::id()).and_then(|_| f.sync_all());
                    if let Err(e) = written {
                        let _ = std::fs::remove_file(&path);
                        return Err(Error::Write { path, message: e.to_string() });
                    }
                    HELD.lock().unwrap_or_else(|p| p.into_inner()).push(path.clone());
                    return Ok(RunLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    match text.trim().parse::<u32>() {
                        Ok(pid) if pid != std::process::id() && alive(pid) => {
                            return Err(Error::Write {
                                path: dir.to_path_buf(),
                                message: format!(
                                    "run directory in use by process {pid} (lock file {}); wait for it to finish or choose another --out",
                                    path.display()
                                ),
                            });
                        }
                        // Stale (dead pid, or unreadable): take it over.
                        _ => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(Error::Write { path, message: e.to_string() }),
            }
        }
        Err(Error::Write { path: dir.to_path_buf(), message: "run directory in use (its lock file keeps coming back)".into() })
    }
}

impl RunLock {
    /// [`RunLock::acquire`] for a directory that must exist already (`plot`, `export`): `None`
    /// when it does not (reading its files then reports what is missing).
    pub fn acquire_existing(dir: &Path) -> Result<Option<RunLock>> {
        if dir.is_dir() { RunLock::acquire(dir).map(Some) } else { Ok(None) }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = held.iter().position(|p| *p == self.path) {
            held.swap_remove(i);
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes every lock this process holds (for exit paths that run no destructors).
pub fn release_all() {
    let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    for p in held.drain(..) {
        let _ = std::fs::remove_file(p);
    }
}

/// Whether process `pid` exists.
#[cfg(unix)]
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn alive(_pid: u32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_a_stale_one_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        let path = dir.path().join(FILE_NAME);
        // Another live process (pid 1) holding it: refused, naming the pid.
        drop(lock);
        assert!(!path.exists(), "dropping the lock removes the file");
        std::fs::write(&path, "1\n").unwrap();
        let e = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains("in use by process 1"), "{e}");
        // A dead pid: taken over.
        std::fs::write(&path, format!("{}\n", i32::MAX - 7)).unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), std::process::id().to_string());
        drop(lock);
    }
}
