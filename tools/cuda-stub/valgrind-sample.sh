#!/usr/bin/env bash
# Runs benches/sample.rs on the CUDA and NVDEC stand-ins (test doubles: no GPU, nothing is
# decoded) under valgrind memcheck, to look for host-side memory errors in the sampler.
# Usage: bash tools/cuda-stub/valgrind-sample.sh [MEDIA_DIR]   (default /work/shared/media)
# Extra valgrind tools: VG_TOOL=helgrind or VG_TOOL=drd (expect false positives around Rust's
# futex-based std::sync types and the stand-ins' unsynchronised call counters).
set -euo pipefail
cd "$(dirname "$0")/../.."
MEDIA=${1:-/work/shared/media}
OUT=${VG_OUT:-/tmp/nvdx-vg}
mkdir -p "$OUT"
SDK=$(ls -d "$HOME"/.cargo/registry/src/*/nvidia-video-codec-sdk-*/src/sys/headers 2>/dev/null | tail -1)
if [ -z "$SDK" ]; then
  echo "the nvidia-video-codec-sdk crate's headers are not in ~/.cargo/registry: run 'cargo fetch' in a" >&2
  echo "scratch project that depends on nvidia-video-codec-sdk" >&2
  exit 2
fi
gcc -O1 -g -shared -fPIC -o "$OUT/libcuda.so.1" tools/cuda-stub/stub.c
gcc -O1 -g -shared -fPIC -pthread -I"$SDK" -o "$OUT/libnvcuvid.so.1" tools/cuda-stub/nvcuvid_stub.c
CARGO_TARGET_DIR=${VG_TARGET:-/tmp/vg-target} CARGO_PROFILE_BENCH_DEBUG=1 \
  cargo bench --no-run --bench sample 2>&1 | tee "$OUT/build.log" >&2
BIN=$(grep -o '/[^ ()]*/deps/sample-[0-9a-f]*' "$OUT/build.log" | tail -1)
export NVDX_LIBCUDA_PATH="$OUT/libcuda.so.1" NVDX_LIBNVCUVID_PATH="$OUT/libnvcuvid.so.1"
export NVDX_MEDIA_DIR="$MEDIA" NVDX_SAMPLE_K=${NVDX_SAMPLE_K:-8}
export NVDX_NVCUVID_STUB_COUNTS="$OUT/nvcuvid-counts.txt"
TOOL=${VG_TOOL:-memcheck}
case "$TOOL" in
  memcheck) ARGS=(--error-exitcode=9 --track-origins=no) ;;
  drd) ARGS=(--error-exitcode=9 --ignore-thread-creation=yes) ;;
  *) ARGS=(--error-exitcode=9) ;;
esac
echo "[stand-ins] $TOOL on $BIN; timings printed are meaningless (CUDA stub, nvcuvid stub)" >&2
valgrind --tool="$TOOL" --num-callers=40 "${ARGS[@]}" --log-file="$OUT/$TOOL.log" "$BIN" --bench
echo "[stand-ins] $TOOL clean; log in $OUT/$TOOL.log, NVDEC stand-in call counts in $OUT/nvcuvid-counts.txt" >&2
