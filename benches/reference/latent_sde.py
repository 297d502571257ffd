"""PyTorch + torchsde reference for the latent-SDE time-series fit (run by hand, never in CI).

Fits the same model as the Rust latent-SDE run to a CSV of time series, then prints one JSON
object with the seconds per training iteration and the test ELBO per observed time point.

Data: CSV with header `series,t,x1,...,xD`, one row per (series, time), rows grouped by series.
An empty cell marks the whole vector at that time as unobserved (mask m_k = 0). The shared grid
t_0 < ... < t_{K-1} is the union of the times of BOTH files (train and test), so the time
normalisation t_end = t_{K-1} is the same for both; a series lacking a grid time has m_k = 0 there.

Model (L = --latent, C = --context, H = --hidden, float32):
    e_k  = [x_k m_k, m_k]                                   (D+1 features, x_k = 0 where m_k = 0)
    g_k  = GRU_H(e_{K-1}, ..., e_k)                         (backward in time, zero initial state)
    c_k  = Linear(H->C)(g_k)
    [mu, logv] = Linear(C->2L)(c_0),  logv clamped to [-12, 6]
    q(z_0|x) = N(mu, diag exp(logv)),  p(z_0) = N(0, I)
    prior      dz = w(t, z) dt + dW
    posterior  dz = (w(t, z) + g(t, z, c_{k+1})) dt + dW    on t in [t_k, t_{k+1})
    w(t, z)    = Linear(H->L)(tanh(Linear(L+1->H)([z, t/t_end])))
    g(t, z, c) = Linear(H->L)(tanh(Linear(L+1+C->H)([z, t/t_end, c])))
    p(x_k|z)   = N(Linear(L->D)(z_{t_k}), diag exp(s)),  s in R^D initialised to -2, clamped to [-12, 6]
The output layers of w and g start at zero (w = g = 0 at init); every other layer uses
PyTorch's default init. Euler-Maruyama: on [t_k, t_{k+1}] take n_k = ceil((t_{k+1}-t_k)/dt - 1e-9)
equal sub-steps of h_k = (t_{k+1}-t_k)/n_k, z <- z + (w + g) h + dW, dW ~ N(0, h I).
One-sample ELBO of a series (z_0 KL by Monte Carlo, not closed form):
    ELBO = sum_k m_k log p(x_k|z_{t_k}) + log p(z_0) - log q(z_0|x) - sum_n 1/2 |g_n|^2 h_n
Loss = -mean_batch(ELBO) / mean_batch(observed points), i.e. the ELBO per observed point;
Adam (torch defaults) with lr_k = lr / (1 + k/lr_decay), a batch of series drawn each iteration
without replacement (torch.randperm). Test: per test series the mean of --test-samples ELBO
estimates divided by its observed points, then mean and standard error over test series.

The SDE is solved by torchsde.sdeint(method="euler", logqp=True) with posterior drift f = w + g,
prior drift h = w and diagonal diffusion 1 (noise_type "diagonal", sde_type "ito"); the
log-ratio torchsde accumulates is sum_n 1/2 |(f-h)/1|^2 h_n, the path KL above. torchsde's fixed
step walks ONE global grid t_0 + n dt and linearly interpolates at the requested times, so
it reproduces the per-interval sub-step rule only when every t_{k+1}-t_k is a multiple of dt
(e.g. a uniform grid with spacing a multiple of dt; then the two are identical). --solve
chooses: "whole" = one sdeint call over all times, context picked from the step's start time;
"intervals" = one sdeint call per [t_k, t_{k+1}] with dt = h_k (exact rule for any grid, at the
cost of torchsde's per-call set-up, which evaluates the drifts a few extra times per call);
"auto" (default) = whole when it is exact, else intervals. --check compares the torchsde path
and log-ratio with a hand-written Euler loop (same BrownianInterval) on random non-zero drifts.

Differences from the Rust run: different random streams (PyTorch init and randn; the Brownian
increments come from torchsde's default BrownianInterval, whose entropy is drawn from numpy's
global RNG, seeded here with --seed), PyTorch's default init rather than the Rust one, PyTorch's
GRU gate convention (r applied to W_hn h + b_hn), and float32 kernels with different reduction
order. So single runs agree in distribution, not bit for bit.

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch torchsde==0.2.6 numpy
    /tmp/torchvenv/bin/python benches/reference/latent_sde.py --train train.csv --test test.csv \\
        --threads 2 --iterations 1000 --batch 128 --check --json-out torchsde.json
"""
import argparse, bisect, csv, json, math, statistics, sys, time

