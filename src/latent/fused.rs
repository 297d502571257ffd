//! The fused latent-SDE engine: the training ELBO of a [`SeriesStage`] (the latent SDE of a
//! time series, Li et al., AISTATS 2020, §7) and its gradient, forward and reverse passes
//! written by hand over blocks of series, the blocks spread over threads, in f32 or f64.
//!
//! It computes exactly what [`crate::latent::chain::Chain::log_weight`] computes for a chain
//! of one series stage with the expected path term (the training ELBO), from the same
//! [`Noise`] draws in the same order (ε of q(z_0 | x), then ξ_n of every Euler–Maruyama step),
//! so that a fit with it follows the burn-autodiff fit (tests hold the two equal in f64):
//!
//! ```text
//! GRU, backward in time:  r = σ(W_r e_k + U_r h + b_r),  u = σ(W_u e_k + U_u h + b_u),
//!                          n = tanh(W_n e_k + b_n + r ⊙ (U_n h + b'_n)),  h_k = n + u ⊙ (h_{k+1} − n)
//! context                  c_k = C h_k + b_C
//! q(z_0 | x)               z_0 = μ(c_0) + e^{λ(c_0)/2} ε,   λ = clamp(λ_0 + V c_0)
//! posterior path           z_{n+1} = z_n + (w_n + g_n) h_n + √h_n ξ_n,
//!                          w_n = W₂ tanh(W₁ [z_n, s_n] + b₁) + b₂,
//!                          g_n = G₂ tanh(G₁ [z_n, s_n, c_{j(n)+1}] + a₁) + a₂
//! log w = Σ_k m_k log N(x_k; D z_{t_k} + d, e^{λ_D}) + log N(z_0; 0, I) − log q(z_0 | x)
//!         − Σ_n ½|g_n|² h_n
//! ```
//!
//! The reverse pass runs the adjoint z̄ of the Euler chain backward through the steps,
//! z̄_n = z̄_{n+1} + ∂(w_n + g_n)/∂z_nᵀ (h_n z̄_{n+1}) − ∂(½h_n|g_n|²)/∂z_n (+ the decoder's term
//! at observation times), then the contexts' adjoints c̄_k back through the GRU in time order.
//! Products that do not depend on the step order (every weight gradient, the context part
//! G₁ c_k of the correction's first layer, the GRU's input products) are taken once over all
//! steps of a block as one matrix product. Sums over blocks are taken in block order in f64,
//! so results do not depend on the number of threads.

use crate::simd::dense::{Dense, DenseGrad, axpy, values};
use crate::simd::real::Real;
use crate::simd::activation::tanh_in_place;
use crate::latent::LN_2PI;
use crate::latent::kernels::GaussianKernel;
use crate::latent::series::SeriesStage;
use crate::base::noise::Noise;
use burn::module::ParamId;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

/// Series per block.
const BLOCK: usize = 16;

/// log σ² range of the Gaussian kernels (as [`GaussianKernel::forward`] clamps it).
const LOG_VAR_RANGE: (f64, f64) = (-12.0, 6.0);

/// A Gaussian kernel without hidden layers: mean y W + b, log σ² = clamp(λ_0 + y V).
#[derive(Debug, Clone)]
struct AffineGaussian<F> {
    mean: Dense<F>,
    log_var_net: Option<Dense<F>>,
    /// λ_0: one value (shared) or one per output.
    log_var: Vec<F>,
    log_var_id: ParamId,
}

impl AffineGaussian<f64> {
    fn of(kernel: &GaussianKernel) -> Self {
        assert!(kernel.hidden.is_empty(), "the fused series engine takes affine Gaussian kernels");
        AffineGaussian {
            mean: Dense::from_linear(&kernel.mean),
            log_var_net: kernel.log_var_net.as_ref().map(|net| {
                assert!(net.bias.is_none(), "the fused series engine takes log σ² networks without bias (as GaussianKernelConfig builds them)");
                Dense::from_linear(net)
            }),
            log_var: values(&kernel.log_var),
            log_var_id: kernel.log_var.id,
        }
    }
}

impl<F: Real> AffineGaussian<F> {
    fn cast<G: Real>(&self) -> AffineGaussian<G> {
        AffineGaussian { mean: self.mean.cast(), log_var_net: self.log_var_net.as_ref().map(|d| d.cast()), log_var: crate::simd::real::cast(&self.log_var), log_var_id: self.log_var_id }
    }

    fn grad_zeros<G: Real>(&self) -> AffineGrad<G> {
        AffineGrad { mean: self.mean.grad_zeros(), log_var_net: self.log_var_net.as_ref().map(|d| d.grad_zeros()), log_var: vec![G::ZERO; self.log_var.len()] }
    }

    /// (μ, raw λ before the clamp) of `rows` inputs y.
    fn forward(&self, y: &[F], rows: usize, mean: &mut [F], log_var: &mut [F]) {
        let d = self.mean.d_out;
        self.mean.forward(y, mean, rows);
        for r in 0..rows {
            for j in 0..d {
                log_var[r * d + j] = self.log_var[j % self.log_var.len()];
            }
        }
        if let Some(net) = &self.log_var_net {
            net.accumulate(y, log_var, rows);
        }
    }

