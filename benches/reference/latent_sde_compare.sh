#!/usr/bin/env bash
# pathspace vs torchsde on the stochastic Lorenz latent SDE, same session, same data and sizes
# (problems/latent_sde_lorenz.toml), 3 seeds each, one run at a time (run by hand, never in CI).
#
#   python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch torchsde==0.2.6 numpy
#   benches/reference/latent_sde_compare.sh [OUTDIR]      # default /tmp/latent_sde_compare
#
# pathspace writes the series it fitted (standardised, with observation noise) to
# series_train.csv / series_test.csv in its run directory; torchsde reads those files, so both
# fit the same numbers. Prints one JSON line per run and a summary table. SKIP_TORCHSDE=1 runs
# pathspace only.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/latent_sde_compare}
PY=${PY:-/tmp/torchvenv/bin/python}
SEEDS=${SEEDS:-"1 2 3"}
FILE=problems/latent_sde_lorenz.toml
mkdir -p "$OUT"
rm -f "$OUT/runs.jsonl"
cargo build --release --locked --quiet
key() { grep -E "^$1 *=" "$FILE" | head -1 | sed -E 's/^[^=]*= *//; s/ *#.*//'; }
for seed in $SEEDS; do
    ./target/release/pathspace fit "$FILE" --seed "$seed" --out "$OUT/pathspace_$seed" > /dev/null
    python3 - "$OUT/pathspace_$seed/summary.json" "$seed" <<'PY' | tee -a "$OUT/runs.jsonl"
import json, sys
s = json.load(open(sys.argv[1]))
print(json.dumps({"implementation": "pathspace", "seed": int(sys.argv[2]),
                  "seconds_per_iteration": s["seconds_per_iteration"],
                  "test_elbo_per_obs": s["test_elbo_per_observation"],
                  "test_elbo_per_obs_stderr": s["test_elbo_per_observation_stderr"]}))
PY
done
for seed in $SEEDS; do
    [ -n "${SKIP_TORCHSDE:-}" ] && break
    "$PY" benches/reference/latent_sde.py --train "$OUT/pathspace_1/series_train.csv" --test "$OUT/pathspace_1/series_test.csv" \
        --latent "$(key latent)" --context "$(key context)" --hidden "$(key hidden)" --dt "$(key dt)" \
        --lr "$(key lr)" --iterations "$(key iterations)" --batch "$(key batch)" --seed "$seed" --threads 2 \
        --json-out "$OUT/torchsde_$seed.json" > /dev/null
    python3 -c "import json,sys; s=json.load(open(sys.argv[1])); s['seed']=int(sys.argv[2]); print(json.dumps({k: s[k] for k in ['implementation','seed','seconds_per_iteration','test_elbo_per_obs','test_elbo_per_obs_stderr']}))" "$OUT/torchsde_$seed.json" "$seed" | tee -a "$OUT/runs.jsonl"
done
python3 - "$OUT/runs.jsonl" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
for impl in sorted({r["implementation"].split()[0] for r in rows}):
    rs = [r for r in rows if r["implementation"].split()[0] == impl]
    e = [r["test_elbo_per_obs"] for r in rs]; t = [r["seconds_per_iteration"] for r in rs]
    print(f"{impl:10s} seeds {len(rs)}  s/iteration {st.mean(t):.4f} (min {min(t):.4f}, max {max(t):.4f})  "
          f"test ELBO/obs {st.mean(e):.3f} (min {min(e):.3f}, max {max(e):.3f})")
PY
