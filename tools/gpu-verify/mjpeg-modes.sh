#!/usr/bin/env bash
# DIAGNOSTIC (tenth session, goes with NVDX_MJPEG_MAP, both to be removed): the MJPEG load
# tests and the parallel pass 1 of test-gpu under each way of mapping MJPEG pictures
# (0 legacy stream + events, 1 caller's stream, 2 + host sync before unmap, 3 + host poll of the
# decode status). Carry .gpudata and .gpuconf. About 6 minutes on an H200.
source "$(dirname "$0")/common.sh"
T="$G/bin/test-gpu"; export NVDX_DEMUX_REGRESSIONS_DIR="$G/demux-regressions"
for mode in 0 2 3 1; do
  NVDX_MJPEG_MAP=$mode timeout 60 "$T" --include-ignored --nocapture --exact \
    decode::single_picture_decodes_under_gpu_load_match_the_sequential_decode \
    decode::whole_clip_decodes_under_gpu_load_match_the_sequential_decode > "$O/load-$mode.log" 2>&1
  echo "mode $mode load tests rc=$? $(el)"; grep -E "[1-9][0-9]* of [0-9]+ pictures differ|^test result" "$O/load-$mode.log" | head -8
done
for mode in 0 2 0 2 3 1; do
  NVDX_MJPEG_MAP=$mode timeout 120 "$T" --include-ignored --skip leak --skip soak > "$O/pass1.log" 2>&1
  echo "mode $mode pass1 rc=$? $(el)"; grep -E "^test result" "$O/pass1.log"
  grep -E -A2 "panicked at" "$O/pass1.log" | grep -v "^--$" | cut -c1-400 | head -12
done