    /// Gradients from μ̄ and λ̄ (raw λ̄, the clamp applied by the caller); ȳ += μ̄ Wᵀ + λ̄ Vᵀ.
    fn backward(&self, y: &[F], mean_bar: &[F], log_var_bar: &[F], rows: usize, grad: &mut AffineGrad<F>, y_bar: &mut [F]) {
        let d = self.mean.d_out;
        self.mean.backward_params(y, mean_bar, &mut grad.mean, rows);
        self.mean.backward_input(mean_bar, y_bar, rows);
        if let (Some(net), Some(g)) = (&self.log_var_net, &mut grad.log_var_net) {
            net.backward_weight(y, log_var_bar, g, rows);
            net.backward_input(log_var_bar, y_bar, rows);
        }
        let n = grad.log_var.len();
        for r in 0..rows {
            for j in 0..d {
                grad.log_var[j % n] += log_var_bar[r * d + j];
            }
        }
    }
}

#[derive(Debug, Clone)]
struct AffineGrad<F> {
    mean: DenseGrad<F>,
    log_var_net: Option<DenseGrad<F>>,
    log_var: Vec<F>,
}

impl<F: Real> AffineGrad<F> {
    fn add<G: Real>(&mut self, other: &AffineGrad<G>) {
        self.mean.add(&other.mean);
        if let (Some(a), Some(b)) = (&mut self.log_var_net, &other.log_var_net) {
            a.add(b);
        }
        crate::simd::dense::add_into(&mut self.log_var, &other.log_var);
    }
}

/// Whether the raw log σ² lies inside the clamp (the gradient passes there).
#[inline(always)]
fn inside<F: Real>(raw: F) -> bool {
    raw >= F::of(LOG_VAR_RANGE.0) && raw <= F::of(LOG_VAR_RANGE.1)
}

#[inline(always)]
fn clamp<F: Real>(raw: F) -> F {
    if raw < F::of(LOG_VAR_RANGE.0) {
        F::of(LOG_VAR_RANGE.0)
    } else if raw > F::of(LOG_VAR_RANGE.1) {
        F::of(LOG_VAR_RANGE.1)
    } else {
        raw
    }
}

/// The parameters of a series stage as flat buffers. The correction's first layer is split
/// into its rows for [z, s] (`correction_state`, no bias) and for c (`correction_context`,
/// with the layer's bias).
#[derive(Debug, Clone)]
struct SeriesNet<F> {
    gru_input: Dense<F>,
    gru_hidden: Dense<F>,
    context: Dense<F>,
    initial: AffineGaussian<F>,
    decoder: AffineGaussian<F>,
    prior_in: Dense<F>,
    prior_out: Dense<F>,
    correction_state: Dense<F>,
    correction_context: Dense<F>,
    correction_out: Dense<F>,
}

/// Rows `range` of a dense layer as a layer of its own (bias kept only with `bias`).
fn rows_of(layer: &Dense<f64>, range: std::ops::Range<usize>, bias: bool) -> Dense<f64> {
    let m = layer.d_out;
    let n = range.len();
    let w: Vec<f64> = layer.w[range.start * m..range.end * m].to_vec();
    let mut wt = vec![0.0; n * m];
    for k in 0..n {
        for j in 0..m {
            wt[j * n + k] = w[k * m + j];
        }
    }
    Dense { d_in: n, d_out: m, w, wt, b: if bias { layer.b.clone() } else { vec![0.0; m] }, w_id: layer.w_id, b_id: if bias { layer.b_id } else { None } }
}

impl SeriesNet<f64> {
    fn of(stage: &SeriesStage) -> Self {
        let seg = &stage.segment;
        assert!(seg.prior.len() == 2 && seg.correction.len() == 2, "the fused series engine takes one-hidden-layer drifts");
        let l = stage.initial.mean_dim();
        let correction_in = Dense::from_linear(&seg.correction[0]);
        SeriesNet {
            gru_input: Dense::from_linear(&stage.gru.input),
            gru_hidden: Dense::from_linear(&stage.gru.hidden),
            context: Dense::from_linear(&stage.context),
            initial: AffineGaussian::of(&stage.initial),
            decoder: AffineGaussian::of(&stage.decoder),
            prior_in: Dense::from_linear(&seg.prior[0]),
            prior_out: Dense::from_linear(&seg.prior[1]),
            correction_state: rows_of(&correction_in, 0..l + 1, false),
            correction_context: rows_of(&correction_in, l + 1..correction_in.d_in, true),
            correction_out: Dense::from_linear(&seg.correction[1]),
        }
    }
}

impl<F: Real> SeriesNet<F> {
    fn cast<G: Real>(&self) -> SeriesNet<G> {
        SeriesNet {
            gru_input: self.gru_input.cast(),
            gru_hidden: self.gru_hidden.cast(),
            context: self.context.cast(),
            initial: self.initial.cast(),
            decoder: self.decoder.cast(),
            prior_in: self.prior_in.cast(),
            prior_out: self.prior_out.cast(),
            correction_state: self.correction_state.cast(),
            correction_context: self.correction_context.cast(),
            correction_out: self.correction_out.cast(),
        }
    }

    fn grad_zeros<G: Real>(&self) -> SeriesGrad<G> {
        SeriesGrad {
            gru_input: self.gru_input.grad_zeros(),
            gru_hidden: self.gru_hidden.grad_zeros(),
            context: self.context.grad_zeros(),
            initial: self.initial.grad_zeros(),
            decoder: self.decoder.grad_zeros(),
            prior_in: self.prior_in.grad_zeros(),
            prior_out: self.prior_out.grad_zeros(),
            correction_state: self.correction_state.grad_zeros(),
            correction_context: self.correction_context.grad_zeros(),
            correction_out: self.correction_out.grad_zeros(),
        }
    }

    /// GRU state size H, context size C, latent size L, observation size D.
    fn sizes(&self) -> (usize, usize, usize, usize) {
        (self.gru_hidden.d_in, self.context.d_out, self.initial.mean.d_out, self.decoder.mean.d_out)
    }
}

