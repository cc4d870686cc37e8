#!/usr/bin/env bash
# The benches before (.gpudata/before.tar.xz, see prepare.sh) and after (the bundle), one after the
# other, with the peers measured first in the same run when .gpupy is carried (then leave
# .gpuconf behind). About 5 minutes with peers on an H200.
source "$(dirname "$0")/common.sh"
# The logs go to a scratch folder, packed into one file of $OUT at the end (the device tool
# returns at most 8 files).
OUT_DIR="$O"; O=/tmp/bench-logs; rm -rf "$O"; mkdir -p "$O"
if ls "$R"/.gpupy/pynvvideocodec-*.whl >/dev/null 2>&1; then
  RESULTS_DIR="$O" PYTHONPATH=$(site "$R"/.gpupy/pynvvideocodec-*.whl) timeout 200 python3 "$D/decode_peers.py" "$D/media" > "$O/peers.log" 2>&1
  echo "peers rc=$? $(el)"; grep -E "sessions|sample 8" "$O/peers.log" | head -12
  export NVDX_PEER_RESULTS="$O/decode_peers.json"
fi
for b in colour decode sample; do
  ws="before after"; [ $b = colour ] && ws="before after before2 after2 before3 after3"   # colour alternates: small launches are host-bound and noisy
  for w in $ws; do
    bin="$B/bench-$b"; case $w in after*) bin="$G/bin/bench-$b";; esac
    [ -x "$bin" ] || { echo "no $bin"; continue; }
    args=(--bench); [ $b = colour ] && args=(--bench none)   # the table only, no criterion
    t=90; [ $b = colour ] && t=40; [ $b = xfer ] && t=60
    # The decoder engines' utilisation once a second beside the decode bench (the HEVC
    # 14-session row has twice run at 6/7 of its rate: as if one of the 7 NVDEC engines idled).
    [ $b = decode ] && { nvidia-smi dmon -s u -d 1 > "$O/dmon-$b-$w.log" 2>&1 & dmon=$!; }
    timeout $t "$bin" "${args[@]}" > "$O/bench-$b-$w.log" 2>&1; echo "bench $b $w rc=$? $(el)"
    [ $b = decode ] && { kill $dmon 2>/dev/null; wait $dmon 2>/dev/null; }
  done
done
# Transfers: six alternations (the single-frame rows are host-bound and a process runs fast or
# slow as a whole), then each row's median.
for r in 1 2 3 4 5 6; do
  timeout 60 "$B/bench-xfer" --bench > "$O/xfer-before-$r.log" 2>&1
  timeout 60 "$G/bin/bench-xfer" --bench > "$O/xfer-after-$r.log" 2>&1
done
echo "bench xfer x6 $(el)"; python3 "$D/xfer_medians.py" "$O"
# The same rows with the builds alternated inside one process (no per-process spread), six
# processes.
if [ -x "$D/xfer-ab" ]; then
  for p in 1 2 3 4 5 6; do timeout 120 "$D/xfer-ab" 30 > "$O/xfer-ab-$p.md" 2>&1; echo "== xfer-ab process $p rc=$?"
    grep -E "^\| (CE|SM|Auto|staged), (back to back \(GPU\)|single incl|batch)" "$O/xfer-ab-$p.md"; done; echo "$(el)"
fi
for w in before after before2 after2 before3 after3; do echo "== colour $w"; grep -E "3840x2160|x8|1280x720" "$O/bench-colour-$w.log"; done
# Python sampling for VLMs: nvdx beside PyNvVideoCodec (with the same resize/normalise in torch), same run.
if ls "$R"/.gpupy/pynvvideocodec-*.whl >/dev/null 2>&1 && [ -f "$R/nvdx-py/bench/sample_bench.py" ]; then
  PYTHONPATH=$(site "$D"/wheels/nvdx-*.whl "$R"/.gpupy/pynvvideocodec-*.whl) timeout 200 python3 "$R/nvdx-py/bench/sample_bench.py" \
    --media "$D/media" --frames 8 16 32 --threads 16 --per-thread 2 --reps 3 --methods nvdx_tensor pnv_rgb_448 --json "$O/sample-py.json" > "$O/sample-py.log" 2>&1
  echo "python sample bench rc=$? $(el)"; grep -E "^\|" "$O/sample-py.log" | head -20
fi
tar czf "$OUT_DIR/bench-logs.tgz" -C "$O" . && echo "logs: bench-logs.tgz in \$OUT"
