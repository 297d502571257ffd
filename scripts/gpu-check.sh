#!/usr/bin/env bash
# The GPU check of issue 17, run ON a lent GPU machine in one device call of at most 8 minutes,
# after scripts/gpu-prepare.sh has built .gpu/ and fetched .gl/ here (docs/benchmarks.md,
# "Scaling with walkers (GPU)"):
#
#   run(command="bash scripts/gpu-check.sh $OUT", carry=[".gpu", ".gl"], timeout_s=480)
#
# The machine has no Rust toolchain and no network. Each step runs under `timeout`, capped by
# what is left of BUDGET seconds (default 440), and a failing step does not stop the later ones.
# OUTDIR gets at most 8 files (what the device tool brings back), all flat:
#
#   steps.txt                      the machine (nvidia-smi, vulkaninfo, loaders), then per step its
#                                  command, exit code and seconds, and the end of its stderr
#   tests.log                      (a) tests/gpu.rs: the GPU step against the CPU, a GPU solve
#   scaling.json, scaling.png      (b) `bench scaling --engine autodiff` at 10^3..10^6 walkers
#   fk_mlp_65536_gpu.json          (c) `bench fk-mlp --engine autodiff --walkers 65536`
#   fk_mlp_65536_torch_cuda.json   (d) benches/reference/fk_mlp.py --device cuda --walkers 65536
#   dmc_scaling.jsonl              (e) `bench dmc` on the GPU (TensorGuide) at each of DMC_WALKERS
#   h2_summary.json                (f) solve problems/h2.toml end to end on the GPU: Feynman-Kac and
#                                  VMC training, variational, local energy and DMC, shortened
#   (the oscillator solve (g), with its local energy and DMC, goes to steps.txt only)
#
# Environment (defaults are the GPU run's; smaller values try the script on a CPU with a software
# Vulkan device): BUDGET (seconds for all steps, 440), WALKER_COUNTS (1000,10000,100000,1000000),
# MAX_GIB (60), FK_WALKERS (65536; the file names keep 65536), DMC_WALKERS (1000 10000 100000
# 1000000), DMC_GENERATIONS (20), SOLVE_ITERATIONS_HARMONIC (60), SOLVE_ITERATIONS_H2 (60
# Feynman-Kac iterations), VMC_ITERATIONS_H2 (200), DMC_SECONDS (30, both DMC walks of a solve). The
# solves come last and get what the budget has left (100 s at most each); a solve stopped by its
# timeout leaves no summary.
set -u
out=${1:?usage: scripts/gpu-check.sh OUTDIR}
cd "$(dirname "$0")/.."
mkdir -p "$out"
out=$(cd "$out" && pwd)
steps=$out/steps.txt
work=$(mktemp -d)
deadline=$((SECONDS + ${BUDGET:-440}))
: >"$steps"
note() { echo "$*" | tee -a "$steps" >&2; }

# Vulkan's window-system code warns on every start without it.
if [[ -z ${XDG_RUNTIME_DIR:-} ]]; then
  export XDG_RUNTIME_DIR=$work/xdg
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi

# --- The machine: Vulkan loader and driver -------------------------------------------------------
note "== gpu-check.sh $(date -u +%FT%TZ) on $(uname -srm)"
if ! ldconfig -p | grep -q libvulkan; then
  if ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    note "unpacked $(ls .gl/*.deb | wc -l) loader packages from .gl/"
  else
    note "no libvulkan and no .gl/*.deb (run scripts/gpu-prepare.sh here and carry .gl)"
  fi