#[derive(Debug, Clone)]
struct SeriesGrad<F> {
    gru_input: DenseGrad<F>,
    gru_hidden: DenseGrad<F>,
    context: DenseGrad<F>,
    initial: AffineGrad<F>,
    decoder: AffineGrad<F>,
    prior_in: DenseGrad<F>,
    prior_out: DenseGrad<F>,
    correction_state: DenseGrad<F>,
    correction_context: DenseGrad<F>,
    correction_out: DenseGrad<F>,
}

impl<F: Real> SeriesGrad<F> {
    fn add<G: Real>(&mut self, o: &SeriesGrad<G>) {
        self.gru_input.add(&o.gru_input);
        self.gru_hidden.add(&o.gru_hidden);
        self.context.add(&o.context);
        self.initial.add(&o.initial);
        self.decoder.add(&o.decoder);
        self.prior_in.add(&o.prior_in);
        self.prior_out.add(&o.prior_out);
        self.correction_state.add(&o.correction_state);
        self.correction_context.add(&o.correction_context);
        self.correction_out.add(&o.correction_out);
    }
}

/// The integration grid and observation pattern shared by every block.
struct StepGrid {
    /// h_n, s_n (scaled time), and the context index j(n) + 1 of each step.
    steps: Vec<(f64, f64, usize)>,
    /// Grid index of each observation time.
    observed_at: Vec<usize>,
}

impl StepGrid {
    fn of(stage: &SeriesStage) -> Self {
        let grid = stage.layout().grid(stage.dt);
        let times = &stage.times;
        let last = times.len() - 1;
        let (t0, t1) = (times[0], times[last]);
        let steps = grid
            .times
            .windows(2)
            .map(|w| {
                let j = times.partition_point(|&s| s <= w[0]).saturating_sub(1);
                (w[1] - w[0], (w[0] - t0) / (t1 - t0), (j + 1).min(last))
            })
            .collect();
        StepGrid { steps, observed_at: grid.observed_at }
    }
}

/// A thread's buffers, kept between blocks and calls.
#[derive(Default)]
struct SeriesWorkspace<F> {
    /// GRU inputs e_k, [K][R][D + 1].
    inputs: Vec<F>,
    /// W e_k + b for every k, [K][R][3H]; reused for the gate adjoints ḠI.
    gi: Vec<F>,
    /// h_k, [K + 1][R][H] (h_K = 0).
    states: Vec<F>,
    /// r, u, n and U_n h + b'_n of every step, [K][R][H] each.
    reset: Vec<F>,
    update: Vec<F>,
    candidate: Vec<F>,
    hidden_candidate: Vec<F>,
    /// Hidden products U h + b of one step, [R][3H]; gate adjoints ḠH of every step, [K][R][3H].
    gh: Vec<F>,
    gh_bar: Vec<F>,
    /// c_k, [K][R][C]; G₁ c_k + a₁, [K][R][H]; their adjoints.
    contexts: Vec<F>,
    context_part: Vec<F>,
    context_bar: Vec<F>,
    context_part_bar: Vec<F>,
    /// [z_n, s_n] of every step, [M][R][L + 1]; tanh activations, [M][R][H]; g_n, [M][R][L].
    path_inputs: Vec<F>,
    prior_hidden: Vec<F>,
    correction_hidden: Vec<F>,
    corrections: Vec<F>,
    /// Adjoints of every step: w̄_n, ḡ_n [M][R][L]; first-layer pre-activations [M][R][H].
    prior_out_bar: Vec<F>,
    correction_out_bar: Vec<F>,
    prior_pre_bar: Vec<F>,
    correction_pre_bar: Vec<F>,
    /// z at the observation times, [K][R][L]; decoder means and raw log σ², [K][R][D]; adjoints.
    observed: Vec<F>,
    mean: Vec<F>,
    log_var: Vec<F>,
    mean_bar: Vec<F>,
    log_var_bar: Vec<F>,
    observed_bar: Vec<F>,
    /// One-step scratch.
    z: Vec<F>,
    z_bar: Vec<F>,
    input_bar: Vec<F>,
    hidden_bar: Vec<F>,
    drift: Vec<F>,
}

fn sized<F: Real>(v: &mut Vec<F>, n: usize) {
    v.clear();
    v.resize(n, F::ZERO);
}

/// What a call leaves: log w of every series and the gradient of the loss −mean log w.
pub(crate) struct SeriesStep {
    pub log_weights: Vec<f64>,
    pub grads: GradientsParams,
}

/// The training ELBO log w of every row of `rows` (`[B, K·(D + 1)]`, the chain's data layout)
/// under `stage`, and the gradient of −(1/B) Σ log w as burn gradients on `device` (the
/// non-autodiff device of the module). Draws ε then the path noise from `noise`, as the chain
/// does. `f64` selects the kernel type.
pub(crate) fn elbo_step(stage: &SeriesStage, rows: &[f64], b: usize, noise: &mut Noise, f64_kernels: bool, device: &Device) -> SeriesStep {
    let net = SeriesNet::of(stage);
    let schedule = StepGrid::of(stage);
    let (_, _, l, _) = net.sizes();
    let m = schedule.steps.len();
    let eps = noise.standard_normals(b * l);
    let xi = noise.standard_normals(m * b * l);
    let (log_weights, grad) = if f64_kernels { run::<f64>(&net, &schedule, rows, b, &eps, &xi) } else { run::<f32>(&net, &schedule, rows, b, &eps, &xi) };
    SeriesStep { log_weights, grads: register(&net, &grad, device) }
}

