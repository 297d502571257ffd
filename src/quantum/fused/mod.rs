//! The fused CPU path engine: the whole training step — integrator, drift network (MLP or pair
//! network) plus analytic prior, potential, Feynman–Kac loss with its boundary term — and its
//! reverse pass through time, written by hand over blocks of walkers, the blocks spread over
//! threads (`std::thread::scope`), in f32 (default) or f64 ([`real`]).
//!
//! It is a second [`PathEngine`]: the same loss, energy and gradients as
//! [`crate::quantum::autodiff::AutodiffEngine`] (tests hold them equal in f64, and f32 within its rounding),
//! from the same [`Noise`] draws. Burn keeps the parameters and the optimiser: they are read out
//! of the module into flat buffers each step and the gradients go back as [`GradientsParams`]
//! keyed by the parameter ids. See [`path`] for the equations of the forward and reverse passes
//! and the step-level checkpointing.
//!
//! [`series`] is the same idea for `fit`: the training ELBO of a latent SDE on time series and
//! its gradient (the GRU encoder, the posterior Euler path with both drift networks, the
//! decoder), held equal in f64 to the chain's burn-autodiff ELBO.
//!
//! Hot loops are compiled for the baseline target, AVX2+FMA and AVX-512 and chosen at run time
//! (no `target-cpu=native` needed). Results do not depend on the number of threads: every block
//! is computed on its own and blocks are summed in order, in f64.

mod mlp;
mod pair;
mod path;
mod physics;
mod potential;
mod guide;
mod jastrow;
mod trace;
#[cfg(test)]
pub(crate) mod tests;

use crate::path::integrators::Tableau;
use crate::quantum::nn::DriftNet;
use crate::base::noise::Noise;
use crate::quantum::physics::System;
use crate::quantum::engine::{EngineStep, PathEngine};
use burn::optim::GradientsParams;
use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use crate::base::device::Precision;
use mlp::{MlpCache, MlpGrad, MlpParams, MlpScratch};
use pair::{PairCache, PairGrad, PairParams, PairScratch};
use potential::{PotentialCache, PotentialGrad, PotentialParams, PotentialScratch};
use jastrow::{JastrowCache, JastrowGrad, JastrowParams, JastrowScratch};
use path::{EvalBlock, Normals, Scheme, TrainBlock, Workspace};
use crate::simd::{parallel_blocks, real};
use crate::simd::real::Real;
use physics::FlatSystem;

/// Walkers per block: the unit of work of a thread and of the batched products.
const BLOCK: usize = 32;

/// A drift network's parameters as flat buffers.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per step, not per walker
pub(crate) enum FlatNet<F = f64> {
    Mlp(MlpParams<F>),
    Pair(PairParams<F>),
    Potential(PotentialParams<F>),
    Jastrow(JastrowParams<F>),
}

pub(crate) enum NetCache<F = f64> {
    Mlp(MlpCache<F>),
    Pair(PairCache<F>),
    Potential(PotentialCache<F>),
    Jastrow(JastrowCache<F>),
}

impl<F> NetCache<F> {
    /// Values held.
    fn len(&self) -> usize {
        match self {
            NetCache::Mlp(c) => c.len(),
            NetCache::Pair(c) => c.len(),
            NetCache::Potential(c) => c.len(),
            NetCache::Jastrow(c) => c.len(),
        }
    }
}

pub(crate) enum NetScratch<F = f64> {
    Mlp(MlpScratch<F>),
    Pair(PairScratch<F>),
    Potential(PotentialScratch<F>),
    Jastrow(JastrowScratch<F>),
}

#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per block, not per walker
pub(crate) enum NetGrad<F = f64> {
    Mlp(MlpGrad<F>),
    Pair(PairGrad<F>),
    Potential(PotentialGrad<F>),
    Jastrow(JastrowGrad<F>),
}

impl<F: Real> NetGrad<F> {
    /// self += other (converting).
    fn add<G: Real>(&mut self, other: &NetGrad<G>) {
        match (self, other) {
            (NetGrad::Mlp(a), NetGrad::Mlp(b)) => a.add(b),
            (NetGrad::Pair(a), NetGrad::Pair(b)) => a.add(b),
            (NetGrad::Potential(a), NetGrad::Potential(b)) => a.add(b),
            (NetGrad::Jastrow(a), NetGrad::Jastrow(b)) => a.add(b),
            _ => unreachable!("gradients of one network"),
        }
    }

