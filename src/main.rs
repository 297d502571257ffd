//! The `pathspace` command line. It chooses the device (once, here) and calls the library.

mod cli;
mod signals;

use pathspace::parallel::{Comm, Single};

fn main() {
    // Built with the `mpi` feature, the process joins the MPI world (a world of one when not
    // started by mpirun); otherwise it is a single rank.
    #[cfg(feature = "mpi")]
    let universe = pathspace::parallel::mpi::initialize();
    #[cfg(feature = "mpi")]
    let comm: &dyn Comm = match &universe {
        Some((_, world)) => world,
        None => &Single,
    };
    #[cfg(not(feature = "mpi"))]
    let comm: &dyn Comm = &Single;
    if let Err(e) = cli::run(comm) {
        // A failed write to stderr (a full disk) is ignored: the exit status still says it failed.
        use std::io::Write as _;
        let _ = if comm.size() > 1 { writeln!(std::io::stderr(), "error (rank {}): {e:#}", comm.rank()) } else { writeln!(std::io::stderr(), "error: {e:#}") };
        std::process::exit(1);
    }
}
