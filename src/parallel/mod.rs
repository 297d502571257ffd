//! Walker-parallel runs across processes: the communicator that training, evaluation and DMC use
//! for their global parts.
//!
//! Walkers are independent, so every rank moves its own share of them with its own noise stream
//! ([`rank_noise`]); only sums cross ranks:
//!
//! - **training**: the gradient of the mean loss over all W walkers is
//!   ∇L = Σ_r (W_r/W) ∇L_r, with L_r the mean over rank r's W_r walkers; every rank receives
//!   the same ∇L and applies the same Adam step, so the parameters stay identical
//!   ([`crate::quantum::train::Distributed`]);
//! - **evaluation**: per-walker path functionals are gathered before the batch means, and the
//!   per-step walker averages are combined as Σ_r W_r ā_r / W before blocking;
//! - **DMC**: the population, the total weight Σ_i w_i and the weighted energy Σ_i w_i E_L,i
//!   are global sums, so the reference energy E_R and the mixed estimator are those of one
//!   population spread over the ranks; after branching, walkers move between ranks so that each
//!   holds ⌊P/R⌋ or ⌈P/R⌉ of the P walkers ([`balance`]).
//!
//! **Reduction order.** Every sum is formed the same way on every rank, in an order fixed by
//! the rank count alone: short vectors are gathered and added in rank order starting from rank
//! 0's, long ones (the gradient) go along a fixed binary tree ([`Comm::tree_sum`]); never by
//! MPI's own reduction, whose order is the library's. Results therefore do not depend on the MPI
//! library's algorithms, are bit-identical for the same seed and rank count, and with one rank
//! equal the plain single-process computation exactly (a sum of one term is that term).
//!
//! Implementations: [`Single`] (one process: nothing to communicate), [`Threads`] (ranks as
//! threads of one process, for tests and for checking the MPI path without MPI) and, with the
//! `mpi` cargo feature, [`mpi::World`] (rsmpi over the system's MPI).

#[cfg(feature = "mpi")]
pub mod mpi;
mod threads;

pub use threads::Threads;

use crate::base::noise::Noise;
use std::cell::Cell;
use std::time::Instant;

/// What a run needs from the ranks it is spread over. Two collectives; everything else is built
/// on them (see the module docs for the order of sums). Inherent methods on `dyn Comm`: sums,
/// gathers of f64 values, maxima, and the walker exchange.
pub trait Comm {
    fn rank(&self) -> usize;
    fn size(&self) -> usize;
    /// Every rank's `local`, in rank order (the same on every rank). Collective.
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>>;
    /// `send[r]` goes to rank r; returns what each rank sent to this one, in rank order.
    /// Collective; `send.len()` is the number of ranks.
    fn exchange_bytes(&self, send: Vec<Vec<u8>>) -> Vec<Vec<u8>>;
    /// Wall seconds spent inside the two collectives so far (communication and waiting).
    fn seconds(&self) -> f64;
}

/// Times a collective into `clock` (the implementations' bookkeeping for [`Comm::seconds`]).
pub(crate) fn timed<T>(clock: &Cell<f64>, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    clock.set(clock.get() + start.elapsed().as_secs_f64());
    out
}

/// One process: rank 0 of 1.
#[derive(Debug, Default, Clone, Copy)]
pub struct Single;

impl Comm for Single {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        vec![local.to_vec()]
    }
    fn exchange_bytes(&self, send: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        send
    }
    fn seconds(&self) -> f64 {
        0.0
    }
}

fn to_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn from_bytes(bytes: &[u8]) -> Vec<f64> {
    bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
}

