//! A process-wide stop request and the phase of the run it arrives in.
//!
//! The binary's SIGINT/SIGTERM handler calls [`request`]; long computations report where they
//! are with [`set_phase`]. During training the request is honoured cooperatively (the training
//! observer polls [`requested`] and checkpoints at the next iteration boundary); in every other
//! phase the binary ends the process at once, after removing the temporary files registered
//! here ([`Temporaries`]) so that nothing half-written is left. The library itself never exits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Reading inputs, validating, or anything not listed below.
    Other = 0,
    /// Training: a stop request ends it at the next iteration boundary, with a checkpoint.
    Training = 1,
    /// Evaluating the trained drift (variational paths, local-energy walk, path sample, slice).
    Evaluation = 2,
    /// Diffusion Monte Carlo.
    Dmc = 3,
    /// Writing result files.
    Writing = 4,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            1 => Phase::Training,
            2 => Phase::Evaluation,
            3 => Phase::Dmc,
            4 => Phase::Writing,
            _ => Phase::Other,
        }
    }

    /// Lower-case name, as printed and written to `interrupted.json`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Other => "setup",
            Phase::Training => "training",
            Phase::Evaluation => "evaluation",
            Phase::Dmc => "dmc",
            Phase::Writing => "writing",
        }
    }
}

static PHASE: AtomicU8 = AtomicU8::new(0);
static SIGNAL: AtomicI32 = AtomicI32::new(0);
static ON_PHASE: OnceLock<fn(Phase)> = OnceLock::new();
static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Records the phase of the run (and tells the hook of [`on_phase`], if one is installed).
pub fn set_phase(phase: Phase) {
    let old = PHASE.swap(phase as u8, Ordering::SeqCst);
    if old != phase as u8 {
        if let Some(hook) = ON_PHASE.get() {
            hook(phase);
        }
    }
}

/// The current phase.
pub fn phase() -> Phase {
    Phase::from_u8(PHASE.load(Ordering::SeqCst))
}

/// Installs a function called at every phase change (the binary prints the phase). Once only.
pub fn on_phase(hook: fn(Phase)) {
    let _ = ON_PHASE.set(hook);
}

/// Records a stop request for signal `signal`; returns false when one was already recorded.
/// Async-signal-safe (one atomic operation).
pub fn request(signal: i32) -> bool {
    SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_ok()
}

/// The signal of the pending stop request, if any.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Temporary files being written right now (by [`crate::io::write_atomic`] and the plot
/// writers). A guard removes its file from the list (and from disk, unless it was renamed) on
/// drop.
pub struct Temporaries;

impl Temporaries {
    /// Registers `path` before it is created.
    pub fn register(path: &Path) -> TemporaryGuard {
        lock().push(path.to_path_buf());
        TemporaryGuard { path: path.to_path_buf() }
    }

    /// Removes every registered temporary file and returns the lock: while it is held no new
    /// temporary file is registered (the caller is about to end the process).
    pub fn remove_all() -> MutexGuard<'static, Vec<PathBuf>> {
        let mut list = lock();
        for p in list.drain(..) {
            let _ = std::fs::remove_file(p);
        }
        list
    }
}

fn lock() -> MutexGuard<'static, Vec<PathBuf>> {
    TEMPORARIES.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// See [`Temporaries::register`].
pub struct TemporaryGuard {
    path: PathBuf,
}

impl Drop for TemporaryGuard {
    fn drop(&mut self) {
        let mut list = lock();
        if let Some(i) = list.iter().position(|p| *p == self.path) {
            list.swap_remove(i);
            // Still there: the write failed before its rename.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_guard_removes_an_unrenamed_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("x.tmp");
        {
            let _g = Temporaries::register(&tmp);
            std::fs::write(&tmp, b"half").unwrap();
        }
        assert!(!tmp.exists(), "the temporary is removed with its guard");
        let done = dir.path().join("y.tmp");
        let target = dir.path().join("y");
        {
            let _g = Temporaries::register(&done);
            std::fs::write(&done, b"whole").unwrap();
            std::fs::rename(&done, &target).unwrap();
        }
        assert!(target.exists(), "a renamed file stays");
    }
}

/// What the loop does after an iteration, as decided by an observer (checkpointing, signals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop now; the state returned is the one the observer last saw.
    Stop,
}