    fn zero(&mut self) {
        match self {
            NetGrad::Mlp(g) => g.zero(),
            NetGrad::Pair(g) => g.zero(),
            NetGrad::Potential(g) => g.zero(),
            NetGrad::Jastrow(g) => g.zero(),
        }
    }
}

/// Network plus the system's prior drift, and the potential.
pub(crate) struct FlatDrift<F = f64> {
    net: FlatNet<F>,
    system: FlatSystem,
}

impl FlatDrift<f64> {
    /// The network's parameters read out in f64.
    pub fn new(net: &DriftNet, system: &System) -> Self {
        let net = match net {
            DriftNet::Mlp(m) => FlatNet::Mlp(MlpParams::from_module(m)),
            DriftNet::Pair(p) => FlatNet::Pair(PairParams::from_module(p, system.particles())),
            DriftNet::Potential(p) => FlatNet::Potential(PotentialParams::from_module(p)),
            DriftNet::Jastrow(j) => FlatNet::Jastrow(JastrowParams::from_module(j)),
        };
        FlatDrift { net, system: FlatSystem::new(system) }
    }
}

impl<F: Real> FlatDrift<F> {
    /// The same drift computing in `G`.
    fn cast<G: Real>(&self) -> FlatDrift<G> {
        let net = match &self.net {
            FlatNet::Mlp(m) => FlatNet::Mlp(m.cast()),
            FlatNet::Pair(p) => FlatNet::Pair(p.cast()),
            FlatNet::Potential(p) => FlatNet::Potential(p.cast()),
            FlatNet::Jastrow(j) => FlatNet::Jastrow(j.cast()),
        };
        FlatDrift { net, system: self.system.clone() }
    }

    /// particles · dims.
    fn dim(&self) -> usize {
        self.system.particles * self.system.dims
    }

    /// The layer widths (what the buffers' sizes depend on).
    fn layout(&self) -> Vec<usize> {
        let widths = |layers: &mut dyn Iterator<Item = &crate::simd::dense::Dense<F>>| layers.flat_map(|l| [l.d_in, l.d_out]).collect::<Vec<_>>();
        match &self.net {
            FlatNet::Mlp(m) => widths(&mut m.hidden.iter().chain([&m.output, &m.skip])),
            FlatNet::Pair(p) => widths(&mut [&p.one_body, &p.two_body, &p.mix, &p.output, &p.pair_weight].into_iter()),
            FlatNet::Potential(p) => widths(&mut p.hidden.iter().chain([&p.output])),
            FlatNet::Jastrow(j) => j.layout(),
        }
    }

    fn cache(&self, walkers: usize) -> NetCache<F> {
        match &self.net {
            FlatNet::Mlp(m) => NetCache::Mlp(m.cache(walkers)),
            FlatNet::Pair(p) => NetCache::Pair(p.cache(walkers)),
            FlatNet::Potential(p) => NetCache::Potential(p.cache(walkers)),
            FlatNet::Jastrow(j) => NetCache::Jastrow(j.cache(walkers)),
        }
    }

    fn scratch(&self, walkers: usize) -> NetScratch<F> {
        match &self.net {
            FlatNet::Mlp(m) => NetScratch::Mlp(m.scratch(walkers)),
            FlatNet::Pair(p) => NetScratch::Pair(p.scratch(walkers)),
            FlatNet::Potential(p) => NetScratch::Potential(p.scratch(walkers)),
            FlatNet::Jastrow(j) => NetScratch::Jastrow(j.scratch(walkers)),
        }
    }

    fn grad_zeros<G: Real>(&self) -> NetGrad<G> {
        match &self.net {
            FlatNet::Mlp(m) => NetGrad::Mlp(m.grad_zeros()),
            FlatNet::Pair(p) => NetGrad::Pair(p.grad_zeros()),
            FlatNet::Potential(p) => NetGrad::Potential(p.grad_zeros()),
            FlatNet::Jastrow(j) => NetGrad::Jastrow(j.grad_zeros()),
        }
    }

