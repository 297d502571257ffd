#!/usr/bin/env bash
# Same-session comparison of pathspace against the PyTorch reference scripts (run by hand,
# never in CI). For each round and each benchmark it runs the PyTorch script and then the
# matching `pathspace bench ... --json` right after it, so both see the same machine load, and
# prints a table of the median over rounds of each run's median seconds per iteration.
#
#   python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch
#   cargo build --release --locked
#   benches/reference/compare.sh                 # 2 threads, 3 rounds
#   THREADS=1 ROUNDS=2 benches/reference/compare.sh   # one core: both pinned with taskset -c 0
#
# Environment: PYTHON (default /tmp/torchvenv/bin/python), PATHSPACE (default
# target/release/pathspace), THREADS (1 or 2), ROUNDS, REPEATS (timed iterations per run),
# ENGINE (fused|autodiff), BENCHES (default "fk-mlp h2 bosons4 h2-gradient"), OUT (file that collects every
# result as one JSON line, with an {"uptime": ...} line before each round and at the end;
# default /dev/null). OMP_WAIT_POLICY passes through to PyTorch's OpenMP threads and is recorded.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-/tmp/torchvenv/bin/python}
PATHSPACE=${PATHSPACE:-target/release/pathspace}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
REPEATS=${REPEATS:-10}
ENGINE=${ENGINE:-fused}
BENCHES=${BENCHES:-fk-mlp h2 bosons4 h2-gradient}
OUT=${OUT:-/dev/null}
for tool in "$PYTHON" "$PATHSPACE"; do
  [[ -x $tool ]] || { echo "compare.sh: $tool not found or not executable (set PYTHON / PATHSPACE)" >&2; exit 2; }
done
case $THREADS in
  1) PIN=(taskset -c 0) ;;
  2) PIN=() ;;
  *) echo "compare.sh: THREADS must be 1 or 2 (got $THREADS)" >&2; exit 2 ;;
esac

lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for round in $(seq "$ROUNDS"); do
  up=$(uptime)
  echo "# round $round: $up" >&2
  echo "{\"round\": $round, \"uptime\": \"${up# }\"}" >>"$OUT"
  for bench in $BENCHES; do
    case $bench in
      fk-mlp) torch_cmd=(benches/reference/fk_mlp.py); rust_name=fk-mlp ;;
      h2) torch_cmd=(benches/reference/pair_net.py benches/h2_pair.toml); rust_name=h2 ;;
      bosons4) torch_cmd=(benches/reference/pair_net.py benches/reference/bosons4_2d.toml); rust_name=benches/reference/bosons4_2d.toml ;;
      h2-gradient) torch_cmd=(benches/reference/pair_net.py benches/h2_gradient.toml); rust_name=benches/h2_gradient.toml ;;
      *) echo "compare.sh: unknown benchmark $bench (fk-mlp, h2, bosons4, h2-gradient)" >&2; exit 2 ;;
    esac
    t=$("${PIN[@]}" "$PYTHON" "${torch_cmd[@]}" --threads "$THREADS" --repeats "$REPEATS")
    r=$("${PIN[@]}" "$PATHSPACE" bench "$rust_name" --json --engine "$ENGINE" --repeats "$REPEATS")
    for line in "$t" "$r"; do
      echo "{\"bench\": \"$bench\", \"round\": $round, \"threads\": $THREADS, \"pinned\": $([[ $THREADS == 1 ]] && echo true || echo false), \"omp_wait_policy\": \"${OMP_WAIT_POLICY:-default}\", \"result\": $line}" | tee -a "$OUT" >>"$lines"
    done
  done
done
up=$(uptime)
echo "# end: $up" >&2
echo "{\"round\": \"end\", \"uptime\": \"${up# }\"}" >>"$OUT"

"$PYTHON" - "$lines" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
table = {}
for r in rows:
    table.setdefault(r["bench"], {}).setdefault(r["result"]["engine"], []).append(r["result"]["seconds_per_iteration"])
print(f"{'benchmark':<10} {'engine':<9} {'median s/it':>12} {'runs (each a median)':<40}")
for bench, engines in table.items():
    for engine, v in engines.items():
        print(f"{bench:<10} {engine:<9} {statistics.median(v):>12.4f} {', '.join(f'{x:.4f}' for x in v)}")
    if "pytorch" in engines and len(engines) == 2:
        other = next(e for e in engines if e != "pytorch")
        print(f"{'':<10} {'speed-up':<9} {statistics.median(engines['pytorch']) / statistics.median(engines[other]):>11.2f}x  (pytorch / {other})")
EOF
