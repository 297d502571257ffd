"""Exact log-likelihood of Ornstein–Uhlenbeck test series under the model that generated them
(run by hand, never in CI): the reference for `pathspace fit problems/latent_sde_ou.toml`.

The data of src/latent/series_data.rs: dx = −θ (x − μ) dt + s dW, θ = 1.5, μ = 0, s = 0.5,
x₀ ~ N(1, 0.5²), observed with N(0, noise²) noise. A linear-Gaussian state-space model, so the
Kalman filter with the exact OU transitions gives log p(x) of each series; printed per observed
time point (mean and standard error over test series), the unit of `test_elbo_per_observation`.
(The generator integrates with Euler–Maruyama at step 1e-3, not with exact transitions.)

    python3 benches/reference/ou_exact.py runs/latent_sde_ou/series_test.csv [--noise 0.05]
"""
import argparse, csv, math

p = argparse.ArgumentParser()
p.add_argument("csv")
p.add_argument("--noise", type=float, default=0.05)
a = p.parse_args()
series = {}
for row in csv.DictReader(open(a.csv)):
    if row["x1"] != "":
        series.setdefault(int(row["series"]), []).append((float(row["t"]), float(row["x1"])))
theta, mu, s, r = 1.5, 0.0, 0.5, a.noise ** 2
per = []
for obs in series.values():
    m, var, lp, previous = 1.0, 0.25, 0.0, obs[0][0]
    for t, x in obs:
        if t > previous:
            decay = math.exp(-theta * (t - previous))
            m, var = mu + (m - mu) * decay, decay * decay * var + s * s * (1 - decay * decay) / (2 * theta)
        total = var + r
        lp += -0.5 * (math.log(2 * math.pi * total) + (x - m) ** 2 / total)
        gain = var / total
        m, var, previous = m + gain * (x - m), var * (1 - gain), t
    per.append(lp / len(obs))
n = len(per)
mean = sum(per) / n
sd = (sum((v - mean) ** 2 for v in per) / (n - 1)) ** 0.5
print(f"exact log p(x) per observation: {mean:.4f} ± {sd / n ** 0.5:.4f} ({n} test series)")
