"""PyTorch reference for `pathspace bench FILE` with the pair or gradient network (run by hand, never in CI).

One training iteration of a problem file, as src/bench/mod.rs times it (`from_problem`):
walkers, steps, dt, integrator, network width and learning rate from the file; forward through
the whole path, backward, one Adam step. Prints one JSON object shaped like `pathspace bench --json`.

Same equations as the Rust code:
- pair network (src/quantum/nn/pair.rs), permutation-equivariant:
    h_i  = tanh(W1 r_i + b1)
    g_ij = tanh(W2 [r_i - r_j, sqrt(|r_i - r_j|^2 + 1e-8)] + b2),  j != i
    s_i  = sum_{j!=i} g_ij
    u_i  = tanh(W3 [h_i, s_i] + b3)
    v_i  = W4 u_i + b4 + sum_{j!=i} (w5.g_ij + c5)(r_i - r_j) + c_skip r_i
  W4, b4, w5, c5 start at zero, the other layers U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
  c_skip = skip_init (0 with cusps, -1 without);
- gradient network (src/quantum/nn/potential.rs), v = grad_x S by torch.autograd.grad(create_graph=True),
  the usual double-backward route in PyTorch:
    S(x) = w_o . h_L + 1/2 c |x|^2,  h_0 = x (flattened),  h_l = tanh(W_l h_{l-1} + b_l),  c = -rho^2
  w_o starts at zero, rho = sqrt(max(-skip_init, 0));
- molecule (src/quantum/physics/molecule.rs): V = sum -Z/|r_i - R_A| + sum 1/|r_i - r_j| + nuclear
  repulsion, distances clamped at |r|^2 >= 1e-12; Kato cusp prior drift
  sum_A -Z_A r_iA/|r_iA| + sum_{j!=i} 1/2 r_ij/|r_ij| added to the network;
- harmonic trap (src/quantum/physics/trap.rs): V = 1/2 w^2 sum |r_i|^2 + sum_{i<j} g/(pi s^2) exp(-|r_ij|^2/s^2);
- the additive-noise SRA integrators of src/path/integrators/ as one tableau loop (EM, Heun, SRA3, SOSRA);
- the Feynman-Kac loss of src/quantum/objective/feynman_kac.rs:
    mean_{n,walkers}[V + 1/2|v|^2 + v.dW/dt] - mean_walkers[sg(v(X_T)).X_T]/T.

Differences from the Rust run: PyTorch's random streams (noise, initial weights, initial walkers)
instead of pathspace's Xoshiro stream, so the numbers agree in distribution, not bit for bit;
torch.optim.Adam (eps 1e-8) instead of burn's Adam; float32 (pathspace's default on the CPU is f32
tensors; the fused engine computes in f64 internally).

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch
    /tmp/torchvenv/bin/python benches/reference/pair_net.py benches/h2_pair.toml --threads 2
    /tmp/torchvenv/bin/python benches/reference/pair_net.py benches/reference/bosons4_2d.toml --threads 2
    /tmp/torchvenv/bin/python benches/reference/pair_net.py problems/h2.toml --threads 2   # gradient
    python benches/reference/pair_net.py benches/h2_pair.toml --device cuda --walkers 10000    # on a GPU

`--walkers N` replaces the file's [train] walkers; `--device cuda` moves the network, the system's
constants and the walkers to the GPU (the initial walkers are drawn on the CPU as before, then
moved) and waits for the GPU (torch.cuda.synchronize) before each clock stop; on the CPU nothing
changes.
"""
import argparse, json, math, statistics, sys, time, tomllib

import torch

# Tableaux of src/path/integrators/*.rs: (A rows, alpha, stage weight of dW, stage weight of chi).
SOSRA_A = [[], [0.6923962376159507], [-3.1609142252828395, 4.1609142252828395]]
TABLEAUX = {
    "euler_maruyama": ([[]], [1.0], [0.0], [0.0]),
    "heun": ([[], [1.0]], [0.5, 0.5], [0.0, 1.0], [0.0, 0.0]),
    "sra3": ([[], [1.0], [0.25, 0.25]], [1 / 6, 1 / 6, 2 / 3], [0.0, 0.0, 0.0], [0.0, 0.0, 1.5]),
    "sosra": (SOSRA_A, [0.2889874966892885, 0.6859880440839937, 0.025024459226717772], [0.0, 0.0, 0.0],
              [0.0, 1.3371632704399763, 1.442371048468624 + 1.8632741501139225]),
}


def fail(path, field, message):
    sys.exit(f"{path}: {field}: {message}")


