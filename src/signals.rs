//! SIGINT/SIGTERM/SIGHUP for the binary. The handler only records the signal
//! ([`pathspace::base::interrupt::request`]); a watchdog thread acts on it:
//!
//! - during training (phase `Training`) the training observer stops at the next iteration
//!   boundary with a checkpoint and [`exit_interrupted`] is called from there; if that takes
//!   longer than [`GRACE`] (one very long iteration) the watchdog ends the process itself (the
//!   last periodic checkpoint stays valid, every file being written atomically);
//! - in every other phase (evaluation, DMC, writing) the watchdog ends the process at once.
//!
//! Either way the temporary files being written are removed, the run directory gets an
//! `interrupted.json` marking what it holds as partial, the run-directory lock is released and
//! the exit status is 128 + the signal (129 for SIGHUP, 130 for SIGINT, 143 for SIGTERM). A second signal ends
//! the process immediately.

use anyhow::{Context, Result};
use pathspace::base::interrupt::{self, Phase, Temporaries};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a training iteration may take to reach its boundary after a signal.
pub const GRACE: Duration = Duration::from_millis(1500);

/// The run directory being written and the command that continues it (for `interrupted.json`).
static RUN: Mutex<Option<(PathBuf, String)>> = Mutex::new(None);

/// Installs the handler and starts the watchdog (once per process); phase changes after
/// training are printed to stdout (`phase: evaluation`, `phase: dmc`, `phase: writing`).
pub fn install() -> Result<()> {
    install_handler()?;
    interrupt::on_phase(|p| {
        if matches!(p, Phase::Evaluation | Phase::Dmc | Phase::Writing) {
            // Progress only: a failed write (a closed pipe) must not end the run.
            let _ = writeln!(std::io::stdout(), "phase: {}", p.name());
        }
    });
    std::thread::Builder::new()
        .name("signal-watchdog".into())
        .spawn(|| {
            let mut since: Option<Instant> = None;
            loop {
                std::thread::sleep(Duration::from_millis(10));
                let Some(signal) = interrupt::requested() else { continue };
                let first = *since.get_or_insert_with(Instant::now);
                if interrupt::phase() == Phase::Training && first.elapsed() < GRACE {
                    continue;
                }
                exit_interrupted(signal, None);
            }
        })
        .context("starting the signal watchdog")?;
    Ok(())
}

/// Sets the run directory that `interrupted.json` goes to and the command that continues it.
pub fn set_run(dir: PathBuf, resume: String) {
    *RUN.lock().unwrap_or_else(|p| p.into_inner()) = Some((dir, resume));
}

/// Removes a stale `interrupted.json` after a run finished.
pub fn finished(dir: &std::path::Path) {
    let _ = std::fs::remove_file(dir.join(MARKER));
}

/// Name of the partial-run marker.
pub const MARKER: &str = "interrupted.json";

fn signal_name(signal: i32) -> String {
    match signal {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        15 => "SIGTERM".into(),
        s => format!("signal {s}"),
    }
}

/// Ends the process after a stop request: temporaries removed, `interrupted.json` written,
/// locks released, one line on stderr, exit status 128 + `signal`. `iteration`: the training
/// iteration the checkpoint continues from, when training was stopped cooperatively.
pub fn exit_interrupted(signal: i32, iteration: Option<usize>) -> ! {
    // Held until the end: no new temporary file starts while the process ends.
    let _temporaries = Temporaries::remove_all();
    let phase = interrupt::phase();
    let run = RUN.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut line = format!("interrupted by {} during {}", signal_name(signal), phase.name());
    if let Some(i) = iteration {
        line.push_str(&format!(" before iteration {i}"));
    }
    if let Some((dir, resume)) = run {
        let checkpoint = dir.join("checkpoint.bin");
        let marker = serde_json::json!({
            "partial": true,
            "signal": signal_name(signal),
            "phase": phase.name(),
            "iteration": iteration,
            "checkpoint": checkpoint.exists().then(|| checkpoint.display().to_string()),
            "resume": resume,
        });
        let path = dir.join(MARKER);
        let tmp = dir.join(format!("{MARKER}.tmp"));
        let written = pathspace::io::create_temporary(&tmp).and_then(|mut f| f.write_all(marker.to_string().as_bytes())).and_then(|_| std::fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        if checkpoint.exists() {
            line.push_str(&format!(": results in {} are partial (see {}); continue with: {resume}", dir.display(), path.display()));
        } else {
            line.push_str(&format!(": no checkpoint yet; results in {} are partial", dir.display()));
        }
    }
    pathspace::io::lock::release_all();
    let _ = writeln!(std::io::stderr(), "{line}");
    // No destructors, no stdout flush from another thread's lock: end now.
    #[cfg(unix)]
    // SAFETY: _exit ends the process; it is always safe to call.
    unsafe {
        libc::_exit(128 + signal)
    }
    #[cfg(not(unix))]
    std::process::exit(128 + signal)
}

#[cfg(unix)]
extern "C" fn on_signal(signal: libc::c_int) {
    if !interrupt::request(signal) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + signal) }
    }
}

#[cfg(unix)]
fn install_handler() -> Result<()> {
    // SIGHUP (the terminal or the ssh session went away) is handled as SIGTERM is.
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only does an atomic compare-exchange and _exit, both
        // async-signal-safe; the sigaction struct is fully initialised.
        let r = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if r != 0 {
            anyhow::bail!("installing the SIGINT/SIGTERM/SIGHUP handler: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn install_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        if !interrupt::request(2) {
            std::process::exit(130);
        }
    })
    .context("installing the SIGINT/SIGTERM handler")
}
