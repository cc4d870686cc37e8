#!/usr/bin/env bash
# Builds the CUDA stand-in and times examples/xfer_host_cost against it (nvdx's own host work
# per send, and the driver calls it makes). Usage, from the repository root: bash tools/cuda-stub/run.sh [SENDS]
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
out=${TMPDIR:-/tmp}/nvdx-cuda-stub; mkdir -p "$out"
gcc -O2 -shared -fPIC -o "$out/libcuda.so.1" tools/cuda-stub/stub.c
cargo build --release --example xfer_host_cost
for m in ce sm; do
  NVDX_LIBCUDA_PATH="$out/libcuda.so.1" NVDX_STUB_COUNTS="$out/counts-$m.txt" \
    target/release/examples/xfer_host_cost "$m" "${1:-200000}"
  sed 's/^/  /' "$out/counts-$m.txt"
done