class PairNet(torch.nn.Module):
    def __init__(self, dims, hidden, skip_init):
        super().__init__()
        self.one_body = torch.nn.Linear(dims, hidden)
        self.two_body = torch.nn.Linear(dims + 1, hidden)
        self.mix = torch.nn.Linear(2 * hidden, hidden)
        self.output = torch.nn.Linear(hidden, dims)
        self.pair_weight = torch.nn.Linear(hidden, 1)
        for layer in (self.output, self.pair_weight):
            torch.nn.init.zeros_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
        self.skip = torch.nn.Parameter(torch.tensor([skip_init]))

    def forward(self, x):  # x: [walkers, particles, dims]
        w, n, d = x.shape
        h = torch.tanh(self.one_body(x))
        v = x * self.skip
        if n > 1:
            diff = x[:, :, None, :] - x[:, None, :, :]  # [w, n, n, d]
            r = torch.sqrt((diff * diff).sum(3, keepdim=True) + 1e-8)
            mask = (1.0 - torch.eye(n, dtype=x.dtype, device=x.device))[None, :, :, None]
            g = torch.tanh(self.two_body(torch.cat([diff, r], 3))) * mask
            radial = self.pair_weight(g) * mask
            v = v + (radial * diff).sum(2)
            s = g.sum(2)
        else:
            s = torch.zeros_like(h)
        u = torch.tanh(self.mix(torch.cat([h, s], 2)))
        return v + self.output(u)


class GradNet(torch.nn.Module):
    def __init__(self, inputs, hidden, layers, skip_init):
        super().__init__()
        self.hidden = torch.nn.ModuleList(torch.nn.Linear(inputs if l == 0 else hidden, hidden) for l in range(layers))
        self.output = torch.nn.Linear(hidden, 1, bias=False)
        torch.nn.init.zeros_(self.output.weight)
        self.rho = torch.nn.Parameter(torch.tensor([math.sqrt(max(-skip_init, 0.0))]))

    def forward(self, x):  # x: [walkers, particles, dims] -> grad_x S, same shape
        if not x.requires_grad:
            x = x.detach().requires_grad_()
        flat = x.reshape(x.shape[0], -1)
        h = flat
        for layer in self.hidden:
            h = torch.tanh(layer(h))
        s = self.output(h).sum() - 0.5 * self.rho.square().sum() * (flat * flat).sum()
        return torch.autograd.grad(s, x, create_graph=True)[0]


class Molecule:
    def __init__(self, system, path, device="cpu"):
        self.nuclei = torch.tensor([n["position"] for n in system["nuclei"]], dtype=torch.float32, device=device)
        self.charges = torch.tensor([n["charge"] for n in system["nuclei"]], dtype=torch.float32, device=device)
        self.electrons = system.get("electrons", 1)
        pos, z = self.nuclei.tolist(), self.charges.tolist()
        self.repulsion = sum(z[a] * z[b] / math.dist(pos[a], pos[b]) for a in range(len(z)) for b in range(a + 1, len(z)))
        self.particles, self.dims, self.length = self.electrons, 3, 1.0
        self.centres = [pos[i % len(pos)] for i in range(self.electrons)]

    def potential(self, x):  # [w, n, 3] -> [w]
        d = x[:, :, None, :] - self.nuclei[None, None]  # [w, n, A, 3]
        inv = (d * d).sum(3).clamp_min(1e-12).rsqrt()
        v = self.repulsion - (inv * self.charges).sum((1, 2))
        n = x.shape[1]
        for i in range(n):
            for j in range(i + 1, n):
                e = x[:, i] - x[:, j]
                v = v + (e * e).sum(1).clamp_min(1e-12).rsqrt()
        return v

    def prior_drift(self, x):
        d = x[:, :, None, :] - self.nuclei[None, None]
        r = (d * d).sum(3, keepdim=True).clamp_min(1e-12).sqrt()
        v = -(d / r * self.charges[None, None, :, None]).sum(2)
        if x.shape[1] > 1:
            e = x[:, :, None, :] - x[:, None, :, :]
            r = (e * e).sum(3, keepdim=True).clamp_min(1e-12).sqrt()
            v = v + 0.5 * (e / r).sum(2)
        return v


class Trap:
    def __init__(self, system, path, device="cpu"):
        self.particles, self.dims = system.get("particles", 1), system.get("dims", 3)
        self.omega = system.get("omega", 1.0)
        inter = system.get("interaction")
        self.g, self.s = (inter.get("g", 0.0), inter.get("s", 1.0)) if inter else (0.0, 1.0)
        self.length = 1.0 / math.sqrt(self.omega)
        self.centres = [[0.0] * self.dims for _ in range(self.particles)]

    def potential(self, x):
        v = 0.5 * self.omega ** 2 * (x * x).sum((1, 2))
        if self.g != 0.0:
            amp = self.g / (math.pi * self.s ** 2)
            n = x.shape[1]
            for i in range(n):
                for j in range(i + 1, n):
                    e = x[:, i] - x[:, j]
                    v = v + amp * torch.exp(-(e * e).sum(1) / self.s ** 2)
        return v

    def prior_drift(self, x):
        return None