fn run<F: Real>(net: &SeriesNet<f64>, schedule: &StepGrid, rows: &[f64], b: usize, eps: &[f64], xi: &[f64]) -> (Vec<f64>, SeriesGrad<f64>) {
    let kernel_net: SeriesNet<F> = net.cast();
    let blocks = b.div_ceil(BLOCK);
    let seed = F::of(-1.0 / b as f64);
    let mut states: Vec<SeriesWorkspace<F>> = Vec::new();
    let results = crate::simd::parallel_blocks(blocks, &mut states, &|ws: &mut SeriesWorkspace<F>, block| {
        let r0 = block * BLOCK;
        let r = BLOCK.min(b - r0);
        block_step(&kernel_net, schedule, rows, r0, r, b, eps, xi, seed, ws)
    });
    let mut grad: SeriesGrad<f64> = net.grad_zeros();
    let mut log_weights = Vec::with_capacity(b);
    for (lw, g) in results {
        log_weights.extend(lw);
        grad.add(&g);
    }
    (log_weights, grad)
}

/// Rows r0..r0 + r of a batch of `b`, through one network in kernel precision; `seed` =
/// ∂loss/∂log w of each row.
#[derive(Clone, Copy)]
struct Block<'a, F> {
    net: &'a SeriesNet<F>,
    schedule: &'a StepGrid,
    r0: usize,
    r: usize,
    b: usize,
    seed: F,
    /// GRU width, context width, latent and data dimensions.
    h: usize,
    c: usize,
    l: usize,
    d: usize,
    /// Observation times and Euler steps.
    k_count: usize,
    m: usize,
}

/// What the forward pass of q(z_0 | x) keeps for its reverse pass (r × latent each).
struct Initial<F> {
    mean: Vec<F>,
    raw: Vec<F>,
    z0: Vec<F>,
    sigma: Vec<F>,
    eps: Vec<F>,
}

/// Forward and reverse pass of rows r0..r0 + r; `seed` = ∂loss/∂log w of each row: the
/// stages in order, then their adjoints in reverse order ([`Block`]).
#[allow(clippy::too_many_arguments)]
fn block_step<F: Real>(net: &SeriesNet<F>, schedule: &StepGrid, rows: &[f64], r0: usize, r: usize, b: usize, eps: &[f64], xi: &[f64], seed: F, ws: &mut SeriesWorkspace<F>) -> (Vec<f64>, SeriesGrad<F>) {
    let (h, c, l, d) = net.sizes();
    let block = Block { net, schedule, r0, r, b, seed, h, c, l, d, k_count: schedule.observed_at.len(), m: schedule.steps.len() };
    let mut grad: SeriesGrad<F> = net.grad_zeros();
    let mut log_w = vec![0.0f64; r];
    block.gru(rows, ws);
    let init = block.initial(eps, ws, &mut log_w);
    block.path(&init, xi, ws, &mut log_w);
    block.decoder(ws, &mut log_w, &mut grad);
    block.path_reverse(ws, &mut grad);
    block.initial_reverse(&init, ws, &mut grad);
    block.gru_reverse(ws, &mut grad);
    (log_w, grad)
}

