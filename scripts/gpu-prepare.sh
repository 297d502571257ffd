#!/usr/bin/env bash
# Prepares the GPU check of issue 17. Run it HERE, on the development machine, before the one
# device call that runs scripts/gpu-check.sh on a lent GPU machine (docs/benchmarks.md, "Scaling
# with walkers (GPU)"). That machine has no Rust toolchain and no network, so what it runs is
# built and fetched here:
#
#   .gpu/pathspace.xz   `cargo build --release --locked --features wgpu` (burn's wgpu backend:
#                       Vulkan there), stripped and xz-compressed (60 MB stripped, 10 MB packed)
#   .gpu/gpu-tests.xz   the test binary of tests/gpu.rs, same features, stripped, compressed
#   .gpu/manifest_dir   the absolute path of this checkout: tests/gpu.rs reads its problem files
#                       from the CARGO_MANIFEST_DIR compiled into it, which gpu-check.sh links
#   .gl/*.deb           the Vulkan and GL loaders (Debian amd64 packages) that gpu-check.sh unpacks
#                       there (device README, "Vulkan loaders"); downloaded once, kept
#
# Both folders are ignored through .git/info/exclude and travel with carry [".gpu", ".gl"]. The
# script prints their sizes and stops if what would travel (the tracked and untracked files, and
# both folders) comes near the device tool's 64 MiB limit.
#
# `cargo build --release --features wgpu` replaces target/release/pathspace with the wgpu build:
# the script builds the CPU binary again at the end (cached, seconds), so target/release/pathspace
# stays the CPU one. With the wgpu dependencies compiled once (a cold wgpu build takes ~12 min on
# 2 cores) a run takes a few minutes. CARGO_TARGET_DIR builds elsewhere, as usual.
#
#   scripts/gpu-prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
limit_mib=56   # what may travel, of the device tool's 64 MiB

exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
for path in /.gpu/ /.gl/; do
  grep -qxF "$path" "$exclude" 2>/dev/null || echo "$path" >>"$exclude"
done

# The executable of the artifact whose target is named $1 and of kind $2, from cargo's JSON lines.
executable() {
  python3 -c '
import json, sys
name, kind = sys.argv[1], sys.argv[2]
found = [m["executable"] for m in map(json.loads, sys.stdin)
         if m.get("reason") == "compiler-artifact" and m["target"]["name"] == name
         and kind in m["target"]["kind"] and m.get("executable")]
if not found:
    sys.exit(f"gpu-prepare.sh: cargo reported no {kind} executable named {name}")
print(found[-1])' "$1" "$2"
}

echo "building the wgpu binary (cargo build --release --locked --features wgpu)" >&2
bin=$(cargo build --release --locked --features wgpu --message-format=json | executable pathspace bin)
echo "building the GPU test binary (cargo test --release --locked --features wgpu --test gpu --no-run)" >&2
tests=$(cargo test --release --locked --features wgpu --test gpu --no-run --message-format=json | executable gpu test)

rm -rf .gpu
mkdir -p .gpu
strip -o .gpu/pathspace "$bin"
strip -o .gpu/gpu-tests "$tests"
echo "restoring the CPU binary (cargo build --release --locked)" >&2
cargo build --release --locked --quiet
echo "$root" >.gpu/manifest_dir
# The newest glibc symbol version each binary needs (the GPU machine must have it), then pack
# them: stripped, the two are ~115 MiB together, over what a device call may carry.
for f in .gpu/pathspace .gpu/gpu-tests; do
  need=$(objdump -T "$f" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1 || true)
  echo "$f: $(du -m "$f" | cut -f 1) MiB stripped, needs glibc symbols up to ${need:-none} (here: $(ldd --version 2>&1 | sed -n '1s/.* //p' || true))"
  xz -T0 -9 -f "$f"
done

if ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  echo "Vulkan loaders already in .gl/" >&2
else
  mkdir -p .gl /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

mib() { echo $(( ($1 + 1048575) / 1048576 )); }
size() { du -cb "$@" | tail -n 1 | cut -f 1; }
gpu=$(size .gpu)
gl=$(size .gl)
tree=$( (git ls-files -z; git ls-files -z -o --exclude-standard) | xargs -0 -r du -cb 2>/dev/null | awk '$2 == "total" { s += $1 } END { print s + 0 }')
ls -l .gpu .gl
echo "sizes: .gpu $(mib "$gpu") MiB, .gl $(mib "$gl") MiB, working tree $(mib "$tree") MiB; together $(mib $((gpu + gl + tree))) MiB of the 64 MiB that may travel"
if (( gpu + gl + tree > limit_mib * 1048576 )); then
  echo "gpu-prepare.sh: more than $limit_mib MiB would travel; the device call would be refused" >&2
  exit 1
fi
echo "ready: one device call with carry [\".gpu\", \".gl\"], command 'bash scripts/gpu-check.sh \$OUT', timeout_s 480"
