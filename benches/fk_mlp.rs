//! `cargo bench --bench fk_mlp`: the fk-mlp training iteration (see `pathspace::bench`) for the
//! fused and the autodiff engine, one JSON line each. Same code as `pathspace bench fk-mlp`.

use burn::tensor::Device;
use pathspace::bench::{BenchEngine, run};

fn main() {
    let device = Device::flex();
    for engine in [BenchEngine::Fused, BenchEngine::Autodiff] {
        let result = run("fk-mlp", engine, 5, None, &device).expect("benchmark runs");
        println!("{}", serde_json::to_string(&result).expect("serialisable"));
    }
}