impl<F: Real> Block<'_, F> {
    /// The GRU read backward in time over the observations, and the contexts.
    fn gru(&self, rows: &[f64], ws: &mut SeriesWorkspace<F>) {
        let Block { net, r0, r, h, c, d, k_count, .. } = *self;
        let width = k_count * (d + 1);
        let half = F::of(0.5);
        sized(&mut ws.inputs, k_count * r * (d + 1));
        for k in 0..k_count {
            for i in 0..r {
                let src = &rows[(r0 + i) * width + k * (d + 1)..(r0 + i) * width + (k + 1) * (d + 1)];
                for (dst, &v) in ws.inputs[(k * r + i) * (d + 1)..(k * r + i + 1) * (d + 1)].iter_mut().zip(src) {
                    *dst = F::of(v);
                }
            }
        }
        sized(&mut ws.gi, k_count * r * 3 * h);
        net.gru_input.forward(&ws.inputs, &mut ws.gi, k_count * r);
        sized(&mut ws.states, (k_count + 1) * r * h);
        for v in [&mut ws.reset, &mut ws.update, &mut ws.candidate, &mut ws.hidden_candidate] {
            sized(v, k_count * r * h);
        }
        sized(&mut ws.gh, r * 3 * h);
        for k in (0..k_count).rev() {
            let (before, after) = ws.states.split_at_mut((k + 1) * r * h);
            let h_in = &after[..r * h];
            let h_out = &mut before[k * r * h..];
            net.gru_hidden.forward(h_in, &mut ws.gh, r);
            let gi = &ws.gi[k * r * 3 * h..(k + 1) * r * 3 * h];
            let at = k * r * h;
            let (reset, update) = (&mut ws.reset[at..at + r * h], &mut ws.update[at..at + r * h]);
            for i in 0..r {
                for j in 0..h {
                    let (g, q) = (i * 3 * h, i * h + j);
                    reset[q] = half * (gi[g + j] + ws.gh[g + j]);
                    update[q] = half * (gi[g + h + j] + ws.gh[g + h + j]);
                }
            }
            // σ(x) = ½(1 + tanh(x/2)).
            tanh_in_place(reset);
            tanh_in_place(update);
            let (candidate, hidden_candidate) = (&mut ws.candidate[at..at + r * h], &mut ws.hidden_candidate[at..at + r * h]);
            for i in 0..r {
                for j in 0..h {
                    let (g, q) = (i * 3 * h, i * h + j);
                    reset[q] = half + half * reset[q];
                    update[q] = half + half * update[q];
                    hidden_candidate[q] = ws.gh[g + 2 * h + j];
                    candidate[q] = gi[g + 2 * h + j] + reset[q] * hidden_candidate[q];
                }
            }
            tanh_in_place(candidate);
            for q in 0..r * h {
                h_out[q] = candidate[q] + update[q] * (h_in[q] - candidate[q]);
            }
        }
        sized(&mut ws.contexts, k_count * r * c);
        net.context.forward(&ws.states[..k_count * r * h], &mut ws.contexts, k_count * r);
        sized(&mut ws.context_part, k_count * r * h);
        net.correction_context.forward(&ws.contexts, &mut ws.context_part, k_count * r);
    }

    /// q(z_0 | x): z_0 = μ + σ ε, and log N(z_0; 0, I) − log q(z_0 | x) into `log_w`.
    fn initial(&self, eps: &[f64], ws: &mut SeriesWorkspace<F>, log_w: &mut [f64]) -> Initial<F> {
        let Block { net, r0, r, c, l, .. } = *self;
        let half = F::of(0.5);
        let zeros = || vec![F::ZERO; r * l];
        let mut init = Initial { mean: zeros(), raw: zeros(), z0: zeros(), sigma: zeros(), eps: zeros() };
        net.initial.forward(&ws.contexts[..r * c], r, &mut init.mean, &mut init.raw);
        for i in 0..r {
            let mut log_q = 0.0;
            let mut log_p = 0.0;
            for j in 0..l {
                let q = i * l + j;
                let e = F::of(eps[(r0 + i) * l + j]);
                let lv = clamp(init.raw[q]);
                init.sigma[q] = (half * lv).exp();
                init.z0[q] = init.mean[q] + init.sigma[q] * e;
                init.eps[q] = e;
                let dz = (init.z0[q] - init.mean[q]).f64();
                log_q += -0.5 * (LN_2PI + lv.f64() + dz * dz * (-lv.f64()).exp());
                log_p += -0.5 * (LN_2PI + init.z0[q].f64() * init.z0[q].f64());
            }
            log_w[i] += log_p - log_q;
        }
        init
    }

    /// The posterior path: Euler steps with the prior drift plus the correction g, −½h|g|²
    /// per step into `log_w`; the states at the observation times.
    fn path(&self, init: &Initial<F>, xi: &[f64], ws: &mut SeriesWorkspace<F>, log_w: &mut [f64]) {
        let Block { net, schedule, r0, r, b, h, l, k_count, m, .. } = *self;
        let zin = l + 1;
        sized(&mut ws.path_inputs, m * r * zin);
        sized(&mut ws.prior_hidden, m * r * h);
        sized(&mut ws.correction_hidden, m * r * h);
        sized(&mut ws.corrections, m * r * l);
        sized(&mut ws.observed, k_count * r * l);
        sized(&mut ws.drift, r * l);
        ws.z.clear();
        ws.z.extend_from_slice(&init.z0);
        let mut next_observation = 0;
        for (n, &(step, s, ci)) in schedule.steps.iter().enumerate() {
            if next_observation < k_count && schedule.observed_at[next_observation] == n {
                ws.observed[next_observation * r * l..(next_observation + 1) * r * l].copy_from_slice(&ws.z);
                next_observation += 1;
            }
            let input = &mut ws.path_inputs[n * r * zin..(n + 1) * r * zin];
            for i in 0..r {
                input[i * zin..i * zin + l].copy_from_slice(&ws.z[i * l..(i + 1) * l]);
                input[i * zin + l] = F::of(s);
            }
            let hp = &mut ws.prior_hidden[n * r * h..(n + 1) * r * h];
            net.prior_in.forward_tanh(input, hp, r);
            let hc = &mut ws.correction_hidden[n * r * h..(n + 1) * r * h];
            hc.copy_from_slice(&ws.context_part[ci * r * h..(ci + 1) * r * h]);
            net.correction_state.accumulate(input, hc, r);
            tanh_in_place(hc);
            net.prior_out.forward(hp, &mut ws.drift, r);
            let g = &mut ws.corrections[n * r * l..(n + 1) * r * l];
            net.correction_out.forward(hc, g, r);
            let (hf, root) = (F::of(step), F::of(step.sqrt()));
            for i in 0..r {
                let mut kinetic = F::ZERO;
                for j in 0..l {
                    let q = i * l + j;
                    kinetic += g[q] * g[q];
                    ws.z[q] += (ws.drift[q] + g[q]) * hf + root * F::of(xi[(n * b + r0 + i) * l + j]);
                }
                log_w[i] -= 0.5 * step * kinetic.f64();
            }
        }
        if next_observation < k_count {
            ws.observed[next_observation * r * l..(next_observation + 1) * r * l].copy_from_slice(&ws.z);
        }
    }

    /// The decoder: Σ_k m_k log N(x_k; D z_k + d, e^λ) into `log_w`, and its adjoints.
    fn decoder(&self, ws: &mut SeriesWorkspace<F>, log_w: &mut [f64], grad: &mut SeriesGrad<F>) {
        let Block { net, r, seed, l, d, k_count, .. } = *self;
        let half = F::of(0.5);
        let kr = k_count * r;
        sized(&mut ws.mean, kr * d);
        sized(&mut ws.log_var, kr * d);
        net.decoder.forward(&ws.observed, kr, &mut ws.mean, &mut ws.log_var);
        sized(&mut ws.mean_bar, kr * d);
        sized(&mut ws.log_var_bar, kr * d);
        for k in 0..k_count {
            for i in 0..r {
                let row = (k * r + i) * (d + 1);
                let mask = ws.inputs[row + d];
                let mut lp = 0.0;
                for j in 0..d {
                    let q = (k * r + i) * d + j;
                    let raw = ws.log_var[q];
                    let lv = clamp(raw);
                    let inv = (-lv).exp();
                    let delta = ws.inputs[row + j] - ws.mean[q];
                    lp += -0.5 * (LN_2PI + lv.f64() + (delta * delta * inv).f64());
                    ws.mean_bar[q] = seed * mask * delta * inv;
                    ws.log_var_bar[q] = if inside(raw) { seed * mask * half * (delta * delta * inv - F::ONE) } else { F::ZERO };
                }
                log_w[i] += mask.f64() * lp;
            }
        }
        sized(&mut ws.observed_bar, kr * l);
        net.decoder.backward(&ws.observed, &ws.mean_bar, &ws.log_var_bar, kr, &mut grad.decoder, &mut ws.observed_bar);
    }

    /// Reverse through the path.
    fn path_reverse(&self, ws: &mut SeriesWorkspace<F>, grad: &mut SeriesGrad<F>) {
        let Block { net, schedule, r, seed, h, l, k_count, m, .. } = *self;
        let (zin, kr) = (l + 1, k_count * r);
        sized(&mut ws.z_bar, r * l);
        sized(&mut ws.prior_out_bar, m * r * l);
        sized(&mut ws.correction_out_bar, m * r * l);
        sized(&mut ws.prior_pre_bar, m * r * h);
        sized(&mut ws.correction_pre_bar, m * r * h);
        sized(&mut ws.context_part_bar, kr * h);
        sized(&mut ws.input_bar, r * zin);
        sized(&mut ws.hidden_bar, r * h);
        let mut observation = k_count;
        if schedule.observed_at[k_count - 1] == m {
            observation -= 1;
            axpy(&mut ws.z_bar, F::ONE, &ws.observed_bar[observation * r * l..(observation + 1) * r * l]);
        }
        for (n, &(step, _, ci)) in schedule.steps.iter().enumerate().rev() {
            let hf = F::of(step);
            let g = &ws.corrections[n * r * l..(n + 1) * r * l];
            let w_bar = &mut ws.prior_out_bar[n * r * l..(n + 1) * r * l];
            let g_bar = &mut ws.correction_out_bar[n * r * l..(n + 1) * r * l];
            for q in 0..r * l {
                w_bar[q] = hf * ws.z_bar[q];
                g_bar[q] = hf * (ws.z_bar[q] - seed * g[q]);
            }
            ws.input_bar.fill(F::ZERO);
            let at = n * r * h..(n + 1) * r * h;
            hidden_layer_backward(&net.prior_in, &net.prior_out, &ws.prior_hidden[at.clone()], w_bar, &mut ws.prior_pre_bar[at.clone()], &mut ws.hidden_bar, &mut ws.input_bar, r);
            hidden_layer_backward(&net.correction_state, &net.correction_out, &ws.correction_hidden[at.clone()], g_bar, &mut ws.correction_pre_bar[at], &mut ws.hidden_bar, &mut ws.input_bar, r);
            axpy(&mut ws.context_part_bar[ci * r * h..(ci + 1) * r * h], F::ONE, &ws.correction_pre_bar[n * r * h..(n + 1) * r * h]);
            for i in 0..r {
                for j in 0..l {
                    ws.z_bar[i * l + j] += ws.input_bar[i * zin + j];
                }
            }
            if observation > 0 && schedule.observed_at[observation - 1] == n {
                observation -= 1;
                axpy(&mut ws.z_bar, F::ONE, &ws.observed_bar[observation * r * l..(observation + 1) * r * l]);
            }
        }
        let mr = m * r;
        net.prior_out.backward_params(&ws.prior_hidden, &ws.prior_out_bar, &mut grad.prior_out, mr);
        net.prior_in.backward_params(&ws.path_inputs, &ws.prior_pre_bar, &mut grad.prior_in, mr);
        net.correction_out.backward_params(&ws.correction_hidden, &ws.correction_out_bar, &mut grad.correction_out, mr);
        net.correction_state.backward_weight(&ws.path_inputs, &ws.correction_pre_bar, &mut grad.correction_state, mr);
    }

    /// q(z_0 | x) reverse: y = μ + σ ε, −log q and log N(z_0; 0, I).
    fn initial_reverse(&self, init: &Initial<F>, ws: &mut SeriesWorkspace<F>, grad: &mut SeriesGrad<F>) {
        let Block { net, r, seed, c, l, k_count, .. } = *self;
        let kr = k_count * r;
        let half = F::of(0.5);
        let mut mean_bar = vec![F::ZERO; r * l];
        let mut raw_bar = vec![F::ZERO; r * l];
        for q in 0..r * l {
            let lv = clamp(init.raw[q]);
            let inv = (-lv).exp();
            let dz = init.z0[q] - init.mean[q];
            let y_bar = ws.z_bar[q] - seed * init.z0[q] + seed * dz * inv;
            mean_bar[q] = y_bar - seed * dz * inv;
            let lv_bar = y_bar * half * init.sigma[q] * init.eps[q] + seed * half * (F::ONE - dz * dz * inv);
            raw_bar[q] = if inside(init.raw[q]) { lv_bar } else { F::ZERO };
        }
        sized(&mut ws.context_bar, kr * c);
        net.initial.backward(&ws.contexts[..r * c], &mean_bar, &raw_bar, r, &mut grad.initial, &mut ws.context_bar[..r * c]);
        net.correction_context.backward_params(&ws.contexts, &ws.context_part_bar, &mut grad.correction_context, kr);
        net.correction_context.backward_input(&ws.context_part_bar, &mut ws.context_bar, kr);
    }

    /// Contexts and the GRU, in time order (the reverse of its reading order).
    fn gru_reverse(&self, ws: &mut SeriesWorkspace<F>, grad: &mut SeriesGrad<F>) {
        let Block { net, r, h, k_count, .. } = *self;
        let kr = k_count * r;
        net.context.backward_params(&ws.states[..kr * h], &ws.context_bar, &mut grad.context, kr);
        let mut state_bar = vec![F::ZERO; kr * h];
        net.context.backward_input(&ws.context_bar, &mut state_bar, kr);
        sized(&mut ws.gh_bar, kr * 3 * h);
        let gi_bar = &mut ws.gi; // W e + b is no longer needed: it holds ḠI from here on.
        let mut carry = vec![F::ZERO; r * h];
        for k in 0..k_count {
            let at = k * r * h;
            let h_in = &ws.states[(k + 1) * r * h..(k + 2) * r * h];
            let bar = &mut state_bar[at..at + r * h];
            axpy(bar, F::ONE, &carry);
            let (reset, update, candidate, hidden_candidate) = (&ws.reset[at..at + r * h], &ws.update[at..at + r * h], &ws.candidate[at..at + r * h], &ws.hidden_candidate[at..at + r * h]);
            let gh_bar = &mut ws.gh_bar[k * r * 3 * h..(k + 1) * r * 3 * h];
            let gi_b = &mut gi_bar[k * r * 3 * h..(k + 1) * r * 3 * h];
            for i in 0..r {
                for j in 0..h {
                    let (g, q) = (i * 3 * h, i * h + j);
                    let (rv, uv, nv) = (reset[q], update[q], candidate[q]);
                    let out_bar = bar[q];
                    let pre_n = out_bar * (F::ONE - uv) * (F::ONE - nv * nv);
                    let pre_u = out_bar * (h_in[q] - nv) * uv * (F::ONE - uv);
                    let pre_r = pre_n * hidden_candidate[q] * rv * (F::ONE - rv);
                    gi_b[g + j] = pre_r;
                    gi_b[g + h + j] = pre_u;
                    gi_b[g + 2 * h + j] = pre_n;
                    gh_bar[g + j] = pre_r;
                    gh_bar[g + h + j] = pre_u;
                    gh_bar[g + 2 * h + j] = pre_n * rv;
                    carry[q] = out_bar * uv;
                }
            }
            net.gru_hidden.backward_input(gh_bar, &mut carry, r);
        }
        net.gru_hidden.backward_params(&ws.states[r * h..], &ws.gh_bar, &mut grad.gru_hidden, kr);
        net.gru_input.backward_params(&ws.inputs, gi_bar, &mut grad.gru_input, kr);
    }
}