fi
icds=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json 2>/dev/null | tr '\n' ' ')
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
# No NVIDIA driver where the loader looks: point it at the driver's own (and only at it, so that
# no software device is picked instead).
if [[ -z ${VK_DRIVER_FILES:-} && -f $nvidia_icd ]] && ! grep -qi nvidia $icds /dev/null 2>/dev/null; then
  export VK_DRIVER_FILES=$nvidia_icd
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
{
  echo "-- loaders: $(ldconfig -p | grep -E 'libvulkan|libGLX_nvidia|libnvidia-glcore' | awk '{print $1}' | sort -u | tr '\n' ' ')"
  echo "-- ICD files: ${icds:-none in the standard places}; VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
  if command -v nvidia-smi >/dev/null; then
    echo "-- nvidia-smi"
    timeout 30 nvidia-smi 2>&1
  else
    echo "-- no nvidia-smi"
  fi
  if command -v vulkaninfo >/dev/null; then
    echo "-- vulkaninfo --summary"
    timeout 30 vulkaninfo --summary 2>&1 | head -n 60
  else
    echo "-- no vulkaninfo"
  fi
  echo "-- python3: $(command -v python3) $(timeout 60 python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1 | tail -n 1)"
} >>"$steps" 2>&1

# The binaries travel xz-compressed (gpu-prepare.sh): unpack them outside the checkout.
bin=$work/bin
mkdir -p "$bin"
for name in pathspace gpu-tests; do
  if [[ -f .gpu/$name.xz ]]; then
    if command -v xz >/dev/null; then
      xz -dc ".gpu/$name.xz" >"$bin/$name"
    else
      python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' ".gpu/$name.xz" "$bin/$name"
    fi
  elif [[ -f .gpu/$name ]]; then
    cp ".gpu/$name" "$bin/$name"
  else
    note "no .gpu/$name.xz (run scripts/gpu-prepare.sh here and carry .gpu)"
  fi
  chmod +x "$bin/$name" 2>/dev/null
done

# tests/gpu.rs reads problem files under the checkout path compiled into it: link it to here.
if [[ -f .gpu/manifest_dir ]]; then
  manifest=$(cat .gpu/manifest_dir)
  if [[ ! -e $manifest ]]; then
    mkdir -p "$(dirname "$manifest")" && ln -s "$PWD" "$manifest" && note "linked $manifest -> $PWD for tests/gpu.rs"
  elif [[ ! -e $manifest/problems ]]; then
    note "$manifest exists without problems/: tests/gpu.rs will not find its problem files"
  fi
fi

# The GPU's load and memory every 5 s while the steps run (shows that they ran on it).
smi_pid=
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 5 >"$work/smi.csv" 2>&1 &
  smi_pid=$!
fi

# step NAME LIMIT STDOUT COMMAND...: runs COMMAND under timeout (LIMIT seconds, or what is left of
# the budget), stdout to STDOUT, and records its exit code, seconds and the end of its stderr.
step() {
  local name=$1 limit=$2 stdout=$3
  shift 3
  local left=$((deadline - SECONDS - 5))
  if ((left < 15)); then
    note "== $name: not run (budget spent)"
    return
  fi
  ((limit > left)) && limit=$left
  local t0=$SECONDS rc
  echo "== $name: $* (limit $limit s)" >>"$steps"
  timeout -k 5 "$limit" "$@" >"$stdout" 2>"$work/stderr"
  rc=$?
  note "== $name: exit $rc after $((SECONDS - t0)) s$( ((rc == 124 || rc == 137)) && echo ' (timed out)')"
  tail -n 30 "$work/stderr" | sed 's/^/   /' >>"$steps"
}

