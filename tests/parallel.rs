//! Walker-parallel runs with ranks as threads of one process ([`pathspace::parallel::Threads`]):
//! the same collectives, sums and walker exchanges as an MPI run, checked in the default build.
//! tests/mpi.rs runs the same checks under `mpirun -n 2` and compares with these.

mod common;
use pathspace::io::run::RunCheckpoint;
use common::ranks::*;
use pathspace::parallel::{Comm, Single, Threads};

/// Training over two ranks is, bit for bit, the two shards' steps combined in rank order; both
/// ranks hold the same rows and the same summary; one rank is the plain run.
#[test]
fn two_ranks_train_as_their_shards_combined_and_agree_on_everything() {
    let outs = Threads::run(2, |comm: &dyn Comm| solve_on(comm, None));
    let iterations = problem().train.iterations;
    assert_eq!(row_bits(&outs[0]), shard_rows(2, iterations));
    assert_eq!(row_bits(&outs[0]), row_bits(&outs[1]));
    let (a, b) = (&outs[0].summary, &outs[1].summary);
    assert_eq!(a.ranks, 2);
    for (x, y) in [(a.energy, b.energy), (a.headline.energy, b.headline.energy), (a.headline.error, b.headline.error)] {
        assert_eq!(x.to_bits(), y.to_bits());
    }
    assert_eq!(a.evaluation.at_dt.walkers, problem().eval.walkers);
    let dmc = a.guided.dmc.as_ref().expect("dmc ran");
    assert_eq!(dmc.at_dt.target_population, problem().dmc.walkers);
    let one = solve_on(&Single, None);
    assert_eq!(row_bits(&one), shard_rows(1, iterations));
    assert_eq!(one.summary.ranks, 1);
    assert_ne!(row_bits(&one), row_bits(&outs[0]), "two ranks draw other walkers than one");
    // Three ranks hold 11, 11 and 10 walkers: the shares weight the sum (the tree of three
    // ranks adds (s0 + s1) + s2, the shards' order).
    let three = Threads::run(3, |comm: &dyn Comm| solve_on(comm, Some(4)));
    assert_eq!(row_bits(&three[0]), shard_rows(3, 4));
    assert_eq!(row_bits(&three[2]), row_bits(&three[0]));
}

/// Stopped after 5 iterations, checkpointed (every rank's walkers and stream in one file) and
/// resumed over the same two ranks: the rows are those of the uninterrupted two-rank run.
#[test]
fn two_rank_resume_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let full = Threads::run(2, |comm: &dyn Comm| solve_on(comm, None));
    let resumed = Threads::run(2, |comm: &dyn Comm| stop_and_resume(comm, dir.path(), 5));
    assert_eq!(row_bits(&resumed[0]), row_bits(&full[0]));
    assert_eq!(resumed[0].summary.headline.energy.to_bits(), full[0].summary.headline.energy.to_bits());

    // `dmc --from` on that two-rank checkpoint: over two ranks each starts from its own walkers
    // and both report the same DMC; one process starts from rank 0's.
    let path = pathspace::quantum::checkpoint::Checkpoint::path_in(dir.path());
    let checkpoint = pathspace::quantum::checkpoint::Checkpoint::read(&path).unwrap();
    let device = burn::tensor::Device::flex();
    let from = |comm: &dyn Comm| pathspace::quantum::solve::dmc_from_checkpoint_on(&problem(), &path, &checkpoint, &device, None, comm).expect("dmc --from");
    let two = Threads::run(2, from);
    assert_eq!(two[0].ranks, 2);
    assert_eq!(two[0].headline.energy.to_bits(), two[1].headline.energy.to_bits());
    let one = from(&Single);
    assert_eq!(one.ranks, 1);
    assert!(one.headline.energy.is_finite() && two[0].headline.energy.is_finite());
}

/// DMC over 1, 2 and 3 ranks (3: unequal shares) with wrong guides for the oscillator
/// (E₀ = 1.5) and hydrogen (E₀ = −0.5): the energies agree with each other and with the
/// exact value within their error bars, the populations are balanced, and a rerun is
/// bit-identical.
#[test]
fn dmc_over_one_two_and_three_ranks_agrees() {
    let oscillator = Oscillator { a: 0.8, dims: 3 };
    let hydrogen = Hydrogen { alpha: 0.8 };
    for (guide, exact, name) in [(&oscillator as &(dyn pathspace::quantum::engine::Guide + Sync), 1.5, "oscillator"), (&hydrogen, -0.5, "hydrogen")] {
        let walks: Vec<_> = [1, 2, 3].iter().map(|&r| Threads::run(r, |comm: &dyn Comm| dmc(comm, guide, 300, 0.01, 4000, true, 11))).collect();
        let single = dmc(&Single, guide, 300, 0.01, 4000, true, 11);
        assert_eq!(single.energy.value.to_bits(), walks[0][0].energy.value.to_bits(), "{name}: one thread rank is the plain walk");
        for (r, w) in walks.iter().enumerate() {
            let e = w[0].energy;
            assert!(w.iter().all(|x| x.energy.value.to_bits() == e.value.to_bits()), "{name}: ranks disagree");
            assert!(e.error > 0.0 && e.error < 5e-3, "{name} over {} ranks: error {}", r + 1, e.error);
            assert!((e.value - exact).abs() < 4.0 * e.error + 2e-3, "{name} over {} ranks: {} ± {} vs {exact}", r + 1, e.value, e.error);
            assert!(agree(e, walks[0][0].energy, 3.5), "{name}: {} ranks {e:?} vs one {:?}", r + 1, walks[0][0].energy);
            // Balanced: every rank's final share is within one walker of the others.
            let sizes: Vec<usize> = w.iter().map(|x| x.walkers.len() / guide.dim()).collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{name}: {sizes:?}");
            assert_eq!(w[0].exchanged > 0, r > 0, "{name}: walkers exchanged over {} ranks: {}", r + 1, w[0].exchanged);
        }
        let again = Threads::run(2, |comm: &dyn Comm| dmc(comm, guide, 300, 0.01, 4000, true, 11));
        assert_eq!(again[0].energy.value.to_bits(), walks[1][0].energy.value.to_bits(), "{name}: rerun");
    }
}