import numpy as np
import torch
import torchsde

LOG_MIN, LOG_MAX = -12.0, 6.0
LOG_2PI = math.log(2.0 * math.pi)


def read_series(path):
    """{series id: [(t, [x...] or None)]} and D; None marks a row with an empty cell."""
    out, d = {}, None
    with open(path, newline="") as fh:
        rows = csv.reader(fh)
        header = next(rows)
        if len(header) < 3 or header[0].strip() != "series" or header[1].strip() != "t":
            raise SystemExit(f"{path}: header must be series,t,x1,...,xD")
        d = len(header) - 2
        for n, row in enumerate(rows, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != d + 2:
                raise SystemExit(f"{path}:{n}: expected {d + 2} cells, got {len(row)}")
            sid, t = int(row[0]), float(row[1])
            cells = [c.strip() for c in row[2:]]
            vals = None if any(c == "" for c in cells) else [float(c) for c in cells]
            out.setdefault(sid, []).append((t, vals))
    return out, d


def to_tensors(series, grid, d):
    """x [S, K, D] (0 where unobserved), mask [S, K], observed points per series [S]."""
    index = {t: k for k, t in enumerate(grid)}
    s_count, k_count = len(series), len(grid)
    x = np.zeros((s_count, k_count, d), dtype=np.float32)
    m = np.zeros((s_count, k_count), dtype=np.float32)
    for i, sid in enumerate(sorted(series)):
        for t, vals in series[sid]:
            if vals is not None:
                x[i, index[t]] = vals
                m[i, index[t]] = 1.0
    return torch.from_numpy(x), torch.from_numpy(m), torch.from_numpy(m.sum(1))


def substeps(grid, dt):
    return [max(1, math.ceil((b - a) / dt - 1e-9)) for a, b in zip(grid[:-1], grid[1:])]


class LatentSDE(torch.nn.Module):
    """Encoder, drifts and decoder; also the `sde` object handed to torchsde.sdeint."""

    sde_type = "ito"
    noise_type = "diagonal"

    def __init__(self, d, latent, context, hidden, grid):
        super().__init__()
        self.gru = torch.nn.GRU(d + 1, hidden, num_layers=1, batch_first=True)
        self.ctx = torch.nn.Linear(hidden, context)
        self.q0 = torch.nn.Linear(context, 2 * latent)
        self.w_in = torch.nn.Linear(latent + 1, hidden)
        self.w_out = torch.nn.Linear(hidden, latent)
        self.g_in = torch.nn.Linear(latent + 1 + context, hidden)
        self.g_out = torch.nn.Linear(hidden, latent)
        for layer in (self.w_out, self.g_out):
            torch.nn.init.zeros_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
        self.dec = torch.nn.Linear(latent, d)
        self.dec_logvar = torch.nn.Parameter(torch.full((d,), -2.0))
        self.grid = list(grid)
        self.t_end = float(grid[-1])
        self._contexts = None    # [B, K, C] for "whole" solves
        self._context = None     # [B, C] for the current interval of "intervals" solves
        self._cache = None       # (z, w): w(t, z) from f, reused by h at the same step

    # -- drifts ---------------------------------------------------------------------------------
    def _time_column(self, t, z):
        return torch.full((z.shape[0], 1), float(t) / self.t_end, dtype=z.dtype, device=z.device)

    def prior_drift(self, t, z):
        return self.w_out(torch.tanh(self.w_in(torch.cat([z, self._time_column(t, z)], 1))))

    def posterior_extra(self, t, z, c):
        return self.g_out(torch.tanh(self.g_in(torch.cat([z, self._time_column(t, z), c], 1))))

    def context_at(self, t):
        if self._context is not None:
            return self._context
        k = bisect.bisect_right(self.grid, float(t) + 1e-9 * self.t_end) - 1
        k = min(max(k, 0), len(self.grid) - 2)
        return self._contexts[:, k + 1]

    def f(self, t, z):  # posterior drift
        w = self.prior_drift(t, z)
        self._cache = (z, w)
        return w + self.posterior_extra(t, z, self.context_at(t))

    def h(self, t, z):  # prior drift; torchsde calls it right after f with the same tensor z
        if self._cache is not None and self._cache[0] is z:
            return self._cache[1]
        return self.prior_drift(t, z)

    def g(self, t, z):  # unit diagonal diffusion
        return torch.ones_like(z)

    # -- pieces of the ELBO ---------------------------------------------------------------------
    def encode(self, x, mask):
        e = torch.cat([x * mask.unsqueeze(-1), mask.unsqueeze(-1)], -1)
        out, _ = self.gru(e.flip(1))
        return self.ctx(out.flip(1))                     # c_k, [S, K, C]

    def brownian(self, batch, latent, device):
        # what sdeint builds when bm=None for method="euler"; logqp=True appends the log-ratio
        # as an extra state channel (zero diffusion), so the Brownian motion has L+1 channels
        return torchsde.BrownianInterval(t0=self.grid[0], t1=self.grid[-1], size=(batch, latent + 1),
                                         dtype=torch.float32, device=device,
                                         levy_area_approximation="none")

    def solve(self, z0, contexts, dt, mode, bm):
        """torchsde Euler solve: z at every grid time [K, B, L] and the path KL [B]."""
        grid = self.grid
        try:
            if mode == "whole":
                self._contexts, self._context = contexts, None
                ts = torch.tensor(grid, dtype=torch.float64)
                zs, log_ratio = torchsde.sdeint(self, z0, ts, bm=bm, method="euler", dt=dt,
                                                logqp=True)
                return zs, log_ratio.sum(0)
            zs, kl, z = [z0], 0.0, z0
            for k, n in enumerate(substeps(grid, dt)):
                self._context = contexts[:, k + 1]
                ts = torch.tensor(grid[k:k + 2], dtype=torch.float64)
                # dt a hair above h_k so float rounding never adds a zero-length step; the last
                # sub-step is clipped to t_{k+1} by torchsde
                h = (grid[k + 1] - grid[k]) / n * (1.0 + 1e-9)
                out, log_ratio = torchsde.sdeint(self, z, ts, bm=bm, method="euler", dt=h,
                                                 logqp=True)
                z = out[-1]
                zs.append(z)
                kl = kl + log_ratio.sum(0)
            return torch.stack(zs), kl
        finally:
            self._contexts = self._context = self._cache = None

    def elbo(self, x, mask, dt, mode, bm=None):
        """One-sample ELBO per series [S]."""
        c = self.encode(x, mask)
        mu, logv = self.q0(c[:, 0]).chunk(2, -1)
        logv = logv.clamp(LOG_MIN, LOG_MAX)
        eps = torch.randn_like(mu)
        z0 = mu + torch.exp(0.5 * logv) * eps
        log_q = -0.5 * (LOG_2PI + logv + eps * eps).sum(-1)   # (z0-mu)^2/v = eps^2
        log_p0 = -0.5 * (LOG_2PI + z0 * z0).sum(-1)
        if bm is None:
            bm = self.brownian(z0.shape[0], z0.shape[1], z0.device)
        zs, path_kl = self.solve(z0, c, dt, mode, bm)
        mean = self.dec(zs.transpose(0, 1))                  # [S, K, D]
        s = self.dec_logvar.clamp(LOG_MIN, LOG_MAX)
        log_lik = -0.5 * (LOG_2PI + s + (x - mean) ** 2 * torch.exp(-s)).sum(-1)
        return (log_lik * mask).sum(-1) + log_p0 - log_q - path_kl


def euler_by_hand(model, z0, contexts, dt, bm):
    """Plain Euler-Maruyama with the per-interval sub-step rule; z at grid times and path KL."""
    grid, z, kl, zs = model.grid, z0, z0.new_zeros(z0.shape[0]), [z0]
    for k, n in enumerate(substeps(grid, dt)):
        a, b = grid[k], grid[k + 1]
        h = (b - a) / n
        c = contexts[:, k + 1]
        for j in range(n):
            s, e = a + j * h, (b if j == n - 1 else a + (j + 1) * h)
            w, gq = model.prior_drift(s, z), model.posterior_extra(s, z, c)
            kl = kl + 0.5 * (gq * gq).sum(-1) * h
            z = z + (w + gq) * h + bm(s, e)[:, :-1]
        zs.append(z)
    return torch.stack(zs), kl


def check(model, x, mask, dt, mode, seed):
    """torchsde's path and logqp term vs. the hand loop, on drifts made non-zero."""
    probe = LatentSDE(x.shape[2], model.w_out.out_features, model.ctx.out_features,
                      model.ctx.in_features, model.grid).to(x.device)
    probe.load_state_dict(model.state_dict())
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for layer in (probe.w_out, probe.g_out):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * 0.5)
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * 0.5)
        c = probe.encode(x, mask)
        z0 = torch.randn(x.shape[0], probe.w_out.out_features, generator=gen).to(x.device)
        bm = probe.brownian(z0.shape[0], z0.shape[1], z0.device)
        zs_sde, kl_sde = probe.solve(z0, c, dt, mode, bm)
        zs_ref, kl_ref = euler_by_hand(probe, z0, c, dt, bm)
    dz = (zs_sde - zs_ref).abs().max().item()
    dkl = ((kl_sde.cpu() - kl_ref.cpu()).abs() / kl_ref.cpu().abs().clamp_min(1e-6)).max().item()
    ok = dz < 1e-4 * max(1.0, zs_ref.abs().max().item()) and dkl < 1e-4
    print(f"check ({mode}): max |z_torchsde - z_hand| = {dz:.3e}, max rel |KL diff| = {dkl:.3e}, "
          f"mean path KL = {kl_ref.mean().item():.4f} -> {'ok' if ok else 'MISMATCH'}",
          file=sys.stderr)
    return ok, dz, dkl


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--latent", type=int, default=4)
    p.add_argument("--context", type=int, default=16)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--dt", type=float, default=0.01)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--lr-decay", type=float, default=1e9)
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--test-samples", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--solve", choices=["auto", "whole", "intervals"], default="auto")
    p.add_argument("--check", action="store_true")
    p.add_argument("--json-out")
    p.add_argument("--log-every", type=int, default=0, help="print progress to stderr")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)  # torchsde's BrownianInterval draws its entropy from numpy
    device = torch.device(a.device)

    train, d_train = read_series(a.train)
    test, d_test = read_series(a.test)
    if d_train != d_test:
        raise SystemExit(f"train has D = {d_train}, test has D = {d_test}")
    grid = sorted({t for s in (train, test) for rows in s.values() for t, _ in rows})
    if len(grid) < 2:
        raise SystemExit("need at least two distinct times")
    x_tr, m_tr, n_tr = (v.to(device) for v in to_tensors(train, grid, d_train))
    x_te, m_te, n_te = (v.to(device) for v in to_tensors(test, grid, d_train))

    multiples = all(abs((b - a_) / a.dt - round((b - a_) / a.dt)) < 1e-6
                    for a_, b in zip(grid[:-1], grid[1:]))
    mode = a.solve if a.solve != "auto" else ("whole" if multiples else "intervals")
    if mode == "whole" and not multiples:
        print("warning: --solve whole on a grid whose spacings are not multiples of dt does not "
              "follow the per-interval sub-step rule", file=sys.stderr)

    model = LatentSDE(d_train, a.latent, a.context, a.hidden, grid).to(device)
    check_result = None
    if a.check:
        rows = torch.arange(min(8, x_tr.shape[0]), device=device)
        check_result = check(model, x_tr[rows], m_tr[rows], a.dt, mode, a.seed)
        if not check_result[0]:
            raise SystemExit("--check failed")

    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    batch = min(a.batch, x_tr.shape[0])
    times, elbos = [], []
    sync()
    start = time.perf_counter()
    for it in range(a.iterations):
        t0 = time.perf_counter()
        idx = torch.randperm(x_tr.shape[0])[:batch].to(device)
        xb, mb, nb = x_tr[idx], m_tr[idx], n_tr[idx]
        elbo_per_obs = model.elbo(xb, mb, a.dt, mode).mean() / nb.mean()
        for group in opt.param_groups:
            group["lr"] = a.lr / (1.0 + it / a.lr_decay)
        opt.zero_grad()
        (-elbo_per_obs).backward()
        opt.step()
        elbos.append(elbo_per_obs.item())
        sync()
        times.append(time.perf_counter() - t0)
        if a.log_every and (it % a.log_every == 0 or it == a.iterations - 1):
            print(f"iteration {it}: train ELBO/obs {elbos[-1]:.4f}, {times[-1]:.4f} s",
                  file=sys.stderr)
    train_seconds = time.perf_counter() - start

    keep = n_te > 0
    if not bool(keep.all()):
        print(f"warning: {int((~keep).sum())} test series without observations are skipped",
              file=sys.stderr)
    x_te, m_te, n_te = x_te[keep], m_te[keep], n_te[keep]
    per_series = []
    chunk = max(1, 4096 // a.test_samples)
    with torch.no_grad():
        for lo in range(0, x_te.shape[0], chunk):
            xb, mb = x_te[lo:lo + chunk], m_te[lo:lo + chunk]
            reps = xb.shape[0]
            el = model.elbo(xb.repeat(a.test_samples, 1, 1), mb.repeat(a.test_samples, 1),
                            a.dt, mode).view(a.test_samples, reps).mean(0)
            per_series.append(el / n_te[lo:lo + chunk])
    per_series = torch.cat(per_series).cpu()
    n_test = per_series.numel()
    stderr = per_series.std(unbiased=True).item() / math.sqrt(n_test) if n_test > 1 else float("nan")

    steady = times[5:] if len(times) > 5 else times
    result = {
        "implementation": f"torchsde {torchsde.__version__} / PyTorch {torch.__version__}",
        "threads": a.threads, "device": a.device, "seed": a.seed,
        "iterations": a.iterations, "batch": batch,
        "latent": a.latent, "context": a.context, "hidden": a.hidden, "dt": a.dt,
        "train_series": int(x_tr.shape[0]), "test_series": n_test,
        "observations_per_series": n_tr.mean().item(), "grid_points": len(grid),
        "solve": mode,
        "seconds_per_iteration": statistics.median(steady) if steady else float("nan"),
        "seconds_per_iteration_mean": statistics.fmean(steady) if steady else float("nan"),
        "train_seconds": train_seconds,
        "final_train_elbo_per_obs": statistics.fmean(elbos[-20:]) if elbos else float("nan"),
        "test_elbo_per_obs": per_series.mean().item(),
        "test_elbo_per_obs_stderr": stderr,
    }
    if check_result is not None:
        result["check_max_abs_z_diff"], result["check_max_rel_kl_diff"] = check_result[1:]
    text = json.dumps(result)
    print(text)
    if a.json_out:
        with open(a.json_out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