def sra_step(tableau, drift, x, v, h, xi):
    """One step of src/path/integrators/mod.rs: stages H_i = X + h sum_j A_ij a(H_j) + b^W dW + b^chi chi."""
    a, alpha, stage_dw, stage_chi = tableau
    dw = xi[0] * math.sqrt(h)
    chi = 0.5 * (dw + xi[1] * math.sqrt(h / 3.0)) if len(xi) == 2 else None
    stages = [v]
    for i in range(1, len(alpha)):
        hi = x
        for j, aij in enumerate(a[i]):
            if aij != 0.0:
                hi = hi + stages[j] * (h * aij)
        if stage_dw[i] != 0.0:
            hi = hi + dw * stage_dw[i]
        if chi is not None and stage_chi[i] != 0.0:
            hi = hi + chi * stage_chi[i]
        stages.append(drift(hi))
    nxt = x + dw
    for ai, al in zip(stages, alpha):
        if al != 0.0:
            nxt = nxt + ai * (h * al)
    return nxt, dw


def iteration(drift, system, tableau, opt, x, steps, dt):
    normals = 2 if any(c != 0.0 for c in tableau[3]) else 1
    total = 0.0
    v = drift(x)
    for _ in range(steps):
        xi = [torch.randn_like(x) for _ in range(normals)]
        nxt, dw = sra_step(tableau, drift, x, v, dt, xi)
        total = total + system.potential(x) + 0.5 * (v * v).sum((1, 2)) + (v * dw).sum((1, 2)) / dt
        x = nxt
        v = drift(x)
    loss = total.mean() / steps - (v.detach() * x).sum((1, 2)).mean() / (steps * dt)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return x.detach()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("problem", help="problem file (TOML), e.g. benches/h2_pair.toml")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--walkers", type=int, help="walkers (default: the file's [train] walkers)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = p.parse_args()
    if (a.walkers is not None and a.walkers < 1) or a.repeats < 1:
        p.error("--walkers and --repeats must be at least 1")
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch sees no CUDA device")
    cuda = a.device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    try:
        with open(a.problem, "rb") as f:
            prob = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        sys.exit(f"{a.problem}: cannot read: {e}")
    system_t = prob.get("system") or fail(a.problem, "system", "missing")
    kind = system_t.get("kind")
    if kind == "molecule":
        system = Molecule(system_t, a.problem, a.device)
    elif kind == "harmonic_trap":
        system = Trap(system_t, a.problem, a.device)
    else:
        fail(a.problem, "system.kind", f"{kind!r} is not timed here (molecule or harmonic_trap)")
    drift_t, sde, train = prob.get("drift", {}), prob.get("sde", {}), prob.get("train", {})
    net_kind = drift_t.get("kind", "mlp")
    if net_kind not in ("pair", "gradient"):
        fail(a.problem, "drift.kind", "this script times the pair and gradient networks (fk_mlp.py times the MLP)")
    cusps = drift_t.get("cusps", kind == "molecule")
    integ = sde.get("integrator", "sosra")
    if integ not in TABLEAUX:
        fail(a.problem, "sde.integrator", f"unknown integrator {integ!r}")
    dt, steps, walkers = sde.get("dt", 0.01), sde.get("steps", 128), a.walkers or train.get("walkers", 256)

    torch.set_num_threads(a.threads)
    torch.manual_seed(train.get("seed", 7))
    hidden, skip_init = drift_t.get("hidden", 64), drift_t.get("skip_init", 0.0 if cusps else -1.0)
    if net_kind == "pair":
        net = PairNet(system.dims, hidden, skip_init)
    else:
        net = GradNet(system.particles * system.dims, hidden, drift_t.get("layers", 2), skip_init)
    net = net.to(a.device)

    def drift(x):
        prior = system.prior_drift(x) if cusps else None
        return net(x) if prior is None else net(x) + prior

    opt = torch.optim.Adam(net.parameters(), lr=train.get("lr", 1e-3))
    spread = train.get("init_spread", 1.0) * system.length
    x = (torch.tensor(system.centres) + spread * torch.randn(walkers, system.particles, system.dims)).to(a.device)
    x = iteration(drift, system, TABLEAUX[integ], opt, x, steps, dt)  # warm-up
    sync()
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        x = iteration(drift, system, TABLEAUX[integ], opt, x, steps, dt)
        sync()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(json.dumps({
        "benchmark": prob.get("name", a.problem), "engine": "pytorch", "backend": f"torch {torch.__version__} {a.device} f32",
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "walkers": walkers, "steps": steps, "dt": dt, "integrator": integ,
        "network": f"{net_kind} hidden {hidden} cusps {str(cusps).lower()}",
        "threads": a.threads, "repeats": a.repeats,
        "seconds_per_iteration": med, "min": min(times), "max": max(times),
        "walker_steps_per_second": walkers * steps / med,
    }))


if __name__ == "__main__":
    main()