    /// v = a(x) for `walkers` walkers.
    #[inline(always)]
    fn forward(&self, x: &[F], v: &mut [F], cache: &mut NetCache<F>, walkers: usize) {
        match (&self.net, cache) {
            (FlatNet::Mlp(m), NetCache::Mlp(c)) => m.forward(x, v, c, walkers),
            (FlatNet::Pair(p), NetCache::Pair(c)) => p.forward(x, v, c, walkers),
            (FlatNet::Potential(p), NetCache::Potential(c)) => p.forward(x, v, c, walkers),
            (FlatNet::Jastrow(j), NetCache::Jastrow(c)) => j.forward(x, v, c, walkers),
            _ => unreachable!("cache of another network"),
        }
        if self.system.has_prior() {
            let d = self.dim();
            for w in 0..walkers {
                self.system.add_prior(&x[w * d..(w + 1) * d], &mut v[w * d..(w + 1) * d]);
            }
        }
    }

    /// x̄ += J_a(x)ᵀ v̄ and θ̄ += ∂_θ(a·v̄), after `forward` at `x` filled `cache`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn backward(&self, x: &[F], cache: &NetCache<F>, scratch: &mut NetScratch<F>, v_bar: &[F], x_bar: &mut [F], grad: &mut NetGrad<F>, walkers: usize) {
        match (&self.net, cache, scratch, grad) {
            (FlatNet::Mlp(m), NetCache::Mlp(c), NetScratch::Mlp(t), NetGrad::Mlp(g)) => m.backward(x, c, t, v_bar, x_bar, g, walkers),
            (FlatNet::Pair(p), NetCache::Pair(c), NetScratch::Pair(t), NetGrad::Pair(g)) => p.backward(x, c, t, v_bar, x_bar, g, walkers),
            (FlatNet::Potential(p), NetCache::Potential(c), NetScratch::Potential(t), NetGrad::Potential(g)) => {
                p.backward(x, c, t, v_bar, x_bar, g, walkers)
            }
            (FlatNet::Jastrow(j), NetCache::Jastrow(c), NetScratch::Jastrow(t), NetGrad::Jastrow(g)) => j.backward(x, c, t, v_bar, x_bar, g, walkers),
            _ => unreachable!("cache or gradient of another network"),
        }
        if self.system.has_prior() {
            let d = self.dim();
            for w in 0..walkers {
                let r = w * d..(w + 1) * d;
                self.system.prior_backward(&x[r.clone()], &v_bar[r.clone()], &mut x_bar[r]);
            }
        }
    }

}

impl FlatDrift<f64> {
    /// The gradients as burn tensors on `device` (a non-autodiff device), keyed by parameter id.
    fn gradients(&self, grad: &NetGrad, device: &Device) -> GradientsParams {
        let mut out = GradientsParams::new();
        match (&self.net, grad) {
            (FlatNet::Mlp(m), NetGrad::Mlp(g)) => {
                for (layer, lg) in m.hidden.iter().zip(&g.hidden) {
                    layer.register(lg, &mut out, device);
                }
                m.output.register(&g.output, &mut out, device);
                m.skip.register(&g.skip, &mut out, device);
            }
            (FlatNet::Pair(p), NetGrad::Pair(g)) => {
                p.one_body.register(&g.one_body, &mut out, device);
                p.two_body.register(&g.two_body, &mut out, device);
                p.mix.register(&g.mix, &mut out, device);
                p.output.register(&g.output, &mut out, device);
                p.pair_weight.register(&g.pair_weight, &mut out, device);
                out.register(p.skip_id, Tensor::<1>::from_data(TensorData::new(vec![g.skip], [1]), device));
            }
            (FlatNet::Potential(p), NetGrad::Potential(g)) => register_potential(p, g, &mut out, device),
            (FlatNet::Jastrow(j), NetGrad::Jastrow(g)) => {
                register_potential(&j.one_body, &g.one_body, &mut out, device);
                register_potential(&j.pair, &g.pair, &mut out, device);
                if let (Some(t), Some(tg)) = (&j.triple, &g.triple) {
                    register_potential(t, tg, &mut out, device);
                }
                let root = -2.0 * j.skip_root * g.skip;
                out.register(j.skip_id, Tensor::<1>::from_data(TensorData::new(vec![root], [1]), device));
            }
            _ => unreachable!("gradient of another network"),
        }
        out
    }
}

