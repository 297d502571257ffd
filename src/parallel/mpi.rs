//! The MPI communicator (the `mpi` cargo feature): rsmpi over the system's MPI (Debian's
//! OpenMPI: `apt-get install libopenmpi-dev openmpi-bin libclang-dev`).
//!
//! Both collectives are variable-count: the byte counts are all-gathered (or exchanged) first,
//! then the data with `MPI_Allgatherv` / `MPI_Alltoallv`. Sums are formed by the caller in rank
//! order ([`super`]), never by `MPI_Allreduce`.

use super::{Comm, timed};
use mpi::Count;
use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::cell::Cell;

/// The world communicator of an MPI run. Hold the [`mpi::environment::Universe`] for as long
/// as it is used (dropping it finalises MPI).
pub struct World {
    world: SimpleCommunicator,
    clock: Cell<f64>,
}

/// Initialises MPI (once per process). `None` when it is already initialised.
pub fn initialize() -> Option<(mpi::environment::Universe, World)> {
    let universe = mpi::initialize()?;
    let world = universe.world();
    Some((universe, World { world, clock: Cell::new(0.0) }))
}

fn displacements(counts: &[Count]) -> Vec<Count> {
    counts.iter().scan(0, |acc, &c| {
        let d = *acc;
        *acc += c;
        Some(d)
    }).collect()
}

/// A buffer of `len` zero bytes whose pointer is a real allocation even for `len` = 0: an empty
/// Rust slice points at address 1, which is OpenMPI's `MPI_IN_PLACE`, and an empty send or
/// receive buffer would be taken for it (`MPI_ERR_ARG`, or an in-place gather).
fn buffer(len: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(len.max(1));
    b.resize(len, 0);
    b
}

/// `bytes` copied into a [`buffer`].
fn owned(bytes: &[u8]) -> Vec<u8> {
    let mut b = buffer(0);
    b.extend_from_slice(bytes);
    b
}

fn split(buf: Vec<u8>, counts: &[Count]) -> Vec<Vec<u8>> {
    let mut at = 0;
    counts.iter().map(|&c| {
        let part = buf[at..at + c as usize].to_vec();
        at += c as usize;
        part
    }).collect()
}

impl Comm for World {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn size(&self) -> usize {
        self.world.size() as usize
    }
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        timed(&self.clock, || {
            let mut counts = vec![0 as Count; self.size()];
            self.world.all_gather_into(&(local.len() as Count), &mut counts[..]);
            let displs = displacements(&counts);
            let mut buf = buffer(counts.iter().map(|&c| c as usize).sum());
            let local = owned(local);
            {
                let mut partition = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
                self.world.all_gather_varcount_into(&local[..], &mut partition);
            }
            split(buf, &counts)
        })
    }
    fn exchange_bytes(&self, send: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        assert_eq!(send.len(), self.size(), "one message per rank");
        timed(&self.clock, || {
            let send_counts: Vec<Count> = send.iter().map(|m| m.len() as Count).collect();
            let mut recv_counts = vec![0 as Count; self.size()];
            self.world.all_to_all_into(&send_counts[..], &mut recv_counts[..]);
            let flat = owned(&send.concat());
            let send_displs = displacements(&send_counts);
            let recv_displs = displacements(&recv_counts);
            let mut buf = buffer(recv_counts.iter().map(|&c| c as usize).sum());
            {
                let outgoing = Partition::new(&flat[..], &send_counts[..], &send_displs[..]);
                let mut incoming = PartitionMut::new(&mut buf[..], &recv_counts[..], &recv_displs[..]);
                self.world.all_to_all_varcount_into(&outgoing, &mut incoming);
            }
            split(buf, &recv_counts)
        })
    }
    fn seconds(&self) -> f64 {
        self.clock.get()
    }
}
