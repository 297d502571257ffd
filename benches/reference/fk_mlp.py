"""PyTorch reference for `pathspace bench fk-mlp` (run by hand, never in CI).

The same computation as src/bench/mod.rs's fk-mlp: 1024 walkers, one particle in 3-D, drift
MLP 3→64→64→3 (tanh) plus a linear skip initialised to −x, Euler–Maruyama, 100 steps of dt = 0.01,
the Feynman–Kac loss mean[V + ½|v|² + v·ΔW/Δt] − mean[sg(v(X_T))·X_T]/T with V = ½|x|²,
backward through the whole path and one Adam step. Prints one JSON object shaped like
`pathspace bench fk-mlp --json`, with the device it ran on.

    pip install torch            # CPU wheel is enough
    python benches/reference/fk_mlp.py --threads 2 --repeats 10
    python benches/reference/fk_mlp.py --device cuda --walkers 65536   # on a GPU (scripts/gpu-check.sh)

`--device cuda` moves the network and the walkers to the GPU (the initial walkers are drawn on
the CPU as before, then moved) and waits for the GPU (torch.cuda.synchronize) before each clock
stop; on the CPU nothing changes.
"""
import argparse, json, statistics, time

import torch


class Drift(torch.nn.Module):
    def __init__(self, d=3, hidden=64):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(d, hidden), torch.nn.Tanh(),
            torch.nn.Linear(hidden, hidden), torch.nn.Tanh(),
            torch.nn.Linear(hidden, d),
        )
        torch.nn.init.zeros_(self.net[-1].weight)
        torch.nn.init.zeros_(self.net[-1].bias)
        self.skip = torch.nn.Parameter(-torch.ones(d))

    def forward(self, x):
        return self.net(x) + self.skip * x


def iteration(drift, opt, x0, steps, dt):
    x, total = x0, 0.0
    for _ in range(steps):
        v = drift(x)
        dw = torch.randn_like(x) * dt ** 0.5
        total = total + (0.5 * (x * x).sum(1) + 0.5 * (v * v).sum(1) + (v * dw).sum(1) / dt)
        x = x + v * dt + dw
    horizon = steps * dt
    loss = total.mean() / steps - (drift(x).detach() * x).sum(1).mean() / horizon
    opt.zero_grad()
    loss.backward()
    opt.step()
    return x.detach()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--walkers", type=int, default=1024)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = p.parse_args()
    if a.walkers < 1 or a.repeats < 1:
        p.error("--walkers and --repeats must be at least 1")
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch sees no CUDA device")
    cuda = a.device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    drift = Drift().to(a.device)
    opt = torch.optim.Adam(drift.parameters(), lr=1e-3)
    x = torch.randn(a.walkers, 3).to(a.device)
    x = iteration(drift, opt, x, a.steps, 0.01)  # warm-up
    sync()
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        x = iteration(drift, opt, x, a.steps, 0.01)
        sync()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(json.dumps({
        "benchmark": "fk-mlp", "engine": "pytorch", "backend": f"torch {torch.__version__} {a.device}",
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "walkers": a.walkers, "steps": a.steps, "threads": a.threads, "repeats": a.repeats,
        "seconds_per_iteration": med, "min": min(times), "max": max(times),
        "walker_steps_per_second": a.walkers * a.steps / med,
    }))


if __name__ == "__main__":
    main()
