//! The walker-parallel checks of tests/parallel.rs over real MPI ranks (the `mpi` feature).
//!
//! `cargo test --release --features mpi --test mpi` runs this binary once; that process starts
//! `mpirun -n 2 --oversubscribe` on itself (one fused-engine thread per rank) and passes when
//! every rank does. Each rank checks:
//! - training over the two MPI ranks equals, bit for bit, the two shards computed one after the
//!   other in one process with the same per-rank streams (sums in rank order; see
//!   src/parallel/mod.rs), and the same run over two thread ranks;
//! - DMC over the two ranks agrees with one rank within error bars on the oscillator and on
//!   hydrogen, and equals the two-thread-rank walk bit for bit;
//! - a run stopped, checkpointed by rank 0 and resumed over two ranks is bit-identical to the
//!   uninterrupted one.

mod common;
use common::ranks::*;
use pathspace::parallel::{Comm, Single, Threads};
use std::process::Command;

fn main() {
    if std::env::var_os("OMPI_COMM_WORLD_SIZE").is_none() && std::env::var_os("PMI_SIZE").is_none() {
        launch();
        return;
    }
    let (_universe, world) = pathspace::parallel::mpi::initialize().expect("MPI initialises once");
    let comm: &dyn Comm = &world;
    assert_eq!(comm.size(), 2, "run under mpirun -n 2");
    let say = |what: &str| println!("rank {}: {what} ok", comm.rank());

    // The collectives themselves, with the empty buffers that OpenMPI would read as
    // MPI_IN_PLACE if passed as Rust's empty slices, and a sum long enough to take the tree.
    let r = comm.rank() as f64;
    let gathered = comm.all_gather(if comm.rank() == 0 { &[1.0, 2.0][..] } else { &[][..] });
    assert_eq!(gathered, vec![vec![1.0, 2.0], vec![]]);
    let received = comm.exchange(vec![vec![r; comm.rank()], Vec::new()]);
    assert_eq!(received, if comm.rank() == 0 { vec![vec![], vec![1.0]] } else { vec![vec![], vec![]] });
    let long = comm.sum(&vec![r + 0.5; pathspace::parallel::GATHER_SUM_MAX + 10]);
    assert!(long.iter().all(|v| *v == 2.0), "tree sum over MPI");
    say("collectives (empty buffers, tree sum)");

    let iterations = problem().train.iterations;
    let mpi = solve_on(comm, None);
    assert_eq!(row_bits(&mpi), shard_rows(2, iterations), "MPI training vs the shards in one process");
    let threads = Threads::run(2, |c: &dyn Comm| solve_on(c, None));
    assert_eq!(row_bits(&mpi), row_bits(&threads[comm.rank()]), "MPI vs thread ranks");
    assert_eq!(mpi.summary.headline.energy.to_bits(), threads[0].summary.headline.energy.to_bits());
    assert_eq!(mpi.summary.ranks, 2);
    say("training = shards combined = thread ranks");

    let oscillator = Oscillator { a: 0.8, dims: 3 };
    let hydrogen = Hydrogen { alpha: 0.8 };
    for (guide, exact, name) in [(&oscillator as &(dyn pathspace::quantum::engine::Guide + Sync), 1.5, "oscillator"), (&hydrogen, -0.5, "hydrogen")] {
        let two = dmc(comm, guide, 300, 0.01, 4000, true, 11);
        let one = dmc(&Single, guide, 300, 0.01, 4000, true, 11);
        let threads = Threads::run(2, |c: &dyn Comm| dmc(c, guide, 300, 0.01, 4000, true, 11));
        assert_eq!(two.energy.value.to_bits(), threads[0].energy.value.to_bits(), "{name}: MPI vs thread ranks");
        assert!(agree(two.energy, one.energy, 3.5), "{name}: two ranks {:?} vs one {:?}", two.energy, one.energy);
        assert!((two.energy.value - exact).abs() < 4.0 * two.energy.error + 2e-3, "{name}: {:?} vs {exact}", two.energy);
        say(&format!("dmc {name}: 2 ranks {:.5} ± {:.5}, 1 rank {:.5} ± {:.5}", two.energy.value, two.energy.error, one.energy.value, one.energy.error));
    }

    let dir = std::path::PathBuf::from(std::env::var("PATHSPACE_MPI_DIR").expect("the launcher's directory"));
    let resumed = stop_and_resume(comm, &dir, 5);
    assert_eq!(row_bits(&resumed), row_bits(&mpi), "resumed over two ranks");
    assert_eq!(resumed.summary.headline.energy.to_bits(), mpi.summary.headline.energy.to_bits());
    say("stop, checkpoint and resume over two ranks: bit-identical");
}

/// Starts `mpirun -n 2` on this binary and fails unless it succeeds.
fn launch() {
    let exe = std::env::current_exe().expect("own path");
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut cmd = Command::new("mpirun");
    // OpenMPI refuses root without this; CI containers run as root.
    if unsafe { libc::geteuid() } == 0 {
        cmd.arg("--allow-run-as-root");
    }
    cmd.args(["-n", "2", "--oversubscribe"]).arg(&exe).env("PATHSPACE_THREADS", "1").env("PATHSPACE_MPI_DIR", dir.path());
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) => panic!("mpirun not found ({e}): install openmpi-bin (docs/mpi.md)"),
    };
    assert!(status.success(), "mpirun -n 2 {}: {status}", exe.display());
    println!("mpi: all checks passed on 2 ranks");
}