impl dyn Comm + '_ {
    /// Whether this is the rank that writes files and prints (rank 0).
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// Every rank's values, in rank order.
    pub fn all_gather(&self, local: &[f64]) -> Vec<Vec<f64>> {
        if self.size() == 1 {
            return vec![local.to_vec()];
        }
        self.all_gather_bytes(&to_bytes(local)).iter().map(|b| from_bytes(b)).collect()
    }

    /// Every rank's values concatenated in rank order.
    pub fn concat(&self, local: &[f64]) -> Vec<f64> {
        if self.size() == 1 {
            return local.to_vec();
        }
        self.all_gather(local).concat()
    }

    /// The element-wise sum over ranks (all ranks pass the same length), the same on every
    /// rank: up to [`GATHER_SUM_MAX`] numbers added in rank order after one all-gather (one
    /// latency), longer vectors (the gradient) by [`Self::tree_sum`] (data O(n log R) per rank
    /// instead of O(n R)).
    pub fn sum(&self, local: &[f64]) -> Vec<f64> {
        if self.size() == 1 {
            return local.to_vec();
        }
        if local.len() > GATHER_SUM_MAX {
            return self.tree_sum(local);
        }
        let parts = self.all_gather(local);
        let mut total = parts[0].clone();
        for part in &parts[1..] {
            assert_eq!(part.len(), total.len(), "ranks summed vectors of different lengths");
            for (t, p) in total.iter_mut().zip(part) {
                *t += p;
            }
        }
        total
    }

    /// The element-wise sum over ranks along a fixed binary tree in rank order: in round
    /// k = 0, 1, … rank r with r mod 2^{k+1} = 2^k sends its partial sum to rank r − 2^k, which
    /// forms (its own) + (received); rank 0 ends with ((s_0 + s_1) + (s_2 + s_3)) + …, and the
    /// result goes back down the same tree. 2⌈log₂ R⌉ exchanges, each moving one vector between
    /// partners; the order depends only on R, so results are bit-identical run to run, and for
    /// R = 2 equal the rank-order sum.
    pub fn tree_sum(&self, local: &[f64]) -> Vec<f64> {
        let (rank, size) = (self.rank(), self.size());
        let mut acc = local.to_vec();
        let mut rounds = 0;
        while (1 << rounds) < size {
            rounds += 1;
        }
        let message = |to: usize, values: &[f64]| {
            let mut send = vec![Vec::new(); size];
            send[to] = values.to_vec();
            send
        };
        let mut reduced = true;
        for k in 0..rounds {
            let step = 1 << k;
            let send = if reduced && rank % (2 * step) == step { message(rank - step, &acc) } else { vec![Vec::new(); size] };
            let received = self.exchange(send);
            if reduced && rank % (2 * step) == step {
                reduced = false;
            } else if reduced && rank + step < size {
                for (a, b) in acc.iter_mut().zip(&received[rank + step]) {
                    *a += b;
                }
            }
        }
        for k in (0..rounds).rev() {
            let step = 1 << k;
            let sends = rank % (2 * step) == 0 && rank + step < size;
            let send = if sends { message(rank + step, &acc) } else { vec![Vec::new(); size] };
            let received = self.exchange(send);
            if rank % (2 * step) == step {
                acc = received[rank - step].clone();
            }
        }
        acc
    }

    /// Σ over ranks of one value.
    pub fn sum1(&self, local: f64) -> f64 {
        self.sum(&[local])[0]
    }

    /// The largest value over ranks.
    pub fn max(&self, local: f64) -> f64 {
        self.all_gather(&[local]).iter().map(|v| v[0]).fold(f64::NEG_INFINITY, f64::max)
    }

    /// Whether any rank passes true.
    pub fn any(&self, local: bool) -> bool {
        self.max(if local { 1.0 } else { 0.0 }) > 0.0
    }

    /// Every rank's count, in rank order.
    pub fn counts(&self, local: usize) -> Vec<usize> {
        self.all_gather(&[local as f64]).iter().map(|v| v[0] as usize).collect()
    }

    /// `send[r]` to rank r (f64 values); what each rank sent here, in rank order.
    pub fn exchange(&self, send: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
        if self.size() == 1 {
            return send;
        }
        self.exchange_bytes(send.iter().map(|v| to_bytes(v)).collect()).iter().map(|b| from_bytes(b)).collect()
    }
}

/// Longest vector that [`Comm::sum`] adds after one all-gather; longer ones go along a tree.
pub const GATHER_SUM_MAX: usize = 256;

/// The walkers of rank `rank` out of `total` spread over `size` ranks: the first `total % size`
/// ranks hold one more. Returns (offset, count) in the global walker order.
pub fn share(total: usize, size: usize, rank: usize) -> (usize, usize) {
    let base = total / size;
    let extra = total % size;
    let count = base + usize::from(rank < extra);
    let offset = rank * base + rank.min(extra);
    (offset, count)
}

/// The noise stream of rank `rank` for `seed`: rank 0's is `Noise::new(seed)` (so a one-rank
/// run is the plain run), rank r's is that stream long-jumped r times (2^192 draws each), far
/// beyond the 2^128-draw [`Noise::split`]s a run takes from it.
pub fn rank_noise(seed: u64, rank: usize) -> Noise {
    let mut noise = Noise::new(seed);
    for _ in 0..rank {
        noise.long_jump();
    }
    noise
}

/// Rebalances walkers after branching: the global walker order is rank 0's walkers, then rank
/// 1's, and so on; afterwards rank r holds the slice [`share`] gives it of that order. Only the
/// surplus moves (a rank keeps the part of its walkers that falls in its new slice). `rows` are
/// parallel per-walker arrays (positions, drifts, local energies...), each with its own width.
/// Returns the rebalanced arrays and the number of walkers this rank sent.
pub fn balance(comm: &dyn Comm, rows: Vec<(Vec<f64>, usize)>) -> (Vec<Vec<f64>>, usize) {
    let local = rows.first().map_or(0, |(v, w)| if *w == 0 { 0 } else { v.len() / w });
    let counts = if comm.size() == 1 { vec![local] } else { comm.counts(local) };
    balance_counted(comm, &counts, rows)
}

