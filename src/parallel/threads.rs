//! Ranks as threads of one process: the same collectives as MPI, over shared memory. Used by
//! the tests (a two-rank run checked in the default build) and wherever a run should be split
//! as an MPI run would split it without MPI.

use super::{Comm, timed};
use std::cell::Cell;
use std::sync::{Arc, Barrier, Mutex};

struct Shared {
    barrier: Barrier,
    /// slot[r]: rank r's contribution to the current all-gather.
    gather: Mutex<Vec<Vec<u8>>>,
    /// mail[to][from]: the current exchange.
    mail: Mutex<Vec<Vec<Vec<u8>>>>,
}

/// One rank of a group of threads ([`Threads::run`]).
pub struct Threads {
    rank: usize,
    size: usize,
    shared: Arc<Shared>,
    clock: Cell<f64>,
}

impl Threads {
    /// Runs `f` on `size` threads, each with its rank's communicator; returns the results in
    /// rank order. A panic on any rank propagates.
    pub fn run<T: Send>(size: usize, f: impl Fn(&dyn Comm) -> T + Sync) -> Vec<T> {
        let shared = Arc::new(Shared {
            barrier: Barrier::new(size),
            gather: Mutex::new(vec![Vec::new(); size]),
            mail: Mutex::new(vec![vec![Vec::new(); size]; size]),
        });
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..size)
                .map(|rank| {
                    let shared = shared.clone();
                    let f = &f;
                    scope.spawn(move || f(&Threads { rank, size, shared, clock: Cell::new(0.0) }))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        })
    }
}

impl Comm for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        timed(&self.clock, || {
            self.shared.gather.lock().expect("gather slots")[self.rank] = local.to_vec();
            self.shared.barrier.wait();
            let all = self.shared.gather.lock().expect("gather slots").clone();
            self.shared.barrier.wait();
            all
        })
    }
    fn exchange_bytes(&self, send: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        assert_eq!(send.len(), self.size, "one message per rank");
        timed(&self.clock, || {
            {
                let mut mail = self.shared.mail.lock().expect("mail");
                for (to, message) in send.into_iter().enumerate() {
                    mail[to][self.rank] = message;
                }
            }
            self.shared.barrier.wait();
            let mine = std::mem::replace(&mut self.shared.mail.lock().expect("mail")[self.rank], vec![Vec::new(); self.size]);
            self.shared.barrier.wait();
            mine
        })
    }
    fn seconds(&self) -> f64 {
        self.clock.get()
    }
}
