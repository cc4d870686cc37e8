#!/usr/bin/env bash
# The sampler bench (8 frames) before and after, alternated N times (default 4) in separate
# processes: its CPU-per-video column is process CPU over 12 requests (driver threads included)
# and moves between runs by more than the 3 % bar, so one run of each cannot tell.
# SAMPLE_AB_AFTER=binary runs that build instead of the bundle's (e.g. an unstripped copy of
# it), SAMPLE_AB_PRELOAD=lib.so is preloaded into both (e.g. a SIGSEGV backtrace handler); the
# log of a run that fails is kept in $OUT.
source "$(dirname "$0")/common.sh"
n="${1:-4}"; L=/tmp/sample-ab; rm -rf "$L"; mkdir -p "$L"
for r in $(seq "$n"); do
  for w in before after; do
    bin="$B/bench-sample"; [ $w = after ] && bin="${SAMPLE_AB_AFTER:-$G/bin/bench-sample}"
    NVDX_SAMPLE_K=8 LD_PRELOAD="${SAMPLE_AB_PRELOAD:-}" timeout 90 "$bin" --bench > "$L/$w-$r.log" 2>&1
    rc=$?; [ $rc -ne 0 ] && { echo "$w $r rc=$rc"; cp "$L/$w-$r.log" "$O/"; grep -v "^[0-9a-f]*-[0-9a-f]* " "$L/$w-$r.log" | tail -30; }
  done
  echo "round $r $(el)"
done
python3 - "$L" <<'PY'
import glob, re, statistics as st, sys
cols = {"tensor ms": 2, "CPU ms/video": 4, "16-concurrent videos/s": 8}
d = {}
for f in sorted(glob.glob(sys.argv[1] + "/*.log")):
    who = f.rsplit("/", 1)[1].split("-")[0]
    for line in open(f):
        c = [x.strip() for x in line.split("|")]
        if len(c) > 9 and c[1].startswith(("H.264", "HEVC")):
            for name, i in cols.items():
                m = re.match(r"[\d.]+", c[i])
                if m: d.setdefault((c[1], name), {}).setdefault(who, []).append(float(m.group()))
print("| clip | column | before: median (runs) | after: median (runs) | after / before |")
print("| --- | --- | --- | --- | --- |")
for (clip, name), v in d.items():
    b, a = v.get("before", []), v.get("after", [])
    s = lambda x: f"{st.median(x):.2f} ({' '.join(f'{y:.1f}' for y in x)})" if x else "-"
    r = f"{(st.median(a) / st.median(b) - 1) * 100:+.1f} %" if a and b else "-"
    print(f"| {clip} | {name} | {s(b)} | {s(a)} | {r} |")
PY