/// Registers a gradient network's gradients (ρ̄ = −2ρ c̄ for c = −ρ²).
fn register_potential(p: &PotentialParams, g: &PotentialGrad, out: &mut GradientsParams, device: &Device) {
    for (layer, lg) in p.hidden.iter().zip(&g.hidden) {
        layer.register(lg, out, device);
    }
    p.output.register(&g.output, out, device);
    if let Some(id) = p.skip_id {
        let root = -2.0 * p.skip_root * g.skip;
        out.register(id, Tensor::<1>::from_data(TensorData::new(vec![root], [1]), device));
    }
}

/// Whether the AVX2+FMA versions of the hot loops can run here (checked once).
fn has_avx2() -> bool {
    real::simd() != real::Simd::Baseline
}

/// Defines `$name` (optionally generic, e.g. `train_block<F: Real>`) calling the
/// `#[inline(always)]` function `$inner` compiled with AVX2+FMA where the CPU has them and for
/// the baseline target otherwise. (The matrix products and tanh inside dispatch on their own,
/// up to AVX-512.)
macro_rules! dispatch {
    ($name:ident $(<$g:ident: $bound:path>)?, $avx:ident, $inner:path, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        fn $avx $(<$g: $bound>)? ($($arg: $ty),*) -> $ret {
            $inner($($arg),*)
        }
        #[allow(clippy::too_many_arguments)]
        fn $name $(<$g: $bound>)? ($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                return unsafe { $avx($($arg),*) };
            }
            $inner($($arg),*)
        }
    };
}

dispatch!(train_block<F: Real>, train_block_avx2, path::train_block,
    (drift: &FlatDrift<F>, scheme: Scheme, steps: usize, boundary: bool, segment: usize, x0: &[f64], normals: &Normals, w0: usize, count: usize, ws: &mut Option<Workspace<F>>) -> TrainBlock);
dispatch!(eval_block<F: Real>, eval_block_avx2, path::eval_block,
    (drift: &FlatDrift<F>, scheme: Scheme, steps: usize, measure: bool, x0: &[f64], normals: &Normals, w0: usize, count: usize) -> EvalBlock);
dispatch!(local_block, local_block_avx2, trace::local_terms_block, (drift: &FlatDrift, x: &[f64]) -> Vec<trace::LocalTerms>);
dispatch!(gradient_block, gradient_block_avx2, trace::gradient_terms_block, (drift: &FlatDrift, x: &[f64]) -> Option<Vec<(f64, Vec<f64>)>>);

/// E_L = V − ½∇·v − ½|v|² of the drift `net` + the system's prior at the walkers `x` (f64,
/// walker-major), exact ∇·v ([`trace`]), in f64 on the CPU whatever device `net` is on.
pub fn local_energies(net: &DriftNet, system: &System, x: &[f64]) -> Vec<f64> {
    let drift = FlatDrift::new(net, system);
    let dim = drift.dim();
    let walkers = x.len() / dim;
    let blocks = parallel_blocks(walkers.div_ceil(BLOCK), &mut Vec::<()>::new(), &|_, b| {
        let (w0, w1) = (b * BLOCK, ((b + 1) * BLOCK).min(walkers));
        local_block(&drift, &x[w0 * dim..w1 * dim])
    });
    blocks.into_iter().flatten().map(|t| t.local_energy).collect()
}

/// Walkers of a tensor as f64 values.
pub(crate) fn walker_values(walkers: &Tensor<3>) -> Vec<f64> {
    walkers.clone().into_data().try_into_vec_as::<f64>().expect("float walkers")
}

/// The fused training step (see the module docs).
pub struct FusedEngine<'a> {
    pub system: &'a System,
    pub integrator: &'static Tableau,
    pub dt: f64,
    pub steps: usize,
    pub boundary: bool,
    /// Kernel precision (sums over walkers and steps are f64 either way).
    pub precision: Precision,
    /// Steps whose activations are kept at a time in the reverse pass (0: all); see [`path`].
    pub checkpoint_segment: usize,
    /// Per-thread [`Workspace`]s of the last precision used, reused across steps.
    workspaces: std::sync::Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

/// Loss, energy and gradients of one batch of paths, computed by the fused engine.
pub(crate) struct FusedStep {
    pub loss: f64,
    pub energy: f64,
    pub grad: NetGrad,
    pub x_final: Vec<f64>,
}

/// The fused engine's precision for a run asking for `requested` on `device`: f64 where either
/// is f64 (so `--f64` computes everything in f64), f32 otherwise.
pub fn precision_for(requested: Precision, device: &Device) -> Precision {
    if requested == Precision::F64 || device.settings().float_dtype == FloatDType::F64 { Precision::F64 } else { Precision::F32 }
}

