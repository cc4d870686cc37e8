"""Median of alternated xfer bench runs, before against after (tools/gpu-verify/benches.sh).

Usage: python3 xfer_medians.py LOG_DIR  (reads LOG_DIR/xfer-{before,after}-N.log)

The single-frame rows are bound by the host's time per send, which moves by up to 40 % between
processes on the H200 host (a whole process runs fast or slow); one run of each binary cannot
tell a 3 % change, so benches.sh alternates them and this prints each row's median and runs.
"""
import glob
import re
import statistics as st
import sys

rows = {}
for f in sorted(glob.glob(f"{sys.argv[1]}/xfer-*-*.log")):
    who = f.rsplit("/xfer-", 1)[1].rsplit("-", 1)[0]
    for line in open(f):
        c = [x.strip() for x in line.split("|")]
        if len(c) < 6 or not c[1].startswith("GPU"):
            continue
        case = re.sub(r" \(host .*?\)", "", c[2])
        m = re.match(r"([\d.]+) us", c[4])
        if m:
            rows.setdefault((c[1], case), {}).setdefault(who, []).append(float(m.group(1)))
n = max((len(v) for d in rows.values() for v in d.values()), default=0)
print(f"| path | case | before: median (runs) | after: median (runs) | after / before |")
print("| --- | --- | --- | --- | --- |")
for (path, case), d in rows.items():
    b, a = d.get("before", []), d.get("after", [])
    show = lambda x: f"{st.median(x):.1f} ({' '.join(f'{y:.1f}' for y in x)})" if x else "-"
    ratio = f"{st.median(a) / st.median(b) - 1:+.1%}" if a and b else "-"
    print(f"| {path} | {case} | {show(b)} | {show(a)} | {ratio} |")
print(f"(medians of {n} alternated runs of each binary)")