# A copy of problem file $1 at $2, shortened for one device call: every estimator kept, but
# [train] iterations $3, [vmc] iterations $4 (where the file has the stage), [eval] local_steps
# 1000, [dmc] steps 1000 and max_seconds DMC_SECONDS (both walks together).
shortened() {
  awk -v train="$3" -v vmc="$4" -v seconds="${DMC_SECONDS:-30}" '
    function flush() { if (table == "[dmc]") { print "steps = 1000"; print "max_seconds = " seconds } }
    /^[[:space:]]*\[/ { flush(); table = $1 }
    table == "[train]" && /^[[:space:]]*iterations[[:space:]]*=/ { print "iterations = " train; next }
    table == "[vmc]" && /^[[:space:]]*iterations[[:space:]]*=/ { print "iterations = " vmc; next }
    table == "[eval]" && /^[[:space:]]*local_steps[[:space:]]*=/ { print "local_steps = 1000"; next }
    table == "[dmc]" && /^[[:space:]]*(steps|max_seconds)[[:space:]]*=/ { next }
    { print }
    END { flush() }
  ' "$1" >"$2"
}

# (f, g) solve FILE on the GPU (shortened) and copy its summary.json flat into OUTDIR when asked.
solve() {
  local name=$1 file=$2 train=$3 vmc=$4 limit=$5 keep=$6
  shortened "$file" "$work/$name.toml" "$train" "$vmc"
  step "solve $name ($train + $vmc iterations)" "$limit" "$work/$name.out" \
    "$bin/pathspace" solve "$work/$name.toml" --out "$work/$name"
  [[ -f $work/$name.out ]] && cat "$work/$name.out" >>"$steps"
  if [[ -f $work/$name/summary.json ]]; then
    [[ $keep == keep ]] && cp "$work/$name/summary.json" "$out/${name}_summary.json"
  else
    note "   no summary.json from solve $name"
  fi
}

step "(a) GPU tests" 80 "$out/tests.log" "$bin/gpu-tests" --test-threads=1
[[ -f $work/stderr ]] && cat "$work/stderr" >>"$out/tests.log"
step "(b) bench scaling" 160 "$out/scaling.json" \
  "$bin/pathspace" bench scaling --engine autodiff --walker-counts "${WALKER_COUNTS:-1000,10000,100000,1000000}" \
  --max-gib "${MAX_GIB:-60}" --max-seconds 120 --repeats 3 --json --plot "$out/scaling.png"
# The SVG stays behind: the device tool brings back 8 files.
[[ -f $out/scaling.svg ]] && mv "$out/scaling.svg" "$work/"
step "(c) bench fk-mlp 65536 GPU" 40 "$out/fk_mlp_65536_gpu.json" \
  "$bin/pathspace" bench fk-mlp --engine autodiff --walkers "${FK_WALKERS:-65536}" --repeats 5 --json
step "(d) PyTorch fk-mlp 65536 cuda" 35 "$out/fk_mlp_65536_torch_cuda.json" \
  python3 benches/reference/fk_mlp.py --device cuda --walkers "${FK_WALKERS:-65536}" --repeats 5
# (e) DMC walker-generations per second on the GPU, one JSON line per walker count.
: >"$out/dmc_scaling.jsonl"
for walkers in ${DMC_WALKERS:-1000 10000 100000 1000000}; do
  step "(e) bench dmc $walkers walkers" 60 "$work/dmc.json" \
    "$bin/pathspace" bench dmc --walkers "$walkers" --generations "${DMC_GENERATIONS:-20}" --json
  [[ -s $work/dmc.json ]] && tr -d '\n' <"$work/dmc.json" >>"$out/dmc_scaling.jsonl" && echo >>"$out/dmc_scaling.jsonl"
done
solve h2 problems/h2.toml "${SOLVE_ITERATIONS_H2:-60}" "${VMC_ITERATIONS_H2:-200}" 100 keep
solve harmonic problems/harmonic.toml "${SOLVE_ITERATIONS_HARMONIC:-60}" 0 100 no

if [[ -n $smi_pid ]]; then
  kill "$smi_pid" 2>/dev/null
  echo "== GPU utilisation and memory every 5 s (nvidia-smi)" >>"$steps"
  cat "$work/smi.csv" >>"$steps"
fi
files=$(find "$out" -type f | wc -l)
note "== done after $SECONDS s; $files files in OUTDIR$( ((files > 8)) && echo ' (more than the 8 that come back)')"
rm -rf "$work"
exit 0