/// Through y = W₂ a + b₂, a = tanh(p): p̄ = (ȳ W₂ᵀ) ⊙ (1 − a²) into `pre_bar`, and the
/// input's adjoint x̄ += p̄ W₁ᵀ (`first` the layer whose output is p).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn hidden_layer_backward<F: Real>(first: &Dense<F>, out: &Dense<F>, act: &[F], y_bar: &[F], pre_bar: &mut [F], hidden_bar: &mut [F], input_bar: &mut [F], r: usize) {
    hidden_bar.fill(F::ZERO);
    out.backward_input(y_bar, hidden_bar, r);
    for ((p, &a), &hb) in pre_bar.iter_mut().zip(act).zip(hidden_bar.iter()) {
        *p = hb * (F::ONE - a * a);
    }
    first.backward_input(pre_bar, input_bar, r);
}

/// The gradients as burn tensors keyed by parameter id (the split correction layer joined).
fn register(net: &SeriesNet<f64>, grad: &SeriesGrad<f64>, device: &Device) -> GradientsParams {
    let mut out = GradientsParams::new();
    for (layer, g) in [
        (&net.gru_input, &grad.gru_input),
        (&net.gru_hidden, &grad.gru_hidden),
        (&net.context, &grad.context),
        (&net.prior_in, &grad.prior_in),
        (&net.prior_out, &grad.prior_out),
        (&net.correction_out, &grad.correction_out),
    ] {
        layer.register(g, &mut out, device);
    }
    for (kernel, g) in [(&net.initial, &grad.initial), (&net.decoder, &grad.decoder)] {
        kernel.mean.register(&g.mean, &mut out, device);
        if let (Some(layer), Some(lg)) = (&kernel.log_var_net, &g.log_var_net) {
            layer.register(lg, &mut out, device);
        }
        out.register(kernel.log_var_id, Tensor::<1>::from_data(TensorData::new(g.log_var.clone(), [g.log_var.len()]), device));
    }
    let (top, bottom) = (&net.correction_state, &net.correction_context);
    let mut w = grad.correction_state.weight();
    w.extend(grad.correction_context.weight());
    out.register(top.w_id, Tensor::<2>::from_data(TensorData::new(w, [top.d_in + bottom.d_in, top.d_out]), device));
    if let Some(id) = bottom.b_id {
        out.register(id, Tensor::<1>::from_data(TensorData::new(grad.correction_context.b.clone(), [bottom.d_out]), device));
    }
    out
}