impl<'a> FusedEngine<'a> {
    /// An engine computing in f32 and keeping every step's activations.
    pub fn new(system: &'a System, integrator: &'static Tableau, dt: f64, steps: usize, boundary: bool) -> Self {
        FusedEngine {
            system,
            integrator,
            dt,
            steps,
            boundary,
            precision: Precision::F32,
            checkpoint_segment: 0,
            workspaces: std::sync::Mutex::new(None),
        }
    }

    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    pub fn with_checkpoint_segment(mut self, segment: usize) -> Self {
        self.checkpoint_segment = segment;
        self
    }

    /// Bytes of per-step activations and stage states that one thread holds for the last step
    /// (the largest of the threads' workspaces; what `checkpoint_segment` bounds).
    pub fn cache_bytes(&self) -> usize {
        let guard = self.workspaces.lock().expect("workspaces");
        let Some(any) = guard.as_ref() else { return 0 };
        fn bytes<F: Real>(any: &(dyn std::any::Any + Send)) -> Option<usize> {
            any.downcast_ref::<Vec<Option<Workspace<F>>>>().map(|v| v.iter().flatten().map(Workspace::record_bytes).max().unwrap_or(0))
        }
        bytes::<f32>(any.as_ref()).or_else(|| bytes::<f64>(any.as_ref())).unwrap_or(0)
    }

    fn normals_per_step(&self) -> usize {
        if self.integrator.stage_chi.iter().any(|c| *c != 0.0) { 2 } else { 1 }
    }

    pub(crate) fn run(&self, drift: &FlatDrift, x0: &[f64], walkers: usize, noise: &mut Noise) -> FusedStep {
        match self.precision {
            Precision::F32 => self.run_in::<f32>(drift, x0, walkers, noise),
            Precision::F64 => self.run_in::<f64>(drift, x0, walkers, noise),
        }
    }

    fn run_in<F: Real>(&self, drift: &FlatDrift, x0: &[f64], walkers: usize, noise: &mut Noise) -> FusedStep {
        let dim = drift.dim();
        let per_step = self.normals_per_step();
        let values = noise.standard_normals(self.steps * per_step * walkers * dim);
        let normals = Normals { values: &values, per_step, walkers, dim };
        let scheme = Scheme { tableau: self.integrator, dt: self.dt };
        let kernel_drift = drift.cast::<F>();
        let mut guard = self.workspaces.lock().expect("workspaces");
        if !guard.as_ref().is_some_and(|w| w.is::<Vec<Option<Workspace<F>>>>()) {
            *guard = Some(Box::new(Vec::<Option<Workspace<F>>>::new()));
        }
        let states = guard.as_mut().and_then(|w| w.downcast_mut::<Vec<Option<Workspace<F>>>>()).expect("workspaces of this precision");
        let blocks = walkers.div_ceil(BLOCK);
        let (steps, boundary, segment) = (self.steps, self.boundary, self.checkpoint_segment);
        // Workspaces made for another path length or segment are dropped (not kept as memory).
        for ws in states.iter_mut() {
            if ws.as_ref().is_some_and(|w| !w.made_for(steps, segment)) {
                *ws = None;
            }
        }
        let results = parallel_blocks(blocks, states, &|ws, b| {
            let w0 = b * BLOCK;
            let count = BLOCK.min(walkers - w0);
            train_block(&kernel_drift, scheme, steps, boundary, segment, &x0[w0 * dim..(w0 + count) * dim], &normals, w0, count, ws)
        });
        let horizon = self.steps as f64 * self.dt;
        let mut ell = 0.0;
        let mut end = 0.0;
        let mut grad = drift.grad_zeros();
        let mut x_final = Vec::with_capacity(walkers * dim);
        for r in &results {
            ell += r.ell;
            end += r.end;
            grad.add(&r.grad);
            x_final.extend_from_slice(&r.x_final);
        }
        let energy = ell / horizon / walkers as f64;
        let loss = if self.boundary { energy - end / walkers as f64 / horizon } else { energy };
        FusedStep { loss, energy, grad, x_final }
    }
}