/// [`balance`] with every rank's walker count already known (`counts`, in rank order); the
/// first array must have a non-zero width.
pub fn balance_counted(comm: &dyn Comm, counts: &[usize], rows: Vec<(Vec<f64>, usize)>) -> (Vec<Vec<f64>>, usize) {
    let size = comm.size();
    let local = counts[comm.rank()];
    if size == 1 {
        return (rows.into_iter().map(|r| r.0).collect(), 0);
    }
    let total: usize = counts.iter().sum();
    let start: usize = counts[..comm.rank()].iter().sum();
    // For each destination rank: the part of [start, start + local) inside its slice.
    let mut send: Vec<Vec<f64>> = vec![Vec::new(); size];
    let mut sent = 0;
    for (dest, out) in send.iter_mut().enumerate() {
        let (offset, count) = share(total, size, dest);
        let lo = offset.max(start);
        let hi = (offset + count).min(start + local);
        if lo >= hi {
            continue;
        }
        if dest != comm.rank() {
            sent += hi - lo;
        }
        for (values, width) in &rows {
            out.extend_from_slice(&values[(lo - start) * width..(hi - start) * width]);
        }
    }
    let received = comm.exchange(send);
    // Each piece holds `k` walkers of every array, array after array; in rank order the pieces
    // are the slice in global order.
    let widths: Vec<usize> = rows.iter().map(|r| r.1).collect();
    let per_walker: usize = widths.iter().sum();
    let mut out: Vec<Vec<f64>> = widths.iter().map(|_| Vec::new()).collect();
    for piece in received {
        let k = piece.len().checked_div(per_walker).unwrap_or(0);
        let mut at = 0;
        for (o, w) in out.iter_mut().zip(&widths) {
            o.extend_from_slice(&piece[at..at + k * w]);
            at += k * w;
        }
    }
    (out, sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_walkers_once() {
        for (total, size) in [(10, 3), (1024, 2), (5, 8), (0, 2)] {
            let mut next = 0;
            for r in 0..size {
                let (offset, count) = share(total, size, r);
                assert_eq!(offset, next);
                next += count;
            }
            assert_eq!(next, total);
        }
    }

    #[test]
    fn rank_streams_differ_and_rank_zero_is_the_plain_stream() {
        let a = rank_noise(5, 0).standard_normals(4);
        assert_eq!(a, Noise::new(5).standard_normals(4));
        assert_ne!(a, rank_noise(5, 1).standard_normals(4));
    }

    /// Three thread ranks with 7, 0 and 2 walkers (two arrays of widths 2 and 1) end with 3, 3
    /// and 3, in the global order.
    #[test]
    fn balance_moves_the_surplus_in_global_order() {
        let results = Threads::run(3, |comm| {
            let n = [7, 0, 2][comm.rank()];
            let base = [0, 7, 7][comm.rank()];
            let x: Vec<f64> = (0..n).flat_map(|i| [(base + i) as f64, -((base + i) as f64)]).collect();
            let e: Vec<f64> = (0..n).map(|i| 100.0 + (base + i) as f64).collect();
            balance(comm, vec![(x, 2), (e, 1)])
        });
        let mut all = Vec::new();
        for (r, (arrays, _)) in results.iter().enumerate() {
            assert_eq!(arrays[1].len(), 3, "rank {r}");
            assert_eq!(arrays[0].len(), 6);
            for (i, e) in arrays[1].iter().enumerate() {
                assert_eq!(arrays[0][2 * i], e - 100.0);
            }
            all.extend(arrays[1].clone());
        }
        assert_eq!(all, (0..9).map(|i| 100.0 + i as f64).collect::<Vec<_>>());
        assert_eq!(results[0].1, 4);
    }

    /// Five ranks: the tree's order is ((s0 + s1) + (s2 + s3)) + s4 on every rank, which
    /// differs in the last bit from the rank-order sum for these values.
    #[test]
    fn tree_sums_follow_the_fixed_tree() {
        let values = [0.672, -0.134, 0.525, -0.996, -0.109];
        let results = Threads::run(5, |comm| {
            let local = vec![values[comm.rank()]; GATHER_SUM_MAX + 1];
            (comm.tree_sum(&local[..1]), comm.sum(&local))
        });
        let tree = ((values[0] + values[1]) + (values[2] + values[3])) + values[4];
        let sequential = values.iter().skip(1).fold(values[0], |a, b| a + b);
        assert_ne!(tree.to_bits(), sequential.to_bits(), "values that tell the orders apart");
        for (small, long) in &results {
            assert_eq!(small, &vec![tree]);
            assert!(long.iter().all(|v| v.to_bits() == tree.to_bits()));
        }
        let two = Threads::run(2, |comm| comm.tree_sum(&[values[comm.rank()]]));
        assert_eq!(two[0], vec![values[0] + values[1]]);
        assert_eq!(two[1], two[0]);
    }

    #[test]
    fn sums_are_in_rank_order_and_the_same_everywhere() {
        let results = Threads::run(2, |comm| comm.sum(&[comm.rank() as f64 + 0.5, 1e16]));
        assert_eq!(results[0], results[1]);
        assert_eq!(results[0], vec![2.0, 2e16]);
    }
}