#[cfg(test)]
mod tests {
    //! The fused series engine against burn's autodiff through [`crate::latent::chain::Chain`]
    //! in f64: every row's log w and every parameter gradient, with irregular observation times,
    //! missing observations and each decoder variance; f32 against f64; the noise stream.

    use super::*;
    use crate::base::device::Precision;
    use crate::latent::chain::{Chain, PathTerm, Stage};
    use crate::latent::kernels::{GaussianKernelConfig, SdeSegmentConfig, Variance};
    use crate::latent::series::Gru;
    use crate::base::layers::{Init, linear};
    use crate::simd::testing::{Collect, assert_close, grad_values};
    use burn::module::Module;

    fn devices() -> (Device, Device) {
        let mut plain = Device::flex();
        Precision::F64.configure(&mut plain).unwrap();
        let mut ad = plain.clone().autodiff();
        Precision::F64.configure(&mut ad).unwrap();
        (plain, ad)
    }

    const TIMES: [f64; 5] = [0.0, 0.13, 0.3, 0.34, 0.6];
    const D: usize = 2;

    /// A stage with every layer random (the zero-initialised drift outputs and log σ² networks
    /// replaced, the latter bias-free as [`GaussianKernelConfig`] builds them), H = 6, C = 4,
    /// L = 3, D = 2.
    fn stage(decoder_variance: Variance, noise: &mut Noise, device: &Device) -> SeriesStage {
        let (h, c, l) = (6, 4, 3);
        let gru = Gru { input: linear(D + 1, 3 * h, true, Init::Uniform, noise, device), hidden: linear(h, 3 * h, true, Init::Uniform, noise, device) };
        let context = linear(h, c, true, Init::Uniform, noise, device);
        let mut initial = GaussianKernelConfig { d_in: c, d_out: l, hidden: 0, layers: 0, variance: Variance::Network, log_var_init: -0.5 }.init(noise, device);
        initial.log_var_net = Some(linear(c, l, false, Init::Uniform, noise, device));
        let mut segment = SdeSegmentConfig { dim: l, context: c, hidden: h, steps: 1, horizon: 1.0 }.init(noise, device);
        segment.prior[1] = linear(h, l, true, Init::Uniform, noise, device);
        segment.correction[1] = linear(h, l, true, Init::Uniform, noise, device);
        let mut decoder = GaussianKernelConfig { d_in: l, d_out: D, hidden: 0, layers: 0, variance: decoder_variance, log_var_init: -1.0 }.init(noise, device);
        if decoder.log_var_net.is_some() {
            decoder.log_var_net = Some(linear(l, D, false, Init::Uniform, noise, device));
        }
        SeriesStage { gru, context, initial, segment, decoder, times: TIMES.to_vec(), dim: D, dt: 0.05 }
    }

