#!/usr/bin/env bash
# Builds the kernel harness with the GPU host's nvcc (sm_90) and runs it; then counts a few SASS
# instruction classes of the kernels it names. Usage (from the repository root, on a GPU host
# with a CUDA toolkit): bash tools/kernel-harness/run.sh [OUT_DIR]
set -u
here="$(cd "$(dirname "$0")" && pwd)"; root="$here/../.."
out="${1:-${OUT:-/tmp}}"; mkdir -p "$out"
NVCC=$(command -v nvcc || ls /usr/local/cuda*/bin/nvcc 2>/dev/null | head -1)
[ -n "$NVCC" ] || { echo "no nvcc on this host"; exit 2; }
bin=/tmp/nvdx-kernel-harness
"$NVCC" -O3 -arch=sm_90 -std=c++17 -I"$root/nvdx/kernels" "$here/harness.cu" -o "$bin" -lcuda > "$out/harness-nvcc.log" 2>&1 \
  || { echo "nvcc failed:"; tail -20 "$out/harness-nvcc.log"; exit 1; }
# The committed PTX through this host's ptxas (is a newer ptxas's cubin faster than the committed one?).
ptxas="$(dirname "$NVCC")/ptxas"; cub13=/tmp/nvdx-colour-hostptxas.cubin
"$ptxas" --version | tail -1
"$ptxas" -O3 -arch=sm_90 "$root/nvdx/kernels/ptx/colour.ptx" -o "$cub13" > "$out/harness-ptxas.log" 2>&1 || { echo "host ptxas failed"; cub13=; }
"$bin" "$root" $cub13 ${NVDX_HARNESS_IMAGES:-} 2>&1 | tee "$out/harness.log"
cuobjdump="$(dirname "$NVCC")/cuobjdump"
for f in nv12_to_rgb24_v16 rgb24_staged nv12_to_rgba rgba_staged rgba_staged_swz rgba_w4_k nv12_to_planar_f16_batch planar_f16_batch_x2; do
  "$cuobjdump" -sass -fun "$f" "$bin" > /tmp/nvdx-harness-sass.txt 2>&1
  t=/tmp/nvdx-harness-sass.txt
  echo "$f: $(grep -cE '^\s+/\*[0-9a-f]{4}\*/' $t) SASS instructions; F2I $(grep -c F2I $t), I2F $(grep -c I2F $t), PRMT $(grep -c PRMT $t), FFMA $(grep -c FFMA $t), LDG $(grep -c LDG $t), STG $(grep -c STG $t), STS $(grep -c STS $t), LDS $(grep -c 'LDS' $t)"
done
