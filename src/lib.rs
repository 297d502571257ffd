//! # pathspace
//!
//! Path-space variational methods. A stochastic process with a neural drift,
//! dX = v_θ(X) dt + dW, defines a measure on paths; training makes that path measure match a
//! target one by minimising a pathwise KL divergence estimated from simulated paths and
//! differentiated end to end.
//!
//! Layers, bottom to top (a module imports only from those above it in this list, never from a
//! sibling application; `tests/architecture.rs` checks it):
//! - [`base`]: errors, seeded noise, precision and device, the stop request, problem-file text
//!   helpers and the engine choice, small dense layers.
//! - [`parallel`]: ranks (MPI or threads) and their collectives.
//! - [`stats`]: means and errors, control variates, blocking, plateau detection, Richardson.
//! - [`path`]: the controlled process ([`path::sde`]) and its integrators.
//! - [`simd`]: numeric kernels that know numbers only (SIMD products, tanh, dense layers, the
//!   block-parallel loop).
//! - [`io`]: atomic writes, HDF5, locks, the checkpoint codec, CSV export; no application.
//! - [`quantum`]: the ground-state application (`pathspace solve`).
//! - [`latent`]: the latent-variable application (`pathspace fit`).
//! - [`plot`], [`bench`]: above both applications.
//!
//! Tensor layout everywhere: `[walkers, particles, dims]`.

pub mod base;
pub mod bench;
pub mod io;
pub mod latent;
pub mod parallel;
pub mod path;
pub mod plot;
pub mod quantum;
pub mod simd;
pub mod stats;

pub use base::error::{Error, Result};