    /// `b` rows of observations with about one in four missing (mask 0, value kept).
    fn rows(b: usize, noise: &mut Noise) -> Vec<f64> {
        let k = TIMES.len();
        let z = noise.standard_normals(b * k * D);
        let mut out = Vec::with_capacity(b * k * (D + 1));
        for i in 0..b {
            for kk in 0..k {
                out.extend_from_slice(&z[(i * k + kk) * D..(i * k + kk + 1) * D]);
                out.push(if (3 * i + kk) % 4 == 1 { 0.0 } else { 1.0 });
            }
        }
        out
    }

    fn compare(variance: Variance) {
        let (plain, ad) = devices();
        let mut noise = Noise::new(3);
        let stage = stage(variance, &mut noise, &ad);
        // 37 series: two full blocks and a partial one.
        let b = 37;
        let data = rows(b, &mut noise);
        let (mut fused_noise, mut chain_noise) = (Noise::new(11), Noise::new(11));
        let fused = elbo_step(&stage, &data, b, &mut fused_noise, true, &plain);

        let chain = Chain { stages: vec![Stage::Series(stage)] };
        let x = Tensor::<2>::from_data(TensorData::new(data, [b, TIMES.len() * (D + 1)]), &ad);
        let log_w = chain.log_weight(x, &mut chain_noise, PathTerm::Expected).log_weight;
        let reference = GradientsParams::from_grads((-log_w.clone().mean()).backward(), &chain);
        let what = format!("{variance:?}");
        assert_close(&format!("{what} log w"), &fused.log_weights, &crate::latent::values(log_w), 1e-11);
        assert_eq!(fused_noise.standard_normals(4), chain_noise.standard_normals(4), "{what}: both leave the stream in one state");

        let mut params = Collect(Vec::new());
        chain.visit(&mut params);
        assert!(params.0.len() >= 17, "{what}: {} parameters", params.0.len());
        for (id, dims) in params.0 {
            let expected = grad_values(&reference, id, dims.len());
            assert!(expected.iter().any(|v| *v != 0.0), "{what}: zero autodiff gradient {dims:?}");
            assert_close(&format!("{what} gradient {dims:?}"), &grad_values(&fused.grads, id, dims.len()), &expected, 1e-9);
        }
    }

    #[test]
    fn per_dimension_decoder_variance_matches_autodiff() {
        compare(Variance::PerDim);
    }

    #[test]
    fn network_and_shared_decoder_variances_match_autodiff() {
        compare(Variance::Network);
        compare(Variance::Shared);
    }

    #[test]
    fn f32_kernels_agree_with_f64() {
        let (plain, _) = devices();
        let mut noise = Noise::new(4);
        let stage = stage(Variance::PerDim, &mut noise, &plain);
        let b = 20;
        let data = rows(b, &mut noise);
        let wide = elbo_step(&stage, &data, b, &mut Noise::new(9), true, &plain);
        let narrow = elbo_step(&stage, &data, b, &mut Noise::new(9), false, &plain);
        assert_close("f32 log w", &narrow.log_weights, &wide.log_weights, 1e-5);
        let mut params = Collect(Vec::new());
        stage.visit(&mut params);
        for (id, dims) in params.0 {
            assert_close(&format!("f32 gradient {dims:?}"), &grad_values(&narrow.grads, id, dims.len()), &grad_values(&wide.grads, id, dims.len()), 1e-4);
        }
    }
}