impl PathEngine for FusedEngine<'_> {
    fn step(&mut self, net: &DriftNet, walkers: Tensor<3>, noise: &mut Noise) -> EngineStep {
        let device = walkers.device();
        let shape: [usize; 3] = walkers.dims();
        let drift = FlatDrift::new(net, self.system);
        let x0 = walker_values(&walkers);
        let out = self.run(&drift, &x0, shape[0], noise);
        let grads = drift.gradients(&out.grad, &device.clone().inner());
        let walkers = Tensor::from_data(TensorData::new(out.x_final, shape), &device);
        EngineStep { loss: out.loss, energy: out.energy, grads, walkers }
    }

    fn local_energies(&self, net: &DriftNet, x: &[f64]) -> Option<Vec<f64>> {
        Some(local_energies(net, self.system, x))
    }
}

/// Forward-only simulation of evaluation paths with the fused engine (see
/// [`crate::quantum::engine::PathSimulator`]).
pub struct FusedSimulator {
    drift: FlatDrift,
    integrator: &'static Tableau,
}

impl FusedSimulator {
    pub fn new(net: &DriftNet, system: &System, integrator: &'static Tableau) -> Self {
        FusedSimulator { drift: FlatDrift::new(net, system), integrator }
    }

    /// `steps` steps of `walkers` (f64 values, walker-major) with step `dt`, noise drawn as the
    /// burn simulator draws it; returns the block results in walker order.
    fn simulate(&self, x: &[f64], walkers: usize, steps: usize, dt: f64, measure: bool, noise: &mut Noise) -> Vec<EvalBlock> {
        let dim = self.drift.dim();
        let per_step = if self.integrator.stage_chi.iter().any(|c| *c != 0.0) { 2 } else { 1 };
        let values = noise.standard_normals(steps * per_step * walkers * dim);
        let normals = Normals { values: &values, per_step, walkers, dim };
        let scheme = Scheme { tableau: self.integrator, dt };
        let blocks = walkers.div_ceil(BLOCK);
        parallel_blocks(blocks, &mut Vec::<()>::new(), &|_, b| {
            let w0 = b * BLOCK;
            let count = BLOCK.min(walkers - w0);
            eval_block(&self.drift, scheme, steps, measure, &x[w0 * dim..(w0 + count) * dim], &normals, w0, count)
        })
    }
}

/// Steps simulated per chunk of noise (bounds memory for long evaluations).
const EVAL_CHUNK: usize = 64;

impl crate::quantum::engine::PathSimulator for FusedSimulator {
    fn advance(&mut self, walkers: Tensor<3>, steps: usize, dt: f64, noise: &mut Noise) -> Tensor<3> {
        let device = walkers.device();
        let shape: [usize; 3] = walkers.dims();
        let mut x = walker_values(&walkers);
        let mut remaining = steps;
        while remaining > 0 {
            let n = remaining.min(EVAL_CHUNK);
            x = self.simulate(&x, shape[0], n, dt, false, noise).into_iter().flat_map(|b| b.x_final).collect();
            remaining -= n;
        }
        Tensor::from_data(TensorData::new(x, shape), &device)
    }

    fn measure(&mut self, walkers: Tensor<3>, steps: usize, dt: f64, noise: &mut Noise) -> crate::quantum::engine::Measured {
        let device = walkers.device();
        let shape: [usize; 3] = walkers.dims();
        let w = shape[0];
        let mut x = walker_values(&walkers);
        let mut measured = crate::quantum::engine::Measured {
            running: vec![0.0; w],
            martingale: vec![0.0; w],
            series: Vec::with_capacity(steps),
            walkers: None,
        };
        let mut remaining = steps;
        while remaining > 0 {
            let n = remaining.min(EVAL_CHUNK);
            let blocks = self.simulate(&x, w, n, dt, true, noise);
            let mut series = vec![0.0; n];
            let mut next = Vec::with_capacity(x.len());
            let mut w0 = 0;
            for b in blocks {
                for (s, v) in series.iter_mut().zip(&b.series) {
                    *s += v;
                }
                for (k, (r, m)) in b.running.iter().zip(&b.martingale).enumerate() {
                    measured.running[w0 + k] += r;
                    measured.martingale[w0 + k] += m;
                }
                w0 += b.running.len();
                next.extend(b.x_final);
            }
            measured.series.extend(series.into_iter().map(|s| s / w as f64));
            x = next;
            remaining -= n;
        }
        measured.walkers = Some(Tensor::from_data(TensorData::new(x, shape), &device));
        measured
    }
}
