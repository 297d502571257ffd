//! # pathspace
//!
//! Path-space variational methods. A stochastic process with a neural drift,
//! dX = v_θ(X) dt + dW, defines a measure on paths; training makes that path measure match a
//! target one by minimising a pathwise KL divergence estimated from simulated paths and
//! differentiated end to end.
//!
//! Map of the crate (one concept per module):
//! - [`noise`]: seeded, reproducible Gaussian increments (rand_xoshiro).
//! - [`sde`]: the controlled process and the [`sde::PathRecord`] that objectives read.
//! - [`integrators`]: one file per scheme (Euler–Maruyama, Heun, SRA3, SOSRA), one tableau loop;
//!   `integrators::weak_error` measures each scheme's weak error against cost (`bench integrators`).
//! - [`nn`]: drift networks (MLP with a linear skip, permutation-equivariant pair network).
//! - [`physics`]: potentials and systems (data only: no networks, no files).
//! - [`objective`]: the Feynman–Kac (Holland) path functional ℓ_T and its training loss.
//! - [`estimate`]: energies from paths, blocking and batch-means error bars, Richardson.
//! - [`train`]: the training loop behind the [`train::PathEngine`] interface.
//! - [`fused`]: the fused CPU engine: hand-written forward and reverse pass through the whole
//!   path over walker blocks and threads (a second `PathEngine`, and fast evaluation paths).
//! - [`solve`]: a whole ground-state run (train, then evaluate) from a [`problem::Problem`].
//! - [`sample`]: what a run stores that needs the trained drift (a path sample, a 2-D drift slice).
//! - [`io`]: writers and readers of run files (summary.json, training.csv, run.h5, checkpoint.bin,
//!   CSV export); they read results, they start nothing.
//! - [`interrupt`]: the process-wide stop request (SIGINT/SIGTERM) and the phase it arrives in.
//! - [`bench`]: timings of a training iteration for the fused and the autodiff engine, and their
//!   scaling with the number of walkers (`bench scaling`).
//! - [`plot`]: energy, drift and density plots (PNG + SVG) drawn from run.h5 content alone, and
//!   the integrators' weak-error and the walker-scaling plots drawn from the benchmarks' reports.
//! - [`latent`]: latent-variable models (VAE, flow, Markov-chain VAE, SDE VAE, mixtures) as
//!   one chain of transition kernels trained by the same pathwise KL; `pathspace fit`.
//!
//! Tensor layout everywhere: `[walkers, particles, dims]`.

pub mod bench;
pub mod device;
pub mod error;
pub mod estimate;
pub mod evaluate;
pub mod fused;
pub mod integrators;
pub mod interrupt;
pub mod io;
pub mod latent;
pub mod nn;
pub mod noise;
pub mod objective;
pub mod parallel;
pub mod physics;
pub mod plot;
pub mod problem;
pub mod sample;
pub mod sde;
pub mod solve;
pub mod train;

pub use error::{Error, Result};
