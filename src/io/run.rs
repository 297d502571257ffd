//! The run driver both applications share (`solve` in [`crate::quantum::run`], `fit` in
//! [`crate::latent::fit`]); it knows neither application:
//!
//! - where a run writes: `--resume DIR`, else `--out DIR`, else `runs/<name>/` ([`run_directory`]);
//! - that a checkpoint to resume from was written for this problem file and seed, checked before
//!   anything is trained or written ([`check_checkpoint`]);
//! - the run directory's lock, taken by rank 0 alone ([`lock_on_root`]);
//! - what happens after every training iteration ([`Saver`]): a checkpoint every `every`
//!   iterations, at the last one and when a stop is requested; the training curve so far; and a
//!   stop, on every rank at the same iteration, at the first write error.

use crate::base::error::{Error, Result};
use crate::base::interrupt::Control;
use crate::io::lock::RunLock;
use crate::parallel::Comm;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A checkpoint file of either application (`checkpoint.bin` in the run directory): its
/// sections in the shared codec ([`crate::io::codec`]), what it records about the run that
/// wrote it, and the atomic write and checked read that both applications use.
pub trait RunCheckpoint: Sized {
    /// The checkpoint's name inside a run directory.
    const FILE_NAME: &'static str = "checkpoint.bin";
    /// The problem file's text.
    fn problem_text(&self) -> &str;
    fn seed(&self) -> u64;
    /// The file's bytes (magic, sections, checksum).
    fn to_bytes(&self) -> Vec<u8>;
    /// Parses a checkpoint; `path` is for messages. Any damage gives an error naming the part.
    fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self>;
    /// Writes atomically to `path`.
    fn write(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, &self.to_bytes())
    }
    /// Reads and checks `path`.
    fn read(path: &Path) -> Result<Self> {
        Self::from_bytes(path, &crate::io::codec::read_file(path)?)
    }
    /// The checkpoint file of a run directory.
    fn path_in(dir: &Path) -> PathBuf {
        dir.join(Self::FILE_NAME)
    }
}

/// The directory a run writes into: the resumed one, else `out`, else `runs/<name>/`.
pub fn run_directory(resume: Option<&Path>, out: Option<&Path>, name: &str) -> PathBuf {
    resume.or(out).map_or_else(|| PathBuf::from("runs").join(name), Path::to_path_buf)
}

/// An error naming the checkpoint at `path` unless it was written for `problem_text` (the
/// problem file `problem_file`) with `seed`: a resume continues the same run or none.
pub fn check_checkpoint(path: &Path, checkpoint: &impl RunCheckpoint, problem_file: &Path, problem_text: &str, seed: u64) -> Result<()> {
    let mismatch = |field: &str, message: String| Error::Format { path: path.to_path_buf(), field: field.to_string(), message };
    if checkpoint.problem_text() != problem_text {
        return Err(mismatch("problem", format!("written for a different problem file than {}", problem_file.display())));
    }
    if checkpoint.seed() != seed {
        return Err(mismatch("seed", format!("written with seed {}, this run uses seed {seed}", checkpoint.seed())));
    }
    Ok(())
}

/// The run directory's lock, taken by rank 0 alone (the only rank that writes there); a failure
/// to take it is an error on every rank (collective), so no rank goes on without it.
pub fn lock_on_root(comm: &dyn Comm, dir: &Path) -> Result<Option<RunLock>> {
    let lock = if comm.is_root() { Some(RunLock::acquire(dir)) } else { None };
    if comm.any(lock.as_ref().is_some_and(|l| l.is_err())) {
        return match lock {
            Some(Err(e)) => Err(e),
            _ => Err(Error::Other(format!("rank 0 could not take the run directory {}", dir.display()))),
        };
    }
    Ok(lock.map(|l| l.expect("checked above")))
}

/// What a run saves after each training iteration (see the module docs). Over several ranks a
/// stop request or a write failure on any rank stops all of them at the same iteration.
pub struct Saver<'a> {
    every: usize,
    /// Besides the checkpoints, the curve so far at most this often (rank 0); `None`: only
    /// with the checkpoints.
    progress_every: Option<Duration>,
    last_progress: Instant,
    comm: &'a dyn Comm,
    error: Option<Error>,
}

impl<'a> Saver<'a> {
    pub fn new(every: usize, progress_every: Option<Duration>, comm: &'a dyn Comm) -> Self {
        Saver { every, progress_every, last_progress: Instant::now(), comm, error: None }
    }

    /// After iteration `iteration` (the count done; `last`: no more will run): `checkpoint` when
    /// one is due (on every rank: capturing one may be collective), `progress` on rank 0 when
    /// due or when `progress_every` has passed. Stops when a stop was requested on any rank or
    /// a write failed on any rank.
    pub fn after(&mut self, iteration: usize, last: bool, stop_requested: bool, checkpoint: &mut dyn FnMut() -> Result<()>, progress: &mut dyn FnMut() -> Result<()>) -> Control {
        let stopping = self.comm.any(stop_requested);
        let due = iteration.is_multiple_of(self.every) || last || stopping;
        let written = (|| {
            if due {
                checkpoint()?;
            }
            let progress_due = self.progress_every.is_some_and(|p| self.last_progress.elapsed() > p);
            if self.comm.is_root() && (due || progress_due) {
                self.last_progress = Instant::now();
                progress()?;
            }
            Ok::<(), Error>(())
        })();
        let failed = self.comm.any(written.is_err());
        if let Err(e) = written {
            self.error = Some(e);
        }
        if failed || stopping { Control::Stop } else { Control::Continue }
    }

    /// The write error that stopped training, if one did.
    pub fn into_error(self) -> Option<Error> {
        self.error
    }
}

/// The command-line choices of a run of either application.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Output directory (default runs/<name>/; with `resume`, the resumed directory).
    pub out: Option<PathBuf>,
    pub seed: Option<u64>,
    /// Train this many iterations in all instead of the problem file's.
    pub iterations: Option<usize>,
    /// Continue the run in this directory from its checkpoint.bin.
    pub resume: Option<PathBuf>,
    /// Draw a progress bar on the terminal (rank 0).
    pub show_progress: bool,
}

/// How a run ended.
#[derive(Debug)]
pub enum RunOutcome<T> {
    Finished(T),
    /// A stop was requested before iteration `iteration`; the checkpoint to resume from is written.
    Stopped { iteration: usize },
}
