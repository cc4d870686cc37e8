#!/usr/bin/env bash
# Diagnostics for the kernel and decode targets: ncu on the 4K colour kernels and the tensor
# batch, the decode bench with thread CPU per stage, and the kernel harness (needs the source
# tree's tools/ and nvdx/kernels/, which travel as tracked files). Carry .gpudata.
source "$(dirname "$0")/common.sh"
NVDX_MEDIA_DIR="$D/media" timeout 150 "$D/prof/bench-decode" > "$O/decode-profile.log" 2>&1; echo "decode (profile) rc=$? $(el)"
grep -E "^\| (full|sequence|process|cuvid|nvdx parser)" "$O/decode-profile.log" | head -20
for c in "NV12->Rgb24 4K" "NV12->Rgba 4K" "F16 x8"; do
  tag=$(echo "$c" | tr -c 'A-Za-z0-9\n' '_')
  NVDX_COLOUR_CASES="$c" timeout 60 ncu --launch-skip 2 --launch-count 1 --set detailed "$G/bin/bench-colour" --bench none > "$O/ncu-$tag.txt" 2>&1
  echo "ncu $c rc=$? $(el)"; grep -E "Duration|DRAM Throughput|Issue Slots Busy|Achieved Occupancy" "$O/ncu-$tag.txt" | head -4
done
(cd "$R" && timeout 120 bash tools/kernel-harness/run.sh "$O") > "$O/harness-run.log" 2>&1; echo "harness rc=$? $(el)"; grep -E "staged|shipped|floor" "$O/harness-run.log" | head -20
