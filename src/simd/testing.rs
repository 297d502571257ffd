//! Test helpers of the hand-written engines: parameter ids and gradients read out of burn, and
//! a componentwise comparison against a reference.

use burn::module::{ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Every float parameter's id and shape.
pub(crate) struct Collect(pub(crate) Vec<(ParamId, Vec<usize>)>);
impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push((param.id, param.val().dims().to_vec()));
    }
}

pub(crate) fn grad_values(grads: &GradientsParams, id: ParamId, rank: usize) -> Vec<f64> {
    let data = match rank {
        1 => grads.get::<1>(id).map(|t| t.into_data()),
        2 => grads.get::<2>(id).map(|t| t.into_data()),
        _ => unreachable!(),
    };
    data.expect("gradient registered").try_into_vec_as::<f64>().unwrap()
}

/// |fused − reference| ≤ tol·max|reference| (+1e-13) componentwise.
pub(crate) fn assert_close(what: &str, fused: &[f64], reference: &[f64], tol: f64) {
    assert_eq!(fused.len(), reference.len(), "{what}: lengths");
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (k, (a, b)) in fused.iter().zip(reference).enumerate() {
        assert!((a - b).abs() <= tol * scale + 1e-13, "{what}[{k}]: fused {a} vs reference {b} (scale {scale})");
    }
}

