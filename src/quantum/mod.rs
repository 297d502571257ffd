//! The quantum application, `pathspace solve`: ground states of H = −½∇² + V by matching the
//! Feynman–Kac path measure with a controlled diffusion dX = v_θ(X) dt + dW.
//!
//! - [`problem`]: the problem-file format; parsing builds configs and starts nothing.
//! - [`physics`]: potentials and systems (data only).
//! - [`nn`]: drift networks (MLP, pair network, gradient and Jastrow drifts).
//! - [`objective`]: the Feynman–Kac path functional ℓ_T and the VMC energy objective.
//! - [`engine`]: the interfaces — [`engine::PathEngine`], [`engine::PathSimulator`],
//!   [`engine::Guide`] — below both their users and their two implementations (burn autodiff
//!   and [`fused`]); [`select`] is the one place an engine is chosen.
//! - [`train`], [`evaluate`], [`walk`] (guided walks and DMC), [`trust`]: the run's phases.
//! - [`solve`]: a whole run from a problem; [`sample`], [`checkpoint`], [`output`]: what it stores.


pub mod autodiff;
pub mod checkpoint;
pub mod engine;
pub mod evaluate;
pub mod fused;
pub mod nn;
pub mod objective;
pub mod output;
pub mod physics;
pub mod preflight;
pub mod problem;
pub mod run;
pub mod sample;
pub mod select;
pub mod solve;
pub mod train;
pub mod trust;
pub mod walk;
