//! The path engine: the controlled process dX = v(X) dt + dW and its integrators. It integrates
//! any drift and imports neither application, no network and no writer.

pub mod integrators;
pub mod sde;
