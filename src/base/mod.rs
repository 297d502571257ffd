//! The shared bottom of the crate: what both applications (`quantum`, `latent`) and the path
//! engine use and that knows neither application — the error type, seeded noise, the
//! precision of a run, the process-wide stop request and the training control, the TOML text
//! helpers and resource checks of problem files, and the small dense layers.

pub mod config;
pub mod device;
pub mod error;
pub mod interrupt;
pub mod layers;
pub mod noise;
