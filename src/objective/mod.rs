//! Objectives: pathwise KL divergences estimated from a [`crate::sde::PathRecord`].
//! They read paths; they never integrate one.

pub mod feynman_kac;

pub use feynman_kac::{FeynmanKacLoss, PathFunctional};
