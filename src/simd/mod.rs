//! Numeric kernels that know numbers only: the float type of the hand-written engines and the
//! SIMD level they run at ([`real`]), the register-tiled matrix products and row dots
//! ([`kernel`]), the vectorised tanh ([`tanh`], applied through [`activation`]), dense layers read out of burn modules with their
//! hand-written backward pass ([`dense`]), and the block-parallel loop over threads that every
//! fused engine (the quantum drift engines, the latent-SDE step) runs on.
//!
//! Hot loops are compiled for the baseline target, AVX2+FMA and AVX-512 and chosen at run time.

pub(crate) mod activation;
pub(crate) mod dense;
mod kernel;
pub(crate) mod real;
pub(crate) mod tanh;
#[cfg(test)]
pub(crate) mod testing;

/// Threads of the fused engines: the environment variable `PATHSPACE_THREADS` where set to a
/// positive number; else, under an MPI launcher that says how many ranks share this node
/// (`OMPI_COMM_WORLD_LOCAL_SIZE`, `MPI_LOCALNRANKS`, `PMI_LOCAL_SIZE`), the node's cores divided
/// among them (at least 1), so that ranks do not oversubscribe the cores; else
/// `available_parallelism`. Results do not depend on it.
pub fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        let positive = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<usize>().ok()).filter(|&n| n > 0);
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let local_ranks = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMI_LOCAL_SIZE"].iter().find_map(|n| positive(n));
        positive("PATHSPACE_THREADS").unwrap_or_else(|| local_ranks.map_or(cores, |r| (cores / r).max(1)))
    })
}

/// Runs `work(state, block)` for every block on up to [`threads`] threads, thread t
/// using `states[t]` (grown as needed); results in block order. Threads take the next block as
/// they finish one (a core slowed by other jobs takes fewer); every block is computed on its
/// own, so the results do not depend on which thread ran it.
pub(crate) fn parallel_blocks<S: Send + Default, T: Send>(blocks: usize, states: &mut Vec<S>, work: &(dyn Fn(&mut S, usize) -> T + Sync)) -> Vec<T> {
    let threads = threads().min(blocks).max(1);
    if states.len() < threads {
        states.resize_with(threads, S::default);
    }
    if threads == 1 {
        return (0..blocks).map(|b| work(&mut states[0], b)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<T>> = (0..blocks).map(|_| None).collect();
    std::thread::scope(|scope| {
        let next = &next;
        let handles: Vec<_> = states
            .iter_mut()
            .take(threads)
            .map(|state| {
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if b >= blocks {
                            return done;
                        }
                        done.push((b, work(state, b)));
                    }
                })
            })
            .collect();
        for handle in handles {
            for (b, r) in handle.join().expect("fused engine worker panicked") {
                results[b] = Some(r);
            }
        }
    });
    results.into_iter().map(|r| r.expect("every block computed")).collect()
}

