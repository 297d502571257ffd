//! Floating-point precision of a run. The device itself is chosen once, in the binary
//! (`Device::flex()` by default, `Device::cuda(0)` with the `cuda` feature); library code takes
//! a `&Device` and never picks one.

use burn::tensor::{Device, FloatDType};

/// Floating-point precision used for every tensor of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    /// Sets the default float type of `device`. Must be called before any tensor is created on
    /// it; a second call for the same device (e.g. two runs in one test process) is accepted when
    /// it asks for the precision already in force.
    pub fn configure(self, device: &mut Device) -> crate::Result<()> {
        let dtype = match self {
            Precision::F32 => FloatDType::F32,
            Precision::F64 => FloatDType::F64,
        };
        if device.configure(dtype).is_ok() {
            return Ok(());
        }
        let current = device.settings().float_dtype;
        if current == dtype {
            Ok(())
        } else {
            Err(crate::Error::Other(format!(
                "device already uses {current:?}; cannot switch to {dtype:?} in one process"
            )))
        }
    }
}

/// Whether the hand-written (fused) CPU engines run on `device`: the CPU device (`flex`). Which
/// engine a run uses is decided in one place, [`crate::base::config::EngineChoice::fused`].
pub fn fused_runs_on(device: &Device) -> bool {
    *device == Device::flex()
}
