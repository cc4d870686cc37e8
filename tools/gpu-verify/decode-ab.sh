#!/usr/bin/env bash
# The decode bench before and after, alternated N times in separate processes, then each row's
# median of fps and CPU per frame.
source "$(dirname "$0")/common.sh"
n="${1:-3}"; L=/tmp/decode-ab; rm -rf "$L"; mkdir -p "$L"
for r in $(seq "$n"); do
  for w in before after; do
    bin="$B/bench-decode"; [ $w = after ] && bin="$G/bin/bench-decode"
    timeout 60 "$bin" --bench > "$L/$w-$r.log" 2>&1 || echo "$w $r rc=$?"
  done
  echo "decode round $r $(el)"
done
python3 - "$L" <<'PY'
import glob, re, statistics as st, sys
d = {}
for f in sorted(glob.glob(sys.argv[1] + "/*.log")):
    who = f.rsplit("/", 1)[1].split("-")[0]
    for line in open(f):
        c = [x.strip() for x in line.split("|")]
        if len(c) > 5 and ("session" in c[1]):
            for name, i in (("fps", 3), ("CPU ms/frame", 4)):
                m = re.match(r"[\d.]+", c[i])
                if m: d.setdefault((c[1], name), {}).setdefault(who, []).append(float(m.group()))
print("| work | column | before: median (runs) | after: median (runs) | after / before |")
print("| --- | --- | --- | --- | --- |")
for (w, name), v in d.items():
    b, a = v.get("before", []), v.get("after", [])
    s = lambda x: f"{st.median(x):.4g} ({' '.join(f'{y:.4g}' for y in x)})" if x else "-"
    r = f"{(st.median(a) / st.median(b) - 1) * 100:+.1f} %" if a and b else "-"
    print(f"| {w} | {name} | {s(b)} | {s(a)} | {r} |")
PY
