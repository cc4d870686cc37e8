#!/usr/bin/env bash
# Where the decode bench's CPU-per-frame rise (2-12 % against b5ad378, thirteenth session) comes
# from, in two measurements:
#  1. examples/decode_cycle_cost on each clip: whole decode cycles (open, every frame, sync,
#     drop) with the default memory pool's release threshold at 0 (CUDA's default: a cycle's
#     frames go back to the OS at the next sync) and at max (kept), alternated in one process;
#  2. decode-ab.sh's alternation with the after bench's nvidia-smi sampler off
#     (NVDX_BENCH_NO_NVDEC_SAMPLER=1; the before binaries run none).
# Usage on the GPU host: bash .gpudata/cpu-diag.sh [ROUNDS]   (carry .gpudata; about 4 minutes)
source "$(dirname "$0")/common.sh"
n="${1:-3}"
for clip in h264_720p_10s_gop60.mp4 h264_1080p_gop250.mp4 hevc_1080p.mp4; do
  timeout 150 "$G/bin/example-decode_cycle_cost" "$NVDX_MEDIA_DIR/$clip" 8 4 || echo "$clip rc=$?"
  echo "cycles $clip $(el)"
done
NVDX_BENCH_NO_NVDEC_SAMPLER=1 bash "$D/decode-ab.sh" "$n"
