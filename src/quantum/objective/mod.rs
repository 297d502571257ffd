//! Objectives: pathwise KL divergences estimated from a [`crate::path::sde::PathRecord`].
//! They read paths; they never integrate one. [`vmc`] is the exception: variational Monte Carlo
//! energy minimisation, the optional second stage, which samples ψ_T² itself.

pub mod feynman_kac;
pub mod vmc;

pub use feynman_kac::{FeynmanKacLoss, PathFunctional};
