#!/usr/bin/env bash
# Where the MJPEG mismatches under the parallel suite come from (ninth session): nvdx's
# four-set-up test, the seek test alone and beside the PSNR test (which decodes the same clips),
# and PyNvVideoCodec under the same load when .gpupy is carried. Carry .gpudata (+ .gpupy).
# About 2-3 minutes on an H200.
source "$(dirname "$0")/common.sh"
T="$G/bin/test-gpu"
NVDX_LOAD_ROUNDS="${NVDX_LOAD_ROUNDS:-60}" timeout 150 "$T" --include-ignored --nocapture --exact \
  decode::single_picture_decodes_under_gpu_load_match_the_sequential_decode > "$O/mjpeg-load.log" 2>&1
echo "four set-ups rc=$? $(el)"; grep -E "pictures differ|round|panicked|^test result" "$O/mjpeg-load.log" | head -30
timeout 200 "$T" --include-ignored --nocapture --exact \
  decode::whole_clip_decodes_under_gpu_load_match_the_sequential_decode > "$O/clips-load.log" 2>&1
echo "whole clips under load rc=$? $(el)"; grep -E "pictures differ|round|skipped|panicked|^test result" "$O/clips-load.log" | head -30
for r in 1 2 3; do
  timeout 60 "$T" --include-ignored --exact decode::mpeg2_and_mjpeg_seeks_match_the_sequential_decode > "$O/seek-alone-$r.log" 2>&1
  echo "seeks alone $r rc=$? $(el)"
  timeout 60 "$T" --include-ignored mpeg2_and_mjpeg > "$O/seek-psnr-$r.log" 2>&1
  echo "seeks beside PSNR $r rc=$? $(el)"; grep -E "differs|frame_at|PSNR .* below|panicked|^test result" "$O/seek-psnr-$r.log" | head -6
done
if ls "$R"/.gpupy/pynvvideocodec-*.whl >/dev/null 2>&1; then
  PYTHONPATH=$(site "$R"/.gpupy/pynvvideocodec-*.whl) timeout 120 python3 "$D/pnvc_mjpeg_load.py" 20 \
    "$G/fixtures/mjpeg.mov" "$G/fixtures/mjpeg.mkv" 2>&1 | tail -8; echo "pnvc rc=$? $(el)"
fi
